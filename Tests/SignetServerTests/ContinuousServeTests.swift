import Foundation
import SignetTestSupport
import Testing

/// `signet serve --continuous-verification true` (the built binary) against the Kubernetes API
/// double: the running Pods are decided and reported, an alert is posted for the untrusted one
/// and for a deny at admission, the runbook metrics appear in `/metrics`, and every metric the
/// chart's Grafana dashboard and PrometheusRule query is one `/metrics` exposes.
@Suite(.serialized)
struct ContinuousServeTests {
    static func object(_ json: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }

    static func pod(_ name: String, namespace: String, image: String) -> [String: Any] {
        object(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","namespace":"\#(namespace)","uid":"uid-\#(name)"},"spec":{"containers":[{"name":"app","image":"\#(image)"}]},"status":{"phase":"Running","startTime":"2026-01-01T00:00:00Z"}}"#)
    }

    /// `signet serve` with continuous verification against `apiServer`, alerts to `receiver`.
    static func serve(
        _ apiServer: KubernetesAPIServerDouble, receiver: RegistryStubServer, extra: [String] = []
    ) throws -> (TemporaryDirectory, TestPKI, Int, TestProcess) {
        let scratch = TemporaryDirectory(prefix: "signet-continuous")
        try scratch.write("token", apiServer.token)
        try scratch.write("namespace", "signet-system")
        try FileManager.default.copyItem(atPath: apiServer.pki.caFile, toPath: scratch.file("ca.crt").path)
        let urls = try scratch.write("alert-urls", "# security channel\nhttp://\(receiver.host)/hook\n")
        let pki = try TestPKI()
        let port = FreePort.make()
        let server = try TestProcess(TestPaths.signetBinary.path, [
            "serve", "--address", "127.0.0.1", "--port", "\(port)", "--tls-cert", pki.serverCertFile, "--tls-key", pki.serverKeyFile,
            "--policy-dir", scratch.path, "--policy-source", "kubernetes", "--log-format", "json", "--audit-log", "off",
            "--continuous-verification", "true", "--scan-interval", "1h", "--write-policy-reports", "true",
            "--alert-webhook-urls-file", urls.path,
        ] + extra, environment: [
            "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(apiServer.port)", "SIGNET_SERVICE_ACCOUNT_DIR": scratch.path,
            "SIGNET_POD_NAME": "signet-5c7d9-x2k4q",
        ])
        return (scratch, pki, port, server)
    }

    /// A leader whose first list of Pods never completes is seen stalling: the stall clock
    /// starts when it takes the lead (the stalled alert had no series to read before a first
    /// full scan), and the Pods' watch reports no contact.
    @Test func aFirstListThatNeverCompletesShowsAsAStall() async throws {
        let apiServer = try await KubernetesAPIServerDouble.start()
        defer { apiServer.stop() }
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        // Everything but Pods: their list is refused (403) again and again.
        try apiServer.restrict(to: [
            ["apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]],
            ["apiGroups": ["signet.dev"], "resources": ["*"], "verbs": ["*"]],
            ["apiGroups": [""], "resources": ["namespaces"], "verbs": ["*"]],
        ])
        let (scratch, pki, port, server) = try Self.serve(apiServer, receiver: receiver)
        defer {
            server.terminate()
            withExtendedLifetime(scratch) {}
        }
        var metrics = ""
        try waitUntil("the leader's stall clock") {
            metrics = try TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "30", "-sS", "https://127.0.0.1:\(port)/metrics"]).stdout
            return metrics.contains("signet_continuous_verification_leader 1") && metrics.contains("signet_last_full_scan_timestamp_seconds ")
        }
        let started = metrics.split(separator: "\n").first { $0.hasPrefix("signet_last_full_scan_timestamp_seconds ") }
        #expect((started?.split(separator: " ").last.flatMap { Double($0) } ?? 0) > 1_700_000_000, "\(String(describing: started))")
        #expect(metrics.contains("signet_pod_watch_last_contact_timestamp_seconds 0"), "\(metrics)")
    }

