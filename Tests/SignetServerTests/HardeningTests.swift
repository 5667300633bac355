import Foundation
import SignetTestSupport
import Testing

/// The denial-of-service findings of the hardening review (issue 23), each replayed against the
/// real `signet serve` binary by a real client on 127.0.0.1. Every assertion is on behaviour
/// (memory, status codes, metrics, connections refused), never on timing.
@Suite(.serialized)
struct HardeningTests {
    let policies: TemporaryDirectory
    let scratch = TemporaryDirectory(prefix: "signet-hardening")

    init() throws {
        policies = try LivePolicies.makeDirectory()
    }

    func startServer(_ arguments: [String] = []) async throws -> SignetServerFixture {
        try await SignetServerFixture.start(policyDirectory: policies.path, arguments: arguments)
    }

    // MARK: - Finding 1: bounded output per connection

    /// A client that pipelines `GET /metrics` and never reads an answer: the server stops reading
    /// its requests once a bounded amount of output waits (its peak memory grows by a few MiB at
    /// most, where it used to grow by the size of every answer), and the write timeout drops it.
    ///
    /// Under AddressSanitizer (`make harden`'s sanitizer part sets `ASAN_OPTIONS` and runs the
    /// sanitized server), freed memory waits in a quarantine of up to 256 MiB before reuse, growth
    /// this test would count as the server's buffering; that server gets a 4 MiB quarantine, so the
    /// bound below holds under the sanitizer too (unbounded output still grows by hundreds of MiB).
    @Test func aClientThatNeverReadsItsAnswersDoesNotGrowMemory() async throws {
        var environment: [String: String] = [:]
        if let options = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] {
            environment["ASAN_OPTIONS"] = options + ":quarantine_size_mb=4"
        }
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--write-timeout", "3s"], environment: environment)
        let answerSize = try await server.metrics().utf8.count
        // Enough requests that answering them all would take about 256 MiB.
        let count = min(200_000, 256 * 1024 * 1024 / max(answerSize, 1))
        let result = try await LiveClient.run(
            "unread", server, ["--path", "/metrics", "--count", "\(count)", "--pid", "\(server.process.process.processIdentifier)", "--wait", "60"])
        let before = try #require(result["rss_before_kib"] as? Int)
        let peak = try #require(result["rss_peak_kib"] as? Int)
        #expect(peak - before < 48 * 1024, "peak memory grew by \((peak - before) / 1024) MiB; \(result)")
        #expect(result["dropped"] as? Bool == true, "\(result)")
        #expect(try await server.metricValue("signet_http_read_pauses_total") ?? 0 >= 1)
        #expect(try await server.metricValue(#"signet_http_timeouts_total{phase="write"}"#) ?? 0 >= 1)
        #expect(try await server.curl(["-sf", "\(server.baseURL)/healthz"]).stdout == "ok\n")
    }

    /// Many clients that each pipeline `GET /metrics` and never read: each stops being read at
    /// its own 1 MiB, and together they hold no more than `--max-unsent-output-bytes` (and a
    /// little each): a few dozen connections used to hold a megabyte each until the write
    /// timeout, past the pod's memory limit with the default connection limits.
    @Test func clientsThatNeverReadHoldNoMoreThanTheServersOutputBudget() async throws {
        var environment: [String: String] = [:]
        if let options = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] {
            environment["ASAN_OPTIONS"] = options + ":quarantine_size_mb=4"
        }
        let budget = 2 << 20
        let server = try await SignetServerFixture.start(
            policyDirectory: policies.path, arguments: ["--max-unsent-output-bytes", "\(budget)", "--write-timeout", "60s"],
            environment: environment)
        let answerSize = try await server.metrics().utf8.count
        let connections = 48
        // Each asks for about 4 MiB of answers.
        let result = try await LiveClient.run(
            "unread-many", server, [
                "--path", "/metrics", "--count", "\(connections)", "--repeat-header", "\(4 * 1024 * 1024 / max(answerSize, 1))",
                "--pid", "\(server.process.process.processIdentifier)",
            ])
        let samples = try #require(result["held_output_samples"] as? [Int], "\(result)")
        // The budget, and per connection past it at most what one pass holds before it counts
        // (64 KiB) and an answer (with its TLS records).
        let bound = budget + connections * (64 * 1024 + (answerSize + 4096) * 2)
        #expect(samples.allSatisfy { $0 <= bound }, "held \(samples) bytes; bound \(bound); \(result)")
        #expect(samples.max() ?? 0 > 0, "no output was held: the clients did not stall the server; \(result)")
        #expect(result["healthz"] as? Int == 200, "\(result)")
        let before = try #require(result["rss_before_kib"] as? Int)
        let peak = try #require(result["rss_peak_kib"] as? Int)
        #expect(peak - before < 32 * 1024, "peak memory grew by \((peak - before) / 1024) MiB; \(result)")
    }

    /// Bytes a client pipelines after a review wait in the connection while the review is
    /// verified; they count against the body budget with the review's body (they were held
    /// outside it, a quarter of a megabyte per connection for as long as the verification took).
    /// Sixteen connections each send a review held by a slow registry and 240 KiB of a next
    /// request in one write: the peer's 128 KiB share is spent and some are refused with 503;
    /// without counting them, all sixteen were held. The share is small enough that the bytes
    /// of the TLS record that ends each review (about 13 KiB after it) spend it: on a loaded
    /// machine the rest of a write may arrive after the review went to the handler, and stays
    /// in the socket, unread and uncounted, until the answer. The registry holds for longer than the
    /// reviews' 30 s deadline, so every review is still held while a loaded machine sends the
    /// rest (an 8 s hold once ended before the third connection's bytes arrived). It drips its
    /// answer, 16 KiB every 5 s: a registry silent for 10 s is given up on (curl's low-speed
    /// limit), which ended a silent hold after 10 s, before a loaded machine had sent the rest.
    @Test func bytesPipelinedBehindAHeldReviewCountAgainstTheBodyBudget() async throws {
        let digest = String(repeating: "ab", count: 32)
        let dripped = RegistryStubServer.Response(
            status: 200, headers: ["Content-Type": "application/vnd.oci.image.manifest.v1+json"],
            body: [UInt8](repeating: UInt8(ascii: " "), count: 16 * 16_384), pieceInterval: 5)
        let registry = try await RegistryStubServer.start(routes: [
            "GET /v2/team/app/manifests/sha256-\(digest).sig": [dripped],
        ])
        defer { registry.stop() }
        let directory = TemporaryDirectory(prefix: "signet-pipelined-policies")
        let key = TestPaths.vectors.appendingPathComponent("connaisseur/test/testdata/cosign/alice.key").path
        try directory.write("held.yaml", """
            apiVersion: signet.dev/v1alpha1
            kind: ClusterImagePolicy
            metadata:
              name: held-by-the-registry
            spec:
              images:
                - glob: "\(registry.host)/**"
              authorities:
                - name: release-key
                  key:
                    publicKeys:
                      - file: \(key)
            """)
        let server = try await SignetServerFixture.start(policyDirectory: directory.path, arguments: [
            "--allow-insecure-registry", registry.host, "--max-body-bytes", "\(64 << 10)",
            "--max-buffered-body-bytes", "\(2 << 20)", "--max-buffered-body-bytes-per-peer", "\(128 << 10)",
        ])
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "\(registry.host)/team/app@sha256:\(digest)")]), in: scratch)
        let result = try await LiveClient.run(
            "pipelined-padding", server, ["--count", "16", "--then-body-bytes", "\(240 << 10)", "--body-file", file, "--review-timeout", "30s"])
        let statuses = try #require(result["statuses"] as? [Any], "\(result)")
        #expect(statuses.contains { ($0 as? Int) == 503 }, "no connection was refused: \(result)")
        #expect(statuses.contains { $0 is NSNull }, "no review was held: \(result)")
        #expect(result["healthz"] as? Int == 200, "\(result)")
        #expect(try await server.metricValue("signet_http_body_budget_refusals_total") ?? 0 >= 1)
    }
}

