import Foundation
import SignetCrypto
import SignetTUF

/// A Notary v1 repository (one GUN) whose metadata has been verified as Notary's client does
/// (Notary `tuf/tufclient.go` and `trustpinning`, TUF specification section 5): the root by
/// the policy's pinned root keys and by its own root role, then timestamp, snapshot, targets
/// and the delegated roles asked for, each by its threshold of keys, each unexpired at the
/// reference time, each file matching the length and hashes the role above lists.
///
/// Only verified roles are in ``roles``; a delegated role the repository does not have (no
/// delegation to it, or never published) is absent, which means it signed nothing.
public struct NotaryTrustedCollection: Sendable {
    /// The repository's globally unique name (`registry/repository`).
    public let gun: String
    public let root: NotaryRootMetadata
    public let timestamp: NotaryTimestampMetadata
    public let snapshot: NotarySnapshotMetadata
    /// `targets` and the delegated roles that were asked for and exist, by name.
    public let roles: [String: TrustedRole]
    /// Delegated roles that were asked for and published but could not be trusted (expired,
    /// below their signature threshold, not the file the snapshot lists, malformed), with why:
    /// each vouches for nothing, and the others are judged without it, as Notary's client skips
    /// such a delegation rather than the repository (one delegate's lapse does not stop a
    /// policy that needs k of n roles).
    public let untrustedRoles: [String: String]
    /// The earliest `expires` of every role verified, and the time the root's certificates stop
    /// being enough for its threshold: the collection is not used past it.
    public let earliestExpiry: Date
    /// The roles `targets` delegates to, as its signed metadata names them (the repository
    /// owner's word, not the snapshot's: the server signs the snapshot, and could leave a
    /// delegated role out of it to make a client fall back to `targets`).
    public let delegatedByTargets: Set<String>
    /// Until when ``NotaryRepositoryClient`` reuses this collection without asking the server
    /// again (its fetch plus the cache TTL, or ``earliestExpiry``): a verdict from it holds no
    /// longer, so a target the signer removes is seen within one cache TTL, not two.
    public internal(set) var reusedUntil: Date = .distantFuture

    /// One verified targets role: what it vouches for and who signed it.
    public struct TrustedRole: Sendable, Hashable {
        public var name: String
        public var version: Int
        public var expires: Date
        /// The key IDs that may sign the role and how many must (from root or the delegating role).
        public var keyIDs: [String]
        public var threshold: Int
        /// The key IDs whose signatures verified.
        public var signedBy: [String]
        /// The keys of ``signedBy``, by ID.
        public var signerKeys: [String: TUFKey]
        /// Target name (tag) to length and hashes, limited to the names the role is trusted for.
        public var targets: [String: NotaryFileMeta]
    }

    /// The raw files of one fetch, by role name (`root`, `timestamp`, `snapshot`, `targets`,
    /// `targets/releases`, ...); a role absent from the map was not found on the server.
    public typealias Files = [String: [UInt8]]

