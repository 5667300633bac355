import SignetCrypto

/// A `key` authority compiled: the public keys read and parsed, the threshold resolved.
///
/// Semantics (cosign key-based verification, sigstore/cosign `specs/SIGNATURE_SPEC.md`): an
/// image passes when at least ``threshold`` distinct keys of ``keys`` each made a valid
/// signature over a simple-signing payload for the image's digest that carries every entry of
/// ``requiredAnnotations`` in its `optional` section.
public struct CompiledKeyAuthority: Sendable, Hashable {
    /// The keys, in the order written; no two are the same key.
    public let keys: [TrustedPublicKey]
    /// How many distinct keys must have signed (1 through `keys.count`).
    public let threshold: Int
    /// Entries the signed payload's `optional` section must carry.
    public let requiredAnnotations: [String: String]
    /// The files the keys were read from (key files and mounted Secret keys, also those that
    /// were absent), so that a change to any of them recompiles the policy.
    public var trustMaterialFiles: [String] = []
    /// The keys the authority names that could not be read when it was compiled, each as
    /// `publicKeys[1]: the public key file /etc/keys/a.pub is missing or unreadable` (a key file
    /// or mounted Secret key that is absent or holds no usable key). While any is listed the
    /// authority fails every image (``CompiledAuthority/unresolvedReason``): a key removed from
    /// under a running signet must fail closed, not leave the keys it was listed with, or the
    /// last policy set that loaded, in force.
    public var unresolvedKeys: [String] = []
    /// Every Secret key the authority names with `secretRef` (its `key` filled in), read or
    /// not, so that a policy source reading Secrets through the API knows which to watch.
    public var secretReferences: [ClusterImagePolicy.SecretKeyReference] = []

    public init(keys: [TrustedPublicKey], threshold: Int, requiredAnnotations: [String: String] = [:]) {
        self.keys = keys
        self.threshold = threshold
        self.requiredAnnotations = requiredAnnotations
    }
}

/// A public key trusted by an authority, with the signature scheme it signs with and where it
/// came from (for reports and audit).
public struct TrustedPublicKey: Sendable, Hashable {
    public let key: PublicKey
    public let scheme: SignatureScheme
    /// `publicKeys[0] (inline PEM)`, `file /etc/keys/a.pub`, `secret ns/name key cosign.pub`.
    public let source: String

    public init(key: PublicKey, scheme: SignatureScheme = SignatureScheme(), source: String) {
        self.key = key
        self.scheme = scheme
        self.source = source
    }
}
