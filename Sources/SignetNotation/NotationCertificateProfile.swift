import SignetCrypto

/// The certificate requirements of the Notary Project signature specification ("Certificate
/// Requirements"), applied to the `x5c` chain of a signature whatever the trust store says:
///
/// - root and intermediate CA certificates: `basicConstraints` present, critical, `cA` true, a
///   `pathLenConstraint` (when present) at least the number of CA certificates below it;
///   `keyUsage` present, critical, with `keyCertSign`;
/// - the leaf (and a chain of one certificate): `basicConstraints`, when present, with `cA`
///   false; `keyUsage` present, critical, with `digitalSignature` and none of
///   `keyEncipherment`, `dataEncipherment`, `keyAgreement`, `keyCertSign`, `encipherOnly`,
///   `decipherOnly`, `cRLSign`; `extendedKeyUsage`, when present, without
///   `anyExtendedKeyUsage`, `serverAuth`, `clientAuth`, `emailProtection`, `timeStamping` or
///   `OCSPSigning`;
///   an RSA key of at least 2048 bits or an EC key of at least 256;
/// - every certificate, the root included: not signed with SHA-1 (the specification forbids
///   SHA1WithRSA and ECDSAWithSHA1; MD5 and MD4, weaker still, are refused with them).
///
/// Only these three extensions are honoured, as the specification says. notation-core-go runs
/// the same checks while verifying the envelope, so a failure is an integrity failure.
public enum NotationCertificateProfile {
    static let anyExtendedKeyUsage = "2.5.29.37.0"
    /// Key purposes a signing certificate must not carry, by RFC 5280 name.
    static let forbiddenLeafUsages: [(String, String)] = [
        (anyExtendedKeyUsage, "anyExtendedKeyUsage"), ("1.3.6.1.5.5.7.3.1", "serverAuth"), ("1.3.6.1.5.5.7.3.2", "clientAuth"),
        ("1.3.6.1.5.5.7.3.4", "emailProtection"), ("1.3.6.1.5.5.7.3.8", "timeStamping"), ("1.3.6.1.5.5.7.3.9", "OCSPSigning"),
    ]
    static let forbiddenLeafKeyUsage: Certificate.KeyUsage = [
        .keyEncipherment, .dataEncipherment, .keyAgreement, .keyCertSign, .encipherOnly, .decipherOnly, .cRLSign,
    ]

    /// The first requirement `chain` (leaf first) breaks, in a sentence naming the certificate;
    /// nil when every certificate meets its requirements.
    public static func problem(in chain: [Certificate]) -> String? {
        guard let leaf = chain.first else { return "the certificate chain is empty" }
        if let problem = brokenHashProblem(in: chain) { return problem }
        if let problem = leafProblem(leaf) { return problem }
        for (index, certificate) in chain.enumerated().dropFirst() {
            if let problem = authorityProblem(certificate, authoritiesBelow: index - 1) { return problem }
        }
        return nil
    }

    static func leafProblem(_ certificate: Certificate) -> String? {
        let name = "the signing certificate \"\(certificate.subject)\""
        if certificate.basicConstraints?.isCertificateAuthority == true {
            return "\(name) has basicConstraints cA true; a signing certificate must not be a CA"
        }
        if let problem = keyUsagePresentProblem(certificate, name: name) { return problem }
        let usage = certificate.keyUsage ?? []
        guard usage.contains(.digitalSignature) else { return "\(name) has no digitalSignature in its keyUsage" }
        let forbidden = usage.intersection(forbiddenLeafKeyUsage)
        guard forbidden.isEmpty else { return "\(name) has keyUsage \(forbidden), which a signing certificate must not have" }
        if let purposes = certificate.extendedKeyUsages {
            let found = forbiddenLeafUsages.filter { purposes.contains($0.0) }.map(\.1)
            guard found.isEmpty else {
                return "\(name) has extendedKeyUsage \(found.joined(separator: ", ")), which a signing certificate must not have"
            }
        }
        switch (try? certificate.publicKey())?.algorithm {
        case .rsa, .ecdsaP256, .ecdsaP384, .ecdsaP521: return nil
        default: return "\(name) has a key that is neither RSA of at least 2048 bits nor EC of at least 256 bits"
        }
    }