    /// Verifies `files` of `gun`. `pinnedRootKeys` are the policy's root keys: the root must be
    /// signed by as many of them as its root role's threshold (never trust on first use), and
    /// `delegations` are the delegated roles to load (their delegating roles are loaded too).
    ///
    /// `olderRoots` are earlier root versions (`<n>.root.json`, any order) for a root rotated more
    /// than once since the pinned keys signed: the newest of them the pinned keys signed starts a
    /// chain in which each next version is signed by its predecessor's root role and its own
    /// (TUF specification section 5.3.4), ending with the current `root`.
    ///
    /// `pinnedRootThreshold` is how many of the pinned keys must have signed the root the chain
    /// starts from, whatever that root's own root role says (TUF specification 5.3.4: a root is
    /// judged by the threshold already trusted); its own threshold counts when higher.
    public init(
        gun: String, files: Files, pinnedRootKeys: [PublicKey], pinnedRootThreshold: Int = 1, delegations: [String], at referenceTime: Date,
        olderRoots: [[UInt8]] = [], format: NotaryMetadataFormat = NotaryMetadataFormat()
    ) throws(TUFError) {
        func expiry(_ header: NotaryMetadataHeader, _ role: String) throws(TUFError) {
            guard header.expires > referenceTime else {
                throw TUFError(
                    .expired,
                    "\(role) version \(header.version) of \(gun) expired at \(header.expires.formatted(.iso8601)) (checked at \(referenceTime.formatted(.iso8601)))")
            }
        }
        func file(_ role: String) throws(TUFError) -> [UInt8] {
            guard let bytes = files[role] else { throw TUFError(.notFound, "the Notary server has no \(role).json for \(gun)") }
            return bytes
        }
        self.gun = gun

        // Root: pinned keys first, then its own root role.
        let root = try SignedMetadata(bytes: try file("root"), format: format, context: "\(gun) root.json") { value, context throws(TUFError) in
            try NotaryRootMetadata(value, context: context)
        }
        if olderRoots.isEmpty {
            try Self.checkPinned(root, pinnedRootKeys: pinnedRootKeys, minimum: pinnedRootThreshold, format: format, gun: gun)
        } else {
            try Self.checkChain(to: root, olderRoots: olderRoots, pinnedRootKeys: pinnedRootKeys, minimum: pinnedRootThreshold, format: format, gun: gun)
        }
        try root.signed.signers(of: "root").verify(root, format: format, signer: "root version \(root.signed.header.version) itself")
        try expiry(root.signed.header, "root")
        let rootCertificatesUntil = try Self.checkRootCertificates(root, format: format, gun: gun, at: referenceTime)

        let timestamp = try SignedMetadata(bytes: try file("timestamp"), format: format, context: "\(gun) timestamp.json") { value, context throws(TUFError) in
            try NotaryTimestampMetadata(value, context: context)
        }
        try root.signed.signers(of: "timestamp").verify(timestamp, format: format, signer: "root's timestamp role")
        try expiry(timestamp.signed.header, "timestamp")

        let snapshotBytes = try file("snapshot")
        try MetadataFileCheck.verify(snapshotBytes, length: timestamp.signed.snapshot.length, hashes: timestamp.signed.snapshot.hashes, name: "\(gun) snapshot.json")
        let snapshot = try SignedMetadata(bytes: snapshotBytes, format: format, context: "\(gun) snapshot.json") { value, context throws(TUFError) in
            try NotarySnapshotMetadata(value, context: context)
        }
        try root.signed.signers(of: "snapshot").verify(snapshot, format: format, signer: "root's snapshot role")
        try expiry(snapshot.signed.header, "snapshot")
        // The snapshot pins the root: a root from another moment of the repository is refused.
        if let listed = snapshot.signed.meta["root"] {
            try MetadataFileCheck.verify(root.bytes, length: listed.length, hashes: listed.hashes, name: "\(gun) root.json (as the snapshot lists it)")
        }

        var roles: [String: TrustedRole] = [:]
        var untrusted: [String: String] = [:]
        var loaded: [String: NotaryTargetsMetadata] = [:]
        var earliest = min(root.signed.header.expires, timestamp.signed.header.expires, snapshot.signed.header.expires, rootCertificatesUntil)
        // Load `targets`, then each asked-for delegation with the roles above it, parents first.
        var order = ["targets"]
        for name in delegations where name != "targets" {
            let parts = name.split(separator: "/").map(String.init)
            guard parts.count >= 2, parts[0] == "targets", !parts.contains(where: \.isEmpty) else {
                throw TUFError(.malformedMetadata, "\(name) is not a delegated role name (targets/<name>)")
            }
            for depth in 2...parts.count {
                let role = parts[0..<depth].joined(separator: "/")
                if !order.contains(role) { order.append(role) }
            }
        }
        var allowedPaths: [String: [[String]]] = ["targets": []]  // prefixes every ancestor allows
        for name in order {
            let signers: SignerSet
            var pathLimits: [[String]] = []
            if name == "targets" {
                signers = root.signed.signers(of: "targets")
            } else {
                let parent = String(name[..<name.lastIndex(of: "/")!])
                guard let parentRole = loaded[parent], let delegated = parentRole.signers(of: name),
                      let delegation = parentRole.delegations.first(where: { $0.name == name }) else { continue }
                signers = delegated
                pathLimits = (allowedPaths[parent] ?? []) + [delegation.paths]
            }
            guard let listed = snapshot.signed.meta[name] else {
                if name == "targets" { throw TUFError(.malformedMetadata, "the snapshot of \(gun) does not list targets") }
                continue  // delegated but never published: it signed nothing
            }
            let metadata: SignedMetadata<NotaryTargetsMetadata>
            let signedBy: [String]
            do {
                let bytes = try file(name)
                try MetadataFileCheck.verify(bytes, length: listed.length, hashes: listed.hashes, name: "\(gun) \(name).json")
                metadata = try SignedMetadata(bytes: bytes, format: format, context: "\(gun) \(name).json") { value, context throws(TUFError) in
                    try NotaryTargetsMetadata(value, context: context)
                }
                signedBy = try Self.verify(metadata, signers: signers, format: format, signer: name == "targets" ? "root's targets role" : "its delegation")
                try expiry(metadata.signed.header, name)
            } catch {
                // `targets` is the owner's: without it nothing is trusted. A delegation that
                // fails vouches for nothing, and neither do the roles below it.
                guard name != "targets" else { throw error }
                untrusted[name] = error.reason
                continue
            }
            earliest = min(earliest, metadata.signed.header.expires)
            loaded[name] = metadata.signed
            allowedPaths[name] = pathLimits
            let trusted = metadata.signed.targets.filter { target in
                pathLimits.allSatisfy { prefixes in prefixes.contains { target.key.hasPrefix($0) } }
            }
            roles[name] = TrustedRole(
                name: name, version: metadata.signed.header.version, expires: metadata.signed.header.expires,
                keyIDs: signers.role.keyIDs, threshold: signers.role.threshold, signedBy: signedBy,
                signerKeys: signers.keys.filter { signedBy.contains($0.key) }, targets: trusted)
        }
        self.root = root.signed
        self.timestamp = timestamp.signed
        self.snapshot = snapshot.signed
        self.roles = roles
        self.untrustedRoles = untrusted
        self.earliestExpiry = earliest
        self.delegatedByTargets = Set(loaded["targets"]?.delegations.map(\.name) ?? [])
    }

