import SignetPolicy
import SignetRegistry

/// One signature format's verification: given an image pinned to its digest and one authority
/// of a policy, fetch the signatures that format defines and check them against the
/// authority's trust material.
///
/// The seam every format plugs into (cosign key-based, and later keyless, Sigstore bundles,
/// Notation, Notary v1, in-toto attestations), following the design rule of sigstore-go's
/// `pkg/verify` and swift-certificates' `VerifierPolicy`: the verifier holds the deployment's
/// trust, each call takes the per-request policy, and the steps run in the order the format's
/// specification gives them.
///
/// Contract: return a ``VerificationResult`` with `passed == false` and a precise reason when the
/// image is not signed as the authority requires (a verdict); throw a ``VerificationError``
/// only when the verifier could not find out (registry unreachable, deadline passed).
public protocol SignatureVerifier: Sendable {
    /// The format this verifier checks.
    var format: SignatureFormat { get }

    /// Whether this verifier checks `authority` (for example `key` authorities for cosign).
    func handles(_ authority: CompiledAuthority) -> Bool

    /// Verifies `request.digest` against `request.authority`.
    func verify(_ request: VerificationRequest) async throws(VerificationError) -> VerificationResult

    /// A result taken from the cache, brought up to date where it depends on the time (the
    /// conditions of attestations); the result as cached for most formats.
    func revisit(_ cached: VerificationResult, authority: CompiledAuthority) -> VerificationResult
}

extension SignatureVerifier {
    public func revisit(_ cached: VerificationResult, authority: CompiledAuthority) -> VerificationResult { cached }
}

/// What one verification is about: the image as named, the digest it was resolved to, the
/// authority and the policy it belongs to, and the deadline.
public struct VerificationRequest: Sendable {
    /// The image as the pod names it (tag, digest or both).
    public let image: ImageReference
    /// The digest signatures must cover (see ``RegistryClient/identityDigest(of:deadline:)``).
    public let digest: ImageDigest
    public let authority: CompiledAuthority
    /// The policy's name (for reports).
    public let policy: String
    public let deadline: ContinuousClock.Instant

    public init(image: ImageReference, digest: ImageDigest, authority: CompiledAuthority, policy: String, deadline: ContinuousClock.Instant) {
        self.image = image
        self.digest = digest
        self.authority = authority
        self.policy = policy
        self.deadline = deadline
    }

    /// The image in its repository, pinned to ``digest``.
    public var pinnedImage: ImageReference { image.withDigest(digest) }
}

/// A signature format, as named in results, metrics and logs.
///
/// cosign key-based signatures follow sigstore/cosign `specs/SIGNATURE_SPEC.md`.
public struct SignatureFormat: Sendable, Hashable, Codable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    /// cosign signatures made with a key pair: the `<alg>-<hex>.sig` image of simple-signing
    /// payloads (sigstore/cosign `specs/SIGNATURE_SPEC.md`).
    public static let cosignKey = SignatureFormat("cosign-key")

    public var description: String { name }

    public init(from decoder: any Decoder) throws {
        name = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