    static func authorityProblem(_ certificate: Certificate, authoritiesBelow: Int) -> String? {
        let name = "the CA certificate \"\(certificate.subject)\""
        guard let constraints = certificate.basicConstraints, certificate.isExtensionCritical(oid: "2.5.29.19") == true,
              constraints.isCertificateAuthority else {
            return "\(name) must have a critical basicConstraints extension with cA true"
        }
        if let limit = constraints.pathLengthConstraint, limit < authoritiesBelow {
            return "\(name) has pathLenConstraint \(limit), but \(authoritiesBelow) CA certificate(s) follow it in the chain"
        }
        if let problem = keyUsagePresentProblem(certificate, name: name) { return problem }
        guard certificate.keyUsage?.contains(.keyCertSign) == true else { return "\(name) has no keyCertSign in its keyUsage" }
        return nil
    }

    /// The first requirement the certificate chain of a timestamp countersignature (leaf first,
    /// root last) breaks; nil when it meets them (notation-core-go's
    /// `ValidateTimestampingCertChain`). The leaf: `basicConstraints`, when present, with `cA`
    /// false; `keyUsage` present (critical or not) with `digitalSignature` and none of the bits a
    /// signing certificate must not have; `extendedKeyUsage` present, critical, with
    /// `timeStamping` alone (RFC 3161 section 2.3); an RSA key of at least 2048 bits or an EC key
    /// of at least 256. Every CA certificate above it: as for a signing chain, but its `keyUsage`
    /// need not be critical.
    public static func timestampingProblem(in chain: [Certificate]) -> String? {
        guard let leaf = chain.first else { return "the timestamp countersignature's certificate chain is empty" }
        if let problem = brokenHashProblem(in: chain) { return problem }
        let name = "the timestamping certificate \"\(leaf.subject)\""
        if leaf.basicConstraints?.isCertificateAuthority == true {
            return "\(name) has basicConstraints cA true; a timestamping certificate must not be a CA"
        }
        guard let usage = leaf.keyUsage, leaf.isExtensionCritical(oid: "2.5.29.15") != nil else { return "\(name) has no keyUsage extension" }
        guard usage.contains(.digitalSignature) else { return "\(name) has no digitalSignature in its keyUsage" }
        let forbidden = usage.intersection(forbiddenLeafKeyUsage)
        guard forbidden.isEmpty else { return "\(name) has keyUsage \(forbidden), which a timestamping certificate must not have" }
        guard leaf.extendedKeyUsages == [timeStamping], leaf.isExtensionCritical(oid: "2.5.29.37") == true else {
            return "\(name) must have a critical extendedKeyUsage extension with timeStamping alone"
        }
        switch (try? leaf.publicKey())?.algorithm {
        case .rsa, .ecdsaP256, .ecdsaP384, .ecdsaP521: break
        default: return "\(name) has a key that is neither RSA of at least 2048 bits nor EC of at least 256 bits"
        }
        for (index, certificate) in chain.enumerated().dropFirst() {
            let name = "the timestamping CA certificate \"\(certificate.subject)\""
            guard let constraints = certificate.basicConstraints, certificate.isExtensionCritical(oid: "2.5.29.19") == true,
                  constraints.isCertificateAuthority else {
                return "\(name) must have a critical basicConstraints extension with cA true"
            }
            if let limit = constraints.pathLengthConstraint, limit < index - 1 {
                return "\(name) has pathLenConstraint \(limit), but \(index - 1) CA certificate(s) follow it in the chain"
            }
            guard certificate.keyUsage?.contains(.keyCertSign) == true else { return "\(name) has no keyCertSign in its keyUsage" }
        }
        return nil
    }

    static let timeStamping = "1.3.6.1.5.5.7.3.8"

    /// Hashes whose collisions can be made: a certificate signed with one proves nothing about
    /// what it says (the Notary Project forbids SHA1WithRSA and ECDSAWithSHA1 anywhere in a chain).
    static let brokenHashes: Set<String> = ["SHA1", "MD5", "MD4", "MD2"]

    static func brokenHashProblem(in chain: [Certificate]) -> String? {
        for certificate in chain {
            if let hash = certificate.signatureHashName, brokenHashes.contains(hash.uppercased()) {
                return "the certificate \"\(certificate.subject)\" is signed with \(hash), which the Notary Project does not allow in a certificate chain (SHA1WithRSA and ECDSAWithSHA1 are forbidden)"
            }
        }
        return nil
    }

    static func keyUsagePresentProblem(_ certificate: Certificate, name: String) -> String? {
        switch certificate.isExtensionCritical(oid: "2.5.29.15") {
        case nil: "\(name) has no keyUsage extension"
        case false?: "\(name) has a keyUsage extension that is not marked critical"
        case true?: nil
        }
    }
}