extension HardeningTests {
    // MARK: - Finding 2: a budget for buffered bodies, client certificates checked at the head

    /// Connections that announce large bodies and send them slowly hold the server's body
    /// budget; the next body beyond it is refused at once with 503 and `Retry-After` (it used
    /// to be buffered whole), the held ones are left alone, and once they go the budget is back.
    @Test func bodiesBeyondTheServersBudgetAreRefusedWith503() async throws {
        let server = try await startServer([
            "--max-buffered-body-bytes", "\(4 << 20)", "--max-body-bytes", "\(2 << 20)", "--max-buffered-body-bytes-per-peer", "\(4 << 20)",
        ])
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await LiveClient.run(
            "body-budget", server, ["--count", "2", "--then-body-bytes", "\(2 << 20)", "--body-file", file])
        let refused = try #require(result["refused"] as? [String: Any])
        #expect(refused["status"] as? Int == 503, "\(result)")
        #expect((refused["headers"] as? [String: String])?["retry-after"] == "1", "\(result)")
        #expect(refused["closed"] as? Bool == true)
        #expect(result["held_answered"] as? [Bool] == [false, false], "\(result)")
        #expect(result["after_release_status"] as? Int == 200, "\(result)")
        #expect(try await server.metricValue("signet_http_body_budget_refusals_total") ?? 0 >= 1)
    }

