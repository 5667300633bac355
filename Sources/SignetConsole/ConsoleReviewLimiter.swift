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
///
/// The total is two: one for addresses from which a token was let do something (allowed an
/// action or a scrape) in the last ``recentlyAllowed``, one for every other address. Many
/// addresses sending made-up tokens (ten at the defaults) spend the second only, so a token
/// that has just replaced an allowed one from the same place (Prometheus' service-account
/// token, which the kubelet renews every hour or so, or a user's new token) is still reviewed:
/// a made-up token is never let do anything, so it cannot bring an address into the first. A
/// review whose token the API server did not authenticate costs its address
/// `failedReviewCost` of its share instead of one, so an address sending made-up tokens gets a
/// fifth of the reviews (at the defaults) one signing in gets.
public final class ConsoleReviewLimiter: Sendable {
    private struct State {
        var perAddress: TokenBuckets
        /// Keyed by ``knownPool`` or ``otherPool``.
        var total: TokenBuckets
        var perToken: TokenBuckets
        /// Hashes of tokens the API server authenticated, and when; at most ``maximumRecent``.
        var recent: [String: ContinuousClock.Instant] = [:]
        /// Addresses (share keys) from which a token was let do something, and when; at most ``maximumRecent``.
        var allowedFrom: [String: ContinuousClock.Instant] = [:]
    }

    private static let knownPool = "addresses a token was allowed from"
    private static let otherPool = ""

    private let state: NIOLockedValueBox<State>
    /// How long an authenticated token keeps its reviews out of the shares.
    public let recentlyAllowed: Duration
    static let maximumRecent = 1024
    /// How much of its address's share a review of a token the API server did not authenticate costs.
    public let failedReviewCost: Int
    /// The start of the monotonic clock the buckets are measured on.
    private let start = ContinuousClock.now

    public init(
        perAddressBurst: Int = 20, perAddressRefill: TimeInterval = 0.5, totalBurst: Int = 100, totalRefill: TimeInterval = 0.05,
        perTokenBurst: Int = 20, perTokenRefill: TimeInterval = 1, recentlyAllowed: Duration = .seconds(900), failedReviewCost: Int = 5
    ) {
        state = NIOLockedValueBox(State(
            perAddress: TokenBuckets(burst: perAddressBurst, refill: perAddressRefill), total: TokenBuckets(burst: totalBurst, refill: totalRefill),
            perToken: TokenBuckets(burst: perTokenBurst, refill: perTokenRefill)))
        self.recentlyAllowed = recentlyAllowed
        self.failedReviewCost = max(1, failedReviewCost)
    }

    /// Whether a review for the token of hash `token` from `peer` may be asked: for a token
    /// authenticated lately, when its own share has one left; else when `peer`'s share and its
    /// pool's total (that of addresses a token was allowed from lately, or the others') both
    /// have one left (then taken from both; from neither when either is spent).
    public func mayReview(token: String, peer: String, now instant: ContinuousClock.Instant = .now) -> Bool {
        let now = TokenBuckets.time(instant, since: start)
        let address = Self.address(of: peer)
        return state.withLockedValue { state in
            if let seen = state.recent[token], instant - seen < recentlyAllowed { return state.perToken.take(token, now: now) }
            let known = state.allowedFrom[address].map { instant - $0 < recentlyAllowed } ?? false
            let pool = known ? Self.knownPool : Self.otherPool
            guard state.perAddress.has(address, now: now), state.total.has(pool, now: now) else { return false }
            return state.perAddress.take(address, now: now) && state.total.take(pool, now: now)
        }
    }

    /// The token of hash `token` was authenticated.
    public func authenticated(token: String, now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in Self.remember(token, at: now, in: &state.recent, for: recentlyAllowed) }
    }

    /// A token from `peer` was let do something: the address's reviews come from the pool of
    /// such addresses for ``recentlyAllowed``.
    public func allowed(peer: String, now: ContinuousClock.Instant = .now) {
        let address = Self.address(of: peer)
        state.withLockedValue { state in Self.remember(address, at: now, in: &state.allowedFrom, for: recentlyAllowed) }
    }

    /// A review asked for `peer` found a token the API server did not authenticate: the rest of
    /// ``failedReviewCost`` is taken from the address's share (as much as it has).
    public func reviewFailed(peer: String, now instant: ContinuousClock.Instant = .now) {
        let now = TokenBuckets.time(instant, since: start)
        let address = Self.address(of: peer)
        state.withLockedValue { state in
            for _ in 1..<failedReviewCost where !state.perAddress.take(address, now: now) { break }
        }
    }

    /// Records `key` at `now` in `table`, which holds at most ``maximumRecent``: entries older
    /// than `lifetime` go first, then the oldest.
    private static func remember(
        _ key: String, at now: ContinuousClock.Instant, in table: inout [String: ContinuousClock.Instant], for lifetime: Duration
    ) {
        if table[key] == nil, table.count >= maximumRecent {
            table = table.filter { now - $0.value < lifetime }
            if table.count >= maximumRecent, let oldest = table.min(by: { $0.value < $1.value })?.key { table[oldest] = nil }
        }
        table[key] = now
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
