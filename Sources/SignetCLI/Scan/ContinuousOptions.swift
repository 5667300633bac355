import ArgumentParser
import Foundation
import Logging
import SignetAdmission
import SignetContinuous
import SignetKube
import SignetPolicy
import Synchronization

/// `signet serve`'s flags for continuous verification of running Pods.
struct ContinuousOptions: ParsableArguments {
    @Option(name: .long, help: "Decide the running Pods' images again on a schedule and when policies, exceptions, bypasses or trust material change: true or false; needs --policy-source kubernetes. (env: SIGNET_CONTINUOUS_VERIFICATION, default false)")
    var continuousVerification: String?

    @Option(name: .long, help: "Time between full scans of the running Pods. (env: SIGNET_SCAN_INTERVAL, default 10m)")
    var scanInterval: String?

    @Option(name: .long, help: "Pods decided at once by continuous verification. (env: SIGNET_SCAN_CONCURRENCY, default 4)")
    var scanConcurrency: Int?

    @Option(name: .long, help: "Write a wgpolicyk8s.io/v1alpha2 PolicyReport per namespace after each scan: true or false. (env: SIGNET_WRITE_POLICY_REPORTS, default false)")
    var writePolicyReports: String?

    /// The scan settings, or `nil` when continuous verification is off.
    func resolve(source: ResourceSettings.Source) throws -> (ContinuousVerifier.Configuration, concurrency: Int, reports: Bool)? {
        let text = EnvironmentOption.string(continuousVerification, "SIGNET_CONTINUOUS_VERIFICATION", default: "false")!
        guard let enabled = Bool(text) else { throw ValidationError("--continuous-verification must be true or false") }
        guard enabled else { return nil }
        guard source == .kubernetes else { throw ValidationError("--continuous-verification needs --policy-source kubernetes") }
        var configuration = ContinuousVerifier.Configuration()
        configuration.interval = try EnvironmentOption.duration(scanInterval, "SIGNET_SCAN_INTERVAL", default: configuration.interval)
        guard configuration.interval > .zero else { throw ValidationError("--scan-interval must be positive") }
        let concurrency = try EnvironmentOption.int(scanConcurrency, "SIGNET_SCAN_CONCURRENCY", default: 4)
        guard concurrency > 0 else { throw ValidationError("--scan-concurrency must be positive") }
        let reportsText = EnvironmentOption.string(writePolicyReports, "SIGNET_WRITE_POLICY_REPORTS", default: "false")!
        guard let reports = Bool(reportsText) else { throw ValidationError("--write-policy-reports must be true or false") }
        return (configuration, concurrency, reports)
    }
}

/// Starts continuous verification for `signet serve`: a ``ContinuousVerifier`` on the serving
/// responder (so the engine and its cache are shared) and the cluster policy source, once
/// signet is ready (the responder holds the first full policy set).
enum ContinuousRuntime {
    static func start(
        _ settings: (ContinuousVerifier.Configuration, concurrency: Int, reports: Bool), policySource: PolicySourceRuntime,
        responder: AdmissionResponder, alerts: AlertDispatcher?, maximumAdmissionTime: Duration
    ) throws(KubernetesError) -> Task<Void, Never> {
        let client = try PolicySourceRuntime.makeKubernetesClient()
        let source = policySource.source
        let current = Mutex(PolicySet.empty)
        let clock = policySource.settings.exemptions.clock
        let verifier = ContinuousVerifier(
            configuration: settings.0, pods: ResourceReflector(client: client, resource: .pods),
            scanner: {
                PodScanner(responder: responder, concurrency: settings.concurrency, deadline: maximumAdmissionTime,
                           formats: ScanSetup.formats(of: current.withLock { $0 }))
            },
            changeToken: {
                let policies = await source.current()
                current.withLock { $0 = policies }
                return ContinuousVerifier.changeToken(of: policies, at: clock.now())
            },
            reports: settings.reports ? PolicyReportWriter(client: client) : nil, alerts: alerts)
        let readiness = policySource.readinessAfterSync
        return Task {
            // Pods are decided only once the responder decides with the first full policy set.
            while let readiness, readiness.notReadyReason != nil, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
            }
            await verifier.run()
        }
    }
}
