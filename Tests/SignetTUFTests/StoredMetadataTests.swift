import Foundation
import SignetCrypto
import SignetSigstore
import SignetTestSupport
import SignetTrustRoot
import SignetTUF
import Testing

/// The last good metadata kept on disk across a restart (TUF specification section 5.2, the
/// client's trusted storage): verified again when it is loaded, the root only through the chain
/// from the bootstrap root, and never a floor that goes down.
@Suite struct StoredMetadataTests {
    @Test func aRestartPutsTheStoredRootInForceBeforeTheMirrorIsReached() async throws {
        let mirror = try SigstoreRootSigningTests.makeMirror(metadataFolder: "")
        let server = try await StaticFileServer.start(serving: mirror.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-restart")
        let clock = SettableClock(SigstoreRootSigningTests.now)
        let first = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: server.baseURL, cacheDirectory: cache.path),
            fetcher: try TUFTest.fetcher(), now: clock.closure)
        let adopted = try await first.refresh()

        // After the restart no file is served any more: the stored metadata alone vouches.
        try FileManager.default.removeItem(at: mirror.url)
        let requests = server.requestedPaths.count
        let restarted = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: server.baseURL, cacheDirectory: cache.path),
            fetcher: try TUFTest.fetcher(), now: clock.closure)
        let loaded = try await restarted.loadStored()
        #expect(loaded.digest == adopted.digest)
        #expect(loaded.origin == "TUF \(server.baseURL) (targets version 14)")
        #expect(await restarted.current.digest == adopted.digest)
        #expect(restarted.freshness.current.validUntil?.expires == FreezeProtectionTests.timestampExpiry)
        #expect(server.requestedPaths.count == requests, "loading the stored metadata asks the mirror nothing")

        // Stored metadata that has expired is not used: the embedded root stays in force.
        clock.set(FreezeProtectionTests.timestampExpiry)
        let late = try SigstoreTrustedRootUpdater(
            configuration: TrustedRootUpdaterConfiguration(mirrorURL: server.baseURL, cacheDirectory: cache.path),
            fetcher: try TUFTest.fetcher(), now: clock.closure)
        let error = await tufError { _ = try await late.loadStored() }
        #expect(error?.code == .expired, "\(String(describing: error))")
        #expect(await late.current.digest == TrustedRoot.productionJSONDigest)
        #expect(late.freshness.current.validUntil == nil)
    }

    @Test func storedMetadataThatDoesNotVerifyIsNotLoaded() async throws {
        let mirror = try SigstoreRootSigningTests.makeMirror(metadataFolder: "")
        let server = try await StaticFileServer.start(serving: mirror.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-tampered")
        let configuration = TrustedRootUpdaterConfiguration(mirrorURL: server.baseURL, cacheDirectory: cache.path)
        let now = SigstoreRootSigningTests.now
        try await SigstoreTrustedRootUpdater(configuration: configuration, fetcher: try TUFTest.fetcher(), now: { now }).refresh()
        // A snapshot changed on disk no longer has the hash the stored timestamp gives.
        var snapshot = try TUFTest.bytes(cache.file("snapshot.json"))
        snapshot[snapshot.count / 2] ^= 0x01
        try Data(snapshot).write(to: cache.file("snapshot.json"))
        let restarted = try SigstoreTrustedRootUpdater(configuration: configuration, fetcher: try TUFTest.fetcher(), now: { now })
        let error = await tufError { _ = try await restarted.loadStored() }
        // Refused by the timestamp's hash, or by the snapshot key's signature where the timestamp gives none.
        let refusals: [TUFError.Code] = [.hashMismatch, .lengthMismatch, .thresholdNotMet, .malformedJSON, .malformedMetadata]
        #expect(error.map { refusals.contains($0.code) } == true, "\(String(describing: error))")
        #expect(await restarted.current.origin == "embedded production root")
    }

    /// A root placed in the store that the bootstrap root's keys never signed (an attacker who
    /// could write the cache, or a cache of another repository) is not trusted at the restart.
    @Test func aStoredRootIsTrustedOnlyThroughTheChainFromTheBootstrapRoot() async throws {
        let repository = try await TUFTestRepository.make()
        let server = try await StaticFileServer.start(serving: repository.directory.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-chain")
        let store = try TUFDirectoryStore(directory: cache.url)
        let bootstrap = repository.rootDocuments[1]!
        try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh()

        let attacker = try await TUFTestRepository.make()
        let forged = try await attacker.publishRoot()
        #expect(attacker.rootVersion == 2)
        try await store.write("root.json", forged)
        try await store.write("2.root.json", forged)
        let restarted = try TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store)
        let trusted = try await restarted.refresh()
        #expect(trusted.root.signed.header.version == 1, "the forged root 2 is not signed by root 1's keys")
        #expect(try await store.read("root.json") == bootstrap)
    }

    /// The stored root versions are walked from the bootstrap root: a restarted client asks the
    /// repository only for the version after the last stored one.
    @Test func aRestartFollowsTheStoredRootChain() async throws {
        let repository = try await TUFTestRepository.make()
        let server = try await StaticFileServer.start(serving: repository.directory.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-stored-chain")
        let store = try TUFDirectoryStore(directory: cache.url)
        let bootstrap = repository.rootDocuments[1]!
        repository.rootKeys[0] = try await repository.key(.ecdsaP256)
        try await repository.publishRoot()
        try await repository.publishRoot()
        let first = try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh()
        #expect(first.root.signed.header.version == 3)
        let before = server.requestedPaths.count
        let second = try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh()
        #expect(second.root.signed.header.version == 3)
        let roots = server.requestedPaths.dropFirst(before).filter { $0.hasSuffix(".root.json") }
        #expect(Array(roots) == ["/metadata/4.root.json"])
    }

    /// A refresh cut off half-way (the new timestamp and snapshot fetched, the targets not)
    /// leaves the store as the last complete refresh left it, so a restart during the outage
    /// still loads it; a new timestamp stored beside the old snapshot and targets no longer
    /// verified together, and nothing was put in force.
    @Test func aRefreshCutOffHalfWayLeavesTheLastCompleteMetadataStored() async throws {
        let repository = try await TUFTestRepository.make()
        let server = try await StaticFileServer.start(serving: repository.directory.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-half-way")
        let store = try TUFDirectoryStore(directory: cache.url)
        let bootstrap = repository.rootDocuments[1]!
        let first = try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh()

        try await repository.publishTargets()
        try await repository.publishSnapshot()
        try await repository.publishTimestamp()
        try FileManager.default.removeItem(at: repository.metadataDirectory.appendingPathComponent("\(repository.targetsVersion).targets.json"))
        let error = await tufError { _ = try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh() }
        #expect(error?.code == .notFound, "\(String(describing: error))")

        let restarted = try TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store)
        let loaded = try await restarted.loadStored()
        #expect(loaded.timestamp?.signed.header.version == first.timestamp?.signed.header.version)
        #expect(loaded.targets["targets"]?.signed.header.version == first.targets["targets"]?.signed.header.version)
    }

    /// A refresh whose target cannot be downloaded (the connection dropped after the metadata)
    /// stores neither: the store keeps the last metadata and the target that matches it, so a
    /// restart during the outage still puts that target in force.
    @Test func aTargetThatCannotBeDownloadedLeavesTheStoreAsItWas() async throws {
        let repository = try await TUFTestRepository.make()
        let server = try await StaticFileServer.start(serving: repository.directory.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-prefetch")
        let store = try TUFDirectoryStore(directory: cache.url)
        let bootstrap = repository.rootDocuments[1]!
        let first = try TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store)
        try await first.refresh(prefetching: ["top.txt"])
        let old = try await first.download(try await first.targetInfo(for: "top.txt"))

        repository.targets["top.txt"] = Array("a new top-level target\n".utf8)
        try await repository.publishTargets()
        try await repository.publishSnapshot()
        try await repository.publishTimestamp()
        let newName = "\(DigestAlgorithm.sha256.hexHash(repository.targets["top.txt"]!)).top.txt"
        try FileManager.default.removeItem(at: repository.targetsDirectory.appendingPathComponent(newName))
        let error = await tufError {
            _ = try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh(prefetching: ["top.txt"])
        }
        // (The file server answers its 404 page, longer than the target.)
        #expect(error?.code == .lengthMismatch || error?.code == .notFound, "\(String(describing: error))")

        let restarted = try TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store)
        try await restarted.loadStored()
        let stored = try await restarted.storedTarget(try await restarted.targetInfo(for: "top.txt"))
        #expect(stored == old)
    }

    /// Versions never go back across a restart: the stored timestamp is the floor the
    /// repository's must not go below (section 5.4.3).
    @Test func aRestartedClientRefusesAnOlderTimestamp() async throws {
        let repository = try await TUFTestRepository.make()
        let server = try await StaticFileServer.start(serving: repository.directory.url)
        let cache = TemporaryDirectory(prefix: "signet-tuf-floor")
        let store = try TUFDirectoryStore(directory: cache.url)
        let bootstrap = repository.rootDocuments[1]!
        let old = try repository.read("metadata/timestamp.json")
        try await repository.publishTimestamp()
        try await TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store).refresh()
        try repository.write(old, "metadata/timestamp.json")
        let restarted = try TUFTest.client(server, bootstrap: bootstrap, now: RepositoryAttackTests.now, store: store)
        let error = await tufError { _ = try await restarted.refresh() }
        #expect(error?.code == .rollback, "\(String(describing: error))")
    }
}
