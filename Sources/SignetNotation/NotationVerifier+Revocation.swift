import Foundation
import SignetCrypto

extension NotationVerifier {
    /// Revocation by the CRLs the policy supplies (Notary Project trust store and trust policy
    /// specification, "Certificate Revocation Evaluation", "Revocation Checking with CRL"):
    /// for each certificate of the chain but the root, the CRLs its issuer signed are consulted;
    /// one past its `nextUpdate` makes the status unavailable (a failure), one that lists the
    /// certificate makes it revoked. No CRL or OCSP request is made: a certificate whose issuer
    /// has no supplied CRL is reported as not checked. A delta CRL is not a complete CRL: supplied,
    /// it makes the status unavailable. Returns the problem (nil when none) and
    /// what was checked.
    func revocationProblem(_ chain: [Certificate], now: Date) -> (String?, String) {
        guard !crls.isEmpty else {
            return (nil, "not checked: the policy supplies no CRL and signet makes no revocation requests")
        }
        var checked: [String] = []
        var unchecked: [String] = []
        for index in 0..<(chain.count - 1) {
            let certificate = chain[index]
            let issuer = chain[index + 1]
            let lists = crls.filter { $0.isIssued(by: issuer) }
            guard !lists.isEmpty else {
                unchecked.append(certificate.subject)
                continue
            }
            for list in lists {
                // A delta CRL lists only what changed since its base: taken for a complete CRL it
                // would call any certificate revoked before the base "not revoked".
                if list.isDelta {
                    return ("revocation unavailable: a supplied CRL of \"\(issuer.subject)\" is a delta CRL (RFC 5280 section 5.2.4); supply the complete CRL", "delta CRL")
                }
                if let next = list.nextUpdate, next < now {
                    return ("revocation unavailable: the CRL of \"\(issuer.subject)\" expired at \(next.formatted(.iso8601))", "CRL expired")
                }
                if let revoked = list.revocationDate(of: certificate) {
                    return ("the certificate \"\(certificate.subject)\" is revoked (since \(revoked.formatted(.iso8601)), CRL of \"\(issuer.subject)\")", "revoked")
                }
            }
            checked.append(certificate.subject)
        }
        var detail = checked.isEmpty ? "no supplied CRL covers the chain" : "not revoked per the supplied CRLs: " + checked.map { "\"\($0)\"" }.joined(separator: ", ")
        if !unchecked.isEmpty { detail += "; not checked (no CRL of their issuer supplied): " + unchecked.map { "\"\($0)\"" }.joined(separator: ", ") }
        return (nil, detail)
    }
}
