import NIOConcurrencyHelpers
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

/// The registry credentials of one admission, read from a ``RegistryCredentialProvider`` the
/// first time a registry request needs them and then kept for the rest of the admission: an
/// admission answered from the verification cache reads no secret at all, and concurrent
/// verifications of its images share one read.
///
/// The ``PolicyEvaluator`` installs it with `RequestCredentials.using` around the verification
/// of an admission's images.
public final class AdmissionCredentials: RegistryCredentialSource {
    private let provider: any RegistryCredentialProvider
    private let subject: AdmissionSubject
    private let read = NIOLockedValueBox<Task<RegistryCredentialStore, Never>?>(nil)

    public init(provider: any RegistryCredentialProvider, subject: AdmissionSubject) {
        self.provider = provider
        self.subject = subject
    }

    /// The namespace, the service account and the pod's pull secrets: the provider reads the
    /// same secrets for two admissions that agree on these.
    public var identity: String? { Self.identity(of: subject) }

    /// The identity of the credentials of `subject`'s admission.
    static func identity(of subject: AdmissionSubject) -> String {
        [subject.namespace ?? "", subject.serviceAccountName ?? "", subject.imagePullSecrets.joined(separator: ",")]
            .joined(separator: "\u{0}")
    }

    public func credential(for registry: String, repository: String?) async -> RegistryCredential? {
        let task = read.withLockedValue { running in
            if let running { return running }
            let (provider, subject) = (self.provider, self.subject)
            let task = Task { await provider.credentials(for: subject) }
            running = task
            return task
        }
        return await task.value.credential(for: registry, repository: repository)
    }

    /// The provider's ``RegistryCredentialStore/withheld`` for this admission's credentials
    /// (read already when this is asked: only after a registry refused a request).
    public func withheldReason() async -> String? {
        guard let task = read.withLockedValue({ $0 }) else { return nil }
        return await task.value.withheld
    }
}
