import Foundation
import NIOConcurrencyHelpers
import SignetKube

/// How many TokenReviews and SubjectAccessReviews the console asks the API server for: each
/// caller address (its IP, whatever the port) `perAddressBurst` at once and one more every
/// `perAddressRefill` seconds, and all callers together `totalBurst` at once and one more every
/// `totalRefill` seconds.
///
/// A review is asked only when the console's access cache has no answer, and a bearer token the
/// console has not seen always misses it: a client sending random tokens made one TokenReview a
/// request, without end, under signet's own identity, so it spent signet's API priority level
/// (Kubernetes API Priority and Fairness), which the webhook's own reads (pull secrets, owner
/// chains) and the leader lease share. Someone who signs in costs a review per cache lifetime.
public final class ConsoleReviewLimiter: Sendable {
    private let state: NIOLockedValueBox<(perAddress: TokenBuckets, total: TokenBuckets)>
    /// The start of the monotonic clock the buckets are measured on.
    private let start = ContinuousClock.now

    public init(perAddressBurst: Int = 20, perAddressRefill: TimeInterval = 0.5, totalBurst: Int = 100, totalRefill: TimeInterval = 0.05) {
        state = NIOLockedValueBox((TokenBuckets(burst: perAddressBurst, refill: perAddressRefill), TokenBuckets(burst: totalBurst, refill: totalRefill)))
    }

    /// Takes a review from `peer`'s share and from the total; false when either is spent.
    public func mayReview(peer: String) -> Bool {
        let elapsed = (ContinuousClock.now - start).components
        let now = Date(timeIntervalSinceReferenceDate: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
        let address = Self.address(of: peer)
        return state.withLockedValue { state in
            // The address first: a client over its share does not spend the total others share.
            state.perAddress.take(address, now: now) && state.total.take("", now: now)
        }
    }

    /// The IP of `ip:port` or `[ip]:port`; the text itself when it has no port.
    public static func address(of peer: String) -> String {
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") { return String(peer[peer.index(after: peer.startIndex)..<end]) }
        if peer.filter({ $0 == ":" }).count == 1, let colon = peer.lastIndex(of: ":") { return String(peer[..<colon]) }
        return peer
    }
}
