import Foundation
import SignetAdmission
import SignetHistory
import SignetPolicy
import SignetVerify

/// The history entries of signet's decisions: an admission decision from its audit record, an
/// on-demand verification of `signet verify`, and one of the console's Verify page.
extension HistoryEntry {
    /// The history entry of an admission decision, from its audit record.
    public static func admission(_ record: AdmissionAuditRecord, time: Date) -> HistoryEntry {
        let (hits, misses) = cacheUse(of: record.verdicts)
        return HistoryEntry(
            source: .admission, time: time, namespace: record.namespace, objectKind: record.kind, name: record.name,
            user: record.user, operation: record.operation, dryRun: record.dryRun, uid: record.uid, peer: record.peer,
            clientCertificate: record.clientCertificate, fromAPIServer: record.fromAPIServer, latencyMs: record.latencyMs, allowed: record.allowed,
            reason: record.reason ?? record.namespaceOptOut.map { "namespace opted out (\($0))" }, policyRevision: record.policyRevision,
            cacheHits: hits, cacheMisses: misses, images: record.verdicts.map(HistoryImageRecord.init(verdict:)))
    }

    /// The history entry of an on-demand verification (`signet verify`) of `image`.
    public static func verification(_ result: VerificationResult, image: String, time: Date, latency: Duration) -> HistoryEntry {
        let record = HistoryImageRecord(
            image: image, reference: "\(HistoryImageRecord.repository(of: result.image))@\(result.digest)", digest: "\(result.digest)",
            policies: [result.policy], authorities: ["\(result.policy)/\(result.authority): \(result.passed ? "passed" : "failed")"],
            verdict: result.passed ? ImageOutcome.allow.rawValue : ImageOutcome.deny.rawValue, reason: result.reason,
            trustChain: result.passed ? trustChain(of: result.signers) : "")
        return HistoryEntry(
            source: .verification, time: time, latencyMs: latency.consoleMilliseconds, allowed: result.passed,
            reason: result.reason, cacheHits: result.cache == .hit ? 1 : 0, cacheMisses: result.cache == .hit ? 0 : 1, images: [record])
    }

    /// The history entry of a finished console verification: source `console`, the user the
    /// TokenReview named, the namespace asked for, the verdict as admission would give it (a dry
    /// run, since nothing was admitted), and the chain of each authority that vouched.
    public static func console(_ run: VerificationRun, time: Date) -> HistoryEntry? {
        guard run.state == .finished, let verdict = run.verdict else { return nil }
        var image = HistoryImageRecord(verdict: verdict)
        image.container = nil
        let chains = run.authorities.compactMap { report in
            report.result.flatMap { $0.passed ? "\(report.policy)/\(report.authority): " + trustChain(of: $0.signers) : nil }
        }
        if !chains.isEmpty { image.trustChain = chains.joined(separator: "; ") }
        if image.digest == nil { image.digest = run.digest }
        // The console's verifier reports each authority's engine result, which says whether it came from the cache.
        let hits = run.authorities.filter { $0.result?.cache == .hit }.count
        let misses = run.authorities.count - hits
        return HistoryEntry(
            source: .console, time: time, namespace: run.namespace, objectKind: "Pod", name: "signet-console-verify", user: run.user,
            operation: "CREATE", dryRun: true, uid: run.id, latencyMs: run.totalMilliseconds ?? 0, allowed: verdict.outcome != .deny,
            reason: verdict.reason, cacheHits: hits, cacheMisses: misses, images: [image])
    }

    /// Signature authorities answered from the cache and those asked of the verifier.
    static func cacheUse(of verdicts: [ImageVerdict]) -> (hits: Int, misses: Int) {
        var hits = 0, misses = 0
        for verdict in verdicts {
            for result in verdict.results {
                for authority in result.authorities {
                    switch authority.cache {
                    case .hit?: hits += 1
                    case .miss?: misses += 1
                    case nil: break
                    }
                }
            }
        }
        return (hits, misses)
    }

    /// Who vouched, in one line: each signer's certificate path (root first) and identity, or its key.
    static func trustChain(of signers: [VerificationResult.Signer]) -> String {
        signers.map { signer in
            var parts: [String] = []
            if let chain = signer.certificateChain, !chain.isEmpty { parts.append(chain.reversed().joined(separator: " → ")) }
            if let identity = signer.identity {
                parts.append(identity + (signer.issuer.map { " issued by \($0)" } ?? "") + ", \(signer.key)")
            } else {
                parts.append("\(signer.key) \(signer.algorithm) sha256:\(signer.fingerprint)")
            }
            return parts.joined(separator: ": ")
        }.joined(separator: "; ")
    }
}

extension HistoryImageRecord {
    /// One image of an admission decision: its policies and how each authority decided, the
    /// authorities that vouched for it (and the Sigstore trust root they checked against) as
    /// the trust chain, and the exceptions or bypass that let it in.
    public init(verdict: ImageVerdict) {
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
            image: verdict.image, reference: verdict.reference, digest: digest,
            // An image volume may share a container's name: it says what it is.
            container: verdict.containerType == .imageVolume ? "\(verdict.container) (image volume)" : verdict.container,
            policies: verdict.policies,
            authorities: authorities, verdict: verdict.outcome.rawValue, reason: verdict.reason, trustChain: vouched.joined(separator: "; "),
            exemptions: verdict.exemptions.map { "\($0.kind == .emergencyBypass ? "EmergencyBypass" : "PolicyException") \($0.qualifiedName)" })
    }
}
