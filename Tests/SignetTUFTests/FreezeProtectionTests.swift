import Foundation
import SignetSigstore
import SignetTestSupport
import SignetTrustRoot
import SignetTUF
import Testing

/// Freeze-attack protection after the update (TUF specification sections 5.4.4, 5.5.6, 5.6.5):
/// a trusted root delivered through TUF may be used only while the metadata it was verified
/// under is unexpired. A mirror that stops answering, or keeps serving the same old files, must
/// not keep signet on that root past the metadata's expiry. Clocks are pinned and moved by the
/// test.
@Suite struct FreezeProtectionTests {
    /// The real Sigstore repository's timestamp 762 expires first (snapshot and targets in 2036).
    static let timestampExpiry = TUFTest.date("2026-08-28T19:25:56Z")

    /// The test's own repository (``TUFTestRepository``), delivering the real Sigstore
    /// `trusted_root.json` and served with the metadata at the top, as the updater expects.
    static func signedRepository(timestampExpires: String) async throws -> (TUFTestRepository, StaticFileServer, String) {
        let repository = try await TUFTestRepository.make()
        repository.targets["trusted_root.json"] = try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("targets/trusted_root.json"))
        repository.timestampExpires = timestampExpires
        try await repository.publishAll()
        try FileManager.default.createSymbolicLink(
            at: repository.metadataDirectory.appendingPathComponent("targets"), withDestinationURL: repository.targetsDirectory)
        let server = try await StaticFileServer.start(serving: repository.directory.url)
        return (repository, server, server.baseURL + "/metadata")
    }

    @Test func theEmbeddedRootIsUsedUntilARefreshFails() async throws {
        let clock = SettableClock(TUFTest.date("2040-01-01T00:00:00Z"))
        let updater = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: "http://127.0.0.1:9"), fetcher: try TUFTest.fetcher(), now: clock.closure)
        #expect(updater.freshness.current.validUntil == nil)
        #expect(updater.freshness.staleReason() == nil)
        #expect(!updater.freshness.isStale())
        // Nothing listens at the mirror's address: from the failed refresh on, the root built
        // into signet is not trusted either.
        let failure = try #require(await tufError { _ = try await updater.refresh() })
        #expect(updater.freshness.isStale())
        #expect(updater.freshness.staleReason() == "Sigstore trust root is not current: no TUF refresh from http://127.0.0.1:9 has succeeded "
            + "since signet started, and no root that did not come through it is trusted once one has failed; refresh failing: \(failure)")
    }

    @Test func aMirrorThatStopsAnsweringKeepsTheRootOnlyUntilTheTimestampExpires() async throws {
        let mirror = try SigstoreRootSigningTests.makeMirror(metadataFolder: "")
        let server = try await StaticFileServer.start(serving: mirror.url)
        let clock = SettableClock(SigstoreRootSigningTests.now)
        let updater = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: server.baseURL), fetcher: try TUFTest.fetcher(), now: clock.closure)
        let adopted = try await updater.refresh()
        #expect(updater.freshness.current.validUntil == MetadataExpiry(role: "timestamp", version: 762, expires: Self.timestampExpiry))
        #expect(updater.freshness.staleReason() == nil)

        // The mirror answers 404 from now on.
        try FileManager.default.removeItem(at: mirror.url.appendingPathComponent("timestamp.json"))
        let failure = try #require(await tufError { _ = try await updater.refresh() })
        #expect(failure.code == .notFound)
        // A second before the timestamp expires the root is still usable, and still in force.
        clock.set(Self.timestampExpiry.addingTimeInterval(-1))
        #expect(updater.freshness.staleReason() == nil)
        #expect(await updater.current.digest == adopted.digest)
        // From its expiry on it is not: the reason names the repository, the role, the expiry and
        // the refresh error.
        clock.set(Self.timestampExpiry)
        #expect(updater.freshness.staleReason() == """
            Sigstore trust root is stale: TUF timestamp metadata (version 762) of \(server.baseURL) expired at \
            2026-08-28T19:25:56Z; refresh failing: \(failure)
            """)
        #expect(updater.freshness.isStale())
        #expect(updater.freshness.current.consecutiveFailures == 1)
    }

    @Test func aFrozenMirrorMakesTheRootStaleAndANewTimestampMakesItUsableAgain() async throws {
        let (repository, server, mirrorURL) = try await Self.signedRepository(timestampExpires: "2025-01-02T00:00:00Z")
        defer { withExtendedLifetime(server) {} }
        let clock = SettableClock(TUFTest.date("2025-01-01T00:00:00Z"))
        let updater = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: mirrorURL, bootstrapRoot: repository.rootDocuments[1]!),
            fetcher: try TUFTest.fetcher(), now: clock.closure)
        try await updater.refresh()
        #expect(updater.freshness.current.validUntil?.role == "timestamp")

        // The mirror keeps serving the same files past the timestamp's expiry: a freeze attack.
        clock.set(TUFTest.date("2025-01-03T00:00:00Z"))
        let frozen = try #require(await tufError { _ = try await updater.refresh() })
        #expect(frozen.code == .expired)
        let reason = try #require(updater.freshness.staleReason())
        #expect(reason.hasPrefix(
            "Sigstore trust root is stale: TUF timestamp metadata (version 2) of \(mirrorURL) expired at 2025-01-02T00:00:00Z; refresh failing: expired metadata: timestamp version 2 expired"),
            "\(reason)")

        // The repository signs a new timestamp: the next refresh vouches for the root again.
        repository.timestampExpires = "2025-01-10T00:00:00Z"
        try await repository.publishTimestamp()
        try await updater.refresh()
        #expect(updater.freshness.staleReason() == nil)
        #expect(updater.freshness.current == TrustedRootFreshness.State(
            validUntil: MetadataExpiry(role: "timestamp", version: 3, expires: TUFTest.date("2025-01-10T00:00:00Z")),
            lastRefreshError: nil, consecutiveFailures: 0))
    }

    /// The updater asks the repository again before the metadata in force expires, even when
    /// the refresh interval is longer, so a healthy mirror never lets the root turn stale.
    @Test func theNextRefreshComesNoLaterThanTheExpiry() async throws {
        let (repository, server, mirrorURL) = try await Self.signedRepository(timestampExpires: "2025-01-01T00:00:02Z")
        let clock = SettableClock(TUFTest.date("2025-01-01T00:00:00Z"))
        let updater = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(
                mirrorURL: mirrorURL, refreshInterval: .seconds(3600), retryInterval: .seconds(3600), bootstrapRoot: repository.rootDocuments[1]!),
            fetcher: try TUFTest.fetcher(), now: clock.closure)
        let task = Task { await updater.run() }
        defer { task.cancel() }
        // With a one-hour interval a second timestamp fetch within the budget can only come from
        // the wake-up at the expiry (two seconds after the pinned time, on the real clock).
        let start = ContinuousClock.now
        while server.requestedPaths.filter({ $0.hasSuffix("/timestamp.json") }).count < 2, ContinuousClock.now - start < TestBudget.seconds(60) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(server.requestedPaths.filter { $0.hasSuffix("/timestamp.json") }.count >= 2, "\(server.requestedPaths)")
    }
}
