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
        try server.restrict(to: ["ops", "shop", "zoo", "gone"].map { reports.merging(["namespace": $0]) { $1 } } + [
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
        // zoo's pods are all gone and its report is there: it is emptied. gone's report went
        // with its namespace: nothing is created there, and nothing is left to retry.
        _ = try server.apply("policyreports", [
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": ["name": PolicyReportBuilder.reportName, "namespace": "zoo"], "results": [] as [Any],
        ])

        let outcome = await PolicyReportWriter(client: client).write(
            findings, builder: PolicyReportBuilder(time: Self.start), emptiedNamespaces: ["zoo", "gone"])
        #expect(outcome.written == ["ops", "shop", "zoo"])
        #expect(outcome.failedNamespaces == ["billing"])
        #expect(try server.object("policyreports", key: "gone/\(PolicyReportBuilder.reportName)") == nil)
        #expect(try !server.requests().contains { $0.hasPrefix("POST") && $0.contains("/namespaces/gone/") }, "no report created where none is left")
        #expect(outcome.failures.first?.error.isForbidden == true)
        #expect(outcome.summary.contains("PolicyReport in billing"))
        for namespace in ["ops", "shop", "zoo"] {
            #expect(try server.object("policyreports", key: "\(namespace)/\(PolicyReportBuilder.reportName)") != nil, "\(namespace) not written")
        }
        #expect(try server.object("policyreports", key: "billing/\(PolicyReportBuilder.reportName)") == nil)
        let cluster = try #require(try server.object("clusterpolicyreports", key: PolicyReportBuilder.reportName))
        #expect(cluster["summary"] as? [String: Int] == ["pass": 1, "fail": 2, "warn": 0, "error": 0, "skip": 0])

        // A scan of one namespace (`signet scan --namespace`) writes its report, not the
        // cluster's: that sums up every namespace.
        let shopOnly = findings.filter { $0.namespace == "shop" }
        _ = await PolicyReportWriter(client: client).write(shopOnly, builder: PolicyReportBuilder(time: Self.start), clusterReport: false)
        let unchanged = try #require(try server.object("clusterpolicyreports", key: PolicyReportBuilder.reportName))
        #expect(unchanged["summary"] as? [String: Int] == ["pass": 1, "fail": 2, "warn": 0, "error": 0, "skip": 0])
    }
}

/// A report is one etcd object, refused above etcd's request limit (1.5 MiB by default), and a
/// report that cannot be written stays stale however often the scan runs. A namespace of
/// thousands of pods, or a cluster of thousands of namespaces, gets a report within the limit
/// with every failure in it first, a summary of every result and the count of those left out.
@Suite("PolicyReport size")
struct PolicyReportSizeTests {
    static let etcdRequestLimit = 1_572_864

    static func finding(_ index: Int, namespace: String, result: ImageFinding.Result) -> ImageFinding {
        ImageFinding(
            namespace: namespace, pod: "web-\(index)-7d9f8c6b5d-x2x4z", podUID: "5f0c6a9e-0000-4000-8000-\(String(index, radix: 16))",
            container: "app", image: "registry.example/team/web@sha256:" + String(repeating: "ab", count: 32), result: result,
            policies: ["release-signatures"], reason: String(repeating: "image registry.example/team/web is not signed by a trusted key; ", count: 4),
            bypassed: false, formats: ["key"])
    }

    @Test func aNamespaceOfThousandsOfPodsFitsWithEveryFailureFirst() throws {
        let failing: Set<Int> = [17, 2_500, 4_999]
        let findings = (0..<5_000).map { Self.finding($0, namespace: "shop", result: failing.contains($0) ? .fail : $0 % 10 == 0 ? .warn : .pass) }
        let report = PolicyReportBuilder(time: PolicyReportWriterTests.start).namespaceReport("shop", findings: findings)

        #expect(PolicyReportWriter.encode(report).count < Self.etcdRequestLimit)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.count < findings.count)
        #expect(results.prefix(3).compactMap { ($0["resources"] as? [[String: Any]])?.first?["name"] as? String }
            == failing.sorted().map { "web-\($0)-7d9f8c6b5d-x2x4z" })
        #expect(results.dropFirst(3).prefix(499).allSatisfy { $0["result"] as? String == "warn" })
        #expect(report["summary"] as? [String: Int] == ["pass": 4_498, "fail": 3, "warn": 499, "error": 0, "skip": 0])
        let annotations = (report["metadata"] as? [String: Any])?["annotations"] as? [String: String]
        #expect(annotations?[PolicyReportBuilder.omittedResultsAnnotation] == String(findings.count - results.count))
    }

    @Test func aReportThatFitsKeepsItsOrderAndHasNoAnnotation() throws {
        let findings = (0..<20).map { Self.finding($0, namespace: "shop", result: $0 == 19 ? .fail : .pass) }
        let report = PolicyReportBuilder(time: PolicyReportWriterTests.start).namespaceReport("shop", findings: findings)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.map { $0["result"] as? String } == findings.map { $0.result.rawValue })
        #expect((report["metadata"] as? [String: Any])?["annotations"] == nil)
    }

    @Test func aClusterOfThousandsOfNamespacesFitsWithEveryFailingNamespaceFirst() throws {
        let findings = (0..<12_000).map { Self.finding($0, namespace: "team-\($0)", result: $0 == 11_999 ? .fail : .pass) }
        let report = PolicyReportBuilder(time: PolicyReportWriterTests.start).clusterReport(findings)

        #expect(PolicyReportWriter.encode(report).count < Self.etcdRequestLimit)
        let results = try #require(report["results"] as? [[String: Any]])
        #expect(results.count < 12_000)
        #expect(results.first?["result"] as? String == "fail")
        #expect((results.first?["resources"] as? [[String: Any]])?.first?["name"] as? String == "team-11999")
        #expect(report["summary"] as? [String: Int] == ["pass": 11_999, "fail": 1, "warn": 0, "error": 0, "skip": 0])
        let annotations = (report["metadata"] as? [String: Any])?["annotations"] as? [String: String]
        #expect(annotations?[PolicyReportBuilder.omittedResultsAnnotation] == String(12_000 - results.count))
    }
}
