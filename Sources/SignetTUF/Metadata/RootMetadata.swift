/// The `signed` part of `root.json` (TUF specification section 4.3, "root.json"): the keys and
/// thresholds of the four top-level roles, and whether the repository uses consistent snapshots.
public struct RootMetadata: Sendable, Hashable {
    public var header: MetadataHeader
    /// Whether metadata and targets are also published under version- and hash-prefixed names
    /// (section 6.2, "Consistent snapshots").
    public var consistentSnapshot: Bool
    /// Every key any top-level role uses, by key ID.
    public var keys: [String: TUFKey]
    /// The `root`, `timestamp`, `snapshot` and `targets` roles.
    public var roles: [String: TUFRole]

    /// The four roles a root must define.
    public static let topLevelRoles = ["root", "timestamp", "snapshot", "targets"]

    public init(_ signed: JSONValue, context: String = "root") throws(TUFError) {
        let reader = try FieldReader(signed, context: context)
        header = try MetadataHeader(reader, expectedType: "root")
        consistentSnapshot = try reader.bool("consistent_snapshot", default: false)
        keys = try TUFKey.keys(reader, "keys")
        let rolesReader = try reader.reader("roles")
        var roles: [String: TUFRole] = [:]
        for name in Self.topLevelRoles {
            let role = try TUFRole(rolesReader.reader(name))
            for id in role.keyIDs where keys[id] == nil {
                throw rolesReader.failure("role \(name) names key \(id), which root does not list")
            }
            roles[name] = role
        }
        self.roles = roles
    }

    /// The role `name` (one of ``topLevelRoles``).
    public func role(_ name: String) -> TUFRole {
        roles[name]!
    }

    /// The keys and threshold that must sign metadata of the top-level role `name`.
    public func signers(of name: String) -> SignerSet {
        SignerSet(name: name, role: role(name), keys: keys)
    }
}
