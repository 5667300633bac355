import Foundation
import SignetCrypto
import SignetTestSupport
import SignetTUF
import Testing

/// The client against the real Sigstore TUF repository in `Tests/Vectors/root-signing` (root
/// versions 1 to 15, timestamp 762, snapshot 165, targets 14 and the delegated
/// `registry.npmjs.org`), laid out as the public mirror serves it and served on 127.0.0.1.
/// The clock is pinned a week before the timestamp expires.
@Suite struct SigstoreRootSigningTests {
    static let now = TUFTest.date("2026-08-21T00:00:00Z")

    /// The repository as `<version>.<role>.json` (under `metadataFolder`) and hash-prefixed
    /// targets under `targets/`. The public mirror keeps metadata at its top.
    static func makeMirror(metadataFolder: String = "metadata") throws -> TemporaryDirectory {
        let mirror = TemporaryDirectory(prefix: "signet-tuf-sigstore")
        let metadata = metadataFolder.isEmpty ? mirror.url : mirror.url.appendingPathComponent(metadataFolder)
        let targets = mirror.url.appendingPathComponent("targets")
        try FileManager.default.createDirectory(at: metadata, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: targets.appendingPathComponent("registry.npmjs.org"), withIntermediateDirectories: true)
        let source = TUFTest.rootSigning.appendingPathComponent("metadata")
        for version in 1...15 {
            try FileManager.default.copyItem(
                at: source.appendingPathComponent("root_history/\(version).root.json"),
                to: metadata.appendingPathComponent("\(version).root.json"))
        }
        try FileManager.default.copyItem(at: source.appendingPathComponent("timestamp.json"), to: metadata.appendingPathComponent("timestamp.json"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("snapshot.json"), to: metadata.appendingPathComponent("165.snapshot.json"))
        try FileManager.default.copyItem(at: source.appendingPathComponent("targets.json"), to: metadata.appendingPathComponent("14.targets.json"))
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("registry.npmjs.org.json"), to: metadata.appendingPathComponent("8.registry.npmjs.org.json"))
        for path in ["trusted_root.json", "registry.npmjs.org/keys.json"] {
            let bytes = try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("targets/\(path)"))
            var segments = path.split(separator: "/").map(String.init)
            let name = segments.removeLast()
            let hashed = (segments + ["\(DigestAlgorithm.sha256.hexHash(bytes)).\(name)"]).joined(separator: "/")
            try Data(bytes).write(to: targets.appendingPathComponent(hashed))
        }
        return mirror
    }

    static var firstRoot: [UInt8] {
        get throws { try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("metadata/root_history/1.root.json")) }
    }

    @Test func followsTheRootChainFromVersionOneAndDownloadsTheTrustedRoot() async throws {
        let mirror = try Self.makeMirror()
        let server = try await StaticFileServer.start(serving: mirror.url)
        let client = try TUFTest.client(server, bootstrap: try Self.firstRoot, now: Self.now)
        let trusted = try await client.refresh()
        #expect(trusted.root.signed.header.version == 15)
        #expect(trusted.root.bytes == (try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("metadata/root.json"))))
        #expect(trusted.timestamp?.signed.header.version == 762)
        #expect(trusted.snapshot?.signed.header.version == 165)
        // Every root version was fetched, in order, and then the absent 16.
        let roots = server.requestedPaths.filter { $0.hasSuffix(".root.json") }
        #expect(roots == (2...16).map { "/metadata/\($0).root.json" })

        let target = try await client.targetInfo(for: "trusted_root.json")
        let bytes = try await client.download(target)
        #expect(DigestAlgorithm.sha256.hexHash(bytes) == "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66")

        // A target of the delegated, terminating role registry.npmjs.org.
        let npm = try await client.targetInfo(for: "registry.npmjs.org/keys.json")
        #expect(try await client.download(npm) == (try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("targets/registry.npmjs.org/keys.json"))))
        #expect(await client.trustedMetadata?.targets["registry.npmjs.org"]?.signed.header.version == 8)
    }

    @Test func refusesAnExpiredTimestamp() async throws {
        let mirror = try Self.makeMirror()
        let server = try await StaticFileServer.start(serving: mirror.url)
        // The timestamp expires at 2026-08-28T19:25:56Z; root 15 only on 2026-11-20.
        let client = try TUFTest.client(server, bootstrap: try Self.firstRoot, now: TUFTest.date("2026-09-01T00:00:00Z"))
        let error = await tufError { _ = try await client.refresh() }
        #expect(error?.code == .expired, "\(String(describing: error))")
        #expect(error?.reason.contains("timestamp version 762") == true)
    }

    @Test func refusesAnExpiredFinalRoot() async throws {
        let mirror = try Self.makeMirror()
        let server = try await StaticFileServer.start(serving: mirror.url)
        let client = try TUFTest.client(server, bootstrap: try Self.firstRoot, now: TUFTest.date("2026-12-01T00:00:00Z"))
        let error = await tufError { _ = try await client.refresh() }
        #expect(error?.code == .expired)
        #expect(error?.reason.contains("root version 15") == true, "\(String(describing: error))")
    }

    @Test func refusesATargetWhoseHashDiffers() async throws {
        let mirror = try Self.makeMirror()
        // Same length, one byte changed: the trusted_root.json an attacker would serve.
        var bytes = try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("targets/trusted_root.json"))
        let served = mirror.url.appendingPathComponent("targets/6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66.trusted_root.json")
        bytes[100] ^= 0x01
        try Data(bytes).write(to: served)
        let server = try await StaticFileServer.start(serving: mirror.url)
        let client = try TUFTest.client(server, bootstrap: try Self.firstRoot, now: Self.now)
        let target = try await client.targetInfo(for: "trusted_root.json")
        let error = await tufError { _ = try await client.download(target) }
        #expect(error?.code == .hashMismatch, "\(String(describing: error))")
        // Longer than trusted: refused at the trusted length, not read to the end.
        try Data(bytes + Array(repeating: 0x20, count: 100_000)).write(to: served)
        let longer = await tufError { _ = try await client.download(target) }
        #expect(longer?.code == .lengthMismatch, "\(String(describing: longer))")
    }

    @Test func refusesARootSignedBelowThreshold() async throws {
        let mirror = try Self.makeMirror()
        // Root 2 keeps only two of its five signatures (root 1 requires three).
        let path = mirror.url.appendingPathComponent("metadata/2.root.json")
        var document = try JSONParser().parse(try TUFTest.bytes(path)).objectValue!
        document["signatures"] = .array(Array(document["signatures"]!.arrayValue!.prefix(2)))
        try Data(JSONValue.object(document).jsonBytes).write(to: path)
        let server = try await StaticFileServer.start(serving: mirror.url)
        let client = try TUFTest.client(server, bootstrap: try Self.firstRoot, now: Self.now)
        let error = await tufError { _ = try await client.refresh() }
        #expect(error?.code == .thresholdNotMet, "\(String(describing: error))")
        #expect(error?.reason.contains("root version 1") == true)
    }

    @Test func refusesAnOlderRealTimestamp() async throws {
        // tuf-conformance's copy of the same repository is older (timestamp 272, signed by the
        // same online key): once 762 is trusted, serving 272 is a rollback.
        let mirror = try Self.makeMirror()
        let server = try await StaticFileServer.start(serving: mirror.url)
        let store = TUFMemoryStore()
        let client = try TUFTest.client(server, bootstrap: try Self.firstRoot, now: Self.now, store: store)
        try await client.refresh()
        let older = TUFTest.conformanceData.appendingPathComponent("sigstore-root-signing/metadata/timestamp.json")
        try Data(try TUFTest.bytes(older)).write(to: mirror.url.appendingPathComponent("metadata/timestamp.json"))
        let error = await tufError { _ = try await client.refresh() }
        #expect(error?.code == .rollback, "\(String(describing: error))")
        #expect(error?.reason.contains("272") == true)
        // The last good timestamp stays on disk.
        let stored = try #require(try await store.read("timestamp.json"))
        #expect(stored == (try TUFTest.bytes(TUFTest.rootSigning.appendingPathComponent("metadata/timestamp.json"))))
    }
}
