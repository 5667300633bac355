/// Settings of a ``VerificationEngine``, with documented defaults.
///
/// Defaults: a verdict that an image is signed is kept 10 minutes, one that it is not only
/// 1 minute (a signature may be added soon after a push; a removed key or signature is picked
/// up within the positive TTL, and at once when the policy changes); at most 10,000 results
/// everyone may take, and 2,500 more failures kept for the credentials that found them; a tag's
/// digest is kept 60 seconds (a tag can move, a digest cannot), at most 10,000 tags.
public struct VerificationEngineConfiguration: Sendable {
    /// How long a passed verification is reused.
    public var positiveTTL: Duration
    /// How long a failed verification is reused (shorter: the image may get signed).
    public var negativeTTL: Duration
    /// The most verification results everyone may take (passes) kept; the least recently used go
    /// first. Failures kept for one caller's credentials have a quarter of this of their own, so
    /// they never push out a pass.
    public var capacity: Int
    /// How long a tag's resolved digest is reused.
    public var tagTTL: Duration
    /// The most tag resolutions kept.
    public var tagCapacity: Int

    public init(
        positiveTTL: Duration = .seconds(600), negativeTTL: Duration = .seconds(60), capacity: Int = 10_000,
        tagTTL: Duration = .seconds(60), tagCapacity: Int = 10_000
    ) {
        self.positiveTTL = positiveTTL
        self.negativeTTL = negativeTTL
        self.capacity = capacity
        self.tagTTL = tagTTL
        self.tagCapacity = tagCapacity
    }
}
