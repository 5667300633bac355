import Foundation
import SignetKube
import SignetPolicy

/// Where `signet serve --policy-source kubernetes` reads the Secret and ConfigMap keys policies
/// name (`secretRef` public keys, `notation` trust material, `configMapRef` trust roots)
/// (`--key-secrets-source`).
enum KeySecretsSource: Sendable, Hashable {
    /// Secrets and ConfigMaps mounted as volumes under this directory (Secrets:
    /// `<dir>/<namespace>/<name>/<key>`; ConfigMaps under ``PolicyLoader/configMapsDirectory``);
    /// the files are checked every reload interval.
    case directory(String)
    /// Secrets and ConfigMaps read and watched through the Kubernetes API, each alone (a list and
    /// watch with `fieldSelector=metadata.name=<name>` in its namespace, which an RBAC rule
    /// naming it in `resourceNames` allows).
    case api
}

/// What the policy source knows of one Secret or ConfigMap a policy names, read through the API.
enum WatchedObject: Sendable, Hashable {
    /// Its watch has not completed a first list yet.
    case pending
    /// It exists; its data by key (a Secret's `data` base64-decoded; a ConfigMap's `data` as
    /// UTF-8 and its `binaryData` base64-decoded).
    case present([String: [UInt8]])
    /// It does not exist.
    case absent
    /// It cannot be listed (for example 403: RBAC does not name it).
    case unreadable(String)

    /// The state a reflector's snapshot shows for the `kind` object `namespace/name`.
    init(_ snapshot: ResourceSnapshot, kind: ClusterKeyReference.Kind, namespace: String, name: String) {
        if !snapshot.hasSynced {
            self = snapshot.listError.map { .unreadable($0.description) } ?? .pending
            return
        }
        guard let object = snapshot.objects.first(where: { $0.name == name && $0.namespace == namespace }) else {
            self = .absent
            return
        }
        var data: [String: [UInt8]] = [:]
        let encoded = kind == .secret ? "data" : "binaryData"
        for (key, value) in object.dictionary[encoded] as? [String: String] ?? [:] {
            if let bytes = Data(base64Encoded: value) { data[key] = [UInt8](bytes) }
        }
        if kind == .configMap {
            for (key, value) in object.dictionary["data"] as? [String: String] ?? [:] { data[key] = Array(value.utf8) }
        }
        self = .present(data)
    }

    /// A stable description of the content, for the policy set's revision.
    var revisionText: String {
        switch self {
        case .pending: "pending"
        case .absent: "absent"
        case .unreadable(let error): "unreadable \(error)"
        case .present(let data):
            data.sorted { $0.key < $1.key }.map { "\($0.key)=\(Data($0.value).base64EncodedString())" }.joined(separator: ",")
        }
    }
}

/// The ``ClusterKeyReader`` over the Secrets and ConfigMaps the policy source watches, by
/// ``ClusterKeyReference/object`` (`Secret namespace/name`).
struct KubernetesClusterKeys: ClusterKeyReader {
    let objects: [String: WatchedObject]

    func read(_ reference: ClusterKeyReference) -> ClusterKeyRead {
        let kind = reference.kind.rawValue
        switch objects[reference.object] ?? .pending {
        case .pending: return .missing("the \(kind) has not been read from the API yet")
        case .absent: return .missing("the \(kind) does not exist")
        case .unreadable(let error): return .missing("cannot read the \(kind): \(error)")
        case .present(let data):
            guard let bytes = data[reference.key] else { return .missing("the \(kind) has no key \(reference.key)") }
            return .found(bytes)
        }
    }
}
