import Foundation

/// A test double of the Kubernetes API server, for what the real API server (the end-to-end suite
/// in Tests/E2E) cannot be made to do on demand: broken and held watches, compaction, 503s, refused
/// writes. It speaks the wire protocol the client depends on as the Kubernetes API concepts
/// describe it ("Efficient detection of changes", "Resource versions", "Retrieving large results
/// sets in chunks", "Label selectors") and refuses what the real server refuses:
///
/// - HTTPS on 127.0.0.1 with a ``TestPKI`` certificate; every request needs
///   `Authorization: Bearer <token>` (401 otherwise); a resource it does not serve gets 404;
/// - per-resource RBAC once ``restrict(to:)`` gives it rules (verbs get, list, watch, create,
///   update, patch; subresources as `resource/status`; `resourceNames`, also through a
///   `metadata.name` field selector; rules scoped to a namespace as a Role grants them): 403
///   `Forbidden` otherwise;
/// - `GET <collection>`: a JSON list scoped to the namespace in the path, filtered by
///   `fieldSelector=metadata.name=` and `labelSelector` (`=`, `!=`, `in`, `notin`, exists,
///   `!exists`), paged by `limit` and `continue` from one snapshot, a continue token older than
///   the compacted history answered 410 `Expired` (items of core resources without
///   `apiVersion`/`kind`, as the real server sends them);
/// - `GET <collection>?watch=1&resourceVersion=N&allowWatchBookmarks=true&timeoutSeconds=T`:
///   HTTP/1.1 chunked transfer coding, one JSON event per line (`ADDED`, `MODIFIED`, `DELETED`,
///   `BOOKMARK`, `ERROR`), replaying history after N, then live events; a resourceVersion older
///   than the compacted history gets an `ERROR` event with a 410 `Status` (or, when asked, an
///   HTTP 410 answer);
/// - `POST <collection>`: stored, `generateName` completed, 201 (409 `AlreadyExists` for a name
///   taken);
/// - `GET <object>`; `PATCH <object>[/status]` as a JSON merge patch (RFC 7386) that changes only
///   the status on `/status` and everything but the status elsewhere; `PUT <object>[/status]`;
///   a `metadata.resourceVersion` in a patch or replacement is a precondition (409 `Conflict`);
///   each write bumps the resourceVersion and emits `MODIFIED`; 403 when status writes are
///   forbidden;
/// - `POST /apis/authentication.k8s.io/v1/tokenreviews`: `status.authenticated` and `status.user`
///   for a token ``addUser(token:username:groups:)`` registered, `authenticated: false` for any
///   other (as the real server answers an unknown token: 201, not an error);
/// - `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`: `status.allowed` when a grant of
///   ``grant(_:verb:group:resource:)`` names the user or one of its groups, the verb, group and
///   resource (`*` matches any), `allowed: false` with a reason otherwise;
/// - control endpoints under `/_control/` the test drives: apply, delete, bookmark, drop every
///   open watch without a final chunk (a broken connection), end every open watch cleanly (the
///   server's `timeoutSeconds`), hold new watches (503), compact history, forbid status writes,
///   RBAC rules, and the request log.
public final class KubernetesAPIServerDouble: @unchecked Sendable {
    // Immutable after init except `process`, which only `stop()` (test code) touches.
    public let port: Int
    public let token: String
    public let pki: TestPKI
    private let directory: TemporaryDirectory
    private var process: TestProcess?

    /// `https://127.0.0.1:<port>`.
    public var url: String { "https://127.0.0.1:\(port)" }

    /// ``init(token:acceptClientCertificates:)`` from async code, waiting on a thread of its own.
    public static func start(token: String = "test-token", acceptClientCertificates: Bool = false) async throws -> KubernetesAPIServerDouble {
        try await offThePool { try KubernetesAPIServerDouble(token: token, acceptClientCertificates: acceptClientCertificates) }
    }

