import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetCrypto
import SignetPolicy
import SignetRegistry

/// The verification engine: resolves an image to the digest its signatures must cover, finds
/// the verifier for the authority's signature format, and caches results by digest.
///
/// Path of one call (the signet design, "The path of one request"):
/// 1. the digest: the one the image names, without asking the registry, or its tag's
///    resolution, cached for ``VerificationEngineConfiguration/tagTTL`` and shared by
///    concurrent callers;
/// 2. the cache, keyed by digest, policy name, policy revision (SHA-256 of the policy as
///    written) and authority (name and SHA-256 of its trust material): a fresh result is reused;
///    concurrent callers for the same key wait on one verification (single flight);
/// 3. a miss runs the ``SignatureVerifier`` for the authority's format; a passed result is kept
///    for the positive TTL, a failed one for the negative TTL, an error not at all.
///
/// It conforms to ``AuthorityVerifier``, so the ``PolicyEvaluator`` calls it for every signature
/// authority, all images in parallel under the request deadline; errors (registry unreachable,
/// deadline passed) are thrown and the evaluator fails closed with their reason.
///
/// Metrics: the cache counters of ``ExpiringCache`` (`cache="verification"` and `cache="tag"`),
/// `signet_verification_duration_seconds{format,outcome}` (a timer per verification actually
/// run, outcome `passed`, `failed` or `error`) and `signet_verification_signature_fetches_total{format}`.
public final class VerificationEngine: AuthorityVerifier {
    public let configuration: VerificationEngineConfiguration
    private let registry: RegistryClient
    let verifiers: [any SignatureVerifier]
    let results: ExpiringCache<VerificationCacheKey, CachedVerification>
    let tags: ExpiringCache<String, ImageDigest>
    /// The texts of cached results and the repositories of their keys, one copy each.
    let texts = TextPool()
    let logger: Logger
    /// The calendar time a result's ``VerificationResult/validUntil`` is measured against.
    let wallClock: WallClock
    private let retainedRevision = NIOLockedValueBox<String?>(nil)

    /// An engine over `registry` with the given verifiers (default: cosign key-based, keyless,
    /// Notation and in-toto attestations, with the system's calendar clock).
    public init(
        registry: RegistryClient,
        configuration: VerificationEngineConfiguration = VerificationEngineConfiguration(),
        verifiers: [any SignatureVerifier]? = nil,
        clock: VerificationClock = .continuous,
        wallClock: WallClock = .system,
        logger: Logger = Logger(label: "signet.verify")
    ) {
        self.wallClock = wallClock
        self.registry = registry
        self.configuration = configuration
        self.verifiers = verifiers ?? [CosignKeyVerifier(registry: registry), KeylessVerifier(registry: registry), NotationSignatureVerifier(registry: registry), AttestationVerifier(registry: registry)]
        self.results = ExpiringCache(name: "verification", capacity: configuration.capacity, clock: clock)
        self.tags = ExpiringCache(name: "tag", capacity: configuration.tagCapacity, clock: clock)
        self.logger = logger
    }

    // MARK: - AuthorityVerifier

    public func verify(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, deadline: ContinuousClock.Instant
    ) async throws -> AuthorityVerdict {
        try await verify(image: image, authority: authority, policy: policy.name, revision: Self.revision(of: policy), deadline: deadline).verdict
    }

    // MARK: - Verification

    /// Verifies `image` against `authority` of the policy `policy` at `revision`, from the
    /// cache when a fresh result is there.
    public func verify(
        image: ImageReference, authority: CompiledAuthority, policy: String, revision: String, deadline: ContinuousClock.Instant
    ) async throws(VerificationError) -> VerificationResult {
        let start = ContinuousClock.now
        guard let verifier = verifiers.first(where: { $0.handles(authority) }) else {
            throw VerificationError.unsupported(authority.kind.fieldName)
        }
        let (digest, resolutionTime) = try await resolve(image, deadline: deadline)
        let repository = texts.intern(image.name)
        let key = VerificationCacheKey(
            digest: digest, repository: repository, policy: policy, revision: revision, authority: authority.name,
            trust: Self.trustFingerprint(of: authority), tag: Self.signedTag(of: image, authority: authority))
        let texts = self.texts
        let request = VerificationRequest(image: image, digest: digest, authority: authority, policy: policy, deadline: deadline)
        let stored: CachedVerification
        let outcome: CacheOutcome
        do {
            (stored, outcome) = try await results.value(
                for: key, caller: RequestCredentials.identity, dependsOnCaller: Self.dependsOnCredentials,
                deadline: deadline, dependsOnDeadline: Self.isDeadline, sharesValue: \.passed
            ) { [configuration, wallClock] in
                let started = ContinuousClock.now
                let dimensions = [("format", verifier.format.name)]
                do {
                    let result = try await verifier.verify(request)
                    Timer(label: "signet_verification_duration_seconds", dimensions: dimensions + [("outcome", result.passed ? "passed" : "failed")])
                        .recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                    let lifetime = result.passed
                        ? Self.lifetime(configuration.positiveTTL, validUntil: result.validUntil, now: wallClock.now)
                        : configuration.negativeTTL
                    return (CachedVerification(result, digest: digest, repository: repository, pool: texts), lifetime)
                } catch {
                    Timer(label: "signet_verification_duration_seconds", dimensions: dimensions + [("outcome", "error")])
                        .recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                    throw error
                }
            }
        } catch let error as VerificationError {
            throw error
        } catch {
            throw VerificationError(.cancelled)
        }
        var result = report(stored, outcome: outcome, image: image, digest: digest, policy: policy, authority: authority.name)
        if outcome != .miss { result = verifier.revisit(result, authority: authority) }
        result.timings.resolutionMilliseconds = resolutionTime
        result.timings.totalMilliseconds = (ContinuousClock.now - start).milliseconds
        return result
    }

