/// What a targets role says about one target file (TUF specification section 4.5,
/// "targets.json", `TARGETS`): its length, its hashes and optional custom data.
public struct TargetFileInfo: Sendable, Hashable {
    /// The target's path relative to the targets base URL (`delegatedrole/artifact`).
    public var path: String
    /// The exact length in bytes.
    public var length: Int
    /// Algorithm name to lowercase hex digest; at least one.
    public var hashes: [String: String]
    /// `custom`, when present.
    public var custom: JSONValue?

    public init(path: String, length: Int, hashes: [String: String], custom: JSONValue? = nil) {
        self.path = path
        self.length = length
        self.hashes = hashes
        self.custom = custom
    }

    init(path: String, _ reader: FieldReader) throws(TUFError) {
        self.path = path
        length = try reader.integer("length")
        hashes = try reader.hashes("hashes")
        guard !hashes.isEmpty else { throw reader.failure("hashes is empty") }
        custom = reader.members["custom"]
    }
}
