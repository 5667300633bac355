/// Exponential backoff with full jitter between reconnection attempts ("Exponential Backoff And
/// Jitter"; client-go's reflector backs off likewise): the n-th consecutive failure waits a random
/// time up to `min(maximum, initial × 2ⁿ)`; a success resets the count.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    private(set) var failures = 0

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before the next attempt after one more failure.
    public mutating func nextDelay() -> Duration {
        let exponent = min(failures, 20)
        failures += 1
        let ceiling = min(maximum, initial * (1 << exponent))
        let fraction = Double.random(in: 0.5...1.0)
        return ceiling * fraction
    }

    /// Forgets past failures.
    public mutating func reset() { failures = 0 }
}
