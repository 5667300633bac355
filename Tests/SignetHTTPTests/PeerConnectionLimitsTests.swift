import Testing
@testable import SignetHTTP

/// Per-peer connection limits and reserved room for the API server (issue 23, finding 5).
struct PeerConnectionLimitsTests {
    func address(_ text: String) throws -> PeerAddress { try #require(PeerAddress(parsing: text)) }

    @Test func addressesAndRanges() throws {
        #expect(try address("10.0.0.7") == address("::ffff:10.0.0.7"), "IPv4 and its mapped form are one peer")
        #expect(try address("10.0.0.7").description == "10.0.0.7")
        #expect(PeerAddress(parsing: "10.0.0.256") == nil)
        #expect(PeerAddress(parsing: "host.example") == nil)
        let cluster = try #require(PeerNetwork(parsing: "10.0.0.0/24"))
        #expect(try cluster.contains(address("10.0.0.255")))
        #expect(try !cluster.contains(address("10.0.1.0")))
        #expect(try cluster.contains(address("::ffff:10.0.0.1")))
        let single = try #require(PeerNetwork(parsing: "192.168.1.5"))
        #expect(try single.contains(address("192.168.1.5")) && !single.contains(address("192.168.1.6")))
        let v6 = try #require(PeerNetwork(parsing: "fd00:1::/32"))
        #expect(try v6.contains(address("fd00:1:ffff::1")) && !v6.contains(address("fd00:2::1")))
        #expect(try #require(PeerNetwork(parsing: "0.0.0.0/0")).contains(address("203.0.113.9")))
        for invalid in ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "fd00::/129", "/8", "10.0.0.0/8/8"] {
            #expect(PeerNetwork(parsing: invalid) == nil, "\(invalid)")
        }
    }

