import Foundation

extension PolicyLoader {
    /// Whether `secretRef` and `configMapRef` keys are read through ``clusterKeyReader`` (the
    /// Kubernetes API) rather than from their mounted volumes.
    var readsClusterKeysThroughAPI: Bool { clusterKeyReader != nil && requireSecretReferences }

    /// The key a `secretRef` or `configMapRef` names, `defaultKey` when it names none, checked
    /// for shape: each part is a path component of the mounted volume, so none may be empty,
    /// contain `/` or start with `.`.
    func clusterKeyReference(
        _ kind: ClusterKeyReference.Kind, namespace: String, name: String, key: String?, defaultKey: String?, field: String,
        invalid: (String, String) -> PolicyLoadError
    ) throws(PolicyLoadError) -> ClusterKeyReference {
        guard let key = key ?? defaultKey else {
            throw invalid(field, "needs key: the key of the \(kind.rawValue) that holds the data")
        }
        for part in [namespace, name, key] where part.isEmpty || part.contains("/") || part.hasPrefix(".") {
            throw invalid(field, "\"\(part)\" is not a valid \(kind.rawValue) namespace, name or key")
        }
        return ClusterKeyReference(kind: kind, namespace: namespace, name: name, key: key)
    }

    /// The bytes of `reference`: from ``clusterKeyReader`` when keys are read through the API,
    /// else from the mounted volume (``mountedLocation(_:)``), whose path is appended to `files`
    /// so that a change to it recompiles the policy.
    func readClusterKey(_ reference: ClusterKeyReference, files: inout [String]) -> ClusterKeyRead {
        if readsClusterKeysThroughAPI, let clusterKeyReader { return clusterKeyReader.read(reference) }
        let location = mountedLocation(reference)
        files.append(location)
        guard let data = FileManager.default.contents(atPath: location) else { return .missing("expected at \(location)") }
        return .found([UInt8](data))
    }

    /// Where a mounted Secret or ConfigMap keeps `reference`:
    /// `<keySecretsDirectory or configMapsDirectory>/<namespace>/<name>/<key>`.
    func mountedLocation(_ reference: ClusterKeyReference) -> String {
        let directory = reference.kind == .secret ? keySecretsDirectory : configMapsDirectory
        return [directory, reference.namespace, reference.name, reference.key].joined(separator: "/")
    }
}
