import Foundation
import SignetCrypto

extension NotationVerifier {
    /// What the CRLs say about one certificate of a chain, gathered by
    /// ``NotationVerifier/revocation(of:role:now:mayDownload:)``: whether one lists it, why its
    /// status could not be told, and which CRLs must be downloaded first.
    struct CertificateStatus {
        let certificate: Certificate
        let issuer: Certificate
        let role: String
        let now: Date
        let verifier: NotationVerifier
        let mayDownload: Bool
        /// The first listing found, described.
        var revoked: String?
        /// The first reason the status could not be told (without "revocation unavailable: ").
        var problem: String?
        var locationsToDownload: [String] = []
        var rejectedDownloads: [String] = []
        var downloadFailedTransiently = false

        init(certificate: Certificate, issuer: Certificate, role: String, now: Date, verifier: NotationVerifier, mayDownload: Bool) {
            self.certificate = certificate
            self.issuer = issuer
            self.role = role
            self.now = now
            self.verifier = verifier
            self.mayDownload = mayDownload
        }

        mutating func unavailable(_ reason: String) {
            if problem == nil { problem = reason }
        }

        /// The CRL downloaded from `location` when it is the issuer's and covers the certificate;
        /// otherwise nil, the reason noted (and the location named for download when it was not
        /// downloaded yet).
        mutating func downloaded(_ location: String) -> CertificateRevocationList? {
            switch verifier.downloads.results[location] {
            case nil:
                locationsToDownload.append(location)
                unavailable("the CRL at \(location) was not downloaded")
                return nil
            case .failure(let failure):
                if failure.isTransient { downloadFailedTransiently = true }
                unavailable("the CRL of the \(role) \"\(certificate.subject)\" could not be downloaded from \(location): \(failure.description)")
                return nil
            case .success(let list):
                if !list.isIssued(by: issuer) {
                    rejectedDownloads.append(location)
                    unavailable("the CRL at \(location) is not signed by \"\(issuer.subject)\", the issuer of the \(role) \"\(certificate.subject)\"")
                    return nil
                }
                if let scope = list.scopeProblem(for: certificate, location: location) {
                    rejectedDownloads.append(location)
                    unavailable("the CRL at \(location) does not cover the \(role) \"\(certificate.subject)\": \(scope)")
                    return nil
                }
                return list
            }
        }

        /// Judges the certificate by `base`, a CRL of its issuer that covers it (supplied when
        /// `location` is nil): notes a listing, and returns whether `base` (with its delta CRL
        /// when it announces one) tells the certificate's status now.
        mutating func judge(_ base: CertificateRevocationList, from location: String?) -> Bool {
            let source = location.map { "the CRL at \($0)" } ?? "the supplied CRL of \"\(issuer.subject)\""
            var listing = base.revocationDate(of: certificate).map { ($0, source) }
            defer {
                if let (date, source) = listing, revoked == nil {
                    revoked = "the \(role) \"\(certificate.subject)\" is revoked (since \(date.formatted(.iso8601)), \(source))"
                }
            }
            // A delta CRL lists only what changed since its base: taken for a complete CRL it
            // would call any certificate revoked before the base "not revoked".
            if base.isDelta {
                unavailable("\(source) is a delta CRL (RFC 5280 section 5.2.4); the complete CRL is needed")
                return false
            }
            guard let next = base.nextUpdate else {
                if let location { rejectedDownloads.append(location) }
                unavailable("\(source) has no nextUpdate, so it cannot show that it is current (RFC 5280 section 5.1.2.5)")
                return false
            }
            var current = true
            if next < now {
                unavailable("\(source) expired at \(next.formatted(.iso8601)) (its nextUpdate)")
                current = false
            }
            guard let announced = base.deltaDistributionPoints, let named = certificate.deltaCRLDistributionPoints else {
                unavailable("\(source) or the \(role) \"\(certificate.subject)\" has a freshest CRL extension that cannot be read")
                return false
            }
            let deltaPoints = announced.isEmpty ? named : announced
            guard !deltaPoints.isEmpty else { return current }
            guard let (delta, deltaSource) = delta(updating: base, baseLocation: location, from: deltaPoints, baseSource: source) else {
                // A certificate on hold may be released by the delta not at hand: its status is
                // unknown (unavailable), not revoked, until the delta tells.
                if base.revocationReason(of: certificate) == 6 { listing = nil }
                return false
            }
            // removeFromCRL takes a certificate off hold, and only that (RFC 5280 section 5.3.1).
            if delta.removesFromCRL(certificate), base.revocationReason(of: certificate) == 6 { listing = nil }
            if let date = delta.revocationDate(of: certificate) { listing = (date, deltaSource) }
            return current
        }

