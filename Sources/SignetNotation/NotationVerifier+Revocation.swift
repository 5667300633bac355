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
        /// Downloaded CRLs found unusable (not the issuer's, out of scope, without nextUpdate):
        /// the downloader should not keep them.
        var rejectedDownloads: [String] = []
        /// The chain evaluated, signing (or TSA) certificate first.
        var chain: [Certificate] = []
    }

    /// The outcome of the revocation step.
    struct RevocationOutcome {
        var problem: String?
        var detail: String
        var locationsToDownload: [String]
        var downloadFailedTransiently: Bool
        var rejectedDownloads: [String]
    }

    /// Revocation ("Certificate Revocation Evaluation" of the Notary Project trust store and
    /// trust policy specification), for each certificate of `chain` (leaf first) but its
    /// self-signed root:
    ///
    /// - a certificate without revocation information (no CRL distribution point, no OCSP
    ///   responder) is not revocable and passes, as the specification says;
    /// - otherwise its status is known when a current, complete CRL of its issuer that covers it
    ///   (``CertificateRevocationList/scopeProblem(for:location:)``) was judged: a supplied one,
    ///   or, when downloads are on and `mayDownload` (the chain is trusted: an untrusted chain
    ///   could make signet request any URL it names), the CRL of each of its distribution
    ///   points, downloaded from the point's `http` location. With downloads on, a certificate
    ///   a supplied CRL covers has its CRLs downloaded too, and a listing in either counts;
    /// - a CRL is current while its `nextUpdate` has not passed (one without `nextUpdate` never
    ///   shows it is current, RFC 5280 section 5.1.2.5); a CRL that announces delta CRLs (the
    ///   freshest CRL extension of the CRL or the certificate, RFC 5280 section 5.2.6) is
    ///   complete only with a current delta CRL of the same issuer that updates it (supplied, or
    ///   downloaded), whose listings count as the base's do (`removeFromCRL` takes a certificate
    ///   off hold);
    /// - a listed certificate is revoked; a status that cannot be known (a CRL that could not be
    ///   downloaded, is not the issuer's, does not cover the certificate, is stale, lacks its
    ///   delta; an OCSP responder alone, which signet does not query) is unavailable, a failure
    ///   where the statement enforces revocation.
    ///
    /// A revoked certificate is reported before an unavailable status, as notation-go does.
    /// `role` names the chain in messages ("certificate", "TSA certificate").
    func revocation(of chain: [Certificate], role: String, now: Date, mayDownload: Bool) -> ChainRevocation {
        var result = ChainRevocation(detail: "", chain: chain)
        var checked: [String] = []
        var notRevocable: [String] = []
        for index in 0..<max(0, chain.count - 1) {
            let certificate = chain[index]
            let issuer = chain[index + 1]
            var status = CertificateStatus(certificate: certificate, issuer: issuer, role: role, now: now, verifier: self, mayDownload: mayDownload)
            let supplied = crls.filter { !$0.isDelta && $0.isIssued(by: issuer) && $0.scopeProblem(for: certificate, location: nil) == nil }
            var known = false
            var sources: [String] = []
            for list in supplied where status.judge(list, from: nil) {
                known = true
                if !sources.contains("supplied") { sources.append("supplied") }
            }
            // A supplied delta CRL's listing is the issuer's word too, announced or not.
            for delta in crls where delta.isDelta && delta.isIssued(by: issuer) && delta.scopeProblem(for: certificate, location: nil) == nil {
                if let date = delta.revocationDate(of: certificate), status.revoked == nil {
                    status.revoked = "the \(role) \"\(certificate.subject)\" is revoked (since \(date.formatted(.iso8601)), the supplied delta CRL of \"\(issuer.subject)\")"
                }
            }
            if supplied.isEmpty, crls.contains(where: { $0.isDelta && $0.isIssued(by: issuer) }) {
                status.unavailable("a supplied CRL of \"\(issuer.subject)\" is a delta CRL (RFC 5280 section 5.2.4), which updates a complete CRL and never stands for one; supply the complete CRL too")
            }
            let points = certificate.crlDistributionPoints
            let responders = certificate.revocationSources.ocspResponders
            if supplied.isEmpty, points?.isEmpty == true, responders.isEmpty, status.revoked == nil {
                notRevocable.append("\"\(certificate.subject)\"")
                continue
            }
            let ways = "supply a current CRL of its issuer \"\(issuer.subject)\" in the authority's crls, "
                + "or set revocation to log or skip in the trust policy statement's signatureVerification override"
            if let points, !points.isEmpty, downloads.enabled, mayDownload {
                var allKnown = true
                var downloaded: [String] = []
                for point in points {
                    guard !point.isPartial else {
                        status.unavailable("the \(role) \"\(certificate.subject)\" names a partial or indirect CRL distribution point, which signet does not process; \(ways)")
                        allKnown = false
                        continue
                    }
                    guard let location = CRLDownloads.location(of: point) else {
                        let named = point.locations.isEmpty ? "a name without a URI" : point.locations.joined(separator: ", ")
                        status.unavailable("the \(role) \"\(certificate.subject)\" names a CRL distribution point signet cannot download (\(named); only http locations are downloaded); \(ways)")
                        allKnown = false
                        continue
                    }
                    if let list = status.downloaded(location), status.judge(list, from: location) {
                        downloaded.append(location)
                    } else {
                        allKnown = false
                    }
                }
                if allKnown {
                    known = true
                    sources.append("CRL from \(downloaded.joined(separator: ", "))")
                }
            } else if !known {
                if points == nil {
                    status.unavailable("the \(role) \"\(certificate.subject)\" has a CRL distribution points extension that cannot be read; \(ways)")
                } else if points?.isEmpty == true {
                    // No distribution point: an OCSP responder alone, or (listed by a supplied
                    // delta CRL) no revocation information at all.
                    if responders.isEmpty { status.unavailable("the \(role) \"\(certificate.subject)\" names no CRL distribution point") }
                    status.unavailable("the \(role) \"\(certificate.subject)\" publishes its revocation status through OCSP only (\(responders.joined(separator: ", "))), "
                        + "and signet does not query OCSP responders; \(ways)")
                } else {
                    let named = (points ?? []).flatMap(\.locations).joined(separator: ", ")
                    let why = downloads.enabled
                        ? "signet downloads CRLs only for a certificate chain that passed authenticity"
                        : "CRL downloads are off (--notation-crl-downloads)"
                    status.unavailable("the \(role) \"\(certificate.subject)\" publishes its revocation status (CRL distribution point \(named.isEmpty ? "without a URI" : named)), and \(why); \(ways)")
                }
            }
            if result.revoked == nil, let revoked = status.revoked { result.revoked = revoked }
            result.locationsToDownload += status.locationsToDownload
            result.rejectedDownloads += status.rejectedDownloads
            if !known {
                // Never silent: a status not known is unavailable, with a reason or without one.
                if result.unavailable == nil {
                    result.unavailable = "revocation unavailable: " + (status.problem ?? "the status of the \(role) \"\(certificate.subject)\" could not be told")
                }
                if status.downloadFailedTransiently { result.downloadFailedTransiently = true }
            } else if status.revoked == nil {
                checked.append("\"\(certificate.subject)\" (\(sources.joined(separator: "; ")))")
            }
        }
        // A revoked certificate is a verdict, whatever else could not be downloaded.
        if result.revoked != nil { result.downloadFailedTransiently = false }
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
            downloadFailedTransiently: signing.downloadFailedTransiently || timestamping?.downloadFailedTransiently == true,
            rejectedDownloads: signing.rejectedDownloads + (timestamping?.rejectedDownloads ?? []))
        outcome.problem = signing.revoked ?? timestamping?.revoked ?? signing.unavailable ?? timestamping?.unavailable
        if signing.revoked != nil || timestamping?.revoked != nil {
            // Revoked is final: nothing more to download, and no download failure undoes it.
            outcome.downloadFailedTransiently = false
            outcome.locationsToDownload = []
        }
        return outcome
    }

    /// ``revocationOutcome(_:chainTrusted:timestamping:now:)``'s problem (nil when none) and
    /// what was checked.
    func revocationProblem(_ chain: [Certificate], chainTrusted: Bool = true, timestamping: ChainRevocation? = nil, now: Date) -> (String?, String) {
        let outcome = revocationOutcome(chain, chainTrusted: chainTrusted, timestamping: timestamping, now: now)
        return (outcome.problem, outcome.detail)
    }
}
