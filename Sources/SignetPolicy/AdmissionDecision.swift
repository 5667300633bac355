import SignetRegistry

/// The policy decision for the images of one admission request: whether the object is allowed,
/// a verdict per image use, and the messages the `AdmissionReview` response carries
/// (Kubernetes `admission.k8s.io/v1`: `status.message` for denials, `warnings`, audit
/// annotations).
public struct AdmissionDecision: Sendable, Hashable {
    /// `true` when no image is denied.
    public var allowed: Bool
    /// One verdict per ``ImageUse``, in the order given.
    public var verdicts: [ImageVerdict]
    /// One message per denied image use.
    public var denials: [String]
    /// One message per finding of a policy in `Warn` mode.
    public var warnings: [String]
    /// Findings of policies in `Audit` mode (recorded, never shown to the client).
    public var auditFindings: [String]
    /// How many image uses no ``ClusterImagePolicy`` covers (decided by the ``NoMatchAction``).
    public var uncovered = 0
    /// `label=true` when the object's namespace carries the opt-out label and nothing was
    /// evaluated (see ``ExemptionConfiguration/namespaceOptOutLabel``); `nil` otherwise.
    public var namespaceOptOut: String?

    public init(allowed: Bool, verdicts: [ImageVerdict], denials: [String], warnings: [String], auditFindings: [String]) {
        self.allowed = allowed
        self.verdicts = verdicts
        self.denials = denials
        self.warnings = warnings
        self.auditFindings = auditFindings
    }

    /// One line: `allowed: 3 images (1 warning)` or `denied: 1 of 3 images (docker.io/library/nginx:1.25)`.
    public var summary: String {
        let count = verdicts.count
        let noun = count == 1 ? "image" : "images"
        if allowed {
            var extras: [String] = []
            if !warnings.isEmpty { extras.append("\(warnings.count) warning\(warnings.count == 1 ? "" : "s")") }
            if !auditFindings.isEmpty { extras.append("\(auditFindings.count) audit finding\(auditFindings.count == 1 ? "" : "s")") }
            return "allowed: \(count) \(noun)" + (extras.isEmpty ? "" : " (\(extras.joined(separator: ", ")))")
        }
        let denied = verdicts.filter { $0.outcome == .deny }
        let names = Set(denied.map { $0.reference ?? $0.image }).sorted()
        return "denied: \(denied.count) of \(count) \(noun) (\(names.joined(separator: ", ")))"
    }
}

/// The verdict for one image use.
public struct ImageVerdict: Sendable, Hashable, Codable {
    /// The image as written in the pod spec (``UntrustedText/shown(image:)``: one longer than
    /// any valid reference or holding bytes outside printable ASCII, so never a valid one, is
    /// cut and made printable).
    public var image: String
    /// The normalised reference, or `nil` when the image does not parse.
    public var reference: String?
    /// The container's name as signet shows it (``UntrustedText/shown(containerName:)``).
    public var container: String
    public var containerType: ContainerType
    /// The names of the policies whose globs matched.
    public var policies: [String]
    public var outcome: ImageOutcome
    /// Why, one line (the denial, warning or audit message, or why it was allowed).
    public var reason: String
    /// Per matching policy, how its authorities decided.
    public var results: [PolicyResult]
    /// The exceptions or the bypass that allowed this image.
    public var exemptions: [ExemptionUse]
    /// The digest every passing signature authority verified, when one was: what a pod that
    /// names this image by tag is pinned to.
    public var verifiedDigest: ImageDigest?
    /// Where the container is in its list of the pod spec, when known.
    public var position: Int?

    public init(
        image: String, reference: String?, container: String, containerType: ContainerType,
        policies: [String], outcome: ImageOutcome, reason: String, results: [PolicyResult] = [],
        exemptions: [ExemptionUse] = [], verifiedDigest: ImageDigest? = nil, position: Int? = nil
    ) {
        self.verifiedDigest = verifiedDigest
        self.position = position
        self.exemptions = exemptions
        // Shown in deny messages, audit records and events: cut and made printable when it did
        // not parse (a reference that did is printable and bounded already, and is kept as
        // written, which pinning relies on; no byte scan per image on the review path).
        self.image = reference == nil ? UntrustedText.shown(image: image) : image
        self.reference = reference
        self.container = UntrustedText.shown(containerName: container)
        self.containerType = containerType
        self.policies = policies
        self.outcome = outcome
        self.reason = reason
        self.results = results
    }
}

extension ImageVerdict {
    /// Denied only because verifications could not finish: every `Enforce` policy that failed
    /// is ``PolicyResult/undecided`` (a denial of any other kind, an invalid reference or no
    /// covering policy under `deny`, has no such policy). Admission denies it all the same.
    public var isUndecided: Bool {
        guard outcome == .deny else { return false }
        var undecided = false
        for index in results.indices where results[index].mode == .enforce && !results[index].passed {
            guard results[index].undecided == true else { return false }
            undecided = true
        }
        return undecided
    }
}