    /// With `acceptClientCertificates`, a request over a connection whose client certificate
    /// chains to the PKI's client CA is authenticated without a token, as the real API server
    /// authenticates X.509 client certificates.
    public init(token: String = "test-token", acceptClientCertificates: Bool = false) throws {
        self.token = token
        pki = try TestPKI()
        directory = TemporaryDirectory(prefix: "signet-apiserver")
        port = FreePort.make()
        let script = try directory.write("apiserver.py", Self.script)
        try directory.write("token", token)
        process = try TestProcess("python3", [
            script.path, String(port), pki.serverCertFile, pki.serverKeyFile, token, acceptClientCertificates ? pki.clientCAFile : "",
        ])
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

    /// While `on`, open and new watches send nothing and are not ended at their `timeoutSeconds`
    /// (a hung connection: a partition after connect, a stuck balancer), for at most two minutes.
    public func stallWatches(_ on: Bool) throws { _ = try control("stall", ["on": on]) }

    /// While `on`, lists are answered 503.
    public func holdLists(_ on: Bool) throws { _ = try control("hold-lists", ["on": on]) }

    /// Makes every `GET` of one named object of `collection` fail: `mode` is an HTTP status
    /// (`"500"`, `"429"`), `"garbage"` (200 with bytes that are not JSON), `"slow"` (30 s before
    /// the answer) or `"stall"` (no answer until the fault is lifted, at most two minutes); `nil` ends it.
    public func failGets(_ collection: String, mode: String?) throws {
        _ = try control("fail-gets", ["collection": collection, "mode": mode.map { $0 as Any } ?? NSNull()])
    }

    /// Makes `PATCH …/status` answer 403.
    public func forbidStatusWrites() throws { _ = try control("forbid-status", [:]) }

    /// Makes `token` authenticate (TokenReview) as `username` in `groups`, issued for
    /// `audiences` (nil: the API server's own, `https://kubernetes.default.svc`).
    public func addUser(token: String, username: String, groups: [String] = [], audiences: [String]? = nil) throws {
        var body: [String: Any] = ["token": token, "username": username, "groups": groups]
        if let audiences { body["audiences"] = audiences }
        _ = try control("add-user", body)
    }

    /// Makes TokenReviews ignore `spec.audiences` and answer without `status.audiences`, as an
    /// authenticator that does not know audiences does (every token then counts as the API
    /// server's own); a real API server does not do this on demand.
    public func ignoreTokenAudiences() throws { _ = try control("ignore-token-audiences", [:]) }

    /// Makes TokenReviews authenticate every known token whatever `spec.audiences` asks, and
    /// answer with the audiences the token was issued for, not their overlap with those asked.
    public func answerWithTokensOwnAudiences() throws { _ = try control("own-token-audiences", [:]) }

    /// Lets `subject` (a user name or a group) do `verb` on `resource` of `group` (SubjectAccessReview).
    public func grant(_ subject: String, verb: String, group: String, resource: String) throws {
        _ = try control("grant", ["subject": subject, "verb": verb, "group": group, "resource": resource])
    }

    /// The reviews asked so far, as `TokenReview <user or unauthenticated>` and
    /// `SubjectAccessReview <user> <verb> <resource>.<group> <allowed|denied>`.
    public func reviews() throws -> [String] { try control("state", [:])["reviews"] as? [String] ?? [] }

    /// Answers 403 to every `POST` creating an object of `collection` from now on (in `namespace`
    /// only, when given: as the API server refuses new objects in a namespace being terminated).
    public func forbidCreating(_ collection: String, namespace: String? = nil) throws {
        _ = try control("forbid-create", ["collection": namespace.map { "\(collection)/\($0)" } ?? collection])
    }

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

    /// From now on every request is authorised against `rules` (RBAC `PolicyRule`s: `apiGroups`,
    /// `resources`, `verbs`, optional `resourceNames`, and `namespace` for a Role's rules) and
    /// refused with 403 when none grants it.
    public func restrict(to rules: [[String: Any]]) throws { _ = try control("rules", ["rules": rules]) }

    /// The next list page asked for by a continue token is answered 410 `Expired`, as after the
    /// server compacted the list's snapshot away.
    public func expireNextContinueToken() throws { _ = try control("expire-next-continue", [:]) }

    /// The number of list pages served with a continue token after them.
    public func continuedPages() throws -> Int { try control("state", [:])["continuedPages"] as? Int ?? -1 }

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

PORT, CERT, KEY, TOKEN, CLIENT_CA = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
lock = threading.Condition()
# The audience the API server issues its own tokens for (--api-audiences defaults to the issuer).
API_AUDIENCE = "https://kubernetes.default.svc"
state = {"rv": 100, "objects": {}, "history": {}, "compacted": 0, "gone_http": False,
         "forbid_status": False, "watches": [], "requests": [], "snapshots": {}}

KINDS = {"namespaces": ("v1", "Namespace"), "secrets": ("v1", "Secret"), "serviceaccounts": ("v1", "ServiceAccount"),
            "pods": ("v1", "Pod"), "configmaps": ("v1", "ConfigMap"), "leases": ("coordination.k8s.io/v1", "Lease"),
            "policyreports": ("wgpolicyk8s.io/v1alpha2", "PolicyReport"),
            "clusterpolicyreports": ("wgpolicyk8s.io/v1alpha2", "ClusterPolicyReport"),
            "clusterimagepolicies": ("signet.dev/v1alpha1", "ClusterImagePolicy"),
            "policyexceptions": ("signet.dev/v1alpha1", "PolicyException"),
            "emergencybypasses": ("signet.dev/v1alpha1", "EmergencyBypass"), "events": ("v1", "Event"),
            "replicasets": ("apps/v1", "ReplicaSet"), "deployments": ("apps/v1", "Deployment"),
            "statefulsets": ("apps/v1", "StatefulSet"), "daemonsets": ("apps/v1", "DaemonSet"),
            "jobs": ("batch/v1", "Job"), "cronjobs": ("batch/v1", "CronJob"),
            "replicationcontrollers": ("v1", "ReplicationController"),
            "tokenreviews": ("authentication.k8s.io/v1", "TokenReview"),
            "subjectaccessreviews": ("authorization.k8s.io/v1", "SubjectAccessReview")}

def kind_of(collection):
    return KINDS[collection]

def group_of(collection):
    api_version = KINDS[collection][0]
    return api_version.split("/")[0] if "/" in api_version else ""

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
              "daemonsets", "jobs", "cronjobs", "replicationcontrollers", "pods", "configmaps", "policyreports", "leases")

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

def merge_patch(target, patch):
    # RFC 7386: objects merge key by key, null removes, anything else replaces.
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result

def selector_terms(text):
    # Splits "a=b,c in (x,y),!d" on the commas outside parentheses.
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current.strip())
    return terms

