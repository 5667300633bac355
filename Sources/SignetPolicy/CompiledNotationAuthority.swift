import SignetCrypto
import SignetNotation

/// A `notation` authority compiled: the trust policy document validated and the trust stores
/// read.
///
/// Semantics (Notary Project trust store and trust policy specification, "Signature
/// Verification"): the statement whose registry scopes name the image's repository applies
/// (else the global `*` one; none means the image fails); at level `skip` the image passes
/// unverified; otherwise the image passes when one of its Notation signatures passes every
/// enforced check of that statement.
public struct CompiledNotationAuthority: Sendable, Hashable {
    public let trustPolicy: NotationTrustPolicy
    public let trustStores: NotationTrustStores
    /// CRLs for the revocation check (the authority's `crls`).
    public var crls: [CertificateRevocationList] = []
    /// `inline`, `file /etc/signet/notation/trustpolicy.json` or
    /// `key trustpolicy.json of ConfigMap signet-system/notation`.
    public let trustPolicySource: String
    /// SHA-256 over the trust policy bytes and every trust store certificate, for cache keys.
    public let trustDigest: String
    /// Files read (trust policy, certificate files, trust store directory files): a change to
    /// any of them recompiles the policy.
    public var trustMaterialFiles: [String] = []
    /// Secret and ConfigMap keys read (`secretRef`, `configMapRef`), present or not: a policy
    /// source reading them through the API watches each, and a change recompiles the policy.
    public var clusterReferences: [ClusterKeyReference] = []
    /// Why trust material named by a file, Secret or ConfigMap could not be read (or was
    /// unusable) when compiled; while set the authority fails every image (``CompiledAuthority/unresolvedReason``).
    public var unresolvedTrustMaterial: String?

    public init(trustPolicy: NotationTrustPolicy, trustStores: NotationTrustStores, trustPolicySource: String, trustDigest: String) {
        self.trustPolicy = trustPolicy
        self.trustStores = trustStores
        self.trustPolicySource = trustPolicySource
        self.trustDigest = trustDigest
    }
}
