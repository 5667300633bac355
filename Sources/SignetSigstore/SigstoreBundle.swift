import Foundation
import SignetCrypto
import SignetJSON

/// A Sigstore bundle: a signature (over a message digest or a DSSE envelope) with everything an
/// offline verifier needs: the signing certificate or a key hint, transparency log entries and
/// RFC 3161 timestamps.
///
/// Implements `dev.sigstore.bundle.v1.Bundle` (sigstore/protobuf-specs `sigstore_bundle.proto`)
/// in its protobuf JSON form, media types `application/vnd.dev.sigstore.bundle+json;version=0.1`,
/// `...;version=0.2`, `...;version=0.3` and `application/vnd.dev.sigstore.bundle.v0.3+json`.
/// Parsing enforces the per-version rules of the Sigstore client specification ("Bundle"):
/// v0.1 entries carry an inclusion promise, v0.2 and later an inclusion proof; v0.3 carries a
/// single certificate rather than a chain; a DSSE envelope carries exactly one signature
/// (`sigstore_bundle.proto`, as sigstore-go's `ErrInvSigCount`), the one the log entries and
/// timestamps attest.
public struct SigstoreBundle: Sendable {
    /// The bundle format version.
    public enum Version: String, Sendable, Hashable, CaseIterable {
        case v0_1 = "0.1"
        case v0_2 = "0.2"
        case v0_3 = "0.3"
    }

    /// What verifies the signature.
    public enum VerificationMaterial: Sendable, Hashable {
        /// A Fulcio (or other CA) leaf certificate; v0.1/v0.2 chains keep only the leaf, since
        /// the path is built from the trusted root.
        case certificate(Certificate)
        /// A key known to the verifier out of band, named by a hint.
        case publicKey(hint: String?)
    }

    /// The signed content.
    public enum Content: Sendable, Hashable {
        /// A signature over an artifact, with the artifact's digest (`MessageSignature`).
        case messageSignature(MessageSignature)
        /// A DSSE envelope (`io.intoto.Envelope`).
        case dsseEnvelope(DSSEEnvelope)
    }

    /// `dev.sigstore.common.v1.MessageSignature`.
    public struct MessageSignature: Sendable, Hashable {
        /// The digest algorithm and value of the artifact, when given.
        public var digest: ArtifactDigest?
        /// The signature over the artifact.
        public var signature: [UInt8]
    }

    public var mediaType: String
    public var version: Version
    public var verificationMaterial: VerificationMaterial
    /// Certificates after the leaf in a v0.1/v0.2 chain (intermediates, perhaps the root); not
    /// trusted, kept for audit.
    public var additionalCertificates: [Certificate]
    public var transparencyLogEntries: [TransparencyLogEntry]
    /// DER TimeStampResp values (`timestampVerificationData.rfc3161Timestamps`).
    public var rfc3161Timestamps: [[UInt8]]
    public var content: Content

    /// Creates a bundle from its parts (for formats that carry the same material differently,
    /// such as cosign's `.sig` annotations).
    public init(
        version: Version, verificationMaterial: VerificationMaterial, transparencyLogEntries: [TransparencyLogEntry],
        rfc3161Timestamps: [[UInt8]] = [], content: Content, additionalCertificates: [Certificate] = []
    ) {
        self.version = version
        self.mediaType = version == .v0_3 ? "application/vnd.dev.sigstore.bundle.v0.3+json"
            : "application/vnd.dev.sigstore.bundle+json;version=\(version.rawValue)"
        self.verificationMaterial = verificationMaterial
        self.transparencyLogEntries = transparencyLogEntries
        self.rfc3161Timestamps = rfc3161Timestamps
        self.content = content
        self.additionalCertificates = additionalCertificates
    }

