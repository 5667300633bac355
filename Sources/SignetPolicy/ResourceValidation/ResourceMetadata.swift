/// The subset of Kubernetes `ObjectMeta` (API conventions, "Metadata") signet reads from a
/// namespaced or cluster-scoped signet resource.
public struct ResourceMetadata: Sendable, Hashable, Codable {
    public var name: String
    /// Set for namespaced kinds (`PolicyException`); absent for cluster-scoped ones.
    public var namespace: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    /// RFC 3339, set by the API server when the object is stored (and already present when a
    /// validating webhook sees a `CREATE`); absent in files. Exemption windows are measured from it.
    public var creationTimestamp: String?
    /// Set by the API server when the object is stored; absent in files. Events about the
    /// object name it by its uid, so that `kubectl describe` shows them.
    public var uid: String?

    public init(
        name: String, namespace: String? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil,
        creationTimestamp: String? = nil, uid: String? = nil
    ) {
        self.uid = uid
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.creationTimestamp = creationTimestamp
    }
}
