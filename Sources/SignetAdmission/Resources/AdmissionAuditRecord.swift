import Foundation
import SignetPolicy

/// One structured audit record per admission decision, written as a single JSON line.
///
/// Fields (stable; documented in README.md, "Audit trail"): `event` (`admission`, or
/// `emergency-bypass` for the extra record of each bypass use), `time` (RFC 3339), `uid`,
/// `namespace`, `kind`, `name`, `user`, `operation`, `dryRun`, `allowed`, `reason`,
/// `policyRevision`, `latencyMs`, `images` (each with `image`, `reference`, `digest` when the
/// reference pins one, `container`, `verdict`, `policies`, `authorities`, `reason`,
/// `exemptions`), and `exemptions` (every PolicyException or EmergencyBypass used).
/// The request fields mirror Kubernetes `admission.k8s.io/v1` `AdmissionRequest`.
public struct AdmissionAuditRecord: Sendable, Encodable {
    public var event: String
    public var time: String
    public var uid: String
    public var namespace: String?
    public var kind: String
    public var name: String?
    public var user: String?
    public var operation: String
    public var dryRun: Bool
    public var allowed: Bool
    public var reason: String?
    public var policyRevision: String?
    public var latencyMs: Double
    public var images: [Image]
    public var exemptions: [ExemptionUse]

    /// One image of the decision.
    public struct Image: Sendable, Encodable {
        public var image: String
        public var reference: String?
        public var digest: String?
        public var container: String
        public var containerType: String
        public var verdict: String
        public var policies: [String]
        public var authorities: [Authority]
        public var reason: String
        public var exemptions: [ExemptionUse]
    }

    /// How one authority of one policy decided.
    public struct Authority: Sendable, Encodable {
        public var policy: String
        public var authority: String
        public var status: String
    }

    /// Builds the record of `decision` (nil when no image was evaluated) for `subject`.
    public static func make(
        uid: String, subject: AdmissionSubject, allowed: Bool, reason: String?, decision: AdmissionDecision?,
        policyRevision: String?, latency: Duration, time: Date
    ) -> AdmissionAuditRecord {
        let images = (decision?.verdicts ?? []).map { verdict in
            Image(
                image: verdict.image, reference: verdict.reference,
                digest: verdict.reference.flatMap(Self.digest(of:)),
                container: verdict.container, containerType: verdict.containerType.rawValue,
                verdict: verdict.outcome.rawValue, policies: verdict.policies,
                authorities: verdict.results.flatMap { result in
                    result.authorities.map { Authority(policy: result.policy, authority: $0.authority, status: $0.status.rawValue) }
                },
                reason: verdict.reason, exemptions: verdict.exemptions)
        }
        let (seconds, attoseconds) = latency.components
        return AdmissionAuditRecord(
            event: "admission", time: KubernetesTime.format(time), uid: uid, namespace: subject.namespace, kind: subject.kind,
            name: subject.name, user: subject.userName, operation: subject.operation, dryRun: subject.dryRun,
            allowed: allowed, reason: reason, policyRevision: policyRevision,
            latencyMs: Double(seconds) * 1000 + Double(attoseconds) / 1e15,
            images: images, exemptions: decision?.exemptionsUsed ?? [])
    }

    /// `sha256:…` when `reference` names a digest.
    static func digest(of reference: String) -> String? {
        guard let at = reference.lastIndex(of: "@") else { return nil }
        return String(reference[reference.index(after: at)...])
    }

    /// The record as one line of JSON (keys sorted).
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{\"event\":\"\(event)\",\"uid\":\"\(uid)\"}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Where audit records go (one ``AdmissionAuditRecord`` per decision, the signet design's
/// "audit event"). ``StandardOutputAuditSink`` writes one JSON line (RFC 8259) per record.
public protocol AuditSink: Sendable {
    func record(_ record: AdmissionAuditRecord)
}

/// Writes each record as one JSON line (RFC 8259, newline-delimited) on standard output (logs
/// go to standard error), so a log shipper can tell the audit trail from diagnostics.
public struct StandardOutputAuditSink: AuditSink {
    private static let lock = NSLock()

    public init() {}

    public func record(_ record: AdmissionAuditRecord) {
        let line = record.jsonLine + "\n"
        Self.lock.lock()
        defer { Self.lock.unlock() }
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}