def label_match(labels, selector):
    # Label selectors as the API concepts define them: =, ==, !=, in, notin, exists, !exists.
    for term in selector_terms(selector):
        if " notin " in term or " in " in term:
            negate = " notin " in term
            key, values = term.split(" notin " if negate else " in ", 1)
            values = {v.strip() for v in values.strip().strip("()").split(",")}
            present = labels.get(key.strip()) in values
            if present == negate:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True

def verb_of(method, name, query):
    if method == "GET":
        if query.get("watch", ["0"])[0] in ("1", "true"):
            return "watch"
        return "get" if name is not None else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]

def rbac_refusal(method, collection, namespace, name, sub, query):
    # Per-resource RBAC (the rules given by the test, as a ClusterRole or a namespaced Role
    # grants them): None when allowed, else the API server's Forbidden message.
    rules = state.get("rules")
    if rules is None:
        return None
    verb = verb_of(method, name, query)
    resource = collection + ("/" + sub if sub else "")
    group = group_of(collection)
    named = name
    if named is None and verb in ("list", "watch"):
        for term in query.get("fieldSelector", [""])[0].split(","):
            if term.startswith("metadata.name="):
                named = term[len("metadata.name="):]
    for rule in rules:
        if rule.get("namespace") is not None and rule["namespace"] != namespace:
            continue
        if not any(g in ("*", group) for g in rule.get("apiGroups", [])):
            continue
        if not any(r in ("*", resource) for r in rule.get("resources", [])):
            continue
        if not any(v in ("*", verb) for v in rule.get("verbs", [])):
            continue
        names = rule.get("resourceNames")
        if names and named not in names:
            continue
        return None
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return f'{resource}{"." + group if group else ""} is forbidden: User "test" cannot {verb} resource "{resource}" in API group "{group}" {where}'

