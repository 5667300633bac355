import Foundation
import SignetCrypto
import SignetTestSupport
import SignetTUF

/// A TUF repository a test builds and signs with keys of its own (TUF specification section 4),
/// laid out for ``TUFStandardLayout`` under `metadata/` and `targets/` with consistent
/// snapshots, so each attack can be staged by publishing what an attacker would.
final class TUFTestRepository: @unchecked Sendable {
    // Used from one test at a time.
    let directory = TemporaryDirectory(prefix: "signet-tuf-repo")

    var rootKeys: [TUFTestKey]
    var rootThreshold: Int
    var timestampKey: TUFTestKey
    var snapshotKey: TUFTestKey
    var targetsKey: TUFTestKey
    var delegateKey: TUFTestKey

    var rootVersion = 0
    var timestampVersion = 0
    var snapshotVersion = 0
    var targetsVersion = 0
    var delegateVersion = 0

    var expires = "2030-01-01T00:00:00Z"
    var timestampExpires: String?
    var snapshotExpires: String?
    var targetsExpires: String?

    /// Top-level targets, and those of the delegated role `delegate` (paths `delegated/*`).
    var targets: [String: [UInt8]] = ["top.txt": Array("top-level target\n".utf8)]
    var delegatedTargets: [String: [UInt8]] = ["delegated/file.txt": Array("delegated target\n".utf8)]

    /// The last root published, as bytes (the client's bootstrap after the first).
    private(set) var rootDocuments: [Int: [UInt8]] = [:]

    var metadataDirectory: URL { directory.url.appendingPathComponent("metadata") }
    var targetsDirectory: URL { directory.url.appendingPathComponent("targets") }

    private init(rootKeys: [TUFTestKey], rootThreshold: Int, timestamp: TUFTestKey, snapshot: TUFTestKey, targets: TUFTestKey, delegate: TUFTestKey) {
        self.rootKeys = rootKeys
        self.rootThreshold = rootThreshold
        timestampKey = timestamp
        snapshotKey = snapshot
        targetsKey = targets
        delegateKey = delegate
        try! FileManager.default.createDirectory(at: directory.url.appendingPathComponent("metadata"), withIntermediateDirectories: true)
        try! FileManager.default.createDirectory(at: directory.url.appendingPathComponent("targets"), withIntermediateDirectories: true)
    }

    /// A repository with three root keys (threshold 2) of three key types, an RSA-PSS timestamp
    /// key, a P-384 snapshot key, an Ed25519 targets key and a P-256 delegated role key,
    /// published once (root 1, timestamp 1, snapshot 1, targets 1, delegate 1).
    static func make() async throws -> TUFTestRepository {
        let keys = TemporaryDirectory(prefix: "signet-tuf-keys")
        async let root1 = TUFTestKey.make(.ed25519, in: keys)
        async let root2 = TUFTestKey.make(.ecdsaP256, in: keys)
        async let root3 = TUFTestKey.make(.ecdsaP384, in: keys)
        async let timestamp = TUFTestKey.make(.rsaPSS, in: keys)
        async let snapshot = TUFTestKey.make(.ecdsaP384, in: keys)
        async let targets = TUFTestKey.make(.ed25519, in: keys)
        async let delegate = TUFTestKey.make(.ecdsaP256, in: keys)
        let repository = try await TUFTestRepository(
            rootKeys: [root1, root2, root3], rootThreshold: 2, timestamp: timestamp, snapshot: snapshot, targets: targets, delegate: delegate)
        repository.keepAlive = keys
        try await repository.publishRoot()
        try await repository.publishAll()
        return repository
    }

    private var keepAlive: TemporaryDirectory?

    func key(_ kind: TUFTestKey.Kind) async throws -> TUFTestKey {
        try await TUFTestKey.make(kind, in: keepAlive!)
    }

    // MARK: Root

    /// The `signed` object of the next root version.
    func rootSigned(version: Int) -> JSONValue {
        var keys: [String: JSONValue] = [:]
        for key in rootKeys + [timestampKey, snapshotKey, targetsKey] { keys[key.id] = key.json }
        func role(_ ids: [TUFTestKey], _ threshold: Int) -> JSONValue {
            .object(["keyids": .array(ids.map { .string($0.id) }), "threshold": .integer(Int64(threshold))])
        }
        return .object([
            "_type": .string("root"), "spec_version": .string("1.0.31"), "version": .integer(Int64(version)),
            "expires": .string(expires), "consistent_snapshot": .bool(true), "keys": .object(keys),
            "roles": .object([
                "root": role(rootKeys, rootThreshold), "timestamp": role([timestampKey], 1),
                "snapshot": role([snapshotKey], 1), "targets": role([targetsKey], 1),
            ]),
        ])
    }

