import Foundation
import SignetCrypto

/// A Notary Project signature envelope, read from either of its encodings (Notary Project
/// signature specification, "Signature Envelope": JWS JSON serialization, `application/jose+json`,
/// and COSE_Sign1, `application/cose`) into one shape: what was signed, the signature, the signed
/// attributes and the certificate chain.
///
/// Reading an envelope checks its form only (the attributes the specification requires, `crit`,
/// the content type); the signature itself is checked by ``verifyIntegrity()``.
public struct NotationEnvelope: Sendable {
    /// The most certificates a signature's chain (`x5c`, `x5chain`) may hold: each is parsed
    /// before the signature is verified, and a chain to a signing authority is a few long.
    public static let maximumCertificates = 10

    /// The two envelope media types.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case jws = "application/jose+json"
        case cose = "application/cose"
    }

    public let format: Format
    /// The payload bytes (`application/vnd.cncf.notary.payload.v1+json`).
    public let payload: [UInt8]
    /// The bytes the signature is over: the JWS signing input or the COSE `Sig_structure`.
    public let signedBytes: [UInt8]
    /// The signature value as carried (ECDSA as `r || s`).
    public let signature: [UInt8]
    public let algorithm: NotationSignatureAlgorithm
    public let signingScheme: NotationSigningScheme
    /// `io.cncf.notary.signingTime` (scheme `notary.x509`): the signer's claim, not authentic by itself.
    public let signingTime: Date?
    /// `io.cncf.notary.authenticSigningTime` (scheme `notary.x509.signingAuthority`).
    public let authenticSigningTime: Date?
    /// `io.cncf.notary.expiry`, when the signer set one.
    public let expiry: Date?
    /// `x5c` / `x5chain`, signing certificate first.
    public let certificateChain: [Certificate]
    /// `io.cncf.notary.timestampSignature`: an RFC 3161 TimeStampToken over the signature value.
    public let timestampToken: [UInt8]?
    /// `io.cncf.notary.signingAgent`, for reports.
    public let signingAgent: String?
    /// `io.cncf.notary.verificationPlugin`: the plugin that completes the verification, when the
    /// signature names one. signet performs AWS Signer's plugin's checks itself (``AWSSigner``)
    /// and refuses a signature that names any other.
    public let verificationPlugin: String?
    /// The critical extended attributes the verification plugin processes (``AWSSigner``'s), by name.
    public let pluginAttributes: [String: String]

    /// The content type every Notary Project payload carries.
    public static let payloadContentType = "application/vnd.cncf.notary.payload.v1+json"
    /// Header names (JWS) and labels (COSE) of the Notary Project's signed attributes.
    static let signingSchemeHeader = "io.cncf.notary.signingScheme"
    static let signingTimeHeader = "io.cncf.notary.signingTime"
    static let expiryHeader = "io.cncf.notary.expiry"
    static let authenticSigningTimeHeader = "io.cncf.notary.authenticSigningTime"
    static let signingAgentHeader = "io.cncf.notary.signingAgent"
    static let timestampHeader = "io.cncf.notary.timestampSignature"
    static let verificationPluginHeader = "io.cncf.notary.verificationPlugin"
    static let verificationPluginMinVersionHeader = "io.cncf.notary.verificationPluginMinVersion"
    /// Critical attributes this verifier understands; any other name in `crit` is refused, but
    /// for the attributes of a verification plugin it performs the checks of (``AWSSigner``).
    static let understoodCritical: Set<String> = [signingSchemeHeader, expiryHeader, authenticSigningTimeHeader]
    /// The largest envelope read (Notation envelopes are a few KiB; a timestamp adds a few more).
    public static let maximumBytes = 1024 * 1024

    /// Reads an envelope of `mediaType` from `bytes`.
    public static func parse(_ bytes: [UInt8], mediaType: String) throws(NotationEnvelopeError) -> NotationEnvelope {
        guard bytes.count <= maximumBytes else { throw NotationEnvelopeError("the envelope is \(bytes.count) bytes, over the \(maximumBytes) limit") }
        switch Format(rawValue: mediaType) {
        case .jws: return try parseJWS(bytes)
        case .cose: return try parseCOSE(bytes)
        case nil: throw NotationEnvelopeError("unsupported signature envelope media type \"\(mediaType)\" (expected application/jose+json or application/cose)")
        }
    }

    init(
        format: Format, payload: [UInt8], signedBytes: [UInt8], signature: [UInt8], algorithm: NotationSignatureAlgorithm,
        attributes: SignedAttributes, certificateChain: [Certificate], timestampToken: [UInt8]?, signingAgent: String?
    ) throws(NotationEnvelopeError) {
        var attributes = attributes
        guard !certificateChain.isEmpty else { throw NotationEnvelopeError("the envelope carries no certificate chain (x5c)") }
        guard !signature.isEmpty else { throw NotationEnvelopeError("the signature value is empty") }
        guard attributes.contentType == Self.payloadContentType else {
            throw NotationEnvelopeError("content type \"\(attributes.contentType ?? "")\" is not \(Self.payloadContentType)")
        }
        // crit: must name the signing scheme and every critical attribute present, and nothing
        // this verifier does not understand.
        guard attributes.critical.contains(Self.signingSchemeHeader) else {
            throw NotationEnvelopeError("crit does not list \(Self.signingSchemeHeader)")
        }
        // A verification plugin: AWS Signer's, whose checks signet performs, or none.
        if let plugin = attributes.verificationPlugin, plugin != AWSSigner.pluginName {
            throw NotationEnvelopeError(
                "the signature requires the verification plugin \"\(plugin)\", which signet does not implement (it performs the checks of AWS Signer's, \(AWSSigner.pluginName))")
        }
        let pluginCritical: Set<String> = attributes.verificationPlugin == nil ? []
            : AWSSigner.extendedAttributes.union([Self.verificationPluginHeader, Self.verificationPluginMinVersionHeader])
        for name in attributes.critical {
            guard Self.understoodCritical.contains(name) || pluginCritical.contains(name) else {
                throw NotationEnvelopeError("unknown critical header \"\(name)\" in crit: a verifier must understand every critical attribute")
            }
            guard attributes.present.contains(name) else { throw NotationEnvelopeError("crit lists \"\(name)\", which the protected header lacks") }
        }
        for name in [Self.expiryHeader, Self.authenticSigningTimeHeader, Self.verificationPluginHeader, Self.verificationPluginMinVersionHeader]
        where attributes.present.contains(name) {
            guard attributes.critical.contains(name) else { throw NotationEnvelopeError("\(name) is present but not listed in crit") }
        }
        // A plugin is handed the critical extended attributes only (notation-go does so): one
        // that is not critical does not count.
        attributes.pluginAttributes = attributes.pluginAttributes.filter { attributes.critical.contains($0.key) }
        guard let scheme = attributes.signingScheme else { throw NotationEnvelopeError("\(Self.signingSchemeHeader) is missing") }
        switch scheme {
        case .x509:
            guard attributes.signingTime != nil else { throw NotationEnvelopeError("scheme notary.x509 requires \(Self.signingTimeHeader)") }
            guard attributes.authenticSigningTime == nil else {
                throw NotationEnvelopeError("scheme notary.x509 must not carry \(Self.authenticSigningTimeHeader)")
            }
        case .signingAuthority:
            guard attributes.authenticSigningTime != nil else {
                throw NotationEnvelopeError("scheme notary.x509.signingAuthority requires \(Self.authenticSigningTimeHeader)")
            }
        }
        if attributes.verificationPlugin != nil,
           let problem = AWSSigner.problem(scheme: scheme, attributes: attributes.pluginAttributes, minimumVersion: attributes.verificationPluginMinVersion) {
            throw NotationEnvelopeError(problem)
        }
        if attributes.verificationPlugin == nil, attributes.verificationPluginMinVersion != nil {
            throw NotationEnvelopeError("\(Self.verificationPluginMinVersionHeader) is present without \(Self.verificationPluginHeader)")
        }
        self.format = format
        self.payload = payload
        self.signedBytes = signedBytes
        self.signature = signature
        self.algorithm = algorithm
        self.signingScheme = scheme
        self.signingTime = attributes.signingTime
        self.authenticSigningTime = attributes.authenticSigningTime
        self.expiry = attributes.expiry
        self.certificateChain = certificateChain
        self.timestampToken = timestampToken
        self.signingAgent = signingAgent
        self.verificationPlugin = attributes.verificationPlugin
        self.pluginAttributes = attributes.verificationPlugin == nil ? [:] : attributes.pluginAttributes
    }

    /// The signed attributes, as read from either encoding.
    struct SignedAttributes {
        var contentType: String?
        var critical: [String] = []
        /// Names of the attributes present in the protected header.
        var present: Set<String> = []
        var signingScheme: NotationSigningScheme?
        var signingTime: Date?
        var authenticSigningTime: Date?
        var expiry: Date?
        var verificationPlugin: String?
        var verificationPluginMinVersion: String?
        /// ``AWSSigner/extendedAttributes`` present, as text.
        var pluginAttributes: [String: String] = [:]
    }

    /// The signing certificate.
    public var signingCertificate: Certificate { certificateChain[0] }

    /// Integrity (Notary Project trust store and trust policy specification, "Validate
    /// Integrity"): the signing certificate's key is of the kind and size the algorithm names,
    /// and the signature verifies over the signed bytes. Returns nil when it holds, else why not.
    public func verifyIntegrity() -> String? {
        let key: PublicKey
        do {
            key = try signingCertificate.publicKey()
        } catch {
            return "the signing certificate's key is unusable: \(error)"
        }
        guard algorithm.matches(key.algorithm) else {
            return "the signature algorithm \(algorithm.rawValue) does not fit the signing certificate's \(key.algorithm) key"
        }
        let encoded: [UInt8]
        if algorithm.isECDSA {
            guard let der = ECDSASignature.derEncoded(raw: signature, coordinateBytes: algorithm.coordinateBytes) else {
                return "the \(algorithm.rawValue) signature is \(signature.count) bytes, not \(2 * algorithm.coordinateBytes)"
            }
            encoded = der
        } else {
            encoded = signature
        }
        guard key.verify(signature: encoded, message: signedBytes, scheme: algorithm.scheme) else {
            return "the signature does not verify with the signing certificate's key (\(algorithm.rawValue))"
        }
        return nil
    }
}

