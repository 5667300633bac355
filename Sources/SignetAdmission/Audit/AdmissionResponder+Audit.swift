import Foundation
import Logging
import Metrics
import SignetPolicy
import SignetRegistry

/// What the policy evaluation of one request produced, for audit records.
struct DecisionOutcome: Sendable {
    var subject: AdmissionSubject
    var decision: AdmissionDecision
    var revision: String
}

extension AdmissionResponder {
    /// Audit annotations naming the exemptions used: `exemptions` (a `; `-separated list such
    /// as `PolicyException "billing/legacy" (valid until 2026-12-01T00:00:00Z)`) and
    /// `emergency-bypass` (the bypass names and expiries) when a bypass was used.
    static func annotateExemptions(_ decision: AdmissionDecision, into annotations: inout [String: String]) {
        let used = decision.exemptionsUsed
        guard !used.isEmpty else { return }
        annotations["exemptions"] = used.map(\.description).joined(separator: "; ")
        let bypasses = used.filter { $0.kind == .emergencyBypass }
        if !bypasses.isEmpty {
            annotations["emergency-bypass"] = bypasses.map(\.description).joined(separator: "; ")
        }
    }

    /// The verdicts' reasons joined by `; `, read in place.
    /// Past ``maximumListedItems`` verdicts, ``listed(_:more:)`` of their reasons, as a deny's
    /// message lists its denials.
    static func joinedReasons(_ verdicts: [ImageVerdict]) -> String {
        guard verdicts.count <= maximumListedItems else {
            return listed(verdicts.map(\.reason), more: "images").joined(separator: "; ")
        }
        var text = ""
        text.reserveCapacity(verdicts.indices.reduce(0) { $0 + verdicts[$1].reason.utf8.count + 2 })
        for index in verdicts.indices {
            if index > 0 { text += "; " }
            text += verdicts[index].reason
        }
        return text
    }

    /// Counts and logs an admission the namespace opt-out label let in unevaluated:
    /// `signet_namespace_opt_out_admissions_total{kind,dry_run}` (bounded labels: the kind as
    /// ``AdmissionMetrics/kindLabel(_:)`` names it, never the namespace) and a `notice` line
    /// naming the namespace, object and user.
    func recordOptOut(_ request: AdmissionRequest, label: String) {
        let dryRun = request.dryRun ?? false
        AdmissionMetrics.shared.countOptOut(kind: request.kind.kind, dryRun: dryRun)
        logger.notice("namespace opted out: admitted without image checks", metadata: [
            "uid": "\(request.uid)", "namespace": "\(request.namespace ?? "")", "kind": "\(request.kind.kind)",
            "name": "\(request.name ?? "")", "user": "\(request.userInfo?.username ?? "")", "label": "\(label)",
            "operation": "\(request.operation.rawValue)", "dry_run": "\(dryRun)",
        ])
    }

    /// Writes the audit record(s) and the per-exemption metrics of one answered request.
    ///
    /// Metrics: `signet_emergency_bypass_uses_total{bypass,dry_run}` and
    /// `signet_policy_exception_uses_total{exception,dry_run}` per use; a dry run counts under
    /// `dry_run="true"`. `signet_policy_violations_total{policy,mode}` counts failed policies of
    /// real (not dry-run) admissions only. None of them counts a review not known to come from
    /// the API server (``AdmissionClient/fromAPIServer``).
    /// The `exception` label: the first 512 exceptions used keep their name, later ones count as
    /// `other`. Whoever may write exceptions in a namespace can make, use and delete them under
    /// new names without end, and each name was a series kept for the life of the process.
    static let exceptionLabels = BoundedMetricLabel(capacity: 512)
    /// The `bypass` label, a table of its own (the first 128 bypasses used): exceptions, which
    /// tenants may write, cannot take the places of bypasses, which only administrators do.
    static let bypassLabels = BoundedMetricLabel(capacity: 128)

