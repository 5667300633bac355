import NIOConcurrencyHelpers

/// How connections and request bodies are shared among peers, so that no client can take every
/// slot or all the body memory the Kubernetes API server needs (an admission webhook's
/// availability is the cluster's ability to start pods): at most ``maxConnectionsPerPeer``
/// connections and ``maxBufferedBodyBytesPerPeer`` bytes of buffered request bodies from one IP
/// address, and, when ``reservedPeers`` are named (the API server's addresses), the last
/// ``reservedConnections`` of ``HTTPServerConfiguration/maxConnections`` and the last
/// ``reservedBodyBytes`` of ``HTTPServerConfiguration/maxBufferedBodyBytes`` kept for them.
/// Reserved peers have no per-peer limit. A connection beyond a limit is closed as soon as it is
/// accepted; a body beyond one is refused with 503 (see ``BodyBudget``).
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

    public init(
        maxConnectionsPerPeer: Int = 256, reservedPeers: [PeerNetwork] = [], reservedConnections: Int = 256,
        maxBufferedBodyBytesPerPeer: Int = 16 << 20, reservedBodyBytes: Int = 16 << 20
    ) {
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
        self.reservedPeers = reservedPeers
        self.reservedConnections = reservedConnections
        self.maxBufferedBodyBytesPerPeer = maxBufferedBodyBytesPerPeer
        self.reservedBodyBytes = reservedBodyBytes
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
}

/// The connection count of every peer, shared by the event loops (accepts happen on one loop,
/// closes on any). The lock is taken once per accept and once per close.
final class PeerConnectionTable: Sendable {
    let limits: PeerConnectionLimits
    let maxConnections: Int
    private let counts = NIOLockedValueBox<(total: Int, byPeer: [PeerAddress: Int])>((0, [:]))

    init(limits: PeerConnectionLimits, maxConnections: Int) {
        self.limits = limits
        self.maxConnections = maxConnections
    }

    /// Counts a new connection from `peer` (`nil`: an address of another family, counted only in
    /// the total), or says why it must be refused.
    func admit(_ peer: PeerAddress?) -> Result<Int, RefusalError> {
        let reserved = peer.map { address in limits.reservedPeers.contains { $0.contains(address) } } ?? false
        return counts.withLockedValue { counts in
            guard counts.total < maxConnections else { return .failure(RefusalError(reason: .serverFull)) }
            if !reserved {
                if !limits.reservedPeers.isEmpty, counts.total >= maxConnections - limits.reservedConnections {
                    return .failure(RefusalError(reason: .reservedRoom))
                }
                if let peer, counts.byPeer[peer, default: 0] >= limits.maxConnectionsPerPeer {
                    return .failure(RefusalError(reason: .peerLimit))
                }
            }
            counts.total += 1
            if let peer { counts.byPeer[peer, default: 0] += 1 }
            return .success(counts.total)
        }
    }

    /// Forgets a connection ``admit(_:)`` counted; the new total.
    func release(_ peer: PeerAddress?) -> Int {
        counts.withLockedValue { counts in
            counts.total -= 1
            if let peer {
                let left = counts.byPeer[peer, default: 1] - 1
                counts.byPeer[peer] = left > 0 ? left : nil
            }
            return counts.total
        }
    }

    struct RefusalError: Error {
        var reason: ConnectionRefusal
    }
}