    @Test func runningPodsAreReportedAlertedAndCountedAndTheDashboardQueriesExistingMetrics() async throws {
        let apiServer = try await KubernetesAPIServerDouble.start()
        defer { apiServer.stop() }
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        try apiServer.apply("clusterimagepolicies", Self.object(KubernetesServeTests.policy))
        try apiServer.apply("policyexceptions", Self.object(#"{"apiVersion":"signet.dev/v1alpha1","kind":"PolicyException","metadata":{"name":"vendor","namespace":"billing"},"spec":{"policies":["deny-untrusted"],"reason":"vendor image","approvedBy":"alice","validUntil":"\#(soon)"}}"#))
        try apiServer.apply("emergencybypasses", Self.object(#"{"apiVersion":"signet.dev/v1alpha1","kind":"EmergencyBypass","metadata":{"name":"incident"},"spec":{"namespaces":["ops"],"reason":"outage","requestedBy":"oncall","expiresAt":"\#(soon)"}}"#))
        for namespace in ["shop", "billing", "ops"] {
            try apiServer.apply("namespaces", Self.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(namespace)"}}"#))
        }
        try apiServer.apply("pods", Self.pod("web", namespace: "shop", image: "nginx:1.25"))
        try apiServer.apply("pods", Self.pod("batch", namespace: "billing", image: "nginx:1.25"))
        try apiServer.apply("pods", Self.pod("hotfix", namespace: "ops", image: "nginx:1.25"))

        // Every call signet makes (Pods listed and watched, reports written) is one the chart grants.
        if ChartRBAC.helm != nil {
            try apiServer.restrict(to: try ChartRBAC.serviceAccountRules(values: [
                "continuousVerification.enabled=true", "policyReports.enabled=true", "rbac.readPodControllers=true",
            ]))
        }
        let (scratch, pki, port, server) = try Self.serve(apiServer, receiver: receiver)
        defer { server.terminate() }
        func curl(_ arguments: [String]) throws -> String {
            try TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "30", "-sS"] + arguments).stdout
        }

        try waitUntil("the shop report") { try apiServer.object("policyreports", key: "shop/signet-image-signatures") != nil }
        let report = try #require(try apiServer.object("policyreports", key: "shop/signet-image-signatures"))
        #expect(report["summary"] as? [String: Int] == ["pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0])
        let billing = try #require(try apiServer.object("policyreports", key: "billing/signet-image-signatures"))
        #expect(billing["summary"] as? [String: Int] == ["pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 1])
        // This replica leads: it holds the Lease the chart grants, in its own namespace.
        let lease = try #require(try apiServer.object("leases", key: "signet-system/signet-continuous-verification"))
        #expect((lease["spec"] as? [String: Any])?["holderIdentity"] as? String == "signet-5c7d9-x2k4q")
        try waitUntil("the untrusted image's alert") { receiver.requests.count == 1 }

        // A deny at admission is alerted too, off the review's clock.
        let review = try scratch.write("review.json", KubernetesServeTests.podReview(uid: "uid-denied", namespace: "shop"))
        let answer = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(review.path)", "https://127.0.0.1:\(port)/validate"])
        #expect(answer.contains(#""allowed":false"#))
        try waitUntil("the deny's alert") { receiver.requests.count == 2 }
        // So is an emergency-bypass use; the same deny again within the window is not.
        let bypassed = try scratch.write("bypassed.json", KubernetesServeTests.podReview(uid: "uid-bypassed", namespace: "ops"))
        let bypassAnswer = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(bypassed.path)", "https://127.0.0.1:\(port)/validate"])
        #expect(bypassAnswer.contains(#""allowed":true"#) && bypassAnswer.contains("EmergencyBypass"))
        _ = try curl(["-H", "Content-Type: application/json", "--data-binary", "@\(review.path)", "https://127.0.0.1:\(port)/validate"])
        try waitUntil("the bypass use's alert") { receiver.requests.count == 3 }

        let metrics = try curl(["https://127.0.0.1:\(port)/metrics"])
        #expect(metrics.contains(#"signet_image_signature_verification_total{result="fail",format="static",source="scan"} 1"#))
        #expect(metrics.contains(#"signet_image_signature_verification_total{result="skip",format="none",source="scan"} 2"#))
        #expect(metrics.contains(#"signet_image_signature_verification_success_total{source="scan"} 0"#))
        // Admission counts its verifications too (two denies and a bypass use, above) ...
        #expect(metrics.contains(#"signet_image_signature_verification_total{result="fail",format="static",source="admission"} 2"#))
        #expect(metrics.contains(#"signet_image_signature_verification_total{result="skip",format="none",source="admission"} 1"#))
        #expect(metrics.contains(#"signet_admission_reviews_total{decision="denied",kind="Pod",dry_run="false"} 2"#))
        // ... and the scans are no dry-run admissions, in metrics or logs.
        #expect(!metrics.contains(#"dry_run="true""#))
        #expect(metrics.contains("signet_continuous_verification_leader 1"))
        let logs = server.stdout + server.stderr
        #expect(logs.contains("admission review"))
        #expect(!logs.contains(#""dry_run":"true""#), "a scan was logged as a dry-run admission")
        #expect(!logs.contains("signet-scan"), "a scan's bypass was logged as a use at admission")
        #expect(metrics.contains("signet_unsigned_images_detected_total 1"))
        #expect(metrics.contains(#"signet_unsigned_image_detection_seconds_bucket{le="+Inf"} 1"#))
        #expect(metrics.contains("signet_emergency_bypass_running_images 1"))
        #expect(metrics.contains(#"signet_alerts_total{kind="deny",outcome="deduplicated"} 1"#))
        #expect(metrics.contains(#"signet_alerts_total{kind="bypass",outcome="sent"} 1"#))
        // A Pod gone elsewhere is a scan of the changes alone: the bypassed image in ops still
        // runs, and the gauge still counts it (it used to count only the changed Pods' images).
        try apiServer.delete("pods", key: "shop/web")
        try waitUntil("the emptied shop report") {
            (try apiServer.object("policyreports", key: "shop/signet-image-signatures")?["summary"] as? [String: Int])?["fail"] == 0
        }
        #expect(try curl(["https://127.0.0.1:\(port)/metrics"]).contains("signet_emergency_bypass_running_images 1"))
        let exposed = Set(metrics.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            String($0.prefix { $0 != "{" && $0 != " " })
        })
        var queried: [String: Set<String>] = [:]
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.packageRoot.appendingPathComponent(
            "charts/signet/files/grafana-dashboard.json"))) as? [String: Any]
        for panel in dashboard?["panels"] as? [[String: Any]] ?? [] {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let expression = try #require(target["expr"] as? String)
                queried[expression] = PromQLMetricNames.names(in: expression)
            }
        }
        // As the chart renders them: its placeholders replaced (the job only appears in `up`'s labels).
        let rules = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("charts/signet/files/prometheus-rules.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "SIGNET_SCAN_STALLED_SECONDS", with: "3600")
        for line in rules.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix("expr:") {
            let expression = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
            queried[expression] = PromQLMetricNames.names(in: expression)
        }
        #expect(queried.count == 27)
        for (expression, names) in queried {
            #expect(!names.isEmpty, "\(expression) reads no metric")
            // `up` is the series Prometheus itself records for every scrape target.
            for name in names.subtracting(["up"]) {
                #expect(exposed.contains(name), "\(name) (in \(expression)) is not in /metrics")
            }
        }
    }

