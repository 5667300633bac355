/// The subset of Kubernetes `ObjectMeta` (API conventions, "Metadata") signet reads from a
/// namespaced or cluster-scoped signet resource.
public struct ResourceMetadata: Sendable, Hashable, Codable {
    public var name: String
    /// Set for namespaced kinds (`PolicyException`); absent for cluster-scoped ones.
    public var namespace: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?

    public init(name: String, namespace: String? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}
