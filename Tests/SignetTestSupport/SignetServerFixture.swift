import Foundation

/// A real `signet serve` process on 127.0.0.1 for end-to-end tests: its own test PKI, a free
/// port, the policy directory and extra flags the test gives. Stopped (SIGTERM) when released.
public final class SignetServerFixture: @unchecked Sendable {
    // Immutable after init; the process is only signalled.
    public let pki: TestPKI
    public let port: Int
    public let process: TestProcess
    /// The server certificate and key the server was started with (rewritten to test reloads).
    public let certificateDirectory: TemporaryDirectory

    /// ``init(policyDirectory:arguments:environment:)`` from async code, waiting on a thread of its own.
    public static func start(
        policyDirectory: String, arguments: [String] = [], environment: [String: String] = [:], launcher: [String] = []
    ) async throws -> SignetServerFixture {
        try await offThePool {
            try SignetServerFixture(policyDirectory: policyDirectory, arguments: arguments, environment: environment, launcher: launcher)
        }
    }

    /// Starts the server and waits until `/readyz` answers 200 (within the test budget).
    /// `launcher` is a command that execs the server (`prlimit --nofile=…`), so the process is
    /// still the server's.
    public init(policyDirectory: String, arguments: [String] = [], environment: [String: String] = [:], launcher: [String] = []) throws {
        pki = try TestPKI()
        certificateDirectory = TemporaryDirectory(prefix: "signet-serving")
        let certificate = certificateDirectory.file("tls.crt").path
        let key = certificateDirectory.file("tls.key").path
        try FileManager.default.copyItem(atPath: pki.serverCertFile, toPath: certificate)
        try FileManager.default.copyItem(atPath: pki.serverKeyFile, toPath: key)
        port = FreePort.make()
        let command = launcher + [TestPaths.signetBinary.path]
        process = try TestProcess(
            command[0],
            Array(command.dropFirst()) + [
                "serve", "--address", "127.0.0.1", "--port", "\(port)", "--tls-cert", certificate, "--tls-key", key,
                "--policy-dir", policyDirectory, "--log-format", "json", "--log-level", "debug",
            ] + arguments,
            environment: environment)
        try waitUntilReady()
    }

    public var certificateFile: String { certificateDirectory.file("tls.crt").path }
    public var keyFile: String { certificateDirectory.file("tls.key").path }
    public var baseURL: String { "https://127.0.0.1:\(port)" }

    private func waitUntilReady() throws {
        let deadline = ContinuousClock.now + TestBudget.seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw TestProcessError(message: "signet serve exited with \(process.process.terminationStatus): \(process.stderr)")
            }
            if let result = try? curl(["-sf", "-o", "/dev/null", "-w", "%{http_code}", "\(baseURL)/readyz"]),
                result.stdout == "200"
            {
                return
            }
            usleep(50_000)
        }
        throw TestProcessError(message: "signet serve was not ready within 30 s: \(process.stderr)")
    }

    /// Runs the `curl` command line (libcurl) against the server, trusting the test CA.
    public func curl(_ arguments: [String], timeout: Duration = TestBudget.seconds(120)) throws -> (status: Int32, stdout: String, stderr: String) {
        try TestProcess.run("curl", ["--cacert", pki.caFile, "--max-time", "\(60 * TestBudget.scale)"] + arguments, timeout: timeout)
    }

    /// POSTs an AdmissionReview file to `/validate?timeout=30s` (the longest the API server
    /// allows) and returns the HTTP status and body.
    public func review(_ file: String) throws -> (httpStatus: Int, body: String) {
        let result = try curl([
            "-sS", "-H", "Content-Type: application/json", "--data-binary", "@\(file)",
            "-w", "\n%{http_code}", "\(baseURL)/validate?timeout=30s",
        ])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        return (status, lines.dropLast().joined(separator: "\n"))
    }

    /// The server's `/metrics` text.
    public func metrics() throws -> String {
        try curl(["-sS", "\(baseURL)/metrics"]).stdout
    }

    /// The value of one Prometheus sample (`name{labels}` exactly as exposed), or nil.
    public func metricValue(_ sample: String) throws -> Double? {
        for line in try metrics().split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1))
        }
        return nil
    }

    /// ``curl(_:timeout:)`` from async code, waiting on a thread of its own.
    public func curl(_ arguments: [String], timeout: Duration = TestBudget.seconds(120)) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offThePool { try self.curl(arguments, timeout: timeout) }
    }

    /// ``review(_:)`` from async code.
    public func review(_ file: String) async throws -> (httpStatus: Int, body: String) {
        try await offThePool { try self.review(file) }
    }

    /// ``metrics()`` from async code.
    public func metrics() async throws -> String {
        try await offThePool { try self.metrics() }
    }

    /// ``metricValue(_:)`` from async code.
    public func metricValue(_ sample: String) async throws -> Double? {
        try await offThePool { try self.metricValue(sample) }
    }

    /// SIGTERM and wait (at most 30 s); returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        process.signal(SIGTERM)
        process.waitForExit(timeout: .seconds(30))
        return process.isRunning ? -1 : process.process.terminationStatus
    }

    deinit { process.terminate() }
}

/// The decision in an AdmissionReview response body (`admission.k8s.io/v1`): `response.allowed`
/// and `response.status.message`.
public struct AdmissionAnswer: Sendable {
    public var allowed: Bool
    /// The deny message (empty when there is none).
    public var message: String

    private struct Document: Decodable {
        struct Response: Decodable {
            struct Status: Decodable { var message: String? }
            var allowed: Bool
            var status: Status?
        }
        var response: Response
    }

    public init(decoding body: String) throws {
        let response = try JSONDecoder().decode(Document.self, from: Data(body.utf8)).response
        allowed = response.allowed
        message = response.status?.message ?? ""
    }
}
