import Foundation
import SignetKube
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetContinuous

/// Reports are written namespace by namespace: one namespace the API server refuses (here RBAC
/// forbids reports in `billing`) does not leave the namespaces after it with stale reports; the
/// failure is returned naming the namespace, and the ClusterPolicyReport is still written.
@Suite("PolicyReport writer", .serialized)
struct PolicyReportWriterTests {
    static let start = KubernetesTime.parse("2026-11-30T12:00:00Z")!

    @Test func aNamespaceThatFailsDoesNotStopTheOthers() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let reports: [String: Any] = ["apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"], "verbs": ["get", "list", "create", "update"]]
        try server.restrict(to: ["ops", "shop", "zoo"].map { reports.merging(["namespace": $0]) { $1 } } + [
            ["apiGroups": ["wgpolicyk8s.io"], "resources": ["clusterpolicyreports"], "verbs": ["get", "list", "create", "update"]],
        ])
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let clock = ManualClock(Self.start)
        let policies = try ScanFixtures.policies(ScanFixtures.policy(authority: "release"))
        let pods = [
            ScanFixtures.pod("batch", namespace: "billing", image: "registry.example/batch:1", runningDigest: SigningKeyVerifier.unsignedDigest),
            ScanFixtures.pod("hotfix", namespace: "ops", image: "registry.example/hotfix:1", runningDigest: SigningKeyVerifier.unsignedDigest),
            ScanFixtures.pod("web", namespace: "shop", image: "registry.example/web:1", runningDigest: SigningKeyVerifier.signedDigest),
        ]
        let findings = await ScanFixtures.scanner(policies, clock: clock).scan(pods)

        let outcome = await PolicyReportWriter(client: client).write(
            findings, builder: PolicyReportBuilder(time: Self.start), emptiedNamespaces: ["zoo"])
        #expect(outcome.written == ["ops", "shop", "zoo"])
        #expect(outcome.failedNamespaces == ["billing"])
        #expect(outcome.failures.first?.error.isForbidden == true)
        #expect(outcome.summary.contains("PolicyReport in billing"))
        for namespace in ["ops", "shop", "zoo"] {
            #expect(try server.object("policyreports", key: "\(namespace)/\(PolicyReportBuilder.reportName)") != nil, "\(namespace) not written")
        }
        #expect(try server.object("policyreports", key: "billing/\(PolicyReportBuilder.reportName)") == nil)
        let cluster = try #require(try server.object("clusterpolicyreports", key: PolicyReportBuilder.reportName))
        #expect(cluster["summary"] as? [String: Int] == ["pass": 1, "fail": 2, "warn": 0, "error": 0, "skip": 0])
    }
}