    /// Drops the cached results of policies that are no longer in `policies` as they are now
    /// (removed or changed); their new revisions start with an empty cache either way.
    /// Cheap when the set's revision is the one seen last: call it with every request.
    public func retain(_ policies: PolicySet) async {
        let changed = retainedRevision.withLockedValue { seen -> Bool in
            defer { seen = policies.revision }
            return seen != policies.revision
        }
        guard changed else { return }
        var current: Set<String> = []
        for policy in policies.policies { current.insert(policy.name + "\u{0}" + Self.revision(of: policy)) }
        let keep = current
        let removed = results.removeAll { !keep.contains($0.policy + "\u{0}" + $0.revision) }
        if removed > 0 {
            logger.debug("dropped cached verifications of changed policies", metadata: ["entries": "\(removed)"])
        }
    }

    /// The digest to verify and the milliseconds spent resolving it (nil when no request was made).
    func resolve(_ image: ImageReference, deadline: ContinuousClock.Instant) async throws(VerificationError) -> (ImageDigest, Double?) {
        if let digest = image.digest { return (digest, nil) }
        let registry = self.registry
        let started = ContinuousClock.now
        do {
            let (digest, outcome) = try await tags.value(
                for: image.description, caller: RequestCredentials.identity, dependsOnCaller: Self.dependsOnCredentials,
                deadline: deadline, dependsOnDeadline: Self.isDeadline
            ) { [configuration] in
                (try await registry.identityDigest(of: image, deadline: deadline), configuration.tagTTL)
            }
            return (digest, outcome == .miss ? (ContinuousClock.now - started).milliseconds : nil)
        } catch let error as RegistryError {
            throw VerificationError(error)
        } catch {
            throw VerificationError(.cancelled)
        }
    }

    /// Whether `error` is a registry's (or a Notary server's) refusal of the credentials sent
    /// (401 or 403). Concurrent admissions of one image share a verification, but not their pull
    /// secrets: an admission that joined one refused so tries again with its own.
    static func dependsOnCredentials(_ error: any Error) -> Bool {
        if let registryError = error as? RegistryError { return registryError.kind == .unauthorized || registryError.kind == .denied }
        return (error as? VerificationError)?.isCredentialRefusal == true
    }

    /// How long a pass is kept: `ttl`, but never past the time it stops holding (an expiring
    /// signature, certificate, CRL or trust metadata), measured from `now`.
    static func lifetime(_ ttl: Duration, validUntil: Date?, now: Date) -> Duration {
        guard let validUntil else { return ttl }
        let remaining = validUntil.timeIntervalSince(now)
        guard remaining > 0 else { return .zero }
        return remaining * 1000 < ttl.milliseconds ? .milliseconds(Int64(remaining * 1000)) : ttl
    }

    /// Whether `error` says the deadline passed: a shared verification or tag resolution that
    /// ended so ended at its starter's deadline, and a caller with more time tries again.
    static func isDeadline(_ error: any Error) -> Bool {
        if let registryError = (error as? RegistryError) ?? (error as? VerificationError)?.registryError {
            return registryError.kind == .deadlineExceeded
        }
        return (error as? VerificationError)?.code == .deadlineExceeded
    }

    // MARK: - Cache identity

    /// SHA-256 of the policy as written (its canonical JSON with sorted keys): any edit to the
    /// policy changes it (``CompiledPolicy/definitionDigest``, computed when the policy is compiled).
    public static func revision(of policy: CompiledPolicy) -> String {
        policy.definitionDigest
    }

    /// SHA-256 over what an authority trusts that the policy text does not show
    /// (``CompiledAuthority/trustFingerprint``, computed when the policy is compiled).
    static func trustFingerprint(of authority: CompiledAuthority) -> String {
        authority.trustFingerprint
    }
}
