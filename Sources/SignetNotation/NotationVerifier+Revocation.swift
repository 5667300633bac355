import Foundation
import SignetCrypto

extension NotationVerifier {
    /// What the revocation evaluation of one certificate chain found.
    struct ChainRevocation {
        /// The first certificate a CRL lists, described; nil when none.
        var revoked: String?
        /// Why the status of a certificate cannot be told (a CRL past its nextUpdate, a delta
        /// CRL, a CRL that could not be downloaded, or revocation information no CRL covers);
        /// nil when every status is known.
        var unavailable: String?
        /// What was checked, for the report.
        var detail: String
        /// Distribution points to download before the evaluation can finish.
        var locationsToDownload: [String] = []
        /// Whether a download that could succeed later failed.
        var downloadFailedTransiently = false
    }

    /// The outcome of the revocation step.
    struct RevocationOutcome {
        var problem: String?
        var detail: String
        var locationsToDownload: [String]
        var downloadFailedTransiently: Bool
    }

    /// Revocation ("Certificate Revocation Evaluation" of the Notary Project trust store and
    /// trust policy specification), for each certificate of `chain` (leaf first) but its
    /// self-signed root:
    ///
    /// - a certificate without revocation information (no CRL distribution point, no OCSP
    ///   responder) is not revocable and passes, as the specification says;
    /// - one whose issuer signed a supplied CRL that covers it (``CertificateRevocationList/scopeProblem(for:location:)``)
    ///   is judged by the supplied CRLs alone;
    /// - otherwise, when downloads are on and `mayDownload` (the chain is trusted: an untrusted
    ///   chain could make signet request any URL it names), by the CRL of each of its
    ///   distribution points, downloaded from the point's `http` location, which must be
    ///   signed by its issuer, cover it and be current;
    /// - a listed certificate is revoked; a CRL past its `nextUpdate`, a delta CRL (RFC 5280
    ///   section 5.2.4, which lists only changes since its base), a CRL that could not be
    ///   downloaded or does not cover the certificate, an OCSP responder alone (signet does not
    ///   query OCSP), or revocation information nothing covers make the status unavailable, a
    ///   failure where the statement enforces revocation.
    ///
    /// A revoked certificate is reported before an unavailable status, as notation-go does.
    /// `role` names the chain in messages ("certificate", "TSA certificate").
    func revocation(of chain: [Certificate], role: String, now: Date, mayDownload: Bool) -> ChainRevocation {
        var result = ChainRevocation(detail: "")
        var checked: [String] = []
        var notRevocable: [String] = []
        func unavailable(_ reason: @autoclosure () -> String) {
            if result.unavailable == nil { result.unavailable = "revocation unavailable: " + reason() }
        }
        /// Judges `certificate` by `list` (already known to be issued by its issuer and to
        /// cover it); false when the list cannot tell its status.
        func judge(_ certificate: Certificate, by list: CertificateRevocationList, of issuer: Certificate, from location: String?) -> Bool {
            let source = location.map { "the CRL at \($0)" } ?? "the CRL of \"\(issuer.subject)\""
            if let revoked = list.revocationDate(of: certificate), result.revoked == nil {
                result.revoked = "the \(role) \"\(certificate.subject)\" is revoked (since \(revoked.formatted(.iso8601)), \(source))"
            }
            // A delta CRL lists only what changed since its base: taken for a complete CRL it
            // would call any certificate revoked before the base "not revoked".
            if list.isDelta {
                unavailable("\(source) is a delta CRL (RFC 5280 section 5.2.4); \(location == nil ? "supply" : "signet needs") the complete CRL")
                return false
            }
            if let next = list.nextUpdate, next < now {
                unavailable("\(source) expired at \(next.formatted(.iso8601)) (its nextUpdate)")
                return false
            }
            return true
        }
        for index in 0..<max(0, chain.count - 1) {
            let certificate = chain[index]
            let issuer = chain[index + 1]
            let supplied = crls.filter { $0.isIssued(by: issuer) && $0.scopeProblem(for: certificate, location: nil) == nil }
            if !supplied.isEmpty {
                let known = supplied.map { judge(certificate, by: $0, of: issuer, from: nil) }.allSatisfy { $0 }
                if known { checked.append("\"\(certificate.subject)\"") }
                continue
            }
            let points = certificate.crlDistributionPoints
            let responders = certificate.revocationSources.ocspResponders
            if points?.isEmpty == true && responders.isEmpty {
                notRevocable.append("\"\(certificate.subject)\"")
                continue
            }
            let ways = "supply a current CRL of its issuer \"\(issuer.subject)\" in the authority's crls, "
                + "or set revocation to log or skip in the trust policy statement's signatureVerification override"
            guard let points else {
                unavailable("the \(role) \"\(certificate.subject)\" has a CRL distribution points extension that cannot be read; \(ways)")
                continue
            }
            guard !points.isEmpty else {
                unavailable("the \(role) \"\(certificate.subject)\" publishes its revocation status through OCSP only (\(responders.joined(separator: ", "))), "
                    + "and signet does not query OCSP responders; \(ways)")
                continue
            }
            guard downloads.enabled, mayDownload else {
                let named = points.flatMap(\.locations).joined(separator: ", ")
                let why = downloads.enabled
                    ? "signet downloads CRLs only for a certificate chain that passed authenticity"
                    : "CRL downloads are off (--notation-crl-downloads)"
                unavailable("the \(role) \"\(certificate.subject)\" publishes its revocation status (CRL distribution point \(named.isEmpty ? "without a URI" : named)), and \(why); \(ways)")
                continue
            }
            var known = true
            var sources: [String] = []
            for point in points {
                guard !point.isPartial else {
                    unavailable("the \(role) \"\(certificate.subject)\" names a partial or indirect CRL distribution point, which signet does not process; \(ways)")
                    known = false
                    break
                }
                guard let location = CRLDownloads.location(of: point) else {
                    let named = point.locations.isEmpty ? "a name without a URI" : point.locations.joined(separator: ", ")
                    unavailable("the \(role) \"\(certificate.subject)\" names a CRL distribution point signet cannot download (\(named); only http locations are downloaded); \(ways)")
                    known = false
                    break
                }
                sources.append(location)
                switch downloads.results[location] {
                case nil:
                    result.locationsToDownload.append(location)
                    unavailable("the CRL at \(location) was not downloaded")
                    known = false
                case .failure(let failure):
                    if failure.isTransient { result.downloadFailedTransiently = true }
                    unavailable("the CRL of the \(role) \"\(certificate.subject)\" could not be downloaded from \(location): \(failure.description)")
                    known = false
                case .success(let list):
                    if !list.isIssued(by: issuer) {
                        unavailable("the CRL at \(location) is not signed by \"\(issuer.subject)\", the issuer of the \(role) \"\(certificate.subject)\"")
                        known = false
                    } else if let problem = list.scopeProblem(for: certificate, location: location) {
                        unavailable("the CRL at \(location) does not cover the \(role) \"\(certificate.subject)\": \(problem)")
                        known = false
                    } else if !judge(certificate, by: list, of: issuer, from: location) {
                        known = false
                    }
                }
            }
            if known { checked.append("\"\(certificate.subject)\" (CRL from \(sources.joined(separator: ", ")))") }
        }
        var parts: [String] = []
        if !checked.isEmpty { parts.append("not revoked per the CRLs: " + checked.joined(separator: ", ")) }
        if !notRevocable.isEmpty {
            parts.append("without revocation information, so not revocable: " + notRevocable.joined(separator: ", "))
        }
        result.detail = parts.isEmpty ? "nothing to check: the chain is its root alone" : parts.joined(separator: "; ")
        return result
    }

