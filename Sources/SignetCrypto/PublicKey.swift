import CSignetOpenSSL
import Foundation

/// A public key for verifying signatures, owning an OpenSSL `EVP_PKEY`.
///
/// Keys are read from a SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7), as DER or as PEM
/// (RFC 7468 section 13, `-----BEGIN PUBLIC KEY-----`). Supported algorithms:
/// - ECDSA on P-256, P-384 and P-521 (SEC 1 v2 section 4.1.4; keys per RFC 5480), signatures
///   DER-encoded `ECDSA-Sig-Value` (RFC 3279 section 2.2.3);
/// - RSA (RFC 8017), RSASSA-PKCS1-v1_5 (section 8.2) and RSASSA-PSS (section 8.1, MGF1 with the
///   message hash, salt length exact or recovered from the signature);
/// - Ed25519 (RFC 8032 section 5.1, PureEdDSA over the whole message; RFC 8410 key encoding).
///
/// Two keys are equal when they are the same key (``canonicalForm``), however their
/// SubjectPublicKeyInfo encodes it: an EC point compressed or uncompressed (SEC 1 v2 section
/// 2.3.3), an RSA key under `rsaEncryption` or `id-RSASSA-PSS` (RFC 4055 section 1.2).
///
/// `@unchecked Sendable`: the `EVP_PKEY` is never mutated after `init`, and OpenSSL 3 allows a
/// key to be used for verification from several threads at once (each call makes its own
/// `EVP_MD_CTX`).
public final class PublicKey: @unchecked Sendable, Hashable, CustomStringConvertible {
    let key: OpaquePointer
    /// The algorithm and size.
    public let algorithm: PublicKeyAlgorithm
    /// The DER SubjectPublicKeyInfo, as read.
    public let subjectPublicKeyInfo: [UInt8]
    /// The key itself, independent of its encoding: for EC keys the curve and the uncompressed
    /// point `04 || X || Y` (SEC 1 v2 section 2.3.3), for RSA keys the modulus and public
    /// exponent whichever algorithm identifier carried them (RFC 8017 section 3.1), for Ed25519
    /// the 32-byte key (RFC 8032 section 5.1.5). Equality and hashing use it, so the same key
    /// written twice in different encodings is one key (a threshold counts it once).
    public let canonicalForm: [UInt8]

    /// Reads a PEM `PUBLIC KEY` block (RFC 7468 section 13). Text around the block is ignored.
    public convenience init(pem: String) throws(PublicKeyError) {
        guard let der = try? PEMBlocks.firstDER("PUBLIC KEY", in: pem) else { throw PublicKeyError(.notPEM) }
        try self.init(der: der)
    }

