import SignetCrypto

/// A targets role's `delegations` (TUF specification section 4.5, "DELEGATIONS"): the keys of
/// the delegated roles and the roles in priority order.
public struct Delegations: Sendable, Hashable {
    /// Every key a delegated role uses, by key ID.
    public var keys: [String: TUFKey]
    /// The delegated roles, in the order the client must search them (section 5.7.2).
    public var roles: [DelegatedRole]

    init(_ reader: FieldReader) throws(TUFError) {
        keys = try TUFKey.keys(reader, "keys")
        if reader.members["succinct_roles"] != nil {
            throw reader.failure("succinct hash-bin delegations (TAP 15) are not supported")
        }
        var roles: [DelegatedRole] = []
        var names = Set<String>()
        for (position, element) in try reader.array("roles").enumerated() {
            let role = try DelegatedRole(FieldReader(element, context: "\(reader.context).roles[\(position)]"))
            guard names.insert(role.name).inserted else { throw reader.failure("role \(role.name) is delegated twice") }
            for id in role.role.keyIDs where keys[id] == nil {
                throw reader.failure("role \(role.name) names key \(id), which the delegation does not list")
            }
            roles.append(role)
        }
        self.roles = roles
    }

    /// The keys and threshold that must sign the delegated role `role`.
    public func signers(of role: DelegatedRole) -> SignerSet {
        SignerSet(name: role.name, role: role.role, keys: keys)
    }
}

/// One delegated targets role (TUF specification section 4.5, "DELEGATIONS", `ROLES`): its
/// name, keys and threshold, whether the search stops with it, and the target paths it may sign.
public struct DelegatedRole: Sendable, Hashable {
    public var name: String
    public var role: TUFRole
    /// When true, a search that reaches this role does not go on to later roles (section 5.7.2.2).
    public var terminating: Bool
    /// Shell-style path patterns (`delegatedrole/*`), when the role is delegated by path.
    public var paths: [String]?
    /// Hex prefixes of the SHA-256 of target paths, when the role is delegated by hash.
    public var pathHashPrefixes: [String]?

    init(_ reader: FieldReader) throws(TUFError) {
        name = try reader.string("name")
        guard !name.isEmpty, !RootMetadata.topLevelRoles.contains(name) else {
            throw reader.failure("a delegated role cannot be named \"\(name)\"")
        }
        role = try TUFRole(reader)
        terminating = try reader.bool("terminating", default: false)
        paths = reader.members["paths"] == nil ? nil : try reader.strings("paths")
        pathHashPrefixes = reader.members["path_hash_prefixes"] == nil ? nil : try reader.strings("path_hash_prefixes")
        guard (paths == nil) != (pathHashPrefixes == nil) else {
            throw reader.failure("exactly one of paths and path_hash_prefixes must be given")
        }
    }

    /// Whether the role is trusted for `targetPath` (section 4.5: each `*` matches within one
    /// path segment, so a pattern and a path match only with the same number of segments).
    public func isTrusted(for targetPath: String) -> Bool {
        if let paths {
            let segments = targetPath.split(separator: "/", omittingEmptySubsequences: false)
            return paths.contains { pattern in
                let patternSegments = pattern.split(separator: "/", omittingEmptySubsequences: false)
                guard patternSegments.count == segments.count else { return false }
                return zip(patternSegments, segments).allSatisfy { ShellPattern.matches(pattern: Array($0.0.utf8), text: Array($0.1.utf8)) }
            }
        }
        let hash = DigestAlgorithm.sha256.hexHash(Array(targetPath.utf8))
        return (pathHashPrefixes ?? []).contains { hash.hasPrefix($0.lowercased()) }
    }
}
