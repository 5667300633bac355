import Foundation
import SignetAdmission
import SignetHistory
import SignetPolicy
import SignetVerify

/// Hands every admission decision to the history (``HistoryRecorder``) besides the audit sink
/// it wraps: one ``HistoryEntry`` per `admission` audit record (the extra `emergency-bypass`
/// records of a decision are not decisions of their own). Only queues: the entry is built by the
/// recorder's writer, off the admission path; the time is read here, from `clock`.
struct HistoryAuditSink: AuditSink {
    let recorder: HistoryRecorder
    /// The audit sink in force before history was added (standard output), if any.
    let next: (any AuditSink)?
    var clock: @Sendable () -> Date = { Date() }

    func record(_ record: AdmissionAuditRecord) {
        next?.record(record)
        guard record.event == "admission" else { return }
        let time = clock()
        recorder.record(deferred: { HistoryEntry.admission(record, time: time) })
    }
}

extension HistoryEntry {
    /// The history entry of an admission decision, from its audit record.
    static func admission(_ record: AdmissionAuditRecord, time: Date) -> HistoryEntry {
        HistoryEntry(
            source: .admission, time: time, namespace: record.namespace, objectKind: record.kind, name: record.name,
            user: record.user, operation: record.operation, dryRun: record.dryRun, uid: record.uid, peer: record.peer,
            clientCertificate: record.clientCertificate, latencyMs: record.latencyMs, allowed: record.allowed,
            reason: record.reason ?? record.namespaceOptOut.map { "namespace opted out (\($0))" }, policyRevision: record.policyRevision,
            images: record.verdicts.map(HistoryImageRecord.init(verdict:)))
    }

    /// The history entry of an on-demand verification (`signet verify`) of `image`.
    static func verification(_ result: VerificationResult, image: String, time: Date, latency: Duration) -> HistoryEntry {
        let (seconds, attoseconds) = latency.components
        let trustChain = result.signers.map { signer in
            if let identity = signer.identity {
                return "\(identity)" + (signer.issuer.map { " issued by \($0)" } ?? "") + ", \(signer.key)"
            }
            return "\(signer.key) \(signer.algorithm) sha256:\(signer.fingerprint)"
        }.joined(separator: "; ")
        let record = HistoryImageRecord(
            image: image, reference: "\(HistoryImageRecord.repository(of: result.image))@\(result.digest)", digest: "\(result.digest)",
            policies: [result.policy], authorities: ["\(result.policy)/\(result.authority): \(result.passed ? "passed" : "failed")"],
            verdict: result.passed ? ImageOutcome.allow.rawValue : ImageOutcome.deny.rawValue, reason: result.reason,
            trustChain: result.passed ? trustChain : "")
        return HistoryEntry(
            source: .verification, time: time, latencyMs: Double(seconds) * 1000 + Double(attoseconds) / 1e15, allowed: result.passed,
            reason: result.reason, images: [record])
    }
}

extension HistoryImageRecord {
    /// One image of an admission decision: its policies and how each authority decided, the
    /// authorities that vouched for it (and the Sigstore trust root they checked against) as
    /// the trust chain, and the exceptions or bypass that let it in.
    init(verdict: ImageVerdict) {
        var authorities: [String] = []
        var vouched: [String] = []
        for result in verdict.results {
            for authority in result.authorities {
                authorities.append("\(result.policy)/\(authority.authority): \(authority.status.rawValue)")
                guard authority.status == .passed else { continue }
                let root = authority.trustRoot.map { " via \($0)" } ?? ""
                let passedSteps = authority.steps.filter(\.passed).map(\.name)
                vouched.append("\(result.policy)/\(authority.authority)\(root)" + (passedSteps.isEmpty ? "" : " (\(passedSteps.joined(separator: ", ")))"))
            }
        }
        let digest = verdict.verifiedDigest.map { "\($0)" } ?? verdict.reference.flatMap { reference in
            reference.firstIndex(of: "@").map { String(reference[reference.index(after: $0)...]) }
        }
        self.init(
            image: verdict.image, reference: verdict.reference, digest: digest, container: verdict.container, policies: verdict.policies,
            authorities: authorities, verdict: verdict.outcome.rawValue, reason: verdict.reason, trustChain: vouched.joined(separator: "; "),
            exemptions: verdict.exemptions.map { "\($0.kind == .emergencyBypass ? "EmergencyBypass" : "PolicyException") \($0.qualifiedName)" })
    }
}
