import Foundation
import SignetCrypto
import SignetNotary
import SignetTUF
import SignetTestSupport
import Testing

/// signet asks for every role of a repository at once under its plain name; a publish that
/// lands between those requests must not make the repository untrusted (or skip a delegated
/// role for a whole cache TTL). A file that is not the one the role above it lists is fetched
/// again by that checksum (`<role>.<sha256>.json`, as Notary's server keeps every version), so
/// the collection verified is the one moment the timestamp names, whichever way the publish cut.
@Suite("Notary v1 metadata fetched across a publish")
struct NotaryPublishRaceTests {
    static let gun = "registry.example/team/app"
    static let delegation = "targets/releases"

    /// Two publishes of one repository (same root): `v1` signed first, then `v2`.
    struct Publishes {
        var first: [String: [UInt8]]
        var second: [String: [UInt8]]
    }

    static func publishes(_ repository: NotaryTestRepository) async throws -> Publishes {
        let root = try await repository.rootFile(version: 1, rootKeys: [repository], signers: [repository])
        func publish(_ tag: String) async throws -> [String: [UInt8]] {
            try await repository.files(
                tag: tag, delegations: [delegation], root: root, published: [delegation: "2100-01-01T00:00:00Z"])
        }
        return Publishes(first: try await publish("v1"), second: try await publish("v2"))
    }

    /// Plain names answered from `plain` (role to the publish it comes from), and every file of
    /// both publishes under its checksum name.
    static func serve(_ publishes: Publishes, plain: [String: [String: [UInt8]]]) async throws -> RegistryStubServer {
        var routes: [String: [RegistryStubServer.Response]] = [:]
        let base = "GET /v2/\(gun)/_trust/tuf/"
        for (role, publish) in plain { routes[base + role + ".json"] = [.init(body: publish[role]!)] }
        for publish in [publishes.first, publishes.second] {
            for (role, bytes) in publish { routes[base + role + "." + DigestAlgorithm.sha256.hexHash(bytes) + ".json"] = [.init(body: bytes)] }
        }
        return try await RegistryStubServer.start(routes: routes)
    }

    @Test(
        "a publish between the fetches is read at the moment the timestamp names",
        arguments: [
            // The timestamp came before the publish, the rest after it: v1's snapshot and targets by checksum.
            (timestampOf: 1, snapshotOf: 2, targetsOf: 2, delegationOf: 1, expected: "v1", refetched: ["snapshot", "targets"]),
            // The timestamp came after it, the rest before it: v2's snapshot, targets and delegation by checksum.
            (timestampOf: 2, snapshotOf: 1, targetsOf: 1, delegationOf: 1, expected: "v2", refetched: ["snapshot", "targets", delegation]),
            // Only the delegated role came after it: the one moment's role by checksum, not skipped.
            (timestampOf: 1, snapshotOf: 1, targetsOf: 1, delegationOf: 2, expected: "v1", refetched: [delegation]),
        ])
    func aPublishBetweenTheFetches(
        _ cut: (timestampOf: Int, snapshotOf: Int, targetsOf: Int, delegationOf: Int, expected: String, refetched: [String])
    ) async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let publishes = try await Self.publishes(repository)
        func of(_ number: Int) -> [String: [UInt8]] { number == 1 ? publishes.first : publishes.second }
        let server = try await Self.serve(publishes, plain: [
            "root": publishes.first, "timestamp": of(cut.timestampOf), "snapshot": of(cut.snapshotOf),
            "targets": of(cut.targetsOf), Self.delegation: of(cut.delegationOf),
        ])
        defer { server.stop() }
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let client = NotaryRepositoryClient(clock: { at })
        let request = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: Self.gun, pinnedRootKeys: [try repository.certificate.publicKey()],
            delegations: [Self.delegation])
        guard case .trusted(let collection) = try await client.collection(request, deadline: TestBudget.deadline()) else {
            Issue.record("a publish between the fetches made the repository untrusted")
            return
        }
        #expect(collection.untrustedRoles.isEmpty, "\(collection.untrustedRoles)")
        for role in ["targets", Self.delegation] {
            #expect(collection.roles[role]?.targets.keys.sorted() == [cut.expected], "\(role): \(String(describing: collection.roles[role]?.targets.keys))")
        }
        let byChecksum = server.requests.filter { $0.range(of: #"\.[0-9a-f]{64}\.json$"#, options: .regularExpression) != nil }
        #expect(byChecksum.count == cut.refetched.count, "\(server.requests)")
        for role in cut.refetched {
            #expect(byChecksum.contains { $0.contains("/_trust/tuf/\(role).") }, "\(role) was not fetched by checksum: \(server.requests)")
        }
        #expect(client.metadataRequests == 5 + cut.refetched.count)
    }

    /// A consistent repository costs one request per role, none by checksum; a server whose
    /// checksum names answer other bytes is refused as before (the files are verified as any other).
    @Test("nothing is fetched again when nothing moved, and a checksum name is no way around the hashes")
    func nothingMovedOrTheServerLies() async throws {
        let repository = try await NotaryTestRepository.make(gun: Self.gun, kind: .ecdsa, days: 1)
        let publishes = try await Self.publishes(repository)
        let at = repository.certificate.notValidBefore.addingTimeInterval(3600)
        let request = { (server: RegistryStubServer) in
            NotaryRepositoryClient.Request(
                server: "http://\(server.host)", gun: Self.gun, pinnedRootKeys: [try repository.certificate.publicKey()],
                delegations: [Self.delegation])
        }
        let consistent = try await Self.serve(publishes, plain: Dictionary(uniqueKeysWithValues: publishes.first.keys.map { ($0, publishes.first) }))
        defer { consistent.stop() }
        let client = NotaryRepositoryClient(clock: { at })
        guard case .trusted = try await client.collection(try request(consistent), deadline: TestBudget.deadline()) else {
            Issue.record("a consistent repository was not trusted")
            return
        }
        #expect(consistent.requests.count == 5 && client.metadataRequests == 5, "\(consistent.requests)")

        // The snapshot's checksum name answers the other publish's snapshot.
        var routes: [String: [RegistryStubServer.Response]] = [:]
        let base = "GET /v2/\(Self.gun)/_trust/tuf/"
        for (role, bytes) in publishes.first { routes[base + role + ".json"] = [.init(body: role == "snapshot" ? publishes.second[role]! : bytes)] }
        routes[base + "snapshot." + DigestAlgorithm.sha256.hexHash(publishes.first["snapshot"]!) + ".json"] = [.init(body: publishes.second["snapshot"]!)]
        let lying = try await RegistryStubServer.start(routes: routes)
        defer { lying.stop() }
        guard case .untrusted(let error) = try await NotaryRepositoryClient(clock: { at }).collection(try request(lying), deadline: TestBudget.deadline()) else {
            Issue.record("a snapshot the timestamp does not list was trusted")
            return
        }
        #expect(error.code == .hashMismatch, "\(error)")

        // A server (or a proxy) that refuses checksum names: the files are judged as fetched,
        // a hash mismatch as before, not an error that asks again at every admission.
        routes[base + "snapshot." + DigestAlgorithm.sha256.hexHash(publishes.first["snapshot"]!) + ".json"] = [.init(status: 500)]
        let refusing = try await RegistryStubServer.start(routes: routes)
        defer { refusing.stop() }
        guard case .untrusted(let refused) = try await NotaryRepositoryClient(clock: { at }).collection(try request(refusing), deadline: TestBudget.deadline())
        else {
            Issue.record("a snapshot the timestamp does not list was trusted")
            return
        }
        #expect(refused.code == .hashMismatch, "\(refused)")
    }
}
