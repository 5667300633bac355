/// The `signed` part of `targets.json` or of a delegated targets role (TUF specification
/// section 4.5): the target files it vouches for and the roles it delegates to.
public struct TargetsMetadata: Sendable, Hashable {
    public var header: MetadataHeader
    /// Target path to what the role says about it.
    public var targets: [String: TargetFileInfo]
    /// The roles this one delegates to, when any.
    public var delegations: Delegations?

    public init(_ signed: JSONValue, context: String = "targets") throws(TUFError) {
        let reader = try FieldReader(signed, context: context)
        header = try MetadataHeader(reader, expectedType: "targets")
        let targetsReader = try reader.reader("targets")
        var targets: [String: TargetFileInfo] = [:]
        for path in targetsReader.members.keys {
            targets[path] = try TargetFileInfo(path: path, targetsReader.reader(path))
        }
        self.targets = targets
        delegations = reader.members["delegations"] == nil ? nil : try Delegations(reader.reader("delegations"))
    }
}
