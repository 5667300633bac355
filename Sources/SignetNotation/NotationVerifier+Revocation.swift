import Foundation
import SignetCrypto

extension NotationVerifier {
    /// What the revocation evaluation of one certificate chain found.
    struct ChainRevocation {
        /// The first certificate a supplied CRL lists, described; nil when none.
        var revoked: String?
        /// Why the status of a certificate cannot be told (a CRL past its nextUpdate, a delta
        /// CRL, or revocation information that no supplied CRL covers); nil when every status is known.
        var unavailable: String?
        /// What was checked, for the report.
        var detail: String
    }

    /// Revocation ("Certificate Revocation Evaluation" of the Notary Project trust store and
    /// trust policy specification), by the CRLs the policy supplies, for each certificate of
    /// `chain` (leaf first) but its self-signed root:
    ///
    /// - a certificate without revocation information (no CRL distribution point, no OCSP
    ///   responder) is not revocable and passes, as the specification says;
    /// - one whose issuer signed a supplied CRL is judged by it: listed is revoked; a CRL past
    ///   its `nextUpdate`, or a delta CRL (RFC 5280 section 5.2.4, which lists only changes since
    ///   its base and so never stands for a complete CRL), makes the status unavailable;
    /// - one that carries revocation information no supplied CRL covers: signet makes no CRL or
    ///   OCSP requests, so its status cannot be determined, which the specification counts as
    ///   "revocation unavailable", a failure where the statement enforces revocation.
    ///
    /// A revoked certificate is reported before an unavailable status, as notation-go does.
    /// `role` names the chain in messages ("certificate", "TSA certificate").
    func revocation(of chain: [Certificate], role: String, now: Date) -> ChainRevocation {
        var result = ChainRevocation(detail: "")
        var checked: [String] = []
        var notRevocable: [String] = []
        for index in 0..<max(0, chain.count - 1) {
            let certificate = chain[index]
            let issuer = chain[index + 1]
            let lists = crls.filter { $0.isIssued(by: issuer) }
            guard !lists.isEmpty else {
                let (points, responders) = certificate.revocationSources
                if points.isEmpty && responders.isEmpty {
                    notRevocable.append(certificate.subject)
                } else if result.unavailable == nil {
                    let named = (points.map { "CRL distribution point \($0)" } + responders.map { "OCSP responder \($0)" }).joined(separator: ", ")
                    result.unavailable = "revocation unavailable: the \(role) \"\(certificate.subject)\" publishes its revocation status (\(named)), "
                        + "and signet makes no CRL or OCSP requests; supply a current CRL of its issuer \"\(issuer.subject)\" in the authority's crls, "
                        + "or set revocation to log or skip in the trust policy statement's signatureVerification override"
                }
                continue
            }
            var covered = true
            for list in lists {
                // A delta CRL lists only what changed since its base: taken for a complete CRL it
                // would call any certificate revoked before the base "not revoked".
                if list.isDelta {
                    if result.unavailable == nil {
                        result.unavailable = "revocation unavailable: a supplied CRL of \"\(issuer.subject)\" is a delta CRL (RFC 5280 section 5.2.4); supply the complete CRL"
                    }
                    covered = false
                } else if let next = list.nextUpdate, next < now {
                    if result.unavailable == nil {
                        result.unavailable = "revocation unavailable: the CRL of \"\(issuer.subject)\" expired at \(next.formatted(.iso8601))"
                    }
                    covered = false
                }
                if let revoked = list.revocationDate(of: certificate), result.revoked == nil {
                    result.revoked = "the \(role) \"\(certificate.subject)\" is revoked (since \(revoked.formatted(.iso8601)), CRL of \"\(issuer.subject)\")"
                }
            }
            if covered { checked.append(certificate.subject) }
        }
        var parts: [String] = []
        if !checked.isEmpty { parts.append("not revoked per the supplied CRLs: " + checked.map { "\"\($0)\"" }.joined(separator: ", ")) }
        if !notRevocable.isEmpty {
            parts.append("without revocation information, so not revocable: " + notRevocable.map { "\"\($0)\"" }.joined(separator: ", "))
        }
        result.detail = parts.isEmpty ? "nothing to check: the chain is its root alone" : parts.joined(separator: "; ")
        return result
    }

    /// The revocation step: the signing chain and, when a timestamp countersignature was
    /// verified, its TSA's chain as the authentic-timestamp step evaluated it (the
    /// specification's "Validate timestamp certificate and certificate chain revocation
    /// status"). Returns the problem (nil when none) and what was checked.
    func revocationProblem(_ chain: [Certificate], timestamping: ChainRevocation? = nil, now: Date) -> (String?, String) {
        let signing = revocation(of: chain, role: "certificate", now: now)
        let detail = signing.detail + (timestamping.map { "; the TSA's chain: " + $0.detail } ?? "")
        if let revoked = signing.revoked ?? timestamping?.revoked { return (revoked, "revoked") }
        if let unavailable = signing.unavailable ?? timestamping?.unavailable { return (unavailable, "unavailable") }
        return (nil, detail)
    }
}
