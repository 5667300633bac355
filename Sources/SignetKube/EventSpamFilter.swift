import Foundation
import NIOConcurrencyHelpers

/// Which Events to post, so that whoever causes them cannot flood the API server or push out
/// other namespaces' Events: the same Event (its ``key``) is posted once per ``window``, and a
/// namespace (its ``group``) gets ``burst`` Events at once and one more every ``refill``,
/// as client-go's event spam filter and correlator do (`EventSourceObjectSpamFilter`: a token
/// bucket per source and object; `EventAggregator`: similar events within ten minutes).
///
/// An emergency-bypass Event is made for every admission the bypass lets in, and the API server
/// calls the webhook before it refuses a CREATE for other reasons: a tenant repeating
/// `kubectl create` of a Pod that already exists made two Events a try, without end, in
/// `default` too. Admissions are recorded in full elsewhere (the audit log, the history);
/// Events are for people, who need one of each.
///
/// Memory is bounded: at most ``maximumKeys`` Events and ``maximumGroups`` namespaces are
/// remembered; beyond them the oldest are forgotten.
public final class EventSpamFilter: Sendable {
    public let window: TimeInterval
    public let burst: Int
    public let refill: TimeInterval
    static let maximumKeys = 4096
    static let maximumGroups = 1024

    private struct State {
        /// When each Event was last posted.
        var posted: [String: Date] = [:]
        /// Each namespace's tokens and when they were last counted.
        var buckets: [String: (tokens: Double, at: Date)] = [:]
        /// How many were held back (for the log).
        var held = 0
    }

    private let state = NIOLockedValueBox(State())

    public init(window: TimeInterval = 600, burst: Int = 25, refill: TimeInterval = 12) {
        self.window = window
        self.burst = max(1, burst)
        self.refill = refill
    }

    /// Whether the Event `key` about namespace `group` is posted at `now`: not when the same key
    /// was posted within the window, nor when the namespace has no token left.
    public func admit(key: String, group: String, now: Date) -> Bool {
        state.withLockedValue { state in
            if let last = state.posted[key], now.timeIntervalSince(last) < window, now >= last {
                state.held += 1
                return false
            }
            var bucket = state.buckets[group] ?? (Double(burst), now)
            let elapsed = max(0, now.timeIntervalSince(bucket.at))
            bucket.tokens = min(Double(burst), bucket.tokens + elapsed / refill)
            bucket.at = max(bucket.at, now)
            guard bucket.tokens >= 1 else {
                state.buckets[group] = bucket
                state.held += 1
                return false
            }
            bucket.tokens -= 1
            if state.buckets[group] == nil, state.buckets.count >= Self.maximumGroups {
                // The fullest buckets are the least needed: forget one of them.
                if let full = state.buckets.max(by: { $0.value.tokens < $1.value.tokens })?.key { state.buckets[full] = nil }
            }
            state.buckets[group] = bucket
            if state.posted[key] == nil, state.posted.count >= Self.maximumKeys {
                state.posted = state.posted.filter { now.timeIntervalSince($0.value) < window }
                if state.posted.count >= Self.maximumKeys, let oldest = state.posted.min(by: { $0.value < $1.value })?.key {
                    state.posted[oldest] = nil
                }
            }
            state.posted[key] = now
            return true
        }
    }

    /// Events held back so far.
    public var heldBack: Int { state.withLockedValue { $0.held } }
}
