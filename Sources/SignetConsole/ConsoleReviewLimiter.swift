import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers
import SignetKube

/// How many TokenReviews and SubjectAccessReviews the console asks the API server for: each
/// caller address (its IP, whatever the port; an IPv6 address by its /64, which one host
/// commonly holds whole) `perAddressBurst` at once and one more every `perAddressRefill`
/// seconds, and all callers together `totalBurst` at once and one more every `totalRefill`
/// seconds.
///
/// A review is asked only when the console's access cache has no answer, and a bearer token the
/// console has not seen always misses it: a client sending random tokens made one TokenReview a
/// request, without end, under signet's own identity, so it spent signet's API priority level
/// (Kubernetes API Priority and Fairness), which the webhook's own reads (pull secrets, owner
/// chains) and the leader lease share.
///
/// A token the API server authenticated in the last ``recentlyAllowed`` is reviewed outside the
/// address and total shares, from a share of its own (`perTokenBurst` at once, one more every
/// `perTokenRefill` seconds): one made up cannot be among them, so someone signed in keeps the
/// console while others flood it, and a signed-in token cannot cause reviews without end
/// either (a SubjectAccessReview per namespace it names for a verification missed the cache
/// and cost one review a request).
public final class ConsoleReviewLimiter: Sendable {
    private struct State {
        var perAddress: TokenBuckets
        var total: TokenBuckets
        var perToken: TokenBuckets
        /// Hashes of tokens the API server authenticated, and when; at most ``maximumRecent``.
        var recent: [String: ContinuousClock.Instant] = [:]
    }

    private let state: NIOLockedValueBox<State>
    /// How long an authenticated token keeps its reviews out of the shares.
    public let recentlyAllowed: Duration
    static let maximumRecent = 1024
    /// The start of the monotonic clock the buckets are measured on.
    private let start = ContinuousClock.now

    public init(
        perAddressBurst: Int = 20, perAddressRefill: TimeInterval = 0.5, totalBurst: Int = 100, totalRefill: TimeInterval = 0.05,
        perTokenBurst: Int = 20, perTokenRefill: TimeInterval = 1, recentlyAllowed: Duration = .seconds(900)
    ) {
        state = NIOLockedValueBox(State(
            perAddress: TokenBuckets(burst: perAddressBurst, refill: perAddressRefill), total: TokenBuckets(burst: totalBurst, refill: totalRefill),
            perToken: TokenBuckets(burst: perTokenBurst, refill: perTokenRefill)))
        self.recentlyAllowed = recentlyAllowed
    }

    /// Whether a review for the token of hash `token` from `peer` may be asked: for a token
    /// authenticated lately, when its own share has one left; else when `peer`'s share and the
    /// total both have one left (then taken from both; from neither when either is spent).
    public func mayReview(token: String, peer: String, now instant: ContinuousClock.Instant = .now) -> Bool {
        let now = TokenBuckets.time(instant, since: start)
        let address = Self.address(of: peer)
        return state.withLockedValue { state in
            if let seen = state.recent[token], instant - seen < recentlyAllowed { return state.perToken.take(token, now: now) }
            guard state.perAddress.has(address, now: now), state.total.has("", now: now) else { return false }
            return state.perAddress.take(address, now: now) && state.total.take("", now: now)
        }
    }

    /// The token of hash `token` was authenticated.
    public func authenticated(token: String, now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in
            if state.recent[token] == nil, state.recent.count >= Self.maximumRecent {
                state.recent = state.recent.filter { now - $0.value < recentlyAllowed }
                if state.recent.count >= Self.maximumRecent, let oldest = state.recent.min(by: { $0.value < $1.value })?.key {
                    state.recent[oldest] = nil
                }
            }
            state.recent[token] = now
        }
    }

    /// The share key of `ip:port` or `[ip]:port`: the IPv4 address, or the /64 of an IPv6 one;
    /// the text itself when it is neither.
    public static func address(of peer: String) -> String {
        var host = peer
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") {
            host = String(peer[peer.index(after: peer.startIndex)..<end])
        } else if peer.filter({ $0 == ":" }).count == 1, let colon = peer.lastIndex(of: ":") {
            host = String(peer[..<colon])
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard host.contains(":"), inet_pton(AF_INET6, host, &bytes) == 1 else { return host }
        if bytes[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] { return bytes[12...].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
    }
}
