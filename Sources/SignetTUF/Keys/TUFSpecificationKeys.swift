import SignetCrypto

/// The key types and schemes of the TUF specification (section 4.2, "KEYTYPE" and "SCHEME",
/// with the `ecdsa` key type of securesystemslib), read into SignetCrypto's OpenSSL keys:
///
/// | keytype | scheme | `keyval.public` |
/// |---|---|---|
/// | `ed25519` | `ed25519` | 32 bytes, hex (RFC 8032) |
/// | `ecdsa`, `ecdsa-sha2-nistp256` | `ecdsa-sha2-nistp256` | PEM SubjectPublicKeyInfo, or a hex SEC 1 point |
/// | `ecdsa`, `ecdsa-sha2-nistp384` | `ecdsa-sha2-nistp384` | the same on P-384 |
/// | `rsa` | `rsassa-pss-sha256` | PEM SubjectPublicKeyInfo (RSASSA-PSS, MGF1-SHA256) |
///
/// ECDSA signatures are DER `ECDSA-Sig-Value`; the hex points are how Sigstore's first root
/// versions wrote their keys.
public enum TUFSpecificationKeys {
    /// A verifier for `key`, or an ``TUFError/Code/unsupportedKey`` error naming why not.
    public static func verifier(for key: TUFKey) throws(TUFError) -> any TUFSignatureVerifier {
        func unsupported(_ reason: String) -> TUFError {
            TUFError(.unsupportedKey, "key \(key.id) (\(key.keyType), \(key.scheme)): \(reason)")
        }
        guard let text = key.publicValue else { throw unsupported("keyval.public is not a string") }
        switch (key.keyType, key.scheme) {
        case ("ed25519", "ed25519"):
            guard let raw = Hex.decode(text), raw.count == 32 else { throw unsupported("not 32 hex-encoded bytes") }
            let publicKey = try read(der: SubjectPublicKeyInfo.ed25519Prefix + raw, unsupported)
            return OpenSSLSignatureVerifier(key: publicKey, scheme: SignatureScheme())
        case ("ecdsa", "ecdsa-sha2-nistp256"), ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"):
            let publicKey = try readECDSA(text, prefix: SubjectPublicKeyInfo.p256Prefix, pointLength: 65, unsupported)
            guard publicKey.algorithm == .ecdsaP256 else { throw unsupported("the key is \(publicKey.algorithm), not P-256") }
            return OpenSSLSignatureVerifier(key: publicKey, scheme: SignatureScheme(hash: .sha256))
        case ("ecdsa", "ecdsa-sha2-nistp384"), ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"):
            let publicKey = try readECDSA(text, prefix: SubjectPublicKeyInfo.p384Prefix, pointLength: 97, unsupported)
            guard publicKey.algorithm == .ecdsaP384 else { throw unsupported("the key is \(publicKey.algorithm), not P-384") }
            return OpenSSLSignatureVerifier(key: publicKey, scheme: SignatureScheme(hash: .sha384))
        case ("rsa", "rsassa-pss-sha256"):
            let publicKey = try readPEM(text, unsupported)
            guard case .rsa = publicKey.algorithm else { throw unsupported("the key is \(publicKey.algorithm), not RSA") }
            return OpenSSLSignatureVerifier(key: publicKey, scheme: SignatureScheme(hash: .sha256, rsaPadding: .pss))
        default:
            throw unsupported("unknown key type and scheme")
        }
    }

    private static func readECDSA(
        _ text: String, prefix: [UInt8], pointLength: Int, _ unsupported: (String) -> TUFError
    ) throws(TUFError) -> PublicKey {
        if text.contains("-----BEGIN") { return try readPEM(text, unsupported) }
        guard let point = Hex.decode(text), point.count == pointLength, point.first == 0x04 else {
            throw unsupported("neither PEM nor a hex uncompressed point")
        }
        return try read(der: prefix + point, unsupported)
    }

    private static func readPEM(_ text: String, _ unsupported: (String) -> TUFError) throws(TUFError) -> PublicKey {
        do {
            return try PublicKey(pem: text)
        } catch {
            throw unsupported(error.description)
        }
    }

    private static func read(der: [UInt8], _ unsupported: (String) -> TUFError) throws(TUFError) -> PublicKey {
        do {
            return try PublicKey(der: der)
        } catch {
            throw unsupported(error.description)
        }
    }
}

/// DER SubjectPublicKeyInfo headers (RFC 5480 section 2, RFC 8410 section 4) to put in front
/// of raw key bytes.
enum SubjectPublicKeyInfo {
    /// `SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }`.
    static let p256Prefix: [UInt8] = Hex.decode("3059301306072a8648ce3d020106082a8648ce3d030107034200")!
    /// `SEQUENCE { SEQUENCE { id-ecPublicKey, secp384r1 }, BIT STRING (97 bytes) }`.
    static let p384Prefix: [UInt8] = Hex.decode("3076301006072a8648ce3d020106052b81040022036200")!
    /// `SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING (32 bytes) }`.
    static let ed25519Prefix: [UInt8] = Hex.decode("302a300506032b6570032100")!
}

/// A ``TUFSignatureVerifier`` over a SignetCrypto ``PublicKey`` and a signature scheme (TUF
/// specification section 4.2, "SCHEME").
public struct OpenSSLSignatureVerifier: TUFSignatureVerifier {
    public let key: PublicKey
    public let scheme: SignatureScheme

    public init(key: PublicKey, scheme: SignatureScheme) {
        self.key = key
        self.scheme = scheme
    }

    public var keyIdentity: [UInt8] { key.canonicalForm }

    public func isValid(_ signature: TUFSignature, over message: [UInt8]) -> Bool {
        key.verify(signature: signature.bytes, message: message, scheme: scheme)
    }
}
