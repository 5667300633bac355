import Foundation
import SignetCrypto

/// The trust material of a Sigstore deployment: Fulcio certificate authorities, Rekor
/// transparency logs (v1 and v2), certificate transparency logs and RFC 3161 time-stamping
/// authorities, each with its validity period.
///
/// Implements `dev.sigstore.trustroot.v1.TrustedRoot` (sigstore/protobuf-specs
/// `sigstore_trustroot.proto`, media type `application/vnd.dev.sigstore.trustedroot+json;version=0.1`)
/// as distributed in `trusted_root.json` by the Sigstore TUF repository.
public struct TrustedRoot: Sendable {
    /// Rekor instances (`tlogs`).
    public var transparencyLogs: [TransparencyLogInstance]
    /// Fulcio instances (`certificateAuthorities`).
    public var certificateAuthorities: [CertificateAuthority]
    /// Certificate transparency logs (`ctlogs`).
    public var certificateTransparencyLogs: [TransparencyLogInstance]
    /// Time-stamping authorities (`timestampAuthorities`).
    public var timestampAuthorities: [CertificateAuthority]

    public init(
        transparencyLogs: [TransparencyLogInstance], certificateAuthorities: [CertificateAuthority],
        certificateTransparencyLogs: [TransparencyLogInstance], timestampAuthorities: [CertificateAuthority]
    ) {
        self.transparencyLogs = transparencyLogs
        self.certificateAuthorities = certificateAuthorities
        self.certificateTransparencyLogs = certificateTransparencyLogs
        self.timestampAuthorities = timestampAuthorities
    }

    /// Reads a `trusted_root.json`. Entries whose key or certificates cannot be read are kept out
    /// rather than failing the whole root, so one unsupported key type does not disable the rest;
    /// ``skippedEntries`` says which.
    public init(json: [UInt8]) throws(TrustedRootError) {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(json))
        } catch {
            throw TrustedRootError(.invalidJSON(String(describing: error)))
        }
        if let mediaType = document.mediaType, !mediaType.hasPrefix("application/vnd.dev.sigstore.trustedroot") {
            throw TrustedRootError(.unsupportedMediaType(mediaType))
        }
        var skipped: [String] = []
        func logs(_ entries: [Document.Log]?, kind: String) -> [TransparencyLogInstance] {
            (entries ?? []).compactMap { entry in
                do {
                    return try TransparencyLogInstance(entry)
                } catch {
                    skipped.append("\(kind) \(entry.baseUrl ?? "?"): \(error)")
                    return nil
                }
            }
        }
        func authorities(_ entries: [Document.Authority]?, kind: String) -> [CertificateAuthority] {
            (entries ?? []).compactMap { entry in
                do {
                    return try CertificateAuthority(entry)
                } catch {
                    skipped.append("\(kind) \(entry.uri ?? "?"): \(error)")
                    return nil
                }
            }
        }
        transparencyLogs = logs(document.tlogs, kind: "tlog")
        certificateTransparencyLogs = logs(document.ctlogs, kind: "ctlog")
        certificateAuthorities = authorities(document.certificateAuthorities, kind: "certificate authority")
        timestampAuthorities = authorities(document.timestampAuthorities, kind: "timestamp authority")
        skippedEntries = skipped
    }

    /// Entries of the JSON that could not be read, with the reason.
    public private(set) var skippedEntries: [String] = []

    /// Reads a `trusted_root.json` file.
    public init(contentsOf url: URL) throws(TrustedRootError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TrustedRootError(.unreadable(url.path, String(describing: error)))
        }
        try self.init(json: [UInt8](data))
    }

    /// The Rekor instance whose log ID is `logID`.
    public func transparencyLog(id logID: [UInt8]) -> TransparencyLogInstance? {
        transparencyLogs.first { $0.logID == logID }
    }

    /// The CT log whose log ID is `logID`.
    public func certificateTransparencyLog(id logID: [UInt8]) -> TransparencyLogInstance? {
        certificateTransparencyLogs.first { $0.logID == logID }
    }

    struct Document: Decodable {
        struct Bytes: Decodable { var rawBytes: String? }
        struct TimeRange: Decodable { var start: String?; var end: String? }
        struct Key: Decodable { var rawBytes: String?; var keyDetails: String?; var validFor: TimeRange? }
        struct LogID: Decodable { var keyId: String? }
        struct Log: Decodable {
            var baseUrl: String?
            var hashAlgorithm: String?
            var publicKey: Key?
            var logId: LogID?
            var checkpointKeyId: LogID?
        }
        struct Chain: Decodable { var certificates: [Bytes]? }
        struct Subject: Decodable { var organization: String?; var commonName: String? }
        struct Authority: Decodable {
            var subject: Subject?
            var uri: String?
            var certChain: Chain?
            var validFor: TimeRange?
        }
        var mediaType: String?
        var tlogs: [Log]?
        var certificateAuthorities: [Authority]?
        var ctlogs: [Log]?
        var timestampAuthorities: [Authority]?
    }
}

