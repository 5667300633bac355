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
    /// When the key may be used.
    public var validity: ValidityPeriod

    public init(baseURL: String, logID: [UInt8], publicKey: PublicKey, validity: ValidityPeriod) {
        self.baseURL = baseURL
        self.logID = logID
        self.publicKey = publicKey
        self.validity = validity
    }

    init(_ entry: TrustedRoot.Document.Log) throws(TrustedRootError) {
        guard let raw = entry.publicKey?.rawBytes, let der = Base64.decode(raw) else {
            throw TrustedRootError(.missingField("publicKey.rawBytes"))
        }
        do {
            publicKey = try PublicKey(der: der)
        } catch {
            throw TrustedRootError(.invalidKey(error.description))
        }
        if let text = entry.logId?.keyId {
            guard let id = Base64.decode(text) else { throw TrustedRootError(.missingField("logId.keyId")) }
            logID = id
        } else {
            logID = DigestAlgorithm.sha256.hash(der)
        }
        baseURL = entry.baseUrl ?? ""
        validity = try ValidityPeriod(entry.publicKey?.validFor)
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