    /// One address holding many unfinished bodies gets only its share of the budget: of six 2 MiB
    /// bodies it announces, two are held and the rest refused with 503, and another address's
    /// reviews are answered 200 all the while (they used to get 503 once the one address had
    /// filled the whole budget).
    @Test func oneAddressHoldsOnlyItsShareOfTheBodyBudget() async throws {
        let server = try await startServer([
            "--max-buffered-body-bytes", "\(8 << 20)", "--max-body-bytes", "\(2 << 20)", "--max-buffered-body-bytes-per-peer", "\(4 << 20)",
        ])
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await LiveClient.run("body-share", server, [
            "--sources", "127.0.0.1", "--count", "6", "--then-body-bytes", "\(2 << 20)", "--body-file", file,
            "--other-source", "127.0.0.2", "--healthy", "5",
        ])
        let attacker = try #require((result["sources"] as? [String: Any])?["127.0.0.1"] as? [String: Any], "\(result)")
        #expect(attacker["held"] as? Int == 2, "\(result)")
        #expect(attacker["refused"] as? [Int] == [503, 503, 503, 503], "\(result)")
        #expect(result["other_peer_statuses"] as? [Int] == [200, 200, 200, 200, 200], "\(result)")
        #expect(try await server.metricValue("signet_http_body_budget_refusals_total") ?? 0 >= 4)
    }

    /// With the API server's addresses reserved, the last `--reserved-body-bytes` of the budget
    /// are theirs: two other addresses holding all they may leave the reserved address room for
    /// its reviews (without the reserved room they filled the budget and it got 503).
    @Test func reservedPeersKeepTheirRoomInTheBodyBudget() async throws {
        let server = try await startServer([
            "--max-buffered-body-bytes", "\(8 << 20)", "--max-body-bytes", "\(2 << 20)", "--max-buffered-body-bytes-per-peer", "\(4 << 20)",
            "--reserved-peers", "127.0.0.2/32", "--reserved-body-bytes", "\(2 << 20)",
        ])
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        let result = try await LiveClient.run("body-share", server, [
            "--sources", "127.0.0.1,127.0.0.3", "--count", "3", "--then-body-bytes", "\(2 << 20)", "--body-file", file,
            "--other-source", "127.0.0.2", "--healthy", "5",
        ])
        let sources = try #require(result["sources"] as? [String: [String: Any]], "\(result)")
        #expect(sources["127.0.0.1"]?["held"] as? Int == 2, "\(result)")
        #expect(sources["127.0.0.3"]?["held"] as? Int == 1, "6 of 8 MiB are for others, 2 reserved: \(result)")
        #expect(result["other_peer_statuses"] as? [Int] == [200, 200, 200, 200, 200], "\(result)")
    }

    /// With a client CA, a review from a client without a certificate is refused from its head:
    /// 403 and close while the client has sent no byte of its announced 8 MiB body, and before
    /// `100 Continue` for a client that waits for it.
    @Test func reviewsWithoutAClientCertificateAreRefusedBeforeTheirBody() async throws {
        let apiServerPKI = try TestPKI()
        let server = try await startServer(["--client-ca", apiServerPKI.clientCAFile])
        for expect in ["", "Expect: 100-continue\\r\\n"] {
            let result = try await LiveClient.run("raw", server, [
                "--send",
                "POST /validate HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\n\(expect)Content-Length: 8388608\\r\\n\\r\\n",
            ])
            #expect(result["status"] as? Int == 403, "\(expect): \(result)")
            #expect(result["closed"] as? Bool == true, "\(expect)")
        }
        #expect(try await server.metricValue("signet_http_requests_refused_at_head_total") ?? 0 >= 2)
    }