/// An error a verifier throws that knows whether trying again later could succeed; the
/// evaluator marks the authority's result ``AuthorityResult/transient`` from it. An error that
/// does not conform is not transient.
public protocol TransientVerificationFailure: Error {
    var isTransient: Bool { get }
}

extension RegistryError: TransientVerificationFailure {}

/// What happens to one image use.
public enum ImageOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    /// Every matching policy passed (or no policy matched and the no-match action is allow).
    case allow
    /// An `Enforce` policy failed, the reference is invalid, or no policy matched under `deny`.
    case deny
    /// Only `Warn` (and `Audit`) policies failed, or no policy matched and the no-match action
    /// is warn: allowed with a warning.
    case warn
    /// Only `Audit` policies failed: allowed, recorded.
    case audit
}

/// How one policy decided for one image.
public struct PolicyResult: Sendable, Hashable, Codable {
    public var policy: String
    public var mode: PolicyMode
    public var passed: Bool
    /// How many authorities had to pass.
    public var required: Int
    /// The authorities that were consulted (the evaluator stops once the outcome is certain).
    public var authorities: [AuthorityResult]
    /// Set when a `PolicyException` exempted the object from this policy (then no authority
    /// was consulted and `passed` is `true`).
    public var exemption: ExemptionUse?
    /// `true` when the policy did not pass only because verifications could not finish: some
    /// authority's status is ``AuthorityResult/Status/error`` with ``AuthorityResult/transient``
    /// (a registry, log or CRL that did not answer, or the deadline), and with those passing,
    /// enough would have passed. `nil` otherwise: passed, or failed whatever the errors.
    /// Admission denies either way (fail closed); a scan of running images reports such an
    /// image `error`, not `fail`.
    public var undecided: Bool?

    public init(
        policy: String, mode: PolicyMode, passed: Bool, required: Int, authorities: [AuthorityResult], exemption: ExemptionUse? = nil,
        undecided: Bool = false
    ) {
        self.exemption = exemption
        self.undecided = undecided ? true : nil
        self.policy = policy
        self.mode = mode
        self.passed = passed
        self.required = required
        self.authorities = authorities
    }
}

/// How one authority decided for one image.
public struct AuthorityResult: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case passed
        case failed
        /// The verifier could not find out (error or deadline): counts as not passed.
        case error
    }

    public var authority: String
    public var status: Status
    public var reason: String
    /// The checks made, as listed or deferred until read (``steps`` lists them): a verdict
    /// from the cache keeps them as the cache does.
    public var stepSource: VerificationSteps
    /// The digest the verdict is about (the one a tag resolved to), when a verifier checked one.
    public var digest: ImageDigest?
    /// The Sigstore trust root the verifier checked against (``CompiledAuthority/trustRoot``),
    /// when the authority uses one.
    public var trustRoot: String?
    /// Whether the verdict was found in the verification cache (`hit`) or asked of the
    /// verifier (`miss`); nil for an authority decided without the verifier (static, trust
    /// material missing). Kept for the history's cache hit rate; not part of the JSON form.
    public var cache: CacheUse?
    /// For status ``Status/error``: `true` when a later try could succeed (a registry, log or
    /// CRL server that could not be reached, timed out or answered 429/502/503/504, or the
    /// deadline), as opposed to an answer that will not change (content the registry serves
    /// that signet refuses: malformed, too large, not matching its digest; a refusal; no
    /// verifier). Only a transient error leaves a policy ``PolicyResult/undecided``: anyone who
    /// may push to a repository can plant content that signet refuses, and that must stay a
    /// failure, not "could not verify". Not part of the JSON form.
    public var transient: Bool?

    /// The checks made, in order.
    public var steps: [VerificationStep] {
        get { stepSource.steps }
        set { stepSource = .listed(newValue) }
    }

    /// How an authority's verdict was obtained.
    public enum CacheUse: String, Sendable, Hashable {
        case hit
        case miss
    }

    enum CodingKeys: String, CodingKey {
        case authority, status, reason, stepSource = "steps", digest, trustRoot
    }

    public init(
        authority: String, status: Status, reason: String, steps: [VerificationStep] = [], digest: ImageDigest? = nil, trustRoot: String? = nil,
        cache: CacheUse? = nil, transient: Bool? = nil
    ) {
        self.init(
            authority: authority, status: status, reason: reason, stepSource: .listed(steps), digest: digest, trustRoot: trustRoot, cache: cache,
            transient: transient)
    }

    public init(
        authority: String, status: Status, reason: String, stepSource: VerificationSteps, digest: ImageDigest? = nil, trustRoot: String? = nil,
        cache: CacheUse? = nil, transient: Bool? = nil
    ) {
        self.transient = transient
        self.cache = cache
        self.authority = authority
        self.status = status
        self.reason = reason
        self.stepSource = stepSource
        self.digest = digest
        self.trustRoot = trustRoot
    }
}