    /// The most certificates, transparency log entries and RFC 3161 timestamps a bundle may
    /// carry. Signers write one or two of each (a leaf and perhaps its chain; one log; one or
    /// two timestamp authorities). Each is parsed, and each entry and timestamp checked against
    /// the trusted root, before anything trusted has vouched for the bundle: without a bound, a
    /// bundle of a few megabytes from any registry could carry tens of thousands of them.
    public static let maximumCertificates = 10
    /// The longest cosign certificate or chain annotation read: ten certificates of a few
    /// kilobytes each, with room to spare.
    public static let maximumCertificateAnnotationBytes = 64 * 1024
    public static let maximumTransparencyLogEntries = 16
    public static let maximumTimestamps = 8

    /// Reads a bundle's protobuf JSON.
    public init(json: [UInt8]) throws(SigstoreBundleError) {
        let document: Document
        do {
            document = try UntrustedJSON.decode(Document.self, from: json)
        } catch {
            throw SigstoreBundleError(.invalidJSON(String(describing: error)))
        }
        guard let mediaType = document.mediaType else { throw SigstoreBundleError(.missingField("mediaType")) }
        guard let version = Self.version(mediaType: mediaType) else {
            throw SigstoreBundleError(.unsupportedMediaType(mediaType))
        }
        self.mediaType = mediaType
        self.version = version
        guard let material = document.verificationMaterial else { throw SigstoreBundleError(.missingField("verificationMaterial")) }

        var additional: [Certificate] = []
        if let certificate = material.certificate {
            verificationMaterial = .certificate(try Self.certificate(certificate.rawBytes, field: "certificate"))
        } else if let chain = material.x509CertificateChain {
            guard version != .v0_3 else { throw SigstoreBundleError(.versionRule("v0.3 bundles carry a single certificate, not a chain")) }
            let certificates = chain.certificates ?? []
            guard certificates.count <= Self.maximumCertificates else {
                throw SigstoreBundleError(.tooMany(field: "certificates in x509CertificateChain", count: certificates.count, limit: Self.maximumCertificates))
            }
            guard let first = certificates.first else { throw SigstoreBundleError(.missingField("x509CertificateChain.certificates")) }
            verificationMaterial = .certificate(try Self.certificate(first.rawBytes, field: "x509CertificateChain"))
            // Only the leaf is used: the path to a trusted CA is built from the trusted root, never
            // from the bundle. A chain that also carries the root (which sigstore_bundle.proto asks
            // signers to leave out) is accepted, as sigstore-go accepts it: the extra certificates
            // are kept for audit and trusted for nothing.
            for next in certificates.dropFirst() {
                additional.append(try Self.certificate(next.rawBytes, field: "x509CertificateChain"))
            }
        } else if let key = material.publicKey {
            verificationMaterial = .publicKey(hint: key.hint)
        } else {
            throw SigstoreBundleError(.missingField("verificationMaterial.certificate, x509CertificateChain or publicKey"))
        }
        additionalCertificates = additional

        let givenEntries = material.tlogEntries ?? []
        guard givenEntries.count <= Self.maximumTransparencyLogEntries else {
            throw SigstoreBundleError(.tooMany(field: "tlog entries", count: givenEntries.count, limit: Self.maximumTransparencyLogEntries))
        }
        var entries: [TransparencyLogEntry] = []
        for (index, entry) in givenEntries.enumerated() {
            let parsed = try TransparencyLogEntry(entry, index: index)
            switch version {
            case .v0_1:
                guard parsed.inclusionPromise != nil else {
                    throw SigstoreBundleError(.versionRule("v0.1 bundles need an inclusion promise in every tlog entry"))
                }
            case .v0_2, .v0_3:
                guard parsed.inclusionProof != nil else {
                    throw SigstoreBundleError(.versionRule("v\(version.rawValue) bundles need an inclusion proof in every tlog entry"))
                }
            }
            entries.append(parsed)
        }
        transparencyLogEntries = entries

        let givenTimestamps = material.timestampVerificationData?.rfc3161Timestamps ?? []
        guard givenTimestamps.count <= Self.maximumTimestamps else {
            throw SigstoreBundleError(.tooMany(field: "RFC 3161 timestamps", count: givenTimestamps.count, limit: Self.maximumTimestamps))
        }
        var timestamps: [[UInt8]] = []
        for timestamp in givenTimestamps {
            guard let text = timestamp.signedTimestamp, let der = Base64.decode(text) else {
                throw SigstoreBundleError(.invalidBase64("rfc3161Timestamps.signedTimestamp"))
            }
            timestamps.append(der)
        }
        rfc3161Timestamps = timestamps

        switch (document.messageSignature, document.dsseEnvelope) {
        case (let message?, nil):
            guard let text = message.signature, let signature = Base64.decode(text), !signature.isEmpty else {
                throw SigstoreBundleError(.invalidBase64("messageSignature.signature"))
            }
            var digest: ArtifactDigest?
            if let given = message.messageDigest {
                guard let algorithm = given.algorithm.flatMap(ArtifactDigest.algorithm(protobufName:)) else {
                    throw SigstoreBundleError(.unsupportedDigest(given.algorithm ?? "none"))
                }
                guard let text = given.digest, let value = Base64.decode(text), value.count == algorithm.outputByteCount else {
                    throw SigstoreBundleError(.invalidBase64("messageSignature.messageDigest.digest"))
                }
                digest = ArtifactDigest(algorithm: algorithm, value: value)
            }
            content = .messageSignature(MessageSignature(digest: digest, signature: signature))
        case (nil, let envelope?):
            let parsed: DSSEEnvelope
            do {
                parsed = try DSSEEnvelope(envelope)
            } catch {
                throw SigstoreBundleError(.invalidEnvelope(error.description))
            }
            guard parsed.signatures.count == 1 else {
                throw SigstoreBundleError(.invalidEnvelope(Self.envelopeSignatureCountRule(parsed.signatures.count)))
            }
            content = .dsseEnvelope(parsed)
        case (nil, nil):
            throw SigstoreBundleError(.missingField("messageSignature or dsseEnvelope"))
        case (.some, .some):
            throw SigstoreBundleError(.versionRule("a bundle holds a messageSignature or a dsseEnvelope, not both"))
        }
    }