    @Test func eachPeerHasItsShareAndReservedPeersTheirRoom() throws {
        let limits = PeerConnectionLimits(
            maxConnectionsPerPeer: 2, reservedPeers: [try #require(PeerNetwork(parsing: "10.0.0.0/24"))], reservedConnections: 2)
        let table = PeerConnectionTable(limits: limits, maxConnections: 5)
        let tenant = try address("192.168.0.9"), other = try address("192.168.0.10"), apiServer = try address("10.0.0.2")
        func admitted(_ peer: PeerAddress?) -> ConnectionRefusal? {
            if case .failure(let refusal) = table.admit(peer) { return refusal.reason }
            return nil
        }
        #expect(admitted(tenant) == nil)
        #expect(admitted(tenant) == nil)
        #expect(admitted(tenant) == .peerLimit)
        #expect(admitted(other) == nil)
        #expect(admitted(other) == .reservedRoom, "3 of 5 taken: the last 2 are the API server's")
        #expect(admitted(nil) == .reservedRoom)
        #expect(admitted(apiServer) == nil)
        #expect(admitted(apiServer) == nil, "no per-peer limit for a reserved peer")
        #expect(admitted(apiServer) == .serverFull)
        #expect(table.release(tenant) == 4)
        #expect(admitted(apiServer) == nil)
        _ = table.release(apiServer)
        _ = table.release(apiServer)
        _ = table.release(other)
        #expect(admitted(tenant) == nil, "released connections count no more")
    }

    /// Connections opened and closed at once hold no slot, but each costs a TLS handshake: a
    /// peer opens at most the rate a second (twice as many in a burst), closing them gives no
    /// fresh burst, reserved peers are not limited, and idle peers are forgotten past the bound.
    @Test func aPeerOpensConnectionsAtMostAtItsRate() throws {
        let limits = PeerConnectionLimits(reservedPeers: [try #require(PeerNetwork(parsing: "10.0.0.0/24"))], maxNewConnectionsPerPeerPerSecond: 4)
        let table = PeerConnectionTable(limits: limits, maxConnections: 100_000)
        let start = ContinuousClock.now
        let tenant = try address("192.168.0.9"), other = try address("192.168.0.10"), apiServer = try address("10.0.0.2")
        func churn(_ peer: PeerAddress, at time: ContinuousClock.Instant) -> ConnectionRefusal? {
            switch table.admit(peer, now: time) {
            case .failure(let refusal): return refusal.reason
            case .success: _ = table.release(peer); return nil
            }
        }
        for index in 0..<8 { #expect(churn(tenant, at: start) == nil, "burst connection \(index)") }
        #expect(churn(tenant, at: start) == .peerRate, "a ninth at once, although none is open")
        #expect(churn(other, at: start) == nil, "another peer has its own allowance")
        for _ in 0..<50 { #expect(churn(apiServer, at: start) == nil) }
        let later = start + .milliseconds(500)
        #expect(churn(tenant, at: later) == nil && churn(tenant, at: later) == nil, "half a second gives two more")
        #expect(churn(tenant, at: later) == .peerRate)
        // Without reserved peers the API server is a peer like any other: no rate for anyone.
        let unnamed = PeerConnectionTable(limits: PeerConnectionLimits(maxNewConnectionsPerPeerPerSecond: 4), maxConnections: 100_000)
        for _ in 0..<1_000 {
            if case .failure(let refusal) = unnamed.admit(tenant, now: start) { Issue.record("refused: \(refusal.reason)"); break }
            _ = unnamed.release(tenant)
        }

        // Thousands of peers, each one connection: the table keeps those still refilling only.
        let crowd = PeerConnectionTable(
            limits: PeerConnectionLimits(reservedPeers: [try #require(PeerNetwork(parsing: "10.0.0.0/24"))], maxNewConnectionsPerPeerPerSecond: 4),
            maxConnections: 100_000)
        for index in 0..<6_000 {
            let peer = try address("172.16.\(index / 256).\(index % 256)")
            _ = crowd.admit(peer, now: start + .seconds(index))
            _ = crowd.release(peer)
        }
        #expect(crowd.keptPeers <= PeerConnectionTable.prunedAbove + 1, "\(crowd.keptPeers) idle peers kept")
    }

    /// The body budget as connection slots: a share per peer, room of their own for reserved
    /// peers (no share for them), the whole budget for everyone; given-back bytes count no more.
    @Test func eachPeerHasItsShareOfTheBodyBudgetAndReservedPeersTheirRoom() throws {
        let limits = PeerConnectionLimits(
            reservedPeers: [try #require(PeerNetwork(parsing: "10.0.0.0/24"))], maxBufferedBodyBytesPerPeer: 40, reservedBodyBytes: 30)
        let budget = BodyBudget(limit: 100, limits: limits)
        let tenant = try address("192.168.0.9"), other = try address("192.168.0.10"), apiServer = try address("10.0.0.2")
        #expect(!budget.isReserved(tenant) && budget.isReserved(apiServer))
        #expect(budget.reserve(40, peer: tenant, reserved: false) == nil)
        #expect(budget.reserve(1, peer: tenant, reserved: false) == .peerShare)
        #expect(budget.reserve(30, peer: other, reserved: false) == nil)
        #expect(budget.reserve(1, peer: nil, reserved: false) == .reservedRoom, "70 of 100 held: the last 30 are the API server's")
        #expect(budget.reserve(30, peer: apiServer, reserved: true) == nil, "no share for a reserved peer")
        #expect(budget.reserve(1, peer: apiServer, reserved: true) == .serverFull)
        #expect(budget.held(by: tenant) == (100, 40))
        budget.release(40, peer: tenant)
        #expect(budget.held(by: tenant) == (60, 0))
        #expect(budget.reserve(10, peer: tenant, reserved: false) == nil, "given-back bytes count no more")
        #expect(budget.reserve(1, peer: other, reserved: false) == .reservedRoom)
    }

    /// Without reserved peers, the whole budget is everyone's and only the shares limit a peer.
    @Test func withoutReservedPeersTheBudgetIsShared() throws {
        let budget = BodyBudget(limit: 100, limits: PeerConnectionLimits(maxBufferedBodyBytesPerPeer: 60, reservedBodyBytes: 30))
        let tenant = try address("192.168.0.9"), other = try address("192.168.0.10")
        #expect(budget.reserve(60, peer: tenant, reserved: false) == nil)
        #expect(budget.reserve(40, peer: other, reserved: false) == nil, "reservedBodyBytes is ignored without reserved peers")
        #expect(budget.reserve(1, peer: other, reserved: false) == .serverFull)
    }
}
