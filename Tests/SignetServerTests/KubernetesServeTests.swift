import Foundation
import SignetTestSupport
import Testing

/// `signet serve --policy-source kubernetes` (the built binary) against
/// ``KubernetesAPIServerDouble``, a faithful double of the API server's list/watch protocol
/// over HTTPS (no API server can run here): in-cluster configuration from
/// `KUBERNETES_SERVICE_HOST`/`_PORT` and the service-account files, not ready before the first
/// full sync, decisions from cluster resources, the audit trail on stdout.
@Suite(.serialized)
struct KubernetesServeTests {
    static let policy: String = #"{"apiVersion":"signet.dev/v1alpha1","kind":"ClusterImagePolicy","metadata":{"name":"deny-untrusted"},"spec":{"images":[{"glob":"docker.io/**"}],"authorities":[{"name":"block","static":{"action":"fail","message":"not signed"}}]}}"#

    static func object(_ json: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }

    static func podReview(uid: String, namespace: String) -> String {
        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\#(uid)","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"name":"web","namespace":"\#(namespace)","operation":"CREATE","userInfo":{"username":"alice"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"\#(namespace)"},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}},"dryRun":false}}"#
    }

    @Test func servesDecisionsFromClusterResourcesAfterTheFirstSync() async throws {
        let apiServer = try await KubernetesAPIServerDouble.start()
        defer { apiServer.stop() }
        try apiServer.apply("clusterimagepolicies", Self.object(Self.policy))
        // In force for a day from now: the serve process decides with the real clock.
        let validUntil = ISO8601DateFormatter().string(from: Date().addingTimeInterval(24 * 3600))
        try apiServer.apply("policyexceptions", Self.object(#"{"apiVersion":"signet.dev/v1alpha1","kind":"PolicyException","metadata":{"name":"vendor","namespace":"billing"},"spec":{"policies":["deny-untrusted"],"reason":"vendor image","approvedBy":"alice","validUntil":"\#(validUntil)"}}"#))
        try apiServer.apply("namespaces", Self.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"billing"}}"#))
        try apiServer.holdLists(true)
        // Every call signet makes must be one the chart's RBAC grants.
        if ChartRBAC.helm != nil { try apiServer.restrict(to: try ChartRBAC.serviceAccountRules()) }

        let serviceAccount = TemporaryDirectory(prefix: "signet-sa")
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
        let pki = try TestPKI()
        let port = FreePort.make()
        let policies = TemporaryDirectory(prefix: "signet-unused-policies")
        let server = try TestProcess(TestPaths.signetBinary.path, [
            "serve", "--address", "127.0.0.1", "--port", "\(port)", "--tls-cert", pki.serverCertFile, "--tls-key", pki.serverKeyFile,
            "--policy-dir", policies.path, "--policy-source", "kubernetes", "--log-format", "json", "--no-match-action", "allow",
        ], environment: [
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
            "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path,
        ])
        defer { server.terminate() }
        func curl(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "30", "-sS"] + arguments)
        }
        func readyz() throws -> String {
            try curl(["-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/readyz"]).stdout
        }

        // Serving, but not ready while the lists cannot complete.
        try waitUntil("listening") { try readyz() == "503" }
        try waitUntil("a list was tried") {
            try apiServer.requests().contains { $0.hasPrefix("GET /apis/signet.dev/v1alpha1/clusterimagepolicies") && !$0.contains("watch") }
        }
        #expect(try readyz() == "503")
        let reason = try curl(["https://127.0.0.1:\(port)/readyz"]).stdout
        #expect(reason.contains("policies not loaded"))
        // A review that reaches the port anyway is denied, naming why: decided with no policies,
        // the permissive no-match action admitted every image. `/mutate` leaves it unpatched.
        let earlyDirectory = TemporaryDirectory(prefix: "signet-kube-early")
        let early = try earlyDirectory.write("early.json", Self.podReview(uid: "uid-early", namespace: "shop"))
        let earlyAnswer = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(early.path)", "https://127.0.0.1:\(port)/validate"])
        #expect(earlyAnswer.stdout.contains(#""allowed":false"#), "\(earlyAnswer.stdout)")
        #expect(earlyAnswer.stdout.contains("has not loaded its policies yet"), "\(earlyAnswer.stdout)")
        #expect(earlyAnswer.stdout.contains(#""uid":"uid-early""#))
        let earlyMutation = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(early.path)", "https://127.0.0.1:\(port)/mutate"])
        #expect(earlyMutation.stdout.contains(#""allowed":true"#) && !earlyMutation.stdout.contains("patch"), "\(earlyMutation.stdout)")

        try apiServer.holdLists(false)
        try waitUntil("ready after the first sync") { try readyz() == "200" }

        let scratch = TemporaryDirectory(prefix: "signet-kube-serve")
        let allowed = try scratch.write("allowed.json", Self.podReview(uid: "uid-allowed", namespace: "billing"))
        let denied = try scratch.write("denied.json", Self.podReview(uid: "uid-denied", namespace: "shop"))
        let allowedAnswer = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(allowed.path)", "https://127.0.0.1:\(port)/validate"])
        #expect(allowedAnswer.stdout.contains(#""allowed":true"#))
        #expect(allowedAnswer.stdout.contains("PolicyException"))
        let deniedAnswer = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(denied.path)", "https://127.0.0.1:\(port)/validate"])
        #expect(deniedAnswer.stdout.contains(#""allowed":false"#))

        // A live change: the exception is deleted, the next review in billing is denied.
        try apiServer.delete("policyexceptions", key: "billing/vendor")
        try waitUntil("exception withdrawn") {
            let answer = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(allowed.path)", "https://127.0.0.1:\(port)/validate"])
            return answer.stdout.contains(#""allowed":false"#)
        }

        // The audit trail: one JSON line per decision on stdout.
        let records = server.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        let first = try #require(records.first { $0["uid"] as? String == "uid-allowed" })
        #expect(first["event"] as? String == "admission")
        #expect(first["allowed"] as? Bool == true)
        #expect(first["user"] as? String == "alice")
        #expect(first["namespace"] as? String == "billing")
        #expect(((first["exemptions"] as? [[String: Any]])?.first?["name"] as? String) == "vendor")
        #expect(records.contains { $0["uid"] as? String == "uid-denied" && $0["allowed"] as? Bool == false })
    }

    private func waitUntil(_ what: String, _ condition: () throws -> Bool) throws {
        for _ in 0..<600 {
            if (try? condition()) == true { return }
            usleep(50_000)
        }
        throw TestProcessError(message: "never happened: \(what)")
    }
}