    /// With the API server's addresses given (`--reserved-peers`), a review from anywhere else is
    /// decided and answered but makes no alert and no Event: any Pod reaching the webhook could
    /// otherwise write emergency-bypass Events naming a user of its choice, or spend a namespace's
    /// alert budget (and take the deduplication window) so its real denials go unannounced. The
    /// same reviews from the API server's address alert and write Events, saying where they came
    /// from.
    @Test func onlyTheAPIServersReviewsAlertAndWriteEvents() async throws {
        let apiServer = try await KubernetesAPIServerDouble.start()
        defer { apiServer.stop() }
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        try apiServer.apply("clusterimagepolicies", Self.object(KubernetesServeTests.policy))
        try apiServer.apply("emergencybypasses", Self.object(#"{"apiVersion":"signet.dev/v1alpha1","kind":"EmergencyBypass","metadata":{"name":"incident","uid":"uid-incident"},"spec":{"namespaces":["ops"],"reason":"outage","requestedBy":"oncall","expiresAt":"\#(soon)"}}"#))
        for namespace in ["shop", "ops"] {
            try apiServer.apply("namespaces", Self.object(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"\#(namespace)"}}"#))
        }
        let (scratch, pki, port, server) = try Self.serve(apiServer, receiver: receiver, extra: ["--reserved-peers", "127.0.0.2/32"])
        defer { server.terminate() }
        func post(_ review: String, from source: String) throws -> String {
            let file = try scratch.write("review-\(source).json", review)
            return try TestProcess.run("curl", [
                "--cacert", pki.caFile, "--max-time", "60", "-sS", "--interface", source, "-H", "Content-Type: application/json",
                "--data-binary", "@\(file.path)", "https://127.0.0.1:\(port)/validate",
            ]).stdout
        }
        try waitUntil("the policies loaded") {
            (try? TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "30", "-sS", "https://127.0.0.1:\(port)/readyz"]).stdout) == "ok\n"
        }
        func review(_ uid: String, namespace: String, name: String, user: String) -> String {
            KubernetesServeTests.podReview(uid: uid, namespace: namespace)
                .replacingOccurrences(of: #""name":"web""#, with: #""name":"\#(name)""#)
                .replacingOccurrences(of: #""username":"alice""#, with: #""username":"\#(user)""#)
        }
        // From a Pod's address: a deny and a bypass use, answered as any review is.
        #expect(try post(review("uid-forged-deny", namespace: "shop", name: "web", user: "mallory"), from: "127.0.0.1").contains(#""allowed":false"#))
        #expect(try post(review("uid-forged-bypass", namespace: "ops", name: "forged", user: "ceo@example.com"), from: "127.0.0.1").contains(#""allowed":true"#))
        // From the API server's: the same deny, and a bypass use of another Pod.
        #expect(try post(review("uid-deny", namespace: "shop", name: "web", user: "alice"), from: "127.0.0.2").contains(#""allowed":false"#))
        #expect(try post(review("uid-bypass", namespace: "ops", name: "hotfix", user: "alice"), from: "127.0.0.2").contains(#""allowed":true"#))

        try waitUntil("the API server's deny and bypass alerts") { receiver.requests.count == 2 }
        // The use's Event on the bypass (written within seconds, naming the latest use), and on
        // the Pod; none for the forged use, on the bypass or on its Pod.
        try waitUntil("the bypass use's Event") {
            try apiServer.objects("events").contains { ($0["message"] as? String)?.contains(#"Pod "ops/hotfix" for "alice" (review from 127.0.0.2:"#) == true }
        }
        let events = try apiServer.objects("events")
        let involved = events.compactMap { ($0["involvedObject"] as? [String: Any])?["name"] as? String }
        #expect(involved.sorted() == ["hotfix", "incident"], "\(events)")
        #expect(!events.contains { ($0["message"] as? String)?.contains("ceo@example.com") == true }, "\(events)")
        let metrics = try await TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "30", "-sS", "https://127.0.0.1:\(port)/metrics"]).stdout
        // The API server's deny was sent, not taken for a repeat of the forged one.
        #expect(metrics.contains(#"signet_alerts_total{kind="deny",outcome="sent"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"signet_alerts_total{kind="bypass",outcome="sent"} 1"#), "\(metrics)")
        #expect(!metrics.contains(#"outcome="deduplicated""#), "\(metrics)")
        #expect(metrics.contains("signet_admission_reviews_from_unknown_peers_total 2"), "\(metrics)")
        // The chart's rules alert on bypass uses: the forged one is not counted.
        #expect(metrics.contains(#"signet_emergency_bypass_uses_total{bypass="incident",dry_run="false"} 1"#), "\(metrics)")
        #expect(server.stderr.contains("is not the API server's") || server.stdout.contains("is not the API server's"))
        #expect(receiver.requests.count == 2)
    }

    @Test func metricNamesAreReadFromPromQL() {
        #expect(PromQLMetricNames.names(in: #"histogram_quantile(0.95, sum by (le) (rate(signet_x_bucket{job="a"}[1h])))"#) == ["signet_x_bucket"])
        #expect(PromQLMetricNames.names(in: "sum(a_total) / clamp_min(sum(rate(b_total[5m])), 1e-9) and on (pod) c") == ["a_total", "b_total", "c"])
        #expect(PromQLMetricNames.names(in: #"sum(up{job="signet"}) == 0 or absent(up{job="signet"})"#) == ["up"])
    }

    private func waitUntil(_ what: String, _ condition: () throws -> Bool) throws {
        for _ in 0..<600 {
            if (try? condition()) == true { return }
            usleep(50_000)
        }
        throw TestProcessError(message: "never happened: \(what)")
    }
}
