import Foundation
import SignetSigstore

/// The Sigstore trusted root in force (Sigstore client specification, "Trusted root"), where
/// it came from, and the SHA-256 of its JSON (part of every verdict's cache key).
public struct CurrentTrustedRoot: Sendable {
    public var root: TrustedRoot
    /// SHA-256 (hex) of the `trusted_root.json` bytes.
    public var digest: String
    /// `embedded production root` or `TUF <mirror> (targets version N)`.
    public var origin: String
    /// When the TUF refresh that produced it started; nil for the embedded root.
    public var refreshedAt: Date?

    public init(root: TrustedRoot, digest: String, origin: String, refreshedAt: Date?) {
        self.root = root
        self.digest = digest
        self.origin = origin
        self.refreshedAt = refreshedAt
    }

    /// The production root compiled into signet.
    public static func embedded() throws(TrustedRootError) -> CurrentTrustedRoot {
        CurrentTrustedRoot(
            root: try TrustedRoot.production(), digest: TrustedRoot.productionJSONDigest,
            origin: "embedded production root", refreshedAt: nil)
    }
}
