import Foundation
import SignetKube
import SignetPolicy

/// Where `signet serve --policy-source kubernetes` reads the public keys `key` authorities name
/// with `secretRef` (`--key-secrets-source`).
enum KeySecretsSource: Sendable, Hashable {
    /// Secrets mounted as volumes under this directory: `<dir>/<namespace>/<name>/<key>`; the
    /// files are checked every reload interval.
    case directory(String)
    /// Secrets read and watched through the Kubernetes API, each alone (a list and watch with
    /// `fieldSelector=metadata.name=<name>` in its namespace, which an RBAC rule naming it in
    /// `resourceNames` allows).
    case api
}

/// What the policy source knows of one Secret named by a `secretRef`, read through the API.
enum WatchedSecret: Sendable, Hashable {
    /// Its watch has not completed a first list yet.
    case pending
    /// It exists; its `data`, base64-decoded, by key.
    case present([String: [UInt8]])
    /// It does not exist.
    case absent
    /// It cannot be listed (for example 403: RBAC does not name it).
    case unreadable(String)

    /// The state a reflector's snapshot shows for `namespace/name`.
    init(_ snapshot: ResourceSnapshot, namespace: String, name: String) {
        if !snapshot.hasSynced {
            self = snapshot.listError.map { .unreadable($0.description) } ?? .pending
            return
        }
        guard let object = snapshot.objects.first(where: { $0.name == name && $0.namespace == namespace }) else {
            self = .absent
            return
        }
        var data: [String: [UInt8]] = [:]
        for (key, value) in object.dictionary["data"] as? [String: String] ?? [:] {
            if let bytes = Data(base64Encoded: value) { data[key] = [UInt8](bytes) }
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

/// The ``SecretKeyReader`` over the Secrets the policy source watches, by `namespace/name`.
struct KubernetesSecretKeys: SecretKeyReader {
    let secrets: [String: WatchedSecret]

    func read(_ reference: ClusterImagePolicy.SecretKeyReference) -> SecretKeyRead {
        let key = reference.key ?? "cosign.pub"
        switch secrets["\(reference.namespace)/\(reference.name)"] ?? .pending {
        case .pending: return .missing("the Secret has not been read from the API yet")
        case .absent: return .missing("the Secret does not exist")
        case .unreadable(let error): return .missing("cannot read the Secret: \(error)")
        case .present(let data):
            guard let bytes = data[key] else { return .missing("the Secret has no key \(key)") }
            return .found(bytes)
        }
    }
}
