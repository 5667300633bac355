import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
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
    /// Marked ready by the responder once its evaluator holds the first full set (Kubernetes
    /// mode); nil when readiness was settled when the source loaded (directory mode).
    var readinessAfterSync: ReadinessState? = nil
    /// Posts Kubernetes Events (emergency-bypass uses); `nil` out of a cluster.
    var events: KubernetesEventRecorder? = nil
    /// Follows owner chains through the API (cluster mode), so exceptions for controllers exempt what they create.
    var ownerChainResolver: (any OwnerChainResolver)? = nil

    /// Builds the source. A directory is loaded now (an invalid one fails the start); a cluster
    /// source marks `readiness` once its first full sync is done.
    static func make(
        settings: ResourceSettings, policyDirectory: String, reloadInterval: Duration, readiness: ReadinessState, logger: Logger,
        loader: PolicyLoader = PolicyLoader(), keySecrets: KeySecretsSource? = nil, kubernetesClient: KubernetesClient? = nil
    ) async throws -> PolicySourceRuntime {
        switch settings.source {
        case .directory:
            if keySecrets == .api {
                logger.critical("--key-secrets-source api needs --policy-source kubernetes (a policy directory reads mounted Secrets)")
                throw ExitCode(2)
            }
            let watcher = PolicyDirectoryWatcher(
                directory: policyDirectory, interval: reloadInterval, loader: loader, logger: Logger(label: "signet.policy"))
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
                client = try kubernetesClient ?? makeKubernetesClient()
            } catch {
                logger.critical("cannot reach the Kubernetes API", metadata: ["error": "\(error)"])
                throw ExitCode(2)
            }
            let source = KubernetesPolicySource(
                client: client, exemptions: settings.exemptions, writeStatus: settings.writeStatus,
                keySecrets: keySecrets ?? .directory(loader.keySecretsDirectory), trustMaterialInterval: reloadInterval,
                liveTrustedRoot: loader.liveTrustedRoot, tufTrustRoots: loader.tufTrustRoots)
            let reader = PullSecretReader(client: client, configuredSecrets: settings.registrySecrets)
            return PolicySourceRuntime(
                source: source, settings: settings, credentialProvider: KubernetesCredentialProvider(reader: reader),
                readinessAfterSync: readiness, events: KubernetesEventRecorder(client: client),
                ownerChainResolver: KubernetesOwnerChainResolver(client: client))
        }
    }

    /// A client of the API server signet runs under: the in-cluster configuration, with the
    /// service-account directory from `SIGNET_SERVICE_ACCOUNT_DIR` when set.
    static func makeKubernetesClient(label: String = "signet.kube") throws(KubernetesError) -> KubernetesClient {
        let directory = ProcessInfo.processInfo.environment["SIGNET_SERVICE_ACCOUNT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? KubernetesClientConfiguration.serviceAccountDirectory
        return try KubernetesClient(
            configuration: try KubernetesClientConfiguration.inCluster(serviceAccountDirectory: directory),
            logger: Logger(label: label))
    }

    /// The responder deciding with the source's current set, the exemption rules, signet's own
    /// resource validation and the audit trail.
    /// The responder for `/validate`. The evaluator in force is kept in a lock and swapped when
    /// the source's revision changes (checked every `refreshInterval` by the returned task), so a
    /// review never waits on the source; `onChange` runs first for each new set (the engine drops
    /// cached verdicts of changed policies there).
    func makeResponder(
        noMatchAction: NoMatchAction, verifier: (any AuthorityVerifier)? = nil,
        refreshInterval: Duration = .milliseconds(200),
        onChange: @escaping @Sendable (PolicySet) async -> Void = { _ in }
    ) async -> (responder: AdmissionResponder, refresher: Task<Void, Never>) {
        let source = source
        let exemptions = settings.exemptions
        let credentialProvider = credentialProvider
        let makeEvaluator = { @Sendable (policies: PolicySet) in
            PolicyEvaluator(
                policies: policies, noMatchAction: noMatchAction, verifier: verifier,
                logger: Logger(label: "signet.policy"), exemptions: exemptions, credentialProvider: credentialProvider)
        }
        let initial = await source.current()
        // Namespace labels are read from the cluster watch only: a directory source has none.
        let guarded = settings.source == .kubernetes ? Set(settings.guardedNamespaceLabels) : nil
        let warnAboutWeakPolicies = { @Sendable (policies: PolicySet) in
            let logger = Logger(label: "signet.policy")
            // Inline trust policies are warned about when the policy is applied too; one read from
            // a ConfigMap, a Secret or a file is seen only here.
            for (policy, warning) in policies.notationStatementWarnings {
                logger.warning("an Enforce policy's Notation trust policy admits images without checking who signed them", metadata: [
                    "policy": "\(policy)", "authority": "\(warning.authority)", "statement": "\(warning.statement)",
                    "trustPolicy": "\(warning.documentOrigin)", "detail": "\(warning.message)", "revision": "\(policies.revision)",
                ])
            }
            guard let guarded else { return }
            for (policy, label) in policies.unguardedSelectorLabels(guarded: guarded) {
                logger.warning("an Enforce policy selects namespaces by a label signet does not guard: whoever may update a Namespace can remove it and take the namespace out of the policy", metadata: [
                    "policy": "\(policy)", "label": "\(label)", "revision": "\(policies.revision)",
                    "fix": "add the label to --guarded-namespace-labels (the chart's webhook.guardedNamespaceLabels), or select by kubernetes.io/metadata.name",
                ])
            }
        }
        await onChange(initial)
        warnAboutWeakPolicies(initial)
        let evaluator = NIOLockedValueBox(makeEvaluator(initial))
        let readiness = readinessAfterSync
        let monitor = ExemptionMonitorService(source: source, configuration: exemptions)
        let events = events
        let refreshLoop: @Sendable () async -> Void = {
            var revision = initial.revision
            if let readiness {
                // Ready only once the evaluator decides with the first full set.
                try? await source.waitUntilLoaded()
                let policies = await source.current()
                revision = policies.revision
                await onChange(policies)
                evaluator.withLockedValue { $0 = makeEvaluator(policies) }
                if policies.revision != initial.revision { warnAboutWeakPolicies(policies) }
                readiness.markPoliciesLoaded()
            }
            while !Task.isCancelled {
                try? await Task.sleep(for: refreshInterval)
                let policies = await source.current()
                guard policies.revision != revision else { continue }
                revision = policies.revision
                await onChange(policies)
                evaluator.withLockedValue { $0 = makeEvaluator(policies) }
                warnAboutWeakPolicies(policies)
            }
        }
        // The refresher, the exemption gauges and logs, and the event poster live and end together.
        let refresher = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await monitor.run() }
                if let events { group.addTask { await events.run() } }
                group.addTask { await refreshLoop() }
            }
        }
        var responder = AdmissionResponder(logger: Logger(label: "signet.admission")) {
            evaluator.withLockedValue { $0 }
        }
        responder.resourceValidator = SignetResourceValidator(configuration: exemptions)
        responder.resourceValidator.guardedNamespaceLabels = guarded
        responder.namespaceLabels = { source.namespaceLabels($0) }
        if settings.source == .kubernetes { responder.exceptionUsage = { source.exceptionUsage($0) ?? ExemptionLimits.NamespaceUsage() } }
        responder.ownerChainResolver = ownerChainResolver
        responder.ownerReferenceWriters = Set(settings.ownerReferenceWriters)
        responder.namespaceOptOut = NamespaceOptOutRule(
            label: exemptions.namespaceOptOutLabel, group: settings.namespaceOptOutGroup, guardedLabels: settings.guardedNamespaceLabels)
        // Deferred: `signet serve` writes the lines at the end of each event-loop pass, before
        // that pass's answers (HTTPServerConfiguration.beforeAnswersAreSent).
        if settings.auditToStandardOutput { responder.auditSink = StandardOutputAuditSink(deferred: true) }
        if let events { responder.eventSink = BypassEventReporter(recorder: events) }
        return (responder, refresher)
    }
}
