import Foundation
import NIOConcurrencyHelpers
import SignetKube
import SignetTestSupport
import Testing

/// Leader election over a `coordination.k8s.io/v1` Lease against the API double (its 409s on
/// `POST` of a taken name and on a `PUT` at a stale resourceVersion are what keep two replicas
/// from both taking the Lease): one replica leads, the other takes over only once the lease has
/// expired on its own clock, and never do both lead. Every call is one the chart's RBAC grants.
@Suite("Leader election", .serialized)
struct LeaderElectionTests {
    static let start = Date(timeIntervalSince1970: 1_796_126_400)  // 2026-12-01T12:00:00Z
    static let namespace = "signet-system"
    static let lease = "signet-continuous-verification"

    /// A clock the test moves: the wall clock and the steady clock together, or the wall clock
    /// alone (an NTP step).
    final class TestClock: Sendable {
        private let time = NIOLockedValueBox((wall: LeaderElectionTests.start, steady: Duration.seconds(1000)))
        func advance(_ seconds: TimeInterval) {
            time.withLockedValue {
                $0.wall = $0.wall.addingTimeInterval(seconds)
                $0.steady += .milliseconds(Int(seconds * 1000))
            }
        }
        func stepWallClock(_ seconds: TimeInterval) { time.withLockedValue { $0.wall = $0.wall.addingTimeInterval(seconds) } }
        var now: Date { time.withLockedValue { $0.wall } }
        var steady: Duration { time.withLockedValue { $0.steady } }
    }

    static func server() async throws -> KubernetesAPIServerDouble {
        let server = try await KubernetesAPIServerDouble.start()
        if ChartRBAC.helm != nil {
            try server.restrict(to: try ChartRBAC.serviceAccountRules(values: ["continuousVerification.enabled=true"]))
        }
        return server
    }

