/// An `EmergencyBypass` (group `signet.dev`, version `v1alpha1`, cluster-scoped) as written:
/// break-glass admission of images in some or all namespaces until `expiresAt`, which may lie
/// no further ahead than the configured maximum window (default 24 hours).
///
/// ```yaml
/// apiVersion: signet.dev/v1alpha1
/// kind: EmergencyBypass
/// metadata:
///   name: incident-4711
/// spec:
///   namespaces: [payments]       # or allNamespaces: true
///   images:                      # absent: every image
///     - glob: "ghcr.io/acme/payments/**"
///   reason: "registry signing outage"
///   requestedBy: "oncall@example.com"
///   expiresAt: "2026-11-23T06:00:00Z"   # required, RFC 3339
/// ```
///
/// Every admission under a bypass is allowed with a warning, and produces an audit event and a
/// metric of its own. Follows the Kubernetes API conventions (spec/status).
public struct EmergencyBypass: Sendable, Hashable, Codable {
    public static let kind = "EmergencyBypass"
    /// The plural resource name served by the CustomResourceDefinition.
    public static let resource = "emergencybypasses"

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

    /// `spec` of an ``EmergencyBypass``.
    public struct Spec: Sendable, Hashable, Codable {
        /// The namespaces bypassed; exactly one of this and ``allNamespaces``.
        public var namespaces: [String]?
        /// `true` bypasses every namespace.
        public var allNamespaces: Bool?
        /// Image globs; absent means every image.
        public var images: [ClusterImagePolicy.ImagePattern]?
        public var reason: String?
        public var requestedBy: String?
        /// RFC 3339; required.
        public var expiresAt: String?

        public init(
            namespaces: [String]? = nil, allNamespaces: Bool? = nil, images: [ClusterImagePolicy.ImagePattern]? = nil,
            reason: String? = nil, requestedBy: String? = nil, expiresAt: String? = nil
        ) {
            self.namespaces = namespaces
            self.allNamespaces = allNamespaces
            self.images = images
            self.reason = reason
            self.requestedBy = requestedBy
            self.expiresAt = expiresAt
        }
    }
}
