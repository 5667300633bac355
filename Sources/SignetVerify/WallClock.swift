import Foundation

/// The calendar time certificate and log validity are judged against, injected so that tests can
/// pin it (the design rule "time comes from an injected clock").
///
/// ``VerificationClock`` is monotonic and measures cache lifetimes; it cannot say what date it
/// is. Keyless verification needs a date: certificates are checked at the signing time the log
/// or a time-stamping authority vouches for (Sigstore client specification, "Verification"),
/// and this clock bounds how far in the future such a time may lie.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    /// A clock that reads `now`.
    public init(now: @escaping @Sendable () -> Date) {
        self.read = now
    }

    /// The system's calendar clock.
    public static let system = WallClock { Date() }

    /// A clock that always reads `date`.
    public static func fixed(_ date: Date) -> WallClock {
        WallClock { date }
    }

    /// The current date.
    public var now: Date { read() }
}
