import SignetKube
import SignetPolicy
import SignetRegistry

/// Registry credentials for an admission from the cluster (see ``PullSecretReader``): the pod's
/// `imagePullSecrets`, its service account's, and the configured secrets.
struct KubernetesCredentialProvider: RegistryCredentialProvider {
    let reader: PullSecretReader

    func credentials(for subject: AdmissionSubject) async -> RegistryCredentialStore {
        await reader.credentials(namespace: subject.namespace, pullSecrets: subject.imagePullSecrets, serviceAccount: subject.serviceAccountName)
    }
}
