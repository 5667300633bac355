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

/// What a tag names now. `name:tag@sha256:…` runs the digest whatever the tag names, so a policy
/// limited to tags (`spec.images[].tags`) that the written tag is outside of still covers the
/// image unless the tag really names that digest; the ``PolicyEvaluator`` asks this to find out
/// (a verifier that resolves tags anyway, such as the verification engine, is one).
public protocol TagDigestSource: Sendable {
    /// The digest `image` (a tag, no digest) was resolved to recently, without asking anyone;
    /// `nil` when none is known.
    func cachedDigest(ofTag image: ImageReference) -> ImageDigest?
    /// The digest `image` (a tag, no digest) names now, asked of its registry by `deadline`.
    func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest
}

/// The result of checking one image against one authority: whether it passed, why, and the
/// steps taken, in the order a verifier runs them (serialisable for audit).
public struct AuthorityVerdict: Sendable, Hashable, Codable {
    public var passed: Bool
    /// The authority's name.
    public var authority: String
    /// Why it passed or failed, one line (at most ``UntrustedText/reasonLimit`` characters).
    public var reason: String
    /// The checks made, as listed or deferred until read (``steps`` lists them).
    public var stepSource: VerificationSteps
    /// The digest that was verified (the one a tag resolved to); `nil` when no digest was checked.
    public var digest: ImageDigest?

    /// The checks made, in order.
    public var steps: [VerificationStep] {
        get { stepSource.steps }
        set { stepSource = .listed(newValue) }
    }

    public init(passed: Bool, authority: String, reason: String, steps: [VerificationStep] = [], digest: ImageDigest? = nil) {
        self.init(passed: passed, authority: authority, reason: reason, stepSource: .listed(steps), digest: digest)
    }

    public init(passed: Bool, authority: String, reason: String, stepSource: VerificationSteps, digest: ImageDigest? = nil) {
        self.passed = passed
        self.authority = authority
        self.reason = UntrustedText.bounded(reason, limit: UntrustedText.reasonLimit)
        self.stepSource = stepSource
        self.digest = digest
    }

    private enum CodingKeys: String, CodingKey {
        case passed, authority, reason, stepSource = "steps", digest
    }
}

/// Verification steps kept in a compact form, put together only when read. The verification
/// cache keeps a verdict's steps as templates (the image's digest and repository as markers);
/// a cached verdict answers every review of its image, and only the history, the console and
/// the JSON forms read the steps.
public protocol DeferredVerificationSteps: Sendable {
    /// The steps, in order.
    func list() -> [VerificationStep]
    /// How many steps ``list()`` gives, without putting them together.
    var count: Int { get }
}

/// The steps of a verdict: listed, or deferred until read. Two compare, hash and encode as
/// their ``steps`` (a JSON array), however each keeps them; decoded, they are listed.
public enum VerificationSteps: Sendable, Hashable, Codable {
    case listed([VerificationStep])
    case deferred(any DeferredVerificationSteps)

    /// The steps, put together when deferred (again at every read: they are read rarely).
    public var steps: [VerificationStep] {
        switch self {
        case .listed(let steps): steps
        case .deferred(let source): source.list()
        }
    }

    /// How many steps there are, without putting deferred ones together.
    public var count: Int {
        switch self {
        case .listed(let steps): steps.count
        case .deferred(let source): source.count
        }
    }

    public static func == (lhs: VerificationSteps, rhs: VerificationSteps) -> Bool { lhs.steps == rhs.steps }

    public func hash(into hasher: inout Hasher) { hasher.combine(steps) }

    public init(from decoder: any Decoder) throws {
        self = .listed(try decoder.singleValueContainer().decode([VerificationStep].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(steps)
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
