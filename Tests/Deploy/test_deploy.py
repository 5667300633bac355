#!/usr/bin/env python3
"""Tests of what ships: the Helm chart, the plain manifests in deploy/, the example policies in
policies/ and the Dockerfile.

Run by `make test` (and `make test-deploy`) with HELM (Helm 4), HELM3 (Helm 3) and KUBECTL
pointing at the binaries `make tools` installs and SIGNET_BINARY at a built signet. The chart is
linted and rendered by both Helm 3 and Helm 4; every rendered document is validated against the
Kubernetes OpenAPI schemas (kubernetes-validate, offline) and signet's own objects against the
CRDs of deploy/crds/. The pod the chart renders is run: the signet binary with the rendered
arguments, environment and volumes, against a double of the API server (apiserver_double.py).
"""
import base64
import functools
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import yaml
import jsonschema
import kubernetes_validate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from discovery_server import DiscoveryServer  # noqa: E402
from apiserver_double import APIServerDouble, parse_path  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "charts", "signet")
HELM = os.environ.get("HELM", os.path.join(ROOT, ".tools", "bin", "helm"))
HELM3 = os.environ.get("HELM3", os.path.join(ROOT, ".tools", "bin", "helm3"))
# Every Helm the chart supports, newest first; HELM renders deploy/ and the single-Helm checks.
HELMS = {"helm4": HELM, "helm3": HELM3}
KUBECTL = os.environ.get("KUBECTL", os.path.join(ROOT, ".tools", "bin", "kubectl"))
SIGNET = os.environ.get("SIGNET_BINARY", "")
KUBE_VERSION = "1.33"
RELEASE = "signet"
NAMESPACE = "signet-system"

# The scenarios every test looks at: name -> extra `helm template` flags.
SCENARIOS = {
    "defaults": [],
    "cert-manager": ["--set", "tls.mode=certManager"],
    "cert-manager-issuer": ["--set", "tls.mode=certManager", "--set", "tls.certManager.issuerRef.name=cluster-ca",
                            "--set", "tls.certManager.issuerRef.kind=ClusterIssuer", "--set", "tls.certManager.issuerRef.group=cert-manager.io"],
    "chart-generated-tls": ["--set", "tls.mode=helm"],
    "existing-secret": ["--set", "tls.mode=secret", "--set", "tls.secret.name=my-tls",
                        "--set", "tls.secret.caBundle=" + base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()],
    "one-replica": ["--set", "replicaCount=1"],
    "failure-ignore": ["--set", "webhook.failurePolicy=Ignore"],
    "configmap-source": ["--set", "policies.source=configMap"],
    "sigstore-tuf": ["--set", "sigstoreTUF.enabled=true", "--set", "sigstoreTUF.mirror=https://tuf.mirror.internal",
                     "--set", "sigstoreTUF.refreshInterval=1h", "--set", "sigstoreTUF.caBundle.configMap=tuf-ca"],
    "history-sqlite": ["--set", "history.enabled=true", "--set", "history.maxAge=168h", "--set", "history.maxRows=5000"],
    "history-sqlite-claim": ["--set", "history.enabled=true", "--set", "replicaCount=1", "--set", "history.sqlite.volume=persistentVolumeClaim",
                             "--set", "history.sqlite.existingClaim=signet-history"],
    "history-postgres": ["--set", "history.enabled=true", "--set", "history.store=postgres", "--set", "history.postgres.dsnSecret.name=signet-history-dsn"],
    "custom-policies": ["--set", "policies.clusterImagePolicies.system-images=null",
                        "--set-json", "policies.clusterImagePolicies.my-org-release-key=" + json.dumps(
                            yaml.safe_load(open(os.path.join(ROOT, "policies", "examples", "cosign-key.yaml")))["spec"])],
    "pull-secrets-cluster": ["--set", "rbac.pullSecrets.enabled=true"],
    "pull-secrets-namespaced": ["--set", "rbac.pullSecrets.enabled=true", "--set", "rbac.pullSecrets.namespaces={team-a,team-b}",
                                "--set", "rbac.pullSecrets.names={regcred}"],
    "service-monitor": ["--set", "serviceMonitor.enabled=true"],
    "continuous": ["--set", "continuousVerification.enabled=true", "--set", "continuousVerification.cronJob.enabled=true",
                   "--set", "policyReports.enabled=true", "--set", "alerts.enabled=true", "--set", "alerts.secretName=alert-hooks",
                   "--set", "alerts.format=slack", "--set", "grafanaDashboard.enabled=true", "--set", "prometheusRule.enabled=true"],
    # The scan CronJob beside the webhook, with the trust material of each kind: the two must decide alike.
    "scan-mounted-trust": ["--set", "continuousVerification.cronJob.enabled=true", "--set", "keySecrets={release-keys,build-keys}",
                           "--set", "trustConfigMaps={notation-trust}", "--set", "webhook.optOutGroup=platform-security"],
    "scan-registry-access": ["--set", "continuousVerification.cronJob.enabled=true", "--set", "registry.caBundle.configMap=registry-ca",
                             "--set", "registry.caBundle.key=bundle.pem", "--set", "registry.insecureRegistries={registry.local:5000}",
                             "--set", "registry.dockerConfigSecret=signet-registry-auth", "--set", "imagePullSecrets={regcred}",
                             "--set-json", 'extraVolumes=[{"name":"proxy-ca","configMap":{"name":"proxy-ca"}}]',
                             "--set-json", 'extraVolumeMounts=[{"name":"proxy-ca","mountPath":"/etc/ssl/proxy","readOnly":true}]',
                             "--set-json", 'server.extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy.internal:3128"}]'],
    "scan-sigstore-tuf": ["--set", "continuousVerification.cronJob.enabled=true", "--set", "sigstoreTUF.enabled=true",
                          "--set", "sigstoreTUF.mirror=https://tuf.mirror.internal", "--set", "sigstoreTUF.refreshInterval=1h",
                          "--set", "sigstoreTUF.caBundle.configMap=tuf-ca", "--set", "sigstoreTUF.cacheSizeLimit=32Mi"],
    "scan-api-trust": ["--set", "continuousVerification.cronJob.enabled=true", "--set", "keySecretsSource=api",
                       "--set", "keySecrets={release-keys,team-a/deploy-key}", "--set", "trustConfigMaps={notation-trust}"],
    "hard-anti-affinity": ["--set", "podAntiAffinity=hard", "--set", "webhook.timeoutSeconds=30",
                           "--set", "server.shutdownGracePeriodSeconds=30", "--set", "server.shutdownDelaySeconds=10"],
    "registry-access": ["--set", "registry.caBundle.configMap=registry-ca", "--set", "registry.insecureRegistries={registry.local:5000}",
                        "--set", "registry.dockerConfigSecret=signet-registry-auth", "--set", "keySecrets={release-keys}"],
    "plain-manifests": ["--set", "namespace.create=true", "--set", "tls.mode=certManager"],
    "webhook-url": ["--set", "webhook.url=https://127.0.0.1:9443/validate"],
    "no-pinning": ["--set", "webhook.pinDigests=false"],
    "key-secrets-api": ["--set", "keySecretsSource=api", "--set", "keySecrets={release-keys,team-a/deploy-key,team-a/build-key}"],
    "trust-configmaps-api": ["--set", "keySecretsSource=api", "--set", "trustConfigMaps={notation-trust,team-a/team-trust}"],
    "trust-configmaps-mounted": ["--set", "trustConfigMaps={notation-trust}"],
    "mutual-tls": ["--set", "server.clientAuth.enabled=true", "--set", "server.clientAuth.caSecret=apiserver-client-ca",
                   "--set", "server.clientAuth.allowedNames={kube-apiserver,apiserver.example}"],
    "mutual-tls-configmap": ["--set", "server.clientAuth.enabled=true", "--set", "server.clientAuth.caConfigMap=apiserver-client-ca",
                             "--set", "server.clientAuth.caKey=client-ca.pem"],
    "enforce": ["--set", "enforcement.mode=enforce"],
    "opt-out-group": ["--set", "webhook.optOutGroup=platform-security"],
    "guarded-labels": ["--set", "webhook.optOutGroup=platform-security",
                       "--set", "webhook.guardedNamespaceLabels={environment,example.com/tier,signet.dev/exclude}"],
    "control-plane-only": ["--set", "networkPolicy.controlPlaneCIDRs={10.0.0.0/24,192.168.1.5/32}",
                           "--set-json", 'networkPolicy.ingressFrom=[{"namespaceSelector":{"matchLabels":{"name":"monitoring"}}}]'],
    "body-budget": ["--set", "server.connections.reservedPeers={10.0.0.2/32}", "--set", "server.bodies.maxBytes=4194304",
                    "--set", "server.bodies.maxBufferedBytes=134217728", "--set", "server.bodies.maxBufferedBytesPerPeer=8388608",
                    "--set", "server.bodies.reservedBytes=0"],
}

# Kinds that are not part of Kubernetes itself, checked against their own minimal shape.
FOREIGN_KINDS = {
    ("cert-manager.io/v1", "Certificate"): ["secretName", "issuerRef"],
    ("cert-manager.io/v1", "Issuer"): [],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["selector", "endpoints"],
    ("monitoring.coreos.com/v1", "PrometheusRule"): ["groups"],
}

SWIFT_RUNTIME_LIBS = re.compile(r"^(libswift|libFoundation|lib_FoundationICU|libdispatch|libBlocksRuntime)")


