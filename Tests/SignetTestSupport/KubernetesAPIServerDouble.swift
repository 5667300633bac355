import Foundation

/// A test double of the Kubernetes API server for the list/watch client. It is a faithful
/// double, not a real API server, because no API server (or etcd) can run here; it speaks the
/// wire protocol the client depends on, as the Kubernetes API concepts describe it
/// ("Efficient detection of changes", "Resource versions"):
///
/// - HTTPS on 127.0.0.1 with a ``TestPKI`` certificate; every request needs
///   `Authorization: Bearer <token>` (401 otherwise);
/// - `GET <collection>`: a JSON list with `metadata.resourceVersion` (items of core resources
///   without `apiVersion`/`kind`, as the real server sends them);
/// - `GET <collection>?watch=1&resourceVersion=N&allowWatchBookmarks=true&timeoutSeconds=T`:
///   HTTP/1.1 chunked transfer coding, one JSON event per line (`ADDED`, `MODIFIED`, `DELETED`,
///   `BOOKMARK`, `ERROR`), replaying history after N, then live events; a resourceVersion older
///   than the compacted history gets an `ERROR` event with a 410 `Status` (or, when asked, an
///   HTTP 410 answer);
/// - `POST <collection>` in a namespace (events): stored, `generateName` completed, 201;
/// - `GET <object>`, `PATCH <object>/status` (JSON merge patch, bumps the resourceVersion and
///   emits `MODIFIED`; 403 when status writes are forbidden);
/// - control endpoints under `/_control/` the test drives: apply, delete, bookmark, drop every
///   open watch without a final chunk (a broken connection), end every open watch cleanly (the
///   server's `timeoutSeconds`), hold new watches (503), compact history, forbid status writes,
///   and the request log.
public final class KubernetesAPIServerDouble: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` (test code) touches.
    public let port: Int
    public let token: String
    public let pki: TestPKI
    private let directory: TemporaryDirectory
    private var process: TestProcess?

    /// `https://127.0.0.1:<port>`.
    public var url: String { "https://127.0.0.1:\(port)" }

    /// ``init(token:)`` from async code, waiting on a thread of its own.
    public static func start(token: String = "test-token") async throws -> KubernetesAPIServerDouble {
        try await offThePool { try KubernetesAPIServerDouble(token: token) }
    }

    public init(token: String = "test-token") throws {
        self.token = token
        pki = try TestPKI()
        directory = TemporaryDirectory(prefix: "signet-apiserver")
        port = FreePort.make()
        let script = try directory.write("apiserver.py", Self.script)
        try directory.write("token", token)
        process = try TestProcess("python3", [script.path, String(port), pki.serverCertFile, pki.serverKeyFile, token])
        guard FreePort.waitUntilListening(port) else {
            let logs = process?.stderr ?? ""
            stop()
            throw TestProcessError(message: "API server double did not start: \(logs)")
        }
    }

    /// A file holding the bearer token, as a service-account token file.
    public var tokenFile: String { directory.file("token").path }

    deinit { stop() }

    public func stop() {
        process?.terminate()
        process = nil
    }

    /// Creates or replaces an object (`ADDED` or `MODIFIED`); returns its new resourceVersion.
    @discardableResult
    public func apply(_ collection: String, _ object: [String: Any]) throws -> String {
        let answer = try control("apply", ["collection": collection, "object": object])
        return answer["resourceVersion"] as? String ?? ""
    }

    /// Deletes `namespace/name` or `name` (`DELETED`).
    public func delete(_ collection: String, key: String) throws {
        _ = try control("delete", ["collection": collection, "key": key])
    }

    /// Sends a `BOOKMARK` at the current resourceVersion on every open watch of `collection`.
    public func bookmark(_ collection: String) throws {
        _ = try control("bookmark", ["collection": collection])
    }

    /// Closes every open watch connection without the final chunk.
    public func dropWatches() throws { _ = try control("drop", [:]) }

    /// Ends every open watch cleanly, as the server does at `timeoutSeconds`.
    public func endWatches() throws { _ = try control("end", [:]) }

    /// Forgets history up to now: watches from an older resourceVersion get 410 Gone
    /// (as an `ERROR` event, or as the HTTP status when `asHTTPStatus`).
    public func compact(asHTTPStatus: Bool = false) throws { _ = try control("compact", ["http": asHTTPStatus]) }

    /// While `on`, new watches are answered 503 (the client backs off and retries).
    public func holdWatches(_ on: Bool) throws { _ = try control("hold", ["on": on]) }

    /// While `on`, lists are answered 503.
    public func holdLists(_ on: Bool) throws { _ = try control("hold-lists", ["on": on]) }

    /// Makes `PATCH …/status` answer 403.
    public func forbidStatusWrites() throws { _ = try control("forbid-status", [:]) }

    /// Answers 403 to every `POST` creating an object of `collection` from now on.
    public func forbidCreating(_ collection: String) throws { _ = try control("forbid-create", ["collection": collection]) }

    /// Every stored object of `collection`.
    public func objects(_ collection: String) throws -> [[String: Any]] {
        try control("list", ["collection": collection])["items"] as? [[String: Any]] ?? []
    }

    /// The number of watches open now.
    public func openWatches() throws -> Int { try control("state", [:])["openWatches"] as? Int ?? -1 }

    /// The stored object, or nil.
    public func object(_ collection: String, key: String) throws -> [String: Any]? {
        try control("get", ["collection": collection, "key": key])["object"] as? [String: Any]
    }

    /// Acts as RBAC with `resourceNames` on Secrets: from now on a get, list or watch of Secrets
    /// is refused with 403 unless it names (by path or `fieldSelector=metadata.name=`) one of
    /// `namespace/name` in `allowed`.
    public func restrictSecrets(to allowed: [String]) throws { _ = try control("restrict-secrets", ["allowed": allowed]) }

    /// Every request served so far: `METHOD path?query`.
    public func requests() throws -> [String] { try control("state", [:])["requests"] as? [String] ?? [] }

    private func control(_ action: String, _ body: [String: Any]) throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body)
        let file = directory.file("control-\(UUID().uuidString).json")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try TestProcess.run("curl", [
            "-sS", "--fail", "--cacert", pki.caFile, "-H", "Authorization: Bearer \(token)",
            "-H", "Content-Type: application/json", "--data-binary", "@\(file.path)", "\(url)/_control/\(action)",
        ], timeout: .seconds(30))
        guard result.status == 0 else { throw TestProcessError(message: "control \(action) failed: \(result.stderr)") }
        return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any] ?? [:]
    }

    static let script = #"""
