import Foundation
import SignetTestSupport
import Testing

@testable import SignetCLI

/// `signet scan` reads the cluster's signet resources and never writes them: their status is the
/// webhook's to keep (`signet serve --write-status`, its leader). A scan CronJob that kept status
/// too raced the webhook's writes and, where the chart withholds the status permission
/// (`rbac.writeStatus=false`), logged a refusal per resource at every run.
@Suite("signet scan leaves the resources' status to the webhook", .serialized)
struct ScanStatusTests {
    @Test func aScanOfKubernetesPoliciesWritesNoStatus() async throws {
        let harness = try await ScanHarness.start(podImage: "registry.example/shop/web:v1")
        defer { harness.stop() }
        // A policy without a status, as a fresh `kubectl apply` leaves it: a status writer would
        // write its conditions at the first sync.
        try harness.apiServer.apply("clusterimagepolicies", [
            "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": ["name": "shop"],
            "spec": [
                "images": [["glob": "registry.example/shop/**"]],
                "authorities": [["name": "allow-all", "static": ["action": "pass"]]],
            ],
        ] as [String: Any])

        // Even with the webhook's environment variable set: a scan reads no such setting.
        let scan = try await harness.scan(["--policy-source", "kubernetes", "--audit-log", "off"], environment: ["SIGNET_WRITE_STATUS": "true"])
        #expect(scan.status == 0, "\(scan.stdout)\n\(scan.stderr)")
        #expect(ScanHarness.results(scan.stdout) == ["pass"], "\(scan.stdout)")
        let requests = try harness.apiServer.requests()
        #expect(requests.contains { $0.hasPrefix("GET /apis/signet.dev/v1alpha1/clusterimagepolicies") }, "\(requests)")
        let writes = requests.filter { !$0.hasPrefix("GET ") && !$0.hasPrefix("POST /apis/authorization.k8s.io/") }
        #expect(writes.isEmpty, "a scan wrote to the API server: \(writes)")
    }

    /// The flag is the webhook's: a scan refuses it, `serve` takes it and checks its value.
    @Test func onlyServeHasTheWriteStatusFlag() throws {
        #expect(throws: (any Error).self) { try ScanCommand.parse(["--write-status", "true"]) }
        #expect(try ServeCommand.parse(["--write-status", "false"]).status.resolve() == false)
        #expect(try ServeCommand.parse([]).status.resolve() == true)
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--write-status", "yes"]).status.resolve() }
    }
}