def run(args, check=True, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


_outputs = {}


def render_text(scenario, namespace=NAMESPACE, helm="helm4"):
    """What `helm template` prints for a scenario (cached)."""
    key = (scenario, namespace, helm)
    if key not in _outputs:
        _outputs[key] = run([HELMS[helm], "template", RELEASE, CHART, "--namespace", namespace] + SCENARIOS[scenario]).stdout
    return _outputs[key]


def render(scenario, namespace=NAMESPACE, helm="helm4"):
    """The documents `helm template` renders for a scenario."""
    return [d for d in yaml.safe_load_all(render_text(scenario, namespace, helm)) if d]


def render_with(flags):
    """Documents of one extra rendering (Helm 4), for a setting no scenario covers."""
    out = run([HELM, "template", RELEASE, CHART, "--namespace", NAMESPACE] + flags).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def generates_certificates(scenario):
    """Whether the chart makes a CA and serving certificate (tls.mode helm, the default): the only
    part of a rendering that differs from one run to the next."""
    return any(d["kind"] == "Secret" and d.get("type") == "kubernetes.io/tls" for d in render(scenario))


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def one(docs, kind):
    found = find(docs, kind)
    if len(found) != 1:
        raise AssertionError(f"expected one {kind}, found {len(found)}")
    return found[0]


def scan_pod(docs):
    """The pod spec of the scan CronJob's Jobs."""
    return one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


# Flags of `signet serve` that only a server has (its port, certificates, connections, shutdown,
# logs, the in-process scans, console and history); every other flag the Deployment passes decides
# an image, and the scan CronJob passes it too.
SERVE_ONLY_FLAGS = {
    "port", "tls-cert", "tls-key", "client-ca", "client-allowed-names", "write-status", "max-admission-time",
    "shutdown-delay", "shutdown-grace-period", "max-connections", "max-connections-per-peer", "max-new-connections-per-peer", "reserved-peers",
    "reserved-connections", "max-body-bytes", "max-buffered-body-bytes", "max-buffered-body-bytes-per-peer",
    "reserved-body-bytes", "event-loops", "log-format", "log-level", "continuous-verification", "scan-interval",
    "scan-concurrency", "unverifiable-alert-after", "write-policy-reports", "leader-election", "leader-election-lease", "console-port",
    "console-auth-cache-ttl", "metrics-auth", "history-sqlite", "history-postgres-dsn-file", "history-max-age", "history-max-rows",
    "history-max-bytes",
    "require-pinned-digests",
}
# Volumes only the server mounts: its serving certificate, the client CA it checks, its history.
SERVE_ONLY_VOLUMES = {"tls", "client-ca", "history", "history-postgres"}
# Arguments only a scan passes.
SCAN_ONLY_ARGS = {"--audit-log=off", "--write-reports", "--concurrency=4"}


def parse_duration(text):
    m = re.fullmatch(r"(\d+)s", text)
    if not m:
        raise AssertionError(f"not a duration in seconds: {text}")
    return int(m.group(1))


def container_args(deployment):
    args = {}
    for arg in deployment["spec"]["template"]["spec"]["containers"][0]["args"]:
        if arg.startswith("--") and "=" in arg:
            k, v = arg[2:].split("=", 1)
            args[k] = v
    return args


def crd_files():
    return sorted(glob.glob(os.path.join(ROOT, "deploy", "crds", "*.yaml")) + glob.glob(os.path.join(ROOT, "deploy", "crds", "*.yml")))


def strict_schema(schema):
    """A CRD's openAPIV3Schema as a JSON schema that, like the API server's strict field
    validation, refuses fields the schema does not declare."""
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {k: strict_schema(v) for k, v in schema[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict_schema(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [strict_schema(s) for s in schema[key]]
    # metadata is validated by the API server's ObjectMeta, not the CRD schema.
    if "properties" in schema and "metadata" in schema["properties"] and "apiVersion" in schema["properties"]:
        schema["properties"]["metadata"] = {"type": "object"}
    return schema


@functools.lru_cache(maxsize=None)
def crd_schemas():
    """(apiVersion, kind) -> (scope, JSON schema) from deploy/crds/ (read once; not to be changed)."""
    schemas = {}
    for path in crd_files():
        for crd in yaml.safe_load_all(open(path)):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema and version.get("served", True):
                    schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = (spec["scope"], strict_schema(schema))
    return schemas


def validate_document(test, doc):
    """Checks one rendered document: Kubernetes kinds against the Kubernetes OpenAPI schemas
    (strict), signet's kinds against the CRDs of deploy/crds/ (strict), other foreign kinds for
    the fields they cannot do without."""
    key = (doc["apiVersion"], doc["kind"])
    if key in FOREIGN_KINDS:
        for field in FOREIGN_KINDS[key]:
            test.assertIn(field, doc["spec"])
    elif doc["apiVersion"].startswith("signet.dev/"):
        schemas = crd_schemas()
        test.assertIn(key, schemas, "no CRD serves this kind")
        scope, schema = schemas[key]
        test.assertEqual(scope == "Namespaced", "namespace" in doc["metadata"])
        jsonschema.validate(doc, schema)
    else:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


class ChartLint(unittest.TestCase):
    def test_helm_versions(self):
        self.assertRegex(run([HELM, "version", "--short"]).stdout, r"^v4\.")
        self.assertRegex(run([HELM3, "version", "--short"]).stdout, r"^v3\.")

    def test_helm_lint_strict(self):
        for helm, binary in HELMS.items():
            with self.subTest(helm=helm):
                run([binary, "lint", "--strict", CHART])

    def test_helm_lint_every_scenario(self):
        for helm, binary in HELMS.items():
            for name, flags in SCENARIOS.items():
                with self.subTest(helm=helm, scenario=name):
                    run([binary, "lint", "--strict", CHART, "--namespace", NAMESPACE] + flags)

    def test_schema_refuses_bad_values(self):
        bad = [["--set", "webhook.timeoutSeconds=31"], ["--set", "webhook.failurePolicy=Maybe"],
               ["--set", "tls.mode=none"], ["--set", "replicaCount=0"], ["--set", "unknownKey=1"],
               ["--set", "server.noMatchAction=permit"], ["--set", "image.digest=latest"],
               ["--set", "tls.mode=secret"],
               ["--set", "webhook.timeoutSeconds=30", "--set", "server.shutdownGracePeriodSeconds=20"],
               ["--set", "policies.source=files"], ["--set", "policies.maxBypassWindow=1d"],
               ["--set", "policies.clusterImagePolicies.Bad_Name.images[0].glob=x",
                "--set", "policies.clusterImagePolicies.Bad_Name.authorities[0].static.action=pass"],
               ["--set-json", 'policies.clusterImagePolicies.no-authorities={"images":[{"glob":"x"}]}'],
               ["--set-json", 'policies.clusterImagePolicies.no-images={"images":[],"authorities":[{"static":{"action":"pass"}}]}'],
               ["--set", "networkPolicy.registryPorts=null"], ["--set-json", "networkPolicy.registryPorts=[]"],
               ["--set-json", "networkPolicy.apiServerPorts=[]"],
               ["--set", "policies.source=configMap", "--set", "rbac.pullSecrets.enabled=true"],
               ["--set", "webhook.url=http://127.0.0.1:9443/validate"], ["--set", "webhook.url=https://127.0.0.1/validate?x=1"],
               ["--set", "server.clientAuth.enabled=true"], ["--set", "server.clientAuth.allowedNames={a,b}", "--set", "server.clientAuth.x=1"],
               ["--set", "networkPolicy.controlPlaneCIDRs={10.0.0.1}"],
               ["--set", "enforcement.mode=strict"], ["--set", "webhook.optOutGroup=system:authenticated"],
               ["--set", "webhook.optOutGroup=a b"],
               ["--set", "history.enabled=true", "--set", "history.sqlite.volume=persistentVolumeClaim", "--set", "history.sqlite.existingClaim=c"],
               ["--set", "history.enabled=true", "--set", "replicaCount=1", "--set", "history.sqlite.volume=persistentVolumeClaim"],
               ["--set", "history.enabled=true", "--set", "history.store=postgres"],
               ["--set", "history.store=mysql"], ["--set", "history.maxRows=0"], ["--set", "history.maxAge=30d"],
               # What signet refuses at start-up (the pod would crash-loop) is refused at install.
               ["--set", "server.connections.max=2000000"], ["--set", "continuousVerification.concurrency=5000"],
               ["--set", "continuousVerification.cronJob.concurrency=5000"]]
        for helm, binary in HELMS.items():
            for flags in bad:
                with self.subTest(helm=helm, flags=flags):
                    result = run([binary, "template", RELEASE, CHART, "--namespace", NAMESPACE] + flags, check=False)
                    self.assertNotEqual(result.returncode, 0, result.stdout[:400])
                    self.assertNotIn("runtime error", result.stderr, "refused by the schema or a check, not by a crash")
                    self.assertNotIn("every Pod there would run unchecked", result.stderr, "refused for its values, not its namespace")

    def test_values_documented_line_by_line(self):
        lines = open(os.path.join(CHART, "values.yaml")).read().split("\n")
        # Blocks copied verbatim into Kubernetes objects are documented as a whole.
        verbatim = ("resources", "podSecurityContext", "securityContext", "labels", "clusterImagePolicies")
        stack = []
        for number, line in enumerate(lines):
            m = re.match(r"^( *)([A-Za-z][\w.-]*):", line)
            if not m:
                continue
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            inside_verbatim = any(key in verbatim for _, key in stack)
            stack.append((indent, m.group(2)))
            if inside_verbatim:
                continue
            previous = lines[number - 1].strip() if number else ""
            self.assertTrue(previous.startswith("#"), f"values.yaml line {number + 1} ({line.strip()}) has no comment above it")

    def test_values_schema_is_valid_json_schema(self):
        schema = json.load(open(os.path.join(CHART, "values.schema.json")))
        jsonschema.Draft7Validator.check_schema(schema)
        jsonschema.validate(yaml.safe_load(open(os.path.join(CHART, "values.yaml"))), schema)

    def test_policy_values_documented_in_the_schema(self):
        schema = json.load(open(os.path.join(CHART, "values.schema.json")))["properties"]["policies"]
        self.assertTrue(schema.get("description"))
        for key, node in schema["properties"].items():
            with self.subTest(key=key):
                self.assertTrue(node.get("description"), f"policies.{key} has no description in values.schema.json")


class HelmVersions(unittest.TestCase):
    """Helm 3 and Helm 4 render the same chart: the same documents, byte for byte, where the chart
    is deterministic; where the chart generates a CA and certificate (tls.mode helm), the same
    documents once the generated key material is set aside. Helm 4 orders
    ValidatingWebhookConfiguration among the kinds it knows and Helm 3 among the others, so the
    documents are compared without their order."""

    @staticmethod
    def documents(text):
        return sorted(chunk.strip("\n") for chunk in ("\n" + text).split("\n---\n") if chunk.strip())

    @staticmethod
    def without_generated_keys(docs):
        docs = json.loads(json.dumps(docs))
        for doc in docs:
            if doc["kind"] == "Secret" and doc.get("type") == "kubernetes.io/tls":
                doc["data"] = {key: "<generated>" for key in doc["data"]}
            for webhook in doc.get("webhooks") or []:
                if "caBundle" in webhook["clientConfig"]:
                    webhook["clientConfig"]["caBundle"] = "<generated>"
        return sorted(docs, key=lambda d: json.dumps(d, sort_keys=True))

    def test_same_rendering_under_helm_3_and_helm_4(self):
        deterministic = 0
        for name in SCENARIOS:
            with self.subTest(scenario=name):
                if generates_certificates(name):
                    self.assertEqual(self.without_generated_keys(render(name, helm="helm3")),
                                     self.without_generated_keys(render(name, helm="helm4")))
                else:
                    deterministic += 1
                    self.assertEqual(self.documents(render_text(name, helm="helm3")), self.documents(render_text(name, helm="helm4")))
        self.assertGreaterEqual(deterministic, 3, "the cert-manager and existing-Secret scenarios compare byte for byte")


class RenderedDocuments(unittest.TestCase):
    def test_every_document_matches_the_kubernetes_schemas(self):
        self.assertTrue(crd_schemas(), "deploy/crds/ holds the CRDs")
        for helm in HELMS:
            for name in SCENARIOS:
                for doc in render(name, helm=helm):
                    with self.subTest(helm=helm, scenario=name, kind=doc["kind"], name=doc["metadata"]["name"]):
                        validate_document(self, doc)

    def test_namespaced_objects_are_in_the_release_namespace(self):
        cluster_kinds = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
                         "MutatingWebhookConfiguration", "ClusterImagePolicy", "CustomResourceDefinition"}
        for name in SCENARIOS:
            for doc in render(name):
                if doc["kind"] in cluster_kinds:
                    self.assertNotIn("namespace", doc["metadata"])
                elif doc["kind"] not in ("Role", "RoleBinding"):
                    self.assertEqual(doc["metadata"]["namespace"], NAMESPACE, doc["kind"])

    def test_the_default_namespace_is_refused(self):
        # The webhooks leave the release's namespace out: a release in default (helm's namespace
        # when none is given) would leave every Pod there unchecked.
        for helm, binary in HELMS.items():
            with self.subTest(helm=helm):
                result = run([binary, "template", RELEASE, CHART, "--namespace", "default"], check=False)
                self.assertNotEqual(result.returncode, 0, result.stdout[:400])
                self.assertIn("every Pod there would run unchecked", result.stderr)
                result = run([binary, "template", RELEASE, CHART], check=False)
                self.assertNotEqual(result.returncode, 0, result.stdout[:400])
                self.assertIn("every Pod there would run unchecked", result.stderr)

    def test_no_duplicate_objects(self):
        for name in SCENARIOS:
            keys = [(d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in render(name)]
            self.assertEqual(len(keys), len(set(keys)), name)

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_serve_knows_every_rendered_flag(self):
        """Each flag the Deployment passes is one `signet serve` defines (a misspelt flag stops
        the pod at start)."""
        known = set(re.findall(r"^\s+(--[a-z0-9-]+)", run([SIGNET, "serve", "--help"]).stdout, re.M))
        self.assertIn("--policy-source", known)
        for helm in HELMS:
            for name in SCENARIOS:
                args = one(render(name, helm=helm), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
                with self.subTest(helm=helm, scenario=name):
                    self.assertEqual(args[0], "serve")
                    for arg in args[1:]:
                        self.assertIn(arg.split("=", 1)[0], known)


    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_scan_knows_every_flag_of_the_cronjob(self):
        """In every scenario with the scan CronJob, it passes only flags `signet scan` defines (a
        misspelt or serve-only flag fails every Job), and mounts the alert Secret it names."""
        known = set(re.findall(r"^\s+(--[a-z0-9-]+)", run([SIGNET, "scan", "--help"]).stdout, re.M))
        self.assertIn("--sigstore-tuf-mirror", known)
        scenarios = [name for name in SCENARIOS if find(render(name), "CronJob")]
        self.assertTrue({"continuous", "scan-mounted-trust", "scan-registry-access", "scan-sigstore-tuf", "scan-api-trust"} <= set(scenarios))
        for helm in HELMS:
            for name in scenarios:
                args = scan_pod(render(name, helm=helm))["containers"][0]["args"]
                with self.subTest(helm=helm, scenario=name):
                    self.assertEqual(args[0], "scan")
                    for arg in args[1:]:
                        self.assertIn(arg.split("=", 1)[0], known)
        docs = render("continuous")
        pod = scan_pod(docs)
        args = pod["containers"][0]["args"]
        self.assertIn("--write-reports", args)
        self.assertIn({"name": "alerts", "secret": {"secretName": "alert-hooks"}}, pod["volumes"])
        crds = {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
        self.assertEqual(crds, {"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"})
        rules = [r for d in docs if d["kind"] == "ClusterRole" for r in d["rules"]]
        self.assertIn({"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}, rules)
        self.assertIn({"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports", "clusterpolicyreports"],
                       "verbs": ["get", "list", "create", "update"]}, rules)
        serve = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--continuous-verification=true", serve)
        self.assertIn("--alert-format=slack", serve)

    def test_scan_runs_as_a_service_account_of_its_own(self):
        """The scan CronJob's Pods run as `<fullname>-scan`, granted what a scan reads (policies,
        namespaces, running Pods, owners, the named Secrets and ConfigMaps, pull Secrets) and
        writes (PolicyReports), and none of what the webhook alone does: status, Events, the
        leader Lease, the console's TokenReviews and SubjectAccessReviews. The webhook, for its
        part, lists no Pods for a CronJob it does not run. Without serviceAccount.create, the
        scan runs as the account named for it, else the webhook's (which then lists Pods)."""
        docs = render_with(SCENARIOS["scan-api-trust"] + [
            "--set", "console.enabled=true", "--set", "continuousVerification.enabled=true", "--set", "policyReports.enabled=true",
            "--set", "rbac.pullSecrets.enabled=true"])
        scan_account = f"{RELEASE}-scan"
        self.assertEqual(scan_pod(docs)["serviceAccountName"], scan_account)
        self.assertEqual({a["metadata"]["name"] for a in find(docs, "ServiceAccount")}, {RELEASE, scan_account})
        may = [("GET", "/apis/signet.dev/v1alpha1/clusterimagepolicies", {"watch": ["1"]}),
               ("GET", "/api/v1/namespaces", {}), ("GET", "/api/v1/pods", {"watch": ["1"]}),
               ("GET", "/apis/apps/v1/namespaces/team-a/replicasets/web-1", {}),
               ("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/release-keys", {}),
               ("GET", "/api/v1/namespaces/team-a/secrets/deploy-key", {}),
               ("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps/notation-trust", {}),
               ("GET", "/api/v1/namespaces/team-a/secrets/regcred", {}),
               ("GET", "/api/v1/namespaces/team-a/serviceaccounts/builder", {}),
               ("PUT", "/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-a/policyreports/signet-image-signatures", {})]
        webhook_only = [("PATCH", "/apis/signet.dev/v1alpha1/clusterimagepolicies/release/status", {}),
                        ("POST", "/api/v1/namespaces/team-a/events", {}),
                        ("PUT", f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{RELEASE}-continuous-verification", {}),
                        ("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {}),
                        ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {})]
        for method, path, query in may + webhook_only:
            with self.subTest(method=method, path=path):
                self.assertEqual(granted(docs, method, path, query, account=scan_account), (method, path, query) in may)
                self.assertTrue(granted(docs, method, path, query), "the webhook keeps what it had")

        only_cronjob = render("scan-api-trust")
        self.assertFalse(granted(only_cronjob, "GET", "/api/v1/pods", {}), "the webhook lists no Pods for the CronJob")
        self.assertTrue(granted(only_cronjob, "GET", "/api/v1/pods", {}, account=scan_account))
        # Without the chart's service accounts, or without its RBAC (whoever binds the webhook's
        # account binds no other), the scan runs as the webhook's account; a name given is used
        # as it is, not created, and bound to the scan's rights when the chart makes RBAC.
        for flags, expected, accounts in (
                (["--set", "serviceAccount.create=false"], "default", set()),
                (["--set", "rbac.create=false"], RELEASE, {RELEASE}),
                (["--set", "serviceAccount.create=false", "--set", "continuousVerification.cronJob.serviceAccountName=scanner"], "scanner", set()),
                (["--set", "continuousVerification.cronJob.serviceAccountName=scanner"], "scanner", {RELEASE})):
            docs = render_with(SCENARIOS["scan-api-trust"] + flags)
            with self.subTest(flags=flags):
                self.assertEqual(scan_pod(docs)["serviceAccountName"], expected)
                self.assertEqual({a["metadata"]["name"] for a in find(docs, "ServiceAccount")}, accounts)
                if [r for r in find(docs, "ClusterRole") if r["metadata"]["name"] != "signet-metrics-reader"]:
                    webhook = one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
                    self.assertEqual(granted(docs, "GET", "/api/v1/pods", {}), expected == webhook,
                                     "the webhook's account lists Pods only when the scan runs as it")
                    self.assertTrue(granted(docs, "GET", "/api/v1/pods", {}, account=expected))
                    self.assertTrue(granted(docs, "GET", "/api/v1/namespaces/team-a/secrets/deploy-key", {}, account=expected))

    def test_scan_decides_with_the_webhooks_trust_material(self):
        """The scan CronJob decides as admission would: in every scenario that enables it, its
        flags are the Deployment's but for those only a server has, and it mounts every volume
        the Deployment mounts but the server's own, from the same sources, at the same paths."""
        for name in [name for name in SCENARIOS if find(render(name), "CronJob")]:
            docs = render(name)
            webhook = one(docs, "Deployment")["spec"]["template"]["spec"]
            scan = scan_pod(docs)
            served, scanned = webhook["containers"][0], scan["containers"][0]
            with self.subTest(scenario=name):
                shared = [arg for arg in served["args"][1:] if arg.split("=", 1)[0][2:] not in SERVE_ONLY_FLAGS]
                self.assertEqual([arg for arg in scanned["args"] if arg in shared], shared)
                self.assertEqual(set(scanned["args"][1:]) - set(shared), SCAN_ONLY_ARGS & set(scanned["args"]))
                mounts = [m for m in served["volumeMounts"] if m["name"] not in SERVE_ONLY_VOLUMES]
                self.assertEqual(sorted(scanned["volumeMounts"], key=lambda m: m["name"]), sorted(mounts, key=lambda m: m["name"]))
                volumes = {v["name"]: v for v in webhook["volumes"]}
                self.assertEqual(sorted(scan["volumes"], key=lambda v: v["name"]), sorted((volumes[m["name"]] for m in mounts), key=lambda v: v["name"]))
                self.assertEqual(scanned.get("env", []), [e for e in served.get("env", []) if e["name"] not in ("SIGNET_NAMESPACE", "SIGNET_POD_NAME")])
                self.assertEqual(scan.get("imagePullSecrets"), webhook.get("imagePullSecrets"))
                self.assertEqual(scanned["securityContext"], served["securityContext"])
                # It reads the cluster through the API, as the webhook does: the ServiceAccount
                # itself mounts no token, so the Pod asks for one (without it every scan failed).
                self.assertIs(scan.get("automountServiceAccountToken"), True)
                self.assertIs(webhook.get("automountServiceAccountToken"), True)
        # What each scenario sets reaches the scan, named as the webhook names it.
        def scan_of(name):
            pod = scan_pod(render(name))
            return container_args({"spec": {"template": {"spec": pod}}}), {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}, pod
        args, mounts, _ = scan_of("scan-mounted-trust")
        self.assertNotIn("key-secrets-source", args)
        self.assertEqual(mounts["key-secret-release-keys"], f"/etc/signet/key-secrets/{NAMESPACE}/release-keys")
        self.assertEqual(mounts["key-secret-build-keys"], f"/etc/signet/key-secrets/{NAMESPACE}/build-keys")
        self.assertEqual(mounts["trust-configmap-notation-trust"], f"/etc/signet/configmaps/{NAMESPACE}/notation-trust")
        args, mounts, pod = scan_of("scan-registry-access")
        self.assertEqual(args["registry-ca-bundle"], mounts["registry-ca"] + "/bundle.pem")
        self.assertEqual(args["docker-config"], mounts["docker-config"] + "/config.json")
        self.assertEqual(args["allow-insecure-registry"], "registry.local:5000")
        self.assertEqual(mounts["proxy-ca"], "/etc/ssl/proxy")
        self.assertEqual(pod["imagePullSecrets"], [{"name": "regcred"}])
        self.assertEqual(pod["containers"][0]["env"], [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}])
        args, mounts, pod = scan_of("scan-sigstore-tuf")
        self.assertIn("--sigstore-tuf", pod["containers"][0]["args"])
        self.assertEqual(args["sigstore-tuf-mirror"], "https://tuf.mirror.internal")
        self.assertEqual(args["sigstore-tuf-cache-dir"], mounts["sigstore-tuf-cache"])
        self.assertEqual({v["name"]: v for v in pod["volumes"]}["sigstore-tuf-cache"]["emptyDir"], {"sizeLimit": "32Mi"})
        self.assertEqual(args["sigstore-tuf-ca-bundle"], mounts["sigstore-tuf-ca"] + "/ca.crt")
        args, mounts, _ = scan_of("scan-api-trust")
        self.assertEqual(args["key-secrets-source"], "api")
        self.assertFalse([m for m in mounts if m.startswith(("key-secret-", "trust-configmap-"))])

    def test_report_crds_only_when_asked(self):
        """The PolicyReport CRDs are rendered with policyReports.installCRDs (the default) and not
        without it, nor when reports are off; the report RBAC follows policyReports.enabled."""
        crds = lambda docs: {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"}
        self.assertEqual(crds(render("continuous")), {"policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"})
        without = render_with(SCENARIOS["continuous"] + ["--set", "policyReports.installCRDs=false"])
        self.assertEqual(crds(without), set())
        self.assertIn({"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports", "clusterpolicyreports"],
                       "verbs": ["get", "list", "create", "update"]}, [r for d in without if d["kind"] == "ClusterRole" for r in d["rules"]])
        self.assertEqual(crds(render_with(["--set", "policyReports.installCRDs=true"])), set())

    def test_leader_election_is_granted_its_one_lease(self):
        """With continuous verification the replicas elect a leader over one Lease: the Role in
        the release namespace may create Leases (a create has no name to limit) and get and
        update that Lease only; the Deployment names it and gives each replica its Pod name."""
        docs = render("continuous")
        lease = f"{RELEASE}-continuous-verification"
        role = one([d for d in docs if d["metadata"]["name"].endswith("-leader-election")], "Role")
        self.assertEqual(role["metadata"]["namespace"], NAMESPACE)
        self.assertEqual(role["rules"], [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [lease], "verbs": ["get", "update"]},
        ])
        binding = one([d for d in docs if d["metadata"]["name"].endswith("-leader-election")], "RoleBinding")
        self.assertEqual(binding["roleRef"]["name"], role["metadata"]["name"])
        self.assertEqual([(s["kind"], s["namespace"]) for s in binding["subjects"]], [("ServiceAccount", NAMESPACE)])
        container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        self.assertIn(f"--leader-election-lease={lease}", container["args"])
        env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
        self.assertEqual((env["SIGNET_POD_NAME"], env["SIGNET_NAMESPACE"]), ("metadata.name", "metadata.namespace"))
        self.assertEqual([d for d in render("defaults") if d["kind"] in ("Role", "RoleBinding") and "leader" in d["metadata"]["name"]], [])

    def test_dashboard_and_rules_ship_as_written(self):
        """The dashboard ConfigMap carries the sidecar label and the JSON file unchanged; the
        PrometheusRule holds every rule of files/prometheus-rules.yaml with the release's job."""
        docs = render("continuous")
        dashboard = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
        self.assertEqual(dashboard["metadata"]["labels"]["grafana_dashboard"], "1")
        with open(os.path.join(ROOT, "charts", "signet", "files", "grafana-dashboard.json")) as f:
            self.assertEqual(json.loads(dashboard["data"]["signet.json"]), json.load(f))
        rules = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
        with open(os.path.join(ROOT, "charts", "signet", "files", "prometheus-rules.yaml")) as f:
            self.assertEqual([r["alert"] for r in rules], [r["alert"] for r in yaml.safe_load(f)])
        unreachable = next(r for r in rules if r["alert"] == "SignetUnreachable")
        self.assertNotIn("SIGNET_JOB", unreachable["expr"])
        stalled = next(r for r in rules if r["alert"] == "SignetContinuousVerificationStalled")
        self.assertTrue(stalled["expr"].endswith("> 3600"), stalled["expr"])
        self.assertNotIn("SIGNET_", yaml.safe_dump(rules))
        self.assertEqual(find(render("defaults"), "PrometheusRule"), [])


class Workload(unittest.TestCase):
    def test_deployment_shape(self):
        deployment = one(render("defaults"), "Deployment")
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        self.assertEqual(spec["replicas"], 3)
        self.assertEqual(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        self.assertIn("podAntiAffinity", pod["affinity"])
        container = pod["containers"][0]
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            self.assertEqual(container[probe]["httpGet"]["scheme"], "HTTPS")
        self.assertIn("cpu", container["resources"]["requests"])
        self.assertIn("memory", container["resources"]["requests"])
        self.assertIn("memory", container["resources"]["limits"])
        self.assertEqual(container["args"][0], "serve")

    def test_hard_anti_affinity(self):
        pod = one(render("hard-anti-affinity"), "Deployment")["spec"]["template"]["spec"]
        self.assertIn("requiredDuringSchedulingIgnoredDuringExecution", pod["affinity"]["podAntiAffinity"])

    def test_restricted_security_context(self):
        for name in SCENARIOS:
            pod = one(render(name), "Deployment")["spec"]["template"]["spec"]
            container = pod["containers"][0]
            psc, sc = pod["securityContext"], container["securityContext"]
            with self.subTest(scenario=name):
                self.assertTrue(psc["runAsNonRoot"])
                self.assertIsInstance(psc["runAsUser"], int)
                self.assertNotEqual(psc["runAsUser"], 0)
                self.assertEqual(psc["seccompProfile"]["type"], "RuntimeDefault")
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                self.assertNotIn("add", sc["capabilities"])
                self.assertFalse(sc.get("privileged", False))
                self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
                mounts = {m["mountPath"] for m in container["volumeMounts"]}
                self.assertIn("/tmp", mounts, "a read-only root filesystem needs a writable /tmp")

    def test_termination_grace_covers_the_drain(self):
        for name in SCENARIOS:
            deployment = one(render(name), "Deployment")
            args = container_args(deployment)
            drain = parse_duration(args["shutdown-delay"]) + parse_duration(args["shutdown-grace-period"])
            with self.subTest(scenario=name):
                self.assertGreater(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], drain)

    def test_deadline_fits_the_webhook_timeout(self):
        for name in SCENARIOS:
            docs = render(name)
            args = container_args(one(docs, "Deployment"))
            deadline = parse_duration(args["max-admission-time"])
            webhooks = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
            webhooks += [w for d in find(docs, "MutatingWebhookConfiguration") for w in d["webhooks"]]
            for webhook in webhooks:
                with self.subTest(scenario=name, webhook=webhook["name"]):
                    self.assertLessEqual(webhook["timeoutSeconds"], 30)
                    self.assertLess(deadline, webhook["timeoutSeconds"])
                    # Requests in flight at shutdown may run for the whole deadline.
                    self.assertGreaterEqual(parse_duration(args["shutdown-grace-period"]), deadline)

    def test_replicas_and_disruption_budget(self):
        docs = render("defaults")
        pdb = one(docs, "PodDisruptionBudget")
        labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()))
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        single = render("one-replica")
        self.assertEqual(one(single, "Deployment")["spec"]["replicas"], 1)
        self.assertEqual(find(single, "PodDisruptionBudget"), [], "a PDB on one replica would block every drain")

    def test_service_reaches_the_pods(self):
        docs = render("defaults")
        service = one(docs, "Service")
        deployment = one(docs, "Deployment")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(all(labels.get(k) == v for k, v in service["spec"]["selector"].items()))
        port_names = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
        self.assertIn(service["spec"]["ports"][0]["targetPort"], port_names)

    def test_policy_sources(self):
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        self.assertEqual(values["policies"]["source"], "kubernetes", "the cluster's resources are the source of truth by default")
        wanted = values["policies"]["clusterImagePolicies"]
        self.assertTrue(wanted)

        # kubernetes: list and watch with the API token; the values' policies are objects of the release.
        docs = render("defaults")
        deployment = one(docs, "Deployment")
        args = container_args(deployment)
        self.assertEqual(args["policy-source"], "kubernetes")
        self.assertNotIn("policy-dir", args)
        self.assertEqual(args["write-status"], "true")
        self.assertEqual(args["max-bypass-window"], values["policies"]["maxBypassWindow"])
        self.assertEqual(args["max-exception-window"], "90d")
        self.assertEqual(args["namespace-opt-out-label"], values["webhook"]["optOutLabel"])
        self.assertTrue(deployment["spec"]["template"]["spec"]["automountServiceAccountToken"])
        self.assertNotIn("policies", {m["name"] for m in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]})
        self.assertFalse([d for d in find(docs, "ConfigMap") if d["metadata"]["name"].endswith("-policies")])
        policies = {p["metadata"]["name"]: p for p in find(docs, "ClusterImagePolicy")}
        self.assertEqual(sorted(policies), sorted(wanted))
        for name, policy in policies.items():
            self.assertEqual(policy["apiVersion"], "signet.dev/v1alpha1")
            self.assertEqual(policy["spec"], wanted[name])
            labels = policy["metadata"]["labels"]
            self.assertEqual(labels["signet.dev/chart-release"], RELEASE)
            self.assertEqual(labels["app.kubernetes.io/instance"], RELEASE)
            selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
            self.assertFalse(all(labels.get(k) == v for k, v in selector.items()), "a policy must not look like a webhook pod")
        self.assertEqual(container_args(one(render("one-replica"), "Deployment"))["policy-source"], "kubernetes")

        # Values files merge by name: a default removed with null, another policy added.
        custom = {p["metadata"]["name"]: p for p in find(render("custom-policies"), "ClusterImagePolicy")}
        example = yaml.safe_load(open(os.path.join(ROOT, "policies", "examples", "cosign-key.yaml")))
        self.assertEqual(list(custom), [example["metadata"]["name"]])
        self.assertEqual(custom[example["metadata"]["name"]]["spec"], example["spec"])

        # configMap: the same policies as files of a mounted ConfigMap; no API token, no objects.
        docs = render("configmap-source")
        deployment = one(docs, "Deployment")
        args = container_args(deployment)
        self.assertEqual(args["policy-source"], "directory")
        self.assertNotIn("write-status", args)
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        self.assertEqual(args["policy-dir"], mounts["policies"])
        configmap = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].endswith("-policies")]
        self.assertEqual(len(configmap), 1)
        self.assertEqual({v["name"]: v.get("configMap", {}).get("name") for v in pod["volumes"]}["policies"], configmap[0]["metadata"]["name"])
        files = {name: yaml.safe_load(text) for name, text in configmap[0]["data"].items()}
        self.assertEqual(sorted(files), sorted(f"{name}.yaml" for name in wanted))
        for name, spec in wanted.items():
            self.assertEqual(files[f"{name}.yaml"], {"apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy",
                                                      "metadata": {"name": name}, "spec": spec})
        self.assertEqual(find(docs, "ClusterImagePolicy"), [])
        # The API token is mounted only when signet talks to the API server.
        self.assertFalse(pod["automountServiceAccountToken"])

    def test_service_account_token_is_not_mounted_by_default(self):
        for name in SCENARIOS:
            for account in find(render(name), "ServiceAccount"):
                with self.subTest(scenario=name, account=account["metadata"]["name"]):
                    self.assertFalse(account["automountServiceAccountToken"], "only the pod that needs it mounts the token")

    def test_registry_access(self):
        default_args = container_args(one(render("defaults"), "Deployment"))
        for flag in ("registry-ca-bundle", "allow-insecure-registry", "docker-config"):
            self.assertNotIn(flag, default_args)
        deployment = one(render("registry-access"), "Deployment")
        args = container_args(deployment)
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(args["registry-ca-bundle"], mounts["registry-ca"] + "/ca.crt")
        self.assertEqual(volumes["registry-ca"]["configMap"]["name"], "registry-ca")
        self.assertEqual(args["allow-insecure-registry"], "registry.local:5000")
        self.assertEqual(args["docker-config"], mounts["docker-config"] + "/config.json")
        self.assertEqual(volumes["docker-config"]["secret"]["items"], [{"key": ".dockerconfigjson", "path": "config.json"}])
        self.assertEqual(mounts["key-secret-release-keys"], f"/etc/signet/key-secrets/{NAMESPACE}/release-keys")

    def test_sigstore_tuf(self):
        """Off by default (the embedded root, no outside traffic); on, the updater gets its mirror,
        interval, a cache that outlives a container restart, and the mirror's CA bundle."""
        default_raw = one(render("defaults"), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertFalse(any(flag.startswith("--sigstore-tuf") for flag in default_raw))
        deployment = one(render("sigstore-tuf"), "Deployment")
        args = container_args(deployment)
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertIn("--sigstore-tuf", pod["containers"][0]["args"])
        self.assertEqual(args["sigstore-tuf-mirror"], "https://tuf.mirror.internal")
        self.assertEqual(args["sigstore-tuf-refresh-interval"], "1h")
        self.assertEqual(args["sigstore-tuf-cache-dir"], mounts["sigstore-tuf-cache"])
        self.assertEqual(volumes["sigstore-tuf-cache"]["emptyDir"], {"sizeLimit": "16Mi"})
        self.assertEqual(args["sigstore-tuf-ca-bundle"], mounts["sigstore-tuf-ca"] + "/ca.crt")
        self.assertEqual(volumes["sigstore-tuf-ca"]["configMap"]["name"], "tuf-ca")
        public = container_args(one(render_with(["--set", "sigstoreTUF.enabled=true"]), "Deployment"))
        self.assertNotIn("sigstore-tuf-mirror", public)  # the public Sigstore repository, signet's default

    def test_history(self):
        """Off by default; sqlite on an emptyDir (or one replica's claim) with the retention
        flags; postgres with the URI from a Secret file, never in an argument or variable."""
        default = one(render("defaults"), "Deployment")["spec"]["template"]["spec"]
        self.assertFalse(any(flag.startswith("--history") for flag in default["containers"][0]["args"]))
        deployment = one(render("history-sqlite"), "Deployment")
        args = container_args(deployment)
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(args["history-sqlite"], mounts["history"] + "/history.sqlite")
        self.assertEqual(volumes["history"]["emptyDir"], {"sizeLimit": "1Gi"})
        self.assertEqual(args["history-max-age"], "168h")
        self.assertEqual(args["history-max-rows"], "5000")
        # The file is kept within a byte limit well below the emptyDir's (three quarters of
        # sizeLimit unless set): outgrown, the pod is evicted.
        self.assertEqual(args["history-max-bytes"], "805306368")
        small = container_args(one(render_with(SCENARIOS["history-sqlite"] + ["--set", "history.sqlite.sizeLimit=256Mi"]), "Deployment"))
        self.assertEqual(small["history-max-bytes"], str(192 << 20))
        chosen = container_args(one(render_with(SCENARIOS["history-sqlite"] + ["--set", "history.sqlite.maxBytes=104857600"]), "Deployment"))
        self.assertEqual(chosen["history-max-bytes"], "104857600")
        refused = run([HELM, "template", RELEASE, CHART, "--namespace", NAMESPACE] + SCENARIOS["history-sqlite"]
                      + ["--set", "history.sqlite.maxBytes=1073741824"], check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("history.sqlite.maxBytes must be well below", refused.stderr)
        claim = one(render("history-sqlite-claim"), "Deployment")["spec"]["template"]["spec"]
        self.assertNotIn("history-max-bytes", container_args(one(render("history-sqlite-claim"), "Deployment")), "a claim's size is not known")
        self.assertEqual({v["name"]: v for v in claim["volumes"]}["history"]["persistentVolumeClaim"], {"claimName": "signet-history"})
        deployment = one(render("history-postgres"), "Deployment")
        args = container_args(deployment)
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertNotIn("history-sqlite", args)
        self.assertNotIn("history-max-bytes", args)
        self.assertEqual(args["history-postgres-dsn-file"], mounts["history-postgres"]["mountPath"] + "/dsn")
        self.assertTrue(mounts["history-postgres"]["readOnly"])
        self.assertEqual(volumes["history-postgres"]["secret"]["secretName"], "signet-history-dsn")
        self.assertEqual(args["history-max-rows"], "1000000")

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_chart_policies_pass_signet_lint(self):
        """The release's ClusterImagePolicies skip the webhook's review (they are created with the
        release), so they are checked here as the webhook would: `signet lint`."""
        for name in ("defaults", "custom-policies"):
            policies = find(render(name), "ClusterImagePolicy")
            with self.subTest(scenario=name), tempfile.TemporaryDirectory() as directory:
                path = os.path.join(directory, "policies.yaml")
                with open(path, "w") as f:
                    yaml.safe_dump_all(policies, f)
                result = run([SIGNET, "lint", path], check=False)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class Webhook(unittest.TestCase):
    def webhooks(self, scenario):
        return {w["name"]: w for w in one(render(scenario), "ValidatingWebhookConfiguration")["webhooks"]}

    def test_admission_settings(self):
        for name in SCENARIOS:
            for webhook in self.webhooks(name).values():
                with self.subTest(scenario=name, webhook=webhook["name"]):
                    self.assertEqual(webhook["admissionReviewVersions"], ["v1"])
                    self.assertEqual(webhook["sideEffects"], "None")
                    expected = "Ignore" if name == "failure-ignore" else "Fail"
                    self.assertEqual(webhook["failurePolicy"], expected)
                    if name == "webhook-url":
                        continue  # test_url_mode
                    self.assertNotIn("url", webhook["clientConfig"])
                    service = webhook["clientConfig"]["service"]
                    self.assertEqual(service["path"], "/validate")
                    self.assertEqual(service["namespace"], NAMESPACE)
                    svc = one(render(name), "Service")
                    self.assertEqual(service["name"], svc["metadata"]["name"])
                    self.assertEqual(service["port"], svc["spec"]["ports"][0]["port"])

    def test_mutating_webhook_pins_pods_only(self):
        """webhook.pinDigests (on by default): a mutating webhook for Pods and their ephemeral
        containers only (controllers are never mutated), at /mutate of the same Service or URL,
        with the validating webhook's CA, namespaces, failure policy and timeout, and reinvoked
        when a later mutating webhook changes the Pod. webhook.validatePolicyResources (on by
        default): a second one that records who creates and changes exceptions and bypasses."""
        for name in SCENARIOS:
            docs = render(name)
            mutating = find(docs, "MutatingWebhookConfiguration")
            with self.subTest(scenario=name):
                self.assertEqual(len(mutating), 1)
                by_name = {w["name"]: w for w in mutating[0]["webhooks"]}
                images = self.webhooks(name)["images.signet.dev"]
                attribution = by_name.pop("attribution.signet.dev")
                self.assertEqual(attribution["sideEffects"], "None")
                self.assertNotIn("namespaceSelector", attribution)
                self.assertEqual(attribution["failurePolicy"], images["failurePolicy"])
                self.assertEqual(sorted(r["resources"][0] for r in attribution["rules"]), ["emergencybypasses", "policyexceptions"])
                for rule in attribution["rules"]:
                    self.assertEqual((rule["apiGroups"], rule["operations"]), (["signet.dev"], ["CREATE", "UPDATE"]))
                self.assertEqual(attribution["clientConfig"], by_name.get("pin.images.signet.dev", attribution)["clientConfig"])
                # /validate denies a verified image that arrives unpinned exactly when /mutate pins.
                pinned_required = container_args(one(docs, "Deployment")).get("require-pinned-digests")
                if name == "no-pinning":
                    self.assertEqual(by_name, {})
                    self.assertIsNone(pinned_required)
                    continue
                self.assertEqual(pinned_required, "true")
                webhook = by_name.pop("pin.images.signet.dev")
                self.assertEqual(by_name, {})
                self.assertEqual(webhook["reinvocationPolicy"], "IfNeeded")
                self.assertEqual(webhook["sideEffects"], "None")
                for field in ("failurePolicy", "timeoutSeconds", "namespaceSelector", "matchPolicy", "admissionReviewVersions"):
                    self.assertEqual(webhook[field], images[field], field)
                self.assertEqual(webhook["rules"], [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                    "resources": ["pods", "pods/ephemeralcontainers"], "scope": "Namespaced"}])
                self.assertEqual(webhook["clientConfig"].get("caBundle"), images["clientConfig"].get("caBundle"))
                if name == "webhook-url":
                    self.assertEqual(webhook["clientConfig"]["url"], "https://127.0.0.1:9443/mutate")
                else:
                    self.assertEqual(webhook["clientConfig"]["service"], dict(images["clientConfig"]["service"], path="/mutate"))
                validating = one(docs, "ValidatingWebhookConfiguration")["metadata"].get("annotations")
                self.assertEqual(mutating[0]["metadata"].get("annotations"), validating)
        neither = render_with(["--set", "webhook.pinDigests=false", "--set", "webhook.validatePolicyResources=false"])
        self.assertEqual(find(neither, "MutatingWebhookConfiguration"), [])
        refused = run([HELM, "template", "signet", CHART, "--namespace", NAMESPACE, "--set", "webhook.url=https://127.0.0.1:9443/hook"], check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("webhook.url must end in /validate", refused.stderr)

    def test_approver_and_break_glass_roles(self):
        """ClusterRoles to grant the right to exempt (bound per namespace with a RoleBinding) and to
        break glass; not aggregated into admin or edit, so tenants do not get them."""
        docs = render("defaults")
        roles = {d["metadata"]["name"]: d for d in find(docs, "ClusterRole")}
        approver = roles["signet-exception-approver"]
        glass = roles["signet-break-glass"]
        for role, resource in ((approver, "policyexceptions"), (glass, "emergencybypasses")):
            labels = role["metadata"].get("labels", {})
            self.assertFalse([k for k in labels if k.startswith("rbac.authorization.k8s.io/aggregate-to")], labels)
            writes = [r for r in role["rules"] if "create" in r["verbs"]]
            self.assertEqual([(r["apiGroups"], r["resources"]) for r in writes], [(["signet.dev"], [resource])])
            self.assertEqual(sorted(writes[0]["verbs"]), ["create", "delete", "get", "list", "patch", "update", "watch"])
            self.assertFalse([r for r in role["rules"] if any(x.endswith("/status") for x in r["resources"])])
        self.assertNotIn("signet-exception-approver", {d["metadata"]["name"] for d in render_with(["--set", "rbac.create=false"])})

    def test_no_rbac_objects_without_rbac_create(self):
        """rbac.create=false is for installers who may not create RBAC: no role or binding at all,
        whatever else is on (the console's user roles, the metrics reader role)."""
        docs = render_with(["--set", "rbac.create=false", "--set", "console.enabled=true", "--set", "metrics.auth=kubernetes"])
        rbac = [(d["kind"], d["metadata"]["name"]) for d in docs if d.get("apiVersion", "").startswith("rbac.authorization.k8s.io/")]
        self.assertEqual(rbac, [])
        on = render_with(["--set", "console.enabled=true", "--set", "metrics.auth=kubernetes"])
        names = {d["metadata"]["name"] for d in find(on, "ClusterRole")}
        self.assertTrue({"signet-metrics-reader", "signet-console-reader"} <= names, names)

    def test_url_mode(self):
        """webhook.url: every webhook calls that URL instead of the Service (the API server never
        resolves a Service name), and the serving certificate the chart issues covers its host."""
        url = "https://127.0.0.1:9443/validate"
        for webhook in self.webhooks("webhook-url").values():
            with self.subTest(webhook=webhook["name"]):
                self.assertEqual(sorted(webhook["clientConfig"]), ["caBundle", "url"])
                self.assertEqual(webhook["clientConfig"]["url"], url)
        secret, = [d for d in render("webhook-url") if d["kind"] == "Secret" and d.get("type") == "kubernetes.io/tls"]
        certificate = base64.b64decode(secret["data"]["tls.crt"])
        text = run(["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=certificate.decode()).stdout
        self.assertIn("IP Address:127.0.0.1", text)
        self.assertIn(f"DNS:{RELEASE}.{NAMESPACE}.svc", text)
        # cert-manager: a DNS host goes to dnsNames, an IP address to ipAddresses.
        by_name, = find(render_with(["--set", "tls.mode=certManager", "--set", "webhook.url=https://signet.example.com/validate"]),
                        "Certificate", RELEASE)
        self.assertIn("signet.example.com", by_name["spec"]["dnsNames"])
        self.assertNotIn("ipAddresses", by_name["spec"])
        by_ip, = find(render_with(["--set", "tls.mode=certManager", "--set", "webhook.url=https://[::1]:9443/validate"]),
                      "Certificate", RELEASE)
        self.assertEqual(by_ip["spec"]["ipAddresses"], ["::1"])

    def test_namespace_opt_out_label_changes_are_reviewed(self):
        """namespaces.signet.dev sends signet every Namespace create or update where the opt-out
        label is present before or after (an object selector matches either object), so adding,
        changing and removing it are all reviewed, and no other Namespace depends on signet."""
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        for name in SCENARIOS:
            webhook = self.webhooks(name)["namespaces.signet.dev"]
            with self.subTest(scenario=name):
                self.assertEqual(webhook["objectSelector"], {"matchExpressions": [
                    {"key": values["webhook"]["optOutLabel"], "operator": "Exists"}]})
                self.assertNotIn("namespaceSelector", webhook, "on a Namespace it would match the object's own labels")
                self.assertEqual(webhook["rules"], [{
                    "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                    "resources": ["namespaces", "namespaces/status", "namespaces/finalize"], "scope": "Cluster"}])
                self.assertEqual(webhook["clientConfig"], self.webhooks(name)["images.signet.dev"]["clientConfig"])
                args = container_args(one(render(name), "Deployment"))
                self.assertEqual(args["namespace-opt-out-label"], values["webhook"]["optOutLabel"])
                if "webhook.optOutGroup=platform-security" in SCENARIOS[name]:
                    self.assertEqual(args["namespace-opt-out-group"], "platform-security")
                else:
                    self.assertNotIn("namespace-opt-out-group", args, "by default nobody may opt a namespace out")
        relabelled = {w["name"]: w for w in one(render_with(["--set", "webhook.optOutLabel=example.com/skip"]),
                                                "ValidatingWebhookConfiguration")["webhooks"]}
        self.assertEqual(relabelled["namespaces.signet.dev"]["objectSelector"]["matchExpressions"][0]["key"], "example.com/skip")

    def test_guarded_namespace_labels_are_reviewed_like_the_opt_out_label(self):
        """webhook.guardedNamespaceLabels: each label a policy's namespaceSelector reads gets a
        webhook that sends signet the Namespaces carrying it (before or after), the same flag for
        serve and scan, and nothing for the opt-out label listed again; none by default."""
        webhooks = self.webhooks("guarded-labels")
        guarded = {name: w for name, w in webhooks.items() if name.startswith("namespaces-")}
        self.assertEqual(sorted(guarded), ["namespaces-0.signet.dev", "namespaces-1.signet.dev"])
        opt_out = webhooks["namespaces.signet.dev"]
        for (name, webhook), label in zip(sorted(guarded.items()), ["environment", "example.com/tier"]):
            with self.subTest(webhook=name):
                self.assertEqual(webhook["objectSelector"], {"matchExpressions": [{"key": label, "operator": "Exists"}]})
                for field in ("rules", "clientConfig", "failurePolicy", "timeoutSeconds", "sideEffects", "matchPolicy"):
                    self.assertEqual(webhook[field], opt_out[field], field)
                self.assertNotIn("namespaceSelector", webhook)
        docs = render("guarded-labels")
        self.assertEqual(container_args(one(docs, "Deployment"))["guarded-namespace-labels"],
                         "environment,example.com/tier,signet.dev/exclude")
        self.assertFalse([n for n in self.webhooks("defaults") if n.startswith("namespaces-")])
        self.assertNotIn("guarded-namespace-labels", container_args(one(render("defaults"), "Deployment")))

    def test_owner_reference_writers_reach_serve_and_the_scan(self):
        """policies.ownerReferenceWriters: passed to the webhook and the scan CronJob alike; none by default."""
        writers = ["system:serviceaccount:openshift-infra:replicaset-controller", "acme-controller"]
        docs = render_with(["--set-json", "policies.ownerReferenceWriters=" + json.dumps(writers),
                            "--set", "continuousVerification.cronJob.enabled=true"])
        self.assertEqual(container_args(one(docs, "Deployment"))["owner-reference-writers"], ",".join(writers))
        scan_args = [a for a in scan_pod(docs)["containers"][0]["args"] if a.startswith("--owner-reference-writers=")]
        self.assertEqual(scan_args, ["--owner-reference-writers=" + ",".join(writers)])
        self.assertNotIn("owner-reference-writers", container_args(one(render("defaults"), "Deployment")))

    def test_first_install_warns_and_one_value_enforces(self):
        """A fresh install cannot lock the cluster out: images no policy covers are admitted with a
        warning (--no-match-action warn); enforcement.mode=enforce denies them everywhere, and
        server.noMatchAction, when set, wins."""
        for name in SCENARIOS:
            with self.subTest(scenario=name):
                action = container_args(one(render(name), "Deployment"))["no-match-action"]
                self.assertEqual(action, "deny" if name == "enforce" else "warn")
        self.assertEqual(container_args(one(render_with(["--set", "enforcement.mode=enforce", "--set", "server.noMatchAction=allow"]),
                                            "Deployment"))["no-match-action"], "allow")
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        self.assertEqual(values["enforcement"]["mode"], "warn")
        self.assertEqual(values["webhook"]["optOutGroup"], "")

    def test_rules_cover_pods_controllers_and_signet_resources(self):
        covered = set()
        for webhook in self.webhooks("defaults").values():
            for rule in webhook["rules"]:
                self.assertEqual(sorted(rule["operations"]), ["CREATE", "UPDATE"])
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        covered.add((group, resource))
        expected = {("", "pods"), ("", "pods/ephemeralcontainers"), ("", "replicationcontrollers"),
                    ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
                    ("batch", "jobs"), ("batch", "cronjobs"),
                    ("signet.dev", "clusterimagepolicies"), ("signet.dev", "policyexceptions"), ("signet.dev", "emergencybypasses"),
                    ("", "namespaces")}
        self.assertEqual(expected - covered, set())

    def test_only_the_release_policies_skip_review(self):
        """The policies of the release are created with it, possibly before any signet pod is
        ready: the webhook for ClusterImagePolicies skips exactly the objects labelled as this
        release's (an object selector matches when the label is absent or differs), and nothing
        else skips review."""
        for name in SCENARIOS:
            docs = render(name)
            webhooks = self.webhooks(name)
            with self.subTest(scenario=name):
                self.assertNotIn("objectSelector", webhooks["images.signet.dev"])
                self.assertNotIn("objectSelector", webhooks["exemptions.signet.dev"])
                policies = find(docs, "ClusterImagePolicy")
                selector = webhooks["policies.signet.dev"].get("objectSelector")
                if not policies:
                    self.assertIsNone(selector, "no release policies, no exemption")
                    continue
                self.assertEqual(selector, {"matchExpressions": [
                    {"key": "signet.dev/chart-release", "operator": "NotIn", "values": [RELEASE]}]})
                for policy in policies:
                    self.assertEqual(policy["metadata"]["labels"]["signet.dev/chart-release"], RELEASE)
                resources = {r for rule in webhooks["policies.signet.dev"]["rules"] for r in rule["resources"]}
                self.assertEqual(resources, {"clusterimagepolicies"})

    def test_namespace_selector(self):
        """Only the namespaces signet must never block are skipped by the API server: kube-system,
        the release namespace, webhook.excludeNamespaces, and cert-manager's with tls.mode
        certManager. The opt-out label is not in the selector: signet honours it itself, so an
        admission it lets in is counted, logged and audited."""
        webhook = self.webhooks("defaults")["images.signet.dev"]
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        self.assertEqual([e["key"] for e in webhook["namespaceSelector"]["matchExpressions"]], ["kubernetes.io/metadata.name"])
        names = webhook["namespaceSelector"]["matchExpressions"][0]
        self.assertEqual(names["operator"], "NotIn")
        self.assertEqual(names["values"], ["kube-system", NAMESPACE])
        self.assertNotIn(values["webhook"]["optOutLabel"], json.dumps(webhook))
        for scenario in ("cert-manager", "cert-manager-issuer", "plain-manifests"):
            with self.subTest(scenario=scenario):
                selector = self.webhooks(scenario)["images.signet.dev"]["namespaceSelector"]["matchExpressions"][0]
                self.assertEqual(selector["values"], ["kube-system", NAMESPACE, "cert-manager"],
                                 "cert-manager must always start, or signet's own certificate cannot renew")
        cni = {w["name"]: w for w in one(render_with(["--set", "webhook.excludeNamespaces={calico-system}"]),
                                         "ValidatingWebhookConfiguration")["webhooks"]}
        self.assertEqual(cni["images.signet.dev"]["namespaceSelector"]["matchExpressions"][0]["values"],
                         ["kube-system", NAMESPACE, "calico-system"])
        # Another release namespace is excluded in its place.
        other = {w["name"]: w for w in one(render("defaults", namespace="admission"), "ValidatingWebhookConfiguration")["webhooks"]}
        values = other["images.signet.dev"]["namespaceSelector"]["matchExpressions"][0]["values"]
        self.assertIn("admission", values)
        self.assertNotIn(NAMESPACE, values)


class TLS(unittest.TestCase):
    def tls_volume_secret(self, docs):
        volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        return [v["secret"]["secretName"] for v in volumes if v["name"] == "tls"][0]

    def test_chart_generated_certificate(self):
        for name, helm in [("defaults", "helm4"), ("chart-generated-tls", "helm4"), ("chart-generated-tls", "helm3")]:
            docs = render(name, helm=helm)
            secret = one(docs, "Secret")
            self.assertEqual(secret["type"], "kubernetes.io/tls")
            self.assertEqual(self.tls_volume_secret(docs), secret["metadata"]["name"])
            vwc = one(docs, "ValidatingWebhookConfiguration")
            for webhook in vwc["webhooks"]:
                self.assertEqual(webhook["clientConfig"]["caBundle"], secret["data"]["ca.crt"])
            self.assertNotIn("cert-manager.io/inject-ca-from", (vwc["metadata"].get("annotations") or {}))
            with tempfile.TemporaryDirectory() as directory:
                paths = {}
                for key in ("ca.crt", "tls.crt", "tls.key"):
                    paths[key] = os.path.join(directory, key)
                    open(paths[key], "wb").write(base64.b64decode(secret["data"][key]))
                run(["openssl", "verify", "-CAfile", paths["ca.crt"], "-purpose", "sslserver", paths["tls.crt"]])
                service = one(docs, "Service")["metadata"]["name"]
                for host in (f"{service}.{NAMESPACE}.svc", f"{service}.{NAMESPACE}.svc.cluster.local"):
                    run(["openssl", "x509", "-in", paths["tls.crt"], "-noout", "-checkhost", host])
                    out = run(["openssl", "x509", "-in", paths["tls.crt"], "-noout", "-checkhost", host]).stdout
                    self.assertIn("does match", out)
                cert_key = run(["openssl", "x509", "-in", paths["tls.crt"], "-noout", "-pubkey"]).stdout
                key_pub = run(["openssl", "pkey", "-in", paths["tls.key"], "-pubout"]).stdout
                self.assertEqual(cert_key, key_pub)

    def test_cert_manager(self):
        for name in ("cert-manager", "plain-manifests", "cert-manager-issuer"):
            docs = render(name)
            self.assertEqual(find(docs, "Secret"), [])
            vwc = one(docs, "ValidatingWebhookConfiguration")
            certificates = {c["metadata"]["name"]: c for c in find(docs, "Certificate")}
            ref = vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            namespace, certificate = ref.split("/")
            self.assertEqual(namespace, NAMESPACE)
            serving = certificates[certificate]
            self.assertEqual(serving["spec"]["secretName"], self.tls_volume_secret(docs))
            service = one(docs, "Service")["metadata"]["name"]
            self.assertIn(f"{service}.{NAMESPACE}.svc", serving["spec"]["dnsNames"])
            for webhook in vwc["webhooks"]:
                self.assertNotIn("caBundle", webhook["clientConfig"])
            issuer = serving["spec"]["issuerRef"]
            if name == "cert-manager-issuer":
                self.assertEqual(issuer["kind"], "ClusterIssuer")
                self.assertEqual(find(docs, "Issuer"), [])
            else:
                self.assertIn(issuer["name"], {i["metadata"]["name"] for i in find(docs, "Issuer")})

    def test_existing_secret(self):
        docs = render("existing-secret")
        self.assertEqual(find(docs, "Secret"), [])
        self.assertEqual(self.tls_volume_secret(docs), "my-tls")
        for webhook in one(docs, "ValidatingWebhookConfiguration")["webhooks"]:
            self.assertTrue(webhook["clientConfig"]["caBundle"])


class RBAC(unittest.TestCase):
    # Roles the chart ships for people to bind (exemption approvers, break glass), not signet's own.
    PEOPLE_ROLES = ("signet-exception-approver", "signet-break-glass", "signet-metrics-reader")

    def rules(self, docs, kind):
        """The rules of signet's own roles."""
        return [r for d in find(docs, kind) if d["metadata"]["name"] not in self.PEOPLE_ROLES for r in d["rules"]]

    def test_least_privilege(self):
        docs = render("defaults")
        for rule in self.rules(docs, "ClusterRole") + self.rules(docs, "Role"):
            self.assertNotIn("*", rule["verbs"])
            self.assertNotIn("*", rule["resources"])
            self.assertNotIn("*", rule["apiGroups"])
            self.assertNotIn("secrets", rule["resources"], "no Secrets unless pull secrets are configured")
            write = set(rule["verbs"]) - {"get", "list", "watch"}
            if rule["resources"] == ["events"]:
                self.assertIn((rule["apiGroups"], rule["verbs"]), [([""], ["create"]), ([""], ["patch"])],
                              "events are created, and the bypass's count patched; never read, replaced or deleted")
                continue
            if rule["resources"] in (["tokenreviews"], ["subjectaccessreviews"]):
                self.assertEqual(rule["verbs"], ["create"], "a review is asked, never stored: create is all it takes")
                continue
            if write:
                self.assertTrue(all(r.endswith("/status") for r in rule["resources"]), rule)
                self.assertEqual(set(rule["verbs"]), {"patch"}, "status is written with a merge patch only")
        # Events are patched in default only (where a cluster-scoped bypass's Events are stored).
        patching = [(d["kind"], d["metadata"].get("namespace")) for d in find(docs, "ClusterRole") + find(docs, "Role")
                    if d["metadata"]["name"] not in self.PEOPLE_ROLES and any(
                        r["resources"] == ["events"] and "patch" in r["verbs"] for r in d["rules"])]
        self.assertEqual(patching, [("Role", "default")])
        resources = {(g, r) for rule in self.rules(docs, "ClusterRole") for g in rule["apiGroups"] for r in rule["resources"]
                     if "watch" in rule["verbs"]}
        for resource in ("clusterimagepolicies", "policyexceptions", "emergencybypasses"):
            self.assertIn(("signet.dev", resource), resources)
        self.assertIn(("", "namespaces"), resources)
        binding, = [b for b in find(docs, "ClusterRoleBinding") if not b["metadata"]["name"].endswith("-token-reviews")]
        self.assertEqual(binding["subjects"][0]["name"], one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"])
        own, = [d for d in find(docs, "ClusterRole") if d["metadata"]["name"] not in self.PEOPLE_ROLES and not d["metadata"]["name"].endswith("-token-reviews")]
        self.assertEqual(binding["roleRef"]["name"], own["metadata"]["name"])

    def test_no_api_access_without_the_kubernetes_source(self):
        docs = render("configmap-source")
        self.assertEqual(find(docs, "ClusterRole") + find(docs, "ClusterRoleBinding") + find(docs, "Role"), [])

    def test_status_writes_follow_the_setting(self):
        docs = render("defaults")
        status = [r for r in self.rules(docs, "ClusterRole") if any(x.endswith("/status") for x in r["resources"])]
        self.assertEqual(len(status), 1)
        off = render_with(["--set", "rbac.writeStatus=false"])
        self.assertFalse([r for r in self.rules(off, "ClusterRole") if any(x.endswith("/status") for x in r["resources"])])
        self.assertEqual(container_args(one(off, "Deployment"))["write-status"], "false")

    def test_pull_secrets(self):
        cluster = render("pull-secrets-cluster")
        secret_rules = [r for r in self.rules(cluster, "ClusterRole") if "secrets" in r["resources"]]
        self.assertEqual(len(secret_rules), 1)
        self.assertEqual(secret_rules[0]["verbs"], ["get"])
        namespaced = render("pull-secrets-namespaced")
        self.assertEqual([r for r in self.rules(namespaced, "ClusterRole") if "secrets" in r["resources"]], [])
        roles = [r for r in find(namespaced, "Role") if r["metadata"]["name"].endswith("-pull-secrets")]
        self.assertEqual(sorted(r["metadata"]["namespace"] for r in roles), ["team-a", "team-b"])
        for role in roles:
            secret_rule = [r for r in role["rules"] if "secrets" in r["resources"]][0]
            self.assertEqual(secret_rule["verbs"], ["get"])
            self.assertEqual(secret_rule["resourceNames"], ["regcred"])
        self.assertEqual(sorted(b["metadata"]["namespace"] for b in find(namespaced, "RoleBinding") if b["metadata"]["name"].endswith("-pull-secrets")), ["team-a", "team-b"])


    def test_key_secrets_through_the_api_are_granted_by_name(self):
        docs = render("key-secrets-api")
        roles = [r for r in find(docs, "Role") if r["metadata"]["name"].endswith("-key-secrets")]
        self.assertEqual({r["metadata"]["namespace"]: r["rules"] for r in roles}, {
            NAMESPACE: [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["release-keys"], "verbs": ["get", "list", "watch"]}],
            "team-a": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["deploy-key", "build-key"],
                        "verbs": ["get", "list", "watch"]}],
        })
        bindings = [b for b in find(docs, "RoleBinding") if b["metadata"]["name"].endswith("-key-secrets")]
        self.assertEqual(sorted(b["metadata"]["namespace"] for b in bindings), sorted([NAMESPACE, "team-a"]))
        self.assertEqual([r for r in self.rules(docs, "ClusterRole") if "secrets" in r["resources"]], [], "no Secret access cluster-wide")
        deployment = one(docs, "Deployment")
        self.assertEqual(container_args(deployment)["key-secrets-source"], "api")
        self.assertFalse([v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"].startswith("key-secret-")])
        # A watch of one named Secret is what the Role allows; a list of all of them is not.
        self.assertTrue(granted(docs, "GET", f"/api/v1/namespaces/team-a/secrets/deploy-key", {}))
        self.assertFalse(granted(docs, "GET", f"/api/v1/namespaces/team-a/secrets/regcred", {}))
        # Mounted (the default): no Secret access through the API, a volume per Secret.
        mounted = render("registry-access")
        self.assertFalse([r for r in find(mounted, "Role") if r["metadata"]["name"].endswith("-key-secrets")])
        self.assertNotIn("key-secrets-source", container_args(one(mounted, "Deployment")))
        self.assertIn("key-secret-release-keys", [v["name"] for v in one(mounted, "Deployment")["spec"]["template"]["spec"]["volumes"]])

    def test_trust_configmaps_through_the_api_are_granted_by_name_or_mounted(self):
        docs = render("trust-configmaps-api")
        roles = [r for r in find(docs, "Role") if r["metadata"]["name"].endswith("-trust-configmaps")]
        self.assertEqual({r["metadata"]["namespace"]: r["rules"] for r in roles}, {
            NAMESPACE: [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["notation-trust"], "verbs": ["get", "list", "watch"]}],
            "team-a": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["team-trust"], "verbs": ["get", "list", "watch"]}],
        })
        bindings = [b for b in find(docs, "RoleBinding") if b["metadata"]["name"].endswith("-trust-configmaps")]
        self.assertEqual(sorted(b["metadata"]["namespace"] for b in bindings), sorted([NAMESPACE, "team-a"]))
        self.assertEqual([r for r in self.rules(docs, "ClusterRole") if "configmaps" in r["resources"]], [], "no ConfigMap access cluster-wide")
        self.assertFalse([r for r in find(docs, "Role") if r["metadata"]["name"].endswith("-key-secrets")], "no Secret access when none is named")
        self.assertTrue(granted(docs, "GET", "/api/v1/namespaces/team-a/configmaps/team-trust", {}))
        self.assertFalse(granted(docs, "GET", "/api/v1/namespaces/team-a/configmaps/kube-root-ca.crt", {}))
        self.assertFalse(granted(docs, "GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps/team-trust", {}), "a name is granted in its namespace only")
        deployment = one(docs, "Deployment")
        self.assertEqual(container_args(deployment)["key-secrets-source"], "api")
        self.assertFalse([v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"].startswith("trust-configmap-")])
        # Mounted (the default): no ConfigMap access through the API, a volume per ConfigMap where
        # signet reads configMapRef keys.
        mounted = render("trust-configmaps-mounted")
        self.assertFalse([r for r in find(mounted, "Role") if r["metadata"]["name"].endswith("-trust-configmaps")])
        spec = one(mounted, "Deployment")["spec"]["template"]["spec"]
        self.assertIn({"name": "trust-configmap-notation-trust", "configMap": {"name": "notation-trust"}}, spec["volumes"])
        self.assertIn({"name": "trust-configmap-notation-trust", "mountPath": f"/etc/signet/configmaps/{NAMESPACE}/notation-trust", "readOnly": True},
                      spec["containers"][0]["volumeMounts"])
        refused = run([HELM, "template", RELEASE, CHART, "--namespace", NAMESPACE, "--set", "trustConfigMaps={team-a/team-trust}"], check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("a pod mounts ConfigMaps of its own namespace only", refused.stderr)


class Network(unittest.TestCase):
    @staticmethod
    def notes(flags=()):
        """What `helm install` prints after it installs (NOTES.txt), without a cluster."""
        out = run([HELM, "install", RELEASE, CHART, "--namespace", NAMESPACE, "--dry-run=client", *flags]).stdout
        return out.split("NOTES:", 1)[1] if "NOTES:" in out else ""

    def test_the_install_notes_say_what_is_left_open(self):
        """A default install says that any pod can reach the webhook port, that uncovered images are
        only warned about, and how the certificate was made; each line goes once it is dealt with."""
        default = self.notes()
        self.assertIn("Any pod can reach the webhook port", default)
        self.assertIn("Enforcement is in warn mode", default)
        self.assertIn("tls.mode=helm", default)
        closed = self.notes(["--set", "networkPolicy.controlPlaneCIDRs={10.0.0.0/24}", "--set", "enforcement.mode=enforce",
                             "--set", "tls.mode=certManager"])
        self.assertIn("rollout status deployment/", closed)
        for line in ("Any pod can reach", "warn mode", "tls.mode=helm"):
            self.assertNotIn(line, closed)
        # A client certificate for reviews does not keep connections for the API server: only
        # reserved peers (controlPlaneCIDRs or server.connections.reservedPeers) do.
        mutual = self.notes(["--set", "server.clientAuth.enabled=true", "--set", "server.clientAuth.caSecret=apiserver-client-ca"])
        self.assertIn("Any pod can reach the webhook port and hold its connections", mutual)
        reserved = self.notes(["--set", "server.connections.reservedPeers={10.0.0.1/32}"])
        self.assertNotIn("Any pod can reach", reserved)

    @staticmethod
    def egress_ports(policy):
        return {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}

    def test_every_egress_rule_names_its_ports(self):
        for name in SCENARIOS:
            policy = one(render(name), "NetworkPolicy")
            with self.subTest(scenario=name):
                for rule in policy["spec"]["egress"]:
                    self.assertTrue(rule.get("ports"), "an egress rule without ports allows every port")

    def test_api_server_egress_follows_the_policy_source(self):
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        api_ports = {("TCP", p) for p in values["networkPolicy"]["apiServerPorts"]}
        registry_ports = {("TCP", p) for p in values["networkPolicy"]["registryPorts"]}
        self.assertLessEqual(api_ports, self.egress_ports(one(render("defaults"), "NetworkPolicy")))
        crl_ports = {("TCP", p) for p in values["networkPolicy"]["crlPorts"]}
        ports = self.egress_ports(one(render("configmap-source"), "NetworkPolicy"))
        self.assertEqual(ports - {("UDP", 53), ("TCP", 53)}, registry_ports | crl_ports, "no API server egress when signet never calls it")
        limited = one(render_with(["--set-json", 'networkPolicy.apiServerTo=[{"ipBlock":{"cidr":"10.0.0.1/32"}}]']), "NetworkPolicy")
        api_rules = [r for r in limited["spec"]["egress"] if {("TCP", p["port"]) for p in r["ports"]} == api_ports]
        self.assertEqual(api_rules[0]["to"], [{"ipBlock": {"cidr": "10.0.0.1/32"}}])
        kubernetes_validate.validate(limited, KUBE_VERSION, strict=True)

    def test_network_policy(self):
        docs = render("defaults")
        policy = one(docs, "NetworkPolicy")
        labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(all(labels.get(k) == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items()))
        self.assertEqual(sorted(policy["spec"]["policyTypes"]), ["Egress", "Ingress"])
        self.assertEqual([p["port"] for p in policy["spec"]["ingress"][0]["ports"]], ["https"])
        egress_ports = {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
        self.assertIn(("UDP", 53), egress_ports)
        self.assertIn(("TCP", 443), egress_ports)

    def test_crl_downloads_open_the_crl_ports_only_while_on(self):
        """notation.crlDownloads (on by default) passes --notation-crl-downloads and lets the pods
        reach CRL distribution points on networkPolicy.crlPorts (80); off, neither."""
        for flags, enabled in [([], True), (["--set", "notation.crlDownloads=false"], False)]:
            with self.subTest(enabled=enabled):
                docs = render_with(flags)
                args = container_args(one(docs, "Deployment"))
                self.assertEqual(args.get("notation-crl-downloads"), "true" if enabled else "false")
                policy = one(docs, "NetworkPolicy")
                self.assertEqual(("TCP", 80) in self.egress_ports(policy), enabled)
                kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
                crl_rules = [r for r in policy["spec"]["egress"] if ("TCP", 80) in {(p["protocol"], p["port"]) for p in r["ports"]}]
                if enabled:
                    # Cloud metadata services are never CRL servers.
                    self.assertEqual(crl_rules[0]["to"][0], {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "100.100.100.200/32", "168.63.129.16/32"]}})
                    self.assertIn("fd00:ec2::254/128", crl_rules[0]["to"][1]["ipBlock"]["except"])
        ports = self.egress_ports(one(render_with(["--set-json", "networkPolicy.crlPorts=[80,8080]"]), "NetworkPolicy"))
        self.assertLessEqual({("TCP", 80), ("TCP", 8080)}, ports)

    def test_control_plane_cidrs_limit_the_webhook_port(self):
        """With the control plane's addresses given, the webhook port admits only them and the
        ingressFrom peers; without them, any peer (the default)."""
        policy = one(render("control-plane-only"), "NetworkPolicy")
        self.assertEqual(len(policy["spec"]["ingress"]), 1)
        self.assertEqual(policy["spec"]["ingress"][0]["from"], [
            {"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "192.168.1.5/32"}},
            {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}])
        kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)
        self.assertNotIn("from", one(render("defaults"), "NetworkPolicy")["spec"]["ingress"][0])

    def test_mutual_tls_with_the_api_server(self):
        """server.clientAuth mounts the client CA from a Secret or a ConfigMap and passes
        --client-ca and --client-allowed-names; off by default."""
        for scenario, source, key, names in [("mutual-tls", "secret", "ca.crt", "kube-apiserver,apiserver.example"),
                                             ("mutual-tls-configmap", "configMap", "client-ca.pem", None)]:
            with self.subTest(scenario=scenario):
                pod = one(render(scenario), "Deployment")["spec"]["template"]["spec"]
                container = pod["containers"][0]
                self.assertIn(f"--client-ca=/etc/signet/client-ca/{key}", container["args"])
                allowed = [a for a in container["args"] if a.startswith("--client-allowed-names=")]
                self.assertEqual(allowed, [f"--client-allowed-names={names}"] if names else [])
                mount = [m for m in container["volumeMounts"] if m["name"] == "client-ca"]
                self.assertEqual(mount, [{"name": "client-ca", "mountPath": "/etc/signet/client-ca", "readOnly": True}])
                volume = [v for v in pod["volumes"] if v["name"] == "client-ca"][0]
                self.assertEqual(volume[source]["items"], [{"key": key, "path": key}])
                self.assertEqual(volume[source].get("secretName", volume[source].get("name")), "apiserver-client-ca")
        args = one(render("defaults"), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertFalse([a for a in args if a.startswith("--client-")])

    def test_connection_shares_and_the_api_servers_reserved_room(self):
        """server.connections: a per-address share always; reserved peers (and their room) from
        server.connections.reservedPeers, else networkPolicy.controlPlaneCIDRs, else none."""
        args = container_args(one(render("defaults"), "Deployment"))
        self.assertEqual((args["max-connections"], args["max-connections-per-peer"], args["max-new-connections-per-peer"]), ("1024", "256", "256"))
        self.assertNotIn("reserved-peers", args)
        args = container_args(one(render("control-plane-only"), "Deployment"))
        self.assertEqual((args["reserved-peers"], args["reserved-connections"]), ("10.0.0.0/24,192.168.1.5/32", "256"))
        args = container_args(one(render_with(["--set", "server.connections.reservedPeers={172.16.0.2/32}",
                                               "--set", "server.connections.reservedConnections=64"]), "Deployment"))
        self.assertEqual((args["reserved-peers"], args["reserved-connections"]), ("172.16.0.2/32", "64"))
        refused = run([HELM, "template", RELEASE, CHART, "--set", "server.connections.reservedPeers={kube-apiserver}"], check=False)
        self.assertNotEqual(refused.returncode, 0)

    def test_request_body_budget(self):
        """server.bodies: the body size limit and the memory budget for bodies always; the share one
        address may hold when set; the API server's room when set and there are reserved peers."""
        args = container_args(one(render("defaults"), "Deployment"))
        self.assertEqual((args["max-body-bytes"], args["max-buffered-body-bytes"]), ("8388608", "67108864"))
        self.assertNotIn("max-buffered-body-bytes-per-peer", args)
        self.assertNotIn("reserved-body-bytes", args)
        args = container_args(one(render("body-budget"), "Deployment"))
        self.assertEqual([args[k] for k in ("max-body-bytes", "max-buffered-body-bytes", "max-buffered-body-bytes-per-peer",
                                            "reserved-peers", "reserved-body-bytes")],
                         ["4194304", "134217728", "8388608", "10.0.0.2/32", "0"])
        # Without reserved peers there is no reserved room to size.
        args = container_args(one(render_with(["--set", "server.bodies.reservedBytes=1048576"]), "Deployment"))
        self.assertNotIn("reserved-body-bytes", args)
        args = container_args(one(render("control-plane-only"), "Deployment"))
        self.assertNotIn("reserved-body-bytes", args)
        for refused in ("server.bodies.maxBytes=0", "server.bodies.maxBufferedBytes=lots", "server.bodies.reservedBytes=-1"):
            with self.subTest(refused=refused):
                self.assertNotEqual(run([HELM, "template", RELEASE, CHART, "--set", refused], check=False).returncode, 0)

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_body_budget_defaults_are_the_servers(self):
        """The chart's body limits are the ones `signet serve --help` gives as its defaults, and
        the per-peer share and reserved room are left to the server (a quarter of the budget)."""
        text = " ".join(run([SIGNET, "serve", "--help"]).stdout.split())
        with open(os.path.join(CHART, "values.yaml")) as f:
            values = yaml.safe_load(f)["server"]["bodies"]
        for variable, key in (("SIGNET_MAX_BODY_BYTES", "maxBytes"), ("SIGNET_MAX_BUFFERED_BODY_BYTES", "maxBufferedBytes")):
            with self.subTest(variable=variable):
                default = re.search(r"\(env: %s, default (\d+)\)" % variable, text)
                self.assertIsNotNone(default, variable)
                self.assertEqual(values[key], int(default.group(1)))
        for variable in ("SIGNET_MAX_BUFFERED_BODY_BYTES_PER_PEER", "SIGNET_RESERVED_BODY_BYTES"):
            self.assertIn("(env: %s, default a quarter of the budget" % variable, text)
        self.assertEqual((values["maxBufferedBytesPerPeer"], values["reservedBytes"]), (None, None))

    def test_service_monitor(self):
        self.assertEqual(find(render("defaults"), "ServiceMonitor"), [])
        docs = render("service-monitor")
        monitor = one(docs, "ServiceMonitor")
        endpoint = monitor["spec"]["endpoints"][0]
        self.assertEqual((endpoint["path"], endpoint["scheme"], endpoint["port"]), ("/metrics", "https", "https"))
        # /metrics answers a reviewed token by default: Prometheus sends its service account's.
        self.assertEqual(endpoint["bearerTokenFile"], "/var/run/secrets/kubernetes.io/serviceaccount/token")
        open_monitor = one(render_with(["--set", "serviceMonitor.enabled=true", "--set", "metrics.auth=none"]), "ServiceMonitor")
        self.assertNotIn("bearerTokenFile", open_monitor["spec"]["endpoints"][0])

    def test_scans_know_the_namespaces_the_webhook_leaves_out(self):
        """The namespaces the ValidatingWebhookConfiguration's selector leaves out reach `serve`
        and the scan CronJob as --webhook-excluded-namespaces, the same list, so scans report
        what admission would deny there as warn, without an alert, since no admission enforces it."""
        def flag(container):
            return [a for a in container["args"] if a.startswith("--webhook-excluded-namespaces=")]

        docs = render_with(["--set", "continuousVerification.cronJob.enabled=true", "--set", "webhook.excludeNamespaces={legacy,lab}"])
        excluded = one(find(docs, "ValidatingWebhookConfiguration"), "ValidatingWebhookConfiguration")["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"]
        self.assertEqual(excluded, ["kube-system", NAMESPACE, "legacy", "lab"])
        expected = ["--webhook-excluded-namespaces=" + ",".join(excluded)]
        self.assertEqual(flag(one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]), expected)
        self.assertEqual(flag(scan_pod(docs)["containers"][0]), expected)

    def test_metrics_need_a_reviewed_token_by_default(self):
        """`metrics.auth` empty (the default) follows the policy source: `kubernetes` with the
        kubernetes source (the flag, create on TokenReviews and SubjectAccessReviews for signet's
        ServiceAccount whether or not the console is on, the reader ClusterRole to bind to
        Prometheus), `none` with the configMap source, which has no API access. `none`: no review
        rights unless the console needs them, no reader role. Anything else fails the rendering."""
        def args(docs):
            return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]

        def review_rules(docs):
            return [rule for role in find(docs, "ClusterRole") for rule in role["rules"]
                    if rule.get("resources") in (["tokenreviews"], ["subjectaccessreviews"])]

        defaults = render("defaults")
        self.assertIn("--metrics-auth=kubernetes", args(defaults))
        self.assertEqual(sorted(r["resources"][0] for r in review_rules(defaults)), ["subjectaccessreviews", "tokenreviews"])
        self.assertTrue(all(r["verbs"] == ["create"] for r in review_rules(defaults)))
        binding = find(defaults, "ClusterRoleBinding", f"{RELEASE}-token-reviews")[0]
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}])
        reader = find(defaults, "ClusterRole", "signet-metrics-reader")[0]
        self.assertEqual(reader["rules"], [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
        self.assertIn("--metrics-auth=none", args(render("configmap-source")))
        self.assertIn("--metrics-auth=kubernetes", args(render_with(["--set", "metrics.auth=kubernetes"])))

        open_metrics = render_with(["--set", "metrics.auth=none"])
        self.assertIn("--metrics-auth=none", args(open_metrics))
        self.assertEqual(review_rules(open_metrics), [])
        self.assertEqual(find(open_metrics, "ClusterRole", "signet-metrics-reader"), [])
        with_console = render_with(["--set", "metrics.auth=none", "--set", "console.enabled=true"])
        self.assertEqual(len(review_rules(with_console)), 2, "the console reviews tokens too")
        self.assertEqual(find(render_with(["--set", "metrics.createReaderRole=false"]), "ClusterRole", "signet-metrics-reader"), [])
        refused = run([HELM, "template", RELEASE, CHART, "--namespace", NAMESPACE, "--set", "metrics.auth=open"], check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("/metrics/auth", refused.stderr)


class PlainManifests(unittest.TestCase):
    def makefile_setting(self, name):
        text = open(os.path.join(ROOT, "Makefile")).read()
        return re.search(rf"^{name} := (.*)$", text, re.M).group(1).strip()

    def test_deploy_equals_the_chart_rendering(self):
        release = self.makefile_setting("MANIFEST_RELEASE")
        namespace = self.makefile_setting("MANIFEST_NAMESPACE")
        flags = self.makefile_setting("MANIFEST_FLAGS").split()
        rendered = run([HELM, "template", release, CHART, "--namespace", namespace] + flags).stdout
        committed = open(os.path.join(ROOT, "deploy", "signet.yaml")).read()
        header, separator, rest = committed.partition("---\n")
        self.assertTrue(all(line.startswith("#") for line in header.splitlines()), "only comments before the first document")
        body = separator + rest
        self.assertEqual(body, rendered, "deploy/signet.yaml is out of date: run `make manifests`")

    def test_deploy_holds_only_generated_manifests(self):
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "deploy", "*.y*ml")))
        self.assertEqual(files, ["signet.yaml"])

    def test_plain_manifests_create_their_namespace_first(self):
        docs = [d for d in yaml.safe_load_all(open(os.path.join(ROOT, "deploy", "signet.yaml"))) if d]
        self.assertEqual(docs[0]["kind"], "Namespace")
        for doc in docs:
            with self.subTest(kind=doc["kind"], name=doc["metadata"]["name"]):
                validate_document(self, doc)

    def test_chart_crds_in_sync_with_deploy_crds(self):
        source = {os.path.basename(p): open(p).read() for p in crd_files()}
        chart_dir = os.path.join(CHART, "crds")
        chart = {os.path.basename(p): open(p).read() for p in glob.glob(os.path.join(chart_dir, "*.y*ml"))}
        self.assertEqual(sorted(chart), sorted(source), "run `make chart-crds`")
        for name in source:
            self.assertEqual(chart[name], source[name], f"charts/signet/crds/{name} differs: run `make chart-crds`")

    def test_crds_validate(self):
        if not crd_files():
            self.skipTest("deploy/crds/ has no CRDs yet")
        for path in crd_files():
            for doc in yaml.safe_load_all(open(path)):
                if doc:
                    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
                    self.assertEqual(doc["spec"]["group"], "signet.dev")


class Policies(unittest.TestCase):
    def files(self):
        return sorted(glob.glob(os.path.join(ROOT, "policies", "*.yaml")) + glob.glob(os.path.join(ROOT, "policies", "examples", "*.yaml")))

    def documents(self):
        for path in self.files():
            for doc in yaml.safe_load_all(open(path)):
                if doc:
                    yield path, doc

    def test_each_example_says_what_it_does(self):
        for path in self.files():
            first = open(path).readline()
            self.assertTrue(first.startswith("# ") and len(first) > 20, f"{path} does not start with a comment")

    def test_examples_cover_the_issue(self):
        kinds = {}
        for path, doc in self.documents():
            kinds.setdefault(doc["kind"], []).append(doc)
        authorities = [a for p in kinds["ClusterImagePolicy"] for a in p["spec"]["authorities"]]
        self.assertTrue(any("key" in a for a in authorities))
        keyless = [a["keyless"] for a in authorities if "keyless" in a]
        self.assertTrue(any(i["issuer"] == "https://token.actions.githubusercontent.com" for k in keyless for i in k["identities"]))
        self.assertTrue(any(a.get("static", {}).get("action") == "pass" for a in authorities))
        self.assertTrue(any("trustPolicy" in a.get("notation", {}) for a in authorities))
        rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
        self.assertTrue(kinds["PolicyException"])
        for exception in kinds["PolicyException"]:
            self.assertRegex(exception["spec"]["validUntil"], rfc3339)
            self.assertTrue(exception["metadata"]["namespace"])
        self.assertTrue(kinds["EmergencyBypass"])
        for bypass in kinds["EmergencyBypass"]:
            self.assertRegex(bypass["spec"]["expiresAt"], rfc3339)
            self.assertNotIn("namespace", bypass["metadata"])

    def test_examples_match_the_crd_schemas(self):
        schemas = crd_schemas()
        if not schemas:
            self.skipTest("deploy/crds/ has no CRDs yet")
        for path, doc in self.documents():
            with self.subTest(file=os.path.relpath(path, ROOT), name=doc["metadata"]["name"]):
                key = (doc["apiVersion"], doc["kind"])
                self.assertIn(key, schemas, "no CRD serves this kind")
                scope, schema = schemas[key]
                self.assertEqual(scope == "Namespaced", "namespace" in doc["metadata"])
                jsonschema.validate(doc, schema)

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_signet_loads_the_top_level_policies(self):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
               "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9"}]}}
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(pod, f)
            f.flush()
            result = run([SIGNET, "review", "-f", f.name, "--policy-dir", os.path.join(ROOT, "policies")], check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    # The examples carry realistic dates (an incident's bypass, an exception until the end of a
    # quarter), so they are linted as of this instant, never as of today: the suite passes on any
    # day. An example whose dates are refused at this instant fails the test below.
    EXAMPLES_VALID_AT = "2026-11-22T12:00:00Z"

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_signet_lint_accepts_every_example_at_the_pinned_instant(self):
        for path in self.files():
            with self.subTest(file=os.path.relpath(path, ROOT)):
                result = run([SIGNET, "lint", path, "--now", self.EXAMPLES_VALID_AT], check=False)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    def test_expiring_examples_are_refused_once_they_expire(self):
        """The pin is what keeps the examples valid: a year later the bypass and the exception
        have expired and lint refuses both, naming the field."""
        later = "2027-11-22T12:00:00Z"
        for name, field in [("emergency-bypass.yaml", "spec.expiresAt"), ("policy-exception.yaml", "spec.validUntil")]:
            with self.subTest(file=name):
                result = run([SIGNET, "lint", os.path.join(ROOT, "policies", "examples", name), "--now", later], check=False)
                self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                self.assertIn(field, result.stdout)
                self.assertIn("expired", result.stdout)


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        text = open(os.path.join(ROOT, "Dockerfile")).read().replace("\\\n", " ")
        cls.instructions = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
        cls.args = {}
        cls.stages = []
        for line in cls.instructions:
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word == "ARG" and not cls.stages:
                name, _, default = rest.partition("=")
                cls.args[name.strip()] = default.strip()
            elif word == "FROM":
                cls.stages.append({"from": re.sub(r"\$\{(\w+)\}", lambda m: cls.args[m.group(1)], rest.split()[0]), "lines": []})
            elif cls.stages:
                cls.stages[-1]["lines"].append((word, rest))

    def runtime(self):
        return self.stages[-1]

    def test_multi_stage_with_pinned_bases(self):
        self.assertGreaterEqual(len(self.stages), 2)
        for stage in self.stages:
            self.assertRegex(stage["from"], r"^[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
            self.assertNotRegex(stage["from"], r"@sha256:0{64}$", "a placeholder digest is not a pin")

    def test_swift_toolchain_is_the_tested_one_and_its_signature_is_checked(self):
        """The build stage installs the toolchain `make test` runs with, and accepts it only with a
        good signature (gpg's VALIDSIG) by the primary key named by its full fingerprint."""
        version = self.args.get("SWIFT_VERSION", "")
        result = run([os.environ.get("SWIFT", "swift"), "--version"])
        tested = re.search(r"Swift version (\S+)", result.stdout + result.stderr)
        self.assertIsNotNone(tested)
        self.assertEqual(version, tested.group(1).removesuffix("-RELEASE"), "update SWIFT_VERSION in the Dockerfile")
        self.assertRegex(self.args.get("SWIFT_SIGNING_KEY", ""), r"^[0-9A-F]{40}$")
        build = " ".join(rest for word, rest in self.stages[0]["lines"] if word == "RUN")
        self.assertIn("download.swift.org/swift-${SWIFT_VERSION}-release/", build)
        self.assertIn("--verify", build)
        self.assertIn("VALIDSIG .* ${SWIFT_SIGNING_KEY}", build)
        self.assertLess(build.index("VALIDSIG"), build.index("tar -xzf"), "the signature is checked before unpacking")

    def test_static_swift_stdlib_release_build(self):
        build = " ".join(rest for word, rest in self.stages[0]["lines"] if word == "RUN")
        self.assertIn("-c release", build)
        self.assertIn("--static-swift-stdlib", build)

    def test_build_stage_copies_what_the_package_needs(self):
        copied = {rest.split()[0] for word, rest in self.stages[0]["lines"] if word == "COPY"}
        manifest = open(os.path.join(ROOT, "Package.swift")).read()
        needed = {"Package.swift", "Sources"} | {p.split("/")[0] for p in re.findall(r'path: "([^"]+)"', manifest)}
        if ".testTarget(" in manifest:
            needed.add("Tests")
        self.assertEqual(needed - copied, set())

    def test_non_root_numeric_user(self):
        users = [rest for word, rest in self.runtime()["lines"] if word == "USER"]
        self.assertTrue(users)
        user, _, group = users[-1].partition(":")
        self.assertRegex(user, r"^\d+$")
        self.assertNotEqual(int(user), 0)
        if group:
            self.assertRegex(group, r"^\d+$")
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        self.assertEqual(values["podSecurityContext"]["runAsUser"], int(user))

    def test_exposes_the_server_port(self):
        exposed = [rest for word, rest in self.runtime()["lines"] if word == "EXPOSE"]
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        self.assertIn(str(values["server"]["port"]), " ".join(exposed))

    def runtime_packages(self):
        packages = set()
        for word, rest in self.runtime()["lines"]:
            if word == "RUN":
                for m in re.finditer(r"apt-get install ([^&;]*)", rest):
                    packages |= {t for t in m.group(1).split() if not t.startswith("-")}
        return packages

    def test_runtime_has_ca_certificates(self):
        self.assertIn("ca-certificates", self.runtime_packages())

    @unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
    @unittest.skipUnless(shutil.which("dpkg-query") and shutil.which("ldd"), "needs dpkg and ldd")
    def test_runtime_has_every_shared_library_of_the_binary(self):
        """Each library `ldd` finds for signet (less the Swift runtime, which the release build
        links statically) belongs to a Debian package the runtime stage installs, or to one they
        depend on; each library the binary names directly comes from a package named outright."""
        explicit = self.runtime_packages() | {"libc6"}
        closure = self.dependency_closure(explicit)
        needed_direct = set(re.findall(r"\(NEEDED\).*\[(.+)\]", run(["readelf", "-d", SIGNET]).stdout))
        for line in run(["ldd", SIGNET]).stdout.splitlines():
            m = re.match(r"\s*(\S+) => (\S+)", line)
            if not m or SWIFT_RUNTIME_LIBS.match(m.group(1)):
                continue
            name, path = m.groups()
            self.assertNotEqual(path, "not", f"{name} not found")
            package = self.package_of(path)
            with self.subTest(library=name, package=package):
                self.assertIn(package, closure)
                if name in needed_direct:
                    self.assertIn(package, explicit, f"{name} is linked directly; install {package} by name")

    @staticmethod
    def package_of(path):
        for candidate in (path, os.path.realpath(path), "/usr" + path if path.startswith("/lib") else path):
            result = run(["dpkg-query", "-S", candidate], check=False)
            if result.returncode == 0:
                return result.stdout.split(":")[0].strip()
        raise AssertionError(f"no Debian package owns {path}")

    @staticmethod
    def dependency_closure(packages):
        seen, todo = set(), list(packages)
        while todo:
            package = todo.pop()
            if package in seen:
                continue
            seen.add(package)
            result = run(["dpkg-query", "-W", "-f", "${Depends},${Pre-Depends}", package], check=False)
            for alternatives in result.stdout.split(","):
                names = [a.strip().split(" ")[0].split(":")[0] for a in alternatives.split("|") if a.strip()]
                installed = [n for n in names if run(["dpkg-query", "-W", n], check=False).returncode == 0]
                todo.extend(installed[:1] or names[:1])
        return seen


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RenderedPod:
    """Runs the signet container a rendering describes, as the kubelet would start it: the
    rendered arguments and environment (downward API fields filled in), and the rendered volumes
    (Secrets and ConfigMaps of the rendering written out as files, emptyDirs as empty directories)
    under a scratch root, with the mount paths in the arguments pointing there. Only the port and
    address are changed, to a free port on 127.0.0.1. With a token mounted, the in-cluster
    configuration points at an APIServerDouble."""

    def __init__(self, docs, directory, apiserver=None):
        self.directory = directory
        deployment = one(docs, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {}
        for mount in container["volumeMounts"]:
            local = os.path.join(directory, "root" + mount["mountPath"])
            os.makedirs(local, exist_ok=True)
            volume = volumes[mount["name"]]
            files = {}
            if "secret" in volume:
                secret = find(docs, "Secret", volume["secret"]["secretName"])
                self.assert_rendered(secret, volume)
                files = {k: base64.b64decode(v) for k, v in secret[0]["data"].items()}
            elif "configMap" in volume:
                configmap = find(docs, "ConfigMap", volume["configMap"]["name"])
                self.assert_rendered(configmap, volume)
                files = {k: v.encode() for k, v in (configmap[0].get("data") or {}).items()}
            for item in volume.get("secret", volume.get("configMap", {})).get("items", []):
                files[item["path"]] = files.pop(item["key"])
            for name, content in files.items():
                with open(os.path.join(local, name), "wb") as f:
                    f.write(content)
            mounts[mount["mountPath"]] = local
        self.ca = os.path.join(mounts["/etc/signet/tls"], "ca.crt")
        self.host = f"{one(docs, 'Service')['metadata']['name']}.{NAMESPACE}.svc"
        self.port = free_port()
        args = []
        for arg in container["args"]:
            if arg.startswith("--port="):
                arg = f"--port={self.port}"
            flag, equals, value = arg.partition("=")
            for path in sorted(mounts, key=len, reverse=True):
                if equals and (value == path or value.startswith(path + "/")):
                    arg = flag + "=" + mounts[path] + value[len(path):]
                    break
            args.append(arg)
        args.append("--address=127.0.0.1")
        self.args = args
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": directory}
        downward = {"metadata.namespace": NAMESPACE, "metadata.name": f"{RELEASE}-0"}
        for variable in container.get("env", []):
            if "value" in variable:
                env[variable["name"]] = variable["value"]
            else:
                env[variable["name"]] = downward[variable["valueFrom"]["fieldRef"]["fieldPath"]]
        if pod["automountServiceAccountToken"]:
            if apiserver is None:
                raise AssertionError("the pod mounts an API token but no API server runs")
            account = apiserver.service_account(os.path.join(directory, "serviceaccount"))
            with open(os.path.join(account, "namespace"), "w") as f:
                f.write(NAMESPACE)
            env.update(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(apiserver.port),
                       SIGNET_SERVICE_ACCOUNT_DIR=account)
        self.stdout_path = os.path.join(directory, "signet.stdout")
        self.stderr_path = os.path.join(directory, "signet.stderr")
        self.env = env

    @staticmethod
    def assert_rendered(found, volume):
        if len(found) != 1:
            raise AssertionError(f"volume {volume['name']} refers to an object the rendering lacks")

    def __enter__(self):
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen([SIGNET] + self.args, env=self.env, stdout=out, stderr=err, cwd=self.directory)
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()

    def logs(self):
        with open(self.stderr_path) as f:
            return f.read()[-4000:]

    def request(self, path, body=None):
        """(HTTP status, body) of a request to the pod, verified against the rendered CA under the
        Service's DNS name, as the API server connects."""
        if self.process.poll() is not None:
            raise AssertionError(f"signet exited {self.process.returncode}:\n{self.logs()}")
        url = f"https://{self.host}:{self.port}{path}"
        command = ["curl", "-sS", "--max-time", "30", "--cacert", self.ca, "--resolve", f"{self.host}:{self.port}:127.0.0.1",
                   "-w", "\n%{http_code}", url]
        if body is not None:
            command += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        result = subprocess.run(command, input=json.dumps(body) if body is not None else None, capture_output=True, text=True)
        if result.returncode != 0:
            return 0, result.stderr
        text, _, code = result.stdout.rpartition("\n")
        return int(code), text

    def review(self, image, namespace):
        uid = f"review-{namespace}-{image}"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": namespace},
               "spec": {"containers": [{"name": "web", "image": image}]}}
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "name": "web", "namespace": namespace,
            "operation": "CREATE", "userInfo": {"username": "alice"}, "object": pod, "dryRun": False}}
        status, text = self.request("/validate?timeout=10s", review)
        if status != 200:
            raise AssertionError(f"/validate answered {status}: {text}")
        response = json.loads(text)["response"]
        if response["uid"] != uid:
            raise AssertionError(f"answer for another request: {response}")
        return response

    def wait_until(self, what, condition):
        """Polls `condition` until it holds; fails when signet exits or after a generous bound."""
        for _ in range(1200):
            if self.process.poll() is not None:
                raise AssertionError(f"signet exited {self.process.returncode} while waiting for {what}:\n{self.logs()}")
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"never happened: {what}\n{self.logs()}")


