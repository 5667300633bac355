import NIOConcurrencyHelpers

/// The memory budget for request bodies and how it is shared among peers, as connection slots
/// are (``PeerConnectionLimits``): bodies buffered across all connections stay within
/// ``HTTPServerConfiguration/maxBufferedBodyBytes``; one IP address holds at most
/// ``PeerConnectionLimits/maxBufferedBodyBytesPerPeer`` of it, so a client holding many
/// unfinished bodies cannot starve the others; and, when ``PeerConnectionLimits/reservedPeers``
/// are named, the last ``PeerConnectionLimits/reservedBodyBytes`` are theirs alone (with no
/// per-peer share). A body beyond a limit is refused with 503 and `Retry-After` (RFC 9110
/// §15.6.4, §10.2.3).
///
/// Shared by the event loops; the lock is taken when a connection's body grows and when it is
/// given back.
final class BodyBudget: Sendable {
    /// Why a body was refused.
    enum Refusal: String, Sendable {
        /// Every connection's bodies together are at the budget.
        case serverFull = "server_full"
        /// The peer's bodies are at its share.
        case peerShare = "peer_share"
        /// Only the room reserved for reserved peers is left.
        case reservedRoom = "reserved_room"

        /// The 503 answer's words.
        var explanation: String {
            switch self {
            case .serverFull: "the server is buffering too many request bodies; retry shortly"
            case .peerShare: "this client's request bodies take its whole share of the server's body budget; retry shortly"
            case .reservedRoom: "the server's body budget left is reserved for the API server; retry shortly"
            }
        }
    }

    let limit: Int
    let limits: PeerConnectionLimits
    private let state = NIOLockedValueBox<(total: Int, byPeer: [PeerAddress: Int])>((0, [:]))

    init(limit: Int, limits: PeerConnectionLimits) {
        self.limit = limit
        self.limits = limits
    }

    /// Whether `peer` may use the reserved room and has no per-peer share.
    func isReserved(_ peer: PeerAddress?) -> Bool {
        guard let peer else { return false }
        return limits.reservedPeers.contains { $0.contains(peer) }
    }

    /// Holds `bytes` more for a connection of `peer` (`nil`: an address of another family,
    /// counted only in the total), or says why not. `reserved` is ``isReserved(_:)`` of `peer`.
    func reserve(_ bytes: Int, peer: PeerAddress?, reserved: Bool) -> Refusal? {
        state.withLockedValue { state in
            guard state.total + bytes <= limit else { return .serverFull }
            if !reserved {
                if !limits.reservedPeers.isEmpty, state.total + bytes > limit - limits.reservedBodyBytes {
                    return .reservedRoom
                }
                if let peer, state.byPeer[peer, default: 0] + bytes > limits.maxBufferedBodyBytesPerPeer {
                    return .peerShare
                }
            }
            state.total += bytes
            if let peer { state.byPeer[peer, default: 0] += bytes }
            return nil
        }
    }

    /// Gives back `bytes` a connection of `peer` held.
    func release(_ bytes: Int, peer: PeerAddress?) {
        guard bytes > 0 else { return }
        state.withLockedValue { state in
            state.total -= bytes
            if let peer {
                let left = state.byPeer[peer, default: bytes] - bytes
                state.byPeer[peer] = left > 0 ? left : nil
            }
        }
    }

    /// Bytes held in all, and by `peer`.
    func held(by peer: PeerAddress? = nil) -> (total: Int, peer: Int) {
        state.withLockedValue { state in (state.total, peer.map { state.byPeer[$0, default: 0] } ?? 0) }
    }
}