/// `io.cncf.notary.signingScheme` (Notary Project signing scheme specification).
public enum NotationSigningScheme: String, Sendable, Hashable, Codable {
    /// The signing time is the signer's claim; it is authentic only through an RFC 3161
    /// timestamp countersignature from a trusted TSA.
    case x509 = "notary.x509"
    /// A signing authority (such as AWS Signer) vouches for `authenticSigningTime`.
    case signingAuthority = "notary.x509.signingAuthority"
}

/// The signature algorithms of the Notary Project signature specification ("Signature
/// Algorithm Requirements"): RSASSA-PSS and ECDSA with SHA-2, each tied to one key size.
public enum NotationSignatureAlgorithm: String, Sendable, Hashable, CaseIterable {
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384", es512 = "ES512"

    /// The COSE algorithm identifiers (RFC 9053 section 2.1, RFC 8230 section 2).
    public init?(coseIdentifier: Int64) {
        switch coseIdentifier {
        case -37: self = .ps256
        case -38: self = .ps384
        case -39: self = .ps512
        case -7: self = .es256
        case -35: self = .es384
        case -36: self = .es512
        default: return nil
        }
    }

    var isECDSA: Bool { self == .es256 || self == .es384 || self == .es512 }

    var hash: DigestAlgorithm {
        switch self {
        case .ps256, .es256: .sha256
        case .ps384, .es384: .sha384
        case .ps512, .es512: .sha512
        }
    }

