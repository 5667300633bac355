import NIOConcurrencyHelpers

/// Lets through at most one event per ``interval``: a warning logged for every refused
/// connection, or every review from an unknown address, would let a flood of them write as many
/// log lines; throttled, the first is logged and then one per interval, so it still shows.
public final class LogThrottle: Sendable {
    public let interval: Duration
    private let lastAdmitted = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Whether an event at `now` is to be logged: the first, and then the first after each
    /// ``interval`` since the last one logged.
    public func admits(at now: ContinuousClock.Instant = .now) -> Bool {
        lastAdmitted.withLockedValue { last in
            if let previous = last, now - previous < interval { return false }
            last = now
            return true
        }
    }
}
