"""A double of the Kubernetes API server for the parts `signet serve --policy-source kubernetes`
uses, so a pod spec the chart renders can be run against it without a control plane, and for
what a real server will not do on demand (held lists, and in the Swift double 410 Gone, dropped
watches, garbage). Behaviour against the real kube-apiserver is tested in Tests/E2E/.

It speaks the wire protocol of the Kubernetes API concepts ("Efficient detection of changes"):
HTTPS on 127.0.0.1 with a certificate made by `openssl`; every request needs
`Authorization: Bearer <token>` (401 otherwise); `GET <collection>` answers a list with
`metadata.resourceVersion` (core items without apiVersion/kind, as the real server sends them),
or 503 while lists are held; `GET <collection>?watch=1...` answers a chunked stream that stays
open, without events, until its `timeoutSeconds` or the end of the test; `PATCH <object>/status`
merges the status (JSON merge patch, RFC 7386) into the stored object. Every request is recorded
as (method, path, query) so a test can check it against the RBAC rules the chart renders.
"""
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The resources signet lists and watches: plural -> (apiVersion, kind, namespaced).
RESOURCES = {
    "namespaces": ("v1", "Namespace", False),
    "clusterimagepolicies": ("signet.dev/v1alpha1", "ClusterImagePolicy", False),
    "policyexceptions": ("signet.dev/v1alpha1", "PolicyException", True),
    "emergencybypasses": ("signet.dev/v1alpha1", "EmergencyBypass", False),
}


def parse_path(path):
    """(group, namespace, resource, name, subresource) of an API path."""
    parts = [p for p in path.split("/") if p]
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        group, rest = parts[1], parts[3:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return group, namespace, resource, name, subresource


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    cert, key = os.path.join(directory, "apiserver.crt"), os.path.join(directory, "apiserver.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=kubernetes",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class APIServerDouble:
    def __init__(self, directory, objects, token="service-account-token"):
        """objects: plural -> list of objects (as they would be applied)."""
        self.token = token
        self.cert, self.key = make_certificate(directory)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.resource_version = 100
        self.objects = {}
        for plural in RESOURCES:
            for obj in objects.get(plural, []):
                self.resource_version += 1
                obj = json.loads(json.dumps(obj))
                obj["metadata"]["resourceVersion"] = str(self.resource_version)
                obj["metadata"].setdefault("uid", f"uid-{plural}-{obj['metadata']['name']}")
                self.objects.setdefault(plural, {})[self.key_of(obj)] = obj
        self.lists_held = False
        self.requests = []
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @staticmethod
    def key_of(obj):
        meta = obj["metadata"]
        return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]

    @property
    def port(self):
        return self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def hold_lists(self, on):
        with self.lock:
            self.lists_held = on

    def recorded(self):
        with self.lock:
            return list(self.requests)

    def stored(self, plural, key):
        with self.lock:
            return json.loads(json.dumps(self.objects.get(plural, {}).get(key)))

    def service_account(self, directory):
        """Writes token, ca.crt and namespace as the kubelet mounts them; returns the directory."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "token"), "w") as f:
            f.write(self.token)
        with open(self.cert) as source, open(os.path.join(directory, "ca.crt"), "w") as f:
            f.write(source.read())
        return directory

    def handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def failure(self, code, reason, message):
                self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                                  "message": message, "code": code})

            def admitted(self):
                url = urllib.parse.urlparse(self.path)
                with outer.lock:
                    outer.requests.append((self.command, url.path, urllib.parse.parse_qs(url.query)))
                if self.headers.get("Authorization") != "Bearer " + outer.token:
                    self.failure(401, "Unauthorized", "Unauthorized")
                    return None
                return url

            def do_GET(self):
                url = self.admitted()
                if url is None:
                    return
                query = urllib.parse.parse_qs(url.query)
                _, namespace, plural, name, _ = parse_path(url.path)
                if plural not in RESOURCES:
                    return self.failure(404, "NotFound", f"the server could not find the requested resource ({plural})")
                api_version, kind, _ = RESOURCES[plural]
                if name is not None:
                    obj = outer.stored(plural, f"{namespace}/{name}" if namespace else name)
                    return self.reply(200, obj) if obj else self.failure(404, "NotFound", f'{plural} "{name}" not found')
                if query.get("watch", ["0"])[0] in ("1", "true"):
                    return self.watch(float(query.get("timeoutSeconds", ["300"])[0]))
                with outer.lock:
                    if outer.lists_held:
                        return self.failure(503, "ServiceUnavailable", "lists are held")
                    items = []
                    for obj in outer.objects.get(plural, {}).values():
                        if namespace and obj["metadata"].get("namespace") != namespace:
                            continue
                        item = json.loads(json.dumps(obj))
                        if api_version == "v1":
                            item.pop("apiVersion", None)
                            item.pop("kind", None)
                        items.append(item)
                    version = str(outer.resource_version)
                self.reply(200, {"kind": kind + "List", "apiVersion": api_version,
                                 "metadata": {"resourceVersion": version}, "items": items})

            def watch(self, timeout):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                deadline = time.monotonic() + timeout
                while not outer.stopping.wait(0.2):
                    if time.monotonic() > deadline:
                        try:
                            self.wfile.write(b"0\r\n\r\n")
                            self.wfile.flush()
                        except OSError:
                            pass
                        return
                self.close_connection = True

            def do_PATCH(self):
                url = self.admitted()
                if url is None:
                    return
                length = int(self.headers.get("Content-Length") or 0)
                patch = json.loads(self.rfile.read(length) or b"{}")
                _, namespace, plural, name, subresource = parse_path(url.path)
                key = f"{namespace}/{name}" if namespace else name
                with outer.lock:
                    obj = outer.objects.get(plural, {}).get(key)
                    if obj is None or subresource != "status":
                        return self.failure(404, "NotFound", f'{plural} "{name}" not found')
                    status = dict(obj.get("status") or {})
                    for field, value in (patch.get("status") or {}).items():
                        if value is None:
                            status.pop(field, None)
                        else:
                            status[field] = value
                    obj["status"] = status
                    outer.resource_version += 1
                    obj["metadata"]["resourceVersion"] = str(outer.resource_version)
                    answer = json.loads(json.dumps(obj))
                self.reply(200, answer)

        return Handler
