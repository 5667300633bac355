import Foundation
import Logging
import Metrics
import SignetPolicy

/// Runs an ``ExemptionMonitor`` over the policy source's current set every `interval` (issue 16,
/// "Visible"): sets the gauges `signet_emergency_bypasses_active`,
/// `signet_policy_exceptions_active` and `signet_policy_exceptions_expiring_seconds` (seconds to
/// the nearest expiry of an active exception, 0 when none is active), and writes one log line
/// (logger `signet.exemptions`, `warning` for bypasses, `notice` for exceptions) whenever an
/// exemption starts, changes, expires, is refused or is deleted while in force.
struct ExemptionMonitorService: Sendable {
    let source: any PolicySource
    let configuration: ExemptionConfiguration
    var interval: Duration = .seconds(5)
    var logger = Logger(label: "signet.exemptions")

    func run() async {
        var monitor = ExemptionMonitor(configuration: configuration)
        let bypasses = Gauge(label: "signet_emergency_bypasses_active")
        let exceptions = Gauge(label: "signet_policy_exceptions_active")
        let expiring = Gauge(label: "signet_policy_exceptions_expiring_seconds")
        while !Task.isCancelled {
            let report = monitor.observe(await source.current(), now: configuration.clock.now())
            bypasses.record(report.activeBypasses)
            exceptions.record(report.activeExceptions)
            expiring.record(report.nearestExceptionExpirySeconds)
            for transition in report.transitions { log(transition) }
            try? await Task.sleep(for: interval)
        }
    }

    func log(_ transition: ExemptionMonitor.Transition) {
        let use = transition.use
        var metadata: Logger.Metadata = [
            "event": "\(transition.event.rawValue)", "kind": "\(use.kind.rawValue)", "name": "\(use.qualifiedName)",
            "expires_at": "\(KubernetesTime.format(use.expiresAt))", "reason": "\(use.reason)",
        ]
        if let creator = use.attribution.createdBy { metadata["created_by"] = "\(creator)" }
        if let changer = use.attribution.lastChangedBy { metadata["last_changed_by"] = "\(changer)" }
        let level: Logger.Level = use.kind == .emergencyBypass ? .warning : .notice
        logger.log(level: level, "\(transition.message)", metadata: metadata)
    }
}
