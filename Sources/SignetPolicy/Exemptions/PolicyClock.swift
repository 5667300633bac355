import Foundation

/// The wall clock that decides whether a `PolicyException` or `EmergencyBypass` is in force.
///
/// The signet design ("Time comes from an injected clock, so expiry ... is testable"): decisions
/// never read the system time directly; tests and `signet review --now` pin it.
public struct PolicyClock: Sendable {
    private let read: @Sendable () -> Date

    /// A clock that reads `read` each time.
    public init(_ read: @escaping @Sendable () -> Date) {
        self.read = read
    }

    /// The current time.
    public func now() -> Date { read() }

    /// The system's real-time clock.
    public static let system = PolicyClock { Date() }

    /// A clock stopped at `instant`.
    public static func fixed(_ instant: Date) -> PolicyClock {
        PolicyClock { instant }
    }
}
