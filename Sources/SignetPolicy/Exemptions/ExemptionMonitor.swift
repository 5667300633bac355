import Foundation

/// Watches the exemptions of the policy set in force over time (issue 16, "Visible"): how many
/// are active, how long until the nearest exception expires, and every change of state of each
/// `PolicyException` and `EmergencyBypass`: started, changed, expired, refused (beyond its
/// window) and removed. A plain state machine: ``observe(_:now:)`` returns what to report, the
/// caller sets the gauges and writes the log lines; time comes from the caller (an injected clock).
public struct ExemptionMonitor: Sendable {
    /// The state of one exemption at one observation.
    public enum State: String, Sendable, Hashable {
        case active, expired, refused
    }

    /// One change worth a log line.
    public struct Transition: Sendable, Hashable {
        public enum Event: String, Sendable, Hashable {
            /// Newly in force (created, or seen for the first time at start).
            case started
            /// Still in force, but its spec (scope, expiry, reason) or attribution changed.
            case changed
            /// Its expiry passed.
            case expired
            /// Beyond its maximum window: never in force.
            case refused
            /// Deleted while in force.
            case removed
        }

        public var event: Event
        public var use: ExemptionUse

        /// `EmergencyBypass "incident-1" started: expires at …, reason …`.
        public var message: String {
            switch event {
            case .started: return "\(use.description) is in force: \(use.reason)"
            case .changed: return "\(use.description) changed while in force: \(use.reason)"
            case .expired: return "\(use.description) has expired and no longer applies"
            case .refused: return "\(use.description) runs longer than its maximum window after creation and is never applied"
            case .removed: return "\(use.description) was deleted while in force"
            }
        }
    }

    /// What one observation found.
    public struct Report: Sendable, Hashable {
        public var activeBypasses: Int
        public var activeExceptions: Int
        /// Seconds from now to the nearest `validUntil` of an active exception; 0 when none is active.
        public var nearestExceptionExpirySeconds: Double
        public var transitions: [Transition]
    }

    private struct Seen: Hashable {
        var state: State
        var use: ExemptionUse
        var definition: String
    }

    private var seen: [String: Seen] = [:]
    public let configuration: ExemptionConfiguration

    public init(configuration: ExemptionConfiguration) {
        self.configuration = configuration
    }

    /// Compares `set` at `now` with the previous observation.
    public mutating func observe(_ set: PolicySet, now: Date) -> Report {
        var current: [String: Seen] = [:]
        var nearest: Double?
        var activeExceptions = 0
        var activeBypasses = 0
        for exception in set.exceptions {
            let state: State = now >= exception.validUntil ? .expired
                : exception.exceedsWindow(configuration.maximumExceptionWindow, now: now) ? .refused : .active
            if state == .active {
                activeExceptions += 1
                let left = exception.validUntil.timeIntervalSince(now)
                nearest = min(nearest ?? left, left)
            }
            current["PolicyException \(exception.qualifiedName)"] = Seen(
                state: state, use: exception.use(policy: nil), definition: "\(exception.definition.spec)")
        }
        for bypass in set.bypasses {
            let state: State = now >= bypass.expiresAt ? .expired
                : bypass.exceedsWindow(configuration.maximumBypassWindow, now: now) ? .refused : .active
            if state == .active { activeBypasses += 1 }
            current["EmergencyBypass \(bypass.name)"] = Seen(state: state, use: bypass.use, definition: "\(bypass.definition.spec)")
        }
        var transitions: [Transition] = []
        for key in current.keys.sorted() {
            let now = current[key]!
            let before = seen[key]
            switch (before?.state, now.state) {
            case (nil, .active), (.expired?, .active), (.refused?, .active):
                transitions.append(Transition(event: .started, use: now.use))
            case (.active?, .active):
                if before!.definition != now.definition || before!.use != now.use {
                    transitions.append(Transition(event: .changed, use: now.use))
                }
            case (.active?, .expired):
                transitions.append(Transition(event: .expired, use: now.use))
            case (let previous, .refused) where previous != .refused:
                transitions.append(Transition(event: .refused, use: now.use))
            default:
                break
            }
        }
        for (key, before) in seen.sorted(by: { $0.key < $1.key }) where current[key] == nil && before.state == .active {
            transitions.append(Transition(event: .removed, use: before.use))
        }
        seen = current
        return Report(
            activeBypasses: activeBypasses, activeExceptions: activeExceptions, nearestExceptionExpirySeconds: nearest ?? 0,
            transitions: transitions)
    }
}
