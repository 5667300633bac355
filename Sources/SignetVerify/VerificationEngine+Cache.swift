import Foundation
import Logging
import SignetAttestation
import SignetPolicy
import SignetRegistry

// The verification cache's entries, and verdicts answered from it without waiting.

extension VerificationEngine: CachedVerdictSource {
    /// The verdict ``verify(image:authority:policy:deadline:)`` would give from a fresh cached
    /// result (the same steps, the same counts), or `nil` when it would have to resolve a tag or
    /// verify: a digest-pinned image or a tag resolved within its TTL, and a verdict stored for
    /// that digest, policy revision and authority.
    public func cachedVerdict(
        image: ImageReference, authority: CompiledAuthority, policy: CompiledPolicy, caller: () -> RequestCredentials.Identity
    ) -> AuthorityVerdict? {
        guard verifiers.contains(where: { $0.handles(authority) }) else { return nil }
        let digest: ImageDigest
        let tagged = image.digest == nil
        if let pinned = image.digest {
            digest = pinned
        } else if let resolved = tags.cachedValue(for: image.description) {
            digest = resolved
        } else {
            return nil
        }
        let repository = image.name
        let key = VerificationCacheKey(
            digest: digest, repository: repository, policy: policy.name, revision: Self.revision(of: policy), authority: authority.name,
            trust: Self.trustFingerprint(of: authority), tag: Self.signedTag(of: image, authority: authority))
        guard let stored = results.cachedValue(for: key, caller: caller()) else { return nil }
        if tagged { tags.countHit() }
        results.countHit()
        if stored.attestations != nil, let verifier = verifiers.first(where: { $0.handles(authority) }) {
            // Conditions that depend on the time are evaluated again.
            let result = verifier.revisit(
                report(stored, outcome: .hit, image: image, digest: digest, policy: policy.name, authority: authority.name), authority: authority)
            return result.verdict
        }
        // What report(...).verdict gives for a hit, without building the whole result; the steps
        // are put together only if read (the history and the console read them, a review does not).
        logger.debug("verified", metadata: [
            "image": "\(image)", "digest": "\(digest)", "policy": "\(policy.name)", "authority": "\(authority.name)",
            "passed": "\(stored.passed)", "cache": "\(CacheOutcome.hit.rawValue)",
        ])
        return AuthorityVerdict(
            passed: stored.passed, authority: authority.name, reason: stored.reason(digest: digest, repository: repository),
            stepSource: .deferred(CachedHitSteps(steps: stored.cachedSteps, digest: digest, repository: repository)), digest: digest)
    }

    /// The result a caller gets for `stored`: the image as it named it, the cache outcome, and
    /// the `digest` step (and the `cache` step unless it verified) before the verifier's steps.
    func report(
        _ stored: CachedVerification, outcome: CacheOutcome, image: ImageReference, digest: ImageDigest, policy: String,
        authority: String
    ) -> VerificationResult {
        var result = stored.result(image: image, digest: digest, policy: policy, authority: authority)
        result.cache = outcome
        result.steps.insert(contentsOf: Self.leadingSteps(digest: digest, outcome: outcome), at: 0)
        logger.debug("verified", metadata: [
            "image": "\(image)", "digest": "\(digest)", "policy": "\(policy)", "authority": "\(authority)",
            "passed": "\(result.passed)", "cache": "\(outcome.rawValue)",
        ])
        return result
    }

    /// The steps a reported result starts with, before the verifier's: `digest`, then `cache`
    /// unless the result was verified now. One list for ``report(_:outcome:image:digest:policy:authority:)``
    /// and for a cached verdict's deferred steps (``CachedHitSteps``), so the two cannot drift apart.
    static func leadingSteps(digest: ImageDigest, outcome: CacheOutcome) -> [VerificationStep] {
        let digestStep = VerificationStep(name: "digest", passed: true, detail: digest.description)
        switch outcome {
        case .miss: return [digestStep]
        case .hit: return [digestStep, VerificationStep(name: "cache", passed: true, detail: "result reused from the cache")]
        case .joined:
            return [digestStep, VerificationStep(name: "cache", passed: true, detail: "result shared with a concurrent verification")]
        }
    }
}

/// The steps of a verdict answered from the cache, as ``VerificationEngine/report(_:outcome:image:digest:policy:authority:)``
/// gives them for a hit (`digest`, `cache`, then the verifier's steps for this image), put
/// together when read.
final class CachedHitSteps: DeferredVerificationSteps {
    let steps: [CachedVerification.Step]
    let digest: ImageDigest
    let repository: String

