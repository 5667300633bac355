import Foundation
import SignetTestSupport
import SignetTUF
import Testing

/// The client against the two real repositories of tuf-conformance's static data (a copy of
/// the Sigstore production repository and a tuf-on-ci repository with a delegated role),
/// served over HTTP on 127.0.0.1, at the time each folder's `faketime` pins.
@Suite struct ConformanceRepositoryTests {
    @Test(arguments: ["sigstore-root-signing", "tuf-on-ci-0.11"])
    func refreshesAndDownloadsTheTarget(_ name: String) async throws {
        let source = TUFTest.conformanceData.appendingPathComponent(name)
        let now = TUFTest.date(try String(contentsOf: source.appendingPathComponent("faketime"), encoding: .utf8))
        let targetPath = try String(contentsOf: source.appendingPathComponent("targetpath"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try await StaticFileServer.start(serving: source)
        let cache = TemporaryDirectory(prefix: "signet-tuf-cache")
        let store = try TUFDirectoryStore(directory: cache.url)
        let bootstrap = try TUFTest.bytes(source.appendingPathComponent("initial_root.json"))

        let client = try TUFTest.client(server, bootstrap: bootstrap, now: now, store: store)
        let trusted = try await client.refresh()
        let target = try await client.targetInfo(for: targetPath)
        let bytes = try await client.download(target)
        #expect(bytes.count == target.length)

        // The file served under its hash-prefixed name (consistent snapshots) is the one downloaded.
        var segments = targetPath.split(separator: "/").map(String.init)
        let file = segments.removeLast()
        let served = source.appendingPathComponent("targets").appendingPathComponent(
            (segments + ["\(target.hashes["sha256"]!).\(file)"]).joined(separator: "/"))
        #expect(bytes == (try TUFTest.bytes(served)))

        // The last good metadata is on disk: a second client starts from the stored root.
        let storedRoot = try #require(try await store.read("root.json"))
        #expect(storedRoot == trusted.root.bytes)
        let again = try TUFTest.client(server, bootstrap: bootstrap, now: now, store: store)
        let before = server.requestedPaths.count
        let second = try await again.refresh()
        #expect(second.root.signed.header.version == trusted.root.signed.header.version)
        // Only the next root (absent) and the timestamp are fetched; snapshot and targets come from disk.
        let fetched = server.requestedPaths.dropFirst(before)
        #expect(fetched.allSatisfy { $0.hasSuffix(".root.json") || $0.hasSuffix("timestamp.json") }, "\(Array(fetched))")
        #expect(try await again.download(again.targetInfo(for: targetPath)) == bytes)
    }
}
