/// A `PolicyException` (group `signet.dev`, version `v1alpha1`, namespaced) as written: exempts
/// matching workloads of its own namespace from named policies until `validUntil`.
///
/// ```yaml
/// apiVersion: signet.dev/v1alpha1
/// kind: PolicyException
/// metadata:
///   name: legacy-billing
///   namespace: billing
/// spec:
///   policies: [deny-untrusted]     # required, or allPolicies: true
///   names: ["billing-*"]           # object name globs; absent: every name
///   kinds: [Deployment, Pod]       # absent: every kind
///   images:                        # absent: every image
///     - glob: "docker.io/library/nginx"
///   reason: "vendor image, signature pending"
///   ticket: "SEC-1234"
///   approvedBy: "alice@example.com"
///   validUntil: "2026-12-01T00:00:00Z"   # required, RFC 3339, at most the maximum
///                                        # window (default 90 days) after creationTimestamp
/// ```
///
/// Follows the Kubernetes API conventions (spec/status); `status` is written by signet. The
/// exception stops applying at `validUntil` exactly, with no restart or clean-up.
public struct PolicyException: Sendable, Hashable, Codable {
    public static let kind = "PolicyException"
    /// The plural resource name served by the CustomResourceDefinition.
    public static let resource = "policyexceptions"

    public var apiVersion: String
    public var kind: String
    public var metadata: ResourceMetadata
    public var spec: Spec

    public init(metadata: ResourceMetadata, spec: Spec) {
        self.apiVersion = ClusterImagePolicy.apiVersion
        self.kind = Self.kind
        self.metadata = metadata
        self.spec = spec
    }

    /// `spec` of a ``PolicyException``.
    public struct Spec: Sendable, Hashable, Codable {
        /// Names of the `ClusterImagePolicy` resources exempted from; at least one, unless
        /// ``allPolicies`` is `true`.
        public var policies: [String]?
        /// `true` exempts from every policy; exactly one of this and ``policies``.
        public var allPolicies: Bool?
        /// Globs over the admitted object's name (see ``NameGlob``); absent means all names.
        public var names: [String]?
        /// Workload kinds (`Pod`, `Deployment`, ...); absent means all kinds.
        public var kinds: [String]?
        /// Image globs (see ``ImageGlob``); absent means all images.
        public var images: [ClusterImagePolicy.ImagePattern]?
        /// Why the exception exists.
        public var reason: String?
        /// A change or incident ticket.
        public var ticket: String?
        /// Who approved it.
        public var approvedBy: String?
        /// RFC 3339; required.
        public var validUntil: String?

        public init(
            policies: [String]? = nil, allPolicies: Bool? = nil, names: [String]? = nil, kinds: [String]? = nil,
            images: [ClusterImagePolicy.ImagePattern]? = nil, reason: String? = nil, ticket: String? = nil,
            approvedBy: String? = nil, validUntil: String? = nil
        ) {
            self.policies = policies
            self.allPolicies = allPolicies
            self.names = names
            self.kinds = kinds
            self.images = images
            self.reason = reason
            self.ticket = ticket
            self.approvedBy = approvedBy
            self.validUntil = validUntil
        }
    }
}
