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

    /// Step 4: the leaf carries enough valid SCTs from CT logs the trusted root names, each log
    /// trusted at the SCT's time (RFC 6962 section 3.3).
    func verifyCertificateTransparency(_ run: inout Run) throws(SigstoreVerificationFailure) -> SigstoreVerificationStep.Outcome {
        guard let leaf = run.bundle.certificate, let chain = run.chains.first else {
            return .notApplicable("managed key, no certificate")
        }
        let required = configuration.signedCertificateTimestampThreshold
        guard required > 0 else { return .notApplicable("no SCTs required") }
        let timestamps: [SignedCertificateTimestamp]
        do {
            timestamps = try SignedCertificateTimestamp.embedded(in: leaf)
        } catch {
            throw SigstoreVerificationFailure(.certificateTransparency("\(error)"))
        }
        var valid: [String] = []
        var reasons: [String] = []
        for sct in timestamps {
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
            valid.append(log.baseURL)
        }
        guard valid.count >= required else {
            let why = timestamps.isEmpty ? "the certificate has no embedded SCTs" : reasons.joined(separator: "; ")
            throw SigstoreVerificationFailure(.certificateTransparency("\(valid.count) valid SCTs, \(required) required: \(why)"))
        }
        return .passed("SCT from " + valid.joined(separator: ", "))
    }
}
