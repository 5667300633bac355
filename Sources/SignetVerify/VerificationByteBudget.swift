/// The bytes of attestation blobs one verification may download from one place it searches
/// (the `.att` image's layers; the Sigstore bundle referrers), each blob within its own cap
/// besides. Every blob downloaded counts, whether it turns out to be an attestation or not.
///
/// Whoever may push to a repository a policy covers chooses how many referrers and layers an
/// image has, and how large each is up to its cap (16 MiB): an image with 32 bundle referrers
/// and a `.att` image of 64 envelopes made one verification download 1.5 GiB, for each new
/// digest pushed. Blobs are read smallest first, so large ones pushed beside a real attestation
/// spend the budget after it; past the budget nothing more is fetched, and what was not read is
/// a refusal the verdict names (a verification can only fail for it, never pass). Manifests
/// are not counted: their count and their 4 MiB cap bound them.
public struct VerificationByteBudget: Sendable, Hashable {
    /// What an attestations verification may download by default from each place: 64 MiB, four
    /// SBOMs as large as an envelope may be (``AttestationVerifier/maximumEnvelopeBytes``).
    public static let attestations = VerificationByteBudget(limit: 64 * 1024 * 1024)

    /// The bytes one verification may download.
    public let limit: Int
    /// The bytes downloaded so far.
    public private(set) var spent = 0

    public init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// What is left to download.
    public var remaining: Int { max(0, limit - spent) }

    /// Why a blob of `size` bytes (its descriptor's) is not fetched; nil when it fits what is left.
    public func refusal(forBlobOf size: Int64) -> String? {
        guard size >= 0 else { return "not read: its descriptor gives a size of \(size) bytes" }
        guard size > Int64(remaining) else { return nil }
        return "not read: its \(size) bytes would take this verification past the \(limit) bytes signet downloads "
            + "from one place for one image's attestations (\(spent) read already, smallest first)"
    }

    /// Counts `count` bytes downloaded.
    public mutating func spend(_ count: Int) {
        spent += max(0, count)
    }
}
