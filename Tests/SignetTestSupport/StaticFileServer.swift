import Foundation

/// Python's `http.server` serving a directory on 127.0.0.1, in a child process: a TUF
/// repository or CRL distribution point the client under test fetches from. Files can change
/// between fetches.
public final class StaticFileServer: @unchecked Sendable {
    // Immutable after init; the child process is thread-safe.
    public let port: Int
    public let root: URL
    private let process: TestProcess

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public static func start(serving root: URL) async throws -> StaticFileServer {
        try await offThePool { try StaticFileServer(root: root) }
    }

    private init(root: URL) throws {
        self.root = root
        port = FreePort.make()
        process = try TestProcess("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", root.path])
        guard FreePort.waitUntilListening(port) else {
            process.terminate()
            throw TestProcessError(message: "http.server did not start: \(process.stderr)")
        }
    }

    /// The request paths served so far, in order (from the server's log).
    public var requestedPaths: [String] {
        process.stderr.split(separator: "\n").compactMap { line in
            guard let start = line.range(of: "\"GET ") else { return nil }
            let rest = line[start.upperBound...]
            return rest.split(separator: " ").first.map(String.init)
        }
    }

    deinit { process.terminate() }
}
