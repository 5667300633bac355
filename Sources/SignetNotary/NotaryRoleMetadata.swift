import SignetTUF

/// The `signed` part of a Notary v1 `root.json` (Notary `tuf/data.Root`, TUF specification
/// section 4.3): the keys and thresholds of the four top-level roles.
public struct NotaryRootMetadata: Sendable, Hashable {
    public var header: NotaryMetadataHeader
    /// Every key a top-level role uses, by key ID.
    public var keys: [String: TUFKey]
    /// `root`, `targets`, `snapshot` and `timestamp`.
    public var roles: [String: TUFRole]

    /// The four roles a root must define.
    public static let topLevelRoles = ["root", "targets", "snapshot", "timestamp"]

    public init(_ signed: JSONValue, context: String) throws(TUFError) {
        let reader = try NotaryFieldReader(signed, context: context)
        header = try reader.header(expectedType: "Root")
        keys = try NotaryRootMetadata.keys(reader.reader("keys"))
        let rolesReader = try reader.reader("roles")
        var roles: [String: TUFRole] = [:]
        for name in Self.topLevelRoles {
            let role = try Self.role(rolesReader.reader(name))
            for id in role.keyIDs where keys[id] == nil {
                throw rolesReader.failure("role \(name) names key \(id), which root does not list")
            }
            roles[name] = role
        }
        self.roles = roles
    }

    /// The keys and threshold that must sign the top-level role `name`.
    public func signers(of name: String) -> SignerSet {
        SignerSet(name: name, role: roles[name] ?? TUFRole(keyIDs: [], threshold: 1), keys: keys)
    }

    /// A Notary `Keys` object: key ID to `{"keytype", "keyval": {"public", "private"}}`.
    static func keys(_ reader: NotaryFieldReader) throws(TUFError) -> [String: TUFKey] {
        var keys: [String: TUFKey] = [:]
        for id in reader.members.keys {
            let entry = try reader.reader(id)
            guard let value = entry.members["keyval"]?.objectValue else { throw entry.failure("\"keyval\" must be an object") }
            keys[id] = TUFKey(id: id, keyType: try entry.string("keytype"), scheme: "", keyValue: value)
        }
        return keys
    }

    static func role(_ reader: NotaryFieldReader) throws(TUFError) -> TUFRole {
        let keyIDs = try reader.strings("keyids")
        guard Set(keyIDs).count == keyIDs.count else { throw reader.failure("keyids lists a key twice") }
        return TUFRole(keyIDs: keyIDs, threshold: try reader.integer("threshold", minimum: 1))
    }
}

/// What timestamp and snapshot say about another metadata file (Notary `tuf/data.FileMeta`):
/// its length and hashes. Notary lists no version here; the hashes pin the exact file.
public struct NotaryFileMeta: Sendable, Hashable {
    public var length: Int
    /// Algorithm name to lowercase hex digest; at least one.
    public var hashes: [String: String]

    init(_ reader: NotaryFieldReader) throws(TUFError) {
        length = try reader.integer("length")
        hashes = try reader.hashes("hashes")
        guard hashes["sha256"] != nil || hashes["sha512"] != nil else { throw reader.failure("lists neither a sha256 nor a sha512 hash") }
    }

    static func files(_ reader: NotaryFieldReader) throws(TUFError) -> [String: NotaryFileMeta] {
        var files: [String: NotaryFileMeta] = [:]
        for name in reader.members.keys { files[name] = try NotaryFileMeta(reader.reader(name)) }
        return files
    }
}

/// The `signed` part of a Notary v1 `timestamp.json` (Notary `tuf/data.Timestamp`): the length
/// and hashes of the current `snapshot`.
public struct NotaryTimestampMetadata: Sendable, Hashable {
    public var header: NotaryMetadataHeader
    public var snapshot: NotaryFileMeta

