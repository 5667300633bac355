import Foundation
import SignetSigstore
import SignetTestSupport
import SignetTrustRoot
import SignetTUF
import Testing

/// The Sigstore trusted-root updater against a copy of the Sigstore TUF repository laid out as
/// its public mirror, served on 127.0.0.1, bootstrapped from the TUF root embedded in signet.
@Suite struct TrustedRootUpdaterTests {
    static func updater(_ server: StaticFileServer, now: Date, cache: String? = nil) throws -> SigstoreTrustedRootUpdater {
        try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: server.baseURL, cacheDirectory: cache),
            fetcher: try TUFTest.fetcher(), now: { now })
    }

    @Test func embeddedUntilTheFirstRefreshThenTheRepositorysRoot() async throws {
        let mirror = try SigstoreRootSigningTests.makeMirror(metadataFolder: "")
        let server = try await StaticFileServer.start(serving: mirror.url)
        let cache = TemporaryDirectory(prefix: "signet-trust-root-cache")
        let updater = try Self.updater(server, now: SigstoreRootSigningTests.now, cache: cache.path)
        #expect(await updater.current.origin == "embedded production root")
        #expect(await updater.current.refreshedAt == nil)

        let adopted = try await updater.refresh()
        #expect(adopted.digest == "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66")
        #expect(adopted.origin == "TUF \(server.baseURL) (targets version 14)")
        #expect(adopted.refreshedAt == SigstoreRootSigningTests.now)
        #expect(!adopted.root.transparencyLogs.isEmpty)
        var updates = updater.updates.makeAsyncIterator()
        #expect(await updates.next()?.digest == adopted.digest)
        // Bootstrapped from the embedded root 15: only root 16 (absent) was asked for.
        #expect(server.requestedPaths.filter { $0.hasSuffix(".root.json") } == ["/16.root.json"])
        // The last good metadata and the trusted root are on disk.
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: cache.path))
        #expect(files.isSuperset(of: ["root.json", "timestamp.json", "snapshot.json", "targets.json"]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.file("targets").path) == ["trusted_root.json"])
    }

    @Test func aFailedRefreshKeepsTheRootInForce() async throws {
        let mirror = try SigstoreRootSigningTests.makeMirror(metadataFolder: "")
        let server = try await StaticFileServer.start(serving: mirror.url)
        // The repository's timestamp has expired by then: a freeze attack, refused.
        let updater = try Self.updater(server, now: TUFTest.date("2026-09-15T00:00:00Z"))
        let error = await tufError { _ = try await updater.refresh() }
        #expect(error?.code == .expired)
        #expect(await updater.current.origin == "embedded production root")
        #expect(await updater.lastRefreshError?.code == .expired)
    }

    @Test func aMirrorThatCannotBeReachedKeepsTheRootInForce() async throws {
        let port = FreePort.make()
        let updater = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: "http://127.0.0.1:\(port)"),
            fetcher: try TUFTest.fetcher(), now: { SigstoreRootSigningTests.now })
        let error = await tufError { _ = try await updater.refresh() }
        #expect(error?.code == .fetchFailed, "\(String(describing: error))")
        #expect(await updater.current.digest == TrustedRoot.productionJSONDigest)
    }
}
