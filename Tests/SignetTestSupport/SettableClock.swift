import Foundation
import NIOConcurrencyHelpers

/// A calendar clock a test sets: the code under test reads ``now`` through the `now` closure it
/// is given, and the test moves it past an expiry without waiting for real time to pass.
public final class SettableClock: Sendable {
    private let instant: NIOLockedValueBox<Date>

    public init(_ start: Date) {
        instant = NIOLockedValueBox(start)
    }

    /// The time the clock is set to.
    public var now: Date { instant.withLockedValue { $0 } }

    /// Sets the clock to `date`.
    public func set(_ date: Date) {
        instant.withLockedValue { $0 = date }
    }

    /// The clock as the closure the code under test takes.
    public var closure: @Sendable () -> Date { { self.now } }
}