    /// Reads a bundle file.
    public init(contentsOf url: URL) throws(SigstoreBundleError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SigstoreBundleError(.unreadable(url.path, String(describing: error)))
        }
        try self.init(json: [UInt8](data))
    }

    static func version(mediaType: String) -> Version? {
        switch mediaType {
        case "application/vnd.dev.sigstore.bundle+json;version=0.1": .v0_1
        case "application/vnd.dev.sigstore.bundle+json;version=0.2": .v0_2
        case "application/vnd.dev.sigstore.bundle+json;version=0.3", "application/vnd.dev.sigstore.bundle.v0.3+json": .v0_3
        default: nil
        }
    }

    private static func certificate(_ rawBytes: String?, field: String) throws(SigstoreBundleError) -> Certificate {
        guard let text = rawBytes, let der = Base64.decode(text), !der.isEmpty else {
            throw SigstoreBundleError(.invalidBase64("\(field).rawBytes"))
        }
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw SigstoreBundleError(.invalidCertificate(error.description))
        }
    }

    /// The signature that timestamps and log entries attest: the message signature, or the DSSE
    /// envelope's only signature. Nil when the envelope does not carry exactly one signature
    /// (possible only for a bundle built from parts), which the verifier refuses.
    public var signatureBytes: [UInt8]? {
        switch content {
        case .messageSignature(let message): message.signature
        case .dsseEnvelope(let envelope): envelope.signatures.count == 1 ? envelope.signatures[0].signature : nil
        }
    }

    /// Why an envelope with `count` signatures is refused.
    static func envelopeSignatureCountRule(_ count: Int) -> String {
        "the envelope has \(count) signatures; a Sigstore bundle's DSSE envelope must carry exactly one, "
            + "the one its log entries and timestamps attest"
    }

    /// The leaf certificate, when the bundle has one.
    public var certificate: Certificate? {
        if case .certificate(let certificate) = verificationMaterial { return certificate }
        return nil
    }

    struct Document: Decodable {
        struct Bytes: Decodable { var rawBytes: String? }
        struct Chain: Decodable { var certificates: [Bytes]? }
        struct KeyHint: Decodable { var hint: String? }
        struct Timestamp: Decodable { var signedTimestamp: String? }
        struct TimestampData: Decodable { var rfc3161Timestamps: [Timestamp]? }
        struct Material: Decodable {
            var publicKey: KeyHint?
            var x509CertificateChain: Chain?
            var certificate: Bytes?
            var tlogEntries: [TransparencyLogEntry.Document]?
            var timestampVerificationData: TimestampData?
        }
        struct Digest: Decodable { var algorithm: String?; var digest: String? }
        struct Message: Decodable { var messageDigest: Digest?; var signature: String? }
        var mediaType: String?
        var verificationMaterial: Material?
        var messageSignature: Message?
        var dsseEnvelope: DSSEEnvelope.Document?
    }
}

