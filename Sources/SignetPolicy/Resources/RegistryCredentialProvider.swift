import SignetRegistry

/// Where a verifier gets registry credentials for the images of one admission: the pod's
/// `imagePullSecrets`, its service account's `imagePullSecrets`, and secrets named in signet's
/// configuration (Kubernetes `core/v1` `PodSpec.imagePullSecrets`, `ServiceAccount.imagePullSecrets`,
/// `kubernetes.io/dockerconfigjson` secrets).
///
/// Implementations read secrets through the API server (see `SignetKube`); a failure to read a
/// secret yields the credentials found so far rather than an error, as kubelet does.
public protocol RegistryCredentialProvider: Sendable {
    func credentials(for subject: AdmissionSubject) async -> RegistryCredentialStore
}