def namespace_object(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": dict({"kubernetes.io/metadata.name": name}, **(labels or {}))}}


def granted(docs, method, path, query, account=None):
    """Whether the RBAC objects of a rendering let `account` (the webhook's service account when
    not given) make this request."""
    group, namespace, resource, name, subresource = parse_path(path)
    if method == "GET":
        verb = "watch" if query.get("watch", ["0"])[0] in ("1", "true") else ("get" if name else "list")
    else:
        verb = {"PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}[method]
    full = f"{resource}/{subresource}" if subresource else resource
    account = account or one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]

    def bound(binding):
        return any(s["kind"] == "ServiceAccount" and s["name"] == account and s["namespace"] == NAMESPACE for s in binding["subjects"])

    roles = [r for b in find(docs, "ClusterRoleBinding") if bound(b) for r in find(docs, "ClusterRole", b["roleRef"]["name"])]
    if namespace:
        roles += [r for b in find(docs, "RoleBinding") if bound(b) and b["metadata"]["namespace"] == namespace
                  for r in find(docs, b["roleRef"]["kind"], b["roleRef"]["name"])
                  if r["kind"] == "ClusterRole" or r["metadata"]["namespace"] == namespace]
    for role in roles:
        for rule in role["rules"]:
            if group in rule["apiGroups"] and full in rule["resources"] and verb in rule["verbs"] \
                    and (not rule.get("resourceNames") or name in rule["resourceNames"]):
                return True
    return False


@unittest.skipUnless(SIGNET and os.path.exists(SIGNET), "SIGNET_BINARY not built")
class RenderedPodServes(unittest.TestCase):
    """The pod the chart renders, run with the built signet: it starts with the rendered flags and
    volumes, serves the chart-generated certificate, and enforces the release's policies."""

    def test_default_install_reads_its_policies_from_the_cluster(self):
        docs = render("defaults")
        values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
        objects = {"clusterimagepolicies": find(docs, "ClusterImagePolicy"),
                   "namespaces": [namespace_object("default"), namespace_object("kube-system"),
                                  namespace_object("sandbox", {values["webhook"]["optOutLabel"]: "true"})]}
        with tempfile.TemporaryDirectory() as directory, APIServerDouble(directory, objects) as api:
            api.hold_lists(True)
            with RenderedPod(docs, directory, api) as pod:
                # Serving, but not ready while the first lists cannot complete.
                pod.wait_until("a list of the policies was tried", lambda: any(
                    method == "GET" and path == "/apis/signet.dev/v1alpha1/clusterimagepolicies" and "watch" not in query
                    for method, path, query in api.recorded()))
                status, text = pod.request("/readyz")
                self.assertEqual(status, 503, text)
                self.assertIn("policies not loaded", text)

                api.hold_lists(False)
                pod.wait_until("ready after the first full sync", lambda: pod.request("/readyz")[0] == 200)
                self.assertTrue(pod.review("registry.k8s.io/pause:3.10", "default")["allowed"], "a release policy admits it")
                warned = pod.review("docker.io/library/nginx:1.27", "default")
                self.assertTrue(warned["allowed"], "no policy covers it, and a first install warns rather than denies")
                self.assertIn('image "docker.io/library/nginx:1.27" (container "web") is not covered by any ClusterImagePolicy',
                              " ".join(warned.get("warnings", [])))
                opted_out = pod.review("docker.io/library/nginx:1.27", "sandbox")
                self.assertTrue(opted_out["allowed"], "the opt-out label is honoured")
                self.assertEqual(opted_out["auditAnnotations"]["namespace-opt-out"], values["webhook"]["optOutLabel"] + "=true")
                self.assertNotIn("warnings", opted_out)
                pod.wait_until("the policy's status written", lambda: (
                    (api.stored("clusterimagepolicies", "system-images") or {}).get("status", {}).get("state") == "Ready"))
                pod.wait_until("every resource watched", lambda: {
                    path for method, path, query in api.recorded() if query.get("watch")} >= {
                    "/apis/signet.dev/v1alpha1/clusterimagepolicies", "/apis/signet.dev/v1alpha1/policyexceptions",
                    "/apis/signet.dev/v1alpha1/emergencybypasses", "/api/v1/namespaces"})
            requests = api.recorded()
        self.assertTrue(requests)
        for method, path, query in requests:
            with self.subTest(request=f"{method} {path}?{urllib.parse.urlencode(query, doseq=True)}"):
                self.assertTrue(granted(docs, method, path, query), "the chart's RBAC does not allow this request")

    def test_enforce_install_denies_what_no_policy_covers(self):
        docs = render("enforce")
        with tempfile.TemporaryDirectory() as directory, \
                APIServerDouble(directory, {"clusterimagepolicies": find(docs, "ClusterImagePolicy"),
                                            "namespaces": [namespace_object("default")]}) as api:
            with RenderedPod(docs, directory, api) as pod:
                pod.wait_until("ready", lambda: pod.request("/readyz")[0] == 200)
                self.assertTrue(pod.review("registry.k8s.io/pause:3.10", "default")["allowed"])
                denied = pod.review("docker.io/library/nginx:1.27", "default")
                self.assertFalse(denied["allowed"], "enforcement.mode=enforce denies what no policy covers")
                self.assertIn("no-match action is deny", denied["status"]["message"])

    def test_configmap_install_reads_its_policies_from_files(self):
        docs = render("configmap-source")
        with tempfile.TemporaryDirectory() as directory, RenderedPod(docs, directory) as pod:
            pod.wait_until("ready", lambda: pod.request("/readyz")[0] == 200)
            self.assertTrue(pod.review("registry.k8s.io/pause:3.10", "default")["allowed"])
            self.assertTrue(pod.review("docker.io/library/nginx:1.27", "default").get("warnings"), "warned, not denied")


class KubectlClientDryRun(unittest.TestCase):
    """`helm template charts/signet | kubectl apply --dry-run=client -f -` accepts every document,
    against a stand-in for an API server's discovery (discovery_server.py)."""

    def test_kubectl_accepts_every_document(self):
        extra = [("cert-manager.io", "v1", "Certificate", "certificates", True),
                 ("cert-manager.io", "v1", "Issuer", "issuers", True),
                 ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", True),
                 ("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules", True)]
        for path in crd_files():
            for crd in yaml.safe_load_all(open(path)):
                if crd and crd.get("kind") == "CustomResourceDefinition":
                    for version in crd["spec"]["versions"]:
                        extra.append((crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"],
                                      crd["spec"]["names"]["plural"], crd["spec"]["scope"] == "Namespaced"))
        with DiscoveryServer(KUBE_VERSION, extra) as server, tempfile.TemporaryDirectory() as directory:
            kubeconfig = os.path.join(directory, "kubeconfig")
            server.kubeconfig(kubeconfig)
            env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=directory)
            inputs = {f"{helm} {name}": render_text(name, helm=helm) for helm in HELMS for name in SCENARIOS}
            inputs["deploy/signet.yaml"] = open(os.path.join(ROOT, "deploy", "signet.yaml")).read()
            if crd_files():
                inputs["deploy/crds"] = "\n---\n".join(open(p).read() for p in crd_files())
            if crd_schemas():
                inputs["policies"] = "\n---\n".join(open(p).read() for p in Policies.files(None))
            for name, text in inputs.items():
                with self.subTest(input=name):
                    count = len([d for d in yaml.safe_load_all(text) if d])
                    result = run([KUBECTL, "apply", "--dry-run=client", "-f", "-"], check=False, input=text, env=env, timeout=120)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertEqual(result.stdout.count("created (dry run)"), count, result.stdout)


class Summary(unittest.TextTestResult):
    pass


if __name__ == "__main__":
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Summary)
    result = runner.run(unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"deploy: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