def page(items, query, collection):
    # limit/continue (API concepts, "Retrieving large results sets in chunks"): every page of one
    # list comes from the snapshot taken at the first page; a token older than the compacted
    # history is answered 410 Expired.
    limit = int(query.get("limit", ["0"])[0] or 0)
    token = query.get("continue", [""])[0]
    if token:
        try:
            snapshot_id, offset = token.split(":")
            snapshot = state["snapshots"][snapshot_id]
            offset = int(offset)
        except (KeyError, ValueError):
            return None, None, (400, "BadRequest", "invalid continue token")
        if snapshot["rv"] < state["compacted"] or state.pop("expire_next_continue", False):
            return None, None, (410, "Expired", "The provided continue parameter is too old to display a consistent list result. "
                                "You can start a new list without the continue parameter.")
        items, rv = snapshot["items"], snapshot["rv"]
    else:
        offset, rv = 0, state["rv"]
    if limit <= 0 or offset + limit >= len(items):
        return items[offset:], {"resourceVersion": str(rv)}, None
    snapshot_id = token.split(":")[0] if token else str(len(state["snapshots"]) + 1)
    state["snapshots"][snapshot_id] = {"items": items, "rv": rv}
    state["pages"] = state.get("pages", 0) + 1
    return items[offset:offset + limit], {"resourceVersion": str(rv), "continue": f"{snapshot_id}:{offset + limit}",
                                          "remainingItemCount": len(items) - offset - limit}, None

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
        if CLIENT_CA and self.connection.getpeercert():
            return True
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.status(401, "Unauthorized", "Unauthorized")
            return False
        return True

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def admitted(self, method):
        # Logs the request, then answers 404 for a resource the server does not serve and 403
        # for one the rules do not grant; returns the parsed path when the request may go on.
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        with lock:
            state["requests"].append(method + " " + self.path)
        collection, namespace, name, sub = parse(url.path)
        if collection not in KINDS:
            self.status(404, "NotFound", f"the server could not find the requested resource ({collection})")
            return None
        with lock:
            refusal = rbac_refusal(method, collection, namespace, name, sub, query)
        if refusal is not None:
            self.status(403, "Forbidden", refusal)
            return None
        return collection, namespace, name, sub, query

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
            elif action == "fail-gets":
                state["fail_gets"] = body.get("mode")
                state["fail_collection"] = body.get("collection")
                self.send_json(200, {})
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
            elif action == "stall":
                state["stall"] = bool(body.get("on"))
                lock.notify_all()
                self.send_json(200, {})
            elif action == "hold-lists":
                state["hold_lists"] = bool(body.get("on"))
                self.send_json(200, {})
            elif action == "restrict-secrets":
                state["secret_names"] = list(body.get("allowed", []))
                self.send_json(200, {})
            elif action == "expire-next-continue":
                state["expire_next_continue"] = True
                self.send_json(200, {})
            elif action == "rules":
                state["rules"] = body.get("rules")
                self.send_json(200, {})
            elif action == "add-user":
                state.setdefault("users", {})[body["token"]] = {"username": body["username"], "uid": "uid-" + body["username"],
                                                                "groups": body.get("groups", [])}
                state.setdefault("token_audiences", {})[body["token"]] = body.get("audiences", [API_AUDIENCE])
                self.send_json(200, {})
            elif action == "ignore-token-audiences":
                state["ignore_token_audiences"] = True
                self.send_json(200, {})
            elif action == "own-token-audiences":
                state["own_token_audiences"] = True
                self.send_json(200, {})
            elif action == "grant":
                state.setdefault("grants", []).append(body)
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
                self.send_json(200, {"openWatches": len(state["watches"]), "requests": state["requests"],
                                     "continuedPages": state.get("pages", 0), "reviews": state.get("reviews", [])})
            else:
                self.status(404, "NotFound", "unknown control " + action)

    def create(self):
        # POST <collection> in a namespace: the object is stored (a generateName gets a suffix)
        # and answered 201; 403 when creation of that collection is forbidden.
        admitted = self.admitted("POST")
        if admitted is None:
            return
        collection, namespace, _, _, _ = admitted
        obj = self.body()
        if collection in ("tokenreviews", "subjectaccessreviews"):
            self.review(collection, obj)
            return
        with lock:
            if collection in state.get("forbid_create", []) or f"{collection}/{namespace}" in state.get("forbid_create", []):
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

    def review(self, collection, obj):
        # TokenReview and SubjectAccessReview (authentication.k8s.io/v1, authorization.k8s.io/v1):
        # nothing is stored; the answer is the object with its status filled in.
        spec = obj.get("spec") or {}
        with lock:
            if collection == "tokenreviews":
                # spec.audiences: the token must be issued for one of them (status.audiences names
                # those it is); none asked: for the API server's own audience.
                user = state.get("users", {}).get(spec.get("token"))
                issued = state.get("token_audiences", {}).get(spec.get("token"), [])
                wanted = spec.get("audiences") or [API_AUDIENCE]
                confirmed = [audience for audience in wanted if audience in issued]
                if state.get("ignore_token_audiences"):
                    obj["status"] = {"authenticated": True, "user": user} if user else {"authenticated": False, "error": "invalid bearer token"}
                elif state.get("own_token_audiences"):
                    obj["status"] = ({"authenticated": True, "user": user, "audiences": issued} if user
                                     else {"authenticated": False, "error": "invalid bearer token"})
                elif user and confirmed:
                    obj["status"] = {"authenticated": True, "user": user, "audiences": confirmed}
                else:
                    user = None
                    obj["status"] = {"authenticated": False, "error": "invalid bearer token, token audiences are invalid for the target audiences"}
                state.setdefault("reviews", []).append("TokenReview " + (user["username"] if user else "unauthenticated"))
            else:
                attributes = spec.get("resourceAttributes") or {}
                subjects = [spec.get("user")] + list(spec.get("groups") or [])
                allowed = any(g["subject"] in subjects and g["verb"] in ("*", attributes.get("verb"))
                              and g["group"] in ("*", attributes.get("group", "")) and g["resource"] in ("*", attributes.get("resource"))
                              for g in state.get("grants", []))
                obj["status"] = {"allowed": allowed} if allowed else {"allowed": False, "reason": "no RBAC rule allows it"}
                state.setdefault("reviews", []).append("SubjectAccessReview %s %s %s.%s %s" % (
                    spec.get("user"), attributes.get("verb"), attributes.get("resource"), attributes.get("group", ""),
                    "allowed" if allowed else "denied"))
        self.send_json(201, obj)

    def do_GET(self):
        if not self.authorized():
            return
        admitted = self.admitted("GET")
        if admitted is None:
            return
        collection, namespace, name, _, query = admitted
        fault = state.get("fail_gets") if name is not None and collection == state.get("fail_collection") else None
        if fault == "slow":
            time.sleep(30)
        elif fault == "stall":
            # Held until the fault is lifted (at most two minutes), then answered as usual.
            end = time.time() + 120
            with lock:
                while state.get("fail_gets") == "stall" and time.time() < end:
                    lock.wait(0.05)
        elif fault == "garbage":
            data = b"\x00\xffnot a Kubernetes object{["
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        elif fault is not None:
            self.status(int(fault), "InjectedFault", "injected fault " + fault)
            return
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
        labels = query.get("labelSelector", [None])[0]
        def wanted(obj):
            meta = obj.get("metadata", {})
            if namespace is not None and meta.get("namespace") != namespace:
                return False
            if labels is not None and not label_match(meta.get("labels") or {}, labels):
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
            for key, obj in sorted(state["objects"].get(collection, {}).items()):
                if not wanted(obj):
                    continue
                item = json.loads(json.dumps(obj))
                if api_version == "v1":
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
                items.append(item)
            items, metadata, failure = page(items, query, collection)
            if failure is not None:
                self.status(*failure)
                return
            self.send_json(200, {"kind": kind + "List", "apiVersion": api_version, "metadata": metadata, "items": items})

    def do_PATCH(self):
        # JSON merge patch (RFC 7386). On `/status` only the status changes, elsewhere everything
        # but the status (a subresource's rules); a `metadata.resourceVersion` in the patch is a
        # precondition (409 Conflict when the object has moved on).
        if not self.authorized():
            return
        admitted = self.admitted("PATCH")
        if admitted is None:
            return
        collection, namespace, name, sub, _ = admitted
        patch = self.body()
        with lock:
            if sub == "status" and state["forbid_status"]:
                self.status(403, "Forbidden", "cannot patch status")
                return
            obj = self.stored(collection, namespace, name)
            if obj is None:
                return
            expected = (patch.get("metadata") or {}).get("resourceVersion")
            if expected is not None and expected != obj["metadata"].get("resourceVersion"):
                self.conflict(collection, name)
                return
            if sub == "status":
                obj["status"] = merge_patch(obj.get("status"), patch.get("status"))
            else:
                status = obj.get("status")
                obj = merge_patch(obj, {k: v for k, v in patch.items() if k != "status"})
                obj.pop("status", None)
                if status is not None:
                    obj["status"] = status
            record(collection, "MODIFIED", obj)
            self.send_json(200, obj)

    def do_PUT(self):
        # Replace: 404 when absent; a resourceVersion in the body must be the stored one (409
        # otherwise); the body without one replaces unconditionally, as for built-in resources.
        if not self.authorized():
            return
        admitted = self.admitted("PUT")
        if admitted is None:
            return
        collection, namespace, name, sub, _ = admitted
        replacement = self.body()
        with lock:
            obj = self.stored(collection, namespace, name)
            if obj is None:
                return
            expected = (replacement.get("metadata") or {}).get("resourceVersion")
            if expected and expected != obj["metadata"].get("resourceVersion"):
                self.conflict(collection, name)
                return
            if sub == "status":
                obj["status"] = replacement.get("status")
            else:
                meta = replacement.setdefault("metadata", {})
                meta["uid"] = obj["metadata"].get("uid")
                if namespace:
                    meta["namespace"] = namespace
                if "status" in obj:
                    replacement["status"] = obj["status"]
                obj = replacement
            record(collection, "MODIFIED", obj)
            self.send_json(200, obj)

    def stored(self, collection, namespace, name):
        # Under the lock: a copy of the stored object, or None after answering 404.
        key = namespace + "/" + name if namespace else name
        obj = state["objects"].get(collection, {}).get(key)
        if obj is None:
            self.status(404, "NotFound", f'{collection} "{name}" not found')
            return None
        return json.loads(json.dumps(obj))

    def conflict(self, collection, name):
        self.status(409, "Conflict", f'Operation cannot be fulfilled on {collection} "{name}": '
                    "the object has been modified; please apply your changes to the latest version and try again")

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
        stalled_until = None
        try:
            while True:
                with lock:
                    stalled = state.get("stall", False)
                if stalled:
                    # Hung: nothing sent, no end, until the stall is lifted (two minutes at most).
                    stalled_until = stalled_until or time.monotonic() + 120
                    if time.monotonic() > stalled_until:
                        return
                    time.sleep(0.1)
                    continue
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
if CLIENT_CA:
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(CLIENT_CA)
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""#
}
