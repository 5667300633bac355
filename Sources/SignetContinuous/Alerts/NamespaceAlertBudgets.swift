import Foundation
import SignetKube

/// How many alerts each namespace may still send: the project's per-key token buckets
/// (``TokenBuckets``: a burst, then one per interval, bounded in keys), and how many each
/// namespace was refused since its last alert, so that alert can say so (at most `capacity`
/// namespaces' counts are kept; past it they start again).
struct NamespaceAlertBudgets: Sendable {
    private var buckets: TokenBuckets
    private let capacity: Int
    private var refused: [String: Int] = [:]
    /// The buckets' clock starts here (they count elapsed time only).
    private let start = ContinuousClock.now

    init(burst: Int, interval: Duration, capacity: Int) {
        let (seconds, attoseconds) = interval.components
        buckets = TokenBuckets(burst: burst, refill: Double(seconds) + Double(attoseconds) / 1e18)
        self.capacity = max(1, capacity)
    }

    /// Takes a token of `namespace` at `instant`: nil when it has none, else how many alerts it
    /// was refused since its last one.
    mutating func take(_ namespace: String, at instant: ContinuousClock.Instant) -> Int? {
        guard buckets.take(namespace, now: TokenBuckets.time(instant, since: start)) else {
            if refused[namespace] == nil, refused.count >= capacity { refused.removeAll() }
            refused[namespace, default: 0] += 1
            return nil
        }
        return refused.removeValue(forKey: namespace) ?? 0
    }
}
