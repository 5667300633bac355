import SignetCrypto

/// A Fulcio certificate extension under OID 1.3.6.1.4.1.57264.1 (sigstore/fulcio
/// `docs/oid-info.md`). The first six are the deprecated forms whose value is the raw string;
/// from `.8` on the value is a DER UTF8String.
public enum FulcioExtension: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case issuerV1 = 1
    case githubWorkflowTrigger = 2
    case githubWorkflowSHA = 3
    case githubWorkflowName = 4
    case githubWorkflowRepository = 5
    case githubWorkflowRef = 6
    case issuer = 8
    case buildSignerURI = 9
    case buildSignerDigest = 10
    case runnerEnvironment = 11
    case sourceRepositoryURI = 12
    case sourceRepositoryDigest = 13
    case sourceRepositoryRef = 14
    case sourceRepositoryIdentifier = 15
    case sourceRepositoryOwnerURI = 16
    case sourceRepositoryOwnerIdentifier = 17
    case buildConfigURI = 18
    case buildConfigDigest = 19
    case buildTrigger = 20
    case runInvocationURI = 21
    case sourceRepositoryVisibilityAtSigning = 22

    /// The dotted OID.
    public var oid: String { "1.3.6.1.4.1.57264.1.\(rawValue)" }

    /// Whether the value is the raw string (OIDs .1 to .6) rather than a DER UTF8String.
    public var isLegacyRawString: Bool { rawValue <= 6 }

    /// The sigstore-go `certificate.Extensions` field name.
    public var description: String {
        switch self {
        case .issuerV1: "issuer (v1)"
        case .githubWorkflowTrigger: "githubWorkflowTrigger"
        case .githubWorkflowSHA: "githubWorkflowSHA"
        case .githubWorkflowName: "githubWorkflowName"
        case .githubWorkflowRepository: "githubWorkflowRepository"
        case .githubWorkflowRef: "githubWorkflowRef"
        case .issuer: "issuer"
        case .buildSignerURI: "buildSignerURI"
        case .buildSignerDigest: "buildSignerDigest"
        case .runnerEnvironment: "runnerEnvironment"
        case .sourceRepositoryURI: "sourceRepositoryURI"
        case .sourceRepositoryDigest: "sourceRepositoryDigest"
        case .sourceRepositoryRef: "sourceRepositoryRef"
        case .sourceRepositoryIdentifier: "sourceRepositoryIdentifier"
        case .sourceRepositoryOwnerURI: "sourceRepositoryOwnerURI"
        case .sourceRepositoryOwnerIdentifier: "sourceRepositoryOwnerIdentifier"
        case .buildConfigURI: "buildConfigURI"
        case .buildConfigDigest: "buildConfigDigest"
        case .buildTrigger: "buildTrigger"
        case .runInvocationURI: "runInvocationURI"
        case .sourceRepositoryVisibilityAtSigning: "sourceRepositoryVisibilityAtSigning"
        }
    }
}

/// The identity a Fulcio certificate attests: the subject alternative name and the values of the
/// Fulcio extensions (sigstore/fulcio `docs/oid-info.md`, `docs/certificate-specification.md`).
public struct FulcioCertificateIdentity: Sendable, Hashable {
    /// The OIDC subject as a SAN: an email, a URI, or the `otherName` username
    /// (1.3.6.1.4.1.57264.1.7); nil when the certificate has none.
    public var subjectAlternativeName: String?
    /// The OIDC issuer: extension `.8` when present, otherwise the legacy `.1`.
    public var issuer: String?
    /// Every Fulcio extension present, decoded.
    public var extensions: [FulcioExtension: String]

    /// Reads the identity of `certificate`.
    public init(certificate: Certificate) throws(SigstoreVerificationFailure) {
        var extensions: [FulcioExtension: String] = [:]
        for fulcioExtension in FulcioExtension.allCases {
            guard let value = certificate.extensionValue(oid: fulcioExtension.oid) else { continue }
            if fulcioExtension.isLegacyRawString {
                extensions[fulcioExtension] = String(decoding: value, as: UTF8.self)
            } else {
                guard let element = DER.element(value), element.tag == 0x0c, let string = element.string else {
                    throw SigstoreVerificationFailure(.identity("Fulcio extension \(fulcioExtension.oid) is not a DER UTF8String"))
                }
                extensions[fulcioExtension] = string
            }
        }
        self.extensions = extensions
        issuer = extensions[.issuer] ?? extensions[.issuerV1]
        subjectAlternativeName = certificate.subjectAlternativeNames.lazy.compactMap { name -> String? in
            switch name {
            case .email(let value), .uri(let value): value
            case .otherName("1.3.6.1.4.1.57264.1.7", let value): value
            default: nil
            }
        }.first
    }
}
