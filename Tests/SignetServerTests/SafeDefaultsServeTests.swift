import Foundation
import SignetTestSupport
import Testing

/// The built `signet serve` with the settings that keep a first install from locking a cluster
/// out, and the opt-out label under signet's control (issue 16, items 4 and 5): what an on-call
/// engineer sees in `/metrics`, the answers and the log.
@Suite(.serialized)
struct SafeDefaultsServeTests {
    let scratch = TemporaryDirectory(prefix: "signet-safe-defaults")

    /// `notAfter` of a PEM certificate as Unix seconds, read by `openssl x509` (not by signet).
    static func notAfter(_ file: String) async throws -> Double {
        let result = try await TestProcess.run("openssl", ["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", file])
        // notAfter=2026-12-04 13:00:00Z
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "notAfter=", with: "")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        let date = try #require(formatter.date(from: text), "openssl printed \(result.stdout) \(result.stderr)")
        return date.timeIntervalSince1970
    }

    /// `--no-match-action warn`: an uncovered image is admitted with a warning and counted under
    /// `action="warn"`; the serving certificate's `notAfter` is a gauge, and a rotated certificate
    /// moves it.
    @Test func warnIsCountedAndTheCertificateExpiryIsAMetric() async throws {
        let policies = try LivePolicies.makeDirectory()
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--no-match-action", "warn", "--cert-reload-interval", "200ms"])
        let scratch = scratch
        let file = try await offThePool {
            try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("controller", "quay.io/jetstack/cert-manager-controller:v1.16.1")]), in: scratch)
        }
        let (status, body) = try await server.review(file)
        #expect(status == 200)
        let response = try admissionResponse(body)
        #expect(response["allowed"] as? Bool == true)
        let warnings = try #require(response["warnings"] as? [String])
        #expect(warnings.first?.contains(#"image "quay.io/jetstack/cert-manager-controller:v1.16.1" (container "controller") is not covered by any ClusterImagePolicy"#) == true)
        #expect(try await server.metricValue(#"signet_admission_uncovered_images_total{action="warn"}"#) == 1)
        #expect(try await server.metricValue(#"signet_admission_image_verdicts_total{outcome="warn"}"#) == 1)

        let expiry = "signet_serving_certificate_expiry_timestamp_seconds"
        let first = try await Self.notAfter(server.certificateFile)
        #expect(try await server.metricValue(expiry) == first)

        // A new certificate with another notAfter (issued until the second differs; bounded).
        var second = first
        for _ in 0..<30 where second == first {
            try await Task.sleep(for: .milliseconds(200))
            let directory = server.certificateDirectory.url
            let pki = server.pki
            _ = try await offThePool { try pki.issueServerCertificate(commonName: "localhost", into: directory) }
            second = try await Self.notAfter(server.certificateFile)
        }
        #expect(second != first)
        var seen: Double?
        for _ in 0..<150 {
            seen = try await server.metricValue(expiry)
            if seen == second { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(seen == second, "the gauge follows the certificate being served")
    }

    /// `--policy-source kubernetes` against the API double: a pod in a namespace labelled
    /// `signet.dev/exclude=true` is admitted, counted, logged and audited; the label may be set
    /// only by a member of `--namespace-opt-out-group`.
    @Test func theOptOutIsCountedLoggedAndOnlyTheGroupMaySetIt() async throws {
        let apiServer = try await KubernetesAPIServerDouble.start()
        defer { apiServer.stop() }
        try apiServer.apply("namespaces", KubernetesServeTests.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"sandbox","labels":{"signet.dev/exclude":"true"}}}"#))
        try apiServer.apply("namespaces", KubernetesServeTests.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}"#))
        let serviceAccount = TemporaryDirectory(prefix: "signet-sa")
        try serviceAccount.write("token", apiServer.token)
        try serviceAccount.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: serviceAccount.file("ca.crt").path)
        let pki = try TestPKI()
        let port = FreePort.make()
        let policies = TemporaryDirectory(prefix: "signet-unused-policies")
        let server = try TestProcess(TestPaths.signetBinary.path, [
            "serve", "--address", "127.0.0.1", "--port", "\(port)", "--tls-cert", pki.serverCertFile, "--tls-key", pki.serverKeyFile,
            "--policy-dir", policies.path, "--policy-source", "kubernetes", "--log-format", "json",
            "--namespace-opt-out-group", "platform-security",
        ], environment: [
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)",
            "SIGNET_SERVICE_ACCOUNT_DIR": serviceAccount.path,
        ])
        defer { server.terminate() }
        func curl(_ arguments: [String]) async throws -> String {
            try await TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "30", "-sS"] + arguments).stdout
        }
        func post(_ name: String, _ body: String) async throws -> [String: Any] {
            let scratch = scratch
            let file = try await offThePool { try scratch.write(name, body) }
            let text = try await curl(["-H", "Content-Type: application/json", "--data-binary", "@\(file.path)", "https://127.0.0.1:\(port)/validate"])
            return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])["response"] as? [String: Any] ?? [:]
        }
        var ready = false
        for _ in 0..<600 where !ready {
            ready = (try? await curl(["-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(port)/readyz"])) == "200"
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ready)

        // No policy, no-match action deny (the binary's default): the pod is denied in shop and
        // admitted in sandbox only because of the label.
        let denied = try await post("shop.json", KubernetesServeTests.podReview(uid: "uid-shop", namespace: "shop"))
        #expect(denied["allowed"] as? Bool == false)
        let optedOut = try await post("sandbox.json", KubernetesServeTests.podReview(uid: "uid-sandbox", namespace: "sandbox"))
        #expect(optedOut["allowed"] as? Bool == true)
        #expect((optedOut["auditAnnotations"] as? [String: String])?["namespace-opt-out"] == "signet.dev/exclude=true")
        let metrics = try await curl(["https://127.0.0.1:\(port)/metrics"])
        #expect(metrics.contains(#"signet_namespace_opt_out_admissions_total{kind="Pod",dry_run="false"} 1"#)
                || metrics.contains(#"signet_namespace_opt_out_admissions_total{dry_run="false",kind="Pod"} 1"#), "\(metrics)")

        func namespaceReview(_ uid: String, groups: [String]) -> String {
            let list = groups.map { #""\#($0)""# }.joined(separator: ",")
            return #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\#(uid)","kind":{"group":"","version":"v1","kind":"Namespace"},"resource":{"group":"","version":"v1","resource":"namespaces"},"name":"shop","operation":"UPDATE","userInfo":{"username":"\#(uid)-user","groups":[\#(list)]},"object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"signet.dev/exclude":"true"}}},"oldObject":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}},"dryRun":false}}"#
        }
        let tenant = try await post("tenant.json", namespaceReview("tenant", groups: ["tenants", "system:authenticated"]))
        #expect(tenant["allowed"] as? Bool == false)
        #expect(((tenant["status"] as? [String: Any])?["message"] as? String)?.contains(#"members of the group "platform-security""#) == true)
        let member = try await post("member.json", namespaceReview("member", groups: ["platform-security"]))
        #expect(member["allowed"] as? Bool == true)

        // The log line and the audit record of the opted-out admission.
        var lines: [[String: Any]] = []
        for _ in 0..<100 {
            let output = try await offThePool { server.stdout }
            lines = output.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            if lines.contains(where: { $0["uid"] as? String == "uid-sandbox" }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let record = try #require(lines.first { $0["uid"] as? String == "uid-sandbox" && $0["event"] as? String == "admission" })
        #expect(record["namespaceOptOut"] as? String == "signet.dev/exclude=true")
        let logged = try await offThePool { server.stderr + server.stdout }
        #expect(logged.contains("namespace opted out: admitted without image checks"))
        #expect(logged.contains("namespace opt-out label change refused"))
    }
}
