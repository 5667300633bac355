import Foundation
import Logging
import NIOConcurrencyHelpers
import SignetTestSupport
import Synchronization
import Testing

import SignetHTTP

/// The server's two ways of answering (`HTTPRequestHandler.begin`): at once on the event loop,
/// or after work that suspends; checked over TLS with Python's `ssl` as the client.
struct HTTPServerHandlingTests {
    /// `/now` is answered by `begin`; `/later` waits a little first. `handle` is never needed.
    final class MixedHandler: HTTPRequestHandler {
        let handleCalls = Atomic<Int>(0)

        func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse {
            handleCalls.wrappingAdd(1, ordering: .relaxed)
            return .text(500, "handle was called\n")
        }

        func begin(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling {
            let body = String(decoding: request.body, as: UTF8.self)
            switch request.path {
            case "/now":
                return .answered(.text(200, "now \(body)\n"))
            case "/later":
                return .waiting {
                    try? await Task.sleep(for: .milliseconds(20))
                    return .text(200, "later \(body)\n")
                }
            default:
                return .answered(.text(404, "no\n"))
            }
        }
    }

    /// Sends the requests pipelined on one connection and prints each response body in order.
    static let client = #"""
        import socket, ssl, sys
        port, ca = int(sys.argv[1]), sys.argv[2]
        context = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock = context.wrap_socket(raw, server_hostname="localhost")
        paths = sys.argv[3:]
        requests = b""
        for index, path in enumerate(paths):
            body = str(index).encode()
            requests += b"POST " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        sock.sendall(requests)
        stream = sock.makefile("rb")
        for _ in paths:
            status = stream.readline().split()[1].decode()
            length = 0
            while True:
                line = stream.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            print(status, stream.read(length).decode().strip())
        """#

    /// A server over `pki`'s serving certificate, not started.
    static func server(_ pki: TestPKI, _ handler: some HTTPRequestHandler, _ configuration: HTTPServerConfiguration) throws -> HTTPServer {
        let certificates = try CertificateReloader(
            configuration: TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile),
            logger: Logger(label: "test"))
        return try HTTPServer(configuration: configuration, certificates: certificates, handler: handler, logger: Logger(label: "test"))
    }

    @Test(.timeLimit(.minutes(5)))
    func answersAtOnceAndAfterWaitingComeBackInRequestOrder() async throws {
        let pki = try TestPKI()
        let handler = MixedHandler()
        let server = try Self.server(pki, handler, HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopThreads: 2))
        let port = try server.start()
        let paths = ["/later", "/now", "/now", "/later", "/later", "/now"]
        let result = try await TestProcess.run("python3", ["-c", Self.client, "\(port)", pki.caFile] + paths)
        await server.shutdown(gracePeriod: .seconds(5))

        #expect(result.status == 0, "\(result.stderr)")
        let expected = paths.enumerated().map { "200 \($1.dropFirst()) \($0)" }
        #expect(result.stdout.split(separator: "\n").map(String.init) == expected)
        #expect(handler.handleCalls.load(ordering: .relaxed) == 0)
    }

    /// Waits for ever, noting when it is cancelled instead.
    final class HangingHandler: HTTPRequestHandler {
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)

        func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse { .text(500, "unused\n") }

        func begin(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling {
            .waiting {
                self.started.wrappingAdd(1, ordering: .relaxed)
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    self.cancelled.wrappingAdd(1, ordering: .relaxed)
                }
                return .text(200, "too late\n")
            }
        }
    }

    /// A client that sends a request and goes away has its request's work cancelled: an
    /// admission review abandoned at once went on until its deadline (verifying, holding its
    /// body), outside every connection and body limit, as often as a client could connect.
    @Test(.timeLimit(.minutes(5)))
    func aRequestWhoseClientWentAwayIsCancelled() async throws {
        let pki = try TestPKI()
        let handler = HangingHandler()
        let server = try Self.server(pki, handler, HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopThreads: 1))
        let port = try server.start()
        let client = #"""
            import socket, ssl, sys, time
            port, ca = int(sys.argv[1]), sys.argv[2]
            context = ssl.create_default_context(cafile=ca)
            for _ in range(3):
                sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
                sock.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
                time.sleep(0.2)
                sock.close()
            """#
        let result = try await TestProcess.run("python3", ["-c", client, "\(port)", pki.caFile])
        #expect(result.status == 0, "\(result.stderr)")
        let deadline = TestBudget.deadline(60)
        while handler.cancelled.load(ordering: .relaxed) < 3 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(handler.started.load(ordering: .relaxed) == 3)
        #expect(handler.cancelled.load(ordering: .relaxed) == 3, "the abandoned requests' work went on")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    /// Counts the loop's passes (the `beforeAnswersAreSent` hook runs once per pass) and notes,
    /// for each request it answers at once, the pass it was answered in.
    final class PassCountingHandler: HTTPRequestHandler {
        let passes = Atomic<Int>(0)
        let answeredInPass = NIOLockedValueBox<[Int]>([])

        func handle(_ request: HTTPRequest, context: HTTPRequestContext) async -> HTTPResponse { .text(500, "unused\n") }

        func begin(_ request: HTTPRequest, context: HTTPRequestContext) -> HTTPHandling {
            let pass = passes.load(ordering: .relaxed)
            answeredInPass.withLockedValue { $0.append(pass) }
            return .answered(.text(200, "now \(String(decoding: request.body, as: UTF8.self))\n"))
        }
    }

    /// A client that pipelines thousands of requests in one write has them answered 64 at most in
    /// one pass of its loop (`ServerConnection.requestsPerPass`), the rest in the passes after,
    /// so the loop's other connections, the API server's among them, have their turn between;
    /// every answer still comes, in order. Before, a 256 KiB read of `GET`s was answered in one pass.
    @Test(.timeLimit(.minutes(5)))
    func aPipelinedBurstIsAnsweredOverSeveralPassesOfTheLoop() async throws {
        let pki = try TestPKI()
        let handler = PassCountingHandler()
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopThreads: 1)
        configuration.beforeAnswersAreSent = { handler.passes.wrappingAdd(1, ordering: .relaxed) }
        let server = try Self.server(pki, handler, configuration)
        let port = try server.start()
        let count = 4_000
        let result = try await TestProcess.run("python3", ["-c", Self.client, "\(port)", pki.caFile] + Array(repeating: "/now", count: count))
        await server.shutdown(gracePeriod: .seconds(5))

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").map(String.init) == (0..<count).map { "200 now \($0)" })
        let passes = handler.answeredInPass.withLockedValue { $0 }
        let perPass = Dictionary(grouping: passes, by: { $0 }).mapValues(\.count)
        #expect(perPass.values.max() ?? 0 <= 64, "answered in one pass at most: \(perPass.values.max() ?? 0)")
        #expect(perPass.count >= (count + 63) / 64)
    }

    /// Once shut down and let go, the server is freed with its loops, handler and buffers: each
    /// loop held every loop (itself too) as a peer, so stopped servers stayed allocated until the
    /// process exited (LeakSanitizer's report at the suite's end).
    @Test(.timeLimit(.minutes(5)))
    func aStoppedServerIsFreed() async throws {
        let pki = try TestPKI()
        weak var released: MixedHandler?
        do {
            let certificates = try CertificateReloader(
                configuration: TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile),
                logger: Logger(label: "test"))
            let handler = MixedHandler()
            released = handler
            let server = try HTTPServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopThreads: 2),
                certificates: certificates, handler: handler, logger: Logger(label: "test"))
            let port = try server.start()
            let result = try await TestProcess.run("python3", ["-c", Self.client, "\(port)", pki.caFile, "/now", "/later"])
            #expect(result.stdout.split(separator: "\n").map(String.init) == ["200 now 0", "200 later 1"], "\(result.stderr)")
            await server.shutdown(gracePeriod: .seconds(5))
        }
        // The loop threads let go of their loops as they exit, just after the shutdown returns.
        for _ in 0..<3_000 where released != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(released == nil, "the handler of a stopped server is still allocated: something still holds the server's loops")
    }
}