    func recordAudit(
        _ request: AdmissionRequest, response: AdmissionResponse, outcome: DecisionOutcome?, latency: Duration, client: AdmissionClient
    ) {
        let dryRun = request.dryRun ?? false
        let decision = outcome?.decision
        // A deny's reason is the message the client got (its first denials, the rest counted),
        // an allow's its images' reasons, cut alike; every image's verdict is in `images`.
        let reason = response.status?.message ?? decision.map { Self.joinedReasons($0.verdicts) }
        let time = resourceValidator.configuration.clock.now()
        // A subject is one shared object: taking the outcome's costs one reference count.
        let subject = outcome?.subject ?? AdmissionSubject(
            namespace: request.namespace, name: request.name, kind: Self.subjectKind(request.kind), operation: request.operation.rawValue,
            dryRun: dryRun, userName: request.userInfo?.username)
        let record = AdmissionAuditRecord.make(
            uid: request.uid, subject: subject, allowed: response.allowed, reason: reason, decision: decision,
            policyRevision: outcome?.revision, latency: latency, time: time, client: client)
        auditSink?.record(record)

        // What follows counts and logs admissions; a scan's decision is not one. A review not
        // known to come from the API server counts in no use or violation metric either (the
        // chart's rules alert on bypass uses): its log lines and audit records say what it was.
        guard let decision, source == .admission else { return }
        let counted = client.fromAPIServer
        if let optOut = decision.namespaceOptOut { recordOptOut(request, label: optOut) }
        for exemption in record.exemptions {
            switch exemption.kind {
            case .emergencyBypass:
                if counted {
                    Counter(label: "signet_emergency_bypass_uses_total", dimensions: [
                        ("bypass", Self.bypassLabels.label(for: exemption.name)), ("dry_run", dryRun ? "true" : "false"),
                    ]).increment()
                }
                Logger(label: "signet.audit").warning("emergency bypass used", metadata: [
                    "uid": "\(request.uid)", "bypass": "\(exemption.name)", "expires_at": "\(KubernetesTime.format(exemption.expiresAt))",
                    "namespace": "\(request.namespace ?? "")", "kind": "\(request.kind.kind)", "name": "\(request.name ?? "")",
                    "user": "\(request.userInfo?.username ?? "")", "dry_run": "\(dryRun)",
                    "peer": "\(client.address ?? "")", "from_api_server": "\(client.fromAPIServer)",
                ])
                var event = record
                event.event = "emergency-bypass"
                event.exemptions = [exemption]
                event.verdicts = record.verdicts.filter { $0.exemptions.contains(exemption) }
                auditSink?.record(event)
                // A review not known to be the API server's writes no Event (any Pod could
                // otherwise write them naming a user of its choice): the audit line says it.
                if !dryRun, client.fromAPIServer, let eventSink {
                    eventSink.bypassUsed(BypassUse(
                        bypass: exemption, apiVersion: request.kind.group.isEmpty ? request.kind.version : "\(request.kind.group)/\(request.kind.version)",
                        kind: request.kind.kind, namespace: request.namespace, name: record.name ?? "", uid: subject.uid, user: request.userInfo?.username,
                        images: event.verdicts.map { $0.reference ?? $0.image }, time: time, peer: client.address))
                }
            case .policyException where counted:
                Counter(label: "signet_policy_exception_uses_total", dimensions: [
                    ("exception", Self.exceptionLabels.label(for: exemption.qualifiedName)), ("dry_run", dryRun ? "true" : "false"),
                ]).increment()
            case .policyException:
                break
            }
        }
        if !dryRun, counted {
            // By index: the verdicts and results are read in place, not copied one by one.
            for verdict in decision.verdicts.indices {
                let results = decision.verdicts[verdict].results
                for result in results.indices where !results[result].passed {
                    Counter(label: "signet_policy_violations_total", dimensions: [
                        ("policy", results[result].policy), ("mode", results[result].mode.rawValue),
                    ]).increment()
                }
            }
        }
    }
}
