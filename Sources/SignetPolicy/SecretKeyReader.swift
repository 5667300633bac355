/// Reads the public keys `key` authorities name with `secretRef` from somewhere other than the
/// mounted Secrets under ``PolicyLoader/keySecretsDirectory``: in a cluster, from Secrets read
/// and watched through the Kubernetes API (Kubernetes "Secrets"; `data` values are base64).
///
/// The loader asks once per `secretRef` each time it compiles; an implementation answers from
/// what it holds, without blocking. Whatever it answers is trust material of the policy: the
/// policy source that supplies it must recompile the policies when the answer changes.
public protocol SecretKeyReader: Sendable {
    /// The bytes of `reference`'s key (its `key` filled in, `cosign.pub` by default), or why
    /// they cannot be had.
    func read(_ reference: ClusterImagePolicy.SecretKeyReference) -> SecretKeyRead
}

/// What a ``SecretKeyReader`` has for one Secret key.
public enum SecretKeyRead: Sendable, Hashable {
    /// The key's bytes (a PEM public key).
    case found([UInt8])
    /// Why there is no key: `the Secret does not exist`, `the Secret has no key cosign.pub`,
    /// `cannot read the Secret: ... (HTTP 403)`, `not read yet`.
    case missing(String)
}
