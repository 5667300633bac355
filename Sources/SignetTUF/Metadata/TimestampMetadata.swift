/// The `signed` part of `timestamp.json` (TUF specification section 4.6): the version (and
/// optionally length and hashes) of the current snapshot.
public struct TimestampMetadata: Sendable, Hashable {
    public var header: MetadataHeader
    /// `meta["snapshot.json"]`.
    public var snapshot: MetaFileInfo

    public init(_ signed: JSONValue, context: String = "timestamp") throws(TUFError) {
        let reader = try FieldReader(signed, context: context)
        header = try MetadataHeader(reader, expectedType: "timestamp")
        let files = try MetaFileInfo.files(reader, "meta")
        guard let snapshot = files["snapshot.json"] else { throw reader.failure("meta lists no snapshot.json") }
        self.snapshot = snapshot
    }
}
