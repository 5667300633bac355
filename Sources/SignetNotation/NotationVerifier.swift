import Foundation
import SignetCrypto

/// Verifies one Notary Project signature envelope against one trust policy statement and the
/// trust stores, following the steps of the Notary Project trust store and trust policy
/// specification ("Signature Verification"): integrity, authenticity (trust store and trusted
/// identities), expiry, authentic timestamp, revocation. Each check is enforced, logged or
/// skipped as the statement's level and overrides say; the first enforced failure ends it.
///
/// The verifier holds the trust (statement and stores); each call takes one envelope, the
/// artifact it should sign and the time of verification (injected, so tests pin it).
public struct NotationVerifier: Sendable {
    public let statement: NotationTrustPolicy.Statement
    public let stores: NotationTrustStores
    /// CRLs the policy supplies for the revocation check: a certificate that publishes where its
    /// revocation status is and that none of them covers makes revocation unavailable.
    public let crls: [CertificateRevocationList]
    /// CRLs downloaded from the distribution points of the chains' certificates (for those no
    /// supplied CRL covers), and whether downloads are on. A verification that needs one not
    /// yet downloaded names it in ``NotationVerification/crlLocationsToDownload``.
    public let downloads: CRLDownloads

    public init(statement: NotationTrustPolicy.Statement, stores: NotationTrustStores, crls: [CertificateRevocationList] = [], downloads: CRLDownloads = .disabled) {
        self.statement = statement
        self.stores = stores
        self.crls = crls
        self.downloads = downloads
    }

    /// The same trust with `downloads`.
    public func with(_ downloads: CRLDownloads) -> NotationVerifier {
        NotationVerifier(statement: statement, stores: stores, crls: crls, downloads: downloads)
    }

    /// Verifies `envelope` (bytes of `mediaType`) as a signature of `target` at time `now`.
    public func verify(envelope bytes: [UInt8], mediaType: String, target: NotationTarget, at now: Date) -> NotationVerification {
        var report = NotationVerification(statement: statement.name, level: statement.level)
        // Integrity: always enforced.
        let envelope: NotationEnvelope
        do {
            envelope = try NotationEnvelope.parse(bytes, mediaType: mediaType)
        } catch {
            report.record(.integrity, action: .enforce, failure: error.description)
            return report
        }
        report.signingScheme = envelope.signingScheme
        report.chain = envelope.certificateChain.map(\.subject)
        report.signer = envelope.signingCertificate.subject
        if let profileVersion = envelope.pluginAttributes[AWSSigner.signingProfileVersionAttribute] {
            // Every AWS Signer certificate has the same subject: the profile names the signer.
            report.signer = "AWS Signer signing profile version \(profileVersion)"
        }
        if let problem = envelope.verifyIntegrity() ?? NotationTarget.mismatch(payload: envelope.payload, expected: target)
            ?? NotationCertificateProfile.problem(in: envelope.certificateChain).map({ "the certificate chain is invalid: \($0)" }) {
            report.record(.integrity, action: .enforce, failure: problem)
            return report
        }
        report.record(.integrity, action: .enforce, passed: "signature \(envelope.algorithm.rawValue) verifies over \(envelope.format.rawValue); the payload names \(target.digest)")
        let untrusted = authenticityProblem(envelope)
        guard report.proceed(.authenticity, statement.action(for: .authenticity), failure: untrusted,
                             passed: "the chain leads to trust store \(trustStoreNames(for: envelope.signingScheme)) and the signer is a trusted identity") else { return report }
        let expiryProblem = envelope.expiry.flatMap { now >= $0 ? "digital signature has expired on \($0.formatted(.iso8601))" : nil }
        guard report.proceed(.expiry, statement.action(for: .expiry), failure: expiryProblem,
                             passed: envelope.expiry.map { "expires \($0.formatted(.iso8601))" } ?? "no expiry set") else { return report }
        let (timestampProblem, source, atVerification, timestampRevocation) = authenticTimestampProblem(envelope, now: now)
        report.signingTimeSource = source
        report.validUntil = validUntil(envelope, judgedAtVerification: atVerification, timestampChain: timestampRevocation?.chain ?? [])
        guard report.proceed(.authenticTimestamp, statement.action(for: .authenticTimestamp), failure: timestampProblem, passed: source) else { return report }
        guard statement.action(for: .revocation) != .skip else {
            _ = report.proceed(.revocation, .skip, failure: nil, passed: "")
            return report
        }
        if envelope.verificationPlugin == AWSSigner.pluginName {
            // The plugin's capability replaces the certificates' own revocation check.
            _ = report.proceed(.revocation, statement.action(for: .revocation), failure: AWSSigner.revocationUnavailable, passed: "")
            return report
        }
        let revocation = revocationOutcome(envelope.certificateChain, chainTrusted: untrusted == nil, timestamping: timestampRevocation, now: now)
        report.crlLocationsToDownload = revocation.locationsToDownload
        report.crlDownloadFailedTransiently = revocation.downloadFailedTransiently
        report.crlLocationsRejected = revocation.rejectedDownloads
        _ = report.proceed(.revocation, statement.action(for: .revocation), failure: revocation.problem, passed: revocation.detail)
        return report
    }

