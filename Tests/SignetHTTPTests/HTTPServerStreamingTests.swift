import Foundation
import Logging
import SignetTestSupport
import Synchronization
import Testing

import SignetHTTP

/// Streamed responses (what server-sent events ride on): the head at once, each chunk as the
/// handler's stream yields it, the last chunk and close when it ends; a client that goes away
/// ends the stream for its producer. Checked over TLS with curl (libcurl decodes the chunks).
struct HTTPServerStreamingTests {
    /// `/stream` yields `one`, `two`, `three` a little apart and ends; `/forever` yields a tick
    /// every 20 ms until its consumer goes away, which ``ended`` records.
    final class StreamingHandler: HTTPRequestHandler {
        final class Flag: Sendable {
            let value = Atomic<Bool>(false)
            var isSet: Bool { value.load(ordering: .relaxed) }
        }
        let ended = Flag()

        func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse {
            let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
            let headers = HTTPHeaders([("Content-Type", "text/event-stream")])
            if request.path == "/stream" {
                Task {
                    for word in ["one\n", "two\n", "three\n"] {
                        continuation.yield(Array(word.utf8))
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    continuation.finish()
                }
                return .streamed(200, headers: headers, chunks: stream)
            }
            let ended = ended
            let ticker = Task {
                while !Task.isCancelled {
                    continuation.yield(Array("tick\n".utf8))
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            continuation.onTermination = { _ in
                ticker.cancel()
                ended.value.store(true, ordering: .relaxed)
            }
            return .streamed(200, headers: headers, chunks: stream)
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func chunksArriveInOrderAndAClientThatLeavesEndsTheStream() async throws {
        let pki = try TestPKI()
        let certificates = try CertificateReloader(
            configuration: TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile),
            logger: Logger(label: "test"))
        let handler = StreamingHandler()
        let server = try HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopThreads: 1),
            certificates: certificates, handler: handler, logger: Logger(label: "test"))
        let port = try server.start()

        let whole = try await TestProcess.run("curl", ["-sS", "-N", "-i", "--cacert", pki.caFile, "--max-time", "120", "https://localhost:\(port)/stream"])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stdout.contains("Transfer-Encoding: chunked"), "\(whole.stdout)")
        #expect(whole.stdout.hasSuffix("one\ntwo\nthree\n"), "\(whole.stdout)")
        // An HTTP/1.0 client cannot read chunks (RFC 9112 §6.1): its body ends at the close.
        let old = try await TestProcess.run("curl", ["-sS", "-N", "-i", "--http1.0", "--no-alpn", "--cacert", pki.caFile, "--max-time", "120", "https://localhost:\(port)/stream"])
        #expect(old.status == 0, "\(old.stderr)")
        #expect(!old.stdout.contains("Transfer-Encoding") && !old.stdout.contains("Content-Length"), "\(old.stdout)")
        #expect(old.stdout.hasSuffix("\r\n\r\none\ntwo\nthree\n"), "\(old.stdout)")

        // The client leaves after its first chunk (head closes the pipe, curl's next write fails
        // and it hangs up), however long the handshake took; the server notices and the
        // producer's stream ends. curl's --max-time only catches a hang.
        let cut = try await TestProcess.run("sh", ["-c", "curl -sS -N --cacert '\(pki.caFile)' --max-time 120 https://localhost:\(port)/forever | head -c 5"])
        #expect(cut.stdout == "tick\n", "\(cut.stdout) \(cut.stderr)")
        for _ in 0..<200 where !handler.ended.isSet { try await Task.sleep(for: .milliseconds(25)) }
        let ended = handler.ended.isSet
        #expect(ended, "the stream of a client that left is ended")
        await server.shutdown(gracePeriod: .seconds(5))
    }
}
