import Foundation

/// A token bucket per key (a namespace): `burst` tokens at once and one more every `refill`
/// seconds, taken one at a time. At most ``maximumKeys`` buckets are kept; a new key beyond
/// them replaces the fullest bucket (the one least in use), so whoever names endless keys
/// cannot grow it. Not locked: its owner locks it.
package struct TokenBuckets {
    package let burst: Int
    package let refill: TimeInterval
    package static let maximumKeys = 1024
    private var buckets: [String: (tokens: Double, at: Date)] = [:]

    package init(burst: Int, refill: TimeInterval) {
        self.burst = max(1, burst)
        self.refill = refill
    }

    /// `instant` on the buckets' clock, measured from `start`: the buckets count elapsed time
    /// only, and a monotonic clock keeps them from jumping with the wall clock.
    package static func time(_ instant: ContinuousClock.Instant, since start: ContinuousClock.Instant) -> Date {
        let elapsed = (instant - start).components
        return Date(timeIntervalSinceReferenceDate: Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
    }

    /// Whether `key` has a token at `now`, taking none.
    package func has(_ key: String, now: Date) -> Bool {
        guard let bucket = buckets[key] else { return true }
        let elapsed = max(0, now.timeIntervalSince(bucket.at))
        return min(Double(burst), bucket.tokens + (refill > 0 ? elapsed / refill : Double(burst))) >= 1
    }

    /// Takes a token of `key` at `now`; false when it has none.
    package mutating func take(_ key: String, now: Date) -> Bool {
        var bucket = buckets[key] ?? (Double(burst), now)
        let elapsed = max(0, now.timeIntervalSince(bucket.at))
        bucket.tokens = min(Double(burst), bucket.tokens + (refill > 0 ? elapsed / refill : Double(burst)))
        bucket.at = max(bucket.at, now)
        defer {
            if buckets[key] == nil, buckets.count >= Self.maximumKeys,
               let fullest = buckets.max(by: { $0.value.tokens < $1.value.tokens })?.key {
                buckets[fullest] = nil
            }
            buckets[key] = bucket
        }
        guard bucket.tokens >= 1 else { return false }
        bucket.tokens -= 1
        return true
    }
}
