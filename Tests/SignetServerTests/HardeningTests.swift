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
    @Test func aClientThatNeverReadsItsAnswersDoesNotGrowMemory() async throws {
        let server = try await startServer(["--write-timeout", "3s"])
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
}
