import Foundation

/// One object as the API server returned it: its JSON, and the `metadata` fields a store keys
/// on (Kubernetes API conventions, "Metadata": `name`, `namespace`, `uid`, `resourceVersion`,
/// `labels`).
public struct KubernetesObject: Sendable, Hashable {
    /// The object as JSON, with `apiVersion` and `kind` filled in when a list left them out.
    public var json: [UInt8]
    public var name: String
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var labels: [String: String]

    /// `namespace/name`, or `name` for cluster-scoped objects: the store key.
    public var key: String { namespace.map { "\($0)/\(name)" } ?? name }

    /// Reads an object from its decoded JSON; `nil` when it has no `metadata.name`.
    ///
    /// `dropsManagedFields`: leaves out `metadata.managedFields`, the API server's bookkeeping of
    /// which field manager set which field (server-side apply), which signet never reads. Lists
    /// and watches drop it, as client-go's informers are set up to (`TransformStripManagedFields`):
    /// it is often the largest part of an object's metadata, and a reflector keeps every object
    /// it sees (every Pod, for continuous verification).
    init?(dictionary: [String: Any], resource: KubernetesResource?, dropsManagedFields: Bool = false) {
        var object = dictionary
        if let resource {
            if object["apiVersion"] == nil { object["apiVersion"] = resource.apiVersion }
            if object["kind"] == nil { object["kind"] = resource.kind }
        }
        guard var metadata = object["metadata"] as? [String: Any], let name = metadata["name"] as? String else { return nil }
        if dropsManagedFields, metadata["managedFields"] != nil {
            metadata["managedFields"] = nil
            object["metadata"] = metadata
        }
        guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        self.json = Array(json)
        self.name = name
        self.namespace = metadata["namespace"] as? String
        self.uid = metadata["uid"] as? String
        self.resourceVersion = metadata["resourceVersion"] as? String
        self.labels = metadata["labels"] as? [String: String] ?? [:]
    }

    /// The decoded JSON object.
    public var dictionary: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] ?? [:]
    }
}

/// A list response: the items and the list's `metadata.resourceVersion`, from which a watch
/// continues (Kubernetes API concepts, "Efficient detection of changes").
public struct KubernetesObjectList: Sendable {
    public var items: [KubernetesObject]
    public var resourceVersion: String
}
