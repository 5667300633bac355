import SignetCrypto
import SignetSigstore

/// A `keyless` authority compiled: identities as ``CertificateIdentity`` values with their
/// regular expressions checked, and the trust root read and parsed.
///
/// Semantics (Sigstore client specification, "Verification"; sigstore-go `pkg/verify`): an image
/// passes when one signature over it verifies offline against ``trustedRoot`` (Fulcio chain at
/// the signing time, SCT, Rekor entry, signature) and its certificate attests one of
/// ``identities``.
public struct CompiledKeylessAuthority: Sendable, Hashable {
    /// The identities accepted, in the order written; one must match.
    public let identities: [CertificateIdentity]
    /// The Sigstore trust material signatures are verified against.
    public let trustedRoot: TrustedRoot
    /// Where the trust root came from: `embedded production root`, `file /x/trusted_root.json`,
    /// `inline`, `configmap ns/name key trusted_root.json`.
    public let trustRootSource: String
    /// Hexadecimal SHA-256 of the trust root's JSON bytes, so that a changed root is a changed
    /// authority (for equality and cache keys) even when the policy text is the same.
    public let trustRootDigest: String

    /// The file the trust root was read from (a `file` or a mounted ConfigMap key); empty for the
    /// embedded or an inline root. A change to it recompiles the policy.
    public var trustMaterialFiles: [String] = []
    /// The ConfigMap key the trust root is read from (`configMapRef`, also a TUF repository's
    /// bootstrap root), read or not, so that a policy source reading ConfigMaps through the API
    /// knows which to watch.
    public var clusterReferences: [ClusterKeyReference] = []
    /// Why the trust root the authority names could not be read when it was compiled (a trust
    /// root file or mounted ConfigMap key missing or unusable), as
    /// `spec.authorities[0].keyless.trustRoot.file: cannot read the trust root file /r.json`.
    /// While set, ``trustedRoot`` is empty and the authority fails every image
    /// (``CompiledAuthority/unresolvedReason``).
    public var unresolvedTrustRoot: String?
    /// Whether the trust root, delivered through TUF, may still be used; asked at each decision
    /// (``CompiledAuthority/staleTrustRootReason``). Nil for a root that does not expire.
    public var freshness: TrustRootFreshnessCheck?
    /// The policy's own TUF repository the trust root comes from (`trustRoot.tuf`), kept
    /// current while a policy in force names it.
    public var tufRepository: PolicyTUFTrustRoots.Repository?

    public init(identities: [CertificateIdentity], trustedRoot: TrustedRoot, trustRootSource: String, trustRootDigest: String) {
        self.identities = identities
        self.trustedRoot = trustedRoot
        self.trustRootSource = trustRootSource
        self.trustRootDigest = trustRootDigest
    }

    /// An authority trusting the production Sigstore root compiled into signet.
    public static func production(identities: [CertificateIdentity]) throws(TrustedRootError) -> CompiledKeylessAuthority {
        CompiledKeylessAuthority(
            identities: identities, trustedRoot: try TrustedRoot.production(), trustRootSource: "embedded production root",
            trustRootDigest: TrustedRoot.productionJSONDigest)
    }

    public static func == (lhs: CompiledKeylessAuthority, rhs: CompiledKeylessAuthority) -> Bool {
        lhs.identities == rhs.identities && lhs.trustRootDigest == rhs.trustRootDigest && lhs.trustRootSource == rhs.trustRootSource
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(identities)
        hasher.combine(trustRootDigest)
        hasher.combine(trustRootSource)
    }
}