    init(steps: [CachedVerification.Step], digest: ImageDigest, repository: String) {
        self.steps = steps
        self.digest = digest
        self.repository = repository
    }

    /// The steps in front of the cached ones: `digest` and `cache` (``VerificationEngine/leadingSteps(digest:outcome:)``
    /// of a hit; `VerificationCacheTests` checks that the two agree).
    static let leadingCount = 2

    var count: Int { steps.count + Self.leadingCount }

    func list() -> [VerificationStep] {
        var list = VerificationEngine.leadingSteps(digest: digest, outcome: .hit)
        list.reserveCapacity(list.count + steps.count)
        CachedVerification.append(steps, to: &list, digest: digest, repository: repository)
        return list
    }
}

/// What a cached verification result is keyed by: the repository and digest verified, the
/// policy and its revision, and the authority with its trust material.
///
/// The repository is part of the key because signatures are found per repository (cosign's
/// `<repository>:sha256-<hex>.sig`, referrers): the same bytes copied to another repository
/// without signatures are a different question, and must not reuse the signed copy's verdict.
/// So is the tag, for an authority whose verdict depends on it (Notary v1 signs a tag as a
/// digest: `api:v1` signed as D says nothing of `api:v2` pointed at D).
///
/// Compact: a sha256 digest is kept as its 32 bytes, and the revision and trust fingerprint are
/// the compiled policy's own strings, shared by every entry of that policy.
struct VerificationCacheKey: Hashable, Sendable {
    var digest: DigestKey
    /// The normalised repository name (`registry/repository`).
    var repository: String
    var policy: String
    var revision: String
    var authority: String
    var trust: String
    /// The tag the verdict is about, for an authority that signs tags (``VerificationEngine/signedTag(of:authority:)``); empty otherwise.
    var tag: String

    /// Hashes the digest, repository, tag and the policy and authority names: the revision and
    /// trust fingerprint are 64 hexadecimal digits each, and entries that differ only in them
    /// (two revisions of one policy cached at once) are rare; equality still compares them. The
    /// tag is hashed because whoever writes a pod chooses it: keys that differ in it alone (one
    /// digest under a thousand made-up tags of a Notary v1 repository) would otherwise share a
    /// hash and turn every lookup into a walk through them, under the cache's lock.
    func hash(into hasher: inout Hasher) {
        hasher.combine(digest)
        hasher.combine(repository)
        hasher.combine(tag)
        hasher.combine(policy)
        hasher.combine(authority)
    }

    init(digest: ImageDigest, repository: String, policy: String, revision: String, authority: String, trust: String, tag: String = "") {
        self.digest = DigestKey(digest)
        self.repository = repository
        self.policy = policy
        self.revision = revision
        self.authority = authority
        self.trust = trust
        self.tag = tag
    }
}

extension VerificationEngine {
    /// The tag a verdict of `authority` is about: for Notary v1, the image's tag (`latest` when it
    /// names neither tag nor digest); empty for every other kind, whose verdicts are about the
    /// digest alone.
    static func signedTag(of image: ImageReference, authority: CompiledAuthority) -> String {
        guard authority.kindName == .notaryV1 else { return "" }
        return image.effectiveTag ?? ""
    }
}

/// An image digest as a key: `sha256` with 64 lowercase hexadecimal digits as four words,
/// anything else as its text.
struct DigestKey: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// The digest's text when it is not a canonical sha256 digest.
    private var text: String?

    init(_ digest: ImageDigest) {
        guard digest.algorithm == "sha256", let words = Self.words(digest.encoded) else {
            text = digest.description
            return
        }
        self.words = words
    }

    /// The 64 lowercase hexadecimal digits of `hex` as four big-endian words; nil for anything
    /// else. Read on every cached verdict looked up, so branch-light: a digit's value is its low
    /// four bits, plus 9 for `a`-`f` (whose bit 6 is set).
    private static func words(_ hex: String) -> (UInt64, UInt64, UInt64, UInt64)? {
        var hex = hex
        return hex.withUTF8 { bytes -> (UInt64, UInt64, UInt64, UInt64)? in
            guard bytes.count == 64 else { return nil }
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            var valid = true
            for word in 0..<4 {
                var value: UInt64 = 0
                for byte in bytes[(word * 16)..<(word * 16 + 16)] {
                    valid = valid && (byte &- UInt8(ascii: "0") < 10 || byte &- UInt8(ascii: "a") < 6)
                    value = value << 4 | UInt64((byte & 0x0F) &+ 9 &* (byte >> 6))
                }
                switch word {
                case 0: words.0 = value
                case 1: words.1 = value
                case 2: words.2 = value
                default: words.3 = value
                }
            }
            return valid ? words : nil
        }
    }

    static func == (lhs: DigestKey, rhs: DigestKey) -> Bool {
        lhs.words == rhs.words && lhs.text == rhs.text
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
        hasher.combine(text)
    }
}