import json, socket, ssl, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, CERT, KEY, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Condition()
state = {"rv": 100, "objects": {}, "history": {}, "compacted": 0, "gone_http": False,
         "forbid_status": False, "watches": [], "requests": []}

def kind_of(collection):
    return {"namespaces": ("v1", "Namespace"), "secrets": ("v1", "Secret"), "serviceaccounts": ("v1", "ServiceAccount"),
            "clusterimagepolicies": ("signet.dev/v1alpha1", "ClusterImagePolicy"),
            "policyexceptions": ("signet.dev/v1alpha1", "PolicyException"),
            "emergencybypasses": ("signet.dev/v1alpha1", "EmergencyBypass"), "events": ("v1", "Event"),
            "replicasets": ("apps/v1", "ReplicaSet"), "deployments": ("apps/v1", "Deployment"),
            "statefulsets": ("apps/v1", "StatefulSet"), "daemonsets": ("apps/v1", "DaemonSet"),
            "jobs": ("batch/v1", "Job"), "cronjobs": ("batch/v1", "CronJob"),
            "replicationcontrollers": ("v1", "ReplicationController")}[collection]

def key_of(obj):
    meta = obj["metadata"]
    return meta["namespace"] + "/" + meta["name"] if meta.get("namespace") else meta["name"]

def record(collection, kind, obj):
    # Under the lock: bump the version, store, append history, wake watchers.
    state["rv"] += 1
    obj["metadata"]["resourceVersion"] = str(state["rv"])
    store = state["objects"].setdefault(collection, {})
    if kind == "DELETED":
        store.pop(key_of(obj), None)
    else:
        store[key_of(obj)] = obj
    state["history"].setdefault(collection, []).append((state["rv"], {"type": kind, "object": obj}))
    lock.notify_all()