    public init(_ signed: JSONValue, context: String) throws(TUFError) {
        let reader = try NotaryFieldReader(signed, context: context)
        header = try reader.header(expectedType: "Timestamp")
        let files = try NotaryFileMeta.files(reader.reader("meta"))
        guard let snapshot = files["snapshot"] else { throw reader.failure("meta lists no snapshot") }
        self.snapshot = snapshot
    }
}

/// The `signed` part of a Notary v1 `snapshot.json` (Notary `tuf/data.Snapshot`): the length
/// and hashes of `root`, `targets` and every delegated targets role, by role name.
public struct NotarySnapshotMetadata: Sendable, Hashable {
    public var header: NotaryMetadataHeader
    public var meta: [String: NotaryFileMeta]

    public init(_ signed: JSONValue, context: String) throws(TUFError) {
        let reader = try NotaryFieldReader(signed, context: context)
        header = try reader.header(expectedType: "Snapshot")
        meta = try NotaryFileMeta.files(reader.reader("meta"))
    }
}

/// The `signed` part of `targets.json` or a delegated role such as `targets/releases` (Notary
/// `tuf/data.Targets`): the targets it vouches for (for Docker Content Trust, tag to manifest
/// digest and length) and the roles it delegates to.
public struct NotaryTargetsMetadata: Sendable, Hashable {
    public var header: NotaryMetadataHeader
    /// Target name (a tag) to its length and hashes.
    public var targets: [String: NotaryFileMeta]
    /// Keys of the delegated roles, by key ID.
    public var delegationKeys: [String: TUFKey]
    /// The delegated roles, in order.
    public var delegations: [NotaryDelegation]

    public init(_ signed: JSONValue, context: String) throws(TUFError) {
        let reader = try NotaryFieldReader(signed, context: context)
        header = try reader.header(expectedType: "Targets")
        targets = try NotaryFileMeta.files(reader.reader("targets"))
        guard reader.members["delegations"] != nil else {
            delegationKeys = [:]
            delegations = []
            return
        }
        let delegationsReader = try reader.reader("delegations")
        delegationKeys = try NotaryRootMetadata.keys(delegationsReader.reader("keys"))
        var roles: [NotaryDelegation] = []
        for (position, element) in try delegationsReader.array("roles").enumerated() {
            let entry = try NotaryFieldReader(element, context: "\(delegationsReader.context).roles[\(position)]")
            let role = try NotaryDelegation(entry)
            guard !roles.contains(where: { $0.name == role.name }) else { throw entry.failure("role \(role.name) is delegated twice") }
            for id in role.role.keyIDs where delegationKeys[id] == nil {
                throw entry.failure("role \(role.name) names key \(id), which the delegation does not list")
            }
            roles.append(role)
        }
        delegations = roles
    }

    /// The keys and threshold that must sign the delegated role `name`, when this role delegates to it.
    public func signers(of name: String) -> SignerSet? {
        guard let delegation = delegations.first(where: { $0.name == name }) else { return nil }
        return SignerSet(name: name, role: delegation.role, keys: delegationKeys)
    }
}

/// One delegated role (Notary `tuf/data.Role` in `delegations.roles`): its name, which must be
/// a direct child of the delegating role (`targets/releases` under `targets`), its keys and
/// threshold, and the target-name prefixes it may sign (`""` is every name).
public struct NotaryDelegation: Sendable, Hashable {
    public var name: String
    public var role: TUFRole
    /// Prefixes of the target names the role is trusted for (Notary's paths are prefixes, not globs).
    public var paths: [String]

    init(_ reader: NotaryFieldReader) throws(TUFError) {
        name = try reader.string("name")
        role = try NotaryRootMetadata.role(reader)
        if reader.members["path_hash_prefixes"] != nil {
            throw reader.failure("path_hash_prefixes delegations are not supported by Notary v1")
        }
        paths = reader.members["paths"] == nil ? [] : try reader.strings("paths")
    }

    /// Whether the role may sign the target `name` (Notary `data.Role.CheckPaths`: some path is a
    /// prefix of the name).
    public func isTrusted(for name: String) -> Bool {
        paths.contains { name.hasPrefix($0) }
    }
}
