import ArgumentParser
import Foundation
import Logging
import SignetAdmission
import SignetContinuous
import SignetKube
import SignetNotary
import SignetPolicy
import SignetRegistry
import SignetVerify

/// `signet scan`: decides every running Pod's images once, as the webhook would admit each Pod
/// now, under the policies, exceptions and bypasses in force (the same flags and the same
/// decision logic as `signet serve`). Pods are listed through the API with a kubeconfig's token
/// (`--kubeconfig`, `$KUBECONFIG`) or the service account (`KUBERNETES_SERVICE_HOST`/`PORT`, the
/// token and CA in `SIGNET_SERVICE_ACCOUNT_DIR` or the service-account mount), as
/// `serve --policy-source kubernetes` does. With `--sigstore-tuf` (the flags `serve` takes), the
/// Sigstore trusted root is fetched and verified once through TUF before any decision, so keyless
/// images are decided under the root the webhook keeps current, not the one embedded at build time.
/// The TUF repositories policies name as their own trust root (`trustRoot.tuf`) are refreshed
/// once likewise (with `--sigstore-tuf-cache-dir`, `--sigstore-tuf-ca-bundle` and the other
/// shared settings), and a repository that cannot deliver ends the scan, naming it.
///
/// Exit status: 0 when every running image is trusted, 1 naming each that is not (a `fail`:
/// admission would deny it now), 2 on an error, and 2 naming each running image whose
/// verification could not finish (`error`: a registry, log or CRL that did not answer; it is
/// reported, not alerted, since one run cannot tell an outage from a lasting fault: the failed
/// Job is the signal, and `signet serve`'s continuous verification alerts those that last).
struct ScanCommand: ParsableCommand, AsynchronousCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Verify the images of running Pods once, as admission would decide them now.",
        discussion: "Exit status: 0 all trusted, 1 an untrusted image runs (each is named), 2 error (an image that could not be verified is named too)."
    )

    @Option(name: .long, help: "Scan only this namespace. (default: every namespace)")
    var namespace: String?

    @Option(name: .long, help: "Output: table or json (one object per running image).")
    var output: ScanOutputFormat = .table

    @Option(name: .long, help: "Pods decided at once. (env: SIGNET_SCAN_CONCURRENCY, default 8)")
    var concurrency: Int?

    @Flag(name: .long, help: "Write a wgpolicyk8s.io/v1alpha2 PolicyReport per namespace (emptying those of namespaces whose Pods are gone) and, without --namespace, a ClusterPolicyReport, in place.")
    var writeReports = false

    @Option(name: .long, help: "Directory of policy YAML files, with --policy-source directory. (env: SIGNET_POLICY_DIR, default /etc/signet/policies)")
    var policyDir: String?

    @Option(name: .long, help: "What happens to images no policy covers: deny, warn or allow, as for serve. (env: SIGNET_NO_MATCH_ACTION, default deny)")
    var noMatchAction: String?

    @Option(name: .long, help: "Directory of mounted Secrets for secretRef public keys. (env: SIGNET_KEY_SECRETS_DIR, default /etc/signet/key-secrets)")
    var keySecretsDir: String?

    @Option(name: .long, help: "With --policy-source kubernetes, where the Secrets and ConfigMaps policies name are read: directory or api, as for serve. (env: SIGNET_KEY_SECRETS_SOURCE, default directory)")
    var keySecretsSource: String?

    @Option(name: .long, help: "kubeconfig file to reach the API server with (token, tokenFile or client-certificate users). (env: KUBECONFIG; default: the in-cluster service account, else ~/.kube/config)")
    var kubeconfig: String?

    @Option(name: .long, help: "kubeconfig context. (default: its current-context)")
    var context: String?

    @Option(name: .long, help: "Time to wait for the cluster's policies to be read. (default 60s)")
    var syncTimeout: String?

    @OptionGroup var registryFlags: RegistryFlags

    @OptionGroup var notationCRL: NotationCRLOptions

    @OptionGroup var resources: ResourceOptions

    @OptionGroup var alerts: AlertOptions

    @OptionGroup var sigstoreTUF: SigstoreTUFOptions

    @OptionGroup var unreviewed: UnreviewedNamespacesOption

    func runAsynchronously() async throws {
        Observability.bootstrapLogging(format: .text, level: .warning)
        let noMatch = try ScanSetup.noMatchAction(noMatchAction)
        // A scan reads the resources and leaves their status to the webhook (see StatusOptions).
        let resourceSettings = try resources.resolve(writeStatus: false)
        let alertSettings = try alerts.resolve()
        let waitLimit = try EnvironmentOption.duration(syncTimeout, "SIGNET_SCAN_SYNC_TIMEOUT", default: .seconds(60))
        let parallel = try EnvironmentOption.int(concurrency, "SIGNET_SCAN_CONCURRENCY", default: 8)
        guard (1...1024).contains(parallel) else { throw ValidationError("--concurrency must be between 1 and 1024") }
        let keySecretsDirectory = EnvironmentOption.string(keySecretsDir, "SIGNET_KEY_SECRETS_DIR", default: PolicyLoader.defaultKeySecretsDirectory)!

        let client: KubernetesClient
        do {
            client = try ScanSetup.kubernetesClient(kubeconfig: kubeconfig, context: context)
        } catch {
            throw fail("cannot reach the Kubernetes API: \(error)")
        }
        let registry: RegistryClient
        let credentials: RegistryCredentialStore
        do {
            let configuration: RegistryClientConfiguration
            (configuration, credentials) = try registryFlags.resolve(useDefaultDockerConfig: false)
            registry = try RegistryClient(configuration: configuration, credentials: credentials, logger: Logger(label: "signet.registry"))
        } catch {
            throw fail("cannot start the registry client: \(error)")
        }
        defer { registry.shutdown() }
        let crlDownloader = try notationCRL.downloader(or: fail)
        defer { crlDownloader?.shutdown() }
        // Notary servers are asked with the same credentials as registries (their hosts' entries
        // in the docker config), as `signet serve` asks them.
        let engine = VerificationEngine(
            registry: registry, configuration: VerificationEngineConfiguration(),
            verifiers: StandardVerifiers.make(registry: registry, notary: NotaryRepositoryClient(credentials: credentials), crlDownloader: crlDownloader),
            logger: Logger(label: "signet.verify"))

        var loader = PolicyLoader(logger: Logger(label: "signet.policy"), keySecretsDirectory: keySecretsDirectory)
        loader.liveTrustedRoot = try await sigstoreRoot()?.live
        let policyTUF: PolicyTUFRepositoriesRuntime
        do {
            let shared = try sigstoreTUF.resolveShared()
            policyTUF = PolicyTUFRepositoriesRuntime(roots: PolicyTUFTrustRoots(), settings: shared.configuration, now: shared.now)
        } catch {
            throw fail("\(error)")
        }
        loader.tufTrustRoots = policyTUF.roots
        let readiness = ReadinessState()
        readiness.markCertificateServing()
        let runtime = try await PolicySourceRuntime.make(
            settings: resourceSettings, policyDirectory: EnvironmentOption.string(policyDir, "SIGNET_POLICY_DIR", default: "/etc/signet/policies")!,
            reloadInterval: .seconds(5), readiness: readiness, logger: Logger(label: "signet"),
            loader: loader,
            keySecrets: try ScanSetup.keySecrets(keySecretsSource, directory: keySecretsDirectory), kubernetesClient: client)
        let sourceTask = Task { await runtime.source.run() }
        let (responder, refresher) = await runtime.makeResponder(noMatchAction: noMatch, verifier: engine, onChange: { await engine.retain($0) })
        defer {
            sourceTask.cancel()
            refresher.cancel()
        }
        guard await ScanSetup.waitUntilReady(readiness, limit: waitLimit) else {
            throw fail("the policies were not read within \(waitLimit)")
        }
        try await deliverPolicyTrustRoots(policyTUF, responder: responder, limit: waitLimit)
        let policies = await runtime.source.current()
        var scanner = PodScanner(responder: responder, concurrency: parallel, formats: ScanSetup.formats(of: policies))
        scanner.unreviewedNamespaces = unreviewed.namespaces

        let pods: KubernetesObjectList
        do {
            pods = try await client.list(.pods, scope: KubernetesListScope(namespace: namespace))
        } catch {
            throw fail("cannot list pods: \(error)")
        }
        let findings = await scanner.scan(pods.items.compactMap { RunningPod(json: $0.json) })
        print(ScanOutput.render(findings, format: output), terminator: "")

        var reportProblem: String?
        if writeReports {
            // A namespace whose Pods are all gone has its report emptied, not left failing for
            // ever: the reports signet wrote, less the namespaces found now (of the one scanned).
            let writer = PolicyReportWriter(client: client)
            let scanned = Set(findings.map(\.namespace))
            var emptied = (try? await writer.reportedNamespaces()) ?? []
            if let namespace { emptied = emptied.intersection([namespace]) }
            let outcome = await writer.write(
                findings, builder: PolicyReportBuilder(time: Date()), emptiedNamespaces: emptied.subtracting(scanned), clusterReport: namespace == nil)
            if !outcome.failures.isEmpty { reportProblem = "cannot write every policy report: \(outcome.summary)" }
        }
        if let alertSettings {
            await ScanSetup.sendAlerts(findings, settings: alertSettings)
        }
        // The other reports were written; a report that was not is named (exit 2 unless an
        // untrusted image, the more urgent news, makes it 1). An image that could not be
        // verified is named too, and makes it 2: not known untrusted, not known trusted.
        let reportFailure = reportProblem.map(fail)
        /// Names each of `found` on standard error, under `heading`.
        func name(_ found: [ImageFinding], _ heading: String) {
            guard !found.isEmpty else { return }
            let names = found.map { "\($0.image) (\($0.location): \($0.reason))" }
            FileHandle.standardError.write(Data("signet scan: \(found.count) \(heading):\n  \(names.joined(separator: "\n  "))\n".utf8))
        }
        let unverifiable = findings.filter(\.isUnverifiable)
        name(unverifiable, "running images could not be verified now")
        let untrusted = findings.filter(\.isUntrusted)
        name(untrusted, "untrusted running images")
        guard untrusted.isEmpty else { throw ExitCode(1) }
        if let reportFailure { throw reportFailure }
        if !unverifiable.isEmpty { throw ExitCode(2) }
    }

    /// With `--sigstore-tuf`, the Sigstore trusted root the webhook keeps current, fetched and
    /// verified once (TUF specification section 5) before anything is decided. A refresh that
    /// fails ends the scan (exit 2) naming the mirror and why: keyless images would otherwise be
    /// decided under another root than admission's.
    private func sigstoreRoot() async throws -> SigstoreTUFRuntime? {
        let logger = Logger(label: "signet.trustroot")
        let started: SigstoreTUFRuntime?
        do {
            started = try await SigstoreTUFRuntime.start(sigstoreTUF, logger: logger)
        } catch let error as SigstoreTUFStartError {
            throw fail("\(error)")
        }
        guard let tuf = started else { return nil }
        do {
            try await tuf.refreshOnce(logger: logger)
        } catch {
            throw fail("cannot refresh the Sigstore trusted root through TUF from \(tuf.configuration.mirrorURL): \(error); "
                + "images under keyless authorities, and key authorities requiring the transparency log, cannot be decided as admission would")
        }
        return tuf
    }

    /// The TUF repositories policies name as their own trust root (`trustRoot.tuf`), each
    /// refreshed once and its root put in force before anything is decided, as `signet serve`
    /// keeps them current: until then such an authority trusts nothing and fails every image.
    /// Returns once the responder decides with policies none of whose authorities waits for a
    /// root (a repository a recompiled set names anew is refreshed too); a repository that
    /// cannot deliver ends the scan (exit 2) naming it.
    private func deliverPolicyTrustRoots(_ runtime: PolicyTUFRepositoriesRuntime, responder: AdmissionResponder, limit: Duration) async throws {
        let end = ContinuousClock.now + limit
        var refreshed: Set<String> = []
        while true {
            let pending = responder.evaluator().policies.pendingTUFRepositories
            guard !pending.isEmpty else { return }
            let fresh = pending.filter { !refreshed.contains($0.identity) }
            if !fresh.isEmpty {
                do {
                    try await runtime.refreshOnce(fresh, logger: Logger(label: "signet.trustroot"))
                } catch {
                    throw fail("\(error); images under the authorities that name it cannot be decided as admission would")
                }
                refreshed.formUnion(fresh.map(\.identity))
            }
            // A new root is a change of the policy source's fingerprint: it compiles the policies
            // again, and the responder takes the new set.
            guard ContinuousClock.now < end else {
                throw fail("the policies were not compiled again with their TUF trust roots within \(limit)")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("signet scan: \(message)\n".utf8))
        return ExitCode(2)
    }
}