NAMESPACED = ("secrets", "serviceaccounts", "policyexceptions", "events", "replicasets", "deployments", "statefulsets",
              "daemonsets", "jobs", "cronjobs", "replicationcontrollers")

def parse(path):
    # /api/v1/namespaces, /apis/g/v/plural, /api/v1/namespaces/ns/plural/name[/status], /apis/g/v/plural/name
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in NAMESPACED:
        namespace, rest = rest[1], rest[2:]
    collection = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    return collection, namespace, name, sub

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code})

    def authorized(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.status(401, "Unauthorized", "Unauthorized")
            return False
        return True

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_POST(self):
        if not self.authorized():
            return
        if "/_control/" not in self.path:
            self.create()
            return
        action = self.path.split("/_control/")[-1]
        body = self.body()
        with lock:
            if action == "apply":
                obj, collection = body["object"], body["collection"]
                existing = state["objects"].get(collection, {}).get(key_of(obj))
                if existing is not None and "status" in existing and "status" not in obj:
                    obj["status"] = existing["status"]
                obj["metadata"].setdefault("uid", "uid-" + key_of(obj))
                record(collection, "MODIFIED" if existing is not None else "ADDED", obj)
                self.send_json(200, {"resourceVersion": str(state["rv"])})
            elif action == "delete":
                obj = state["objects"].get(body["collection"], {}).get(body["key"])
                if obj is not None:
                    record(body["collection"], "DELETED", json.loads(json.dumps(obj)))
                self.send_json(200, {})
            elif action == "bookmark":
                for watch in state["watches"]:
                    if watch["collection"] == body["collection"]:
                        watch["queue"].append({"type": "BOOKMARK", "object": {"kind": kind_of(body["collection"])[1],
                            "apiVersion": kind_of(body["collection"])[0], "metadata": {"resourceVersion": str(state["rv"])}}})
                lock.notify_all()
                self.send_json(200, {})
            elif action in ("drop", "end"):
                for watch in state["watches"]:
                    watch["stop"] = action
                lock.notify_all()
                self.send_json(200, {})
            elif action == "compact":
                state["compacted"] = state["rv"]
                state["gone_http"] = bool(body.get("http"))
                for collection in state["history"]:
                    state["history"][collection] = []
                self.send_json(200, {})
            elif action == "hold":
                state["hold"] = bool(body.get("on"))
                self.send_json(200, {})
            elif action == "hold-lists":
                state["hold_lists"] = bool(body.get("on"))
                self.send_json(200, {})
            elif action == "restrict-secrets":
                state["secret_names"] = list(body.get("allowed", []))
                self.send_json(200, {})
            elif action == "forbid-create":
                state.setdefault("forbid_create", []).append(body["collection"])
                self.send_json(200, {})
            elif action == "forbid-status":
                state["forbid_status"] = True
                self.send_json(200, {})
            elif action == "list":
                self.send_json(200, {"items": list(state["objects"].get(body["collection"], {}).values())})
            elif action == "get":
                self.send_json(200, {"object": state["objects"].get(body["collection"], {}).get(body["key"])})
            elif action == "state":
                self.send_json(200, {"openWatches": len(state["watches"]), "requests": state["requests"]})
            else:
                self.status(404, "NotFound", "unknown control " + action)

    def create(self):
        # POST <collection> in a namespace: the object is stored (a generateName gets a suffix)
        # and answered 201; 403 when creation of that collection is forbidden.
        with lock:
            state["requests"].append("POST " + self.path)
        collection, namespace, _, _ = parse(self.path)
        obj = self.body()
        with lock:
            if collection in state.get("forbid_create", []):
                self.status(403, "Forbidden", f"cannot create {collection}")
                return
            meta = obj.setdefault("metadata", {})
            if namespace:
                meta["namespace"] = namespace
            if not meta.get("name"):
                meta["name"] = meta.get("generateName", "object-") + "%05d" % (state["rv"] + 1)
            if key_of(obj) in state["objects"].get(collection, {}):
                self.status(409, "AlreadyExists", f'{collection} "{meta["name"]}" already exists')
                return
            meta.setdefault("uid", "uid-" + key_of(obj))
            record(collection, "ADDED", obj)
            self.send_json(201, obj)

    def do_GET(self):
        if not self.authorized():
            return
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        with lock:
            state["requests"].append("GET " + self.path)
        collection, namespace, name, _ = parse(url.path)
        api_version, kind = kind_of(collection)
        selected = None
        for term in query.get("fieldSelector", [""])[0].split(","):
            if term.startswith("metadata.name="):
                selected = term[len("metadata.name="):]
        if collection == "secrets" and state.get("secret_names") is not None:
            asked = (namespace or "") + "/" + (name or selected or "")
            if (name or selected) is None or namespace is None or asked not in state["secret_names"]:
                self.status(403, "Forbidden", f'secrets is forbidden: cannot {"get" if name else "list"} {asked}')
                return
        def wanted(obj):
            meta = obj.get("metadata", {})
            if namespace is not None and meta.get("namespace") != namespace:
                return False
            return selected is None or meta.get("name") == selected
        if name is not None:
            key = namespace + "/" + name if namespace else name
            with lock:
                obj = state["objects"].get(collection, {}).get(key)
            if obj is None:
                self.status(404, "NotFound", f'{collection} "{name}" not found')
            else:
                self.send_json(200, obj)
            return
        if query.get("watch", ["0"])[0] in ("1", "true"):
            self.watch(collection, int(query.get("resourceVersion", ["0"])[0] or 0), float(query.get("timeoutSeconds", ["300"])[0]), wanted)
            return
        with lock:
            if state.get("hold_lists"):
                self.status(503, "ServiceUnavailable", "lists are held")
                return
            items = []
            for obj in state["objects"].get(collection, {}).values():
                if not wanted(obj):
                    continue
                item = json.loads(json.dumps(obj))
                if api_version == "v1":
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
                items.append(item)
            self.send_json(200, {"kind": kind + "List", "apiVersion": api_version,
                                 "metadata": {"resourceVersion": str(state["rv"])}, "items": items})

    def do_PATCH(self):
        if not self.authorized():
            return
        with lock:
            state["requests"].append("PATCH " + self.path)
        collection, namespace, name, sub = parse(self.path)
        patch = self.body()
        with lock:
            if sub == "status" and state["forbid_status"]:
                self.status(403, "Forbidden", "cannot patch status")
                return
            key = namespace + "/" + name if namespace else name
            obj = state["objects"].get(collection, {}).get(key)
            if obj is None:
                self.status(404, "NotFound", "not found")
                return
            obj = json.loads(json.dumps(obj))
            if sub == "status":
                obj["status"] = patch.get("status")
            record(collection, "MODIFIED", obj)
            self.send_json(200, obj)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, collection, since, timeout, wanted=lambda obj: True):
        with lock:
            if state.get("hold"):
                self.status(503, "ServiceUnavailable", "watches are held")
                return
            too_old = since != 0 and since < state["compacted"]
            if too_old and state["gone_http"]:
                self.status(410, "Expired", f"too old resource version: {since} ({state['compacted']})")
                return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if too_old:
            self.chunk(json.dumps({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": f"too old resource version: {since} ({state['compacted']})", "reason": "Expired", "code": 410}}).encode() + b"\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        watch = {"collection": collection, "queue": [], "stop": None}
        with lock:
            start = since if since else state["rv"]
            for rv, event in state["history"].get(collection, []):
                if rv > start and wanted(event["object"]):
                    watch["queue"].append(event)
            watch["last"] = state["rv"]
            state["watches"].append(watch)
        deadline = time.monotonic() + timeout
        try:
            while True:
                with lock:
                    if not watch["queue"] and watch["stop"] is None and watch["last"] == state["rv"]:
                        lock.wait(timeout=0.5)
                    for rv, event in state["history"].get(collection, []):
                        if rv > watch["last"] and wanted(event["object"]):
                            watch["queue"].append(event)
                    watch["last"] = state["rv"]
                    events, watch["queue"] = watch["queue"], []
                    stop = watch["stop"]
                for event in events:
                    self.chunk(json.dumps(event).encode() + b"\n")
                if stop == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if stop == "end" or time.monotonic() > deadline:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return
        finally:
            with lock:
                if watch in state["watches"]:
                    state["watches"].remove(watch)

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""#
}
