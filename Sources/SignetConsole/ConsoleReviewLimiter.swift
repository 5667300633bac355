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
/// a made-up token is never let do anything, so it cannot bring an address into the first.
/// Such an address is known by its exact IP (not its IPv6 /64, which a node's Pods may share
/// whole) and has a share of its own (`perAddressBurst` at once, as every address), so a
/// neighbour sending made-up tokens from the same /64 spends its own share, not this one's.
public final class ConsoleReviewLimiter: Sendable {
    private struct State {
        var perAddress: TokenBuckets
        /// The shares of the addresses a token was allowed from, by exact IP.
        var perKnownAddress: TokenBuckets
        /// Keyed by ``knownPool`` or ``otherPool``.
        var total: TokenBuckets
        var perToken: TokenBuckets
        /// Hashes of tokens the API server authenticated, and when; at most ``maximumRecent``.
        var recent: [String: ContinuousClock.Instant] = [:]
        /// Exact IPs from which a token was let do something, and when; at most ``maximumRecent``.
        var allowedFrom: [String: ContinuousClock.Instant] = [:]
    }

    private static let knownPool = "addresses a token was allowed from"
    private static let otherPool = ""

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
            perAddress: TokenBuckets(burst: perAddressBurst, refill: perAddressRefill),
            perKnownAddress: TokenBuckets(burst: perAddressBurst, refill: perAddressRefill),
            total: TokenBuckets(burst: totalBurst, refill: totalRefill), perToken: TokenBuckets(burst: perTokenBurst, refill: perTokenRefill)))
        self.recentlyAllowed = recentlyAllowed
    }

    /// Whether a review for the token of hash `token` from `peer` may be asked: for a token
    /// authenticated lately, when its own share has one left; else, from an address a token was
    /// allowed from lately, when its own share and that pool's total both have one left; else
    /// when `peer`'s share and the others' total both have one left (then taken from both;
    /// from neither when either is spent).
    public func mayReview(token: String, peer: String, now instant: ContinuousClock.Instant = .now) -> Bool {
        let now = TokenBuckets.time(instant, since: start)
        let host = Self.host(of: peer)
        return state.withLockedValue { state in
            if let seen = state.recent[token], instant - seen < recentlyAllowed { return state.perToken.take(token, now: now) }
            if let allowed = state.allowedFrom[host], instant - allowed < recentlyAllowed {
                guard state.perKnownAddress.has(host, now: now), state.total.has(Self.knownPool, now: now) else { return false }
                return state.perKnownAddress.take(host, now: now) && state.total.take(Self.knownPool, now: now)
            }
            let address = Self.address(of: peer)
            guard state.perAddress.has(address, now: now), state.total.has(Self.otherPool, now: now) else { return false }
            return state.perAddress.take(address, now: now) && state.total.take(Self.otherPool, now: now)
        }
    }

    /// The token of hash `token` was authenticated.
    public func authenticated(token: String, now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in Self.remember(token, at: now, in: &state.recent, for: recentlyAllowed) }
    }

    /// A token from `peer` was let do something: the address's reviews come from its own share
    /// and the pool of such addresses for ``recentlyAllowed``.
    public func allowed(peer: String, now: ContinuousClock.Instant = .now) {
        let host = Self.host(of: peer)
        state.withLockedValue { state in Self.remember(host, at: now, in: &state.allowedFrom, for: recentlyAllowed) }
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

    /// The exact IP of `ip:port` or `[ip]:port` (an IPv4-mapped IPv6 address as IPv4); the
    /// text itself when it is neither.
    public static func host(of peer: String) -> String {
        var host = peer
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") {
            host = String(peer[peer.index(after: peer.startIndex)..<end])
        } else if peer.filter({ $0 == ":" }).count == 1, let colon = peer.lastIndex(of: ":") {
            host = String(peer[..<colon])
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard host.contains(":"), inet_pton(AF_INET6, host, &bytes) == 1 else { return host }
        if bytes[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] { return bytes[12...].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    /// The share key of `ip:port` or `[ip]:port`: the IPv4 address, or the /64 of an IPv6 one;
    /// the text itself when it is neither.
    public static func address(of peer: String) -> String {
        let host = host(of: peer)
        var bytes = [UInt8](repeating: 0, count: 16)
        guard host.contains(":"), inet_pton(AF_INET6, host, &bytes) == 1 else { return host }
        return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
    }
}
