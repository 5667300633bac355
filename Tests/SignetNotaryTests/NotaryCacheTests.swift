import Foundation
import NIOConcurrencyHelpers
import SignetRegistry
import SignetTUF
import SignetTestSupport
import Testing

@testable import SignetNotary

/// The verified collection is reused until the configured TTL or the earliest expiry of its
/// roles, whichever comes first: a cached repository never outlives its metadata.
@Suite("Notary v1 collection cache")
struct NotaryCacheTests {
    final class MovableClock: Sendable {
        let now = NIOLockedValueBox(NotaryTest.vectorTime)
        func advance(_ seconds: TimeInterval) { now.withLockedValue { $0 = $0.addingTimeInterval(seconds) } }
        func set(_ date: Date) { now.withLockedValue { $0 = date } }
        var read: @Sendable () -> Date { { self.now.withLockedValue { $0 } } }
    }

    @Test func reusedUntilTheTTLThenFetchedAgain() async throws {
        let (server, request) = try await Self.serveVector()
        defer { server.stop() }
        let clock = MovableClock()
        let client = NotaryRepositoryClient(configuration: .init(cacheTTL: .seconds(60)), clock: clock.read)
        let first = try await client.collection(request, deadline: TestBudget.deadline())
        clock.advance(59)
        let reused = try await client.collection(request, deadline: TestBudget.deadline())
        #expect(server.requests.count == 5)
        // Each says until when it is reused, for the verdicts made from it.
        for outcome in [first, reused] {
            guard case .trusted(let collection) = outcome else {
                Issue.record("the vector did not verify")
                continue
            }
            #expect(collection.reusedUntil == NotaryTest.vectorTime.addingTimeInterval(60))
        }
        clock.advance(2)
        _ = try await client.collection(request, deadline: TestBudget.deadline())
        #expect(server.requests.count == 10)
    }

    @Test func neverUsedPastTheEarliestExpiry() async throws {
        let (server, request) = try await Self.serveVector()
        defer { server.stop() }
        let clock = MovableClock()
        // A TTL far longer than the metadata lives: the expiry must still end the reuse.
        let client = NotaryRepositoryClient(configuration: .init(cacheTTL: .seconds(500 * 365 * 86_400)), clock: clock.read)
        guard case .trusted(let collection) = try await client.collection(request, deadline: TestBudget.deadline()) else {
            Issue.record("the vector did not verify")
            return
        }
        clock.set(collection.earliestExpiry.addingTimeInterval(1))
        guard case .untrusted(let error) = try await client.collection(request, deadline: TestBudget.deadline()) else {
            Issue.record("expired metadata was served from the cache")
            return
        }
        // The vector's root certificate ends before its metadata expires: that is the earliest end.
        #expect(error.code == .certificateNotValid, "\(error)")
        #expect(server.requests.count == 10)
    }

    /// A pull secret by its identity (the namespace and secret names it was read from), holding
    /// a credential of its own.
    struct Secret: RegistryCredentialSource {
        let identity: String?
        func credential(for registry: String, repository: String?) async -> RegistryCredential? {
            RegistryCredential(username: identity ?? "", password: "pull")
        }
    }

    /// Collections are kept per credential: a second pull secret is fetched for, never
    /// served what the first one's credentials were answered; and however many credentials ask,
    /// the cache keeps at most its configured number, the one stored longest ago making room.
    @Test func keptPerCredentialAndBounded() async throws {
        let (server, request) = try await Self.serveVector()
        defer { server.stop() }
        let clock = MovableClock()
        let client = NotaryRepositoryClient(configuration: .init(cacheTTL: .seconds(600), maximumCachedCollections: 4), clock: clock.read)
        func ask(_ identity: String) async throws {
            let outcome = try await RequestCredentials.using(Secret(identity: identity)) {
                try await client.collection(request, deadline: TestBudget.deadline())
            }
            guard case .trusted = outcome else {
                Issue.record("the vector did not verify for \(identity)")
                return
            }
        }
        try await ask("team-a/pull")
        try await ask("team-a/pull")
        #expect(server.requests.count == 5, "the same identity is served from the cache")
        try await ask("team-b/pull")
        #expect(server.requests.count == 10, "a second identity does not reuse the first one's collection")
        for index in 0..<10 {
            clock.advance(1)
            try await ask("tenant-\(index)/pull")
        }
        #expect(server.requests.count == 60)
        #expect(client.cachedCollections <= 4, "\(client.cachedCollections) collections kept")
        try await ask("tenant-9/pull")
        #expect(server.requests.count == 60, "the newest entry stays")
        try await ask("team-a/pull")
        #expect(server.requests.count == 65, "the oldest entry made room")
    }

    static func serveVector() async throws -> (RegistryStubServer, NotaryRepositoryClient.Request) {
        let gun = NotaryVectorTests.gun03
        let files = try NotaryTest.files(version: "0.3", gun: gun, roles: NotaryVectorTests.roles03)
        var routes: [String: [RegistryStubServer.Response]] = [:]
        for (role, bytes) in files { routes["GET /v2/\(gun)/_trust/tuf/\(role).json"] = [.init(body: bytes)] }
        let server = try await RegistryStubServer.start(routes: routes)
        let request = NotaryRepositoryClient.Request(
            server: "http://\(server.host)", gun: gun, pinnedRootKeys: [try NotaryTest.rootKey(files["root"]!)], delegations: ["targets/releases"])
        return (server, request)
    }
}
