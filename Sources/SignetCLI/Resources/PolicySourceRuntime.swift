import ArgumentParser
import Foundation
import Logging
import SignetAdmission
import SignetKube
import SignetPolicy

/// What `signet serve` builds from ``ResourceSettings``: the policy source (directory or
/// cluster), the responder on top of it, and, in a cluster, the registry credential provider
/// verifiers use.
struct PolicySourceRuntime: Sendable {
    let source: any PolicySource
    let settings: ResourceSettings
    /// Credentials from pull secrets; `nil` out of a cluster.
    let credentialProvider: (any RegistryCredentialProvider)?

    /// Builds the source. A directory is loaded now (an invalid one fails the start); a cluster
    /// source marks `readiness` once its first full sync is done.
    static func make(
        settings: ResourceSettings, policyDirectory: String, reloadInterval: Duration, readiness: ReadinessState, logger: Logger
    ) async throws -> PolicySourceRuntime {
        switch settings.source {
        case .directory:
            let watcher = PolicyDirectoryWatcher(directory: policyDirectory, interval: reloadInterval, logger: Logger(label: "signet.policy"))
            let source = DirectoryPolicySource(watcher: watcher)
            do {
                try await source.waitUntilLoaded()
            } catch {
                logger.critical("cannot load policies", metadata: ["directory": "\(policyDirectory)", "error": "\(error)"])
                throw ExitCode(2)
            }
            readiness.markPoliciesLoaded()
            return PolicySourceRuntime(source: source, settings: settings, credentialProvider: nil)
        case .kubernetes:
            let client: KubernetesClient
            do {
                let directory = ProcessInfo.processInfo.environment["SIGNET_SERVICE_ACCOUNT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                    ?? KubernetesClientConfiguration.serviceAccountDirectory
                client = try KubernetesClient(
                    configuration: try KubernetesClientConfiguration.inCluster(serviceAccountDirectory: directory),
                    logger: Logger(label: "signet.kube"))
            } catch {
                logger.critical("cannot reach the Kubernetes API", metadata: ["error": "\(error)"])
                throw ExitCode(2)
            }
            let source = KubernetesPolicySource(client: client, exemptions: settings.exemptions, writeStatus: settings.writeStatus)
            Task {
                await source.waitUntilLoaded()
                readiness.markPoliciesLoaded()
            }
            let reader = PullSecretReader(client: client, configuredSecrets: settings.registrySecrets)
            return PolicySourceRuntime(source: source, settings: settings, credentialProvider: KubernetesCredentialProvider(reader: reader))
        }
    }

    /// The responder deciding with the source's current set, the exemption rules, signet's own
    /// resource validation and the audit trail.
    func makeResponder(noMatchAction: NoMatchAction, verifier: (any AuthorityVerifier)? = nil) -> AdmissionResponder {
        let source = source
        let exemptions = settings.exemptions
        var responder = AdmissionResponder(logger: Logger(label: "signet.admission")) {
            PolicyEvaluator(
                policies: await source.current(), noMatchAction: noMatchAction, verifier: verifier,
                logger: Logger(label: "signet.policy"), exemptions: exemptions)
        }
        responder.resourceValidator = SignetResourceValidator(configuration: exemptions)
        responder.namespaceLabels = { await source.namespaceLabels($0) }
        if settings.auditToStandardOutput { responder.auditSink = StandardOutputAuditSink() }
        return responder
    }
}
