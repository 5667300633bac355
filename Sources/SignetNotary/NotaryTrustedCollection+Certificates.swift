import Foundation
import SignetCrypto
import SignetTUF

extension NotaryTrustedCollection {
    /// The root keys Notary carries as certificates (`ecdsa-x509`, `rsa-x509`) count only when the
    /// certificate's commonName is the repository's GUN and inside their validity (RFC 5280
    /// section 4.1.2.5) at the reference time, as Notary's root validation keeps only such leaf
    /// certificates (`trustpinning/certs.go`, `validRootLeafCerts`); a bare key, a certificate of
    /// another GUN, or one whose `notBefore` is still ahead counts for nothing. The current root must keep its root role's threshold of valid signatures by keys
    /// that pass; otherwise the refusal names each certificate, its validity and the time checked.
    /// Returns until when the root's certificates in force meet its threshold: the
    /// threshold-th latest `notAfter` among them (a verdict is not kept past it).
    static func checkRootCertificates(
        _ root: SignedMetadata<NotaryRootMetadata>, format: NotaryMetadataFormat, gun: String, at referenceTime: Date
    ) throws(TUFError) -> Date {
        let signers = root.signed.signers(of: "root")
        let message = try format.signedBytes(of: root.signedValue)
        var inForceUntil: [Date] = []
        var outside: [String] = []
        for keyID in Set(signers.role.keyIDs).sorted() {
            guard let key = signers.keys[keyID], let verifier = try? format.verifier(for: key),
                  root.signatures.contains(where: { $0.keyID == keyID && verifier.isValid($0, over: message) }) else { continue }
            guard key.keyType.hasSuffix("-x509") else {
                outside.append("root key \(keyID) is a bare \(key.keyType) key, not a certificate naming the repository")
                continue
            }
            guard let certificate = NotaryKeys.certificate(of: key) else {
                outside.append("root key \(keyID) carries no readable certificate")
                continue
            }
            // The root of another repository signed by the same key (one signer's root key is
            // reused for every repository it initialises) is not this repository's root.
            let names = certificate.commonNames
            guard !names.isEmpty, names.allSatisfy({ $0 == gun }) else {
                outside.append("the certificate of root key \(keyID) (\(certificate.subject)) names \(names.isEmpty ? "no repository" : names.map { "\"\($0)\"" }.joined(separator: ", ")), not \"\(gun)\": it is the root of another repository")
                continue
            }
            if certificate.isValid(at: referenceTime) {
                inForceUntil.append(certificate.notValidAfter)
                continue
            }
            let state = referenceTime < certificate.notValidBefore ? "is not yet valid" : "has expired"
            outside.append(
                "the certificate of root key \(keyID) (\(certificate.subject)) \(state): valid from \(certificate.notValidBefore.formatted(.iso8601)) to \(certificate.notValidAfter.formatted(.iso8601))")
        }
        let threshold = max(1, signers.role.threshold)
        guard inForceUntil.count >= threshold else {
            throw TUFError(
                .certificateNotValid,
                "root.json of \(gun) (version \(root.signed.header.version)): \(outside.joined(separator: "; ")) (checked at \(referenceTime.formatted(.iso8601))); \(inForceUntil.count) valid root signature(s), its root role requires \(signers.role.threshold)")
        }
        return inForceUntil.sorted(by: >)[threshold - 1]
    }
}
