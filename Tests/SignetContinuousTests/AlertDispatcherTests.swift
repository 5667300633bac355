import Foundation
import NIOConcurrencyHelpers
@testable import SignetAdmission
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetContinuous

/// Alerts reach a real HTTP receiver on 127.0.0.1: retried with backoff after 500s, sent once
/// within the deduplication window (measured with an injected clock), dropped rather than
/// waited for when the queue is full.
@Suite("Alert dispatcher")
struct AlertDispatcherTests {
    static func alert(_ image: String = "registry.example/worker:1.0") -> Alert {
        Alert(kind: .untrustedRunning, summary: "untrusted image running in shop", namespace: "shop", object: "Pod/worker",
              images: [image], policies: ["release-signed"], reason: "no signature", time: "2026-11-30T12:00:00Z")
    }

    static func configuration(_ receiver: RegistryStubServer) -> AlertConfiguration {
        var configuration = AlertConfiguration(urls: ["http://\(receiver.host)/hook"])
        configuration.initialBackoff = .milliseconds(20)
        configuration.maximumAttempts = 4
        configuration.requestTimeout = .seconds(10)
        return configuration
    }

    @Test func anAlertIsRetriedAfter500sUntilTheReceiverTakesIt() async throws {
        let receiver = try await RegistryStubServer.start(routes: [
            "POST /hook": [.init(status: 500), .init(status: 500), .init(status: 202)],
        ])
        defer { receiver.stop() }
        let dispatcher = try AlertDispatcher(configuration: Self.configuration(receiver))
        #expect(dispatcher.enqueue(Self.alert()))
        dispatcher.finish()
        await dispatcher.run()
        #expect(receiver.requests == ["POST /hook", "POST /hook", "POST /hook"])
    }