extension ValidityPeriod {
    init(_ range: TrustedRoot.Document.TimeRange?) throws(TrustedRootError) {
        var start: Date?
        var end: Date?
        if let text = range?.start {
            guard let date = RFC3339.date(text) else { throw TrustedRootError(.invalidTime(text)) }
            start = date
        }
        if let text = range?.end {
            guard let date = RFC3339.date(text) else { throw TrustedRootError(.invalidTime(text)) }
            end = date
        }
        self.init(start: start, end: end)
    }
}

/// A transparency log a trusted root names: a Rekor instance or a CT log
/// (`dev.sigstore.trustroot.v1.TransparencyLogInstance`).
public struct TransparencyLogInstance: Sendable, Hashable {
    /// The log's base URL, for messages.
    public var baseURL: String
    /// The log ID: for Rekor v1 and CT logs the SHA-256 of the DER public key (RFC 6962 section
    /// 3.2); for Rekor v2 the signed-note key ID.
    public var logID: [UInt8]
    /// The key that signs entries, SETs and checkpoints.
    public var publicKey: PublicKey
    /// How the key signs: the hash (and RSA padding) its `keyDetails` name, or the key type's
    /// default when the root names none (``PublicKeyAlgorithm/defaultHash``).
    public var signatureScheme: SignatureScheme
    /// When the key may be used.
    public var validity: ValidityPeriod

    public init(baseURL: String, logID: [UInt8], publicKey: PublicKey, validity: ValidityPeriod, signatureScheme: SignatureScheme? = nil) {
        self.baseURL = baseURL
        self.logID = logID
        self.publicKey = publicKey
        self.validity = validity
        self.signatureScheme = signatureScheme ?? SignatureScheme(hash: publicKey.algorithm.defaultHash)
    }

    init(_ entry: TrustedRoot.Document.Log) throws(TrustedRootError) {
        guard let raw = entry.publicKey?.rawBytes, var der = Base64.decode(raw) else {
            throw TrustedRootError(.missingField("publicKey.rawBytes"))
        }
        let details = entry.publicKey?.keyDetails
        if details == "PKCS1_RSA_PKCS1V5" {
            // A PKCS #1 RSAPublicKey (RFC 8017 appendix A.1.1), not a SubjectPublicKeyInfo.
            der = Self.subjectPublicKeyInfo(rsaPublicKey: der)
        }
        do {
            publicKey = try PublicKey(der: der)
        } catch {
            throw TrustedRootError(.invalidKey(error.description))
        }
        signatureScheme = try Self.signatureScheme(details: details, key: publicKey)
        if let text = entry.logId?.keyId {
            guard let id = Base64.decode(text) else { throw TrustedRootError(.missingField("logId.keyId")) }
            logID = id
        } else {
            logID = DigestAlgorithm.sha256.hash(der)
        }
        baseURL = entry.baseUrl ?? ""
        validity = try ValidityPeriod(entry.publicKey?.validFor)
    }

    /// The scheme `keyDetails` (protobuf-specs `sigstore_common.proto`, `PublicKeyDetails`) names
    /// for `key`; details that do not describe the key are refused, as sigstore-go refuses them.
    static func signatureScheme(details: String?, key: PublicKey) throws(TrustedRootError) -> SignatureScheme {
        guard let details else { return SignatureScheme(hash: key.algorithm.defaultHash) }
        let expected: (matches: Bool, scheme: SignatureScheme)
        switch details {
        case "PKIX_ECDSA_P256_SHA_256": expected = (key.algorithm == .ecdsaP256, SignatureScheme(hash: .sha256))
        case "PKIX_ECDSA_P384_SHA_384": expected = (key.algorithm == .ecdsaP384, SignatureScheme(hash: .sha384))
        case "PKIX_ECDSA_P521_SHA_512": expected = (key.algorithm == .ecdsaP521, SignatureScheme(hash: .sha512))
        case "PKIX_ED25519": expected = (key.algorithm == .ed25519, SignatureScheme())
        case "PKIX_RSA_PKCS1V15_2048_SHA256", "PKIX_RSA_PKCS1V15_3072_SHA256", "PKIX_RSA_PKCS1V15_4096_SHA256",
             "PKCS1_RSA_PKCS1V5", "PKIX_RSA_PKCS1V5":
            expected = (Self.isRSA(key, bits: details), SignatureScheme(hash: .sha256))
        case "PKIX_RSA_PSS_2048_SHA256", "PKIX_RSA_PSS_3072_SHA256", "PKIX_RSA_PSS_4096_SHA256", "PKIX_RSA_PSS", "PKCS1_RSA_PSS":
            expected = (Self.isRSA(key, bits: details), SignatureScheme(hash: .sha256, rsaPadding: .pss))
        default:
            throw TrustedRootError(.invalidKey("unsupported keyDetails \(details)"))
        }
        guard expected.matches else {
            throw TrustedRootError(.invalidKey("keyDetails \(details) does not describe the key, which is \(key.algorithm)"))
        }
        return expected.scheme
    }