    /// What makes a pass stop holding as time goes on, of the checks the statement enforces (a
    /// logged or skipped check fails without failing the signature): the signature's expiry, the
    /// chain's validity when it is judged at the time of verification, and the nextUpdate of
    /// the CRLs that cover the chain (supplied ones of its issuers and of the verified TSA
    /// chain's, and every CRL downloaded for this verification, the TSA chain's included).
    func validUntil(_ envelope: NotationEnvelope, judgedAtVerification: Bool, timestampChain: [Certificate] = []) -> Date? {
        let chain = envelope.certificateChain
        var limits: [Date] = []
        if statement.action(for: .expiry) == .enforce, let expiry = envelope.expiry { limits.append(expiry) }
        if judgedAtVerification, statement.action(for: .authenticTimestamp) == .enforce { limits += chain.map(\.notValidAfter) }
        if statement.action(for: .revocation) == .enforce {
            limits += downloads.results.values.compactMap { try? $0.get().nextUpdate }
            for certificates in [chain, timestampChain] {
                for index in certificates.indices.dropLast() {
                    limits += crls.filter { $0.isIssued(by: certificates[index + 1]) }.compactMap(\.nextUpdate)
                }
            }
        }
        return limits.min()
    }

    private func trustStoreNames(for scheme: NotationSigningScheme) -> String {
        statement.trustStores.filter { $0.type == (scheme == .x509 ? .ca : .signingAuthority) }.map(\.description).joined(separator: ", ")
    }