/// A verification result as the cache keeps it: what the verifier found, without what the key
/// and the caller already hold (the image as named, the digest, the policy and the authority),
/// which ``result(image:digest:policy:authority:)`` puts back.
///
/// Compact, for a cache of 100,000 verdicts: the reason and the steps are ``CachedText`` (the
/// image's digest and repository kept as markers), and every text comes from the engine's
/// ``TextPool``, so verdicts alike share their texts.
struct CachedVerification: Sendable {
    /// A ``VerificationStep`` as the cache keeps it.
    struct Step: Sendable {
        var name: String
        var passed: Bool
        var detail: CachedText
    }

    var format: SignatureFormat
    var passed: Bool
    var reason: CachedText
    var failure: VerificationFailure?
    var signers: [VerificationResult.Signer]
    var cachedSteps: [Step]
    var fetchMilliseconds: Double?
    var checkMilliseconds: Double?
    /// The attestations verified, with only the predicate fields their conditions read.
    var attestations: [VerifiedAttestation]?
    /// When the result stops holding (the entry expires by then).
    var validUntil: Date?

    /// `result` of verifying `repository` at `digest`, its texts taken from `pool`.
    init(_ result: VerificationResult, digest: ImageDigest, repository: String, pool: TextPool) {
        let hex = digest.encoded
        format = result.format
        passed = result.passed
        reason = CachedText(result.reason, digestHex: hex, repository: repository, pool: pool)
        failure = result.failure
        signers = result.signers.map { signer in
            var signer = signer
            signer.key = pool.intern(signer.key)
            signer.algorithm = pool.intern(signer.algorithm)
            signer.fingerprint = pool.intern(signer.fingerprint)
            signer.identity = signer.identity.map(pool.intern)
            signer.issuer = signer.issuer.map(pool.intern)
            return signer
        }
        cachedSteps = result.steps.map { step in
            Step(name: pool.intern(step.name), passed: step.passed,
                 detail: CachedText(step.detail, digestHex: hex, repository: repository, pool: pool))
        }
        fetchMilliseconds = result.timings.fetchMilliseconds
        checkMilliseconds = result.timings.checkMilliseconds
        attestations = result.attestations
        validUntil = result.validUntil
    }

    /// The reason, for the image at `digest` in `repository` it was kept for.
    func reason(digest: ImageDigest, repository: String) -> String {
        reason.text(digestHex: digest.encoded, repository: repository)
    }

    /// The steps, for the image at `digest` in `repository` they were kept for.
    func steps(digest: ImageDigest, repository: String) -> [VerificationStep] {
        var steps: [VerificationStep] = []
        steps.reserveCapacity(cachedSteps.count)
        Self.append(cachedSteps, to: &steps, digest: digest, repository: repository)
        return steps
    }

    /// Appends `cached` to `steps`, for the image at `digest` in `repository` they were kept for.
    static func append(_ cached: [Step], to steps: inout [VerificationStep], digest: ImageDigest, repository: String) {
        let hex = digest.encoded
        for step in cached {
            steps.append(VerificationStep(name: step.name, passed: step.passed, detail: step.detail.text(digestHex: hex, repository: repository)))
        }
    }

    func result(image: ImageReference, digest: ImageDigest, policy: String, authority: String) -> VerificationResult {
        let repository = image.name
        var result = VerificationResult(
            image: image.description, digest: digest, policy: policy, authority: authority, format: format, passed: passed,
            reason: reason(digest: digest, repository: repository), failure: failure, signers: signers,
            steps: steps(digest: digest, repository: repository),
            timings: VerificationResult.Timings(fetchMilliseconds: fetchMilliseconds, checkMilliseconds: checkMilliseconds))
        result.attestations = attestations
        result.validUntil = validUntil
        return result
    }
}

extension VerificationEngine: TagDigestSource {
    /// The digest `image` (a tag) resolved to within the tag TTL, from the same cache
    /// verifications use; `nil` when it would have to be asked.
    public func cachedDigest(ofTag image: ImageReference) -> ImageDigest? {
        tags.cachedValue(for: image.description)
    }

    /// The digest `image` (a tag) names now: a fresh resolution from the cache, or the registry
    /// asked (with the admission's pull secrets), shared with concurrent resolutions of the tag.
    public func digest(ofTag image: ImageReference, deadline: ContinuousClock.Instant) async throws -> ImageDigest {
        try await resolve(image, deadline: deadline).0
    }
}