    /// Whether `key` is RSA of the size `details` names, if it names one.
    private static func isRSA(_ key: PublicKey, bits details: String) -> Bool {
        guard case .rsa(let bits) = key.algorithm else { return false }
        for size in [2048, 3072, 4096] where details.contains("_\(size)_") { return bits == size }
        return true
    }

    /// A SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7) under `rsaEncryption` around a PKCS #1 key.
    static func subjectPublicKeyInfo(rsaPublicKey: [UInt8]) -> [UInt8] {
        func length(_ count: Int) -> [UInt8] {
            if count < 0x80 { return [UInt8(count)] }
            var bytes: [UInt8] = []
            var rest = count
            while rest > 0 { bytes.insert(UInt8(rest & 0xff), at: 0); rest >>= 8 }
            return [0x80 | UInt8(bytes.count)] + bytes
        }
        let identifier: [UInt8] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]
        let bitString = [0x03] + length(rsaPublicKey.count + 1) + [0x00] + rsaPublicKey
        return [0x30] + length(identifier.count + bitString.count) + identifier + bitString
    }

    /// The host name of ``baseURL``: the signer name on the log's checkpoints.
    public var hostName: String {
        URL(string: baseURL)?.host ?? baseURL
    }
}

/// A certificate authority a trusted root names: a Fulcio instance or a time-stamping authority
/// (`dev.sigstore.trustroot.v1.CertificateAuthority`). The chain runs from the issuing
/// certificate (or, for a TSA, the signing certificate) to the root.
public struct CertificateAuthority: Sendable, Hashable {
    /// The authority's URI, for messages.
    public var uri: String
    /// The chain, first certificate to root.
    public var certificates: [Certificate]
    /// When the authority may be used.
    public var validity: ValidityPeriod

    public init(uri: String, certificates: [Certificate], validity: ValidityPeriod) {
        self.uri = uri
        self.certificates = certificates
        self.validity = validity
    }

    init(_ entry: TrustedRoot.Document.Authority) throws(TrustedRootError) {
        var certificates: [Certificate] = []
        for raw in entry.certChain?.certificates ?? [] {
            guard let text = raw.rawBytes, let der = Base64.decode(text) else {
                throw TrustedRootError(.missingField("certChain.certificates.rawBytes"))
            }
            do {
                certificates.append(try Certificate(derEncoded: der))
            } catch {
                throw TrustedRootError(.invalidCertificate(error.description))
            }
        }
        guard !certificates.isEmpty else { throw TrustedRootError(.missingField("certChain")) }
        self.certificates = certificates
        uri = entry.uri ?? ""
        validity = try ValidityPeriod(entry.validFor)
    }

    /// A chain verifier trusting the authority's last certificate, with the others as intermediates.
    public var chainVerifier: CertificateChainVerifier {
        CertificateChainVerifier(trustAnchors: [certificates[certificates.count - 1]], intermediates: Array(certificates.dropLast()))
    }
}

/// Why a trusted root could not be read. A struct over a private code so that new reasons do not
/// break callers.
public struct TrustedRootError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case unreadable(String, String)
        case invalidJSON(String)
        case unsupportedMediaType(String)
        case missingField(String)
        case invalidKey(String)
        case invalidCertificate(String)
        case invalidTime(String)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .unreadable(let path, let reason): "cannot read trusted root \(path): \(reason)"
        case .invalidJSON(let reason): "trusted root is not valid JSON of the TrustedRoot message: \(reason)"
        case .unsupportedMediaType(let type): "unsupported trusted root media type \(type)"
        case .missingField(let name): "trusted root entry without a valid \(name)"
        case .invalidKey(let reason): "trusted root key: \(reason)"
        case .invalidCertificate(let reason): "trusted root certificate: \(reason)"
        case .invalidTime(let text): "trusted root time \(text) is not RFC 3339"
        }
    }
}