    /// The revocation step: the signing chain (CRLs downloaded only when `chainTrusted`) and,
    /// when a timestamp countersignature was verified, its TSA's chain as the authentic-timestamp
    /// step evaluated it (the specification's "Validate timestamp certificate and certificate
    /// chain revocation status").
    func revocationOutcome(_ chain: [Certificate], chainTrusted: Bool, timestamping: ChainRevocation? = nil, now: Date) -> RevocationOutcome {
        let signing = revocation(of: chain, role: "certificate", now: now, mayDownload: chainTrusted)
        var outcome = RevocationOutcome(
            problem: nil, detail: signing.detail + (timestamping.map { "; the TSA's chain: " + $0.detail } ?? ""),
            locationsToDownload: signing.locationsToDownload + (timestamping?.locationsToDownload ?? []),
            downloadFailedTransiently: signing.downloadFailedTransiently || timestamping?.downloadFailedTransiently == true)
        outcome.problem = signing.revoked ?? timestamping?.revoked ?? signing.unavailable ?? timestamping?.unavailable
        return outcome
    }

    /// ``revocationOutcome(_:chainTrusted:timestamping:now:)``'s problem (nil when none) and
    /// what was checked.
    func revocationProblem(_ chain: [Certificate], chainTrusted: Bool = true, timestamping: ChainRevocation? = nil, now: Date) -> (String?, String) {
        let outcome = revocationOutcome(chain, chainTrusted: chainTrusted, timestamping: timestamping, now: now)
        return (outcome.problem, outcome.detail)
    }
}
