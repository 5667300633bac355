import Foundation

/// A TUF 1.0 client for one repository: the detailed client workflow of the TUF specification
/// (section 5), with the last good metadata in a ``TUFMetadataStore``.
///
/// ``refresh()`` runs sections 5.1 to 5.6: it rotates the root through every newer version
/// (each signed by a threshold of the previous root's keys and of its own), then updates
/// timestamp, snapshot and targets with their signature, version, rollback, expiry, length and
/// hash checks. ``targetInfo(for:)`` searches the delegations (section 5.7), and
/// ``download(_:)`` fetches a target and checks its length and hashes. Time comes from the
/// injected clock, read once per refresh (section 5.1, the fixed update start time).
public actor TUFClient {
    public let configuration: TUFClientConfiguration
    private let fetcher: any TUFFetcher
    private let store: any TUFMetadataStore
    private let bootstrapRoot: [UInt8]
    let now: @Sendable () -> Date
    private var trusted: TrustedMetadataSet?

    /// - Parameters:
    ///   - bootstrapRoot: a root the operator trusts out of band (shipped with the program). The
    ///     stored root replaces it when it verifies and is newer.
    ///   - now: the clock expiry is judged against.
    public init(
        configuration: TUFClientConfiguration, fetcher: any TUFFetcher, store: any TUFMetadataStore,
        bootstrapRoot: [UInt8], now: @escaping @Sendable () -> Date
    ) {
        self.configuration = configuration
        self.fetcher = fetcher
        self.store = store
        self.bootstrapRoot = bootstrapRoot
        self.now = now
    }

    /// The metadata of the last successful refresh, if any.
    public var trustedMetadata: TrustedMetadataSet? { trusted }

    /// Whether the store holds a timestamp an earlier run verified: the repository had been
    /// reached, so what the bootstrap root alone vouches for is behind it.
    public var storeHoldsTimestamp: Bool {
        get async { ((try? await store.read("timestamp.json")) ?? nil) != nil }
    }

    /// The timestamp, snapshot and targets of one refresh, written to the store together once
    /// the refresh has verified them all.
    typealias StagedWrites = [(name: String, bytes: [UInt8])]

    /// Runs the top-level update (sections 5.1 to 5.6) and returns the metadata now trusted.
    /// On any failure the previous trusted metadata stays in force, in memory and on disk: the
    /// new timestamp, snapshot and targets are stored only once all of them verified (targets
    /// first, the timestamp last), so a refresh cut off half-way (a connection dropped after the
    /// timestamp) does not leave a new timestamp beside the old snapshot, which no longer
    /// verifies together at the next start (``loadStored()``) and put nothing in force. (Section
    /// 5.4.5 persists the timestamp at once; here the rollback floor of the next refresh is the
    /// last complete one, and a timestamp whose snapshot could not be had is no floor: nothing
    /// it vouched for was ever put in force.)
    ///
    /// `prefetching`: targets the caller will use, downloaded (when the store's copy no longer
    /// matches) and checked before anything is stored, and stored with the metadata: a target
    /// that could not be downloaded leaves the store as it was, not new metadata beside an old
    /// target that no longer matches it.
    @discardableResult
    public func refresh(prefetching targetPaths: [String] = []) async throws(TUFError) -> TrustedMetadataSet {
        var set = try await startingSet(referenceTime: now())
        try await updateRoot(&set)
        try set.checkFinalRoot()
        var staged: StagedWrites? = []

        // Section 5.4: the stored timestamp is the reference for rollback checks, even expired.
        if let local = try await store.read("timestamp.json") {
            _ = try? set.updateTimestamp(local)
        }
        let timestampBytes = try await fetch(
            configuration.layout.metadataURL(role: "timestamp", version: nil), maximumLength: configuration.timestampMaximumLength)
        if try set.updateTimestamp(timestampBytes) {
            staged?.append(("timestamp.json", timestampBytes))
        }
        try set.checkFinalTimestamp()

        // Section 5.5: keep the stored snapshot when it is the one the timestamp names.
        let snapshotMeta = set.timestamp!.signed.snapshot
        if let local = try await store.read("snapshot.json") {
            try? set.updateSnapshot(local, isLocal: true)
        }
        if (try? set.checkFinalSnapshot()) == nil {
            let version = set.root.signed.consistentSnapshot ? snapshotMeta.version : nil
            let bytes = try await fetch(
                configuration.layout.metadataURL(role: "snapshot", version: version),
                maximumLength: snapshotMeta.length ?? configuration.snapshotMaximumLength)
            try set.updateSnapshot(bytes)
            staged?.append(("snapshot.json", bytes))
        }

        // Section 5.6.
        try await loadTargets(role: "targets", parent: nil, into: &set, staging: &staged)
        for path in targetPaths {
            let target = try await targetInfo(for: path, in: &set, staging: &staged)
            guard try await storedTarget(target) == nil else { continue }
            staged?.append(("targets/\(path)", try await fetchTarget(target, consistentSnapshot: set.root.signed.consistentSnapshot)))
        }
        for write in (staged ?? []).reversed() {
            try await store.write(write.name, write.bytes)
        }
        trusted = set
        return set
    }

    /// Section 5.2: the bootstrap root, then each newer root version the store keeps
    /// (`<version>.root.json`, written by earlier updates), every one verified as section 5.3
    /// verifies a fetched one: signed by a threshold of the previous root's keys and of its own,
    /// with the next version number. The chain stops at the first version the store lacks or
    /// that does not verify (a damaged cache is fetched again); a root the store holds only as
    /// `root.json` is not trusted on its own signatures, so a replaced file cannot swap the
    /// repository's keys across a restart.
    func startingSet(referenceTime: Date) async throws(TUFError) -> TrustedMetadataSet {
        var set = try TrustedMetadataSet(trustedRoot: bootstrapRoot, referenceTime: referenceTime, format: configuration.format)
        for _ in 0..<configuration.maximumRootRotations {
            let next = set.root.signed.header.version + 1
            guard let bytes = try await store.read(Self.rootVersionFile(next)), (try? set.updateRoot(bytes)) != nil else { break }
        }
        return set
    }

    /// Section 5 from the client's own storage alone, with no request to the repository: the
    /// stored root chain (as ``refresh()`` starts it), then the stored timestamp, snapshot and
    /// targets, each checked as a fetched copy is (signature thresholds; the snapshot's and the
    /// targets' lengths, hashes and versions as the timestamp and the snapshot name them; expiry
    /// at the clock's time, read once). What verifies becomes the trusted metadata, so
    /// ``targetInfo(for:)`` and ``download(_:)`` answer from the store before the repository has
    /// been reached (after a restart during an outage). Throws, trusting nothing new, when a
    /// file is missing, does not verify, or has expired: expired metadata is never used.
    @discardableResult
    public func loadStored() async throws(TUFError) -> TrustedMetadataSet {
        var set = try await startingSet(referenceTime: now())
        try set.checkFinalRoot()
        func stored(_ name: String) async throws(TUFError) -> [UInt8] {
            guard let bytes = try await store.read(name) else { throw TUFError(.notFound, "the store holds no \(name)") }
            return bytes
        }
        try set.updateTimestamp(try await stored("timestamp.json"))
        try set.updateSnapshot(try await stored("snapshot.json"))
        try set.updateTargets(try await stored("targets.json"))
        trusted = set
        return set
    }

    /// Where the store keeps root version `version`.
    static func rootVersionFile(_ version: Int) -> String { "\(version).root.json" }

    /// Section 5.3: follows root versions N+1, N+2, ... until the repository has no next one,
    /// storing each. When the timestamp or snapshot keys changed on the way, the stored
    /// timestamp and snapshot are dropped (section 5.3.11), so a fast-forward attack on the
    /// old keys ends with them.
    private func updateRoot(_ set: inout TrustedMetadataSet) async throws(TUFError) {
        let original = set.root.signed
        if try await store.read("root.json") != set.root.bytes {
            try await store.write("root.json", set.root.bytes)
        }
        for _ in 0..<configuration.maximumRootRotations {
            let next = set.root.signed.header.version + 1
            guard let bytes = try await fetcher.fetch(configuration.layout.rootURL(version: next), maximumLength: configuration.rootMaximumLength) else {
                break
            }
            try set.updateRoot(bytes)
            try await store.write(Self.rootVersionFile(next), bytes)
            try await store.write("root.json", bytes)
        }
        let current = set.root.signed
        func signers(_ root: RootMetadata, _ role: String) -> [TUFKey?] {
            root.role(role).keyIDs.sorted().map { root.keys[$0] } + [nil, TUFKey(id: "", keyType: "", scheme: "", keyValue: ["threshold": .integer(Int64(root.role(role).threshold))])]
        }
        for role in ["timestamp", "snapshot"] where signers(current, role) != signers(original, role) {
            try await store.remove("timestamp.json")
            try await store.remove("snapshot.json")
            break
        }
    }

    /// Section 5.6 for `targets`, 5.7.2 for a delegated role: the stored copy when it is the
    /// version the snapshot lists and verifies, otherwise a fetched one.
    func loadTargets(role: String, parent: String?, into set: inout TrustedMetadataSet) async throws(TUFError) {
        var writeNow: StagedWrites? = nil
        try await loadTargets(role: role, parent: parent, into: &set, staging: &writeNow)
    }

    /// ``loadTargets(role:parent:into:)``, the fetched file added to `staging` instead of
    /// written when there is one.
    func loadTargets(role: String, parent: String?, into set: inout TrustedMetadataSet, staging: inout StagedWrites?) async throws(TUFError) {
        if set.targets[role] != nil { return }
        let fileName = "\(role).json"
        if let local = try await store.read(fileName), (try? set.updateTargets(local, role: role, parent: parent, isLocal: true)) != nil {
            return
        }
        guard let meta = set.snapshot?.signed.meta[fileName] else {
            throw TUFError(.malformedMetadata, "the snapshot does not list \(fileName)")
        }
        let version = set.root.signed.consistentSnapshot ? meta.version : nil
        let bytes = try await fetch(
            configuration.layout.metadataURL(role: role, version: version),
            maximumLength: meta.length ?? configuration.targetsMaximumLength)
        try set.updateTargets(bytes, role: role, parent: parent)
        if staging != nil {
            staging?.append((fileName, bytes))
        } else {
            try await store.write(fileName, bytes)
        }
    }

    func fetch(_ url: String, maximumLength: Int) async throws(TUFError) -> [UInt8] {
        guard let bytes = try await fetcher.fetch(url, maximumLength: maximumLength) else {
            throw TUFError(.notFound, "\(url) does not exist")
        }
        return bytes
    }

    func setTrusted(_ set: TrustedMetadataSet) { trusted = set }
    var targetStore: any TUFMetadataStore { store }
}