    /// Reads a DER SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7).
    public init(der: [UInt8]) throws(PublicKeyError) {
        var parsed: OpaquePointer?
        der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            parsed = d2i_PUBKEY(nil, &cursor, buffer.count)
            if let key = parsed, let cursor, cursor != buffer.baseAddress! + buffer.count {
                // Trailing bytes after the structure: refuse rather than ignore them.
                EVP_PKEY_free(key)
                parsed = nil
            }
        }
        guard let key = parsed else {
            ERR_clear_error()
            throw PublicKeyError(.invalidEncoding)
        }
        guard let algorithm = Self.algorithm(of: key) else {
            EVP_PKEY_free(key)
            throw PublicKeyError(.unsupportedAlgorithm(String(cString: OBJ_nid2sn(EVP_PKEY_get_base_id(key)))))
        }
        guard let canonical = Self.canonicalForm(of: key, algorithm: algorithm) else {
            EVP_PKEY_free(key)
            ERR_clear_error()
            throw PublicKeyError(.invalidEncoding)
        }
        self.key = key
        self.algorithm = algorithm
        self.subjectPublicKeyInfo = der
        self.canonicalForm = canonical
    }

    deinit {
        EVP_PKEY_free(key)
    }

    /// Lowercase hexadecimal SHA-256 of the DER SubjectPublicKeyInfo as read: a stable identifier
    /// of the encoding (what `openssl pkey -pubin -outform DER | sha256sum` prints). Two encodings
    /// of one key have different fingerprints but are equal (``canonicalForm``).
    public var fingerprint: String {
        DigestAlgorithm.sha256.hexHash(subjectPublicKeyInfo)
    }

    /// `ecdsa-p256 sha256:1a2b3c4d5e6f…` (algorithm and the first 12 hex digits of the fingerprint).
    public var description: String {
        "\(algorithm) sha256:\(fingerprint.prefix(12))"
    }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.canonicalForm == rhs.canonicalForm
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(canonicalForm)
    }

    /// Whether `other` is this key in another encoding (equal keys, different DER).
    public func isReencoding(of other: PublicKey) -> Bool {
        self == other && subjectPublicKeyInfo != other.subjectPublicKeyInfo
    }

    /// Whether `signature` is a valid signature of `message` by this key under `scheme`.
    ///
    /// Never throws: a malformed, truncated or foreign signature is simply not valid. The
    /// scheme's hash is used for ECDSA and RSA; Ed25519 signs the message itself (RFC 8032) and
    /// ignores it, as does the padding for non-RSA keys.
    public func verify(signature: [UInt8], message: [UInt8], scheme: SignatureScheme = SignatureScheme()) -> Bool {
        guard !signature.isEmpty, let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()
        }
        let digest: OpaquePointer?
        switch algorithm {
        case .ed25519: digest = nil
        default: digest = scheme.hash.evpMessageDigest
        }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, digest, nil, key) == 1 else { return false }
        if case .rsa = algorithm {
            switch scheme.rsaPadding {
            case .pkcs1v15:
                guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PADDING) == 1 else { return false }
            case .pss:
                guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, scheme.openSSLSaltLength) == 1,
                      EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, scheme.hash.evpMessageDigest) == 1 else { return false }
            }
        }
        let status = signature.withUnsafeBufferPointer { signatureBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                EVP_DigestVerify(context, signatureBuffer.baseAddress, signatureBuffer.count, messageBuffer.baseAddress, messageBuffer.count)
            }
        }
        return status == 1
    }

    /// ``canonicalForm`` from OpenSSL's parameters of the key; nil when they cannot be read.
    private static func canonicalForm(of key: OpaquePointer, algorithm: PublicKeyAlgorithm) -> [UInt8]? {
        switch algorithm {
        case .ecdsaP256, .ecdsaP384, .ecdsaP521:
            let width = (Int(EVP_PKEY_get_bits(key)) + 7) / 8
            guard let x = bigNumber(key, "qx", width: width), let y = bigNumber(key, "qy", width: width) else { return nil }
            return Array("\(algorithm):".utf8) + [0x04] + x + y
        case .rsa:
            guard let modulus = bigNumber(key, "n"), let exponent = bigNumber(key, "e") else { return nil }
            // Length-prefixed, so that no two (n, e) pairs share a form.
            let length = withUnsafeBytes(of: UInt32(modulus.count).bigEndian) { Array($0) }
            return Array("rsa:".utf8) + length + modulus + exponent
        case .ed25519:
            var length = 0
            guard EVP_PKEY_get_raw_public_key(key, nil, &length) == 1 else { return nil }
            var raw = [UInt8](repeating: 0, count: length)
            guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1 else { return nil }
            return Array("ed25519:".utf8) + raw.prefix(length)
        }
    }

    /// A big-number parameter of `key` (OpenSSL 3 `EVP_PKEY_get_bn_param`), big-endian, left-padded
    /// to `width` bytes when given.
    private static func bigNumber(_ key: OpaquePointer, _ name: String, width: Int? = nil) -> [UInt8]? {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key, name, &number) == 1, let number else { return nil }
        defer { BN_free(number) }
        let size = width ?? (Int(BN_num_bits(number)) + 7) / 8
        var bytes = [UInt8](repeating: 0, count: size)
        guard BN_bn2binpad(number, &bytes, Int32(size)) == Int32(size) else { return nil }
        return bytes
    }

    private static func algorithm(of key: OpaquePointer) -> PublicKeyAlgorithm? {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_utf8_string_param(key, "group", &name, name.count, &length) == 1 else { return nil }
            let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch curve {
            case "prime256v1", "P-256": return .ecdsaP256
            case "secp384r1", "P-384": return .ecdsaP384
            case "secp521r1", "P-521": return .ecdsaP521
            default: return nil
            }
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            let bits = Int(EVP_PKEY_get_bits(key))
            // RSA moduli under 2048 bits are below NIST SP 800-131A's minimum.
            return bits >= 2048 ? .rsa(bits: bits) : nil
        case EVP_PKEY_ED25519:
            return .ed25519
        default:
            return nil
        }
    }
}

