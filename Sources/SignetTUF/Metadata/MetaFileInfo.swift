/// What timestamp and snapshot say about another metadata file (TUF specification section 4.4,
/// "snapshot.json", `METAFILES`, and section 4.6, "timestamp.json"): its version, and
/// optionally its length and hashes.
public struct MetaFileInfo: Sendable, Hashable {
    public var version: Int
    /// The exact length in bytes, when listed.
    public var length: Int?
    /// Algorithm name to lowercase hex digest; empty when not listed.
    public var hashes: [String: String]

    public init(version: Int, length: Int? = nil, hashes: [String: String] = [:]) {
        self.version = version
        self.length = length
        self.hashes = hashes
    }

    init(_ reader: FieldReader) throws(TUFError) {
        version = try reader.integer("version", minimum: 1)
        length = try reader.optionalInteger("length")
        hashes = reader.members["hashes"] == nil ? [:] : try reader.hashes("hashes")
    }

    static func files(_ reader: FieldReader, _ member: String) throws(TUFError) -> [String: MetaFileInfo] {
        let filesReader = try reader.reader(member)
        var files: [String: MetaFileInfo] = [:]
        for name in filesReader.members.keys {
            files[name] = try MetaFileInfo(filesReader.reader(name))
        }
        return files
    }
}
