import Foundation
import SignetAdmission
import SignetPolicy

extension Alert {
    /// `alerts` taken one namespace at a time in turn (the first of each namespace, then the
    /// second of each, ...), each namespace's in its order: when a queue fills, every namespace
    /// has had alerts in it, not only those whose names sort first.
    public static func interleavedByNamespace(_ alerts: [Alert]) -> [Alert] {
        var rank: [String: Int] = [:]
        let ranked = alerts.enumerated().map { position, alert -> (Int, Int, Alert) in
            let namespace = alert.namespace ?? ""
            let index = rank[namespace, default: 0]
            rank[namespace] = index + 1
            return (index, position, alert)
        }
        return ranked.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
    }

    /// The alerts for the running images a scan found untrusted: one per image in each
    /// namespace, however many Pods run it (the replicas of one Deployment are one finding), in
    /// the order found. The alert names the Pod (`object`) when one runs the image, else it lists
    /// the first five Pods in its summary and counts the rest.
    public static func untrustedRunning(_ findings: [ImageFinding], time: Date) -> [Alert] {
        running(findings.filter(\.isUntrusted), kind: .untrustedRunning, summary: "untrusted image running", time: time)
    }

    /// The alerts for running images that could not be verified (`error`), grouped as
    /// ``untrustedRunning(_:time:)`` groups: the caller passes those whose verification has
    /// kept failing for longer than a passing outage.
    public static func unverifiableRunning(_ findings: [ImageFinding], time: Date) -> [Alert] {
        running(findings.filter(\.isUnverifiable), kind: .unverifiableRunning, summary: "running image cannot be verified", time: time)
    }

    /// One alert of `kind` per image in each namespace of `findings`.
    private static func running(_ findings: [ImageFinding], kind: Kind, summary: String, time: Date) -> [Alert] {
        var order: [String] = []
        var groups: [String: [ImageFinding]] = [:]
        for finding in findings {
            let key = "\(finding.namespace) \(finding.image)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(finding)
        }
        return order.map { key in
            let group = groups[key]!
            let first = group[0]
            var pods: [String] = []
            for finding in group where !pods.contains(finding.pod) { pods.append(finding.pod) }
            let volumes = Set(group.filter(\.isImageVolume).map(\.container)).sorted().joined(separator: ", ")
            let containers = Set(group.filter { !$0.isImageVolume }.map(\.container)).sorted().joined(separator: ", ")
            let uses = [containers.isEmpty ? nil : "container \(containers)", volumes.isEmpty ? nil : "image volume \(volumes)"]
                .compactMap { $0 }.joined(separator: ", ")
            let place = pods.count == 1
                ? "Pod \(pods[0])"
                : "\(pods.count) Pods (\(pods.prefix(5).joined(separator: ", "))\(pods.count > 5 ? " and \(pods.count - 5) more" : ""))"
            return Alert(
                kind: kind, summary: "\(summary) in \(first.namespace): \(place), \(uses)",
                namespace: first.namespace, object: pods.count == 1 ? "Pod/\(pods[0])" : nil, images: [first.image],
                policies: Array(Set(group.flatMap(\.policies))).sorted(), reason: first.reason, time: KubernetesTime.format(time),
                exemption: first.exemption)
        }
    }

    /// The alert an admission audit record calls for: a deny, or an emergency-bypass use (the
    /// record of event `emergency-bypass`); `nil` for anything else, for dry runs, and for a
    /// review not known to come from the API server (``AdmissionClient/fromAPIServer``: any Pod
    /// that can reach the webhook could otherwise spend a namespace's alert budget, or raise
    /// alerts naming a user of its choice).
    public static func forAdmission(_ record: AdmissionAuditRecord) -> Alert? {
        guard !record.dryRun, record.fromAPIServer else { return nil }
        let object = record.name.map { "\(record.kind)/\($0)" } ?? record.kind
        let images = record.verdicts.map { $0.reference ?? $0.image }
        let policies = Array(Set(record.verdicts.flatMap(\.policies))).sorted()
        let place = record.namespace.map { " in \($0)" } ?? ""
        if record.event == "emergency-bypass", let bypass = record.exemptions.first {
            return Alert(
                kind: .bypass, summary: "EmergencyBypass \(bypass.name) admitted \(object)\(place) by \(record.user ?? "an unknown user")",
                namespace: record.namespace, object: object, images: images, policies: policies,
                reason: bypass.reason, time: record.time, exemption: bypass.description, peer: record.peer,
                clientCertificate: record.clientCertificate)
        }
        guard record.event == "admission", !record.allowed else { return nil }
        return Alert(
            kind: .deny, summary: "signet denied \(object)\(place) for \(record.user ?? "an unknown user")",
            namespace: record.namespace, object: object, images: images, policies: policies,
            reason: record.reason ?? "denied", time: record.time, peer: record.peer, clientCertificate: record.clientCertificate)
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