    /// A body announced to an endpoint that reads none (health, metrics, an unknown path, a
    /// review endpoint by another method) is refused from its head with 413 and close, while the
    /// client has sent no byte of it: such heads used to hold 8 MiB of the body budget each until
    /// the body timeout, so a few clients without a certificate could make the API server's
    /// reviews 503 even with a client CA configured.
    @Test func bodiesForEndpointsThatReadNoneAreRefusedFromTheirHead() async throws {
        let apiServerPKI = try TestPKI()
        let server = try await startServer([
            "--client-ca", apiServerPKI.clientCAFile, "--max-buffered-body-bytes", "\(8 << 20)", "--max-buffered-body-bytes-per-peer", "\(8 << 20)",
        ])
        for (method, path, framing) in [
            ("POST", "/healthz", "Content-Length: 8388608"), ("POST", "/metrics", "Content-Length: 8388608"),
            ("PUT", "/nothing-here", "Content-Length: 8388608"), ("GET", "/validate", "Content-Length: 8388608"),
            ("POST", "/readyz", "Transfer-Encoding: chunked"),
        ] {
            let result = try await LiveClient.run("raw", server, [
                "--send", "\(method) \(path) HTTP/1.1\\r\\nHost: localhost\\r\\n\(framing)\\r\\n\\r\\n",
            ])
            #expect(result["status"] as? Int == 413, "\(method) \(path): \(result)")
            #expect(result["closed"] as? Bool == true, "\(method) \(path)")
        }
        #expect(try await server.metricValue("signet_http_requests_refused_at_head_total") ?? 0 >= 5)
        #expect(try await server.metricValue("signet_http_body_budget_refusals_total") ?? 0 == 0)
        // Requests without a body are answered as before.
        #expect(try await server.curl(["-sf", "\(server.baseURL)/healthz"]).stdout == "ok\n")
    }
}

extension HardeningTests {
    // MARK: - Finding 3: bounded label values

    /// Reviews of made-up kinds are counted under `kind="other"`: 300 of them with 1 KB kinds
    /// leave `/metrics` about the size it was (they used to add a series each, 300 KB).
    @Test func madeUpKindsAreCountedAsOther() async throws {
        let server = try await startServer()
        let file = try ReviewBodies.write(ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")]), in: scratch)
        _ = try await server.review(file)
        let before = try await server.metrics()
        let result = try await LiveClient.run("forged-kinds", server, ["--count", "300", "--body-file", file])
        #expect(result["count"] as? Int == 300)
        #expect(result["statuses"] as? [Int] == [200], "\(result)")
        let after = try await server.metrics()
        #expect(!after.contains("Forged"))
        #expect(after.contains(#"kind="other""#))
        #expect(after.utf8.count < before.utf8.count + 16 * 1024, "\(before.utf8.count) → \(after.utf8.count) bytes")
    }
}

extension HardeningTests {
    // MARK: - Finding 4: an allow-list of client names, the caller in every audit record

    /// With `--client-allowed-names`, a certificate from the client CA passes only when it names
    /// an allowed client (subject CN or a SAN); another one is refused from the request head.
    /// Every audit record names the peer address and the client certificate's subject.
    @Test func onlyAllowedClientNamesMayPostReviewsAndTheAuditRecordNamesTheCaller() async throws {
        let apiServerPKI = try TestPKI()
        let apiServer = try apiServerPKI.issueClientCertificate(commonName: "kube-apiserver", named: "apiserver")
        let intruder = try apiServerPKI.issueClientCertificate(commonName: "some-pod", named: "intruder")
        let server = try await startServer([
            "--client-ca", apiServerPKI.clientCAFile, "--client-allowed-names", "kube-apiserver,apiserver.example",
        ])
        let uid = "7b6c1a2e-4444-4c3d-8e9f-00000000aa01"
        let file = try ReviewBodies.write(
            ReviewBodies.make(kind: "Pod", images: [("web", "ghcr.io/signet-demo/web:1.0")], uid: uid), in: scratch)
        func post(_ certificate: TestPKI.IssuedCertificate) async throws -> String {
            try await server.curl([
                "--cert", certificate.certificateFile, "--key", certificate.privateKeyFile, "-sS", "-o", "/dev/null",
                "-w", "%{http_code}", "-H", "Content-Type: application/json", "--data-binary", "@\(file)",
                "\(server.baseURL)/validate?timeout=10s",
            ]).stdout
        }
        #expect(try await post(apiServer) == "200")
        #expect(try await post(intruder) == "403")
        #expect(server.stop() == 0)
        let records = server.process.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["event"] as? String == "admission" }
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record["uid"] as? String == uid)
        #expect((record["peer"] as? String)?.hasPrefix("127.0.0.1:") == true, "\(record)")
        #expect(record["clientCertificate"] as? String == "CN=kube-apiserver", "\(record)")
    }
}

extension HardeningTests {
    // MARK: - Finding 5: one client cannot take every connection

