import Foundation
import Logging
import SignetTestSupport
import Testing

import SignetHTTP

/// The server's own threads carry names the operating system shows (`ps -L`, `top -H`, perf,
/// gdb): without them every thread shows the name of the thread that created it.
struct ThreadNameTests {
    /// The names of this process's threads, as /proc shows them.
    static func threadNames() -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Set(tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        })
    }

    @Test(.timeLimit(.minutes(2)))
    func eventLoopsAndTheCertificateWatcherAreNamed() async throws {
        let pki = try TestPKI()
        let certificates = try CertificateReloader(
            configuration: TLSServerConfiguration(certificateChainFile: pki.serverCertFile, privateKeyFile: pki.serverKeyFile),
            logger: Logger(label: "test"))
        let server = try HTTPServer(
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, eventLoopThreads: 2),
            certificates: certificates, handler: HTTPServerHandlingTests.MixedHandler(), logger: Logger(label: "test"))
        _ = try server.start()
        let expected: Set = ["signet-loop-0", "signet-loop-1", "signet-certs"]
        // The threads name themselves as they start: wait for them, a bounded number of times.
        var names = Self.threadNames()
        for _ in 0..<500 where !expected.isSubset(of: names) {
            try await Task.sleep(for: .milliseconds(10))
            names = Self.threadNames()
        }
        await server.shutdown(gracePeriod: .seconds(5))
        #expect(expected.isSubset(of: names), "thread names: \(names.sorted())")
    }
}
