/// A public key as metadata lists it (TUF specification section 4.2, "KEY"): `keytype`,
/// `scheme` and `keyval`, under a key ID chosen by the repository.
///
/// The client does not recompute key IDs (section 4.2 leaves their computation to the
/// repository); it trusts the ID the signed metadata assigns.
public struct TUFKey: Sendable, Hashable {
    /// The ID the metadata lists the key under.
    public var id: String
    /// `ed25519`, `ecdsa`, `ecdsa-sha2-nistp256`, `rsa`, or another format's type.
    public var keyType: String
    /// `ed25519`, `ecdsa-sha2-nistp256`, `rsassa-pss-sha256`, or another format's scheme.
    public var scheme: String
    /// The `keyval` object; `public` holds the key.
    public var keyValue: [String: JSONValue]

    public init(id: String, keyType: String, scheme: String, keyValue: [String: JSONValue]) {
        self.id = id
        self.keyType = keyType
        self.scheme = scheme
        self.keyValue = keyValue
    }

    /// `keyval.public`, when it is a string.
    public var publicValue: String? { keyValue["public"]?.stringValue }

    init(id: String, _ reader: FieldReader) throws(TUFError) {
        self.id = id
        keyType = try reader.string("keytype")
        // Notary v1 keys name no scheme; formats that need one check it when they verify.
        scheme = try reader.optionalString("scheme") ?? ""
        keyValue = try reader.object("keyval")
    }

    /// Reads a `KEYS` object: key ID to key.
    static func keys(_ reader: FieldReader, _ member: String) throws(TUFError) -> [String: TUFKey] {
        var keys: [String: TUFKey] = [:]
        let keysReader = try reader.reader(member)
        for id in keysReader.members.keys {
            keys[id] = try TUFKey(id: id, keysReader.reader(id))
        }
        return keys
    }
}

/// A role's trusted keys and threshold (TUF specification section 4.3, "ROLE").
public struct TUFRole: Sendable, Hashable {
    /// The IDs of the keys that may sign for the role.
    public var keyIDs: [String]
    /// How many distinct keys must sign, at least 1.
    public var threshold: Int

    public init(keyIDs: [String], threshold: Int) {
        self.keyIDs = keyIDs
        self.threshold = threshold
    }

    init(_ reader: FieldReader) throws(TUFError) {
        keyIDs = try reader.strings("keyids")
        guard Set(keyIDs).count == keyIDs.count else { throw reader.failure("keyids lists a key twice") }
        threshold = try reader.integer("threshold", minimum: 1)
    }
}
