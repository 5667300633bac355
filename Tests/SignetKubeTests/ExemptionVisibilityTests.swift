import Foundation
import SignetAdmission
import SignetKube
import SignetPolicy
import SignetTestSupport
import Testing
@testable import SignetCLI

/// Issue 16 "Visible": every emergency-bypass use becomes a Kubernetes Event on the bypass and
/// on the workload, posted through the API (here the API server double); dry runs make none.
/// Each Event names its object by uid as well: `kubectl describe` looks Events up by the
/// object's kind, name, namespace and uid, and showed none without it.
struct ExemptionVisibilityTests {
    static let now = KubernetesTime.parse("2026-11-22T10:00:00Z")!

    static let policies = """
        apiVersion: signet.dev/v1alpha1
        kind: ClusterImagePolicy
        metadata:
          name: deny-untrusted
        spec:
          images:
            - glob: "docker.io/**"
          authorities:
            - static:
                action: fail
        ---
        apiVersion: signet.dev/v1alpha1
        kind: EmergencyBypass
        metadata:
          name: incident-4711
          uid: 0b1e6c2a-bypass-uid
          creationTimestamp: "2026-11-22T09:00:00Z"
          annotations:
            signet.dev/created-by: oncall@example.com
        spec:
          namespaces: [payments]
          reason: signing outage
          requestedBy: oncall
          expiresAt: "2026-11-22T12:00:00Z"
        """

    static func review(dryRun: Bool) -> [UInt8] {
        let json = #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},"name":"checkout","namespace":"payments","operation":"CREATE","userInfo":{"username":"dev@example.com"},"dryRun":\#(dryRun),"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"checkout","namespace":"payments","uid":"3f1c9d4e-deployment-uid"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.25"}]}}}}}}"#
        return Array(json.utf8)
    }

    /// The events the double stored (read off the cooperative pool).
    static func events(_ server: KubernetesAPIServerDouble) async throws -> [[String: Any]] {
        let data = try await offThePool { try JSONSerialization.data(withJSONObject: server.objects("events")) }
        return try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
    }

