/// How a ``TUFClient`` reaches and bounds one repository (TUF specification section 5), with
/// the bounds of python-tuf's `UpdaterConfig` as defaults.
public struct TUFClientConfiguration: Sendable {
    /// Where the repository's files are.
    public var layout: any TUFRepositoryLayout
    /// How its metadata is written and signed.
    public var format: any TUFMetadataFormat
    /// The most root versions one update follows (section 5.3.3).
    public var maximumRootRotations: Int
    /// The most targets roles one target search visits (section 5.7.1).
    public var maximumDelegations: Int
    /// Upper bounds on metadata whose length no trusted file gives (endless data attack).
    public var rootMaximumLength: Int
    public var timestampMaximumLength: Int
    public var snapshotMaximumLength: Int
    public var targetsMaximumLength: Int

    public init(
        layout: any TUFRepositoryLayout, format: any TUFMetadataFormat = TUFSpecificationFormat(),
        maximumRootRotations: Int = 256, maximumDelegations: Int = 32,
        rootMaximumLength: Int = 512_000, timestampMaximumLength: Int = 16_384,
        snapshotMaximumLength: Int = 2_000_000, targetsMaximumLength: Int = 5_000_000
    ) {
        self.layout = layout
        self.format = format
        self.maximumRootRotations = maximumRootRotations
        self.maximumDelegations = maximumDelegations
        self.rootMaximumLength = rootMaximumLength
        self.timestampMaximumLength = timestampMaximumLength
        self.snapshotMaximumLength = snapshotMaximumLength
        self.targetsMaximumLength = targetsMaximumLength
    }
}