    /// Authenticity: a complete, ordered chain from a code-signing certificate to a self-signed
    /// root, valid as a path, one of whose certificates is in a trust store of the type the
    /// scheme needs (`ca` for `notary.x509`, `signingAuthority` for
    /// `notary.x509.signingAuthority`), and a signer that matches `trustedIdentities`: the
    /// signing certificate's subject, or, for an AWS Signer signature, its signing profile
    /// (``AWSSigner``).
    func authenticityProblem(_ envelope: NotationEnvelope) -> String? {
        let chain = envelope.certificateChain
        let leaf = chain[0]
        for index in 0..<(chain.count - 1) where chain[index].issuer != chain[index + 1].subject {
            return "the certificate chain is not in order: x5c[\(index)] was issued by \"\(chain[index].issuer)\", x5c[\(index + 1)] is \"\(chain[index + 1].subject)\""
        }
        guard let root = chain.last, root.isSelfSigned else {
            return "the certificate chain does not end with a self-signed root certificate"
        }
        // Only the last certificate may be self-signed: a self-signed certificate further up
        // could stand in for a trusted one of the same name (notation-core-go
        // ValidateCodeSigningCertChain refuses it too).
        if let index = chain.dropLast().firstIndex(where: \.isSelfSigned) {
            return "the certificate chain is invalid: x5c[\(index)] (\"\(chain[index].subject)\") is self-signed but is not the last certificate"
        }
        // The certificates' own requirements (basicConstraints, keyUsage, extendedKeyUsage) were
        // checked with integrity (NotationCertificateProfile).
        // Path validity (signatures, CA constraints) at a time all certificates were valid;
        // whether that time is authentic is the authentic-timestamp check.
        let start = chain.map(\.notValidBefore).max()!
        guard start <= chain.map(\.notValidAfter).min()! else { return "the certificates of the chain were never valid at one time" }
        let verifier = CertificateChainVerifier(trustAnchors: [root], intermediates: Array(chain.dropFirst().dropLast()))
        switch verifier.verify(leaf, at: start) {
        case .failure(let error):
            return "the certificate chain is invalid: \(error)"
        case .success(let path):
            // The path that validated must be the envelope's chain itself, link by link: a path
            // through other certificates (a spliced root of the same name) proves nothing about
            // the certificates that are then compared with the trust store.
            guard path.certificates == chain else {
                return "the certificate chain is invalid: x5c is not a certification path in itself (each certificate must be signed by the next)"
            }
        }

        let type: NotationTrustPolicy.TrustStoreName.StoreType = envelope.signingScheme == .x509 ? .ca : .signingAuthority
        let names = statement.trustStores.filter { $0.type == type }
        guard !names.isEmpty else {
            return "the signature uses signing scheme \(envelope.signingScheme.rawValue), and trust policy statement \"\(statement.name)\" lists no trust store of type \(type.rawValue)"
        }
        var trusted: [Certificate] = []
        for name in names {
            guard let certificates = stores[name] else { return "the trust store \"\(name.name)\" of type \"\(name.type.rawValue)\" does not exist" }
            trusted += certificates
        }
        guard chain.contains(where: { trusted.contains($0) }) else {
            return "the signature's certificate chain does not contain any trusted certificate of trust store(s) \(names.map(\.description).joined(separator: ", "))"
        }
        if envelope.verificationPlugin == AWSSigner.pluginName {
            return AWSSigner.trustedIdentityProblem(
                attributes: envelope.pluginAttributes, identities: statement.trustedIdentities, statement: statement.name)
        }
        if statement.trustedIdentities.contains(.any) { return nil }
        guard let subject = try? DistinguishedName(subjectOf: leaf) else { return "the signing certificate's subject cannot be read" }
        let matches = statement.trustedIdentities.contains { identity in
            if case .x509Subject(let name) = identity { return name.isSubset(of: subject) }
            return false
        }
        return matches ? nil : "signing certificate from the digital signature does not match the X.509 trusted identities \(statement.trustedIdentities.map(\.description)) defined in the trust policy \"\(statement.name)\" (signer \"\(leaf.subject)\")"
    }

