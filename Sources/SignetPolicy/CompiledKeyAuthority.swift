import SignetCrypto
import SignetSigstore

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
    public var clusterReferences: [ClusterKeyReference] = []
    /// Whether each signature must be logged, and against which trust root (`transparencyLog`).
    public var transparencyLog: KeyTransparencyLog = .ignore

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

/// A `key` authority's `transparencyLog` setting compiled (sigstore/cosign `specs/SIGNATURE_SPEC.md`,
/// the `dev.sigstore.cosign/bundle` Rekor SET; Sigstore client specification, "Transparency log").
///
/// Under ``Requirement-swift.enum/require`` each signature must carry a Rekor entry that the
/// trust root's transparency logs vouch for (a signed entry timestamp or an inclusion proof with
/// a signed checkpoint) and whose body records that very signature, key and digest; under
/// ``Requirement-swift.enum/ignore`` log entries are not looked at, as cosign
/// `--insecure-ignore-tlog`. Equal when the requirement and the trust root's digest are.
public struct KeyTransparencyLog: Sendable, Hashable {
    /// `require` or `ignore`.
    public enum Requirement: String, Sendable, Hashable {
        case require, ignore
    }

    public let requirement: Requirement
    /// The trust root under `require`; empty under `ignore` or while ``unresolvedTrustRoot`` is set.
    public let trustedRoot: TrustedRoot
    /// Where the trust root came from (`embedded production root`, `file /r.json`, ...).
    public let trustRootSource: String
    /// Hexadecimal SHA-256 of the trust root's JSON bytes.
    public let trustRootDigest: String
    /// The trust root file read (a `file` or a mounted ConfigMap key), for the change checks.
    public var trustMaterialFiles: [String] = []
    /// The ConfigMap key the trust root is read from (`configMapRef`), read or not.
    public var clusterReferences: [ClusterKeyReference] = []
    /// Why the trust root the authority names could not be read; while set the authority fails
    /// every image (``CompiledAuthority/unresolvedReason``).
    public var unresolvedTrustRoot: String?
    /// Whether the trust root, delivered through TUF, may still be used; asked at each decision
    /// (``CompiledAuthority/staleTrustRootReason``). Nil for a root that does not expire.
    public var freshness: TrustRootFreshnessCheck?
    /// The policy's own TUF repository the trust root comes from (`trustRoot.tuf`).
    public var tufRepository: PolicyTUFTrustRoots.Repository?

    public init(requirement: Requirement, trustedRoot: TrustedRoot, trustRootSource: String, trustRootDigest: String) {
        self.requirement = requirement
        self.trustedRoot = trustedRoot
        self.trustRootSource = trustRootSource
        self.trustRootDigest = trustRootDigest
    }

    /// No log entry looked at.
    public static let ignore = KeyTransparencyLog(requirement: .ignore, trustedRoot: .empty, trustRootSource: "none", trustRootDigest: "")

    /// Under `require`, why the trust root may not be used now (its TUF metadata expired
    /// without a refresh); nil under `ignore`, while it may, or when it does not expire.
    public var staleReason: String? {
        requirement == .require ? freshness?.staleReason : nil
    }

    public static func == (lhs: KeyTransparencyLog, rhs: KeyTransparencyLog) -> Bool {
        lhs.requirement == rhs.requirement && lhs.trustRootDigest == rhs.trustRootDigest && lhs.trustRootSource == rhs.trustRootSource
            && lhs.unresolvedTrustRoot == rhs.unresolvedTrustRoot
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(requirement)
        hasher.combine(trustRootDigest)
        hasher.combine(trustRootSource)
    }
}

extension TrustedRoot {
    /// A trust root that trusts nothing.
    static let empty = TrustedRoot(transparencyLogs: [], certificateAuthorities: [], certificateTransparencyLogs: [], timestampAuthorities: [])
}