/// The digest of an artifact (`dev.sigstore.common.v1.HashOutput`).
public struct ArtifactDigest: Sendable, Hashable, CustomStringConvertible {
    public var algorithm: DigestAlgorithm
    public var value: [UInt8]

    public init(algorithm: DigestAlgorithm, value: [UInt8]) {
        self.algorithm = algorithm
        self.value = value
    }

    /// The digest of `bytes` under `algorithm`.
    public init(of bytes: [UInt8], algorithm: DigestAlgorithm = .sha256) {
        self.init(algorithm: algorithm, value: algorithm.hash(bytes))
    }

    /// Reads `sha256:<hex>` (OCI image-spec "Digests" form).
    public init?(parsing text: String) {
        guard let colon = text.firstIndex(of: ":"),
              let algorithm = DigestAlgorithm(rawValue: String(text[..<colon])),
              let value = Hex.decode(text[text.index(after: colon)...]), value.count == algorithm.outputByteCount else {
            return nil
        }
        self.init(algorithm: algorithm, value: value)
    }

    /// `sha256:<hex>`.
    public var description: String { "\(algorithm.rawValue):\(Hex.encode(value))" }

    static func algorithm(protobufName: String) -> DigestAlgorithm? {
        switch protobufName {
        case "SHA2_256", "sha256": .sha256
        case "SHA2_384", "sha384": .sha384
        case "SHA2_512", "sha512": .sha512
        default: nil
        }
    }
}

/// Why a bundle could not be read. A struct over a private code so that new reasons do not break
/// callers.
public struct SigstoreBundleError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: Sendable, Hashable {
        case unreadable(String, String)
        case invalidJSON(String)
        case unsupportedMediaType(String)
        case missingField(String)
        case invalidBase64(String)
        case invalidCertificate(String)
        case invalidEnvelope(String)
        case unsupportedDigest(String)
        case versionRule(String)
        case invalidEntry(String)
        case tooMany(field: String, count: Int, limit: Int)
    }

    let code: Code

    init(_ code: Code) {
        self.code = code
    }

    public var description: String {
        switch code {
        case .unreadable(let path, let reason): "cannot read bundle \(path): \(reason)"
        case .invalidJSON(let reason): "bundle is not valid JSON of the Bundle message: \(reason)"
        case .unsupportedMediaType(let type): "unsupported bundle media type \(type)"
        case .missingField(let name): "bundle has no \(name)"
        case .invalidBase64(let field): "bundle field \(field) is not valid base64"
        case .invalidCertificate(let reason): "bundle certificate: \(reason)"
        case .invalidEnvelope(let reason): "bundle DSSE envelope: \(reason)"
        case .unsupportedDigest(let name): "unsupported message digest algorithm \(name)"
        case .versionRule(let rule): "bundle breaks its version's rules: \(rule)"
        case .invalidEntry(let reason): "bundle tlog entry: \(reason)"
        case .tooMany(let field, let count, let limit): "bundle has \(count) \(field), more than the \(limit) signet reads"
        }
    }
}
