/// The `signed` part of `snapshot.json` (TUF specification section 4.4): the version (and
/// optionally length and hashes) of every targets metadata file, top-level and delegated.
public struct SnapshotMetadata: Sendable, Hashable {
    public var header: MetadataHeader
    /// `targets.json` and `<delegated role>.json` to what the snapshot vouches for.
    public var meta: [String: MetaFileInfo]

    public init(_ signed: JSONValue, context: String = "snapshot") throws(TUFError) {
        let reader = try FieldReader(signed, context: context)
        header = try MetadataHeader(reader, expectedType: "snapshot")
        meta = try MetaFileInfo.files(reader, "meta")
    }
}
