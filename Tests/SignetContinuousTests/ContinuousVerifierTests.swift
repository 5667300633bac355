import Foundation
import NIOConcurrencyHelpers
import SignetKube
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetContinuous

/// Continuous verification against the Kubernetes API double: Pods are listed and watched, each
/// scan writes the namespace's PolicyReport in place and alerts once per untrusted image, a Pod
/// that starts between scans is found within a change check, and a policy change (a key taken
/// out) turns what it vouched for into fails without waiting for the interval.
@Suite("Continuous verification", .serialized)
struct ContinuousVerifierTests {
    static func podObject(_ pod: RunningPod) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(pod.objectJSON)) as? [String: Any])
    }

    static func report(_ server: KubernetesAPIServerDouble, namespace: String) throws -> [String: Any]? {
        try server.object("policyreports", key: "\(namespace)/\(PolicyReportBuilder.reportName)")
    }

    /// A client of the API double, as `signet serve` reaches the API server.
    static func client(of server: KubernetesAPIServerDouble) throws -> KubernetesClient {
        try KubernetesClient(configuration: KubernetesClientConfiguration(serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
    }

    /// Scans at `interval`, looking for changes every `changeCheck`.
    static func configuration(interval: Duration = .seconds(3600), changeCheck: Duration = .milliseconds(100)) -> ContinuousVerifier.Configuration {
        var configuration = ContinuousVerifier.Configuration()
        configuration.interval = interval
        configuration.changeCheckInterval = changeCheck
        return configuration
    }

    /// A scanner of the `release` key policy whose verifications give up after `deadline`
    /// (the hanging registry's images take it whole).
    static func releaseScanner(verifier: SigningKeyVerifier) throws -> PodScanner {
        ScanFixtures.scanner(
            try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!),
            verifier: verifier)
    }

    /// Polls `condition` until it holds or the budget (a hang-catcher) is spent.
    static func waitUntil(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
        let end = ContinuousClock.now + TestBudget.seconds(600)
        while try await !condition() {
            guard ContinuousClock.now < end else { throw TestProcessError(message: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until `pods` holds every Pod of `keys`, and then longer than a change check
    /// (``batchesOfTwo``'s 50 ms), so the verifier's next look between two batches sees them.
    static func waitUntilListed(_ keys: [String], by pods: ResourceReflector) async throws {
        try await waitUntil("\(keys) in the Pod store") {
            let listed = Set(await pods.snapshot.objects.map(\.key))
            return keys.allSatisfy(listed.contains)
        }
        try await Task.sleep(for: .milliseconds(100))
    }

    /// Full scans (and rounds between them) two Pods at a time, changes looked for every 50 ms.
    static var batchesOfTwo: ContinuousVerifier.Configuration {
        var configuration = configuration(interval: .seconds(3600), changeCheck: .milliseconds(50))
        configuration.fullScanBatch = 2
        return configuration
    }

    /// Polls `condition` (which runs curl against the API double) on a thread of its own, so it
    /// never blocks the cooperative pool the server under test needs, until the budget (which
    /// catches hangs, not slowness) is spent.
    static func waitFor(_ what: String, _ condition: @escaping @Sendable () throws -> Bool) async throws {
        let end = ContinuousClock.now + TestBudget.seconds(120)
        while try await !offThePool(condition) {
            guard ContinuousClock.now < end else { throw TestProcessError(message: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func podsAreScannedReportedAndAlertedAndRescannedOnChange() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let client = try Self.client(of: server)
        let signed = ScanFixtures.pod("web", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
        let unsigned = ScanFixtures.pod("worker", namespace: "shop", image: "registry.example/worker:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(signed))
        _ = try server.apply("pods", Self.podObject(unsigned))

        let clock = ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!)
        let before = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        let after = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "next-release")), clock: clock)
        let keyRemoved = NIOLockedValueBox(false)
        let configuration = Self.configuration(interval: .seconds(3600), changeCheck: .milliseconds(100))
        let alerts = try AlertDispatcher(configuration: AlertConfiguration(urls: ["http://\(receiver.host)/hook"]))
        let verifier = ContinuousVerifier(
            configuration: configuration, pods: ResourceReflector(client: client, resource: .pods),
            scanner: { keyRemoved.withLockedValue { $0 } ? after : before },
            changeToken: { keyRemoved.withLockedValue { $0 } ? "revision-2" : "revision-1" },
            reports: PolicyReportWriter(client: client), alerts: alerts)
        let running = Task { await verifier.run() }
        let sending = Task { await alerts.run() }
        defer {
            running.cancel()
            sending.cancel()
        }

        try await Self.waitFor("the first report") { try Self.report(server, namespace: "shop") != nil }
        var report = try #require(try Self.report(server, namespace: "shop"))
        #expect(report["summary"] as? [String: Int] == ["pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0])
        try await Self.waitFor("one alert") { receiver.requests.count == 1 }

        // A Pod started between full scans is found within a change check.
        let late = ScanFixtures.pod("late", namespace: "shop", image: "registry.example/late:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(late))
        try await Self.waitFor("the new pod's fail in the report") {
            (try Self.report(server, namespace: "shop")?["summary"] as? [String: Int])?["fail"] == 2
        }

        // Unchanged Pods are not parsed again at every change check (ten of them here).
        let parsed = await verifier.podsParsed
        #expect(parsed >= 3)
        try await Task.sleep(for: .seconds(1))
        #expect(await verifier.podsParsed == parsed, "unchanged Pods were parsed again")
        try await Self.waitFor("its alert") { receiver.requests.count == 2 }

        // The release key taken out of the policy: the signed pod fails at once.
        keyRemoved.withLockedValue { $0 = true }
        try await Self.waitFor("every pod failing") {
            (try Self.report(server, namespace: "shop")?["summary"] as? [String: Int])?["fail"] == 3
        }
        report = try #require(try Self.report(server, namespace: "shop"))
        #expect((report["results"] as? [[String: Any]])?.count == 3)
        #expect(try server.objects("policyreports").count == 1, "replaced in place, never duplicated")
        #expect(try server.objects("clusterpolicyreports").count == 1)
        // The unsigned pods were alerted already (deduplicated); the newly failing one alerts once.
        try await Self.waitFor("the signed pod's alert") { receiver.requests.count == 3 }
    }

    /// The result of Pod `pod` in `namespace`'s report.
    static func result(_ server: KubernetesAPIServerDouble, namespace: String, pod: String) throws -> String? {
        let results = try report(server, namespace: namespace)?["results"] as? [[String: Any]] ?? []
        let entry = results.first { (($0["resources"] as? [[String: Any]])?.first?["name"] as? String) == pod }
        return entry?["result"] as? String
    }

    /// A change of one namespace's PolicyExceptions decides that namespace's Pods again, not the
    /// cluster's: a tenant editing an exception in a loop must not keep the leader deciding
    /// every Pod. A change of the whole set still decides every Pod at once. (The scanner
    /// changes with the token, so what each Pod was last decided with shows in the reports.)
    @Test func anExceptionChangeDecidesItsNamespaceAlone() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let client = try Self.client(of: server)
        for namespace in ["shop", "bank"] {
            let pod = ScanFixtures.pod("web", namespace: namespace, image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
            _ = try server.apply("pods", Self.podObject(pod, uid: "uid-\(namespace)-web"))
        }
        let clock = ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!)
        let before = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        let after = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "next-release")), clock: clock)
        let token = NIOLockedValueBox(ContinuousVerifier.ChangeToken(cluster: "revision-1", namespaces: ["shop": "exceptions-1"]))
        let verifier = ContinuousVerifier(
            configuration: Self.configuration(interval: .seconds(3600), changeCheck: .milliseconds(50)),
            pods: ResourceReflector(client: client, resource: .pods, publishesSnapshots: false),
            scanner: { token.withLockedValue { $0.cluster == "revision-1" && $0.namespaces == ["shop": "exceptions-1"] } ? before : after },
            changeToken: { token.withLockedValue { $0 } }, reports: PolicyReportWriter(client: client), alerts: nil)
        let running = Task { await verifier.run() }
        defer { running.cancel() }
        try await Self.waitFor("both reports") {
            try Self.result(server, namespace: "shop", pod: "web") == "pass" && Self.result(server, namespace: "bank", pod: "web") == "pass"
        }
        #expect(await verifier.fullScansDone == 1)

        // An exception of shop edited: shop's Pod is decided again, bank's is not. A Pod that
        // starts in bank afterwards is decided in a later round than shop's (or with it), so by
        // the time its result is reported, bank's web Pod would have been decided again too.
        token.withLockedValue { $0.namespaces["shop"] = "exceptions-2" }
        try await Self.waitFor("shop decided again") { try Self.result(server, namespace: "shop", pod: "web") == "fail" }
        let late = ScanFixtures.pod("late", namespace: "bank", image: "registry.example/late:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(late))
        try await Self.waitFor("the late Pod decided") { try Self.result(server, namespace: "bank", pod: "late") == "fail" }
        #expect(try Self.result(server, namespace: "bank", pod: "web") == "pass", "bank's Pod was decided again for shop's exception")
        #expect(await verifier.fullScansDone == 1)
        // An exception made in bank: bank's turn.
        token.withLockedValue { $0.namespaces["bank"] = "exceptions-1" }
        try await Self.waitFor("bank decided again") { try Self.result(server, namespace: "bank", pod: "web") == "fail" }
        #expect(await verifier.fullScansDone == 1)

        // A policy changed: every Pod, in one full scan.
        token.withLockedValue { $0.cluster = "revision-2" }
        let end = ContinuousClock.now + TestBudget.seconds(120)
        while await verifier.fullScansDone < 2 {
            guard ContinuousClock.now < end else { throw TestProcessError(message: "the policy change's full scan never ended") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The Pods a namespace's exception change makes owed go after every Pod that starts
    /// meanwhile, in any namespace: a tenant whose Pods' registry hangs, editing an exception
    /// now and then, must not hold back the decision of an untrusted Pod started elsewhere
    /// (before the split, such an edit called a full scan, which decides new Pods between its
    /// batches; a round of owed Pods has to as well). The registry holds each batch until the
    /// test lets it go, so the order shown is the verifier's, not the machine's speed.
    @Test func podsThatStartGoBeforeTheOwedOnes() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let client = try Self.client(of: server)
        for index in 0..<6 {
            let pod = ScanFixtures.pod("slow-\(index)", namespace: "aaa-tenant", image: "registry.example/slow:1", runningDigest: SigningKeyVerifier.hangingDigest)
            _ = try server.apply("pods", Self.podObject(pod))
        }
        let signer = SigningKeyVerifier()
        let scanner = try Self.releaseScanner(verifier: signer)
        let token = NIOLockedValueBox(ContinuousVerifier.ChangeToken(cluster: "revision-1", namespaces: ["aaa-tenant": "exceptions-1"]))
        let pods = ResourceReflector(client: client, resource: .pods, publishesSnapshots: false)
        let verifier = ContinuousVerifier(
            configuration: Self.batchesOfTwo, pods: pods,
            scanner: { scanner }, changeToken: { token.withLockedValue { $0 } }, reports: PolicyReportWriter(client: client), metrics: ScanMetrics())
        let running = Task { await verifier.run() }
        defer { running.cancel() }
        // The first full scan: three batches, each let go as it comes.
        for batch in 1...3 {
            try await Self.waitUntil("batch \(batch) of the first full scan") { signer.registry.held >= 2 * batch }
            signer.registry.releaseWaiting()
        }
        try await Self.waitUntil("the first full scan") { await verifier.fullScansDone == 1 }
        // The tenant edits its exception: its six Pods are owed, two at a time.
        token.withLockedValue { $0.namespaces["aaa-tenant"] = "exceptions-2" }
        try await Self.waitUntil("the owed Pods under way") { signer.registry.held > 6 }
        let late = ScanFixtures.pod("late", namespace: "shop", image: "registry.example/late:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(late))
        try await Self.waitUntilListed(["shop/late"], by: pods)
        signer.registry.open()
        // Decided (and kept: the seventh Pod tracked) between two batches of the owed Pods, not
        // after all of them: the first batch, and at most one owed Pod beside it.
        try await Self.waitUntil("the late Pod decided") { await verifier.trackedPods == 7 }
        let owedBefore = try #require(signer.registry.heldBefore("registry.example/late:1.0@\(SigningKeyVerifier.unsignedDigest)")) - 6
        #expect(owedBefore <= 3, "\(owedBefore) owed Pods were decided before the late one")
        #expect(await verifier.fullScansDone == 1)
    }

    /// New Pods are decided in the order they came, whatever their namespace: a namespace that
    /// sorts first and keeps starting Pods whose registry hangs must not keep a later
    /// namespace's new Pod waiting until the next full scan (the store's order is by namespace).
    @Test func newPodsAreDecidedInTheOrderTheyCame() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let client = try Self.client(of: server)
        let signer = SigningKeyVerifier()
        let pods = ResourceReflector(client: client, resource: .pods, publishesSnapshots: false)
        let verifier = ContinuousVerifier(
            configuration: Self.batchesOfTwo, pods: pods,
            scanner: { [scanner = try Self.releaseScanner(verifier: signer)] in scanner }, changeToken: { "revision-1" },
            reports: PolicyReportWriter(client: client), metrics: ScanMetrics())
        let running = Task { await verifier.run() }
        defer { running.cancel() }
        try await Self.waitUntil("the first full scan") { await verifier.fullScansDone == 1 }
        func busy(_ range: Range<Int>) throws -> [String] {
            for index in range {
                let pod = ScanFixtures.pod("busy-\(index)", namespace: "aaa-busy", image: "registry.example/slow:1", runningDigest: SigningKeyVerifier.hangingDigest)
                _ = try server.apply("pods", Self.podObject(pod))
            }
            return range.map { "aaa-busy/busy-\($0)" }
        }
        let first = try busy(0..<4)
        try await Self.waitUntil("the first batch") { signer.registry.held >= 1 }
        try await Self.waitUntilListed(first, by: pods)
        let late = ScanFixtures.pod("late", namespace: "zzz", image: "registry.example/late:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(late))
        try await Self.waitUntilListed(["zzz/late"], by: pods)
        signer.registry.releaseWaiting()
        // The look after the first batch has listed the late Pod (after the four busy ones); four
        // more busy Pods come after it, while the second batch waits.
        try await Self.waitUntil("the late Pod listed by the verifier") { await verifier.arrival["uid-late"] != nil }
        try await Self.waitUntilListed(try busy(4..<8), by: pods)
        signer.registry.open()
        let lateImage = "registry.example/late:1.0@\(SigningKeyVerifier.unsignedDigest)"
        try await Self.waitUntil("the late Pod decided") { signer.registry.heldBefore(lateImage) != nil }
        // Before it, or beside it: the four busy Pods that came first and one that came after.
        let before = try #require(signer.registry.heldBefore(lateImage))
        #expect(before <= 5, "\(before) busy Pods were decided before the late one, which came before four of them")
    }

    /// A Pod that comes in one namespace rewrites that namespace's report and the cluster's, not
    /// every namespace's: a tenant creating and deleting Pods in a loop would otherwise have
    /// every report of the cluster written again (a GET and a PUT each) every change check.
    @Test func aChangeInOneNamespaceLeavesTheOtherReportsAlone() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let client = try Self.client(of: server)
        for namespace in ["shop", "bank"] {
            let pod = ScanFixtures.pod("web", namespace: namespace, image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
            _ = try server.apply("pods", Self.podObject(pod))
        }
        let clock = ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!)
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        let configuration = Self.configuration(interval: .seconds(3600), changeCheck: .milliseconds(100))
        let verifier = ContinuousVerifier(
            configuration: configuration, pods: ResourceReflector(client: client, resource: .pods),
            scanner: { scanner }, changeToken: { "revision-1" }, reports: PolicyReportWriter(client: client), alerts: nil)
        let running = Task { await verifier.run() }
        defer { running.cancel() }
        try await Self.waitFor("both reports") { try Self.report(server, namespace: "shop") != nil && Self.report(server, namespace: "bank") != nil }
        func bankWrites() throws -> Int { try server.requests().filter { $0.contains("namespaces/bank/policyreports") && !$0.hasPrefix("GET") }.count }
        let before = try bankWrites()

        let late = ScanFixtures.pod("late", namespace: "shop", image: "registry.example/late:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(late))
        try await Self.waitFor("the new pod's fail in shop's report") {
            (try Self.report(server, namespace: "shop")?["summary"] as? [String: Int])?["fail"] == 1
        }
        try server.delete("pods", key: "shop/late")
        try await Self.waitFor("shop's report without it") {
            (try Self.report(server, namespace: "shop")?["summary"] as? [String: Int])?["fail"] == 0
        }
        let bank = try server.requests().filter { $0.contains("bank") }
        #expect(try bankWrites() == before, "bank's report was written again: \(bank)")
    }

    /// An image whose registry does not answer is reported `error` at the first scan, and
    /// alerted only once every scan since has found it so for the grace; verified again in
    /// between, it starts its grace anew. (Only unverifiable images run here, so every POST to
    /// the receiver is such an alert; the grace and the deduplication window are measured on a
    /// clock the test moves.)
    @Test func anUnverifiableImageIsReportedAtOnceAndAlertedOnlyAfterItsGrace() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let client = try Self.client(of: server)
        let down = ScanFixtures.pod("api", namespace: "shop", image: "registry.example/api:2", runningDigest: SigningKeyVerifier.unreachableDigest)
        let up = ScanFixtures.pod("api", namespace: "shop", image: "registry.example/api:2", runningDigest: SigningKeyVerifier.signedDigest)
        _ = try server.apply("pods", Self.podObject(down))

        let skew = NIOLockedValueBox(Duration.zero)
        let clock: @Sendable () -> ContinuousClock.Instant = { .now + skew.withLockedValue { $0 } }
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!))
        var configuration = Self.configuration(interval: .milliseconds(200), changeCheck: .milliseconds(50))
        configuration.unverifiableAlertAfter = .seconds(600)
        var alertConfiguration = AlertConfiguration(urls: ["http://\(receiver.host)/hook"])
        // Longer than a loaded machine takes from the first alert to the pass (each scan meanwhile
        // finds the image overdue again, and re-alerts once the window has passed), shorter than
        // the skews below move the clock.
        alertConfiguration.deduplicationWindow = .seconds(60)
        let alerts = try AlertDispatcher(configuration: alertConfiguration, now: clock)
        let metrics = ScanMetrics()
        let verifier = ContinuousVerifier(
            configuration: configuration, pods: ResourceReflector(client: client, resource: .pods), scanner: { scanner },
            changeToken: { "revision-1" }, reports: PolicyReportWriter(client: client), alerts: alerts, metrics: metrics, now: clock)
        let running = Task { await verifier.run() }
        let sending = Task { await alerts.run() }
        defer {
            running.cancel()
            sending.cancel()
        }
        @Sendable func summary() throws -> [String: Int]? { try Self.report(server, namespace: "shop")?["summary"] as? [String: Int] }
        func scans(_ more: Int) async throws {
            let target = await verifier.scansDone + more
            let end = ContinuousClock.now + TestBudget.seconds(120)
            while await verifier.scansDone < target {
                guard ContinuousClock.now < end else { throw TestProcessError(message: "timed out waiting for \(more) scans") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        try await Self.waitFor("the error in the report") { try summary() == ["pass": 0, "fail": 0, "warn": 0, "error": 1, "skip": 0] }
        try await scans(4)
        #expect(alerts.rememberedAlerts == 0 && receiver.requests.isEmpty, "alerted within the grace: \(receiver.requests)")

        // Unverifiable at every scan for the whole grace: alerted.
        skew.withLockedValue { $0 += .seconds(600) }
        try await Self.waitFor("the unverifiable alert") { receiver.requests.count == 1 }

        // Verified again, then unverifiable again: the grace starts anew.
        _ = try server.apply("pods", Self.podObject(up))
        try await Self.waitFor("the pass") { try summary()?["pass"] == 1 }
        _ = try server.apply("pods", Self.podObject(down))
        try await Self.waitFor("the error again") { try summary()?["error"] == 1 }
        try await scans(2)
        // 300 s on: past the deduplication window, so only the grace holds it back.
        skew.withLockedValue { $0 += .seconds(300) }
        try await scans(4)
        try await Task.sleep(for: .milliseconds(500))
        #expect(receiver.requests.count == 1, "alerted before its new grace ended")
        skew.withLockedValue { $0 += .seconds(300) }
        try await Self.waitFor("the second unverifiable alert") { receiver.requests.count == 2 }
        #expect(try server.objects("clusterpolicyreports").count == 1)
    }

    /// An API server double running Pod `shop/worker` of an unsigned image, a client of it, and
    /// a scanner whose registry (`verifier`) the test can make stop answering.
    static func anUnsignedWorker(on server: KubernetesAPIServerDouble) throws -> (KubernetesClient, SigningKeyVerifier, PodScanner) {
        let unsigned = ScanFixtures.pod("worker", namespace: "shop", image: "registry.example/worker:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(unsigned))
        let verifier = SigningKeyVerifier()
        let scanner = ScanFixtures.scanner(
            try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!),
            verifier: verifier)
        return (try Self.client(of: server), verifier, scanner)
    }

    /// An image found untrusted stays a `fail` when a later scan (here the next full scan of the
    /// interval) cannot verify it (its registry made to hang or refuse connections): making
    /// verification fail transiently must not turn a known untrusted image into an `error`,
    /// alerted later and less urgently. (A policy change forgets what was found before it.)
    @Test func aKnownFailureStaysAFailWhenItsRegistryStopsAnswering() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let (client, verifier, scanner) = try Self.anUnsignedWorker(on: server)
        let configuration = Self.configuration(interval: .milliseconds(300), changeCheck: .milliseconds(50))
        let continuous = ContinuousVerifier(
            configuration: configuration, pods: ResourceReflector(client: client, resource: .pods), scanner: { scanner },
            changeToken: { "revision-1" }, reports: PolicyReportWriter(client: client), metrics: ScanMetrics())
        let running = Task { await continuous.run() }
        defer { running.cancel() }
        @Sendable func results() throws -> [[String: Any]] { try Self.report(server, namespace: "shop")?["results"] as? [[String: Any]] ?? [] }

        try await Self.waitFor("the fail") { try results().first?["result"] as? String == "fail" }
        verifier.registryDown.withLockedValue { $0 = true }
        try await Self.waitFor("a full scan with the registry down") { (try results().first?["message"] as? String)?.contains("did not answer") == true }
        let result = try #require(try results().first)
        #expect(result["result"] as? String == "fail", "\(result)")
        let message = result["message"] as? String ?? ""
        #expect(message.contains("registry.example did not answer") && message.contains("stays failed until a scan finds it trusted"), "\(message)")
        #expect(message.contains("no signature by key release"), "\(message)")
    }

    /// A lead lost for a moment (the run cancelled, then started again by the same process)
    /// keeps what the process knew: an untrusted image whose registry then stops answering is
    /// still a `fail` in the next run, not an `error` alerted later and less urgently.
    @Test func aKnownFailureOutlivesALapseOfTheLead() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let (client, verifier, scanner) = try Self.anUnsignedWorker(on: server)
        let skew = NIOLockedValueBox(Duration.zero)
        let continuous = ContinuousVerifier(
            configuration: Self.configuration(), pods: ResourceReflector(client: client, resource: .pods), scanner: { scanner },
            changeToken: { "revision-1" }, reports: PolicyReportWriter(client: client), metrics: ScanMetrics(),
            now: { .now + skew.withLockedValue { $0 } })
        @Sendable func results() throws -> [[String: Any]] { try Self.report(server, namespace: "shop")?["results"] as? [[String: Any]] ?? [] }
        let first = Task { await continuous.run() }
        try await Self.waitFor("the fail") { try results().first?["result"] as? String == "fail" }
        first.cancel()
        await first.value
        verifier.registryDown.withLockedValue { $0 = true }
        let scans = await continuous.fullScansDone
        let second = Task { await continuous.run() }
        try await Self.waitFor("the next run's full scan") {
            (try results().first?["message"] as? String)?.contains("did not answer") == true
        }
        #expect(await continuous.fullScansDone > scans)
        let result = try #require(try results().first)
        #expect(result["result"] as? String == "fail", "\(result)")
        #expect((result["message"] as? String ?? "").contains("no signature by key release"), "\(result)")

        // A lead lost for longer than a scan interval: what the process knew is out of date,
        // and the image is an error as any other that cannot be verified.
        second.cancel()
        await second.value
        skew.withLockedValue { $0 += .seconds(7200) }
        let third = Task { await continuous.run() }
        defer { third.cancel() }
        try await Self.waitFor("the error after a long lapse") { try results().first?["result"] as? String == "error" }
    }

    /// Many Pods that start at once against a registry that hangs are decided a batch at a
    /// time, and a policy change between two batches is acted on at once: the full scan it
    /// calls for decides the rest, instead of waiting for every new Pod to run into its deadline.
    @Test func newPodsAreDecidedInBatchesAndAPolicyChangeGoesFirst() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let client = try Self.client(of: server)
        let web = ScanFixtures.pod("web", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
        _ = try server.apply("pods", Self.podObject(web))
        let signer = SigningKeyVerifier()
        let scanner = try Self.releaseScanner(verifier: signer)
        let token = NIOLockedValueBox("revision-1")
        let pods = ResourceReflector(client: client, resource: .pods)
        let verifier = ContinuousVerifier(
            configuration: Self.batchesOfTwo, pods: pods, scanner: { scanner },
            changeToken: { ContinuousVerifier.ChangeToken(cluster: token.withLockedValue { $0 }) }, reports: PolicyReportWriter(client: client), metrics: ScanMetrics())
        let running = Task { await verifier.run() }
        defer { running.cancel() }
        try await Self.waitFor("the first full scan") { (try Self.report(server, namespace: "shop")) != nil }

        for index in 0..<10 {
            let pod = ScanFixtures.pod("new-\(index)", namespace: "batch", image: "registry.example/slow:1", runningDigest: SigningKeyVerifier.hangingDigest)
            _ = try server.apply("pods", Self.podObject(pod))
        }
        try await Self.waitUntil("the first batch of new Pods") { signer.registry.held >= 1 }
        token.withLockedValue { $0 = "revision-2" }
        // Longer than a change check: the look after this batch is due.
        try await Task.sleep(for: .milliseconds(100))
        signer.registry.open()
        try await Self.waitUntil("the policy change's full scan") { await verifier.fullScansDone >= 2 }
        // One batch of new Pods (two) before the change, then the full scan's ten; the ten new
        // Pods decided one after another before it would make twenty.
        let verified = signer.registry.held
        // The scan's reports are written after it ends.
        try await Self.waitFor("the full scan's report") {
            (try Self.report(server, namespace: "batch")?["summary"] as? [String: Int])?["error"] == 10
        }
        #expect(verified <= 14, "\(verified) verifications of the hanging image")
    }

    /// A full scan slowed by a registry that hangs (the test holds each batch until it lets it
    /// go) does not hold back a Pod that starts meanwhile: it is decided between two
    /// batches of the scan and alerted before the scan ends. The run's first full scan has not
    /// published yet, so nothing is reported until it has (a report written from the few Pods
    /// decided so far would empty every other namespace's, the one an earlier leader left in
    /// `batch` here); when it ends, the new Pod's finding is kept.
    @Test func aPodThatStartsDuringASlowFullScanIsDecidedBeforeTheScanEnds() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let client = try Self.client(of: server)
        for index in 0..<12 {
            let pod = ScanFixtures.pod("slow-\(index)", namespace: "batch", image: "registry.example/slow:1", runningDigest: SigningKeyVerifier.hangingDigest)
            _ = try server.apply("pods", Self.podObject(pod))
        }
        let earlier: [String: Any] = [
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": ["name": PolicyReportBuilder.reportName, "namespace": "batch"],
            "summary": ["pass": 0, "fail": 3, "warn": 0, "error": 0, "skip": 0], "results": [["result": "fail", "policy": "release-signed"]],
        ]
        _ = try server.apply("policyreports", earlier)
        let signer = SigningKeyVerifier()
        let scanner = try Self.releaseScanner(verifier: signer)
        let alerts = try AlertDispatcher(configuration: AlertConfiguration(urls: ["http://\(receiver.host)/hook"]))
        let pods = ResourceReflector(client: client, resource: .pods)
        let verifier = ContinuousVerifier(
            configuration: Self.batchesOfTwo, pods: pods, scanner: { scanner },
            changeToken: { "revision-1" }, reports: PolicyReportWriter(client: client), alerts: alerts, metrics: ScanMetrics())
        let running = Task { await verifier.run() }
        let sending = Task { await alerts.run() }
        defer {
            running.cancel()
            sending.cancel()
        }
        // The full scan is under way (12 Pods, two at a time, each held until the test lets it go).
        try await Self.waitUntil("the slow scan") { signer.registry.held >= 1 }
        let late = ScanFixtures.pod("late", namespace: "shop", image: "registry.example/late:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(late))
        try await Self.waitUntilListed(["shop/late"], by: pods)
        // The first batch ends; the second waits while the new Pod is decided between them.
        signer.registry.releaseWaiting()
        try await Self.waitFor("its alert") { receiver.requests.count == 1 }
        #expect(await verifier.fullScansDone == 0, "the new Pod waited for the slow scan")
        #expect((try Self.report(server, namespace: "batch")?["summary"] as? [String: Int])?["fail"] == 3, "the earlier report was emptied")
        #expect(try Self.report(server, namespace: "shop") == nil, "reported before the run's first full scan")
        // The scan ends: its Pods are errors, and the new Pod's fail is kept.
        signer.registry.open()
        try await Self.waitFor("the slow pods' errors") {
            (try Self.report(server, namespace: "batch")?["summary"] as? [String: Int])?["error"] == 12
        }
        #expect(await verifier.fullScansDone == 1)
        try await Self.waitFor("the new pod's fail in its report") {
            (try Self.report(server, namespace: "shop")?["summary"] as? [String: Int])?["fail"] == 1
        }
        #expect(await verifier.trackedPods == 13)
    }

    /// The JSON of `pod` with another UID.
    static func podObject(_ pod: RunningPod, uid: String) throws -> [String: Any] {
        var object = try podObject(pod)
        var metadata = object["metadata"] as? [String: Any] ?? [:]
        metadata["uid"] = uid
        object["metadata"] = metadata
        return object
    }

    @Test func podsAreToldApartByUIDAndRunningImageAndForgottenWhenGone() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let client = try Self.client(of: server)
        let signed = ScanFixtures.pod("web-0", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
        let unsigned = ScanFixtures.pod("web-0", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        _ = try server.apply("pods", Self.podObject(signed, uid: "uid-first"))
        // A failing report left by an earlier leader in a namespace whose Pods went meanwhile.
        _ = try server.apply("policyreports", [
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": ["name": PolicyReportBuilder.reportName, "namespace": "drained"],
            "summary": ["pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0], "results": [["result": "fail", "policy": "release-signed"]],
        ])

        let clock = ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!)
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        let configuration = Self.configuration(interval: .seconds(3600), changeCheck: .milliseconds(100))
        let metrics = ScanMetrics()
        let verifier = ContinuousVerifier(
            configuration: configuration, pods: ResourceReflector(client: client, resource: .pods),
            scanner: { scanner }, changeToken: { "revision-1" }, reports: PolicyReportWriter(client: client), metrics: metrics)
        let running = Task { await verifier.run() }
        defer { running.cancel() }
        @Sendable func summary() throws -> [String: Int]? { try Self.report(server, namespace: "shop")?["summary"] as? [String: Int] }
        @Sendable func uids() throws -> [String] {
            (try Self.report(server, namespace: "shop")?["results"] as? [[String: Any]] ?? []).compactMap {
                ($0["resources"] as? [[String: Any]])?.first?["uid"] as? String
            }
        }

        try await Self.waitFor("the first pass") { try summary()?["pass"] == 1 }
        #expect(try uids() == ["uid-first"])
        try await Self.waitFor("the earlier leader's report emptied") {
            try Self.report(server, namespace: "drained")?["summary"] as? [String: Int] == ["pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0]
        }
        // The StatefulSet's Pod deleted and created again under its name, between two full scans:
        // a new UID, so it is a new Pod, decided and reported as such.
        _ = try server.apply("pods", Self.podObject(signed, uid: "uid-second"))
        try await Self.waitFor("the new pod in the report") { try uids() == ["uid-second"] }
        #expect(try summary() == ["pass": 1, "fail": 0, "warn": 0, "error": 0, "skip": 0])
        // The same Pod's container restarted on an unsigned digest: decided again.
        _ = try server.apply("pods", Self.podObject(unsigned, uid: "uid-second"))
        try await Self.waitFor("the restarted container's fail") { try summary() == ["pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0] }
        #expect(metrics.rememberedPods == 1)
        // The Pod gone: nothing of it is kept.
        try server.delete("pods", key: "shop/web-0")
        try await Self.waitFor("the emptied report") { try summary() == ["pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0] }
        #expect(await verifier.trackedPods == 0)
        #expect(metrics.rememberedPods == 0)
    }
}
