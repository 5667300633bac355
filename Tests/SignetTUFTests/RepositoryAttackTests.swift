import Foundation
import SignetCrypto
import SignetTestSupport
import SignetTUF
import Testing

/// Attacks of the TUF specification (section 1.5.2, "Goals to protect against specific
/// attacks") staged on a repository the test signs with keys of its own (Ed25519, ECDSA P-256
/// and P-384, RSA-PSS), each refused by the client workflow of section 5.
@Suite struct RepositoryAttackTests {
    static let now = TUFTest.date("2025-01-01T00:00:00Z")

    struct Fixture {
        let repository: TUFTestRepository
        let server: StaticFileServer
        let store = TUFMemoryStore()

        static func make() async throws -> Fixture {
            let repository = try await TUFTestRepository.make()
            return Fixture(repository: repository, server: try await StaticFileServer.start(serving: repository.directory.url))
        }

        func client(now: Date = RepositoryAttackTests.now, configure: (inout TUFClientConfiguration) -> Void = { _ in }) throws -> TUFClient {
            try TUFTest.client(server, bootstrap: repository.rootDocuments[1]!, now: now, store: store, configure: configure)
        }
    }

    @Test func everyKeyTypeAndAFlatDelegation() async throws {
        let fixture = try await Fixture.make()
        let client = try fixture.client()
        try await client.refresh()
        let top = try await client.targetInfo(for: "top.txt")
        #expect(try await client.download(top) == fixture.repository.targets["top.txt"])
        let delegated = try await client.targetInfo(for: "delegated/file.txt")
        #expect(try await client.download(delegated) == fixture.repository.delegatedTargets["delegated/file.txt"])
        // A path no role lists, and one the terminating delegation covers but does not list.
        for path in ["missing.txt", "delegated/missing.txt"] {
            let error = await tufError { _ = try await client.targetInfo(for: path) }
            #expect(error?.code == .targetNotFound, "\(path)")
        }
    }

