import NIOConcurrencyHelpers

/// How connections and request bodies are shared among peers, so that no client can take every
/// slot or all the body memory the Kubernetes API server needs (an admission webhook's
/// availability is the cluster's ability to start pods): at most ``maxConnectionsPerPeer``
/// connections and ``maxBufferedBodyBytesPerPeer`` bytes of buffered request bodies from one IP
/// address, and, when ``reservedPeers`` are named (the API server's addresses), the last
/// ``reservedConnections`` of ``HTTPServerConfiguration/maxConnections`` and the last
/// ``reservedBodyBytes`` of ``HTTPServerConfiguration/maxBufferedBodyBytes`` kept for them.
/// Reserved peers have no per-peer limit. When reserved peers are named, every other IP address
/// also opens at most ``maxNewConnectionsPerPeerPerSecond`` connections a second (twice as many
/// at once): each costs a TLS handshake, a key exchange and a signature of the server's, on the
/// event loops that answer the API server, and one that is closed after the handshake frees its
/// slot at once.
/// A connection beyond a limit is closed as soon as it is accepted; a body beyond one is
/// refused with 503 (see ``BodyBudget``).
public struct PeerConnectionLimits: Sendable {
    /// Connections one IP address may hold at once (reserved peers excepted).
    public var maxConnectionsPerPeer: Int
    /// Address ranges whose connections may use the reserved room and have no per-peer limit.
    public var reservedPeers: [PeerNetwork]
    /// Connections only reserved peers may open; ignored when there are none.
    public var reservedConnections: Int
    /// Bytes of request bodies one IP address may have buffered at once (reserved peers
    /// excepted); at least the largest body (``HTTPParserLimits/maxBodyBytes``), so an idle
    /// peer's body always fits its share.
    public var maxBufferedBodyBytesPerPeer: Int
    /// Bytes of the body budget only reserved peers may use; ignored when there are none.
    public var reservedBodyBytes: Int
    /// New connections one IP address may open a second, on average, with a burst of twice as
    /// many; applied only when ``reservedPeers`` are named (to everyone else); 0: no limit.
    public var maxNewConnectionsPerPeerPerSecond: Int

    public init(
        maxConnectionsPerPeer: Int = 256, reservedPeers: [PeerNetwork] = [], reservedConnections: Int = 256,
        maxBufferedBodyBytesPerPeer: Int = 16 << 20, reservedBodyBytes: Int = 16 << 20, maxNewConnectionsPerPeerPerSecond: Int = 256
    ) {
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
        self.reservedPeers = reservedPeers
        self.reservedConnections = reservedConnections
        self.maxBufferedBodyBytesPerPeer = maxBufferedBodyBytesPerPeer
        self.reservedBodyBytes = reservedBodyBytes
        self.maxNewConnectionsPerPeerPerSecond = maxNewConnectionsPerPeerPerSecond
    }
}

/// Why an accepted connection was closed at once (the `reason` label of
/// `signet_http_connections_rejected_total`).
enum ConnectionRefusal: String, CaseIterable, Sendable {
    /// The server holds ``HTTPServerConfiguration/maxConnections``.
    case serverFull = "server_full"
    /// The peer holds ``PeerConnectionLimits/maxConnectionsPerPeer``.
    case peerLimit = "peer_limit"
    /// Only the room reserved for reserved peers is left.
    case reservedRoom = "reserved_room"
    /// The peer opened ``PeerConnectionLimits/maxNewConnectionsPerPeerPerSecond`` connections
    /// too fast.
    case peerRate = "peer_rate"
}

/// The connection count of every peer, shared by the event loops (accepts happen on one loop,
/// closes on any). The lock is taken once per accept and once per close.
final class PeerConnectionTable: Sendable {
    let limits: PeerConnectionLimits
    let maxConnections: Int
    /// One peer's open connections and its allowance of new ones (a token bucket).
    private struct PeerState {
        var open = 0
        var allowance: Double
        var refilled: ContinuousClock.Instant
    }
    private let counts = NIOLockedValueBox<(total: Int, byPeer: [PeerAddress: PeerState], pruneAbove: Int)>((0, [:], prunedAbove))
    /// Peers without open connections are kept while their allowance refills; past this many
    /// entries (or twice as many as the last pruning kept), those whose allowance is full
    /// again are dropped, so a pruning's cost is spread over as many admissions as it looked at.
    static let prunedAbove = 4096

