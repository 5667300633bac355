import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SignetAdmission
import SignetContinuous
import SignetKube
import SignetPolicy

/// `signet serve`'s flags for continuous verification of running Pods.
struct ContinuousOptions: ParsableArguments {
    @Option(name: .long, help: "Decide the running Pods' images again on a schedule and when policies, exceptions, bypasses or trust material change: true or false; needs --policy-source kubernetes. (env: SIGNET_CONTINUOUS_VERIFICATION, default false)")
    var continuousVerification: String?

    @Option(name: .long, help: "Time between full scans of the running Pods. (env: SIGNET_SCAN_INTERVAL, default 10m)")
    var scanInterval: String?

    @Option(name: .long, help: "Pods decided at once by continuous verification. (env: SIGNET_SCAN_CONCURRENCY, default 4)")
    var scanConcurrency: Int?

    @Option(name: .long, help: "How long a running image may stay unverifiable (its registry, a log or a CRL does not answer) before it is alerted; it is reported at once. (env: SIGNET_UNVERIFIABLE_ALERT_AFTER, default 30m)")
    var unverifiableAlertAfter: String?

    @Option(name: .long, help: "Write a wgpolicyk8s.io/v1alpha2 PolicyReport per namespace after each scan: true or false. (env: SIGNET_WRITE_POLICY_REPORTS, default false)")
    var writePolicyReports: String?

    @Option(name: .long, help: "With several replicas, only the holder of a coordination.k8s.io/v1 Lease scans, writes reports and alerts on running images (admission runs on every replica): true or false. (env: SIGNET_LEADER_ELECTION, default true)")
    var leaderElection: String?

    @Option(name: .long, help: "Name of that Lease, in signet's namespace (SIGNET_NAMESPACE, else the service account's). (env: SIGNET_LEADER_ELECTION_LEASE, default signet-continuous-verification)")
    var leaderElectionLease: String?

    @OptionGroup var unreviewed: UnreviewedNamespacesOption

    /// The scan settings, or `nil` when continuous verification is off.
    func resolve(source: ResourceSettings.Source) throws -> ContinuousSettings? {
        let text = EnvironmentOption.string(continuousVerification, "SIGNET_CONTINUOUS_VERIFICATION", default: "false")!
        guard let enabled = Bool(text) else { throw ValidationError("--continuous-verification must be true or false") }
        guard enabled else { return nil }
        guard source == .kubernetes else { throw ValidationError("--continuous-verification needs --policy-source kubernetes") }
        var configuration = ContinuousVerifier.Configuration()
        configuration.interval = try EnvironmentOption.duration(scanInterval, "SIGNET_SCAN_INTERVAL", default: configuration.interval)
        guard configuration.interval > .zero else { throw ValidationError("--scan-interval must be positive") }
        configuration.unverifiableAlertAfter = try EnvironmentOption.duration(
            unverifiableAlertAfter, "SIGNET_UNVERIFIABLE_ALERT_AFTER", default: configuration.unverifiableAlertAfter)
        guard configuration.unverifiableAlertAfter >= .zero else { throw ValidationError("--unverifiable-alert-after must not be negative") }
        let concurrency = try EnvironmentOption.int(scanConcurrency, "SIGNET_SCAN_CONCURRENCY", default: 4)
        guard (1...1024).contains(concurrency) else { throw ValidationError("--scan-concurrency must be between 1 and 1024") }
        let reportsText = EnvironmentOption.string(writePolicyReports, "SIGNET_WRITE_POLICY_REPORTS", default: "false")!
        guard let reports = Bool(reportsText) else { throw ValidationError("--write-policy-reports must be true or false") }
        let electionText = EnvironmentOption.string(leaderElection, "SIGNET_LEADER_ELECTION", default: "true")!
        guard let elect = Bool(electionText) else { throw ValidationError("--leader-election must be true or false") }
        let lease = EnvironmentOption.string(leaderElectionLease, "SIGNET_LEADER_ELECTION_LEASE", default: "signet-continuous-verification")!
        guard !lease.isEmpty else { throw ValidationError("--leader-election-lease must not be empty") }
        return ContinuousSettings(
            configuration: configuration, concurrency: concurrency, reports: reports, leaseName: elect ? lease : nil,
            unreviewedNamespaces: unreviewed.namespaces)
    }
}