    /// One address holding its share of connections gets no more, while another address is
    /// still served; once it lets go it is served again.
    @Test func oneAddressCannotHoldMoreThanItsShareOfConnections() async throws {
        let server = try await startServer(["--max-connections-per-peer", "3"])
        let result = try await LiveClient.run("peers", server, ["--count", "3"])
        #expect(result["same_peer_served"] as? Bool == false, "\(result)")
        #expect(result["other_peer_served"] as? Bool == true, "\(result)")
        #expect(result["after_release_served"] as? Bool == true, "\(result)")
        #expect(try await server.metricValue(#"signet_http_connections_rejected_total{reason="peer_limit"}"#) ?? 0 >= 1)
    }

    /// With the API server's addresses reserved, other clients cannot take the last
    /// `--reserved-connections` slots: a client filling the rest is refused more, and the
    /// reserved address still gets in.
    @Test func reservedPeersKeepTheirRoomWhenOthersFillTheServer() async throws {
        let server = try await startServer([
            "--max-connections", "6", "--max-connections-per-peer", "100",
            "--reserved-peers", "127.0.0.2/32", "--reserved-connections", "3",
        ])
        let result = try await LiveClient.run("peers", server, ["--count", "3", "--other-source", "127.0.0.2"])
        #expect(result["same_peer_served"] as? Bool == false, "\(result)")
        #expect(result["other_peer_served"] as? Bool == true, "the reserved address is served: \(result)")
        #expect(result["after_release_served"] as? Bool == true, "\(result)")
        #expect(try await server.metricValue(#"signet_http_connections_rejected_total{reason="reserved_room"}"#) ?? 0 >= 1)
    }

    /// The same over a plain range, with the reserved peer's own connections unlimited.
    @Test func reservedPeersHaveNoPerPeerLimit() async throws {
        let server = try await startServer(["--max-connections-per-peer", "2", "--reserved-peers", "127.0.0.0/8", "--reserved-connections", "0"])
        let result = try await LiveClient.run("peers", server, ["--count", "4"])
        #expect(result["same_peer_served"] as? Bool == true, "\(result)")
    }
}

extension HardeningTests {
    // MARK: - The second review: reviews read whole, the open-file limit

    /// A process's `VmHWM` (peak resident memory) in KiB.
    static func peakResidentKiB(_ pid: pid_t) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    /// A Namespace review (read whole, for its labels) of 7 MB of tiny objects is refused unread:
    /// it had grown the server to 3 GB. The peak stays within a few times the body.
    @Test func aNamespaceReviewOfMillionsOfObjectsIsRefusedUnread() async throws {
        let server = try await startServer()
        let filler = "[" + Array(repeating: #"{"":0}"#, count: 1_000_000).joined(separator: ",") + "]"
        let review = #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"ns-1","kind":{"group":"","version":"v1","kind":"Namespace"},"resource":{"group":"","version":"v1","resource":"namespaces"},"name":"sandbox","operation":"CREATE","userInfo":{"username":"tenant"},"object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"sandbox"},"filler":\#(filler)}}}"#
        let file = scratch.file("namespace-review.json")
        try Data(review.utf8).write(to: file)
        let pid = server.process.process.processIdentifier
        let before = try Self.peakResidentKiB(pid)
        let answer = try await offThePool { try server.review(file.path) }
        #expect(answer.httpStatus == 200)
        #expect(answer.body.contains(#""allowed":false"#) && answer.body.contains("refused unread"), "\(answer.body.prefix(400))")
        let growth = try Self.peakResidentKiB(pid) - before
        #expect(growth < 128 * 1024, "peak memory grew by \(growth / 1024) MiB")
    }

    /// signet raises its soft open-file limit to the hard one, and says so when even that is
    /// below what its connection limits allow (accepts would pause for everyone at the limit).
    @Test func theOpenFileLimitIsRaisedAndALowOneIsReported() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else {
            Issue.record("prlimit (util-linux) is missing")
            return
        }
        let raised = try await SignetServerFixture.start(policyDirectory: policies.path, launcher: ["/usr/bin/prlimit", "--nofile=300:8192"])
        let limits = try String(contentsOfFile: "/proc/\(raised.process.process.processIdentifier)/limits", encoding: .utf8)
        let openFiles = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        #expect(openFiles.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).prefix(2) == ["8192", "8192"], "\(openFiles)")
        #expect(!raised.process.stderr.contains("open-file limit"))

        let low = try await SignetServerFixture.start(policyDirectory: policies.path, launcher: ["/usr/bin/prlimit", "--nofile=300:300"])
        #expect(low.process.stderr.contains("the open-file limit is below what the connection limits allow"), "\(low.process.stderr.suffix(2000))")
        #expect(low.process.stderr.contains(#""open_file_limit":"300""#), "\(low.process.stderr.suffix(2000))")
    }
}