    @Test func aReceiverThatKeepsFailingIsGivenUpAfterTheAttempts() async throws {
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 503)]])
        defer { receiver.stop() }
        let dispatcher = try AlertDispatcher(configuration: Self.configuration(receiver))
        #expect(await dispatcher.deliver(Self.alert(), to: "http://\(receiver.host)/hook") == false)
        #expect(receiver.requests.count == 4)
    }

    @Test func theSameAlertIsSentOnceWithinTheWindowAndAgainAfterIt() async throws {
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let start = ContinuousClock.now
        let offset = NIOLockedValueBox<Duration>(.zero)
        var configuration = Self.configuration(receiver)
        configuration.deduplicationWindow = .seconds(600)
        let dispatcher = try AlertDispatcher(configuration: configuration, now: { start + offset.withLockedValue { $0 } })
        #expect(dispatcher.enqueue(Self.alert()))
        offset.withLockedValue { $0 = .seconds(599) }
        #expect(!dispatcher.enqueue(Self.alert()))
        #expect(dispatcher.enqueue(Self.alert("registry.example/other:1")))
        offset.withLockedValue { $0 = .seconds(601) }
        #expect(dispatcher.enqueue(Self.alert()))
        dispatcher.finish()
        await dispatcher.run()
        #expect(receiver.requests.count == 3)
    }

    @Test func aFullQueueDropsInsteadOfWaiting() throws {
        var configuration = AlertConfiguration(urls: ["http://127.0.0.1:9/hook"])
        configuration.queueCapacity = 2
        let dispatcher = try AlertDispatcher(configuration: configuration)
        #expect(dispatcher.enqueue(Self.alert("a/one:1")))
        #expect(dispatcher.enqueue(Self.alert("a/two:1")))
        #expect(!dispatcher.enqueue(Self.alert("a/three:1")))
    }

    /// Denials have a queue of their own: a flood of them (anyone can cause one per object)
    /// leaves room for an emergency-bypass use and an untrusted image running (they shared one
    /// queue, and a full one dropped them).
    @Test func aFloodOfDenialsLeavesRoomForBypassAndRunningAlerts() throws {
        var configuration = AlertConfiguration(urls: ["http://127.0.0.1:9/hook"])
        configuration.queueCapacity = 2
        let dispatcher = try AlertDispatcher(configuration: configuration)
        for index in 0..<5 {
            dispatcher.enqueue(Alert(kind: .deny, summary: "denied", namespace: "shop", object: "Pod/p-\(index)", images: ["a/x:\(index)"], reason: "no", time: "2026-11-30T12:00:00Z"))
        }
        #expect(dispatcher.enqueue(Alert(kind: .bypass, summary: "bypass used", namespace: "ops", object: "Pod/hotfix", images: ["a/hotfix:1"], reason: "incident", time: "2026-11-30T12:00:00Z")))
        #expect(dispatcher.enqueue(Alert(kind: .untrustedRunning, summary: "untrusted running", namespace: "shop", object: "Pod/w", images: ["a/w:1"], reason: "no", time: "2026-11-30T12:00:00Z")))
    }

    /// Anyone who may create Pods in a namespace causes denials at will: one namespace's flood
    /// is limited to its burst, then one alert per interval, and leaves the deny queue to the
    /// denials of other namespaces.
    @Test func aNamespacesFloodOfDenialsIsLimitedToItsRate() throws {
        var configuration = AlertConfiguration(urls: ["http://127.0.0.1:9/hook"])
        configuration.queueCapacity = 100
        configuration.denyAlertBurstPerNamespace = 5
        configuration.denyAlertInterval = .seconds(30)
        let clock = NIOLockedValueBox(ContinuousClock.now)
        let dispatcher = try AlertDispatcher(configuration: configuration, now: { clock.withLockedValue { $0 } })
        func deny(_ namespace: String, _ index: Int) -> Alert {
            Alert(kind: .deny, summary: "denied", namespace: namespace, object: "Pod/p-\(index)", images: ["a/x:\(index)"], reason: "no", time: "2026-11-30T12:00:00Z")
        }
        let flood = (0..<200).filter { dispatcher.enqueue(deny("mallory", $0)) }
        #expect(flood.count == 5)
        #expect((0..<5).allSatisfy { dispatcher.enqueue(deny("shop", $0)) }, "another namespace's denials are queued")
        // Attempts to switch signet off are never limited: an exception refused in the flooded namespace.
        #expect(dispatcher.enqueue(Alert(
            kind: .deny, summary: "denied", namespace: "mallory", object: "PolicyException/all", images: [], reason: "no", time: "2026-11-30T12:00:00Z")))
        #expect(AdmissionResponder.subjectKind(GroupVersionKind(group: "signet.dev", version: "v1alpha1", kind: "EmergencyBypass")) == "EmergencyBypass")
        #expect(AdmissionResponder.subjectKind(GroupVersionKind(group: "", version: "v1", kind: "Namespace")) == "Namespace")
        #expect(AdmissionResponder.subjectKind(GroupVersionKind(group: "", version: "v1", kind: "PolicyException")) == "PolicyException.core")
        #expect(AdmissionResponder.subjectKind(GroupVersionKind(group: "apps", version: "v1", kind: "Deployment")) == "Deployment")
        // ... but a review made up to look like one (the kind's name under another group, which
        // the subject names with its group) is a workload as any other.
        #expect(!dispatcher.enqueue(Alert(
            kind: .deny, summary: "denied", namespace: "mallory", object: "\(AdmissionResponder.subjectKind(GroupVersionKind(group: "apps", version: "v1", kind: "EmergencyBypass")))/x",
            images: ["a/x:1"], reason: "no", time: "2026-11-30T12:00:00Z")))
        // A limited alert is not remembered: the same denial goes once the namespace has a token again.
        clock.withLockedValue { $0 += .seconds(30) }
        #expect(dispatcher.enqueue(deny("mallory", 199)))
        #expect(!dispatcher.enqueue(deny("mallory", 198)))

        // The namespace's first alert after its refusals says how many there were.
        var budgets = NamespaceAlertBudgets(burst: 2, interval: .seconds(30), capacity: 10)
        let start = ContinuousClock.now
        #expect(budgets.take("mallory", at: start) == 0 && budgets.take("mallory", at: start) == 0)
        #expect((0..<7).allSatisfy { _ in budgets.take("mallory", at: start) == nil })
        #expect(budgets.take("mallory", at: start + .seconds(30)) == 7)
        #expect(budgets.take("mallory", at: start + .seconds(30)) == nil)
    }

    /// Each receiver has its own queues: one that never answers holds its own alerts through
    /// their retries, and a second receiver gets every alert meanwhile (they were sent to each
    /// URL in turn, so the first receiver's timeouts held back the second's).
    @Test func aReceiverThatNeverAnswersDoesNotHoldBackAnother() async throws {
        let silent = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200, delay: 3_600)]])
        defer { silent.stop() }
        let healthy = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { healthy.stop() }
        var configuration = AlertConfiguration(urls: ["http://\(silent.host)/hook", "http://\(healthy.host)/hook"])
        configuration.requestTimeout = TestBudget.seconds(600)
        let dispatcher = try AlertDispatcher(configuration: configuration)
        for index in 0..<10 { #expect(dispatcher.enqueue(Self.alert("registry.example/worker-\(index):1"))) }
        let running = Task { await dispatcher.run() }
        defer { running.cancel() }
        let deadline = TestBudget.deadline(120)
        while healthy.requests.count < 10 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(healthy.requests.count == 10, "the second receiver got \(healthy.requests.count) of 10 while the first did not answer")
        #expect(silent.requests.count <= 1, "the silent receiver holds its first alert")
    }

    /// An emergency bypass's alert is sent once, when the bypass is used: a scan's flood of
    /// untrusted-running alerts, which filled the queue they shared, must not drop it.
    @Test func aFloodOfRunningAlertsLeavesRoomForABypassAlert() throws {
        var configuration = AlertConfiguration(urls: ["http://127.0.0.1:9/hook"])
        configuration.queueCapacity = 2
        let dispatcher = try AlertDispatcher(configuration: configuration)
        for index in 0..<5 { dispatcher.enqueue(Self.alert("a/running-\(index):1")) }
        #expect(dispatcher.enqueue(Alert(kind: .bypass, summary: "bypass used", namespace: "ops", object: "Pod/hotfix", images: ["a/hotfix:1"], reason: "incident", time: "2026-11-30T12:00:00Z")))
    }

    /// A scan's alerts are queued one namespace at a time in turn, so when the queue fills every
    /// namespace has had its first alerts in it; `Retry-After` in seconds is read, a date is not.
    @Test func alertsAreInterleavedByNamespaceAndRetryAfterIsRead() {
        let alerts = ["a", "a", "a", "b", "c", "c"].enumerated().map { index, namespace in
            Alert(kind: .untrustedRunning, summary: "s", namespace: namespace, object: "Pod/p\(index)", images: ["x/\(index):1"], reason: "r", time: "t")
        }
        #expect(Alert.interleavedByNamespace(alerts).map { $0.object ?? "" } == ["Pod/p0", "Pod/p3", "Pod/p4", "Pod/p1", "Pod/p5", "Pod/p2"])
        #expect(AlertDispatcher.retryAfter("2") == .seconds(2))
        #expect(AlertDispatcher.retryAfter(" 120 ") == .seconds(120))
        #expect(AlertDispatcher.retryAfter("Wed, 21 Oct 2026 07:28:00 GMT") == nil)
        #expect(AlertDispatcher.retryAfter("-1") == nil)
        #expect(AlertDispatcher.retryAfter(nil) == nil)
    }

    /// A denied Pod of ten thousand containers (Kubernetes limits only the request's size): its
    /// alert is cut before it is queued, and what reaches the receiver names the first images
    /// and counts the rest.
    @Test func theAlertOfAHugeDenialIsCutBeforeItIsQueued() async throws {
        let images = (0..<10_000).map { "registry.example/team/app-\($0):1.0" }
        let alert = Alert(
            kind: .deny, summary: "signet denied Pod/big in shop", namespace: "shop", object: "Pod/big", images: images,
            policies: (0..<50).map { "policy-\($0)" }, reason: String(repeating: "image not signed; ", count: 100_000),
            time: "2026-11-30T12:00:00Z")
        let bounded = alert.bounded()
        #expect(bounded.images.count == Alert.maximumListItems)
        #expect(bounded.images.last == "… and \(10_000 - Alert.maximumListItems + 1) more")
        #expect(bounded.policies.count == Alert.maximumListItems)
        #expect(bounded.reason.unicodeScalars.count <= Alert.maximumTextScalars)
        #expect(bounded.bounded() == bounded)
        #expect(Self.alert().bounded() == Self.alert())

        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let dispatcher = try AlertDispatcher(configuration: Self.configuration(receiver))
        #expect(dispatcher.enqueue(alert))
        dispatcher.finish()
        await dispatcher.run()
        #expect(receiver.requests == ["POST /hook"])
        // What the receiver got is the cut alert: the whole one would be megabytes.
        let received = try #require(receiver.bodySizes.first)
        #expect(received == AlertFormat.json.body(bounded).count, "received \(received) bytes")
        for format in AlertFormat.allCases {
            let body = format.body(bounded)
            #expect(body.count < 32 * 1024, "\(format) body of \(body.count) bytes")
            #expect(String(decoding: body, as: UTF8.self).contains("registry.example/team/app-0:1.0"))
        }
    }

    /// A flood of distinct denials (each object a new alert) while the receiver cannot keep up:
    /// the window remembers at most its bound of alerts, and an alert dropped for a full queue
    /// is not remembered, so it is queued again once there is room.
    @Test func theDeduplicationWindowStaysBoundedAndForgetsDroppedAlerts() throws {
        var configuration = AlertConfiguration(urls: ["http://127.0.0.1:9/hook"])
        configuration.queueCapacity = 1
        configuration.deduplicationWindow = .seconds(600)
        let start = ContinuousClock.now
        let dispatcher = try AlertDispatcher(configuration: configuration, now: { start })
        #expect(dispatcher.enqueue(Self.alert("a/first:1")))
        #expect(!dispatcher.enqueue(Self.alert("a/second:1")))  // queue full: dropped
        #expect(dispatcher.rememberedAlerts == 1)

        configuration.queueCapacity = AlertDispatcher.maximumRememberedAlerts * 2
        configuration.denyAlertBurstPerNamespace = AlertDispatcher.maximumRememberedAlerts * 2
        let flooded = try AlertDispatcher(configuration: configuration, now: { start })
        for index in 0..<(AlertDispatcher.maximumRememberedAlerts + 500) {
            flooded.enqueue(Alert(
                kind: .deny, summary: "denied", namespace: "shop", object: "Pod/p-\(index)", images: ["a/x:1"], reason: "no",
                time: "2026-11-30T12:00:00Z"))
        }
        #expect(flooded.rememberedAlerts <= AlertDispatcher.maximumRememberedAlerts)
        #expect(flooded.rememberedAlerts >= 500)
    }

    /// `signet scan` queues a run's alerts before sending them: a run that finds more untrusted
    /// images than a queue holds sends every alert (the first thousand went, the rest were dropped).
    @Test func aRunSendsEveryAlertHoweverManyItFinds() async throws {
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let findings = (0..<30).map { index in
            ImageFinding(
                namespace: "ns-\(index % 3)", pod: "p-\(index)", podUID: nil, container: "app", image: "registry.example/app-\(index):1",
                result: .fail, policies: ["release-signed"], reason: "no signature", bypassed: false, formats: ["key"])
        }
        var configuration = Self.configuration(receiver)
        configuration.queueCapacity = 10
        try await AlertDispatcher.sendOnce(findings, configuration: configuration)
        #expect(receiver.requests.count == 30)
    }

    @Test func aRunAlertsOncePerUntrustedImageNotOncePerReplica() async throws {
        let receiver = try await RegistryStubServer.start(routes: ["POST /hook": [.init(status: 200)]])
        defer { receiver.stop() }
        let clock = ManualClock(KubernetesTime.parse("2026-11-30T12:00:00Z")!)
        let replicas = (1...7).map {
            ScanFixtures.pod("worker-\($0)", namespace: "shop", image: "registry.example/worker:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        }
        let other = ScanFixtures.pod("cron", namespace: "shop", image: "registry.example/cron:2", runningDigest: SigningKeyVerifier.unsignedDigest)
        let elsewhere = ScanFixtures.pod("worker-1", namespace: "staging", image: "registry.example/worker:1.0", runningDigest: SigningKeyVerifier.unsignedDigest)
        let signed = ScanFixtures.pod("web", namespace: "shop", image: "registry.example/web:1.0", runningDigest: SigningKeyVerifier.signedDigest)
        let scanner = ScanFixtures.scanner(try ScanFixtures.policies(ScanFixtures.policy(authority: "release")), clock: clock)
        let findings = await scanner.scan(replicas + [other, elsewhere, signed])
        #expect(findings.filter(\.isUntrusted).count == 9)

        // Each run has a dispatcher of its own: only the grouping keeps replicas to one alert.
        try await AlertDispatcher.sendOnce(findings, configuration: Self.configuration(receiver))
        #expect(receiver.requests.count == 3)
        let alerts = Alert.untrustedRunning(findings, time: Date(timeIntervalSince1970: 0))
        #expect(alerts.map(\.namespace) == ["shop", "shop", "staging"])
        let worker = try #require(alerts.first)
        #expect(worker.object == nil)
        #expect(worker.summary == "untrusted image running in shop: 7 Pods (worker-1, worker-2, worker-3, worker-4, worker-5 and 2 more), container app")
        #expect(alerts[1].object == "Pod/cron")
        #expect(alerts[2].object == "Pod/worker-1")
    }

    @Test func slackTextEscapesWhatWouldBecomeLinksOrMentions() throws {
        var alert = Self.alert("registry.example/app:1<https://evil.example|click here>")
        alert.summary = "untrusted image running in shop: Pod <!channel> & <@U024BE7LH>"
        alert.reason = "no signature for <https://evil.example> `&` <!here>"
        let slack = try JSONSerialization.jsonObject(with: Data(AlertFormat.slack.body(alert))) as? [String: Any]
        let text = try #require(slack?["text"] as? String)
        #expect(!text.contains("<") && !text.contains(">"), "\(text)")
        #expect(text.contains("Pod &lt;!channel&gt; &amp; &lt;@\u{200B}U024BE7LH&gt;"))
        // The summary (object, namespace and user names) is a code span too.
        #expect(text.hasPrefix(":rotating_light: *signet*: `untrusted image running in shop: Pod &lt;!channel&gt;"), "\(text)")
        #expect(text.contains("`registry.example/app:1&lt;https://evil.example|click here&gt;`"))
        // The reason in a code span (a backtick in it would end the span), where no receiver makes links.
        #expect(text.contains("reason: `no signature for &lt;https://evil.example&gt; '&amp;' &lt;!here&gt;`"), "\(text)")
        alert.reason = "image \"https://evil.example/signet-approve\" has no signature"
        let bare = try #require((try JSONSerialization.jsonObject(with: Data(AlertFormat.slack.body(alert))) as? [String: Any])?["text"] as? String)
        #expect(bare.hasSuffix("reason: `image \"https://evil.example/signet-approve\" has no signature`"), "\(bare)")
        // Markdown links and `@` mentions, for the receivers that read them (Mattermost, Rocket.Chat).
        alert.reason = "[rotate the key now](https://evil.example) @channel @all"
        let markdown = try #require((try JSONSerialization.jsonObject(with: Data(AlertFormat.slack.body(alert))) as? [String: Any])?["text"] as? String)
        #expect(!markdown.contains("](") && !markdown.contains("@channel") && !markdown.contains("@all"), "\(markdown)")
        #expect(markdown.contains("[rotate the key now]\u{200B}(https://evil.example) @\u{200B}channel"), "\(markdown)")
        #expect(AlertFormat.slackEscaped("a&amp;b") == "a&amp;amp;b", "an escape written by the sender is shown, not read")
        // `<` followed by a combining mark is one Swift Character that is not `<`: escaped all the same.
        let combined = AlertFormat.slackEscaped("<\u{338}!channel>\u{301} &\u{301}")
        #expect(!combined.utf8.contains(UInt8(ascii: "<")) && !combined.utf8.contains(UInt8(ascii: ">")), "\(combined)")
        #expect(combined == "&lt;\u{338}!channel&gt;\u{301} &amp;\u{301}")
        // A line break or an escape sequence in a name (a forged review's, a user's) is shown as
        // an escape: it added a line of its own to the message ("reason: approved").
        alert.summary = "signet denied Pod/web\u{1B}[2J in team\nreason: approved for alice\u{1B}[8m"
        let lines = try #require((try JSONSerialization.jsonObject(with: Data(AlertFormat.slack.body(alert))) as? [String: Any])?["text"] as? String)
        #expect(!lines.split(separator: "\n").contains { $0.hasPrefix("reason: approved") }, "\(lines)")
        #expect(!lines.unicodeScalars.contains { $0.value == 0x1B }, "\(lines)")
        #expect(lines.contains("in team\\u{A}reason: approved for alice\\u{1B}[8m"), "\(lines)")
        // The JSON format carries the text as it is: its receivers do not read mrkdwn.
        let json = try JSONSerialization.jsonObject(with: Data(AlertFormat.json.body(alert))) as? [String: Any]
        #expect(json?["summary"] as? String == alert.summary)
    }

    @Test func slackFormatIsATextMessageAndJSONCarriesTheFields() throws {
        let slack = try JSONSerialization.jsonObject(with: Data(AlertFormat.slack.body(Self.alert()))) as? [String: Any]
        let text = try #require(slack?["text"] as? String)
        #expect(text.contains("untrusted image running in shop") && text.contains("`registry.example/worker:1.0`"))
        let json = try JSONSerialization.jsonObject(with: Data(AlertFormat.json.body(Self.alert()))) as? [String: Any]
        #expect(json?["kind"] as? String == "untrusted-running")
        #expect(json?["images"] as? [String] == ["registry.example/worker:1.0"])
        #expect(json?["source"] as? String == "signet")
    }

    /// An admission's alert says where the review came from; a review not known to come from
    /// the API server (``AdmissionClient/fromAPIServer``) makes none: any Pod reaching the
    /// webhook could otherwise raise deny and bypass alerts naming a user of its choice, and
    /// spend a namespace's alert budget so its real denials go unannounced.
    @Test func onlyTheAPIServersReviewsMakeAlertsAndTheySayWhereTheyCameFrom() throws {
        let subject = AdmissionSubject(namespace: "shop", name: "web", kind: "Pod", operation: "CREATE", dryRun: false, userName: "alice")
        func record(_ client: AdmissionClient) -> AdmissionAuditRecord {
            AdmissionAuditRecord.make(
                uid: "uid-1", subject: subject, allowed: false, reason: "no signature", decision: nil, policyRevision: nil,
                latency: .milliseconds(1), time: Date(timeIntervalSince1970: 1_800_000_000), client: client)
        }
        let real = record(AdmissionClient(address: "10.0.0.1:52144", certificateSubject: "CN=kube-apiserver"))
        let alert = try #require(Alert.forAdmission(real))
        #expect(alert.kind == .deny && alert.peer == "10.0.0.1:52144" && alert.clientCertificate == "CN=kube-apiserver")
        let json = try JSONSerialization.jsonObject(with: Data(AlertFormat.json.body(alert))) as? [String: Any]
        #expect(json?["peer"] as? String == "10.0.0.1:52144")
        #expect(json?["clientCertificate"] as? String == "CN=kube-apiserver")
        #expect(Alert.forAdmission(record(AdmissionClient(address: "10.244.1.7:40112", fromAPIServer: false))) == nil)
        var bypass = record(AdmissionClient(address: "10.244.1.7:40112", fromAPIServer: false))
        bypass.event = "emergency-bypass"
        bypass.allowed = true
        bypass.exemptions = [ExemptionUse(kind: .emergencyBypass, namespace: nil, name: "incident", expiresAt: Date(timeIntervalSince1970: 1_800_003_600), reason: "outage", policy: nil)]
        #expect(Alert.forAdmission(bypass) == nil)
        bypass.fromAPIServer = true
        #expect(Alert.forAdmission(bypass)?.kind == .bypass)
    }
}