    /// A recorder posting to `server`.
    static func recorder(_ server: KubernetesAPIServerDouble) throws -> KubernetesEventRecorder {
        KubernetesEventRecorder(client: try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)))
    }

    @Test func everyBypassUseIsAnEventOnTheBypassAndTheWorkload() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let recorder = try Self.recorder(server)
        let set = try PolicyLoader().load(files: [PolicySourceFile(name: "p.yaml", bytes: Array(Self.policies.utf8))])
        let rules = ExemptionConfiguration(clock: .fixed(Self.now))
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: set, exemptions: rules))
        responder.resourceValidator = SignetResourceValidator(configuration: rules)
        responder.eventSink = BypassEventReporter(recorder: recorder)

        let dry = await responder.respond(to: Self.review(dryRun: true), deadline: .now + .seconds(30))
        let real = await responder.respond(to: Self.review(dryRun: false), deadline: .now + .seconds(30))
        #expect(String(decoding: dry.body, as: UTF8.self).contains(#""allowed":true"#))
        #expect(String(decoding: real.body, as: UTF8.self).contains(#""allowed":true"#))
        recorder.finish()
        await recorder.run()

        let events = try await Self.events(server)
        #expect(events.count == 2, "one use, two events; the dry run made none")
        func involved(_ event: [String: Any]) -> [String: String] { event["involvedObject"] as? [String: String] ?? [:] }
        let onBypass = try #require(events.first { involved($0)["kind"] == "EmergencyBypass" })
        #expect(involved(onBypass) == ["apiVersion": "signet.dev/v1alpha1", "kind": "EmergencyBypass", "name": "incident-4711", "uid": "0b1e6c2a-bypass-uid"])
        #expect((onBypass["metadata"] as? [String: Any])?["namespace"] as? String == "default")
        #expect(onBypass["reason"] as? String == "EmergencyBypassUsed")
        #expect(onBypass["type"] as? String == "Warning")
        let bypassMessage = try #require(onBypass["message"] as? String)
        #expect(bypassMessage.contains(#"admitted Deployment "payments/checkout" for "dev@example.com" without signature verification"#))
        #expect(bypassMessage.contains("docker.io/library/nginx:1.25"))

        let onWorkload = try #require(events.first { involved($0)["kind"] == "Deployment" })
        #expect(involved(onWorkload) == ["apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout", "namespace": "payments", "uid": "3f1c9d4e-deployment-uid"])
        #expect((onWorkload["metadata"] as? [String: Any])?["namespace"] as? String == "payments")
        let workloadMessage = try #require(onWorkload["message"] as? String)
        #expect(workloadMessage.contains(#"EmergencyBypass "incident-4711" (expires at 2026-11-22T12:00:00Z, created by "oncall@example.com"): signing outage"#))
        #expect(try await offThePool { try server.requests() }.filter { $0.hasPrefix("POST") }.sorted()
            == ["POST /api/v1/namespaces/default/events", "POST /api/v1/namespaces/payments/events"])
    }

    /// Uses a tenant can repeat at will (a CREATE the API server refuses after the webhook let
    /// it in) are reported on the workload once per ten minutes each, and a namespace's uses make
    /// at most 25 reports at once: they made two Events a try, without end, in `default` too, and
    /// pushed other namespaces' Events out of the queue. On the bypass every use counts, in one
    /// Event per ten minutes.
    @Test func repeatedUsesAreReportedOnceAndANamespaceAtMost25Times() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let recorder = try Self.recorder(server)
        let reporter = BypassEventReporter(recorder: recorder)
        let bypass = ExemptionUse(kind: .emergencyBypass, namespace: nil, name: "incident-4711", expiresAt: Self.now + 7200, reason: "outage", policy: nil)
        func use(_ name: String, namespace: String = "payments", at seconds: TimeInterval = 0) -> BypassUse {
            BypassUse(bypass: bypass, apiVersion: "v1", kind: "Pod", namespace: namespace, name: name, uid: UUID().uuidString,
                      user: "dev@example.com", images: ["docker.io/library/nginx:1.25"], time: Self.now + seconds)
        }
        // The same Pod created a thousand times within a minute: one report.
        for attempt in 0..<1000 { reporter.bypassUsed(use("web", at: Double(attempt) / 20)) }
        // A hundred Pods of other names 50 s on: 25 (the namespace's bucket, full again by then).
        for index in 0..<100 { reporter.bypassUsed(use("web-\(index)", at: 50)) }
        // Another namespace is not held back by the first.
        reporter.bypassUsed(use("api", namespace: "billing", at: 50))
        // Ten minutes on: the first Pod is reported again, and the namespace has tokens again.
        reporter.bypassUsed(use("web", at: 700))
        recorder.finish()
        await recorder.run()

        let events = try await Self.events(server)
        func named(_ event: [String: Any]) -> String { (event["involvedObject"] as? [String: String])?["name"] ?? "" }
        let workloads = events.map(named).filter { $0 != "incident-4711" }
        #expect(workloads.filter { $0 == "web" }.count == 2, "\(workloads.filter { $0 == "web" }.count) reports of one repeated Pod")
        #expect(workloads.filter { $0.hasPrefix("web-") }.count == 25)
        #expect(workloads.contains("api"))
        #expect(reporter.filter.heldBack == 999 + 75)
        // On the bypass, per namespace: the first 50 s of payments (1,100 uses) in one Event, the
        // use in billing in another, and the use ten minutes on in a third.
        let onBypass = events.filter { named($0) == "incident-4711" }.sorted { ($0["count"] as? Int ?? 0) > ($1["count"] as? Int ?? 0) }
        #expect(onBypass.map { $0["count"] as? Int ?? 0 } == [1100, 1, 1], "\(onBypass.map { $0["count"] ?? "-" })")
        #expect(onBypass.first?["firstTimestamp"] as? String == "2026-11-22T10:00:00Z")
        #expect(onBypass.first?["lastTimestamp"] as? String == "2026-11-22T10:00:50Z")
        #expect((onBypass.first?["message"] as? String)?.contains(#"Pod "payments/web-99""#) == true, "the latest use: \(onBypass.first?["message"] ?? "")")
        #expect(onBypass.contains { ($0["message"] as? String)?.contains(#"Pod "billing/api""#) == true }, "billing's use kept its own Event")
        #expect(onBypass.allSatisfy { !($0["reportingInstance"] as? String ?? "").isEmpty })
    }

    /// While signet runs, the Event on the bypass is created at the first use and its count
    /// written as uses come, one patch per flush whatever their number: a rollout shows
    /// "(x40 over ...)" on `kubectl describe emergencybypass`, not the first 25 uses.
    @Test func theBypassEventCountsEveryUseAsItComes() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let recorder = KubernetesEventRecorder(client: try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)), flushInterval: .milliseconds(200))
        let running = Task { await recorder.run() }
        let reporter = BypassEventReporter(recorder: recorder)
        let bypass = ExemptionUse(kind: .emergencyBypass, namespace: nil, name: "incident-4711", expiresAt: Self.now + 7200, reason: "outage", policy: nil)
        func use(_ index: Int) -> BypassUse {
            BypassUse(bypass: bypass, apiVersion: "v1", kind: "Pod", namespace: "payments", name: "web-\(index)", uid: nil,
                      user: nil, images: ["docker.io/library/nginx:1.25"], time: Self.now + Double(index))
        }
        func bypassEvents() async throws -> [[String: Any]] {
            try await Self.events(server).filter { ($0["involvedObject"] as? [String: String])?["kind"] == "EmergencyBypass" }
        }
        reporter.bypassUsed(use(0))
        try await KubernetesWatchTests.eventually("the bypass Event is created") { try await bypassEvents().count == 1 }
        for index in 1..<40 { reporter.bypassUsed(use(index)) }
        try await KubernetesWatchTests.eventually("the count reaches 40") { try await bypassEvents().first?["count"] as? Int == 40 }
        let requests = try await offThePool { try server.requests() }
        #expect(requests.filter { $0.hasPrefix("POST /api/v1/namespaces/default/events") }.count == 1)
        #expect(requests.filter { $0.hasPrefix("PATCH /api/v1/namespaces/default/events/") }.count <= 3, "\(requests.filter { $0.hasPrefix("PATCH") })")
        #expect(try await bypassEvents().first?["lastTimestamp"] as? String == "2026-11-22T10:00:39Z")
        recorder.finish()
        await running.value
    }

    /// Aggregated events do not wait in the queue of single events: a flood of single events
    /// (the workloads' of other namespaces) drops the oldest of those, never a count.
    @Test func aFloodOfSingleEventsDropsNoCount() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        let recorder = KubernetesEventRecorder(client: try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)), capacity: 4)
        let onBypass = KubernetesEvent(object: .init(apiVersion: "signet.dev/v1alpha1", kind: "EmergencyBypass", name: "incident-4711", namespace: nil),
                                       reason: "EmergencyBypassUsed", message: "admitted", time: Self.now)
        for index in 0..<300 {
            let object = KubernetesEvent.ObjectReference(apiVersion: "v1", kind: "Pod", name: "web-\(index)", namespace: "tenant-\(index % 12)")
            recorder.record(KubernetesEvent(object: object, reason: "EmergencyBypassUsed", message: "m", time: Self.now))
            if index % 10 == 0 { recorder.recordAggregated(onBypass, key: "incident-4711") }
        }
        recorder.finish()
        await recorder.run()
        let counts = try await Self.events(server).filter { ($0["involvedObject"] as? [String: String])?["kind"] == "EmergencyBypass" }.map { $0["count"] as? Int }
        #expect(counts == [30])
    }

    /// Without the right to patch events (RBAC from before patch was granted), counts are
    /// written as new Events of the uses since the last; events are still created, in
    /// `default` too.
    @Test func withoutPatchCountsAreNewEvents() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try await offThePool { try server.restrict(to: [["apiGroups": [""], "resources": ["events"], "verbs": ["create"]]]) }
        let recorder = KubernetesEventRecorder(client: try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile)), flushInterval: .milliseconds(100))
        let running = Task { await recorder.run() }
        func onBypass(_ second: Double) -> KubernetesEvent {
            KubernetesEvent(object: .init(apiVersion: "signet.dev/v1alpha1", kind: "EmergencyBypass", name: "incident-4711", namespace: nil),
                            reason: "EmergencyBypassUsed", message: "admitted", time: Self.now + second)
        }
        func counts() async throws -> [Int] { try await Self.events(server).compactMap { $0["count"] as? Int }.sorted() }
        recorder.recordAggregated(onBypass(0), key: "incident-4711")
        try await KubernetesWatchTests.eventually("the first use is an Event") { try await counts() == [1] }
        for second in 1...5 { recorder.recordAggregated(onBypass(Double(second)), key: "incident-4711") }
        try await KubernetesWatchTests.eventually("the next uses are another") { try await counts().reduce(0, +) == 6 }
        recorder.recordAggregated(onBypass(6), key: "incident-4711")
        recorder.finish()
        await running.value
        let final = try await counts()
        #expect(final.reduce(0, +) == 7, "\(final)")
        #expect(try await offThePool { try server.requests() }.filter { $0.hasPrefix("PATCH") }.count == 1, "one refused patch, then none")
    }

    @Test func withoutPermissionEventsAreDroppedQuietly() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try await offThePool { try server.forbidCreating("events") }
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let recorder = KubernetesEventRecorder(client: client)
        let object = KubernetesEvent.ObjectReference(apiVersion: "v1", kind: "Pod", name: "web", namespace: "team")
        for _ in 0..<3 { recorder.record(KubernetesEvent(object: object, reason: "EmergencyBypassUsed", message: "m", time: Self.now)) }
        recorder.finish()
        await recorder.run()
        // One attempt, then no more: the first 403 stops posting in that namespace.
        #expect(try await offThePool { try server.requests() }.filter { $0.hasPrefix("POST") }.count == 1)
        #expect(try await Self.events(server).isEmpty)
    }

    /// A namespace that refuses events (one being terminated refuses new objects, and a tenant can
    /// arrange a bypass use there) silences only itself: the events of other namespaces after it
    /// are posted (the first 403 used to stop every later event).
    @Test func aNamespaceThatRefusesEventsSilencesOnlyItself() async throws {
        let server = try await KubernetesAPIServerDouble.start()
        defer { server.stop() }
        try await offThePool { try server.forbidCreating("events", namespace: "doomed") }
        let client = try KubernetesClient(configuration: KubernetesClientConfiguration(
            serverURL: server.url, tokenFile: server.tokenFile, caFile: server.pki.caFile))
        let recorder = KubernetesEventRecorder(client: client)
        for namespace in ["doomed", "doomed", "payments", "default"] {
            let object = KubernetesEvent.ObjectReference(apiVersion: "v1", kind: "Pod", name: "web", namespace: namespace)
            recorder.record(KubernetesEvent(object: object, reason: "EmergencyBypassUsed", message: "m", time: Self.now))
        }
        recorder.finish()
        await recorder.run()
        #expect(try await offThePool { try server.requests() }.filter { $0.hasPrefix("POST") }.sorted()
            == ["POST /api/v1/namespaces/default/events", "POST /api/v1/namespaces/doomed/events", "POST /api/v1/namespaces/payments/events"])
        #expect(try await Self.events(server).count == 2)
    }
}