        /// The current delta CRL that updates `base` (downloaded from `baseLocation`, nil when
        /// supplied): the highest-numbered supplied one of the issuer, else the one downloaded
        /// from the first `http` location of `points`; nil, the reason noted, when there is none.
        private mutating func delta(
            updating base: CertificateRevocationList, baseLocation: String?, from points: [CRLDistributionPoint], baseSource: String
        ) -> (CertificateRevocationList, String)? {
            let named = points.flatMap(\.locations).joined(separator: ", ")
            let needed = "\(baseSource) announces delta CRLs (\(named.isEmpty ? "at no URI" : named)), and its status is complete only with the current one"
            let supplied = verifier.crls.filter {
                $0.isDelta && $0.isIssued(by: issuer) && $0.deltaRelation(to: base) == .updates && $0.scopeProblem(for: certificate, location: nil) == nil
            }
            if let delta = supplied.max(by: { Self.numberOrder($0.number, $1.number) }) {
                guard let next = delta.nextUpdate, next >= now else {
                    unavailable("\(needed): the supplied delta CRL of \"\(issuer.subject)\" is past its nextUpdate or has none")
                    return nil
                }
                return (delta, "the supplied delta CRL of \"\(issuer.subject)\"")
            }
            guard verifier.downloads.enabled, mayDownload else {
                unavailable("\(needed); supply it in the authority's crls (signet downloads it only with --notation-crl-downloads, for a trusted chain)")
                return nil
            }
            guard let location = points.lazy.compactMap(CRLDownloads.location(of:)).first else {
                unavailable("\(needed), which signet cannot download (only http locations are downloaded); supply it in the authority's crls")
                return nil
            }
            guard let delta = downloaded(location) else { return nil }
            let numbers = "delta CRL number \(delta.number ?? "none"), complete CRL number \(base.number ?? "none")"
            switch delta.isDelta ? delta.deltaRelation(to: base) : .unrelated {
            case .updates:
                break
            case .baseIsOlder:
                // The complete CRL is older than the one the delta was made against: a newer one
                // is published, and the next review downloads it.
                if let baseLocation {
                    rejectedDownloads.append(baseLocation)
                    downloadFailedTransiently = true
                }
                unavailable("\(needed): the delta CRL at \(location) updates a newer complete CRL than \(baseSource) (\(numbers))")
                return nil
            case .supersededByBase:
                rejectedDownloads.append(location)
                downloadFailedTransiently = true
                unavailable("\(needed): the CRL at \(location) is an older delta CRL than the complete CRL (\(numbers))")
                return nil
            case .unrelated:
                rejectedDownloads.append(location)
                unavailable("\(needed): the CRL at \(location) is not a delta CRL that updates it (RFC 5280 section 5.2.4: a delta CRL indicator whose base CRL number is at most the complete CRL's number, and a CRL number above it)")
                return nil
            }
            guard let next = delta.nextUpdate, next >= now else {
                unavailable("\(needed): the delta CRL at \(location) is past its nextUpdate or has none")
                return nil
            }
            return (delta, "the delta CRL at \(location)")
        }

        /// Orders CRL numbers given as decimal text (no leading zeros); a missing one first.
        static func numberOrder(_ left: String?, _ right: String?) -> Bool {
            guard let left else { return right != nil }
            guard let right else { return false }
            return left.count != right.count ? left.count < right.count : left < right
        }
    }
}
