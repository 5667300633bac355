extension TUFClient {
    /// Section 5.7: what the trusted targets roles say about `path`, searching the delegations
    /// in pre-order depth-first, each role at most once, at most
    /// ``TUFClientConfiguration/maximumDelegations`` roles, stopping at a terminating role
    /// whose paths cover `path`. Refreshes first when no refresh has succeeded yet.
    public func targetInfo(for path: String) async throws(TUFError) -> TargetFileInfo {
        var set: TrustedMetadataSet
        if let current = trustedMetadata {
            set = current
        } else {
            set = try await refresh()
        }
        defer { setTrusted(set) }
        var writeNow: StagedWrites? = nil
        return try await targetInfo(for: path, in: &set, staging: &writeNow)
    }

    /// ``targetInfo(for:)`` in `set`, the delegated roles it loads staged in `staging` when there is one.
    func targetInfo(for path: String, in set: inout TrustedMetadataSet, staging: inout StagedWrites?) async throws(TUFError) -> TargetFileInfo {
        var pending: [(role: String, parent: String?)] = [("targets", nil)]
        var visited = Set<String>()
        while let (role, parent) = pending.popLast(), visited.count < configuration.maximumDelegations {
            guard !visited.contains(role) else { continue }
            try await loadTargets(role: role, parent: parent, into: &set, staging: &staging)
            let metadata = set.targets[role]!.signed
            if let info = metadata.targets[path] { return info }
            visited.insert(role)
            guard let delegations = metadata.delegations else { continue }
            var children: [(role: String, parent: String?)] = []
            for child in delegations.roles where child.isTrusted(for: path) {
                children.append((child.name, role))
                if child.terminating {
                    pending.removeAll()
                    break
                }
            }
            pending.append(contentsOf: children.reversed())
        }
        throw TUFError(.targetNotFound, "no trusted targets role lists \(path)")
    }

    /// Section 5.7.3: the target's bytes, from the store when a stored copy still matches,
    /// otherwise fetched (by hash-prefixed name under consistent snapshots) and checked against
    /// the trusted length and hashes before it is stored and returned.
    public func download(_ target: TargetFileInfo) async throws(TUFError) -> [UInt8] {
        if let stored = try await storedTarget(target) { return stored }
        let bytes = try await fetchTarget(target, consistentSnapshot: trustedMetadata?.root.signed.consistentSnapshot ?? false)
        try await targetStore.write("targets/\(target.path)", bytes)
        return bytes
    }

    /// The target's bytes from the repository (by hash-prefixed name under consistent
    /// snapshots), checked against its trusted length and hashes; not stored.
    func fetchTarget(_ target: TargetFileInfo, consistentSnapshot consistent: Bool) async throws(TUFError) -> [UInt8] {
        let hash = consistent ? (target.hashes["sha256"] ?? target.hashes.sorted(by: { $0.key < $1.key }).first?.value) : nil
        let bytes = try await fetch(configuration.layout.targetURL(path: target.path, hash: hash), maximumLength: target.length)
        try MetadataFileCheck.verify(bytes, length: target.length, hashes: target.hashes, name: target.path)
        return bytes
    }

    /// The stored copy of `target` when its length and hashes match the trusted ones (section
    /// 5.7.3), without asking the repository; nil otherwise.
    public func storedTarget(_ target: TargetFileInfo) async throws(TUFError) -> [UInt8]? {
        guard let stored = try await targetStore.read("targets/\(target.path)"),
              (try? MetadataFileCheck.verify(stored, length: target.length, hashes: target.hashes, name: target.path)) != nil else {
            return nil
        }
        return stored
    }
}
