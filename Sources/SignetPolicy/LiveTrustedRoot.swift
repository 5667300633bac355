import NIOConcurrencyHelpers
import SignetSigstore

/// The Sigstore trusted root that `keyless` authorities naming no `trustRoot` verify against,
/// when signet keeps it current at run time through TUF (Sigstore client specification,
/// "Trusted root"; TUF specification section 5) instead of using the root embedded at build
/// time.
///
/// The updater publishes each root it adopts here; a ``PolicyLoader`` reads the one in force
/// when it compiles, and its digest is part of the policy set's revision and of the policy
/// sources' change checks, so a new root recompiles the policies and retires the verdicts
/// cached under the old one (their cache key holds the authority's trust root digest).
public final class LiveTrustedRoot: Sendable {
    /// One published root.
    public struct Snapshot: Sendable {
        public var root: TrustedRoot
        /// SHA-256 (hexadecimal) of the `trusted_root.json` bytes.
        public var digest: String
        /// Where it came from, for reasons and audit: `TUF https://… (targets version 14)`.
        public var origin: String
        /// Whether the TUF metadata it was verified under is still unexpired, asked at each
        /// decision; nil for a root not delivered through TUF (the embedded one), which does not
        /// expire.
        public var freshness: TrustRootFreshnessCheck?

        public init(root: TrustedRoot, digest: String, origin: String, freshness: TrustRootFreshnessCheck? = nil) {
            self.root = root
            self.digest = digest
            self.origin = origin
            self.freshness = freshness
        }
    }

    private let state: NIOLockedValueBox<Snapshot>

    public init(_ initial: Snapshot) {
        state = NIOLockedValueBox(initial)
    }

    /// The root in force.
    public var current: Snapshot { state.withLockedValue { $0 } }

    /// Makes `snapshot` the root in force.
    public func publish(_ snapshot: Snapshot) {
        state.withLockedValue { $0 = snapshot }
    }
}
