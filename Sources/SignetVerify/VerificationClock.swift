/// The time source for cache expiry, injected so that tests can move time instead of sleeping
/// (the design rule "time comes from an injected clock").
public struct VerificationClock: Sendable {
    private let read: @Sendable () -> ContinuousClock.Instant

    /// A clock that reads `now`.
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.read = now
    }

    /// The process's monotonic clock.
    public static let continuous = VerificationClock { ContinuousClock.now }

    /// The current instant.
    public var now: ContinuousClock.Instant { read() }
}