    /// Authentic timestamp (the Notary Project trust-policy specification, "Validate Authentic
    /// Timestamp" and "Timestamp Countersignature Verification details"): the time range the
    /// signature is known to have been made in lies within the validity of every certificate of
    /// the chain. For `notary.x509.signingAuthority` that is the signing authority's
    /// `authenticSigningTime`. For `notary.x509`, timestamp countersignature verification is
    /// triggered when the statement lists a `tsa` trust store and `verifyTimestamp` is `always`
    /// (or `afterCertExpiry` and a certificate of the chain has expired): the envelope must then
    /// carry an RFC 3161 countersignature from a TSA of those stores, and the range is its
    /// `genTime` less and plus its accuracy. Otherwise the range is the time of verification, and
    /// a countersignature is not looked at. A TSA certificate that a supplied CRL lists fails
    /// this step (as in notation-go); the evaluation of the TSA's chain is returned for the
    /// revocation step, which judges what the CRLs do not tell. Returns the problem (nil when it
    /// holds), the signing time's source, and that evaluation when the countersignature was verified.
    func authenticTimestampProblem(_ envelope: NotationEnvelope, now: Date) -> (String?, String, atVerification: Bool, tsaRevocation: ChainRevocation?) {
        let chain = envelope.certificateChain
        func outside(_ time: Date) -> String? {
            for certificate in chain where !certificate.isValid(at: time) {
                return "the certificate \"\(certificate.subject)\" is not valid at \(time.formatted(.iso8601)) (valid \(certificate.notValidBefore.formatted(.iso8601)) to \(certificate.notValidAfter.formatted(.iso8601)))"
            }
            return nil
        }
        if envelope.signingScheme == .signingAuthority, let time = envelope.authenticSigningTime {
            let source = "authentic signing time \(time.formatted(.iso8601)) from the signing authority"
            return (outside(time), source, false, nil)
        }
        let tsaNames = statement.trustStores.filter { $0.type == .tsa }
        // afterCertExpiry: a certificate of the chain has expired (not one that is not valid yet).
        let expired = chain.contains { $0.notValidAfter < now }
        guard !tsaNames.isEmpty, statement.verifyTimestamp == .always || expired else {
            let why = tsaNames.isEmpty ? "the statement lists no tsa trust store" : "verifyTimestamp is afterCertExpiry and the certificate chain has not expired"
            return (outside(now), "time of verification \(now.formatted(.iso8601)) (no timestamp countersignature verification: \(why))", true, nil)
        }
        let tsaList = tsaNames.map(\.description).joined(separator: ", ")
        guard let token = envelope.timestampToken else {
            let trigger = statement.verifyTimestamp == .always
                ? "verifyTimestamp always" : "verifyTimestamp afterCertExpiry, and the certificate chain has expired"
            return ("the signature has no timestamp countersignature, which trust policy statement \"\(statement.name)\" requires (tsa trust store \(tsaList), \(trigger))", "timestamp countersignature (absent)", false, nil)
        }
        var anchors: [Certificate] = []
        for name in tsaNames {
            guard let certificates = stores[name] else { return ("the trust store \"\(name.name)\" of type \"tsa\" does not exist", "timestamp countersignature (not verified)", false, nil) }
            anchors += certificates
        }
        let response: TimeStampResponse
        do {
            response = try TimeStampResponse(derEncoded: TimeStampToken.response(wrapping: token))
        } catch {
            return ("the timestamp countersignature is not an RFC 3161 time-stamp token: \(error)", "timestamp countersignature (unreadable)", false, nil)
        }
        guard !response.hasInvalidAccuracy else {
            return ("the timestamp countersignature states an accuracy outside RFC 3161's ranges", "timestamp countersignature (unreadable)", false, nil)
        }
        let range = response.timeRange
        let accuracy = range.lowerBound == range.upperBound ? "" : " ± \(response.generationTime.timeIntervalSince(range.lowerBound)) s"
        let source = "RFC 3161 timestamp \(response.generationTime.formatted(.iso8601))\(accuracy) from a TSA in \(tsaList)"
        if let error = response.verify(data: envelope.signature, certificates: [], trustAnchors: anchors) {
            return ("the timestamp countersignature is not from a trusted TSA or not over this signature: \(error)", "timestamp countersignature (not trusted)", false, nil)
        }
        // The Notary Project's certificate requirements hold for the TSA's chain as for the signer's.
        switch response.signerChain(certificates: [], trustAnchors: anchors) {
        case .failure(let error):
            return ("the timestamp countersignature's certificate chain cannot be built: \(error)", "timestamp countersignature (not trusted)", false, nil)
        case .success(let chain):
            if let problem = NotationCertificateProfile.timestampingProblem(in: chain.certificates) {
                return ("the timestamp countersignature's certificate chain is invalid: \(problem)", "timestamp countersignature (not trusted)", false, nil)
            }
            // The TSA's chain was verified to a trust anchor of the statement's tsa stores above,
            // so the CRLs its certificates name may be downloaded.
            let tsaRevocation = revocation(of: chain.certificates, role: "TSA certificate", now: now, mayDownload: statement.action(for: .revocation) != .skip)
            if let revoked = tsaRevocation.revoked {
                return ("the timestamp countersignature is not trusted: \(revoked)", "timestamp countersignature (revoked)", false, nil)
            }
            // The whole range must lie within the chain's validity: its two ends do.
            return (outside(range.lowerBound) ?? outside(range.upperBound), source, false, tsaRevocation)
        }
    }
}

/// RFC 3161 time-stamp tokens as the Notary Project envelopes carry them: the token alone (a CMS
/// ContentInfo), which becomes a granted TimeStampResp (RFC 3161 section 2.4.2) for OpenSSL.
enum TimeStampToken {
    static func response(wrapping token: [UInt8]) -> [UInt8] {
        let status: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x00]
        let body = status + token
        return [0x30] + derLength(body.count) + body
    }

    static func derLength(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var value = count
        while value > 0 {
            bytes.insert(UInt8(value & 0xff), at: 0)
            value >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
}
