import Foundation
import SignetAttestation
import SignetPolicy
import SignetRegistry

/// The outcome of verifying one image against one authority, serialisable for audit and for
/// `signet verify --output json`: the digest verified, the authority and the keys that vouched,
/// the format, the signer's identity, every step in order, timings, and for a failure the
/// precise reason.
///
/// Follows the shape of sigstore-go's `VerificationResult` (`pkg/verify/signed_entity.go`): what
/// was checked, by whom it was signed, and why it failed.
public struct VerificationResult: Sendable, Hashable, Codable {
    /// The image as named.
    public var image: String
    /// The digest the signatures were checked against.
    public var digest: ImageDigest
    public var policy: String
    public var authority: String
    public var format: SignatureFormat
    public var passed: Bool
    /// One line: who signed it, or exactly why it is not accepted.
    public var reason: String
    /// The broad reason of a failure (stable, for metrics and callers that branch); nil when passed.
    public var failure: VerificationFailure?
    /// The keys (or identities) that vouched for the image.
    public var signers: [Signer]
    /// The checks made, in order.
    public var steps: [VerificationStep]
    public var timings: Timings
    /// Whether this result came from the cache, and how.
    public var cache: CacheOutcome?
    /// For an `attestations` authority: the attestations verified (signature and subject), with
    /// the predicate fields their conditions read; nil for other formats.
    public var attestations: [VerifiedAttestation]?
    /// When a pass stops holding by the passage of time alone, when it does: the signature's own
    /// expiry (Notation's `io.cncf.notary.expiry`), a certificate judged at the time of
    /// verification, a CRL's `nextUpdate`, the expiry of trust metadata (Notary v1). The result
    /// is not cached past it.
    public var validUntil: Date?

    public init(
        image: String, digest: ImageDigest, policy: String, authority: String, format: SignatureFormat, passed: Bool,
        reason: String, failure: VerificationFailure? = nil, signers: [Signer] = [], steps: [VerificationStep] = [],
        timings: Timings = Timings(), cache: CacheOutcome? = nil
    ) {
        self.image = image
        self.digest = digest
        self.policy = policy
        self.authority = authority
        self.format = format
        self.passed = passed
        self.reason = UntrustedText.bounded(reason, limit: UntrustedText.reasonLimit)
        self.failure = failure
        self.signers = signers
        self.steps = steps
        self.timings = timings
        self.cache = cache
    }

    /// Who vouched for the image: for key-based signatures the key (its source, algorithm and
    /// SHA-256 fingerprint of its SubjectPublicKeyInfo); for keyless ones the certificate identity.
    public struct Signer: Sendable, Hashable, Codable {
        /// How the policy names the key, e.g. `publicKeys[0] (file /keys/alice.pub)`.
        public var key: String
        public var algorithm: String
        /// Hexadecimal SHA-256 of the DER SubjectPublicKeyInfo.
        public var fingerprint: String
        /// The signer identity (certificate subject), when the format has one.
        public var identity: String?
        /// The OIDC issuer that vouched for ``identity`` (keyless signatures).
        public var issuer: String?
        /// The signature layers this signer signed (0-based).
        public var layers: [Int]
        /// The Sigstore bundle referrers (manifest digests) this signer signed, when any.
        public var bundles: [String]?
        /// The certification path that was validated for the signer's certificate, as subjects
        /// (RFC 4514), leaf first and trust anchor last; nil for a bare key.
        public var certificateChain: [String]?

        public init(
            key: String, algorithm: String, fingerprint: String, identity: String? = nil, issuer: String? = nil, layers: [Int],
            bundles: [String]? = nil, certificateChain: [String]? = nil
        ) {
            self.certificateChain = certificateChain
            self.key = key
            self.algorithm = algorithm
            self.fingerprint = fingerprint
            self.identity = identity
            self.issuer = issuer
            self.layers = layers
            self.bundles = bundles
        }
    }

    /// Time spent, in milliseconds (nil for a phase that did not run).
    public struct Timings: Sendable, Hashable, Codable {
        /// Resolving the tag to a digest (nil when the image names a digest or the tag was cached).
        public var resolutionMilliseconds: Double?
        /// Fetching the signature manifest and payloads.
        public var fetchMilliseconds: Double?
        /// Checking signatures and payloads.
        public var checkMilliseconds: Double?
        /// The whole verification, as the caller waited for it.
        public var totalMilliseconds: Double?

        public init(resolutionMilliseconds: Double? = nil, fetchMilliseconds: Double? = nil, checkMilliseconds: Double? = nil, totalMilliseconds: Double? = nil) {
            self.resolutionMilliseconds = resolutionMilliseconds
            self.fetchMilliseconds = fetchMilliseconds
            self.checkMilliseconds = checkMilliseconds
            self.totalMilliseconds = totalMilliseconds
        }
    }

    /// The verdict as the policy evaluator takes it.
    public var verdict: AuthorityVerdict {
        AuthorityVerdict(passed: passed, authority: authority, reason: reason, steps: steps, digest: digest)
    }
}

/// The broad reason a verification failed (a verdict, not an error).
public enum VerificationFailure: String, Sendable, Hashable, Codable, CaseIterable {
    /// No signature artifact exists for the digest.
    case noSignatures
    /// Signatures exist, but none from the trusted keys verifies over a payload for this image.
    case noValidSignature
    /// Valid signatures exist, from fewer distinct trusted keys than the threshold.
    case thresholdNotMet
    /// The signature artifact is malformed (not an image manifest, no signature layers).
    case malformedArtifact
    /// Trust material the authority names (a key file, a Secret key) could not be read, so
    /// nothing can verify (``CompiledAuthority/unresolvedReason``).
    case unresolvedTrustMaterial
    /// Attestations verified, but none meets a requirement's conditions.
    case conditionNotMet
}

/// How a cache answered a lookup.
public enum CacheOutcome: String, Sendable, Hashable, Codable {
    /// A stored result, still fresh.
    case hit
    /// Nothing stored: this caller computed it.
    case miss
    /// Another caller was computing it; this one waited for that result (single flight).
    case joined
}

extension Duration {
    /// The duration in milliseconds, as a `Double`.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