/// Continuous verification as `signet serve` runs it.
struct ContinuousSettings {
    var configuration: ContinuousVerifier.Configuration
    var concurrency: Int
    var reports: Bool
    /// The leader-election Lease; `nil`: every replica scans.
    var leaseName: String?
    /// `--webhook-excluded-namespaces`: their Pods' failures are reported `warn`.
    var unreviewedNamespaces: Set<String> = []

    /// This replica's leader-election settings: the Lease in `SIGNET_NAMESPACE` (the chart sets
    /// it from the Pod), else the service account's namespace; the identity is the Pod name
    /// (`SIGNET_POD_NAME`, else `HOSTNAME`, which Kubernetes sets to it).
    func leaderElection(
        client: KubernetesClient, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> LeaderElectionConfiguration? {
        guard let leaseName else { return nil }
        guard let namespace = environment["SIGNET_NAMESPACE"].flatMap({ $0.isEmpty ? nil : $0 }) ?? client.configuration.namespace else {
            throw ValidationError("leader election needs signet's namespace: set SIGNET_NAMESPACE, or --leader-election false")
        }
        let identity = [environment["SIGNET_POD_NAME"], environment["HOSTNAME"], ProcessInfo.processInfo.hostName]
            .compactMap { $0 }.first { !$0.isEmpty } ?? "signet-\(ProcessInfo.processInfo.processIdentifier)"
        return LeaderElectionConfiguration(leaseName: leaseName, namespace: namespace, identity: identity)
    }
}

/// Starts continuous verification for `signet serve`: a ``ContinuousVerifier`` on the serving
/// responder (so the engine and its cache are shared) and the cluster policy source, once
/// signet is ready (the responder holds the first full policy set).
enum ContinuousRuntime {
    static func start(
        _ settings: ContinuousSettings, policySource: PolicySourceRuntime,
        responder: AdmissionResponder, alerts: AlertDispatcher?, maximumAdmissionTime: Duration
    ) throws -> Task<Void, Never> {
        let client = try PolicySourceRuntime.makeKubernetesClient()
        let election = try settings.leaderElection(client: client)
        let source = policySource.source
        let current = NIOLockedValueBox(PolicySet.empty)
        let clock = policySource.settings.exemptions.clock
        let verifier = ContinuousVerifier(
            configuration: settings.configuration, pods: ResourceReflector(client: client, resource: .pods, publishesSnapshots: false),
            scanner: {
                var scanner = PodScanner(
                    responder: responder, concurrency: settings.concurrency, deadline: maximumAdmissionTime,
                    formats: ScanSetup.formats(of: current.withLockedValue { $0 }))
                scanner.unreviewedNamespaces = settings.unreviewedNamespaces
                return scanner
            },
            changeToken: {
                let policies = await source.current()
                current.withLockedValue { $0 = policies }
                return ContinuousVerifier.changeToken(of: policies, at: clock.now())
            },
            reports: settings.reports ? PolicyReportWriter(client: client) : nil, alerts: alerts)
        let readiness = policySource.readinessAfterSync
        return Task {
            // Pods are decided only once the responder decides with the first full policy set.
            while let readiness, readiness.notReadyReason != nil, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
            }
            guard let election else {
                await verifier.run()
                return
            }
            // Only the leader scans, writes reports and alerts on running images.
            let leader = Gauge(label: "signet_continuous_verification_leader")
            await LeaderElector(configuration: election, client: client).run(onChange: { leader.record($0 ? 1 : 0) }) {
                await verifier.run()
            }
        }
    }
}

/// `--webhook-excluded-namespaces` (`serve` with continuous verification, and `scan`): the
/// namespaces the ValidatingWebhookConfiguration leaves out, whose Pods' failures are reported
/// `warn` (``PodScanner/unreviewedNamespaces``). The chart passes the ones it leaves out.
struct UnreviewedNamespacesOption: ParsableArguments {
    @Option(name: .long, help: "Namespaces the webhook configuration leaves out (repeatable or comma-separated): the API server never asks signet about their Pods, so scans report an image admission would deny there as warn, without an alert. (env: SIGNET_WEBHOOK_EXCLUDED_NAMESPACES, comma-separated; default none)")
    var webhookExcludedNamespaces: [String] = []

    var namespaces: Set<String> {
        Set(EnvironmentOption.list(webhookExcludedNamespaces, "SIGNET_WEBHOOK_EXCLUDED_NAMESPACES"))
    }
}