    static func elector(
        _ identity: String, _ server: KubernetesAPIServerDouble, clock: TestClock? = nil, fast: Bool = false, requestTimeout: Duration? = nil,
        renewDeadline: Duration = .seconds(2)
    ) throws -> LeaderElector {
        var clientConfiguration = KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)
        if let requestTimeout { clientConfiguration.requestTimeout = requestTimeout }
        let client = try KubernetesClient(configuration: clientConfiguration)
        var configuration = LeaderElectionConfiguration(leaseName: lease, namespace: namespace, identity: identity)
        if fast {
            configuration.leaseDuration = renewDeadline + .seconds(1)
            configuration.renewDeadline = renewDeadline
            configuration.retryPeriod = .milliseconds(100)
        }
        guard let clock else { return LeaderElector(configuration: configuration, client: client) }
        return LeaderElector(configuration: configuration, client: client, now: { clock.now }, steadyNow: { clock.steady })
    }

    static func spec(_ server: KubernetesAPIServerDouble) throws -> [String: Any] {
        try #require(try server.object("leases", key: "\(namespace)/\(lease)")?["spec"] as? [String: Any])
    }

    @Test func oneLeadsAndTheOtherTakesOverOnlyAfterTheLeaseExpires() async throws {
        let server = try await Self.server()
        defer { server.stop() }
        let clock = TestClock()
        let first = try Self.elector("signet-7d9f-a", server, clock: clock)
        let second = try Self.elector("signet-7d9f-b", server, clock: clock)
        func leaders() async -> [String] {
            var names: [String] = []
            if await first.isLeading { names.append("a") }
            if await second.isLeading { names.append("b") }
            return names
        }

        #expect(await first.tryAcquireOrRenew())
        #expect(await !second.tryAcquireOrRenew())
        #expect(await leaders() == ["a"])
        var spec = try Self.spec(server)
        #expect(spec["holderIdentity"] as? String == "signet-7d9f-a")
        #expect(spec["leaseDurationSeconds"] as? Int == 15)
        #expect(spec["renewTime"] as? String == "2026-12-01T12:00:00.000000Z")
        #expect(spec["leaseTransitions"] as? Int == 0)

        // The leader renews every retry period; the other keeps trying and keeps losing.
        for _ in 1...5 {
            clock.advance(2)
            #expect(await first.tryAcquireOrRenew())
            #expect(await !second.tryAcquireOrRenew())
            #expect(await leaders() == ["a"])
        }
        #expect(try Self.spec(server)["renewTime"] as? String == "2026-12-01T12:00:10.000000Z")

        // The leader stops renewing (its process is gone). It stops counting itself leader at
        // its renew deadline (10 s); the other takes over once 15 s have passed since it last saw
        // the record change: at its attempt 16 s later, not before.
        var takenAfter: TimeInterval?
        for step in 1...10 {
            clock.advance(2)
            let took = await second.tryAcquireOrRenew()
            #expect(await leaders().count <= 1, "two leaders \(step * 2) s after the last renewal")
            if took {
                takenAfter = TimeInterval(step * 2)
                break
            }
        }
        #expect(takenAfter == 16)
        #expect(await leaders() == ["b"])
        spec = try Self.spec(server)
        #expect(spec["holderIdentity"] as? String == "signet-7d9f-b")
        #expect(spec["leaseTransitions"] as? Int == 1)
        #expect(spec["acquireTime"] as? String == "2026-12-01T12:00:26.000000Z")

        // The old leader comes back: the lease is another's and fresh, so it does not lead.
        clock.advance(1)
        #expect(await !first.tryAcquireOrRenew())
        #expect(await leaders() == ["b"])
    }

    /// Steps of the wall clock (NTP, a suspended VM) move no deadline: the leader whose clock
    /// went back an hour still stops at its renew deadline, and a follower whose clock jumped
    /// an hour ahead does not take a Lease that was renewed a moment ago.
    @Test func wallClockStepsMoveNoDeadline() async throws {
        let server = try await Self.server()
        defer { server.stop() }
        let clock = TestClock()
        let first = try Self.elector("signet-a", server, clock: clock)
        let second = try Self.elector("signet-b", server, clock: clock)
        #expect(await first.tryAcquireOrRenew())
        #expect(await !second.tryAcquireOrRenew())

        clock.stepWallClock(3600)
        clock.advance(1)
        #expect(await !second.tryAcquireOrRenew(), "a lease renewed 1 s ago is not taken over, whatever the wall clock says")
        #expect(await first.isLeading)

        clock.stepWallClock(-2 * 3600)
        clock.advance(10)
        #expect(await !first.isLeading, "11 s without a renewal is past the renew deadline, though the wall clock went back")
        // The follower takes over once 15 s have passed on its steady clock since it saw the record.
        clock.advance(4)
        #expect(await second.tryAcquireOrRenew())
        #expect(await !first.tryAcquireOrRenew())
    }

    @Test func racingCandidatesGetOneLeaderAndAReleasedLeaseIsTakenAtOnce() async throws {
        let server = try await Self.server()
        defer { server.stop() }
        let clock = TestClock()
        let first = try Self.elector("signet-a", server, clock: clock)
        let second = try Self.elector("signet-b", server, clock: clock)

        // Both find no Lease and create it, or both read it and replace it at the version read:
        // the API server's 409 leaves exactly one holder.
        for round in 1...3 {
            async let one = first.tryAcquireOrRenew()
            async let other = second.tryAcquireOrRenew()
            let (a, b) = await (one, other)
            #expect(a != b, "round \(round): exactly one leads")
            let holder = try Self.spec(server)["holderIdentity"] as? String
            #expect(holder == (a ? "signet-a" : "signet-b"))
            // The holder gives the Lease up: the other takes it at its next attempt, with no wait.
            let (leader, follower) = a ? (first, second) : (second, first)
            await leader.release()
            #expect(await !leader.isLeading)
            #expect(try Self.spec(server)["holderIdentity"] == nil)
            clock.advance(0.5)
            #expect(await follower.tryAcquireOrRenew())
            await follower.release()
        }
    }

    /// What runs where: the replicas whose work runs now, the most that ever ran at once, and
    /// what each replica was last told of its leadership.
    final class Ledger: Sendable {
        private let state = NIOLockedValueBox<(running: [String], most: Int, leading: [String: Bool])>(([], 0, [:]))
        var running: [String] { state.withLockedValue { $0.running } }
        var most: Int { state.withLockedValue { $0.most } }
        var leading: [String: Bool] { state.withLockedValue { $0.leading } }
        func told(_ name: String, _ on: Bool) { state.withLockedValue { $0.leading[name] = on } }

        func work(_ name: String) -> @Sendable () async -> Void {
            {
                self.state.withLockedValue {
                    $0.running.append(name)
                    $0.most = max($0.most, $0.running.count)
                }
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
                self.state.withLockedValue { $0.running.removeAll { $0 == name } }
            }
        }
    }

    /// Waits (bounded, a hang catcher) until `condition` holds.
    static func eventually(_ what: String, _ condition: () async -> Bool) async throws {
        let end = ContinuousClock.now + TestBudget.seconds(60)
        while !(await condition()) {
            guard ContinuousClock.now < end else { throw TestProcessError(message: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func workRunsOnlyOnTheLeaderAndMovesWhenItStops() async throws {
        let server = try await Self.server()
        defer { server.stop() }
        let ledger = Ledger()
        let eventually = Self.eventually
        // Quick retries, but a renew deadline no busy machine misses: the leader keeps its
        // Lease throughout, and the hand-over below comes from the release, not an expiry.
        let first = try Self.elector("signet-a", server, fast: true, renewDeadline: TestBudget.seconds(30))
        let second = try Self.elector("signet-b", server, fast: true, renewDeadline: TestBudget.seconds(30))
        let a = Task { await first.run(onChange: { ledger.told("a", $0) }, ledger.work("a")) }
        try await eventually("a to lead") { ledger.running == ["a"] }
        let b = Task { await second.run(onChange: { ledger.told("b", $0) }, ledger.work("b")) }
        defer { b.cancel() }
        // Many of b's attempts pass while a renews: b's work never starts.
        try await Task.sleep(for: .seconds(1))
        #expect(ledger.running == ["a"])
        // a is stopped: its work ends, the Lease is released, and b's work starts.
        a.cancel()
        await a.value
        try await eventually("b to lead") { ledger.running == ["b"] }
        #expect(ledger.most == 1, "the work ran on two replicas at once")
        #expect(ledger.leading == ["a": false, "b": true])
        #expect(try Self.spec(server)["holderIdentity"] as? String == "signet-b")
        b.cancel()
        await b.value
        #expect(try Self.spec(server)["holderIdentity"] == nil)
    }

    /// A renewal the API server takes and does not answer (for longer than the lease lasts, and
    /// within the client's timeout) does not keep the work running: another replica may take
    /// the Lease once it expires, so the work stops at the renew deadline while the request is
    /// still waiting, and starts again once a renewal goes through.
    @Test func workStopsAtTheRenewDeadlineWhileARenewalHangs() async throws {
        let server = try await Self.server()
        defer { server.stop() }
        let ledger = Ledger()
        let elector = try Self.elector("signet-a", server, fast: true, requestTimeout: .seconds(600))
        let campaign = Task { await elector.run(onChange: { ledger.told("a", $0) }, ledger.work("a")) }
        defer { campaign.cancel() }
        try await Self.eventually("a to lead") { ledger.running == ["a"] }

        // On a slow machine a renewal sent before the stall may still land after the work
        // stopped (and start it again for a moment): what must hold is reached together and,
        // once every renewal hangs, stays.
        try server.failGets("leases", mode: "stall")
        try await Self.eventually("the work to stop while the renewal hangs") {
            let leading = await elector.isLeading
            return ledger.running.isEmpty && ledger.leading == ["a": false] && !leading
        }

        try server.failGets("leases", mode: nil)
        try await Self.eventually("the work to start again after a renewal") { ledger.running == ["a"] && ledger.leading == ["a": true] }
        #expect(ledger.most == 1)
        campaign.cancel()
        await campaign.value
        #expect(ledger.running.isEmpty)
        #expect(try Self.spec(server)["holderIdentity"] == nil)
    }
}