    /// The root must carry valid signatures by at least its root role's threshold of distinct
    /// pinned keys. A root rotated on the server and signed by the old (pinned) root key as Notary
    /// rotation does passes; one signed only by keys the policy does not pin does not.
    static func checkPinned(
        _ root: SignedMetadata<NotaryRootMetadata>, pinnedRootKeys: [PublicKey], minimum: Int = 1, format: NotaryMetadataFormat, gun: String
    ) throws(TUFError) {
        let message = try format.signedBytes(of: root.signedValue)
        // Every signature (at most 32) against every pinned key: the document is hashed once,
        // not once per try (a server can make it 512 KiB).
        let digest = DigestAlgorithm.sha256.hash(message)
        var matched = Set<[UInt8]>()
        for pinned in pinnedRootKeys where !matched.contains(pinned.canonicalForm) {
            let verifier = NotarySignatureVerifier(key: pinned)
            if root.signatures.contains(where: { verifier.isValid($0, over: message, sha256: digest) }) { matched.insert(pinned.canonicalForm) }
        }
        let own = root.signed.roles["root"]?.threshold ?? 1
        let threshold = max(own, minimum)
        guard matched.count >= threshold else {
            let rule = minimum >= own ? "the policy's rootThreshold requires \(threshold)" : "its root role requires \(threshold)"
            throw TUFError(
                .thresholdNotMet,
                "root.json of \(gun) (version \(root.signed.header.version)) is signed by \(matched.count) of the policy's \(pinnedRootKeys.count) pinned root key(s); \(rule)")
        }
    }

