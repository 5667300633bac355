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
    /// it sees (every Pod, for continuous verification). A listed or watched Pod is kept as
    /// ``podAsSignetReadsIt(_:)`` reads it.
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
        if dropsManagedFields, resource == .pods {
            object = Self.podAsSignetReadsIt(object)
            metadata = object["metadata"] as? [String: Any] ?? [:]
        }
        guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        self.json = Array(json)
        self.name = name
        self.namespace = metadata["namespace"] as? String
        self.uid = metadata["uid"] as? String
        self.resourceVersion = metadata["resourceVersion"] as? String
        self.labels = metadata["labels"] as? [String: String] ?? [:]
    }

    /// What signet reads of a listed or watched Pod, and nothing else: continuous verification
    /// keeps every Pod of the cluster, and whoever may create Pods decides how large they are (a
    /// megabyte of environment variables or annotations each). Kept: the identity and owners
    /// (`metadata` `name`, `namespace`, `uid`, `resourceVersion`, `generateName`,
    /// `creationTimestamp`, `deletionTimestamp`, `ownerReferences`), whose credentials pull its
    /// images (`spec.serviceAccountName`, `spec.imagePullSecrets`), each container's `name` and
    /// `image` and each image volume, and what runs (`status.phase`, `status.startTime`, each
    /// container status's `name`, `image` and `imageID`).
    static func podAsSignetReadsIt(_ pod: [String: Any]) -> [String: Any] {
        func pick(_ object: [String: Any]?, _ keys: [String]) -> [String: Any] {
            var picked: [String: Any] = [:]
            for key in keys { if let value = object?[key] { picked[key] = value } }
            return picked
        }
        func containers(_ list: Any?, _ keys: [String]) -> [[String: Any]]? {
            (list as? [[String: Any]]).map { $0.map { pick($0, keys) } }
        }
        var result = pick(pod, ["apiVersion", "kind"])
        result["metadata"] = pick(pod["metadata"] as? [String: Any], [
            "name", "namespace", "uid", "resourceVersion", "generateName", "creationTimestamp", "deletionTimestamp", "ownerReferences",
        ])
        let spec = pod["spec"] as? [String: Any]
        var keptSpec = pick(spec, ["serviceAccountName", "imagePullSecrets"])
        for key in ["initContainers", "containers", "ephemeralContainers"] {
            if let list = containers(spec?[key], ["name", "image"]) { keptSpec[key] = list }
        }
        let imageVolumes = (spec?["volumes"] as? [[String: Any]] ?? []).filter { $0["image"] != nil }.map { pick($0, ["name", "image"]) }
        if !imageVolumes.isEmpty { keptSpec["volumes"] = imageVolumes }
        result["spec"] = keptSpec
        let status = pod["status"] as? [String: Any]
        var keptStatus = pick(status, ["phase", "startTime"])
        for key in ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"] {
            guard let list = status?[key] as? [[String: Any]] else { continue }
            keptStatus[key] = list.map { containerStatus in
                var kept = pick(containerStatus, ["name", "image", "imageID"])
                // The digest an image volume was mounted as (`volumeMounts[].volumeStatus.image.imageRef`,
                // Kubernetes 1.35+ with ImageVolumeWithDigest), and nothing else of the mounts.
                let mounted = (containerStatus["volumeMounts"] as? [[String: Any]] ?? []).compactMap { mount -> [String: Any]? in
                    guard let name = mount["name"] as? String,
                          let imageRef = ((mount["volumeStatus"] as? [String: Any])?["image"] as? [String: Any])?["imageRef"] as? String
                    else { return nil }
                    return ["name": name, "volumeStatus": ["image": ["imageRef": imageRef]]]
                }
                if !mounted.isEmpty { kept["volumeMounts"] = mounted }
                return kept
            }
        }
        if status != nil { result["status"] = keptStatus }
        return result
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
