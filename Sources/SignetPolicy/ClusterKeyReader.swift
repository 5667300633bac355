/// One key of a Kubernetes Secret or ConfigMap that a policy reads trust material from: a
/// `key` authority's `secretRef` public key, a `notation` authority's `secretRef` or
/// `configMapRef` trust policy, certificates or CRLs, a trust root's `configMapRef`
/// (Kubernetes "Secrets" and "ConfigMaps": `data` by key; a ConfigMap's `binaryData` too).
public struct ClusterKeyReference: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The kind of object, as Kubernetes names it.
    public enum Kind: String, Sendable, Hashable, Comparable {
        case secret = "Secret"
        case configMap = "ConfigMap"

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var kind: Kind
    public var namespace: String
    public var name: String
    /// The key within the object's data (defaults filled in).
    public var key: String

    public init(kind: Kind, namespace: String, name: String, key: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.key = key
    }

    /// `Secret signet-system/release-key`: the object, whatever its key.
    public var object: String { "\(kind.rawValue) \(namespace)/\(name)" }

    /// `key cosign.pub of Secret signet-system/release-key`.
    public var description: String { "key \(key) of \(object)" }

    public static func < (lhs: ClusterKeyReference, rhs: ClusterKeyReference) -> Bool {
        (lhs.kind, lhs.namespace, lhs.name, lhs.key) < (rhs.kind, rhs.namespace, rhs.name, rhs.key)
    }
}

/// Reads the Secret and ConfigMap keys policies name from somewhere other than their mounted
/// volumes (``PolicyLoader/keySecretsDirectory``, ``PolicyLoader/configMapsDirectory``): in a
/// cluster, from the objects read and watched through the Kubernetes API (Kubernetes "Secrets":
/// `data` values are base64; "ConfigMaps": `data` is text, `binaryData` base64).
///
/// The loader asks once per reference each time it compiles; an implementation answers from
/// what it holds, without blocking. Whatever it answers is trust material of the policy: the
/// policy source that supplies it must recompile the policies when the answer changes.
public protocol ClusterKeyReader: Sendable {
    /// The bytes of `reference`, or why they cannot be had.
    func read(_ reference: ClusterKeyReference) -> ClusterKeyRead
}

/// What a ``ClusterKeyReader`` has for one Secret or ConfigMap key.
public enum ClusterKeyRead: Sendable, Hashable {
    /// The key's bytes.
    case found([UInt8])
    /// Why there are none: `the Secret does not exist`, `the ConfigMap has no key
    /// trustpolicy.json`, `cannot read the Secret: ... (HTTP 403)`, `expected at /etc/...`.
    case missing(String)
}
