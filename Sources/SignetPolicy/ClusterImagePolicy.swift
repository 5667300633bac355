/// A `ClusterImagePolicy` as written: a Kubernetes-style resource of group `signet.dev`,
/// version `v1alpha1` (the shape the CustomResourceDefinition will serve), decoded from YAML.
///
/// ```yaml
/// apiVersion: signet.dev/v1alpha1
/// kind: ClusterImagePolicy
/// metadata:
///   name: system-images
/// spec:
///   images:
///     - glob: "registry.k8s.io/**"
///   authorities:
///     - name: allow-system
///       static:
///         action: pass
///   require: all          # or a count, e.g. 2
///   mode: Enforce         # Enforce | Warn | Audit
/// ```
///
/// Follows the Kubernetes API conventions (`apiVersion`, `kind`, `metadata`, `spec`); validation
/// and compilation happen in ``PolicyLoader``, which produces a ``CompiledPolicy``.
public struct ClusterImagePolicy: Sendable, Hashable, Codable {
    /// The API group and version this type is served under.
    public static let apiVersion = "signet.dev/v1alpha1"
    /// The API group of every signet resource.
    public static let group = "signet.dev"
    /// The resource kind.
    public static let kind = "ClusterImagePolicy"

    public var apiVersion: String
    public var kind: String
    public var metadata: ObjectMetadata
    public var spec: Spec

    public init(name: String, spec: Spec) {
        self.apiVersion = Self.apiVersion
        self.kind = Self.kind
        self.metadata = ObjectMetadata(name: name)
        self.spec = spec
    }

    /// The subset of Kubernetes `ObjectMeta` signet reads.
    public struct ObjectMetadata: Sendable, Hashable, Codable {
        public var name: String
        public var labels: [String: String]?
        public var annotations: [String: String]?

        public init(name: String, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
            self.name = name
            self.labels = labels
            self.annotations = annotations
        }
    }

    /// `spec`: which images the policy covers and what they must satisfy.
    public struct Spec: Sendable, Hashable, Codable {
        /// Image globs; see ``ImageGlob`` for the syntax.
        public var images: [ImagePattern]
        /// The authorities an image is checked against.
        public var authorities: [Authority]
        /// How many authorities must pass; `all` when absent.
        public var require: RequiredAuthorities?
        /// What a failure does; `Enforce` when absent.
        public var mode: PolicyMode?
        /// Namespaces the policy applies in (`metav1.LabelSelector` over namespace labels);
        /// absent means every namespace.
        public var namespaceSelector: LabelSelector?
        /// Workload kinds the policy covers (`Pod`, `Deployment`, ...); absent means every kind.
        public var kinds: [String]?
        /// Deny images named by tag alone (`name:tag` without `@sha256:…`); false when absent.
        /// With signet's mutating webhook, Pods are pinned before this is checked.
        public var requireDigest: Bool?

        public init(
            images: [ImagePattern], authorities: [Authority], require: RequiredAuthorities? = nil, mode: PolicyMode? = nil,
            namespaceSelector: LabelSelector? = nil, kinds: [String]? = nil, requireDigest: Bool? = nil
        ) {
            self.requireDigest = requireDigest
            self.images = images
            self.authorities = authorities
            self.require = require
            self.mode = mode
            self.namespaceSelector = namespaceSelector
            self.kinds = kinds
        }
    }

    /// One entry of `spec.images`: a repository glob (see ``ImageGlob``), optionally limited to
    /// some tags.
    public struct ImagePattern: Sendable, Hashable, Codable {
        public var glob: String
        /// Tag globs (`*`, `?`) the entry is limited to; absent means every tag.
        public var tags: [String]?
        public init(glob: String, tags: [String]? = nil) {
            self.glob = glob
            self.tags = tags
        }
    }

    /// One entry of `spec.authorities`: exactly one kind must be set.
    ///
    /// `static` is decided by the policy engine itself. `key`, `keyless`, `notation`, `notaryV1`
    /// and `attestations` are signature authorities verified by an ``AuthorityVerifier``; `key`,
    /// `keyless`, `notation` and `notaryV1` have their typed shapes (``KeyAuthority``,
    /// ``KeylessAuthority``, ``NotationAuthority``, ``NotaryV1Authority``); `attestations` is kept
    /// as a ``PolicyValue`` until its verifier defines its own.
    public struct Authority: Sendable, Hashable, Codable {
        /// Optional; defaults to `authority-<index>`.
        public var name: String?
        public var `static`: StaticAuthority?
        public var key: KeyAuthority?
        public var keyless: KeylessAuthority?
        public var notation: NotationAuthority?
        public var notaryV1: NotaryV1Authority?
        public var attestations: PolicyValue?

        public init(name: String? = nil, static staticAuthority: StaticAuthority) {
            self.name = name
            self.static = staticAuthority
        }

        public init(name: String? = nil, key: KeyAuthority) {
            self.name = name
            self.key = key
        }

        public init(name: String? = nil, keyless: KeylessAuthority) {
            self.name = name
            self.keyless = keyless
        }

        public init(name: String? = nil, notation: NotationAuthority) {
            self.name = name
            self.notation = notation
        }

        public init(name: String? = nil, notaryV1: NotaryV1Authority) {
            self.name = name
            self.notaryV1 = notaryV1
        }

        public init(name: String? = nil, attestations: PolicyValue) {
            self.name = name
            self.attestations = attestations
        }
    }

    /// A `static` authority: passes or fails every image, without looking at signatures.
    public struct StaticAuthority: Sendable, Hashable, Codable {
        public var action: StaticAction
        /// Used in the reason of the verdict.
        public var message: String?

        public init(action: StaticAction, message: String? = nil) {
            self.action = action
            self.message = message
        }
    }
}

/// The outcome a `static` authority gives every image.
public enum StaticAction: String, Sendable, Hashable, Codable {
    case pass
    case fail
}

/// What a failed policy does to the admission (the `spec.mode` field).
public enum PolicyMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The image is denied.
    case enforce = "Enforce"
    /// The image is allowed and the API server returns a warning to the client.
    case warn = "Warn"
    /// The image is allowed; the finding is only recorded in audit annotations and logs.
    case audit = "Audit"
}

/// `spec.require`: `all` or a count of authorities that must pass.
public enum RequiredAuthorities: Sendable, Hashable, Codable {
    case all
    case count(Int)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let count = try? container.decode(Int.self) {
            self = .count(count)
            return
        }
        if let text = try? container.decode(String.self), text == "all" {
            self = .all
            return
        }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be \"all\" or a positive number of authorities")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .all: try container.encode("all")
        case .count(let count): try container.encode(count)
        }
    }
}
