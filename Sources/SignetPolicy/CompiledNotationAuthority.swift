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
    /// `inline` or `file /etc/signet/notation/trustpolicy.json`.
    public let trustPolicySource: String
    /// SHA-256 over the trust policy bytes and every trust store certificate, for cache keys.
    public let trustDigest: String
    /// Files read (trust policy, certificate files, trust store directory files): a change to
    /// any of them recompiles the policy.
    public var trustMaterialFiles: [String] = []
    /// Why trust material named by a file could not be read when compiled; while set the
    /// authority fails every image (``CompiledAuthority/unresolvedReason``).
    public var unresolvedTrustMaterial: String?

    public init(trustPolicy: NotationTrustPolicy, trustStores: NotationTrustStores, trustPolicySource: String, trustDigest: String) {
        self.trustPolicy = trustPolicy
        self.trustStores = trustStores
        self.trustPolicySource = trustPolicySource
        self.trustDigest = trustDigest
    }
}
