import Foundation
import SignetNotary
import SignetTUF
import SignetTestSupport
import Synchronization
import Testing

/// The verified collection is reused until the configured TTL or the earliest expiry of its
/// roles, whichever comes first: a cached repository never outlives its metadata.
@Suite("Notary v1 collection cache")
struct NotaryCacheTests {
    final class MovableClock: Sendable {
        let now = Mutex(NotaryTest.vectorTime)
        func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
        func set(_ date: Date) { now.withLock { $0 = date } }
        var read: @Sendable () -> Date { { self.now.withLock { $0 } } }
    }

    @Test func reusedUntilTheTTLThenFetchedAgain() async throws {
        let (server, request) = try await Self.serveVector()
        defer { server.stop() }
        let clock = MovableClock()
        let client = NotaryRepositoryClient(configuration: .init(cacheTTL: .seconds(60)), clock: clock.read)
        _ = try await client.collection(request, deadline: TestBudget.deadline())
        clock.advance(59)
        _ = try await client.collection(request, deadline: TestBudget.deadline())
        #expect(server.requests.count == 5)
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
        #expect(error.code == .expired)
        #expect(server.requests.count == 10)
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