    @Test func rotatesRootAndDropsMetadataOfRotatedKeys() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        try await fixture.client().refresh()
        #expect(try await fixture.store.read("timestamp.json") != nil)
        // Root 2 replaces a root key and the timestamp key, signed by old and new root keys.
        repository.rootKeys[2] = try await repository.key(.ed25519)
        repository.timestampKey = try await repository.key(.ecdsaP256)
        try await repository.publishRoot()
        try await repository.publishTimestamp()
        let trusted = try await fixture.client().refresh()
        #expect(trusted.root.signed.header.version == 2)
        #expect(trusted.timestamp?.signed.header.version == 2)
        // The stored timestamp is the one signed by the new key.
        let stored = try #require(try await fixture.store.read("timestamp.json"))
        #expect(stored == (try repository.read("metadata/timestamp.json")))
        #expect(try await fixture.store.read("root.json") == repository.rootDocuments[2])
    }

    @Test func refusesARootSignedBelowTheOldThreshold() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        let old = repository.rootKeys
        repository.rootKeys = [old[0], try await repository.key(.ed25519), try await repository.key(.ecdsaP256)]
        // Signed by all new keys but only one old key: the old root requires two.
        try await repository.publishRoot(signedBy: repository.rootKeys)
        let error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .thresholdNotMet, "\(String(describing: error))")
        #expect(error?.reason.contains("root version 1") == true)
    }

    @Test func refusesARootNotSignedByItsOwnThreshold() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        let old = repository.rootKeys
        repository.rootKeys = [try await repository.key(.ed25519), try await repository.key(.ecdsaP256), old[2]]
        // Signed by the old keys only: a threshold of the old root, one key of the new.
        try await repository.publishRoot(signedBy: old)
        let error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .thresholdNotMet, "\(String(describing: error))")
        #expect(error?.reason.contains("root version 2 itself") == true)
    }

    /// Each signature is checked over the whole canonical document, which a repository can make
    /// megabytes long: a document of more than 32 signatures is refused before any is checked,
    /// and a key ID's first signature is its only one, so 31 bogus signatures by one key cost one
    /// check, not 31.
    @Test func boundsTheSignaturesChecked() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        let signed = repository.rootSigned(version: 2)
        let message = try OLPCCanonicalJSON().encode(signed)
        let first = (repository.rootKeys[0].id, Hex.encode(try await repository.rootKeys[0].sign(message)))
        let second = (repository.rootKeys[1].id, Hex.encode(try await repository.rootKeys[1].sign(message)))
        let bogus = (repository.rootKeys[2].id, String(repeating: "00", count: 64))
        func publish(_ signatures: [(String, String)]) throws {
            let list = signatures.map { JSONValue.object(["keyid": .string($0.0), "sig": .string($0.1)]) }
            try repository.write(JSONValue.object(["signed": signed, "signatures": .array(list)]).jsonBytes, "metadata/2.root.json")
        }

        try publish(Array(repeating: bogus, count: 31) + [first, second])
        let tooMany = await tufError { _ = try await fixture.client().refresh() }
        #expect(tooMany?.reason.contains("carries 33 signatures, more than the 32 signet checks") == true, "\(String(describing: tooMany))")

        // The first signature of root key 0 is bogus: its valid second one is not tried.
        try publish([(first.0, bogus.1), first, second])
        let secondTry = await tufError { _ = try await fixture.client().refresh() }
        #expect(secondTry?.code == .thresholdNotMet, "\(String(describing: secondTry))")

        // At the bound, with the bogus ones all by one key: two valid keys meet the threshold.
        try publish(Array(repeating: bogus, count: 30) + [first, second])
        let atBound = await tufError { _ = try await fixture.client().refresh() }
        #expect(atBound == nil, "\(String(describing: atBound))")
    }

    @Test func refusesOneKeyCountedTwice() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        // Root 2 lists root key 0 under a second ID with threshold 2, signed by it twice
        // (and by the old root's threshold): one key must not meet a threshold of two.
        let key = repository.rootKeys[0]
        var signed = repository.rootSigned(version: 2).objectValue!
        var keys = signed["keys"]!.objectValue!
        keys["alias"] = key.json
        signed["keys"] = .object(keys)
        var roles = signed["roles"]!.objectValue!
        roles["root"] = .object(["keyids": .array([.string(key.id), .string("alias")]), "threshold": .integer(2)])
        signed["roles"] = .object(roles)
        let message = try OLPCCanonicalJSON().encode(.object(signed))
        let signature = Hex.encode(try await key.sign(message))
        let other = Hex.encode(try await repository.rootKeys[1].sign(message))
        let document: JSONValue = .object(["signed": .object(signed), "signatures": .array([
            .object(["keyid": .string(key.id), "sig": .string(signature)]),
            .object(["keyid": .string("alias"), "sig": .string(signature)]),
            .object(["keyid": .string(repository.rootKeys[1].id), "sig": .string(other)]),
        ])])
        try repository.write(document.jsonBytes, "metadata/2.root.json")
        let error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .thresholdNotMet, "\(String(describing: error))")
        #expect(error?.reason.contains("1 valid signature") == true)
    }

    @Test func refusesAnExpiredTimestampAndAnExpiredSnapshotAndTargets() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        repository.timestampExpires = "2024-12-31T23:59:59Z"
        try await repository.publishTimestamp()
        var error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .expired && error?.reason.hasPrefix("timestamp") == true, "\(String(describing: error))")

        repository.timestampExpires = nil
        repository.snapshotExpires = "2024-06-01T00:00:00Z"
        try await repository.publishSnapshot()
        try await repository.publishTimestamp()
        error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .expired && error?.reason.hasPrefix("snapshot") == true, "\(String(describing: error))")

        repository.snapshotExpires = nil
        repository.targetsExpires = "2024-06-01T00:00:00Z"
        try await repository.publishTargets()
        try await repository.publishSnapshot()
        try await repository.publishTimestamp()
        error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .expired && error?.reason.hasPrefix("targets") == true, "\(String(describing: error))")
    }

    @Test func refusesRolledBackTimestampSnapshotAndTargets() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        try await repository.publishAll()  // timestamp 2, snapshot 2, targets 2
        try await fixture.client().refresh()
        let goodTimestamp = try repository.read("metadata/timestamp.json")

        // A timestamp older than the trusted one.
        try await repository.publishTimestamp(version: 1, names: 2)
        var error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .rollback && error?.reason.hasPrefix("timestamp version 1") == true, "\(String(describing: error))")

        // A newer timestamp naming an older snapshot.
        try await repository.publishTimestamp(version: 3, names: 1)
        error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .rollback && error?.reason.contains("names snapshot version 1") == true, "\(String(describing: error))")

        // A newer snapshot that lists an older targets.json.
        try repository.write(goodTimestamp, "metadata/timestamp.json")
        try await repository.publishSnapshot(version: 3, targetsVersion: 1)
        try await repository.publishTimestamp(version: 4)
        error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .rollback && error?.reason.contains("targets.json version 1") == true, "\(String(describing: error))")
    }

    @Test func refusesMixAndMatch() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        try await fixture.client().refresh()
        // A snapshot re-signed with the same version after the timestamp vouched for the old
        // one: its hash differs from the timestamp's.
        let timestamp = try repository.read("metadata/timestamp.json")
        try await repository.publishSnapshot(version: 1, targetsVersion: 1)
        try await repository.publishTimestamp(version: 2, names: 1)
        try repository.write(timestamp, "metadata/timestamp.json")
        let store = TUFMemoryStore()
        let client = try TUFTest.client(fixture.server, bootstrap: repository.rootDocuments[1]!, now: Self.now, store: store)
        // The first timestamp names snapshot 1 with the first file's hash and length.
        let error = await tufError { _ = try await client.refresh() }
        #expect(error?.code == .hashMismatch || error?.code == .lengthMismatch, "\(String(describing: error))")

        // A targets.json whose version differs from what the snapshot lists.
        try await repository.publishTargets(version: 5)
        try FileManager.default.copyItem(
            at: repository.metadataDirectory.appendingPathComponent("5.targets.json"),
            to: repository.metadataDirectory.appendingPathComponent("6.targets.json"))
        try await repository.publishSnapshot(version: 2, targetsVersion: 6)
        try await repository.publishTimestamp(version: 3)
        let versionError = await tufError { _ = try await fixture.client().refresh() }
        #expect(versionError?.code == .badVersion, "\(String(describing: versionError))")
    }

    @Test func refusesTargetsThatDifferFromTheirMetadata() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        let client = try fixture.client()
        let target = try await client.targetInfo(for: "delegated/file.txt")
        let path = "targets/delegated/\(target.hashes["sha256"]!).file.txt"
        var bytes = try repository.read(path)
        bytes[0] ^= 0x20
        try repository.write(bytes, path)
        let error = await tufError { _ = try await client.download(target) }
        #expect(error?.code == .hashMismatch, "\(String(describing: error))")
    }

    @Test func refusesADelegatedRoleSignedByAnotherKey() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        repository.delegatedTargets["delegated/evil.txt"] = Array("evil\n".utf8)
        try await repository.publishDelegate(signedBy: [repository.targetsKey])
        try await repository.publishTargets()
        try await repository.publishSnapshot()
        try await repository.publishTimestamp()
        let client = try fixture.client()
        try await client.refresh()
        let error = await tufError { _ = try await client.targetInfo(for: "delegated/evil.txt") }
        #expect(error?.code == .thresholdNotMet && error?.reason.contains("its delegation in targets") == true, "\(String(describing: error))")
    }

    @Test func boundsMetadataWithoutATrustedLength() async throws {
        let fixture = try await Fixture.make()
        let repository = fixture.repository
        try repository.write(Array(repeating: 0x20, count: 40_000) + repository.read("metadata/timestamp.json"), "metadata/timestamp.json")
        let error = await tufError { _ = try await fixture.client().refresh() }
        #expect(error?.code == .lengthMismatch, "\(String(describing: error))")
    }

    @Test func keepsTheLastGoodMetadataOnDisk() async throws {
        let fixture = try await Fixture.make()
        let cache = TemporaryDirectory(prefix: "signet-tuf-cache")
        let store = try TUFDirectoryStore(directory: cache.url)
        let client = try TUFTest.client(fixture.server, bootstrap: fixture.repository.rootDocuments[1]!, now: Self.now, store: store)
        try await client.refresh()
        _ = try await client.download(client.targetInfo(for: "delegated/file.txt"))
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: cache.path))
        #expect(files.isSuperset(of: ["root.json", "timestamp.json", "snapshot.json", "targets.json", "delegate.json", "targets"]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.file("targets").path) == ["delegated%2Ffile.txt"])
    }
}
