import Foundation
import NIOConcurrencyHelpers

/// Which Events to post, so that whoever causes them cannot flood the API server or push out
/// other namespaces' Events: the same Event (its ``key``) is posted once per ``window``, and a
/// namespace (its `group`) gets `burst` Events at once and one more every `refill` seconds,
/// as client-go's event spam filter and correlator do (`EventSourceObjectSpamFilter`: a token
/// bucket per source and object; `EventAggregator`: similar events within ten minutes).
///
/// An emergency-bypass Event is made for every admission the bypass lets in, and the API server
/// calls the webhook before it refuses a CREATE for other reasons: a tenant repeating
/// `kubectl create` of a Pod that already exists made two Events a try, without end, in
/// `default` too. Admissions are recorded in full elsewhere (the audit log, the history);
/// Events are for people, who need one of each.
///
/// Memory is bounded: at most ``maximumKeys`` Events and ``TokenBuckets/maximumKeys``
/// namespaces are remembered; beyond them the oldest Events and the fullest buckets are forgotten.
public final class EventSpamFilter: Sendable {
    public let window: TimeInterval
    static let maximumKeys = 4096

    private struct State {
        /// When each Event was last posted, by the hash of its key (a key names every image of
        /// a Pod: 4,096 of them kept whole could take hundreds of megabytes).
        var posted: [Int: Date] = [:]
        /// Each namespace's tokens.
        var buckets: TokenBuckets
        /// How many were held back (for the log).
        var held = 0
    }

    private let state: NIOLockedValueBox<State>

    public init(window: TimeInterval = 600, burst: Int = 25, refill: TimeInterval = 12) {
        self.window = window
        state = NIOLockedValueBox(State(buckets: TokenBuckets(burst: burst, refill: refill)))
    }

    /// Whether the Event `key` about namespace `group` is posted at `now`: not when the same key
    /// was posted within the window, nor when the namespace has no token left.
    public func admit(key text: String, group: String, now: Date) -> Bool {
        // Hasher is seeded anew in every process: keys cannot be chosen to collide.
        let key = text.hashValue
        return state.withLockedValue { state in
            if let last = state.posted[key], now.timeIntervalSince(last) < window, now >= last {
                state.held += 1
                return false
            }
            guard state.buckets.take(group, now: now) else {
                state.held += 1
                return false
            }
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
