import Foundation
import SignetAdmission
import SignetPolicy

extension Alert {
    /// The alert for a running image a scan found untrusted.
    public static func untrustedRunning(_ finding: ImageFinding, time: Date) -> Alert {
        Alert(
            kind: .untrustedRunning,
            summary: "untrusted image running in \(finding.namespace): Pod \(finding.pod), container \(finding.container)",
            namespace: finding.namespace, object: "Pod/\(finding.pod)", images: [finding.image], policies: finding.policies,
            reason: finding.reason, time: KubernetesTime.format(time), exemption: finding.exemption)
    }

    /// The alert an admission audit record calls for: a deny, or an emergency-bypass use (the
    /// record of event `emergency-bypass`); `nil` for anything else and for dry runs.
    public static func forAdmission(_ record: AdmissionAuditRecord) -> Alert? {
        guard !record.dryRun else { return nil }
        let object = record.name.map { "\(record.kind)/\($0)" } ?? record.kind
        let images = record.verdicts.map { $0.reference ?? $0.image }
        let policies = Array(Set(record.verdicts.flatMap(\.policies))).sorted()
        let place = record.namespace.map { " in \($0)" } ?? ""
        if record.event == "emergency-bypass", let bypass = record.exemptions.first {
            return Alert(
                kind: .bypass, summary: "EmergencyBypass \(bypass.name) admitted \(object)\(place) by \(record.user ?? "an unknown user")",
                namespace: record.namespace, object: object, images: images, policies: policies,
                reason: bypass.reason, time: record.time, exemption: bypass.description)
        }
        guard record.event == "admission", !record.allowed else { return nil }
        return Alert(
            kind: .deny, summary: "signet denied \(object)\(place) for \(record.user ?? "an unknown user")",
            namespace: record.namespace, object: object, images: images, policies: policies,
            reason: record.reason ?? "denied", time: record.time)
    }
}

/// An ``AuditSink`` that queues an alert for each deny and each emergency-bypass use, then
/// hands the record on to `next`; it never waits for delivery.
public struct AlertingAuditSink: AuditSink {
    let dispatcher: AlertDispatcher
    let next: (any AuditSink)?

    public init(dispatcher: AlertDispatcher, next: (any AuditSink)?) {
        self.dispatcher = dispatcher
        self.next = next
    }

    public func record(_ record: AdmissionAuditRecord) {
        if let alert = Alert.forAdmission(record) { dispatcher.enqueue(alert) }
        next?.record(record)
    }
}
