"""A stand-in for the discovery and OpenAPI v3 endpoints of a Kubernetes 1.33 API server, on
127.0.0.1, so `kubectl apply --dry-run=client` can map every document to its resource without a
cluster. Kinds come from the Kubernetes schemas of kubernetes-validate, plus the foreign kinds
the chart renders and the CRDs given. Each kind advertises server-side field validation, as real
API servers do, so kubectl parses and maps documents and leaves schema checks to the server
(done offline by kubernetes-validate in test_deploy.py). Reads of objects answer 404, so every
document is reported "created (dry run)"."""
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes_validate

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                  "CustomResourceDefinition", "Node", "PersistentVolume", "StorageClass", "PriorityClass",
                  "IngressClass", "RuntimeClass", "CSIDriver", "CSINode", "APIService", "ClusterIssuer"}


def plural(kind):
    lower = kind.lower()
    if lower.endswith("y") and not lower.endswith("ey"):
        return lower[:-1] + "ies"
    if lower.endswith("s"):
        return lower + "es"
    return lower + "s"


class DiscoveryServer:
    def __init__(self, version="1.33", extra_kinds=()):
        """extra_kinds: (group, version, kind, plural, namespaced) for kinds outside Kubernetes."""
        base = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema", f"v{version}.0-local")
        definitions = json.load(open(os.path.join(base, "_definitions.json")))["$defs"]
        self.schemas = json.loads(json.dumps(definitions).replace("#/$defs/", "#/components/schemas/"))
        self.resources = {}
        for schema in self.schemas.values():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                kind = gvk["kind"]
                if kind.endswith("List") or kind in ("Status", "WatchEvent", "DeleteOptions", "APIGroup", "APIVersions", "APIResourceList", "APIGroupList"):
                    continue
                self.add(gvk["group"], gvk["version"], kind, plural(kind), kind not in CLUSTER_SCOPED)
        for group, version_name, kind, plural_name, namespaced in extra_kinds:
            self.add(group, version_name, kind, plural_name, namespaced)
            self.schemas[f"{group}.{version_name}.{kind}"] = {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True,
                "x-kubernetes-group-version-kind": [{"group": group, "version": version_name, "kind": kind}]}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, group, version, kind, plural_name, namespaced):
        gv = f"{group}/{version}" if group else version
        self.resources.setdefault(gv, {})[kind] = {
            "name": plural_name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def kubeconfig(self, path):
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
                       "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
                       "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "nobody"}}],
                       "users": [{"name": "nobody", "user": {}}]}, f)

    @staticmethod
    def api_path(gv):
        return "api/" + gv if "/" not in gv else "apis/" + gv

    def group_version_document(self, gv):
        group, _, version = gv.rpartition("/")
        paths = {}
        for r in self.resources.get(gv, {}).values():
            scope = "/namespaces/{namespace}/" if r["namespaced"] else "/"
            paths[f"/{self.api_path(gv)}{scope}{r['name']}/{{name}}"] = {"patch": {
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r["kind"]},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths,
                "components": {"schemas": self.schemas}}

    def handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/api":
                    return self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
                if path == "/apis":
                    groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                               "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                              for gv in outer.resources if "/" in gv]
                    return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
                m = re.fullmatch(r"/api/(v1)|/apis/([^/]+/[^/]+)", path)
                if m and (m.group(1) or m.group(2)) in outer.resources:
                    gv = m.group(1) or m.group(2)
                    return self.reply(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                                            "resources": list(outer.resources[gv].values())})
                if path == "/openapi/v3":
                    return self.reply(200, {"paths": {outer.api_path(gv): {"serverRelativeURL": f"/openapi/v3/{outer.api_path(gv)}?hash=0"}
                                                      for gv in outer.resources}})
                if path.startswith("/openapi/v3/"):
                    gv = re.sub(r"^apis?/", "", path[len("/openapi/v3/"):])
                    if gv in outer.resources:
                        return self.reply(200, outer.group_version_document(gv))
                self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

        return Handler
