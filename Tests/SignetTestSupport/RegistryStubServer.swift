import Foundation

/// A scripted HTTP/1.1 server on 127.0.0.1 for registry behaviour a real registry will not show:
/// a manifest whose bytes do not match its digest, 503 with `Retry-After`, oversized bodies,
/// referrers answers with and without `OCI-Filters-Applied`, slow answers.
///
/// Routes map `METHOD /path?query` to a list of responses served in order (the last one repeats);
/// anything else is 404. A Python `http.server` the test writes out serves them.
public final class RegistryStubServer: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` (test code) touches.
    public struct Response: Sendable {
        /// The status code; 0 closes the connection without an answer.
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        /// Seconds to wait before answering.
        public var delay: Double
        /// With a value above 1: before answering, wait until this many requests to routes that
        /// gather have arrived (or 20 s have passed), so a client that sends them one at a time
        /// shows as ``RegistryStubServer/peakConcurrentRequests`` 1, and requests to other routes
        /// in flight at the same time do not count.
        public var gather: Int
        /// With a value above 0: the body goes out in pieces of 16 KiB this many seconds apart,
        /// as from a slow registry (or one that drips its answers on purpose).
        public var pieceInterval: Double

        public init(
            status: Int = 200, headers: [String: String] = [:], body: [UInt8] = [], delay: Double = 0, gather: Int = 0,
            pieceInterval: Double = 0
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
            self.gather = gather
            self.pieceInterval = pieceInterval
        }
    }

    public let port: Int
    private let directory: TemporaryDirectory
    private var process: TestProcess?

    /// `127.0.0.1:<port>`.
    public var host: String { "127.0.0.1:\(port)" }

    /// ``init(routes:tls:)`` from async code, waiting on a thread of its own.
    public static func start(routes: [String: [Response]], tls: (certificatePath: String, keyPath: String)? = nil) async throws -> RegistryStubServer {
        try await offThePool { try RegistryStubServer(routes: routes, tls: tls) }
    }

    /// Starts the server with `routes` (`"GET /v2/demo/app/manifests/v1"` → responses), over TLS
    /// with `tls`'s certificate and key when given.
    public init(routes: [String: [Response]], tls: (certificatePath: String, keyPath: String)? = nil) throws {
        directory = TemporaryDirectory(prefix: "signet-stub")
        port = FreePort.make()
        var table: [String: [[String: Any]]] = [:]
        for (route, responses) in routes {
            table[route] = responses.map {
                [
                    "status": $0.status, "headers": $0.headers, "body": Data($0.body).base64EncodedString(), "delay": $0.delay,
                    "gather": $0.gather, "piece_interval": $0.pieceInterval,
                ]
            }
        }
        let routesFile = directory.file("routes.json")
        try JSONSerialization.data(withJSONObject: table).write(to: routesFile)
        let script = try directory.write("stub.py", Self.script)
        process = try TestProcess("python3", [script.path, String(port), routesFile.path] + (tls.map { [$0.certificatePath, $0.keyPath] } ?? []))
        guard FreePort.waitUntilListening(port) else {
            let logs = process?.stderr ?? ""
            stop()
            throw TestProcessError(message: "stub server did not start: \(logs)")
        }
    }

    /// The requests served so far, as `METHOD /path?query` lines.
    public var requests: [String] {
        (process?.stdout ?? "").split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
    }

    /// The sizes of the request bodies received so far, in order (requests without one left out).
    public var bodySizes: [Int] {
        (process?.stdout ?? "").split(separator: "\n").compactMap { line in
            line.hasPrefix("# body ") ? Int(line.dropFirst("# body ".count)) : nil
        }
    }

    /// The most requests the server was answering at one time so far.
    public var peakConcurrentRequests: Int {
        (process?.stdout ?? "").split(separator: "\n").compactMap { line in
            line.hasPrefix("# in flight ") ? Int(line.dropFirst("# in flight ".count)) : nil
        }.max() ?? 0
    }

    public func stop() {
        process?.terminate()
        process = nil
    }

    deinit { stop() }

    static let script = #"""
        import base64, json, ssl, sys, time, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, routes_path = sys.argv[1:3]
        tls = sys.argv[3:5]
        with open(routes_path) as f:
            routes = json.load(f)
        served = {}
        lock = threading.Lock()
        changed = threading.Condition(lock)
        in_flight = [0]
        gathered = [0]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, method):
                key = method + " " + self.path
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with lock:
                    print(key, flush=True)
                    if length:
                        print("# body %d" % length, flush=True)
                    responses = routes.get(key)
                    index = served.get(key, 0)
                    served[key] = index + 1
                    in_flight[0] += 1
                    print("# in flight %d" % in_flight[0], flush=True)
                    changed.notify_all()
                try:
                    self.respond(method, responses, index)
                finally:
                    with lock:
                        in_flight[0] -= 1

            def respond(self, method, responses, index):
                if not responses:
                    response = {"status": 404, "headers": {}, "body": "", "delay": 0}
                else:
                    response = responses[min(index, len(responses) - 1)]
                if response.get("gather", 0) > 1:
                    with lock:
                        gathered[0] += 1
                        changed.notify_all()
                        changed.wait_for(lambda: gathered[0] >= response["gather"], timeout=20)
                if response["delay"]:
                    time.sleep(response["delay"])
                if response["status"] == 0:
                    # Drop the connection without answering, like a reset peer.
                    self.close_connection = True
                    return
                body = base64.b64decode(response["body"])
                self.send_response(response["status"])
                for name, value in response["headers"].items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method == "HEAD":
                    return
                interval = response.get("piece_interval", 0)
                if interval > 0:
                    for start in range(0, len(body), 16384):
                        self.wfile.write(body[start:start + 16384])
                        self.wfile.flush()
                        time.sleep(interval)
                else:
                    self.wfile.write(body)

            def do_GET(self):
                self.answer("GET")

            def do_HEAD(self):
                self.answer("HEAD")

            def do_PUT(self):
                self.answer("PUT")

            def do_POST(self):
                self.answer("POST")

            def log_message(self, format, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls[0], tls[1])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.serve_forever()
        """#
}