    /// Section 5.3.4 over Notary's versioned roots: the newest older root the pinned keys signed,
    /// then every following version, consecutive, each signed by a threshold of its predecessor's
    /// root keys (at least the policy's `minimum`, its rootThreshold) and of its own, up to `current`.
    ///
    /// The older roots come from the server before anything vouches for them: each is read to
    /// learn its version and dropped, and read again only when the chain reaches it, so one
    /// parsed root at a time is held, not every version's tree.
    static func checkChain(
        to current: SignedMetadata<NotaryRootMetadata>, olderRoots: [[UInt8]], pinnedRootKeys: [PublicKey], minimum: Int = 1,
        format: NotaryMetadataFormat, gun: String
    ) throws(TUFError) {
        func read(_ bytes: [UInt8]) throws(TUFError) -> SignedMetadata<NotaryRootMetadata> {
            try SignedMetadata(bytes: bytes, format: format, context: "\(gun) versioned root.json") { value, context throws(TUFError) in
                try NotaryRootMetadata(value, context: context)
            }
        }
        var byVersion: [Int: [UInt8]] = [:]
        for bytes in olderRoots {
            let version = try read(bytes).signed.header.version
            guard version < current.signed.header.version else { continue }
            byVersion[version] = bytes
        }
        var start: SignedMetadata<NotaryRootMetadata>?
        for version in byVersion.keys.sorted(by: >) {
            let candidate = try read(byVersion[version]!)
            if (try? checkPinned(candidate, pinnedRootKeys: pinnedRootKeys, minimum: minimum, format: format, gun: gun)) != nil,
               (try? candidate.signed.signers(of: "root").verify(candidate, format: format, signer: "itself")) != nil {
                start = candidate
                break
            }
        }
        guard var trusted = start else {
            throw TUFError(
                .thresholdNotMet,
                "no root.json of \(gun) up to version \(current.signed.header.version) is signed by the policy's \(pinnedRootKeys.count) pinned root key(s)")
        }
        while trusted.signed.header.version < current.signed.header.version {
            let next = trusted.signed.header.version + 1
            let root: SignedMetadata<NotaryRootMetadata>
            if next == current.signed.header.version {
                root = current
            } else if let bytes = byVersion[next] {
                root = try read(bytes)
            } else {
                throw TUFError(.badVersion, "root version \(next) of \(gun) is missing from the rotation chain")
            }
            // The policy's rootThreshold holds for each link too: a predecessor whose root role
            // lets one key rotate would otherwise let one leaked pinned key choose every later root.
            var predecessor = trusted.signed.signers(of: "root")
            let own = predecessor.role.threshold
            predecessor.role.threshold = max(own, minimum)
            let rule = minimum > own ? " (the policy's rootThreshold requires \(minimum) of its keys)" : ""
            try predecessor.verify(root, format: format, signer: "root version \(trusted.signed.header.version)\(rule)")
            try root.signed.signers(of: "root").verify(root, format: format, signer: "root version \(next) itself")
            trusted = root
        }
    }

    /// Checks the threshold and returns the key IDs whose signatures verified.
    static func verify(
        _ metadata: SignedMetadata<NotaryTargetsMetadata>, signers: SignerSet, format: NotaryMetadataFormat, signer: String
    ) throws(TUFError) -> [String] {
        // The key IDs the threshold check counted: each checked once, not verified again here.
        try signers.verify(metadata, format: format, signer: signer)
    }

    /// The versions of every role verified, for rollback checks: `root`, `timestamp`,
    /// `snapshot`, and each targets role.
    public var versions: [String: Int] {
        var versions = ["root": root.header.version, "timestamp": timestamp.header.version, "snapshot": snapshot.header.version]
        for (name, role) in roles { versions[name] = role.version }
        return versions
    }
}