    /// Publishes root version N+1 as `<N+1>.root.json`, signed by `signers` (by default every
    /// current root key and, after a rotation, every previous one too).
    @discardableResult
    func publishRoot(signedBy signers: [TUFTestKey]? = nil, signed: JSONValue? = nil) async throws -> [UInt8] {
        rootVersion += 1
        let previous = rootKeysByVersion[rootVersion - 1] ?? []
        var everyone = rootKeys
        for key in previous where !everyone.contains(where: { $0.id == key.id }) { everyone.append(key) }
        let bytes = try await JSONValue.signedDocument(signed ?? rootSigned(version: rootVersion), by: signers ?? everyone)
        rootKeysByVersion[rootVersion] = rootKeys
        rootDocuments[rootVersion] = bytes
        try write(bytes, "metadata/\(rootVersion).root.json")
        return bytes
    }

    private var rootKeysByVersion: [Int: [TUFTestKey]] = [:]

    // MARK: Targets, snapshot, timestamp

    /// Publishes new versions of every role below root.
    func publishAll() async throws {
        try await publishDelegate()
        try await publishTargets()
        try await publishSnapshot()
        try await publishTimestamp()
    }

    private func targetEntries(_ files: [String: [UInt8]]) throws -> JSONValue {
        var entries: [String: JSONValue] = [:]
        for (path, bytes) in files {
            let sha256 = DigestAlgorithm.sha256.hexHash(bytes)
            entries[path] = .object([
                "length": .integer(Int64(bytes.count)),
                "hashes": .object(["sha256": .string(sha256), "sha512": .string(DigestAlgorithm.sha512.hexHash(bytes))]),
            ])
            var segments = path.split(separator: "/").map(String.init)
            let name = segments.removeLast()
            try write(bytes, (["targets"] + segments + ["\(sha256).\(name)"]).joined(separator: "/"))
        }
        return .object(entries)
    }

    func publishDelegate(signedBy signers: [TUFTestKey]? = nil) async throws {
        delegateVersion += 1
        let signed: JSONValue = .object([
            "_type": .string("targets"), "spec_version": .string("1.0.31"), "version": .integer(Int64(delegateVersion)),
            "expires": .string(expires), "targets": try targetEntries(delegatedTargets),
        ])
        try write(try await JSONValue.signedDocument(signed, by: signers ?? [delegateKey]), "metadata/\(delegateVersion).delegate.json")
    }

    func publishTargets(version: Int? = nil) async throws {
        targetsVersion = version ?? targetsVersion + 1
        let delegations: JSONValue = .object([
            "keys": .object([delegateKey.id: delegateKey.json]),
            "roles": .array([.object([
                "name": .string("delegate"), "keyids": .array([.string(delegateKey.id)]), "threshold": .integer(1),
                "terminating": .bool(true), "paths": .array([.string("delegated/*")]),
            ])]),
        ])
        let signed: JSONValue = .object([
            "_type": .string("targets"), "spec_version": .string("1.0.31"), "version": .integer(Int64(targetsVersion)),
            "expires": .string(targetsExpires ?? expires), "targets": try targetEntries(targets), "delegations": delegations,
        ])
        try write(try await JSONValue.signedDocument(signed, by: [targetsKey]), "metadata/\(targetsVersion).targets.json")
    }

    func publishSnapshot(version: Int? = nil, targetsVersion listed: Int? = nil) async throws {
        snapshotVersion = version ?? snapshotVersion + 1
        let signed: JSONValue = .object([
            "_type": .string("snapshot"), "spec_version": .string("1.0.31"), "version": .integer(Int64(snapshotVersion)),
            "expires": .string(snapshotExpires ?? expires),
            "meta": .object([
                "targets.json": .object(["version": .integer(Int64(listed ?? targetsVersion))]),
                "delegate.json": .object(["version": .integer(Int64(delegateVersion))]),
            ]),
        ])
        try write(try await JSONValue.signedDocument(signed, by: [snapshotKey]), "metadata/\(snapshotVersion).snapshot.json")
    }

    /// Publishes `timestamp.json` naming snapshot `snapshotVersion` (or `names`) with the
    /// length and hashes of the published file.
    func publishTimestamp(version: Int? = nil, names: Int? = nil, signedBy signers: [TUFTestKey]? = nil) async throws {
        timestampVersion = version ?? timestampVersion + 1
        let snapshotNamed = names ?? snapshotVersion
        let snapshotBytes = try read("metadata/\(snapshotNamed).snapshot.json")
        let signed: JSONValue = .object([
            "_type": .string("timestamp"), "spec_version": .string("1.0.31"), "version": .integer(Int64(timestampVersion)),
            "expires": .string(timestampExpires ?? expires),
            "meta": .object(["snapshot.json": .object([
                "version": .integer(Int64(snapshotNamed)), "length": .integer(Int64(snapshotBytes.count)),
                "hashes": .object(["sha256": .string(DigestAlgorithm.sha256.hexHash(snapshotBytes))]),
            ])]),
        ])
        try write(try await JSONValue.signedDocument(signed, by: signers ?? [timestampKey]), "metadata/timestamp.json")
    }

    // MARK: Files

    func write(_ bytes: [UInt8], _ relativePath: String) throws {
        let url = directory.url.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func read(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.url.appendingPathComponent(relativePath)))
    }
}
