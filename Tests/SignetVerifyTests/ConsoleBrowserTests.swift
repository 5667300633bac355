import Foundation
import SignetRegistry
import SignetTestSupport
import Testing

/// The console in headless Chromium (Debian's `chromium`, over the DevTools protocol with
/// `Tests/Console/console_browser.py`): sign in with a token through the login form, load each
/// page, verify a signed and an unsigned image from a local docker-registry through the form,
/// open the trust chain, watch a new admission decision arrive on an open History page, filter
/// the stored history with its form, open a decision's page, page through it, and read the
/// Overview's charts.
/// Screenshots are written to `$SIGNET_TEST_OUTPUT/console` (default `.build/test-output/console`).
@Suite(.serialized)
struct ConsoleBrowserTests {
    static var outputDirectory: String {
        let base = ProcessInfo.processInfo.environment["SIGNET_TEST_OUTPUT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? TestPaths.packageRoot.appendingPathComponent(".build/test-output").path
        return base + "/console"
    }

    @Test func pagesVerifyFormTrustChainAndLiveHistory() async throws {
        let registry = try await offThePool { try RegistryFixture() }
        let client = try RegistryClient(configuration: RegistryClientConfiguration(allowInsecureRegistries: [registry.host]))
        let images = TestRegistryImages(client: client)
        let key = try await TestSigningKey.generate(.ecP256)
        let signed = try ImageReference(parsing: "\(registry.host)/team/signed:v1")
        let signedDigest = try await images.pushImage(signed)
        try await images.sign(signedDigest, in: signed, with: [key])
        let unsigned = try ImageReference(parsing: "\(registry.host)/team/unsigned:v1")
        try await images.pushImage(unsigned)

        let policies = TemporaryDirectory(prefix: "signet-console-policies")
        try policies.write("signed.yaml", keyPolicyYAML(name: "team-signed", glob: "\(registry.host)/team/**", keyFile: key.publicKeyFile))
        let scratch = TemporaryDirectory(prefix: "signet-console-browser")
        let console = try await ConsoleFixture.start(
            policyDirectory: policies.path,
            arguments: ["--allow-insecure-registry", registry.host, "--history-sqlite", scratch.file("history.sqlite").path])
        defer {
            console.stop()
            registry.stop()
        }

        let uid = UUID().uuidString.lowercased()
        let review = try scratch.write("review.json", """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\(uid)",\
            "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
            "name":"live","namespace":"team-a","operation":"CREATE","userInfo":{"username":"alice@example.com"},\
            "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"live","namespace":"team-a"},\
            "spec":{"containers":[{"name":"app","image":"\(unsigned.description)"}]}}}}
            """)
        let output = Self.outputDirectory
        let run = try await TestProcess.run("python3", [
            TestPaths.packageRoot.appendingPathComponent("Tests/Console/console_browser.py").path,
            "--console", console.url, "--token", ConsoleFixture.verifierToken,
            "--signed", signed.description, "--unsigned", unsigned.description,
            "--webhook", console.server.baseURL, "--ca", console.server.pki.caFile,
            "--review", review.path, "--review-uid", uid, "--out", output,
        ], timeout: TestBudget.seconds(300))
        let line = try #require(run.stdout.split(separator: "\n").last, "no output: \(run.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(run.stdout) \(run.stderr)")
        try #require(run.status == 0, "\(result) \(run.stderr)")

        #expect(result["unauthenticated"] as? Bool == true, "the login form is shown without a session")
        #expect(result["signedIn"] as? String == "verifier")
        #expect(result["cookieVisibleToScript"] as? Bool == false, "the session cookie is HttpOnly")
        let pages = try #require(result["pages"] as? [String: [String: Any]])
        for (name, heading) in [("overview", "Overview"), ("policies", "Policies"), ("help", "Help"), ("verify", "Verify"), ("history", "History")] {
            #expect(pages[name]?["h1"] as? String == heading, "\(name): \(pages[name] ?? [:])")
        }
        let policiesText = try #require(pages["policies"]?["text"] as? String)
        let helpText = try #require(pages["help"]?["text"] as? String)
        #expect(policiesText.contains("team-signed"))
        #expect(helpText.contains("What to do"))

        let signedRun = try #require(result["signed"] as? [String: Any])
        #expect((signedRun["verdict"] as? String ?? "").hasPrefix("allow"), "\(signedRun)")
        #expect(signedRun["digest"] as? String == signedDigest.description)
        let signedSteps = (signedRun["steps"] as? [String] ?? []).joined(separator: "\n")
        for stage in ["resolution", "team-signed / ", "decision: allow"] { #expect(signedSteps.contains(stage), "\(signedSteps)") }
        let unsignedRun = try #require(result["unsigned"] as? [String: Any])
        #expect((unsignedRun["verdict"] as? String ?? "").hasPrefix("deny"), "\(unsignedRun)")
        #expect((unsignedRun["verdict"] as? String ?? "").contains("no cosign signatures"), "\(unsignedRun)")

        let trust = try #require(result["trust"] as? [String: Any])
        #expect((trust["svgBoxes"] as? Int ?? 0) >= 3, "\(trust)")
        let chainText = trust["text"] as? String ?? ""
        #expect(chainText.contains("key ecdsa") || chainText.contains("key"), "\(chainText)")
        #expect(chainText.contains(signedDigest.description), "\(chainText)")

        // The issue asks for 500 ms; the figure is reported, and only a bound a busy machine
        // cannot miss is asserted.
        let history = try #require(result["history"] as? [String: Any])
        let decidedToShown = try #require(history["decidedToShownMs"] as? Double)
        print("console: a new decision reached the open History page \(decidedToShown) ms after signet decided it (\(history["postedToShownMs"] ?? "?") ms after the review was sent)")
        #expect(decidedToShown >= 0)
        #expect(decidedToShown < 500 * Double(TestBudget.scale) * 4, "\(history)")
        #expect((history["row"] as? String ?? "").contains("team-a/live"), "\(history)")

        // The stored history: filtered by its GET form, a decision's page, paging by links.
        let filtered = try #require(result["historyFiltered"] as? [String: Any])
        #expect((filtered["url"] as? String ?? "").hasPrefix("/history?"), "\(filtered)")
        #expect((filtered["url"] as? String ?? "").contains("namespace=team-a"), "\(filtered)")
        #expect(filtered["form"] as? String == "team-a", "the form keeps the filter")
        let filteredRows = filtered["rows"] as? [String] ?? []
        #expect(filteredRows.count == 1, "only the admission in team-a: \(filteredRows)")
        #expect(filteredRows.first?.contains("team-a/live") == true, "\(filteredRows)")
        let decision = try #require(result["decision"] as? [String: Any])
        #expect(decision["source"] as? String == "admission")
        #expect(decision["user"] as? String == "alice@example.com")
        #expect(decision["dryRun"] as? String == "no")
        #expect((decision["reason"] as? String ?? "").contains("no cosign signatures"), "\(decision)")
        #expect((decision["policies"] as? String ?? "").contains("team-signed"), "\(decision)")
        let paging = try #require(result["paging"] as? [String: Any])
        let firstPage = paging["first"] as? [String] ?? [], secondPage = paging["second"] as? [String] ?? []
        #expect(firstPage.count == 1 && secondPage.count == 1, "\(paging)")
        #expect(firstPage != secondPage, "\(paging)")
        #expect(paging["firstLink"] as? Bool == true)
        // Newest first: the admission, then the console's verification of the unsigned image,
        // recorded with the user the TokenReview found.
        #expect(firstPage.first?.contains("admission") == true && firstPage.first?.contains("team-a/live") == true, "\(paging)")
        #expect(secondPage.first?.contains("console") == true && secondPage.first?.contains("verifier") == true, "\(paging)")

        // The Overview's server-drawn charts.
        let overview = try #require(result["overview"] as? [String: Any])
        #expect(overview["charts"] as? [String] == ["chart-decisions", "chart-cache", "chart-latency"], "\(overview)")
        #expect((overview["totals"] as? String ?? "").hasPrefix("1 decision, 1 denied"), "\(overview)")
        #expect((overview["refused"] as? [String] ?? []).first?.contains("team/unsigned") == true, "\(overview)")

        for name in ["verify-signed", "trust-chain", "history-live", "history", "history-decision", "overview-charts"] {
            #expect(FileManager.default.fileExists(atPath: "\(output)/\(name).png"), "screenshot \(name)")
        }
    }
}