/// The kind and size of a ``PublicKey``.
public enum PublicKeyAlgorithm: Sendable, Hashable, CustomStringConvertible {
    /// ECDSA over NIST P-256 (secp256r1, SEC 2 section 2.4.2).
    case ecdsaP256
    /// ECDSA over NIST P-384 (secp384r1, SEC 2 section 2.5.1).
    case ecdsaP384
    /// ECDSA over NIST P-521 (secp521r1, SEC 2 section 2.6.1).
    case ecdsaP521
    /// RSA (RFC 8017) with a modulus of `bits` bits (at least 2048).
    case rsa(bits: Int)
    /// Ed25519 (RFC 8032 section 5.1).
    case ed25519

    public var description: String {
        switch self {
        case .ecdsaP256: "ecdsa-p256"
        case .ecdsaP384: "ecdsa-p384"
        case .ecdsaP521: "ecdsa-p521"
        case .rsa(let bits): "rsa-\(bits)"
        case .ed25519: "ed25519"
        }
    }
}

extension PublicKeyAlgorithm {
    /// The hash a key of this kind signs with unless told otherwise: the hash matched to the
    /// curve's strength for ECDSA (RFC 5656 section 6.2.1: P-256 SHA-256, P-384 SHA-384, P-521
    /// SHA-512), SHA-256 for RSA. Sigstore's default algorithm details for each key type
    /// (sigstore/sigstore `GetDefaultAlgorithmDetails`; protobuf-specs `PublicKeyDetails`) are these.
    public var defaultHash: DigestAlgorithm {
        switch self {
        case .ecdsaP384: .sha384
        case .ecdsaP521: .sha512
        case .ecdsaP256, .rsa, .ed25519: .sha256
        }
    }
}

/// How a signature was made: the message hash (ECDSA, RSA) and, for RSA keys, the padding.
///
/// The default (SHA-256, RSASSA-PKCS1-v1_5) is what cosign uses for key-based signatures with
/// every key type (sigstore/sigstore `signature.LoadVerifier(key, crypto.SHA256)`).
public struct SignatureScheme: Sendable, Hashable, CustomStringConvertible {
    /// RSA signature padding (RFC 8017 section 8).
    public enum RSAPadding: String, Sendable, Hashable, CaseIterable {
        /// RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2).
        case pkcs1v15
        /// RSASSA-PSS (RFC 8017 section 8.1), MGF1 with the message hash; the salt length is
        /// ``SignatureScheme/pssSaltLength``.
        case pss
    }

    public var hash: DigestAlgorithm
    public var rsaPadding: RSAPadding
    /// For RSASSA-PSS, the salt length a signature must have (RFC 8017 section 9.1.2, step 10:
    /// checked exactly); nil accepts any length, recovered from the signature.
    public var pssSaltLength: Int?

    public init(hash: DigestAlgorithm = .sha256, rsaPadding: RSAPadding = .pkcs1v15, pssSaltLength: Int? = nil) {
        self.hash = hash
        self.rsaPadding = rsaPadding
        self.pssSaltLength = pssSaltLength
    }

    /// `sha256`, `sha256, rsa-pss` or `sha256, rsa-pss, salt 32`.
    public var description: String {
        guard rsaPadding == .pss else { return hash.rawValue }
        return pssSaltLength.map { "\(hash.rawValue), rsa-pss, salt \($0)" } ?? "\(hash.rawValue), rsa-pss"
    }

    /// The salt length to hand OpenSSL: exact, or recovered from the signature.
    var openSSLSaltLength: Int32 {
        pssSaltLength.map { Int32(clamping: $0) } ?? RSA_PSS_SALTLEN_AUTO
    }
}

/// Why a public key could not be read. A struct over a private code so that new reasons do not
/// break callers.
public struct PublicKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case notPEM
        case invalidEncoding
        case unsupportedAlgorithm(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .notPEM:
            "not a PEM public key (expected a -----BEGIN PUBLIC KEY----- block with base64 content)"
        case .invalidEncoding:
            "not a valid SubjectPublicKeyInfo (RFC 5280)"
        case .unsupportedAlgorithm(let name):
            "unsupported key algorithm \(name) (supported: ECDSA P-256/P-384/P-521, RSA of at least 2048 bits, Ed25519)"
        }
    }
}
