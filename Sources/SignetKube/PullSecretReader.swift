import Logging
import SignetRegistry

/// Registry credentials for one pod, gathered as kubelet does ("Pull an Image from a Private
/// Registry"; `core/v1` `PodSpec.imagePullSecrets`, `ServiceAccount.imagePullSecrets`): the
/// pod's own pull secrets, then its service account's, then secrets signet is configured with
/// (`namespace/name`). Each is a `kubernetes.io/dockerconfigjson` secret read through the API;
/// earlier sources win for the same registry. A secret that cannot be read or parsed is logged
/// and skipped.
public struct PullSecretReader: Sendable {
    public let client: KubernetesClient
    /// Secrets every verification may use, as `namespace/name`.
    public var configuredSecrets: [String]
    public var logger: Logger

    public init(client: KubernetesClient, configuredSecrets: [String] = [], logger: Logger = Logger(label: "signet.kube.credentials")) {
        self.client = client
        self.configuredSecrets = configuredSecrets
        self.logger = logger
    }

    /// The credentials for a pod in `namespace` naming `pullSecrets` and `serviceAccount`.
    public func credentials(namespace: String?, pullSecrets: [String], serviceAccount: String?) async -> RegistryCredentialStore {
        var references: [(namespace: String, name: String)] = []
        if let namespace {
            references += pullSecrets.map { (namespace, $0) }
            let account = serviceAccount ?? "default"
            do {
                if let object = try await client.get(.serviceAccounts, name: account, namespace: namespace),
                   let secrets = object.dictionary["imagePullSecrets"] as? [[String: Any]] {
                    references += secrets.compactMap { $0["name"] as? String }.map { (namespace, $0) }
                }
            } catch {
                logger.warning("cannot read the service account", metadata: ["namespace": "\(namespace)", "name": "\(account)", "error": "\(error)"])
            }
        }
        for entry in configuredSecrets {
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            if parts.count == 2 { references.append((parts[0], parts[1])) }
        }
        var store = RegistryCredentialStore()
        for reference in references {
            do {
                guard let secret = try await client.get(.secrets, name: reference.name, namespace: reference.namespace),
                      let data = secret.dictionary["data"] as? [String: String] else { continue }
                // Earlier sources win: merge the new store under the current one.
                store = try RegistryCredentialStore(kubernetesSecretData: data).merging(store)
            } catch {
                logger.warning("cannot use an image pull secret", metadata: [
                    "namespace": "\(reference.namespace)", "name": "\(reference.name)", "error": "\(error)",
                ])
            }
        }
        return store
    }
}
