import SignetRegistry

/// Verifies an image against one signature authority of a policy (cosign key or keyless,
/// Notation, Notary v1, attestations). The verifier holds the deployment's trust material and
/// the registry client; each call takes the per-request policy.
///
/// Contract, following the design rule "a failed verification is a verdict": return an
/// ``AuthorityVerdict`` with `passed == false` when the image is not signed as the authority
/// requires, and throw only when the verifier could not find out (registry unreachable,
/// deadline passed, unsupported authority); the ``PolicyEvaluator`` turns a thrown error into a
/// denial (fail closed) in `Enforce` mode. Implementations must honour task cancellation and
/// `deadline`: the evaluator stops waiting at the deadline.
public protocol AuthorityVerifier: Sendable {
    func verify(
        image: ImageReference,
        authority: CompiledAuthority,
        policy: CompiledPolicy,
        deadline: ContinuousClock.Instant
    ) async throws -> AuthorityVerdict
}

/// The result of checking one image against one authority: whether it passed, why, and the
/// steps taken, in the order a verifier runs them (serialisable for audit).
public struct AuthorityVerdict: Sendable, Hashable, Codable {
    public var passed: Bool
    /// The authority's name.
    public var authority: String
    /// Why it passed or failed, one line (at most ``UntrustedText/reasonLimit`` characters).
    public var reason: String
    /// The checks made, in order.
    public var steps: [VerificationStep]
    /// The digest that was verified (the one a tag resolved to); `nil` when no digest was checked.
    public var digest: ImageDigest?

    public init(passed: Bool, authority: String, reason: String, steps: [VerificationStep] = [], digest: ImageDigest? = nil) {
        self.passed = passed
        self.authority = authority
        self.reason = UntrustedText.bounded(reason, limit: UntrustedText.reasonLimit)
        self.steps = steps
        self.digest = digest
    }
}

/// One check of a verification (e.g. `signature`, `certificate chain`, `transparency log`).
public struct VerificationStep: Sendable, Hashable, Codable {
    public var name: String
    public var passed: Bool
    public var detail: String

    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        self.passed = passed
        self.detail = UntrustedText.bounded(detail, limit: UntrustedText.detailLimit)
    }
}