    var coordinateBytes: Int {
        switch self {
        case .es256: 32
        case .es384: 48
        default: 66
        }
    }

    /// PS256/384/512 are RSASSA-PSS with a salt as long as the hash (RFC 7518 section 3.5,
    /// RFC 8230 section 2), as notation-core-go verifies them: a signature with another salt
    /// length is refused, not recovered.
    var scheme: SignatureScheme {
        isECDSA ? SignatureScheme(hash: hash, rsaPadding: .pkcs1v15) : SignatureScheme(hash: hash, rsaPadding: .pss, pssSaltLength: hash.outputByteCount)
    }

    /// Whether `key` is the kind and size this algorithm is defined for (RSA 2048, 3072, 4096
    /// bits for PS256, PS384, PS512; P-256, P-384, P-521 for ES256, ES384, ES512).
    func matches(_ key: PublicKeyAlgorithm) -> Bool {
        switch (self, key) {
        case (.ps256, .rsa(let bits)): bits == 2048
        case (.ps384, .rsa(let bits)): bits == 3072
        case (.ps512, .rsa(let bits)): bits == 4096
        case (.es256, .ecdsaP256), (.es384, .ecdsaP384), (.es512, .ecdsaP521): true
        default: false
        }
    }
}

/// ECDSA signatures as JWS and COSE carry them (`r || s`, RFC 7518 section 3.4) turned into the
/// DER `ECDSA-Sig-Value` OpenSSL verifies (RFC 3279 section 2.2.3).
enum ECDSASignature {
    static func derEncoded(raw: [UInt8], coordinateBytes: Int) -> [UInt8]? {
        guard raw.count == 2 * coordinateBytes else { return nil }
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var trimmed = Array(bytes.drop { $0 == 0 })
            if trimmed.isEmpty { trimmed = [0] }
            if trimmed[0] & 0x80 != 0 { trimmed.insert(0, at: 0) }
            return [0x02] + length(trimmed.count) + trimmed
        }
        let body = integer(raw[0..<coordinateBytes]) + integer(raw[coordinateBytes...])
        return [0x30] + length(body.count) + body
    }

    private static func length(_ count: Int) -> [UInt8] {
        count < 0x80 ? [UInt8(count)] : [0x81, UInt8(count)]
    }
}

/// Why a signature envelope is not acceptable (the integrity check fails with it).
public struct NotationEnvelopeError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
