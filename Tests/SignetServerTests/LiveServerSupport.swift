import Foundation
import SignetTestSupport
import Testing

/// Policies the live-server tests run with: trust two demo registries, refuse Docker Hub.
enum LivePolicies {
    static func makeDirectory() throws -> TemporaryDirectory {
        let directory = TemporaryDirectory(prefix: "signet-live-policies")
        try directory.write("trusted.yaml", """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: trusted-registries
            spec:
              images:
                - glob: "ghcr.io/signet-demo/**"
                - glob: "registry.k8s.io/**"
              authorities:
                - name: allow
                  static:
                    action: pass
            """)
        try directory.write("hub.yaml", """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: no-docker-hub
            spec:
              images:
                - glob: "docker.io/**"
              authorities:
                - name: block
                  static:
                    action: fail
                    message: "Docker Hub images are not trusted here"
            """)
        return directory
    }
}

/// AdmissionReview bodies as the API server sends them (admission.k8s.io/v1).
enum ReviewBodies {
    /// A review of `kind` whose pod spec runs `images` (container name → image).
    static func make(
        kind: String, images: [(String, String)], operation: String = "CREATE", dryRun: Bool = false,
        uid: String = UUID().uuidString.lowercased(), padding: Int = 0
    ) -> [UInt8] {
        let containers: [[String: Any]] = images.map { ["name": $0.0, "image": $0.1] }
        var podSpec: [String: Any] = ["containers": containers]
        if padding > 0 { podSpec["nodeSelector"] = ["padding": String(repeating: "p", count: padding)] }
        let podTemplate: [String: Any] = ["metadata": ["labels": ["app": "web"]], "spec": podSpec]
        let (group, version, resource, spec): (String, String, String, [String: Any]) =
            switch kind {
            case "Pod": ("", "v1", "pods", podSpec)
            case "CronJob":
                ("batch", "v1", "cronjobs", ["schedule": "* * * * *", "jobTemplate": ["spec": ["template": podTemplate]]])
            case "Job": ("batch", "v1", "jobs", ["template": podTemplate])
            case "ReplicationController": ("", "v1", "replicationcontrollers", ["template": podTemplate])
            default: ("apps", "v1", kind.lowercased() + "s", ["template": podTemplate])
            }
        let object: [String: Any] = [
            "apiVersion": group.isEmpty ? version : "\(group)/\(version)", "kind": kind,
            "metadata": ["name": "web", "namespace": "team-a"], "spec": spec,
        ]
        let review: [String: Any] = [
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": [
                "uid": uid, "kind": ["group": group, "version": version, "kind": kind],
                "resource": ["group": group, "version": version, "resource": resource],
                "name": "web", "namespace": "team-a", "operation": operation,
                "userInfo": ["username": "alice@example.com"], "object": object, "dryRun": dryRun,
            ],
        ]
        return Array(try! JSONSerialization.data(withJSONObject: review))
    }

    static func write(_ body: [UInt8], in directory: TemporaryDirectory, name: String = "review.json") throws -> String {
        let url = directory.file(name)
        try Data(body).write(to: url)
        return url.path
    }
}

/// Runs a scenario of `Tests/LiveClients/live_client.py` (Python's ssl, socket and http.client)
/// against a live server and returns the JSON it printed.
enum LiveClient {
    static let script = TestPaths.packageRoot.appendingPathComponent("Tests/LiveClients/live_client.py").path

    static func run(
        _ scenario: String, _ server: SignetServerFixture, _ arguments: [String] = [], clientCertificate: Bool = false,
        timeout: Duration = TestBudget.seconds(120)
    ) async throws -> [String: Any] {
        var all = [script, scenario, "--port", "\(server.port)", "--ca", server.pki.caFile] + arguments
        if clientCertificate { all += ["--cert", server.pki.clientCertFile, "--key", server.pki.clientKeyFile] }
        let result = try await TestProcess.run("python3", all, timeout: timeout)
        guard result.status == 0,
            let line = result.stdout.split(separator: "\n").last,
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw TestProcessError(message: "live client \(scenario) failed (\(result.status)): \(result.stdout) \(result.stderr)")
        }
        return object
    }
}

/// Decodes an AdmissionReview response body.
func admissionResponse(_ body: String) throws -> [String: Any] {
    let review = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
    #expect(review["apiVersion"] as? String == "admission.k8s.io/v1")
    #expect(review["kind"] as? String == "AdmissionReview")
    return try #require(review["response"] as? [String: Any])
}
