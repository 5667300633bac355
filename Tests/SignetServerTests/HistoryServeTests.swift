import Foundation
import Logging
import SignetAdmission
import SignetHistory
import SignetPolicy
import SignetTestSupport
import Testing

@testable import SignetCLI

/// The verification history as `signet serve` writes it and `signet history` reads it, and
/// admissions that never wait for it.
@Suite struct HistoryServeTests {
    let scratch = TemporaryDirectory(prefix: "signet-history-serve")

    /// Runs `signet history` with `arguments` against `database`.
    func history(_ database: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await TestProcess.run(TestPaths.signetBinary.path, ["history", "--history-sqlite", database] + arguments)
    }

    @Test func aReviewPostedToValidateIsInTheHistoryAndInSignetHistory() async throws {
        let policies = try LivePolicies.makeDirectory()
        let database = scratch.file("history.sqlite").path
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--history-sqlite", database, "--history-max-rows", "1000", "--history-max-age", "720h"])
        let scratch = scratch
        let denied = try await offThePool {
            try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "docker.io/library/nginx:1.27")], uid: "uid-denied"), in: scratch, name: "denied.json")
        }
        let dryRun = try await offThePool {
            try ReviewBodies.write(
                ReviewBodies.make(kind: "Deployment", images: [("app", "ghcr.io/signet-demo/app:1.0")], dryRun: true, uid: "uid-dry-run"),
                in: scratch, name: "dry-run.json")
        }
        #expect(try admissionResponse(try await server.review(denied).body)["allowed"] as? Bool == false)
        #expect(try admissionResponse(try await server.review(dryRun).body)["allowed"] as? Bool == true)

        // Written off the admission path: wait (bounded) until both are in the store.
        var entries: [[String: Any]] = []
        let deadline = TestBudget.deadline(60)
        while entries.count < 2 && ContinuousClock.now < deadline {
            let result = try await history(database, ["--output", "json"])
            #expect(result.status == 0, "\(result.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            entries = document?["entries"] as? [[String: Any]] ?? []
            if entries.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(entries.count == 2)
        // Newest first.
        let dry = entries[0], deny = entries[1]
        #expect(dry["uid"] as? String == "uid-dry-run")
        #expect(dry["dryRun"] as? Bool == true)
        #expect(dry["objectKind"] as? String == "Deployment")
        #expect(dry["allowed"] as? Bool == true)
        #expect(deny["uid"] as? String == "uid-denied")
        #expect(deny["source"] as? String == "admission")
        #expect(deny["namespace"] as? String == "team-a")
        #expect(deny["name"] as? String == "web")
        #expect(deny["user"] as? String == "alice@example.com")
        #expect(deny["operation"] as? String == "CREATE")
        #expect(deny["dryRun"] as? Bool == false)
        #expect(deny["allowed"] as? Bool == false)
        #expect((deny["peer"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect((deny["latencyMs"] as? Double).map { $0 >= 0 } == true)
        let image = try #require((deny["images"] as? [[String: Any]])?.first)
        #expect(image["image"] as? String == "docker.io/library/nginx:1.27")
        #expect(image["container"] as? String == "web")
        #expect(image["verdict"] as? String == "deny")
        #expect(image["policies"] as? [String] == ["no-docker-hub"])
        #expect(image["authorities"] as? [String] == ["no-docker-hub/block: failed"])
        #expect((image["reason"] as? String)?.contains("Docker Hub images are not trusted here") == true)
        let allowedImage = try #require((dry["images"] as? [[String: Any]])?.first)
        #expect((allowedImage["trustChain"] as? String)?.hasPrefix("trusted-registries/allow") == true, "the authority that vouched")

        // Filters, and the table.
        let deniedOnly = try await history(database, ["--decision", "denied", "--output", "json"])
        #expect(deniedOnly.stdout.contains("uid-denied") && !deniedOnly.stdout.contains("uid-dry-run"))
        let byImage = try await history(database, ["--image", "ghcr.io/signet-demo/app", "--output", "json"])
        #expect(byImage.stdout.contains("uid-dry-run") && !byImage.stdout.contains("uid-denied"))
        let table = try await history(database, ["--policy", "no-docker-hub"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("TIME") == true)
        #expect(lines.count == 2)
        #expect(lines.last?.contains("docker.io/library/nginx:1.27") == true)
        #expect(lines.last?.contains("denied") == true)
        let paged = try await history(database, ["--limit", "1"])
        let more = try #require(paged.stdout.split(separator: "\n").last { $0.hasPrefix("more: --cursor ") })
        let next = try await history(database, ["--limit", "1", "--cursor", String(more.dropFirst("more: --cursor ".count)), "--output", "json"])
        #expect(next.stdout.contains("uid-denied") && !next.stdout.contains("uid-dry-run"))

        #expect(try await server.metricValue(#"signet_history_records_written_total{store="sqlite"}"#) == 2)
        #expect(server.stop() == 0)
    }

    /// With the API server's address named (`--reserved-peers`), a review from anywhere else
    /// is kept as not from the API server: `signet history --sender` tells the two apart and
    /// the table marks it. curl sends one review from 127.0.0.2 (the API server here) and one
    /// from 127.0.0.1.
    @Test func reviewsNotFromTheAPIServerAreKeptAsSuchAndFoundBySender() async throws {
        let policies = try LivePolicies.makeDirectory()
        let database = scratch.file("senders.sqlite").path
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--history-sqlite", database, "--reserved-peers", "127.0.0.2/32"])
        let scratch = scratch
        let body = try await offThePool {
            try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "docker.io/library/nginx:1.27")], uid: "uid-sender"), in: scratch, name: "sender.json")
        }
        for source in ["127.0.0.2", "127.0.0.1"] {
            let posted = try await server.curl([
                "-sS", "--interface", source, "-H", "Content-Type: application/json", "--data-binary", "@\(body)", "-o", "/dev/null",
                "-w", "%{http_code}", "\(server.baseURL)/validate?timeout=30s",
            ])
            #expect(posted.stdout == "200", "\(source): \(posted.stderr)")
        }
        var entries: [[String: Any]] = []
        let deadline = TestBudget.deadline(60)
        while entries.count < 2 && ContinuousClock.now < deadline {
            let result = try await history(database, ["--output", "json"])
            entries = (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            if entries.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(entries.count == 2)
        #expect(entries.map { ($0["peer"] as? String)?.hasPrefix("127.0.0.1:") == true } == [true, false])
        #expect(entries.map { $0["fromAPIServer"] as? Bool } == [false, true])
        let unknown = try await history(database, ["--sender", "unknown", "--output", "json"])
        #expect(unknown.stdout.contains("127.0.0.1:") && !unknown.stdout.contains("127.0.0.2:"), "\(unknown.stdout)")
        let apiServer = try await history(database, ["--sender", "api-server", "--output", "json"])
        #expect(apiServer.stdout.contains("127.0.0.2:") && !apiServer.stdout.contains("127.0.0.1:"), "\(apiServer.stdout)")
        let table = try await history(database, [])
        #expect(table.stdout.split(separator: "\n").filter { $0.contains("(not from the API server)") }.count == 1, "\(table.stdout)")
        #expect(try await history(database, ["--sender", "kubelet"]).stderr.contains("--sender must be api-server or unknown"))
        #expect(server.stop() == 0)
    }

    @Test func badHistoryFlagsAreClearErrors() async throws {
        let policies = try LivePolicies.makeDirectory()
        let unreadable = try await TestProcess.run(TestPaths.signetBinary.path, [
            "serve", "--tls-cert", "/dev/null", "--tls-key", "/dev/null", "--policy-dir", policies.path,
            "--history-postgres-dsn-file", scratch.file("missing-dsn").path,
        ])
        #expect(unreadable.status == 2)
        #expect(unreadable.stderr.contains("cannot read the PostgreSQL DSN file \(scratch.file("missing-dsn").path)"), "\(unreadable.stderr)")
        let both = try await TestProcess.run(TestPaths.signetBinary.path, [
            "history", "--history-sqlite", scratch.file("a").path, "--history-postgres-dsn-file", scratch.file("b").path,
        ])
        #expect(both.status != 0)
        #expect(both.stderr.contains("exclude each other"))
        let none = try await TestProcess.run(TestPaths.signetBinary.path, ["history"])
        #expect(none.stderr.contains("no history store"))
        let verdict = try await history(scratch.file("c").path, ["--verdict", "maybe"])
        #expect(verdict.stderr.contains("--verdict must be one of allow, deny, warn, audit"))
    }

    /// The real responder, recording into a store that hangs or fails: every review is answered
    /// as without history, and the entries that found no room are counted as dropped.
    @Test(arguments: ["blocking", "failing"])
    func aStuckOrFailingStoreNeverHoldsUpAnAdmission(kind: String) async throws {
        let policies = try LivePolicies.makeDirectory()
        let set = try PolicyLoader().load(directory: policies.path)
        let blocking = BlockingHistoryStore()
        let store: any HistoryStore = kind == "blocking" ? blocking : FailingHistoryStore()
        var configuration = HistoryRecorderConfiguration()
        configuration.capacity = 4
        configuration.batchSize = 2
        let recorder = HistoryRecorder(store: store, storeName: "test", configuration: configuration)
        let writer = Task { await recorder.run() }
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: set))
        responder.auditSink = HistoryAuditSink(recorder: recorder, next: nil)

        let reviews = 40
        for index in 0..<reviews {
            let image = index.isMultiple(of: 2) ? "docker.io/library/nginx:1.27" : "ghcr.io/signet-demo/app:1.0"
            let result = await responder.respond(
                to: ReviewBodies.make(kind: "Pod", images: [("web", image)], uid: "uid-\(index)"), deadline: .now + .seconds(30))
            #expect(result.status == 200)
            let response = try admissionResponse(String(decoding: result.body, as: UTF8.self))
            #expect(response["allowed"] as? Bool == !index.isMultiple(of: 2))
        }
        if kind == "blocking" {
            // The writer took at most one batch before the store hung; the queue held four more.
            #expect(recorder.statistics.written == 0)
            #expect(recorder.statistics.dropped >= reviews - 2 - configuration.capacity)
            blocking.release()
        }
        recorder.finish()
        await writer.value
        let statistics = recorder.statistics
        #expect(statistics.written + statistics.dropped == reviews)
        if kind == "failing" { #expect(statistics.written == 0) }
    }

    /// Pods of many containers (Kubernetes limits only the request's size), reviewed while the
    /// store hangs: the queue stops at its byte bound long before its entry bound, so a slow
    /// store and a stream of large objects cannot grow the server's memory by the entry bound
    /// times the largest decision.
    @Test func largeDecisionsQueuedForAStuckStoreStopAtTheByteBound() async throws {
        let policies = try LivePolicies.makeDirectory()
        let set = try PolicyLoader().load(directory: policies.path)
        let store = BlockingHistoryStore()
        var configuration = HistoryRecorderConfiguration()
        configuration.capacity = 1_000
        configuration.batchSize = 1
        configuration.maximumQueuedBytes = 1 << 20
        let recorder = HistoryRecorder(store: store, storeName: "test", configuration: configuration)
        let writer = Task { await recorder.run() }
        var responder = AdmissionResponder(evaluator: PolicyEvaluator(policies: set))
        responder.auditSink = HistoryAuditSink(recorder: recorder, next: nil)

        let reviews = 40
        let containers = 500
        for index in 0..<reviews {
            let images = (0..<containers).map { ("c\($0)", "ghcr.io/signet-demo/app-\($0):\(index)") }
            let result = await responder.respond(
                to: ReviewBodies.make(kind: "Pod", images: images, uid: "uid-\(index)"), deadline: .now + .seconds(30))
            #expect(result.status == 200)
            if index == 0 {
                // The writer takes the first entry and hangs in the store (bounded wait: a hang fails).
                let deadline = TestBudget.deadline(60)
                while store.startedWrites == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                try #require(store.startedWrites == 1)
            }
        }
        // One entry is with the hung store; the queue holds what fits in 1 MiB (each entry's
        // estimate counts at least 256 bytes per image).
        #expect(recorder.queuedBytes <= configuration.maximumQueuedBytes)
        #expect(recorder.queued >= 1 && recorder.queued * containers * 256 <= configuration.maximumQueuedBytes,
                "queued \(recorder.queued), \(recorder.queuedBytes) bytes")
        #expect(recorder.statistics.dropped == reviews - 1 - recorder.queued)
        store.release()
        recorder.finish()
        await writer.value
        #expect(recorder.queuedBytes == 0)
        #expect(recorder.statistics.written + recorder.statistics.dropped == reviews)
    }
}
