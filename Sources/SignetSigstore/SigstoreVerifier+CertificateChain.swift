import Foundation
import SignetCrypto

extension SigstoreVerifier {
    /// The code-signing key purpose (RFC 5280 section 4.2.1.12, id-kp-codeSigning).
    static let codeSigningPurpose = "1.3.6.1.5.5.7.3.3"

    /// Step 3: the leaf is an end-entity code-signing certificate whose path ends at a trusted
    /// CA, validated at every verified signing time, with the CA trusted at that time
    /// (Sigstore client specification, "Certificate"; RFC 5280 section 6).
    func verifyCertificateChain(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        guard let leaf = run.bundle.certificate else { return .notApplicable("managed key, no certificate") }
        guard !leaf.isCertificateAuthority else {
            throw SigstoreVerificationFailure(.certificateChain("the signing certificate is a CA certificate"))
        }
        guard leaf.extendedKeyUsages?.contains(Self.codeSigningPurpose) == true else {
            throw SigstoreVerificationFailure(.certificateChain("the signing certificate lacks the code-signing extended key usage"))
        }
        // A certificate is valid only at a verified signing time; with none, nothing vouches for
        // when it was used, and the chain is not validated at all: refuse rather than pass.
        guard !run.timestamps.isEmpty else {
            throw SigstoreVerificationFailure(.certificateChain("no verified signing time to validate the certificate at"))
        }
        var details: [String] = []
        for timestamp in run.timestamps {
            var reasons: [String] = []
            var verified: VerifiedCertificateChain?
            for authority in trustedRoot.certificateAuthorities {
                guard authority.validity.contains(timestamp.time) else {
                    reasons.append("\(authority.uri) is trusted only \(authority.validity)")
                    continue
                }
                switch authority.chainVerifier.verify(leaf, at: timestamp.time) {
                case .success(let chain):
                    verified = chain
                case .failure(let error):
                    reasons.append("\(authority.uri): \(error)")
                }
                if verified != nil { break }
            }
            guard let chain = verified else {
                let why = reasons.isEmpty ? "the trusted root names no certificate authority" : reasons.joined(separator: "; ")
                throw SigstoreVerificationFailure(.certificateChain("not valid at \(timestamp): \(why)"))
            }
            run.chains.append(chain)
            details.append("to \(chain.root) at \(timestamp.time.formatted(.iso8601))")
        }
        return .passed(details.joined(separator: ", "))
    }

    /// Step 4: the leaf carries valid SCTs from enough distinct CT logs the trusted root names,
    /// each log trusted at the SCT's time (RFC 6962 section 3.3). As sigstore-go
    /// `VerifySignedCertificateTimestamp` does, an SCT from an unknown log, outside its log's
    /// validity, malformed or with an invalid signature is skipped, and each log counts once.
    func verifyCertificateTransparency(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        guard let leaf = run.bundle.certificate, let chain = run.chains.first else {
            return .notApplicable("managed key, no certificate")
        }
        let required = configuration.signedCertificateTimestampThreshold
        guard required > 0 else { return .notApplicable("no SCTs required") }
        let read: (timestamps: [SignedCertificateTimestamp], malformed: [String])
        do {
            read = try SignedCertificateTimestamp.embeddedReadingEach(in: leaf)
        } catch {
            throw SigstoreVerificationFailure(.certificateTransparency("\(error)"))
        }
        var valid: [TransparencyLogInstance] = []
        var reasons = read.malformed
        for sct in read.timestamps where !valid.contains(where: { $0.logID == sct.logID }) {
            guard let log = trustedRoot.certificateTransparencyLog(id: sct.logID) else {
                reasons.append("SCT from unknown log \(Base64.encode(sct.logID))")
                continue
            }
            guard log.validity.contains(sct.timestamp) else {
                reasons.append("\(log.baseURL) is trusted only \(log.validity), SCT at \(sct.timestamp.formatted(.iso8601))")
                continue
            }
            guard sct.verify(certificate: leaf, issuer: chain.issuer, logKey: log.publicKey) else {
                reasons.append("SCT signature by \(log.baseURL) does not verify")
                continue
            }
            valid.append(log)
        }
        guard valid.count >= required else {
            let why = read.timestamps.isEmpty && read.malformed.isEmpty ? "the certificate has no embedded SCTs" : reasons.joined(separator: "; ")
            let counted = "valid SCTs from \(valid.count) distinct trusted logs, \(required) required"
            throw SigstoreVerificationFailure(.certificateTransparency(why.isEmpty ? counted : "\(counted): \(why)"))
        }
        var detail = "SCT from " + valid.map(\.baseURL).joined(separator: ", ")
        if !reasons.isEmpty { detail += " (skipped: " + reasons.joined(separator: "; ") + ")" }
        return .passed(detail)
    }
}