    init(limits: PeerConnectionLimits, maxConnections: Int) {
        self.limits = limits
        self.maxConnections = maxConnections
    }

    private var burst: Double { Double(2 * limits.maxNewConnectionsPerPeerPerSecond) }

    /// Counts a new connection from `peer` (`nil`: an address of another family, counted only in
    /// the total) at `now`, or says why it must be refused.
    func admit(_ peer: PeerAddress?, now: ContinuousClock.Instant = .now) -> Result<Int, RefusalError> {
        let reserved = peer.map { address in limits.reservedPeers.contains { $0.contains(address) } } ?? false
        // Only once the API server's addresses are named: unnamed, it is one peer among others,
        // and its bursts of new connections (one per admission in flight above the 25 it keeps
        // idle) would be refused with everyone's.
        let rate = limits.reservedPeers.isEmpty ? 0 : Double(limits.maxNewConnectionsPerPeerPerSecond)
        let burst = self.burst
        return counts.withLockedValue { counts in
            guard counts.total < maxConnections else { return .failure(RefusalError(reason: .serverFull)) }
            var state = peer.flatMap { counts.byPeer[$0] } ?? PeerState(allowance: burst, refilled: now)
            if !reserved {
                if !limits.reservedPeers.isEmpty, counts.total >= maxConnections - limits.reservedConnections {
                    return .failure(RefusalError(reason: .reservedRoom))
                }
                if peer != nil, state.open >= limits.maxConnectionsPerPeer {
                    return .failure(RefusalError(reason: .peerLimit))
                }
                if peer != nil, rate > 0 {
                    let elapsed = Double((now - state.refilled).components.seconds) + Double((now - state.refilled).components.attoseconds) / 1e18
                    state.allowance = min(burst, state.allowance + max(0, elapsed) * rate)
                    state.refilled = now
                    guard state.allowance >= 1 else {
                        if let peer { counts.byPeer[peer] = state }
                        return .failure(RefusalError(reason: .peerRate))
                    }
                    state.allowance -= 1
                }
            }
            counts.total += 1
            if let peer {
                state.open += 1
                counts.byPeer[peer] = state
                if counts.byPeer.count > counts.pruneAbove {
                    prune(&counts.byPeer, now: now)
                    counts.pruneAbove = max(Self.prunedAbove, 2 * counts.byPeer.count)
                }
            }
            return .success(counts.total)
        }
    }

    /// Forgets a connection ``admit(_:now:)`` counted; the new total.
    func release(_ peer: PeerAddress?) -> Int {
        counts.withLockedValue { counts in
            counts.total -= 1
            if let peer, var state = counts.byPeer[peer] {
                state.open -= 1
                // Kept while its allowance refills: forgetting it would hand a peer that opens
                // and closes connections a fresh burst each time.
                counts.byPeer[peer] = state.open > 0 || state.allowance < burst ? state : nil
            }
            return counts.total
        }
    }

    /// Drops peers without open connections whose allowance is full again by `now`.
    private func prune(_ byPeer: inout [PeerAddress: PeerState], now: ContinuousClock.Instant) {
        let rate = Double(limits.maxNewConnectionsPerPeerPerSecond)
        byPeer = byPeer.filter { _, state in
            guard state.open == 0 else { return true }
            let elapsed = Double((now - state.refilled).components.seconds)
            return rate > 0 && state.allowance + elapsed * rate < burst
        }
    }

    /// Peers the table keeps (for tests of its bound).
    var keptPeers: Int { counts.withLockedValue { $0.byPeer.count } }

    struct RefusalError: Error {
        var reason: ConnectionRefusal
    }
}
