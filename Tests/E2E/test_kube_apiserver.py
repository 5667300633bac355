#!/usr/bin/env python3
"""signet end to end against a real Kubernetes API server.

Run by `make test-e2e` (and `make test`). Starts on 127.0.0.1 only: etcd and kube-apiserver
(kube_cluster.py, with RBAC, TokenRequest and an audit log), two docker-registry instances
(registry.py: one anonymous, one with Basic auth) holding the connaisseur vectors' real cosign
signatures, and the built signet out of cluster, with a TokenRequest token of the chart's
ServiceAccount (so the real RBAC checks every call it makes) and the chart's serving certificate.
The chart is installed by Helm with `webhook.url` pointing the API server at that signet; no
webhook ever names a Service while an object it matches is created, so the API server never
resolves a name or leaves loopback. No node runs: the tests check what the API server stores,
refuses and logs.

The steps run in order (one control plane for the whole run): chart install, signet up, every
admission path through kubectl, expiry, signet's own resources, pull secrets before and after a
chart upgrade, fail-closed, the audit log, chart uninstall, then `kubectl apply -f deploy/`.

Environment: KUBE_APISERVER (else ../shared/tools/kube-apiserver.xz unpacked into .tools/bin),
SIGNET_BINARY, HELM, KUBECTL. Without an API server binary the suite prints one line and is skipped.
"""
import base64
import datetime
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube_cluster  # noqa: E402
from kube_cluster import KubeCluster, Process, Unavailable, free_port, wait_until, write  # noqa: E402
from registry import Registry, Vectors, tampered_signature, unsigned_variant  # noqa: E402

ROOT = kube_cluster.ROOT
CHART = os.path.join(ROOT, "charts", "signet")
# Absolute: the tools run in a scratch directory.
HELM = os.path.abspath(os.environ.get("HELM", os.path.join(ROOT, ".tools", "bin", "helm")))
KUBECTL = os.path.abspath(os.environ.get("KUBECTL", os.path.join(ROOT, ".tools", "bin", "kubectl")))
SIGNET = os.path.abspath(os.environ["SIGNET_BINARY"]) if os.environ.get("SIGNET_BINARY") else ""
RELEASE = "signet"
NAMESPACE = "signet-e2e"
KEY_SECRET = "e2e-release-key"
NOTATION_CONFIGMAP = "e2e-notation-trust"
NOTATION_TESTDATA = os.path.join(kube_cluster.ROOT, "Tests", "Vectors", "notation", "test", "e2e", "testdata")
REGISTRY_USER, REGISTRY_PASSWORD = "puller", "e2e-registry-password"
OPT_OUT_GROUP = "e2e-opt-out-approvers"
# The audience console tokens must be issued for (console.tokenAudiences).
CONSOLE_AUDIENCE = f"signet-console.{NAMESPACE}"


def rfc3339(delta):
    """Now plus `delta`, as RFC 3339 in UTC with whole seconds."""
    return (datetime.datetime.now(datetime.timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


class Environment:
    """Everything the steps share: the control plane, registries, signet and the tool settings."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="signet-e2e-")
        self.cluster = None
        self.registries = []
        self.signet = None
        self.signet_port = free_port()
        self.console_port = free_port()
        self.signet_started = False
        home = os.path.join(self.directory, "home")
        os.makedirs(home)
        # Loopback only: no proxy, tool state in the scratch directory.
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
                    "HELM_CACHE_HOME": os.path.join(home, "helm-cache"), "HELM_CONFIG_HOME": os.path.join(home, "helm-config"),
                    "HELM_DATA_HOME": os.path.join(home, "helm-data"), "NO_PROXY": "127.0.0.1,localhost",
                    "no_proxy": "127.0.0.1,localhost"}

    def start(self, apiserver):
        self.cluster = KubeCluster(self.directory, apiserver).start()
        self.env["KUBECONFIG"] = self.cluster.kubeconfig
        self.vectors = Vectors()
        self.registry = Registry(self.directory, "registry")
        self.private = Registry(self.directory, "private-registry", users={REGISTRY_USER: REGISTRY_PASSWORD})
        self.registries = [self.registry, self.private]
        v = self.vectors
        # signet caches a verdict by digest, policy and authority, so each case has a digest (or
        # a policy) of its own: alice's image signed (and under a policy that wants bob's key); a
        # re-serialised copy of it unsigned; the alice-bob-charlie image with every signature
        # altered (tampered), and intact behind Basic auth (private); the keyless image under two
        # identity rules.
        self.registry.push_signed(v, "signed/testimage", v.ALICE, tag="alice")
        self.registry.push_image("unsigned/testimage", "alice", unsigned_variant(v.manifest(v.ALICE)))
        self.registry.push_signed(v, "tampered/testimage", v.ALICE_BOB_CHARLIE, tag="abc",
                                  signature=tampered_signature(v.manifest(v.signature_tag(v.ALICE_BOB_CHARLIE))))
        self.registry.push_signed(v, "alice-only/testimage", v.ALICE, tag="alice")
        self.registry.push_signed(v, "keyless/testimage", v.KEYLESS, tag="keyless")
        self.registry.push_signed(v, "keyless-bob/testimage", v.KEYLESS, tag="keyless")
        self.private.push_signed(v, "private/testimage", v.ALICE_BOB_CHARLIE, tag="abc")
        reg, priv = self.registry.host, self.private.host
        self.images = {
            "signed": f"{reg}/signed/testimage:alice",
            "signed-digest": f"{reg}/signed/testimage@{v.digest(v.ALICE)}",
            "unsigned": f"{reg}/unsigned/testimage:alice",
            "tampered": f"{reg}/tampered/testimage:abc",
            "wrong-key": f"{reg}/alice-only/testimage:alice",
            "keyless": f"{reg}/keyless/testimage:keyless",
            "keyless-bob": f"{reg}/keyless-bob/testimage:keyless",
            "uncovered": f"{reg}/elsewhere/testimage:alice",
            "private": f"{priv}/private/testimage:abc",
        }

    def stop(self):
        if self.signet:
            self.signet.stop()
        for registry in self.registries:
            registry.stop()
        if self.cluster:
            self.cluster.stop()
        if os.environ.get("SIGNET_E2E_KEEP"):
            print(f"e2e: kept {self.directory}", file=sys.stderr)
        else:
            shutil.rmtree(self.directory, ignore_errors=True)

    # Tools.
    def run(self, args, input=None, check=True, timeout=120):
        result = subprocess.run(args, input=input, capture_output=True, text=True, env=self.env, cwd=self.directory, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def kubectl(self, *args, input=None, check=True):
        if isinstance(input, (dict, list)):
            input = json.dumps(input)
        return self.run([KUBECTL, "--request-timeout=60s"] + list(args), input=input, check=check)

    def helm(self, *args, check=True):
        return self.run([HELM] + list(args), check=check, timeout=180)

    def get(self, *args):
        """An object (or list) as JSON, or None when it does not exist."""
        result = self.kubectl("get", *args, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)

    def namespace(self, name, labels=None):
        """A namespace with its `default` ServiceAccount (no controller-manager makes it)."""
        doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
        self.kubectl("apply", "-f", "-", input=doc)
        if self.get("serviceaccount", "default", "-n", name) is None:
            self.kubectl("create", "serviceaccount", "default", "-n", name)

    def namespace_editors(self):
        """RBAC that lets tenants (e2e-tenants) and the opt-out approvers update namespaces, so
        that signet, not RBAC, decides who may set the opt-out label."""
        self.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "e2e-namespace-editor"},
             "rules": [{"apiGroups": [""], "resources": ["namespaces", "namespaces/finalize"], "verbs": ["get", "list", "create", "update", "patch"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "e2e-namespace-editor"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "e2e-namespace-editor"},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in ("e2e-tenants", OPT_OUT_GROUP)]}]})

    def opt_out(self, name):
        """A namespace labelled signet.dev/exclude=true by a member of the opt-out group."""
        self.namespace(name)
        self.namespace_editors()
        self.kubectl("label", "namespace", name, "signet.dev/exclude=true", "--overwrite", "--as=alice", f"--as-group={OPT_OUT_GROUP}")
        wait_until(f"signet sees {name} opted out through its namespace watch", lambda: self.kubectl(
            "run", "opt-out-probe", "-n", name, f"--image={self.images['uncovered']}", "--dry-run=server", check=False).returncode == 0,
            timeout=30)

    def values_flags(self):
        return ["--set", f"webhook.url=https://127.0.0.1:{self.signet_port}/validate",
                "--set", "replicaCount=1",
                "--set", f"registry.insecureRegistries={{{self.registry.host},{self.private.host}}}",
                # secretRef keys read through the API, the chart granting this one Secret by name.
                "--set", "keySecretsSource=api", "--set", f"keySecrets={{{KEY_SECRET}}}",
                # The notation trust policy and CA certificate in one ConfigMap, granted by name.
                "--set", f"trustConfigMaps={{{NOTATION_CONFIGMAP}}}",
                # Who may opt a namespace out (signet validates Namespace label changes).
                "--set", f"webhook.optOutGroup={OPT_OUT_GROUP}",
                # ... and the label policies' namespace selectors read, under the same rule.
                "--set", "webhook.guardedNamespaceLabels={environment}",
                # The scan CronJob and PolicyReports: RBAC on Pods and reports, the report CRDs.
                "--set", "continuousVerification.cronJob.enabled=true", "--set", "policyReports.enabled=true",
                # The console (TokenReview and SubjectAccessReview RBAC) and an SQLite history;
                # console tokens must be issued for the console's audience.
                "--set", "console.enabled=true", "--set", f"console.tokenAudiences={{{CONSOLE_AUDIENCE}}}",
                "--set", "history.enabled=true"]

    def service_account_dir(self, account, directory, duration="2h"):
        """`directory` as a Pod of `account` would have its token mounted (token, namespace,
        ca.crt), with a TokenRequest token of that ServiceAccount in the release namespace."""
        os.makedirs(directory, exist_ok=True)
        token = self.kubectl("create", "token", account, "-n", NAMESPACE, f"--duration={duration}").stdout.strip()
        write(os.path.join(directory, "token"), token)
        write(os.path.join(directory, "namespace"), NAMESPACE)
        shutil.copy(self.cluster.ca_file, os.path.join(directory, "ca.crt"))
        return directory

    # signet, out of cluster, as the chart's Deployment describes it.
    def start_signet(self):
        manifest = self.helm("get", "manifest", RELEASE, "-n", NAMESPACE).stdout
        docs = [d for d in yaml.safe_load_all(manifest) if d]
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        root = os.path.join(self.directory, "signet")
        os.makedirs(root, exist_ok=True)
        # The serving certificate from the chart's Secret, as the volume would mount it.
        tls_dir = os.path.join(root, "tls")
        os.makedirs(tls_dir, exist_ok=True)
        secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "tls")
        secret = self.get("secret", secret_name, "-n", NAMESPACE)
        for key, value in secret["data"].items():
            write(os.path.join(tls_dir, key), base64.b64decode(value))
        self.signet_ca = os.path.join(tls_dir, "ca.crt")
        # A TokenRequest token of the chart's ServiceAccount: the real RBAC decides every call.
        account_dir = self.service_account_dir(pod["serviceAccountName"], os.path.join(root, "serviceaccount"))
        args = []
        for arg in container["args"]:
            if arg.startswith("--port="):
                arg = f"--port={self.signet_port}"
            elif arg.startswith("--tls-cert="):
                arg = f"--tls-cert={tls_dir}/tls.crt"
            elif arg.startswith("--tls-key="):
                arg = f"--tls-key={tls_dir}/tls.key"
            elif arg.startswith("--console-port="):
                arg = f"--console-port={self.console_port}"
            elif arg.startswith("--history-sqlite="):
                arg = f"--history-sqlite={root}/history.sqlite"
            args.append(arg)
        args += ["--address=127.0.0.1", "--log-format=json", f"--key-secrets-dir={root}/key-secrets"]
        env = {"PATH": self.env["PATH"], "HOME": root, "NO_PROXY": "*", "no_proxy": "*",
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.cluster.port),
               "SIGNET_SERVICE_ACCOUNT_DIR": account_dir, "SIGNET_NAMESPACE": NAMESPACE, "SIGNET_POD_NAME": f"{RELEASE}-e2e"}
        self.signet_args = args
        self.signet = Process("signet", [SIGNET] + args, root, env=env)
        wait_until("signet is ready (first full sync through the real API)", lambda: self.signet_get("/readyz") == 200,
                   timeout=60, on_timeout=lambda: self.signet.stderr_tail())
        self.signet_started = True

    def signet_get(self, path):
        if not self.signet.running():
            raise AssertionError(f"signet exited {self.signet.popen.returncode}:\n{self.signet.stderr_tail()}")
        result = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "--cacert", self.signet_ca, "-o", "/dev/null",
                                 "-w", "%{http_code}", f"https://127.0.0.1:{self.signet_port}{path}"],
                                capture_output=True, text=True, timeout=30)
        return int(result.stdout or 0)

    def console(self, path, token=None, method="GET", body=None):
        """A console request with curl: (status, parsed JSON body or text)."""
        args = ["curl", "-sS", "--noproxy", "*", "--max-time", "60", "--cacert", self.signet_ca, "-X", method,
                "-w", "\n%{http_code}", f"https://127.0.0.1:{self.console_port}{path}"]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=90)
        text, _, status = result.stdout.rpartition("\n")
        try:
            return int(status or 0), json.loads(text)
        except ValueError:
            return int(status or 0), text

    def stop_signet(self):
        self.signet.stop()

    def metrics_token(self):
        """A token of a Prometheus-like ServiceAccount bound to the chart's signet-metrics-reader
        ClusterRole (made once): what a ServiceMonitor scrape sends."""
        if getattr(self, "_metrics_token", None) is None:
            self.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "e2e-prometheus", "namespace": NAMESPACE}},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "e2e-prometheus-metrics"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "signet-metrics-reader"},
                 "subjects": [{"kind": "ServiceAccount", "name": "e2e-prometheus", "namespace": NAMESPACE}]}]})
            self._metrics_token = self.kubectl("create", "token", "e2e-prometheus", "-n", NAMESPACE, "--duration=2h").stdout.strip()
        return self._metrics_token

    def metrics_request(self, token=None):
        """(status, body) of GET /metrics on the webhook's port, with `token` as the bearer."""
        args = ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "--cacert", self.signet_ca, "-w", "\n%{http_code}",
                f"https://127.0.0.1:{self.signet_port}/metrics"]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        result = subprocess.run(args, capture_output=True, text=True, timeout=30)
        text, _, status = result.stdout.rpartition("\n")
        return int(status or 0), text

    def signet_metrics(self):
        status, text = self.metrics_request(self.metrics_token())
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {text}")
        return text

    def signet_metric(self, sample):
        """The value of one sample (`name{labels}` as exposed), or None."""
        for line in self.signet_metrics().splitlines():
            if line.startswith(sample + " "):
                return float(line[len(sample) + 1:])
        return None


ENV = None


def prerequisites():
    """The kube-apiserver binary, once every peer the suite needs is there; Unavailable says what is missing."""
    for tool in (HELM, KUBECTL):
        if not os.access(tool, os.X_OK):
            raise Unavailable(f"{tool} is missing: run `make tools`")
    if not (SIGNET and os.access(SIGNET, os.X_OK)):
        raise Unavailable("SIGNET_BINARY is not set to a built signet")
    for program in (kube_cluster.ETCD, "/usr/bin/docker-registry"):
        if not os.access(program, os.X_OK):
            raise Unavailable(f"{program} is missing: run `make deps` (Debian's etcd-server and docker-registry)")
    return kube_cluster.find_apiserver()


def setUpModule():
    global ENV
    try:
        apiserver = prerequisites()
    except Unavailable as reason:
        raise unittest.SkipTest(str(reason))
    ENV = Environment()
    try:
        ENV.start(apiserver)
    except BaseException:
        ENV.stop()
        raise


def tearDownModule():
    if ENV:
        ENV.stop()


class Step(unittest.TestCase):
    """Shared assertions over kubectl results. The steps after T02 need the release installed
    and signet serving; when that failed they are skipped rather than failed one by one."""
    needs_signet = True

    def setUp(self):
        if self.needs_signet and not ENV.signet_started:
            self.skipTest("the chart install or signet's start failed in an earlier step")

    def assertAdmitted(self, result, warning=None):
        self.assertEqual(result.returncode, 0, f"refused:\n{result.stdout}\n{result.stderr}")
        if warning:
            self.assertIn(warning, result.stderr)

    def assertDenied(self, result, *reasons):
        self.assertNotEqual(result.returncode, 0, f"admitted:\n{result.stdout}\n{result.stderr}")
        for reason in reasons:
            self.assertIn(reason, result.stderr)

    def assertDeniedBySignet(self, result, *reasons):
        self.assertDenied(result, 'admission webhook "images.signet.dev" denied the request', *reasons)

    def assertGrantedByName(self, kind, name):
        """The chart's ServiceAccount may get and watch the `kind` object `name` of the release
        namespace, and no other object of that kind, nor list them all (RBAC resourceNames)."""
        account = f"system:serviceaccount:{NAMESPACE}:{RELEASE}"
        for verb, target, expected in (("get", f"{kind}/{name}", "yes"), ("watch", f"{kind}/{name}", "yes"),
                                       ("get", f"{kind}/kube-root-ca.crt", "no"), ("list", f"{kind}s", "no")):
            with self.subTest(verb=verb, target=target):
                result = ENV.kubectl("auth", "can-i", verb, target, "-n", NAMESPACE, "--as", account, check=False)
                self.assertEqual(result.stdout.strip(), expected, result.stderr)

    @staticmethod
    def pod(name, namespace, image, **spec):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                "spec": dict({"containers": [{"name": "app", "image": image}]}, **spec)}


class T01ChartInstall(Step):
    """`helm install` of the chart, signet's webhooks pointed at it by URL."""
    needs_signet = False

    def test_install(self):
        result = ENV.helm("install", RELEASE, CHART, "-n", NAMESPACE, "--create-namespace", *ENV.values_flags())
        self.assertIn("STATUS: deployed", result.stdout)
        # The CRDs of crds/ are installed first and established.
        for crd in ("clusterimagepolicies", "policyexceptions", "emergencybypasses"):
            stored = ENV.get("crd", f"{crd}.signet.dev")
            conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
            self.assertEqual(conditions.get("Established"), "True", crd)
            self.assertEqual(conditions.get("NonStructuralSchema", "False"), "False", crd)
        # Every webhook calls signet by URL, with the chart's CA.
        config = ENV.get("validatingwebhookconfiguration", RELEASE)
        self.assertEqual({w["name"] for w in config["webhooks"]},
                         {"images.signet.dev", "policies.signet.dev", "exemptions.signet.dev", "namespaces.signet.dev",
                          "namespaces-0.signet.dev"})
        secret = ENV.get("secret", f"{RELEASE}-tls", "-n", NAMESPACE)
        for webhook in config["webhooks"]:
            self.assertEqual(webhook["clientConfig"]["url"], f"https://127.0.0.1:{ENV.signet_port}/validate")
            self.assertNotIn("service", webhook["clientConfig"])
            self.assertEqual(webhook["clientConfig"]["caBundle"], secret["data"]["ca.crt"])
        # The workload is stored; no node runs it.
        deployment = ENV.get("deployment", RELEASE, "-n", NAMESPACE)
        self.assertEqual(deployment["spec"]["replicas"], 1)
        self.assertEqual(ENV.get("pods", "-n", NAMESPACE)["items"], [])
        self.assertIsNotNone(ENV.get("serviceaccount", RELEASE, "-n", NAMESPACE))
        self.assertIsNotNone(ENV.get("clusterrolebinding", RELEASE))
        policy = ENV.get("clusterimagepolicy", "system-images")
        self.assertEqual(policy["metadata"]["labels"]["signet.dev/chart-release"], RELEASE)
        self.assertEqual(policy["spec"]["require"], "all", "the CRD's default applies")


class T02SignetUp(Step):
    """signet out of cluster with the chart's ServiceAccount token, and the test policies."""
    needs_signet = False

    def test_signet_syncs_and_writes_status(self):
        ENV.start_signet()
        wait_until("the release policy's status is written through the status subresource",
                   lambda: (ENV.get("clusterimagepolicy", "system-images").get("status") or {}).get("state") == "Ready",
                   timeout=30)

    def test_the_chart_rbac_is_exactly_what_signet_may_do(self):
        account = f"system:serviceaccount:{NAMESPACE}:{RELEASE}"
        allowed = [("list", "clusterimagepolicies.signet.dev"), ("watch", "policyexceptions.signet.dev"),
                   ("patch", "clusterimagepolicies.signet.dev", "--subresource=status"), ("list", "namespaces"), ("create", "events"),
                   ("get", "replicasets.apps"), ("get", "deployments.apps"), ("get", "cronjobs.batch"),
                   ("get", "replicationcontrollers")]
        denied = [("get", "secrets"), ("list", "replicasets.apps"), ("watch", "deployments.apps"), ("get", "pods"), ("list", "pods"), ("update", "clusterimagepolicies.signet.dev"), ("create", "pods"), ("list", "serviceaccounts"),
                  ("delete", "events"), ("update", "events"), ("get", "events"), ("patch", "events"), ("create", "policyexceptions.signet.dev"),
                  ("update", "emergencybypasses.signet.dev", "--subresource=status")]
        for verb, resource, *extra in allowed + denied:
            with self.subTest(verb=verb, resource=resource, extra=extra):
                result = ENV.kubectl("auth", "can-i", verb, resource, *extra, "--as", account, "-A", check=False)
                self.assertEqual(result.stdout.strip(), "yes" if (verb, resource, *extra) in allowed else "no", result.stderr)
        # Events are patched in default alone, where a cluster-scoped bypass's Events are stored.
        for namespace, expected in (("default", "yes"), (NAMESPACE, "no"), ("e2e-apps", "no")):
            with self.subTest(patch_events_in=namespace):
                result = ENV.kubectl("auth", "can-i", "patch", "events", "--as", account, "-n", namespace, check=False)
                self.assertEqual(result.stdout.strip(), expected, result.stderr)


    def test_then_metrics_answer_only_a_token_whose_user_may_get_them(self):
        """The chart's default (metrics.auth kubernetes with the kubernetes source): /metrics
        answers a token of an account bound to signet-metrics-reader, reviewed by the real API
        server (TokenReview, SubjectAccessReview on the non-resource URL); no token is 401, an
        account without the binding 403; the probes stay open."""
        self.assertIn("--metrics-auth=kubernetes", ENV.signet_args)
        status, text = ENV.metrics_request()
        self.assertEqual(status, 401, text)
        status, text = ENV.metrics_request("not-a-token")
        self.assertEqual(status, 401, text)
        ENV.namespace("e2e-metrics")
        stranger = ENV.kubectl("create", "token", "default", "-n", "e2e-metrics", "--duration=1h").stdout.strip()
        status, text = ENV.metrics_request(stranger)
        self.assertEqual(status, 403, text)
        self.assertIn("may not get /metrics", text)
        self.assertNotIn("signet_", text)
        status, text = ENV.metrics_request(ENV.metrics_token())
        self.assertEqual(status, 200, text)
        self.assertIn("signet_metrics_access_total", text)
        self.assertEqual(ENV.signet_get("/readyz"), 200)


class T02bFirstInstallCannotLockOut(Step):
    """The chart as installed (enforcement.mode warn): the system pods of a cluster whose images
    no policy covers (cert-manager-, ingress- and monitoring-like) are admitted with a warning,
    and so is a drain that re-creates them; with enforcement.mode=enforce they are denied. The
    serving certificate's expiry is in /metrics."""
    SYSTEM_PODS = [("e2e-cert-manager", "cert-manager", "quay.io/jetstack/cert-manager-controller:v1.16.1"),
                   ("e2e-cert-manager", "cert-manager-webhook", "quay.io/jetstack/cert-manager-webhook:v1.16.1"),
                   ("e2e-ingress", "ingress-nginx", "registry.k8s.io/ingress-nginx/controller:v1.11.3"),
                   ("e2e-monitoring", "prometheus", "quay.io/prometheus/prometheus:v2.54.1"),
                   ("e2e-monitoring", "node-exporter", "quay.io/prometheus/node-exporter:v1.8.2")]

    def create_system_pods(self):
        return {(ns, name): ENV.kubectl("apply", "-f", "-", input=self.pod(name, ns, image), check=False)
                for ns, name, image in self.SYSTEM_PODS}

    def test_1_fresh_install_warns_and_a_drain_succeeds(self):
        self.assertEqual(ENV.get("deployment", RELEASE, "-n", NAMESPACE)["spec"]["template"]["spec"]["containers"][0]["args"].count(
            "--no-match-action=warn"), 1)
        for namespace in {ns for ns, _, _ in self.SYSTEM_PODS}:
            ENV.namespace(namespace)
        for attempt in ("install", "drain"):
            results = self.create_system_pods()
            for (ns, name, image) in self.SYSTEM_PODS:
                with self.subTest(attempt=attempt, pod=f"{ns}/{name}"):
                    result = results[(ns, name)]
                    if image.startswith("registry.k8s.io/"):
                        self.assertAdmitted(result)   # the chart's system-images policy covers it
                        self.assertNotIn("not covered", result.stderr)
                    else:
                        self.assertAdmitted(result, f'image "{image}" (container "app") is not covered by any ClusterImagePolicy')
                    self.assertIsNotNone(ENV.get("pod", name, "-n", ns))
            if attempt == "install":
                # The drain: every pod evicted, then re-created as its controller would.
                for ns, name, _ in self.SYSTEM_PODS:
                    ENV.kubectl("delete", "pod", name, "-n", ns, "--wait=false")
                    wait_until(f"pod {ns}/{name} is gone", lambda: ENV.get("pod", name, "-n", ns) is None, timeout=30)
        self.assertGreaterEqual(ENV.signet_metric('signet_admission_uncovered_images_total{action="warn"}') or 0, 8)

    def test_2_the_serving_certificate_expiry_is_a_metric(self):
        cert = os.path.join(ENV.directory, "signet", "tls", "tls.crt")
        end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", cert],
                             capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
        not_after = datetime.datetime.strptime(end, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        self.assertEqual(ENV.signet_metric("signet_serving_certificate_expiry_timestamp_seconds"), not_after)

    def test_3_enforce_denies_what_no_policy_covers(self):
        result = ENV.helm("upgrade", RELEASE, CHART, "-n", NAMESPACE, "--reuse-values", "--set", "enforcement.mode=enforce")
        self.assertIn("REVISION: 2", result.stdout)
        ENV.stop_signet()
        ENV.start_signet()
        self.assertIn("--no-match-action=deny", ENV.signet_args)
        for ns, name, _ in self.SYSTEM_PODS:
            ENV.kubectl("delete", "pod", name, "-n", ns, "--wait=false")
            wait_until(f"pod {ns}/{name} is gone", lambda: ENV.get("pod", name, "-n", ns) is None, timeout=30)
        results = self.create_system_pods()
        for (ns, name, image) in self.SYSTEM_PODS:
            with self.subTest(pod=f"{ns}/{name}"):
                if image.startswith("registry.k8s.io/"):
                    self.assertAdmitted(results[(ns, name)])
                else:
                    self.assertDeniedBySignet(results[(ns, name)], image, "no-match action is deny")


def policy(name, globs, authorities, **spec):
    return {"apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": {"name": name},
            "spec": dict({"images": [{"glob": g} for g in globs], "authorities": authorities}, **spec)}


def wait_for_state(kind, name, state, *namespace):
    return wait_until(f"{kind} {name} has status {state}",
                      lambda: ((ENV.get(kind, name, *namespace) or {}).get("status") or {}).get("state") == state, timeout=30)


class T03Policies(Step):
    """The test policies, applied with kubectl through signet's own webhook."""

    def test_apply_policies(self):
        reg, priv = ENV.registry.host, ENV.private.host
        alice = {"name": "alice", "key": {"publicKeys": [{"pem": ENV.vectors.key("alice")}]}}
        policies = [
            policy("e2e-alice", [f"{reg}/signed/**", f"{reg}/unsigned/**"], [alice]),
            policy("e2e-tampered", [f"{reg}/tampered/**"], [alice]),
            policy("e2e-bob", [f"{reg}/alice-only/**"], [{"name": "bob", "key": {"publicKeys": [{"pem": ENV.vectors.key("bob")}]}}]),
            policy("e2e-private", [f"{priv}/private/**"], [alice]),
            policy("e2e-keyless", [f"{reg}/keyless/**"], [{"name": "philipp", "keyless": {"identities": [
                {"issuerRegExp": ".*github.*", "subjectRegExp": ".*philipp.*"}]}}]),
            policy("e2e-keyless-bob", [f"{reg}/keyless-bob/**"], [{"name": "bob", "keyless": {"identities": [
                {"issuerRegExp": ".*github.*", "subject": "bob@gmail.com"}]}}]),
        ]
        result = ENV.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": policies})
        self.assertEqual(result.stdout.count("created"), len(policies), result.stdout)
        for p in policies:
            wait_for_state("clusterimagepolicy", p["metadata"]["name"], "Ready")
        listed = ENV.kubectl("get", "cip", "e2e-alice").stdout
        self.assertRegex(listed.splitlines()[1], r"^e2e-alice\s+Enforce\s+.*\s+all\s+Ready\s", "REQUIRE shows the default")
        for name in ("e2e-apps", "e2e-excepted", "e2e-bypassed", "e2e-expiring", "e2e-private", "e2e-norbac"):
            ENV.namespace(name)


class T04Admission(Step):
    """Every admission path, through kubectl and the real API server's webhook dispatch."""
    ns = "e2e-apps"

    def test_kubectl_run(self):
        admitted = ENV.kubectl("run", "signed-tag", "-n", self.ns, f"--image={ENV.images['signed']}", check=False)
        self.assertAdmitted(admitted)
        self.assertIsNotNone(ENV.get("pod", "signed-tag", "-n", self.ns), "stored")
        self.assertAdmitted(ENV.kubectl("run", "signed-digest", "-n", self.ns, f"--image={ENV.images['signed-digest']}", check=False))
        denied = ENV.kubectl("run", "unsigned", "-n", self.ns, f"--image={ENV.images['unsigned']}", check=False)
        self.assertDeniedBySignet(denied, ENV.images["unsigned"], "no cosign signatures")
        self.assertIsNone(ENV.get("pod", "unsigned", "-n", self.ns), "not stored")
        self.assertDeniedBySignet(ENV.kubectl("run", "uncovered", "-n", self.ns, f"--image={ENV.images['uncovered']}", check=False),
                                  "not covered by any ClusterImagePolicy")

    def test_pods_are_pinned_to_the_verified_digest_and_a_retag_cannot_change_them(self):
        """The chart's mutating webhook (webhook.pinDigests, on by default) rewrites a tag to the
        digest signet verified. Moving the tag afterwards changes what new Pods are pinned to,
        never what an admitted Pod runs; Deployments are not rewritten (no GitOps drift)."""
        v, registry = ENV.vectors, ENV.registry
        repository = "signed/pinned"
        first = registry.push_signed(v, repository, v.ALICE, tag="v1")
        image = f"{registry.host}/{repository}:v1"
        self.assertAdmitted(ENV.kubectl("run", "pinned", "-n", self.ns, f"--image={image}", check=False))
        self.assertEqual(ENV.get("pod", "pinned", "-n", self.ns)["spec"]["containers"][0]["image"], f"{image}@{first}")
        self.assertAdmitted(ENV.kubectl("create", "deployment", "pinned", "-n", self.ns, f"--image={image}", check=False))
        self.assertEqual(ENV.get("deployment", "pinned", "-n", self.ns)["spec"]["template"]["spec"]["containers"][0]["image"], image)

        # The tag moves to another build alice signed: once signet's tag cache expires, a new Pod
        # (a server dry run, which goes through the mutating webhook too) gets the new digest.
        second = registry.push_signed(v, repository, v.ALICE_BOB_CHARLIE, tag="v1")
        self.assertNotEqual(first, second)

        def pinned_now():
            result = ENV.kubectl("run", "pinned-again", "-n", self.ns, f"--image={image}", "--dry-run=server",
                                 "-o", "jsonpath={.spec.containers[0].image}", check=False)
            return result.stdout == f"{image}@{second}"
        wait_until("a new Pod pinned to the new digest", pinned_now, timeout=90, interval=2)
        self.assertEqual(ENV.get("pod", "pinned", "-n", self.ns)["spec"]["containers"][0]["image"], f"{image}@{first}")

    def test_kubectl_apply_and_server_dry_run(self):
        signed = self.pod("applied", self.ns, ENV.images["signed"])
        dry = ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=signed, check=False)
        self.assertAdmitted(dry)
        self.assertIn("(server dry run)", dry.stdout)
        self.assertIsNone(ENV.get("pod", "applied", "-n", self.ns), "a dry run stores nothing")
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", input=signed, check=False))
        self.assertIsNotNone(ENV.get("pod", "applied", "-n", self.ns))
        tampered = self.pod("tampered", self.ns, ENV.images["tampered"])
        self.assertDeniedBySignet(ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=tampered, check=False), ENV.images["tampered"])
        self.assertDeniedBySignet(ENV.kubectl("apply", "-f", "-", input=tampered, check=False), ENV.images["tampered"],
                                  "does not verify with any of the 1 trusted key(s)")
        self.assertIsNone(ENV.get("pod", "tampered", "-n", self.ns))
        # One bad image among good ones denies the pod: init containers count.
        mixed = self.pod("mixed", self.ns, ENV.images["signed"], initContainers=[{"name": "init", "image": ENV.images["unsigned"]}])
        self.assertDeniedBySignet(ENV.kubectl("apply", "-f", "-", input=mixed, check=False), ENV.images["unsigned"])

    def test_wrong_key(self):
        denied = ENV.kubectl("run", "wrong-key", "-n", self.ns, f"--image={ENV.images['wrong-key']}", check=False)
        self.assertDeniedBySignet(denied, ENV.images["wrong-key"], 'authority "bob"', "does not verify")
        self.assertIsNone(ENV.get("pod", "wrong-key", "-n", self.ns))

    def test_keyless(self):
        self.assertAdmitted(ENV.kubectl("run", "keyless", "-n", self.ns, f"--image={ENV.images['keyless']}", check=False))
        denied = ENV.kubectl("run", "keyless-bob", "-n", self.ns, f"--image={ENV.images['keyless-bob']}", check=False)
        self.assertDeniedBySignet(denied, "bob@gmail.com")

    def test_kubectl_create_deployment_and_set_image(self):
        self.assertAdmitted(ENV.kubectl("create", "deployment", "web", "-n", self.ns, f"--image={ENV.images['signed']}", check=False))
        self.assertDeniedBySignet(ENV.kubectl("create", "deployment", "web-unsigned", "-n", self.ns,
                                              f"--image={ENV.images['unsigned']}", check=False))
        self.assertIsNone(ENV.get("deployment", "web-unsigned", "-n", self.ns))
        # UPDATE: a new image is checked; the stored one stays.
        denied = ENV.kubectl("set", "image", "deployment/web", "-n", self.ns, f"testimage={ENV.images['tampered']}", check=False)
        self.assertDeniedBySignet(denied)
        stored = ENV.get("deployment", "web", "-n", self.ns)
        self.assertEqual(stored["spec"]["template"]["spec"]["containers"][0]["image"], ENV.images["signed"])
        self.assertAdmitted(ENV.kubectl("set", "image", "deployment/web", "-n", self.ns,
                                        f"testimage={ENV.images['signed-digest']}", check=False))
        stored = ENV.get("deployment", "web", "-n", self.ns)
        self.assertEqual(stored["spec"]["template"]["spec"]["containers"][0]["image"], ENV.images["signed-digest"])

    def test_pod_update_and_ephemeral_containers(self):
        self.assertAdmitted(ENV.kubectl("run", "target", "-n", self.ns, f"--image={ENV.images['signed']}", check=False))
        self.assertDeniedBySignet(ENV.kubectl("set", "image", "pod/target", "-n", self.ns,
                                              f"target={ENV.images['unsigned']}", check=False))
        self.assertAdmitted(ENV.kubectl("set", "image", "pod/target", "-n", self.ns, f"target={ENV.images['signed-digest']}", check=False))
        # kubectl debug adds an ephemeral container (pods/ephemeralcontainers).
        denied = ENV.kubectl("debug", "target", "-n", self.ns, f"--image={ENV.images['tampered']}", "--container=debug-bad", check=False)
        self.assertDeniedBySignet(denied, ENV.images["tampered"])
        self.assertAdmitted(ENV.kubectl("debug", "target", "-n", self.ns, f"--image={ENV.images['keyless']}",
                                        "--container=debug-good", check=False))
        # The mutating webhook pinned it too (pods/ephemeralcontainers), to the digest verified.
        ephemeral = ENV.get("pod", "target", "-n", self.ns)["spec"].get("ephemeralContainers", [])
        pinned = f"{ENV.images['keyless']}@{ENV.vectors.digest(ENV.vectors.KEYLESS)}"
        self.assertEqual([(c["name"], c["image"]) for c in ephemeral], [("debug-good", pinned)])

    def test_image_volumes_are_images_the_pod_uses(self):
        """An image volume (volumes[].image.reference, accepted by this API server by default)
        pulls an image as a container does: an unsigned one denies the Pod and the Deployment
        whose containers are all signed; a signed one is admitted and pinned to its digest."""
        def with_volume(name, reference):
            doc = self.pod(name, self.ns, ENV.images["signed-digest"],
                           volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "assets", "image": {"reference": reference}}])
            doc["spec"]["containers"][0]["volumeMounts"] = [{"name": "assets", "mountPath": "/assets"}]
            return doc
        denied = ENV.kubectl("apply", "-f", "-", input=with_volume("unsigned-volume", ENV.images["unsigned"]), check=False)
        self.assertDeniedBySignet(denied, ENV.images["unsigned"], '(image volume "assets")')
        self.assertIsNone(ENV.get("pod", "unsigned-volume", "-n", self.ns), "not stored")
        template = with_volume("unused", ENV.images["tampered"])
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "unsigned-volume", "namespace": self.ns},
                      "spec": {"selector": {"matchLabels": {"app": "v"}},
                               "template": {"metadata": {"labels": {"app": "v"}}, "spec": template["spec"]}}}
        self.assertDeniedBySignet(ENV.kubectl("apply", "-f", "-", input=deployment, check=False), ENV.images["tampered"], "image volume")
        self.assertIsNone(ENV.get("deployment", "unsigned-volume", "-n", self.ns))

        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", input=with_volume("signed-volume", ENV.images["signed"]), check=False))
        stored = ENV.get("pod", "signed-volume", "-n", self.ns)["spec"]["volumes"]
        self.assertEqual([v["image"]["reference"] for v in stored if "image" in v],
                         [f"{ENV.images['signed']}@{ENV.vectors.digest(ENV.vectors.ALICE)}"], "pinned by the mutating webhook")

    def test_opted_out_namespace_is_not_checked_but_counted_and_only_the_group_may_label_it(self):
        # Namespace admins (tenants) and the approvers may update namespaces as far as RBAC goes.
        ENV.namespace_editors()
        ENV.namespace("e2e-opted-out")
        label = ["label", "namespace", "e2e-opted-out", "signet.dev/exclude=true"]
        refused = ENV.kubectl(*label, "--as=bob", "--as-group=e2e-tenants", check=False)
        self.assertDenied(refused, 'admission webhook "namespaces.signet.dev" denied the request',
                          f'only to members of the group "{OPT_OUT_GROUP}"', 'user "bob" is not one')
        # The finalize subresource writes labels too (RBAC lets the tenants use it here).
        stored = ENV.get("namespace", "e2e-opted-out")
        stored["metadata"].setdefault("labels", {})["signet.dev/exclude"] = "true"
        finalize = ENV.kubectl("replace", "--raw", "/api/v1/namespaces/e2e-opted-out/finalize", "-f", "-",
                               "--as=bob", "--as-group=e2e-tenants", input=stored, check=False)
        self.assertDenied(finalize, 'admission webhook "namespaces.signet.dev" denied the request', 'user "bob" is not one')
        self.assertNotIn("signet.dev/exclude", ENV.get("namespace", "e2e-opted-out")["metadata"].get("labels", {}))
        self.assertDeniedBySignet(ENV.kubectl("run", "before-opt-out", "-n", "e2e-opted-out", f"--image={ENV.images['unsigned']}", check=False))
        self.assertAdmitted(ENV.kubectl(*label, "--as=alice", f"--as-group={OPT_OUT_GROUP}", check=False))
        wait_until("signet sees the label through its namespace watch", lambda: ENV.kubectl(
            "run", "anything", "-n", "e2e-opted-out", f"--image={ENV.images['unsigned']}", "--dry-run=server", check=False).returncode == 0,
            timeout=30)
        self.assertAdmitted(ENV.kubectl("run", "anything", "-n", "e2e-opted-out", f"--image={ENV.images['unsigned']}", check=False))
        self.assertGreaterEqual(ENV.signet_metric('signet_namespace_opt_out_admissions_total{kind="Pod",dry_run="false"}') or 0, 1)
        # Removing it needs the group too.
        self.assertDenied(ENV.kubectl("label", "namespace", "e2e-opted-out", "signet.dev/exclude-", "--as=bob", "--as-group=e2e-tenants",
                                      check=False), "removing the label")


    def test_a_guarded_namespace_label_is_changed_only_by_the_group(self):
        """webhook.guardedNamespaceLabels={environment}: a tenant who may update Namespaces cannot
        remove the label a policy's namespaceSelector reads (nor create a namespace with it);
        the opt-out group can; other labels stay free."""
        ENV.namespace_editors()
        production = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e2e-guarded", "labels": {"environment": "production"}}}
        as_tenant, as_approver = ["--as=bob", "--as-group=e2e-tenants"], ["--as=alice", f"--as-group={OPT_OUT_GROUP}"]
        self.assertDenied(ENV.kubectl("create", "-f", "-", *as_tenant, input=production, check=False),
                          'admission webhook "namespaces-0.signet.dev" denied the request', 'user "bob" is not one')
        self.assertEqual(ENV.kubectl("create", "-f", "-", *as_approver, input=production, check=False).returncode, 0)
        removed = ENV.kubectl("label", "namespace", "e2e-guarded", "environment-", *as_tenant, check=False)
        self.assertDenied(removed, 'admission webhook "namespaces-0.signet.dev" denied the request',
                          'removing the label environment="production"', "--guarded-namespace-labels")
        self.assertEqual(ENV.get("namespace", "e2e-guarded")["metadata"]["labels"].get("environment"), "production")
        self.assertEqual(ENV.kubectl("label", "namespace", "e2e-guarded", "team=a", *as_tenant, check=False).returncode, 0)
        self.assertEqual(ENV.kubectl("label", "namespace", "e2e-guarded", "environment=staging", "--overwrite", *as_approver,
                                     check=False).returncode, 0)
        # A policy that selects namespaces by a label the webhook does not guard is admitted with a
        # warning naming it (here on a dry run: nothing is stored); one by the guarded label is not.
        def policy(label):
            return json.dumps({"apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", "metadata": {"name": "e2e-by-label"},
                               "spec": {"namespaceSelector": {"matchLabels": {label: "a"}}, "images": [{"glob": "e2e.invalid/**"}],
                                        "authorities": [{"static": {"action": "pass"}}]}})
        unguarded = ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=policy("team"), check=False)
        self.assertEqual(unguarded.returncode, 0, unguarded.stderr)
        self.assertIn('Warning: ClusterImagePolicy "e2e-by-label": spec.namespaceSelector: reads namespace label "team", which signet does not guard',
                      unguarded.stderr)
        guarded = ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=policy("environment"), check=False)
        self.assertEqual(guarded.returncode, 0, guarded.stderr)
        self.assertNotIn("does not guard", guarded.stderr)


class T04cConsole(Step):
    """The console against the real API server: TokenReview and SubjectAccessReview decide every
    request with ServiceAccount tokens and the chart's ClusterRoles; the stored history holds the
    admissions of T04, and a verification run from the console is stored with the reviewed user."""
    ns = "e2e-console"

    def token(self, account, role=None, audience=CONSOLE_AUDIENCE):
        """A TokenRequest token of `account` (made if missing, bound to `role`), issued for the
        console's audience; `audience=None`: for the API server's own, as kubectl's are."""
        if self.get_account(account) is None:
            ENV.kubectl("create", "serviceaccount", account, "-n", self.ns)
        if role:
            ENV.kubectl("create", "clusterrolebinding", f"e2e-{account}", f"--clusterrole={role}",
                        f"--serviceaccount={self.ns}:{account}", check=False)
        extra = ["--audience", audience] if audience else []
        return ENV.kubectl("create", "token", account, "-n", self.ns, "--duration=1h", *extra).stdout.strip()

    def get_account(self, account):
        return ENV.get("serviceaccount", account, "-n", self.ns)

    def test_tokens_are_reviewed_history_is_browsed_and_verifications_stored(self):
        ENV.namespace(self.ns)
        reader = self.token("console-reader", "signet-console-reader")
        verifier = self.token("console-verifier", "signet-console-verifier")
        outsider = self.token("console-outsider")

        status, whoami = ENV.console("/api/whoami", reader)
        self.assertEqual(status, 200, whoami)
        self.assertEqual(whoami["username"], f"system:serviceaccount:{self.ns}:console-reader")
        # The same account's token for the API server's own audience opens the API server, not
        # the console; the console's token is refused by the API server.
        api_token = self.token("console-reader", audience=None)
        status, answer = ENV.console("/api/whoami", api_token)
        self.assertEqual(status, 401, answer)
        self.assertIn(f"kubectl create token ACCOUNT --audience {CONSOLE_AUDIENCE}", str(answer))
        # A token for the console and the API server at once is refused: it would open both.
        both = ENV.kubectl("create", "token", "console-reader", "-n", self.ns, "--duration=1h", "--audience", CONSOLE_AUDIENCE,
                           "--audience", "https://kubernetes.default.svc").stdout.strip()
        status, answer = ENV.console("/api/whoami", both)
        self.assertEqual(status, 401, answer)
        self.assertIn("also issued for https://kubernetes.default.svc", str(answer))
        for token, expected in ((reader, "401"), (api_token, "201")):
            # The bearer token alone (kubectl would send its client certificate too).
            answer = subprocess.run(
                ["curl", "-sS", "--noproxy", "*", "--max-time", "10", "--cacert", ENV.cluster.ca_file, "-o", "/dev/null",
                 "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
                 f"https://127.0.0.1:{ENV.cluster.port}/apis/authentication.k8s.io/v1/selfsubjectreviews", "-X", "POST",
                 "-H", "Content-Type: application/json",
                 "--data", '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(answer.stdout, expected, answer.stderr)
        for path in ("/api/history", "/api/overview", "/history"):
            with self.subTest(path=path):
                self.assertEqual(ENV.console(path)[0], 401, "no token")
                self.assertEqual(ENV.console(path, "not-a-token")[0], 401, "a token the TokenReview refuses")
                status, answer = ENV.console(path, outsider)
                self.assertEqual(status, 403, answer)
                self.assertIn(f"system:serviceaccount:{self.ns}:console-outsider may not get clusterimagepolicies.signet.dev", str(answer))

        # The admissions of T04 are in the store (written off the admission path).
        def denied_unsigned():
            status, page = ENV.console(f"/api/history?namespace=e2e-apps&decision=denied&image={ENV.images['unsigned']}", reader)
            return status == 200 and page["entries"]
        wait_until("T04's denial of the unsigned image is in the history", denied_unsigned, timeout=30)
        status, page = ENV.console(f"/api/history?namespace=e2e-apps&decision=denied&image={ENV.images['unsigned']}", reader)
        entry = page["entries"][0]
        self.assertEqual(entry["source"], "admission")
        self.assertIn("no cosign signatures", entry["images"][0]["reason"])
        status, detail = ENV.console(f"/api/history/{entry['id']}", reader)
        self.assertEqual((status, detail["uid"]), (200, entry["uid"]))

        # Reading does not let one verify; the verifier's run is stored as a console entry.
        self.assertEqual(ENV.console("/api/verifications", reader, "POST", {"image": ENV.images["unsigned"]})[0], 403)
        # Verifying as if in a namespace (its pull secrets, its exceptions) takes the right to
        # create Pods there, which the verifier has in e2e-apps only.
        ENV.kubectl("create", "role", "e2e-pod-creator", "--verb=create", "--resource=pods", "-n", "e2e-apps", check=False)
        ENV.kubectl("create", "rolebinding", "e2e-console-verifier-pods", "--role=e2e-pod-creator",
                    f"--serviceaccount={self.ns}:console-verifier", "-n", "e2e-apps", check=False)
        status, refused = ENV.console("/api/verifications", verifier, "POST", {"image": ENV.images["unsigned"], "namespace": "default"})
        self.assertEqual(status, 403, refused)
        self.assertIn("may not create pods in namespace default", str(refused))
        status, run = ENV.console("/api/verifications", verifier, "POST", {"image": ENV.images["unsigned"], "namespace": "e2e-apps"})
        self.assertEqual(status, 200, run)
        self.assertEqual(run["verdict"]["outcome"], "deny")

        def console_entry():
            status, page = ENV.console("/api/history?source=console", verifier)
            return page["entries"] if status == 200 and page["entries"] else None
        wait_until("the console verification is in the history", console_entry, timeout=30)
        stored = console_entry()[0]
        self.assertEqual(stored["user"], f"system:serviceaccount:{self.ns}:console-verifier")
        self.assertEqual(stored["namespace"], "e2e-apps")
        self.assertTrue(stored["dryRun"])
        self.assertFalse(stored["allowed"])


def exception(name, namespace, valid_until, **spec):
    return {"apiVersion": "signet.dev/v1alpha1", "kind": "PolicyException", "metadata": {"name": name, "namespace": namespace},
            "spec": dict({"reason": "end-to-end test", "approvedBy": "security@example.com", "validUntil": valid_until}, **spec)}


def bypass(name, namespaces, expires_at, **spec):
    return {"apiVersion": "signet.dev/v1alpha1", "kind": "EmergencyBypass", "metadata": {"name": name},
            "spec": dict({"namespaces": namespaces, "reason": "end-to-end test", "requestedBy": "oncall@example.com",
                          "expiresAt": expires_at}, **spec)}


class T04bKeySecrets(Step):
    """`secretRef` public keys read through the real API (keySecretsSource api) under the chart's
    Role, which names the one Secret: rotated and removed under a running signet."""
    ns = "e2e-apps"

    def secret(self, key_name):
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": KEY_SECRET, "namespace": NAMESPACE},
                "data": {"cosign.pub": base64.b64encode(ENV.vectors.key(key_name).encode()).decode()}}

    def run_keyed(self, image):
        return ENV.kubectl("run", "keyed", "-n", self.ns, f"--image={image}", "--dry-run=server", check=False)

    def test_a_rotated_or_removed_secret_key_is_in_force_within_one_interval(self):
        self.assertGrantedByName("secret", KEY_SECRET)
        v, registry = ENV.vectors, ENV.registry
        registry.push_signed(v, "keyed/app", v.ALICE, tag="v1")
        image = f"{registry.host}/keyed/app:v1"
        ENV.kubectl("apply", "-f", "-", input=self.secret("alice"))
        ENV.kubectl("apply", "-f", "-", input=policy("e2e-secret-key", [f"{registry.host}/keyed/**"], [
            {"name": "release", "key": {"publicKeys": [{"secretRef": {"namespace": NAMESPACE, "name": KEY_SECRET}}]}}]))
        wait_for_state("clusterimagepolicy", "e2e-secret-key", "Ready")
        wait_until("admitted with the key from the Secret", lambda: self.run_keyed(image).returncode == 0, timeout=30)

        # Rotated to bob's key: alice's signature is no longer trusted, without a policy edit.
        ENV.kubectl("apply", "-f", "-", input=self.secret("bob"))
        wait_until("denied after the rotation", lambda: "does not verify" in self.run_keyed(image).stderr, timeout=30)

        # Removed: the authority fails closed, naming the Secret; the status says so.
        ENV.kubectl("delete", "secret", KEY_SECRET, "-n", NAMESPACE)
        wait_until("denied as unresolved", lambda: "unresolved key" in self.run_keyed(image).stderr, timeout=30)
        self.assertDeniedBySignet(self.run_keyed(image), f"key cosign.pub of Secret {NAMESPACE}/{KEY_SECRET} is missing")
        wait_for_state("clusterimagepolicy", "e2e-secret-key", "Invalid")
        ENV.kubectl("delete", "clusterimagepolicy", "e2e-secret-key")


class T04cNotationConfigMap(Step):
    """A `notation` authority whose trust policy document and CA certificate live in a ConfigMap,
    read and watched through the real API under the chart's Role (trustConfigMaps): the Notary
    Project's `e2e-valid-signature` image is admitted while the ConfigMap trusts `e2e.crt`, refused
    naming the failed check once it trusts `new_e2e.crt`, and refused naming the ConfigMap once it
    is gone."""
    ns = "e2e-notation"

    def config_map(self, certificate):
        def read(*parts):
            with open(os.path.join(NOTATION_TESTDATA, "config", *parts)) as handle:
                return handle.read()
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NOTATION_CONFIGMAP, "namespace": NAMESPACE},
                "data": {"trustpolicy.json": read("trustpolicies", "trustpolicy.json"), "ca.crt": read("localkeys", certificate)}}

    def run_notation(self, image):
        # A server dry run: the API server calls the webhooks but stores no Pod, so no later step
        # (the scan) finds one under trust this step withdraws.
        return ENV.kubectl("run", "notation", "-n", self.ns, f"--image={image}", "--dry-run=server", check=False)

    def test_a_changed_or_deleted_trust_configmap_is_in_force_within_one_interval(self):
        self.assertGrantedByName("configmap", NOTATION_CONFIGMAP)
        ENV.namespace(self.ns)
        registry = ENV.registry
        registry.push_oci_layout("notation/app", os.path.join(NOTATION_TESTDATA, "registry", "oci_layout", "e2e-valid-signature"))
        image = f"{registry.host}/notation/app:v1"
        ENV.kubectl("apply", "-f", "-", input=self.config_map("e2e.crt"))
        reference = {"namespace": NAMESPACE, "name": NOTATION_CONFIGMAP}
        ENV.kubectl("apply", "-f", "-", input=policy("e2e-notation", [f"{registry.host}/notation/**"], [
            {"name": "notation-e2e", "notation": {"trustPolicyConfigMapRef": reference,
                                                  "trustStores": [{"name": "ca:e2e", "configMapRef": dict(reference, key="ca.crt")}]}}]))
        wait_for_state("clusterimagepolicy", "e2e-notation", "Ready")
        wait_until("admitted under the ConfigMap trusting e2e.crt", lambda: self.run_notation(image).returncode == 0, timeout=30,
                   on_timeout=lambda: self.run_notation(image).stderr)
        self.assertAdmitted(self.run_notation(image))

        # The ConfigMap now trusts new_e2e.crt: refused naming the check, without a policy edit.
        ENV.kubectl("apply", "-f", "-", input=self.config_map("new_e2e.crt"))
        wait_until("denied after the ConfigMap changed", lambda: "authenticity validation failed" in self.run_notation(image).stderr, timeout=30,
                   on_timeout=lambda: self.run_notation(image).stderr)
        self.assertDeniedBySignet(self.run_notation(image), image, 'policy "e2e-notation"', "authenticity validation failed", "ca:e2e")

        # Deleted: fails closed, naming the ConfigMap; the status says so.
        ENV.kubectl("delete", "configmap", NOTATION_CONFIGMAP, "-n", NAMESPACE)
        wait_until("denied as unresolved", lambda: "unresolved notation trust material" in self.run_notation(image).stderr, timeout=30,
                   on_timeout=lambda: self.run_notation(image).stderr)
        self.assertDeniedBySignet(self.run_notation(image),
                                  f"key trustpolicy.json of ConfigMap {NAMESPACE}/{NOTATION_CONFIGMAP} is missing (the ConfigMap does not exist)")
        wait_for_state("clusterimagepolicy", "e2e-notation", "Invalid")
        ENV.kubectl("delete", "clusterimagepolicy", "e2e-notation")


class T05Exemptions(Step):
    """PolicyException and EmergencyBypass: in force, then expired by themselves."""

    def test_exception_admits_only_its_namespace_and_images(self):
        until = rfc3339(datetime.timedelta(hours=1))
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input=exception(
            "unsigned-ok", "e2e-excepted", until, policies=["e2e-alice"], images=[{"glob": f"{ENV.registry.host}/unsigned/**"}])))
        wait_for_state("policyexception", "unsigned-ok", "Active", "-n", "e2e-excepted")
        admitted = ENV.kubectl("run", "excepted", "-n", "e2e-excepted", f"--image={ENV.images['unsigned']}", check=False)
        self.assertAdmitted(admitted, warning="Warning:")
        self.assertIn("unsigned-ok", admitted.stderr)
        self.assertDeniedBySignet(ENV.kubectl("run", "not-excepted", "-n", "e2e-apps", f"--image={ENV.images['unsigned']}", check=False))
        self.assertDeniedBySignet(ENV.kubectl("run", "other-image", "-n", "e2e-excepted", f"--image={ENV.images['tampered']}", check=False))
        # The printer column shows the instant itself, not an age.
        listed = ENV.kubectl("get", "polex", "-n", "e2e-excepted").stdout
        self.assertIn(until, listed)
        self.assertNotIn("<invalid>", listed)
        # signet's mutating webhook recorded who created it, shown with -o wide; a creator written
        # by hand is replaced by the user the API server authenticated.
        whoami = ENV.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout.strip()
        self.assertTrue(whoami)
        forged = exception("forged", "e2e-excepted", until, policies=["e2e-alice"])
        forged["metadata"]["annotations"] = {"signet.dev/created-by": "security-team@example.com"}
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input=forged))
        for name in ("unsigned-ok", "forged"):
            annotations = ENV.get("policyexception", name, "-n", "e2e-excepted")["metadata"]["annotations"]
            self.assertEqual(annotations["signet.dev/created-by"], whoami, name)
            self.assertEqual(annotations["signet.dev/last-changed-by"], whoami, name)
        wide = ENV.kubectl("get", "polex", "unsigned-ok", "-n", "e2e-excepted", "-o", "wide").stdout
        self.assertIn("CREATED-BY", wide)
        self.assertIn(whoami, wide)

    @staticmethod
    def owned_by(kind, name, uid):
        """`ownerReferences` naming a controller, as the controller-manager writes them."""
        return [{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": True}]

    # What kube-controller-manager's loops act as (no controller-manager runs here: the objects
    # they would make are created in their name, by impersonation); `create`, since their
    # roles may not always `get` what `apply` reads first.
    AS_DEPLOYMENT_CONTROLLER = "--as=system:serviceaccount:kube-system:deployment-controller"
    AS_REPLICASET_CONTROLLER = "--as=system:serviceaccount:kube-system:replicaset-controller"

    def deployment_web_and_its_replica_set(self, ns, image, exception_name):
        """Deployment `web` running `image`, admitted under `exception_name`, and its ReplicaSet
        `web-1` made as the Deployment controller would make it; the ReplicaSet's UID."""
        self.assertAdmitted(ENV.kubectl("create", "deployment", "web", "-n", ns, f"--image={image}", check=False), warning=exception_name)
        deployment = ENV.get("deployment", "web", "-n", ns)
        replica_set = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": "web-1", "namespace": ns, "labels": {"app": "web"},
                                    "ownerReferences": self.owned_by("Deployment", "web", deployment["metadata"]["uid"])},
                       "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                           "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}}}
        self.assertAdmitted(ENV.kubectl("create", "-f", "-", self.AS_DEPLOYMENT_CONTROLLER, input=replica_set, check=False),
                            warning=exception_name)
        return ENV.get("replicaset", "web-1", "-n", ns)["metadata"]["uid"]

    def pod_of_web_1(self, name, ns, uid, image):
        """A Pod as ReplicaSet `web-1` (UID `uid`) would create it."""
        doc = self.pod(name, ns, image)
        doc["metadata"]["labels"] = {"app": "web"}
        doc["metadata"]["ownerReferences"] = self.owned_by("ReplicaSet", "web-1", uid)
        return doc

    def test_exception_for_a_deployment_exempts_its_pods_only_through_the_real_owner_chain(self):
        ns, image = "e2e-owned", ENV.images["unsigned"]
        ENV.namespace(ns)
        until = rfc3339(datetime.timedelta(hours=1))
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input=exception(
            "legacy-web", ns, until, policies=["e2e-alice"], kinds=["Deployment"], names=["web"])))
        wait_for_state("policyexception", "legacy-web", "Active", "-n", ns)
        rs_uid = self.deployment_web_and_its_replica_set(ns, image, "legacy-web")
        self.assertAdmitted(ENV.kubectl("create", "-f", "-", self.AS_REPLICASET_CONTROLLER,
                                        input=self.pod_of_web_1("web-1-a", ns, rs_uid, image), check=False),
                            warning="legacy-web")
        # A Pod that claims the ReplicaSet with another UID, or runs an image the Deployment does not.
        made_up = "00000000-0000-0000-0000-000000000000"
        forged = ENV.kubectl("create", "-f", "-", self.AS_REPLICASET_CONTROLLER,
                             input=self.pod_of_web_1("web-1-b", ns, made_up, image), check=False)
        self.assertDeniedBySignet(forged, "e2e-alice")
        self.assertIn(f"not {made_up} as the owner reference claims", forged.stderr)
        self.assertDeniedBySignet(ENV.kubectl(
            "create", "-f", "-", self.AS_REPLICASET_CONTROLLER,
            input=self.pod_of_web_1("web-1-c", ns, rs_uid, ENV.images["tampered"]), check=False))
        # The real owner reference, copied into a Pod someone else creates: no exception.
        copied = ENV.kubectl("create", "-f", "-", input=self.pod_of_web_1("web-1-d", ns, rs_uid, image), check=False)
        self.assertDeniedBySignet(copied, "e2e-alice")
        self.assertIn("not by the controller that makes such objects", copied.stderr)
        # A bare Pod in the namespace is not the Deployment.
        self.assertDeniedBySignet(ENV.kubectl("run", "bare", "-n", ns, f"--image={image}", check=False), "e2e-alice")

    def test_pinning_keeps_what_a_deployments_exception_admits(self):
        """The mutating webhook finds a Deployment's exception through the owner chain, as
        validation does. Here one policy verifies the image's digest and a second, which only
        the exception lifts, fails it. The Pod is pinned to the verified digest all the same (a
        tag moved after admission must not change what it runs), and the exception, written for
        the tag the template names, still applies to the pinned image: the tag names that digest."""
        ns, image = "e2e-owned-pinned", ENV.images["signed"]
        ENV.namespace(ns)
        bob = {"name": "bob", "key": {"publicKeys": [{"pem": ENV.vectors.key("bob")}]}}
        second = policy("e2e-owned-bob", [f"{ENV.registry.host}/signed/**"], [bob],
                        namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": ns}})
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", input=second, check=False))
        try:
            wait_for_state("clusterimagepolicy", "e2e-owned-bob", "Ready")
            wait_until("signet applies e2e-owned-bob in its namespace", lambda: "e2e-owned-bob" in ENV.kubectl(
                "run", "bare", "-n", ns, f"--image={image}", "--dry-run=server", check=False).stderr, timeout=60, interval=2)
            until = rfc3339(datetime.timedelta(hours=1))
            self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input=exception(
                "bob-signs-later", ns, until, policies=["e2e-owned-bob"], kinds=["Deployment"], names=["web"])))
            wait_for_state("policyexception", "bob-signs-later", "Active", "-n", ns)
            rs_uid = self.deployment_web_and_its_replica_set(ns, image, "bob-signs-later")
            self.assertAdmitted(ENV.kubectl("create", "-f", "-", self.AS_REPLICASET_CONTROLLER,
                                            input=self.pod_of_web_1("web-1-a", ns, rs_uid, image), check=False),
                                warning="bob-signs-later")
            pinned = ENV.get("pod", "web-1-a", "-n", ns)["spec"]["containers"][0]["image"]
            self.assertTrue(pinned.startswith(image + "@sha256:"), f"pinned to the verified digest: {pinned}")
            # A Pod whose owner does not check out gets no exception: pinned, and denied by the second policy.
            forged = self.pod_of_web_1("web-1-b", ns, "00000000-0000-0000-0000-000000000000", image)
            self.assertDeniedBySignet(ENV.kubectl("create", "-f", "-", self.AS_REPLICASET_CONTROLLER, input=forged, check=False),
                                      "e2e-owned-bob")
        finally:
            ENV.kubectl("delete", "clusterimagepolicy", "e2e-owned-bob", check=False)

    def test_bypass_admits_everything_in_its_namespaces(self):
        expires = rfc3339(datetime.timedelta(hours=2))
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input=bypass("incident", ["e2e-bypassed"], expires)))
        wait_for_state("emergencybypass", "incident", "Active")
        for image in ("tampered", "unsigned", "uncovered"):
            with self.subTest(image=image):
                self.assertAdmitted(ENV.kubectl("run", f"bypassed-{image}", "-n", "e2e-bypassed", f"--image={ENV.images[image]}",
                                                check=False), warning="Warning:")
        self.assertDeniedBySignet(ENV.kubectl("run", "not-bypassed", "-n", "e2e-apps", f"--image={ENV.images['tampered']}", check=False))
        listed = ENV.kubectl("get", "ebp", "incident").stdout
        self.assertIn(expires, listed)

        # One Event on the bypass counts the three uses (created at the first, its count raised
        # with a merge patch within signet's flush interval), and each Pod has its own.
        def on_bypass():
            events = ENV.get("events", "-n", "default", "--field-selector", "involvedObject.name=incident,reason=EmergencyBypassUsed")
            return [e for e in (events or {}).get("items", []) if e["involvedObject"].get("kind") == "EmergencyBypass"]
        counted = wait_until("the Event on the bypass counts three uses",
                             lambda: (lambda found: found if len(found) == 1 and found[0].get("count") == 3 else None)(on_bypass()),
                             timeout=60, interval=1, on_timeout=lambda: json.dumps(on_bypass()))
        self.assertIn("bypassed-", counted[0]["message"])
        for image in ("tampered", "unsigned", "uncovered"):
            with self.subTest(image=image):
                pod_events = ENV.get("events", "-n", "e2e-bypassed", "--field-selector",
                                     f"involvedObject.name=bypassed-{image},reason=EmergencyBypassUsed")
                self.assertEqual(len(pod_events["items"]), 1, pod_events)

    def test_exception_and_bypass_expire_by_themselves(self):
        # Both valid for a few seconds from now; signet must stop honouring them on its own, and
        # its status pass (every 10 s) marks them expired.
        soon = rfc3339(datetime.timedelta(seconds=45))
        ENV.namespace("e2e-expiring-bp")
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input={"apiVersion": "v1", "kind": "List", "items": [
            exception("short", "e2e-expiring", soon, policies=["e2e-alice"]), bypass("short", ["e2e-expiring-bp"], soon)]}))
        unsigned = self.pod("probe", "e2e-expiring", ENV.images["unsigned"])
        tampered = self.pod("probe", "e2e-expiring-bp", ENV.images["tampered"])
        # signet sees both through its watch, a moment after the API server stored them.
        for what, pod in (("exception", unsigned), ("bypass", tampered)):
            wait_until(f"signet honours the {what}",
                       lambda: ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=pod, check=False).returncode == 0,
                       timeout=30, interval=0.5)
        for what, pod in (("exception", unsigned), ("bypass", tampered)):
            wait_until(f"the {what} has expired and signet denies again",
                       lambda: ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=pod, check=False).returncode != 0,
                       timeout=120, interval=1)
        self.assertDeniedBySignet(ENV.kubectl("apply", "-f", "-", input=unsigned, check=False))
        self.assertDeniedBySignet(ENV.kubectl("apply", "-f", "-", input=tampered, check=False))
        wait_for_state("policyexception", "short", "Expired", "-n", "e2e-expiring")
        wait_for_state("emergencybypass", "short", "Expired")


class AlertReceiver:
    """A webhook receiver on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self):
        import http.server
        import threading
        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/security"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class T05bScan(Step):
    """`signet scan` (the chart's CronJob arguments, the chart's ServiceAccount and RBAC) against
    a namespace where an unsigned image runs: it exits 1 naming it, writes the namespace's
    PolicyReport in place, and posts one alert to a local receiver."""
    ns = "e2e-scan"
    REPORT = "signet-image-signatures"

    def scan(self, *extra, kubeconfig=None):
        """The CronJob's `signet scan`, with a token of the ServiceAccount its Pods run as (the
        chart's scan account), or with a kubeconfig (`--kubeconfig`) as from a workstation."""
        cronjob = ENV.get("cronjob", f"{RELEASE}-scan", "-n", NAMESPACE)
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        root = os.path.join(ENV.directory, "signet")
        env = {"PATH": ENV.env["PATH"], "HOME": root, "NO_PROXY": "*", "no_proxy": "*"}
        if kubeconfig:
            extra += ("--kubeconfig", kubeconfig)
        else:
            account_dir = ENV.service_account_dir(pod["serviceAccountName"], os.path.join(root, "scan-serviceaccount"), duration="1h")
            env.update({"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(ENV.cluster.port),
                        "SIGNET_SERVICE_ACCOUNT_DIR": account_dir})
        return subprocess.run([SIGNET] + args + ["--namespace", self.ns, "--output", "json", *extra],
                              capture_output=True, text=True, env=env, timeout=120)

    def test_the_scan_account_may_read_and_report_and_nothing_the_webhook_alone_does(self):
        """The CronJob runs as the chart's scan ServiceAccount, which the real RBAC lets list Pods,
        read policies and write reports, and not write status, Events, the leader Lease or the
        console's reviews."""
        pod = ENV.get("cronjob", f"{RELEASE}-scan", "-n", NAMESPACE)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], f"{RELEASE}-scan")
        account = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-scan"
        allowed = [("list", "pods"), ("watch", "pods"), ("list", "clusterimagepolicies.signet.dev"), ("watch", "namespaces"),
                   ("update", "policyreports.wgpolicyk8s.io"), ("get", "replicasets.apps")]
        denied = [("patch", "clusterimagepolicies.signet.dev", "--subresource=status"), ("create", "events"),
                  ("update", "leases.coordination.k8s.io"), ("create", "tokenreviews.authentication.k8s.io"),
                  ("create", "subjectaccessreviews.authorization.k8s.io"), ("get", "pods"), ("create", "pods")]
        for verb, resource, *extra in allowed + denied:
            with self.subTest(verb=verb, resource=resource, extra=extra):
                result = ENV.kubectl("auth", "can-i", verb, resource, *extra, "--as", account, "-A", check=False)
                self.assertEqual(result.stdout.strip(), "yes" if (verb, resource, *extra) in allowed else "no", result.stderr)

    def test_scan_names_the_untrusted_pod_writes_its_report_and_posts_one_alert(self):
        ns, unsigned, signed = self.ns, ENV.images["unsigned"], ENV.images["signed"]
        for crd in ("policyreports", "clusterpolicyreports"):
            wait_until(f"the chart installed the {crd} CRD", lambda: {c["type"]: c["status"] for c in (
                (ENV.get("crd", f"{crd}.wgpolicyk8s.io") or {}).get("status") or {}).get("conditions", [])}.get("Established") == "True",
                timeout=30)
        ENV.namespace(ns)
        # The unsigned pod gets in under an exception, which is then withdrawn: it still runs.
        until = rfc3339(datetime.timedelta(hours=1))
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", check=False, input=exception(
            "scan-window", ns, until, policies=["e2e-alice"], images=[{"glob": f"{ENV.registry.host}/unsigned/**"}])))
        wait_for_state("policyexception", "scan-window", "Active", "-n", ns)
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", input=self.pod("unsigned-runs", ns, unsigned), check=False))
        self.assertAdmitted(ENV.kubectl("apply", "-f", "-", input=self.pod("signed-runs", ns, signed), check=False))
        # No kubelet runs here: the status a kubelet would write, with the digest the node runs.
        digest = ENV.images["signed-digest"].split("@", 1)[1]
        ENV.kubectl("patch", "pod", "signed-runs", "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
            "phase": "Running", "startTime": rfc3339(datetime.timedelta(0)), "containerStatuses": [{
                "name": "app", "image": signed, "imageID": f"{signed.rsplit(':', 1)[0]}@{digest}", "ready": True, "restartCount": 0,
                "state": {"running": {"startedAt": rfc3339(datetime.timedelta(0))}}}]}}))
        ENV.kubectl("delete", "policyexception", "scan-window", "-n", ns)
        wait_until("signet denies the unsigned image again", lambda: ENV.kubectl(
            "run", "probe", "-n", ns, f"--image={unsigned}", "--dry-run=server", check=False).returncode != 0, timeout=30)

        receiver = AlertReceiver()
        try:
            urls = os.path.join(ENV.directory, "alert-urls")
            write(urls, (receiver.url + "\n").encode())
            first = self.scan("--alert-webhook-urls-file", urls)
        finally:
            receiver.stop()
        self.assertEqual(first.returncode, 1, first.stderr)
        self.assertIn("1 untrusted running images", first.stderr)
        self.assertIn(unsigned.rsplit(":", 1)[0], first.stderr)
        self.assertIn(f"({ns}/unsigned-runs/app: ", first.stderr)
        self.assertNotIn(f"{ns}/signed-runs/", first.stderr)
        findings = {f["pod"]: f for f in json.loads(first.stdout)}
        self.assertEqual(findings["unsigned-runs"]["result"], "fail")
        self.assertIn("no cosign signatures", findings["unsigned-runs"]["reason"])
        self.assertEqual(findings["signed-runs"]["result"], "pass")
        self.assertTrue(findings["signed-runs"]["image"].endswith("@" + digest), findings["signed-runs"]["image"])

        report = ENV.get("policyreport", self.REPORT, "-n", ns)
        self.assertEqual(report["summary"], {"pass": 1, "fail": 1, "warn": 0, "error": 0, "skip": 0})
        failed = next(r for r in report["results"] if r["result"] == "fail")
        self.assertEqual(failed["policy"], "e2e-alice")
        self.assertEqual(failed["resources"][0]["name"], "unsigned-runs")
        self.assertEqual(failed["properties"]["image"], findings["unsigned-runs"]["image"])
        # A scan of one namespace leaves the ClusterPolicyReport to the scans of every namespace
        # (it summed up this namespace alone as if it were the cluster).
        self.assertIsNone(ENV.get("clusterpolicyreport", self.REPORT))

        self.assertEqual(len(receiver.bodies), 1, receiver.bodies)
        alert = receiver.bodies[0]
        self.assertEqual(alert["kind"], "untrusted-running")
        self.assertEqual(alert["namespace"], ns)
        self.assertEqual(alert["object"], "Pod/unsigned-runs")

        # Scanned again from a workstation's kubeconfig: the same report, replaced in place.
        second = self.scan(kubeconfig=ENV.cluster.kubeconfig)
        self.assertEqual(second.returncode, 1, second.stderr)
        reports = ENV.get("policyreports", "-n", ns)["items"]
        self.assertEqual([r["metadata"]["name"] for r in reports], [self.REPORT])
        self.assertNotEqual(reports[0]["metadata"]["resourceVersion"], report["metadata"]["resourceVersion"])
        for pod in ("unsigned-runs", "signed-runs"):
            ENV.kubectl("delete", "pod", pod, "-n", ns, "--wait=false")
        wait_until("the scanned pods are gone", lambda: not ENV.get("pods", "-n", ns)["items"], timeout=30)
        # Its Pods gone, the namespace's report is emptied, not left failing.
        third = self.scan()
        self.assertEqual(third.returncode, 0, third.stderr)
        self.assertEqual(ENV.get("policyreport", self.REPORT, "-n", ns)["summary"], {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0})


class T06OwnResources(Step):
    """signet's own resources: what the CRD schema, its CEL rules and signet's webhook refuse."""

    def test_invalid_policies_are_refused(self):
        alice = {"name": "alice", "key": {"publicKeys": [{"pem": ENV.vectors.key("alice")}]}}
        glob = [f"{ENV.registry.host}/refused/**"]
        cases = {
            "a key that is no key": (policy("bad-key", glob, [{"key": {"publicKeys": [{"pem": "not a key"}]}}]),
                                     'admission webhook "policies.signet.dev" denied the request', "unusable public key"),
            "require 0": (policy("require-zero", glob, [alice], require=0), "spec.require", "at least 1"),
            "require more than the authorities": (policy("require-two", glob, [alice], require=2), "spec.require",
                                                  "cannot exceed the number of authorities"),
            "require a word": (policy("require-some", glob, [alice], require="some"), "spec.require"),
            "two kinds in one authority": (policy("two-kinds", glob, [dict(alice, static={"action": "pass"})]), "authorities[0]"),
            "no authorities": (policy("none", glob, []), "spec.authorities"),
        }
        for name, (document, *reasons) in cases.items():
            with self.subTest(name):
                self.assertDenied(ENV.kubectl("apply", "-f", "-", input=document, check=False), *reasons)
                self.assertIsNone(ENV.get("clusterimagepolicy", document["metadata"]["name"]))
        self.assertAdmitted(ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=policy("two-of-two", glob, [
            alice, dict(alice, name="alice-again")], require=2), check=False))

    def test_invalid_exemptions_are_refused(self):
        past = rfc3339(-datetime.timedelta(minutes=5))
        too_far = rfc3339(datetime.timedelta(hours=48))
        no_expiry = exception("forever", "e2e-apps", "x")
        del no_expiry["spec"]["validUntil"]
        both = bypass("both", ["e2e-apps"], rfc3339(datetime.timedelta(hours=1)), allNamespaces=True)
        cases = {
            "an exception without validUntil": (no_expiry, "spec.validUntil"),
            "an exception already expired": (exception("expired", "e2e-apps", past, policies=["e2e-alice"]), 'admission webhook "exemptions.signet.dev" denied',
                                             "has already expired"),
            "a bypass beyond the maximum window": (bypass("too-long", ["e2e-apps"], too_far),
                                                   'admission webhook "exemptions.signet.dev" denied', "expires too late"),
            "a bypass of some and all namespaces": (both, "spec"),
            "a bypass with a bad time": (bypass("bad-time", ["e2e-apps"], "tomorrow"), "spec.expiresAt"),
            "a permanent exception": (exception("permanent", "e2e-apps", "9999-12-31T23:59:59Z", policies=["e2e-alice"]),
                                      'admission webhook "exemptions.signet.dev" denied', "maximum window of 90d", "creationTimestamp"),
            "an exception naming no policy": (exception("no-policy", "e2e-apps", rfc3339(datetime.timedelta(hours=1))),
                                              "allPolicies"),
            "an exception of some and all policies": (exception("both-policies", "e2e-apps", rfc3339(datetime.timedelta(hours=1)),
                                                                policies=["e2e-alice"], allPolicies=True), "allPolicies"),
            # Every replica compiles and keeps each entry: the CRD bounds the lists.
            "an exception of too many names": (exception("wide", "e2e-apps", rfc3339(datetime.timedelta(hours=1)), policies=["e2e-alice"],
                                                         names=[f"n{i}" for i in range(257)]), "spec.names", "must have at most 256 items"),
        }
        for name, (document, *reasons) in cases.items():
            with self.subTest(name):
                self.assertDenied(ENV.kubectl("apply", "-f", "-", input=document, check=False), *reasons)


def stand_in_crd(group, kind, plural, scope="Namespaced"):
    """A CRD that stores any object of a kind no controller here serves (cert-manager,
    Prometheus Operator), so documents of those kinds can be applied."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope, "names": {"kind": kind, "plural": plural, "listKind": f"{kind}List",
                                                                "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


STAND_INS = [stand_in_crd("cert-manager.io", "Certificate", "certificates"), stand_in_crd("cert-manager.io", "Issuer", "issuers"),
             stand_in_crd("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
             stand_in_crd("monitoring.coreos.com", "PrometheusRule", "prometheusrules")]


class T07RenderedDocuments(Step):
    """Every document each chart scenario renders is accepted by the API server (server dry run)."""

    def test_every_scenario_is_accepted(self):
        sys.path.insert(0, os.path.join(ROOT, "Tests", "Deploy"))
        from test_deploy import SCENARIOS
        ENV.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": STAND_INS})
        for crd in STAND_INS:
            ENV.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{crd['metadata']['name']}")
        # Opted out of image checks: the chart's own workload is not a test image.
        ENV.opt_out("render-check")
        for name in ("team-a", "team-b"):
            ENV.namespace(name)
        for scenario, flags in SCENARIOS.items():
            with self.subTest(scenario=scenario):
                rendered = ENV.helm("template", "render-check", CHART, "--namespace", "render-check", *flags).stdout
                result = ENV.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered, check=False)
                self.assertEqual(result.returncode, 0, result.stderr)
                documents = [d for d in yaml.safe_load_all(rendered) if d]
                self.assertEqual(result.stdout.count("(server dry run)"), len(documents), result.stdout)


class T08PullSecretsAndUpgrade(Step):
    """Image pull Secrets read through the real API under the chart's RBAC, granted by `helm upgrade`."""

    def setUp(self):
        super().setUp()
        auth = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
        config = json.dumps({"auths": {ENV.private.host: {"auth": auth}}})
        for namespace in ("e2e-private", "e2e-norbac"):
            ENV.kubectl("apply", "-f", "-", input={
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                "metadata": {"name": "regcred", "namespace": namespace},
                "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}})
        for account in ("builder", "builder-2"):
            ENV.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "ServiceAccount",
                                                   "metadata": {"name": account, "namespace": "e2e-private"},
                                                   "imagePullSecrets": [{"name": "regcred"}]})

    def run_private(self, name, namespace, **spec):
        return ENV.kubectl("apply", "-f", "-", check=False, input=self.pod(name, namespace, ENV.images["private"], **spec))

    def test_1_before_the_upgrade_signet_may_not_read_secrets(self):
        account = f"system:serviceaccount:{NAMESPACE}:{RELEASE}"
        self.assertEqual(ENV.kubectl("auth", "can-i", "get", "secrets", "-n", "e2e-private", "--as", account, check=False).stdout.strip(), "no")
        self.assertDeniedBySignet(self.run_private("via-account", "e2e-private", serviceAccountName="builder"), "unauthorized")

    def test_2_upgrade(self):
        before = ENV.get("secret", f"{RELEASE}-tls", "-n", NAMESPACE)["data"]
        broken = {"images": [{"glob": "broken.example/**"}], "authorities": [{"key": {"publicKeys": [{"pem": "not a key"}]}}]}
        result = ENV.helm("upgrade", RELEASE, CHART, "-n", NAMESPACE, "--reuse-values",
                          "--set", "rbac.pullSecrets.enabled=true", "--set", "rbac.pullSecrets.namespaces={e2e-private}",
                          "--set", "rbac.pullSecrets.names={regcred}",
                          "--set-json", f"policies.clusterImagePolicies.broken-release-policy={json.dumps(broken)}")
        self.assertIn("REVISION: 3", result.stdout)
        self.assertEqual(ENV.get("secret", f"{RELEASE}-tls", "-n", NAMESPACE)["data"], before, "the serving pair is kept")
        role = ENV.get("role", f"{RELEASE}-pull-secrets", "-n", "e2e-private")
        self.assertEqual(role["rules"][0]["resourceNames"], ["regcred"])
        self.assertIsNone(ENV.get("role", f"{RELEASE}-pull-secrets", "-n", "e2e-norbac"))
        config = ENV.get("validatingwebhookconfiguration", RELEASE)
        self.assertTrue(all(w["clientConfig"]["url"].startswith("https://127.0.0.1:") for w in config["webhooks"]))
        # A release policy skips the webhook (created before signet may answer); signet still
        # compiles it, leaves it out and says why in its status.
        self.assertIsNotNone(ENV.get("clusterimagepolicy", "broken-release-policy"))
        status = wait_for_state("clusterimagepolicy", "broken-release-policy", "Invalid")
        self.assertTrue(status)
        self.assertEqual(ENV.get("clusterimagepolicy", "system-images")["status"]["state"], "Ready")

    def test_3_after_the_upgrade_signet_reads_the_granted_secrets(self):
        # First what must still fail: signet caches a passed verification by digest and policy.
        self.assertDeniedBySignet(self.run_private("elsewhere", "e2e-norbac", imagePullSecrets=[{"name": "regcred"}]), "unauthorized")
        self.assertDeniedBySignet(self.run_private("anonymous", "e2e-private"), "unauthorized")
        self.assertAdmitted(self.run_private("with-secret", "e2e-private", imagePullSecrets=[{"name": "regcred"}]))
        self.assertAdmitted(self.run_private("via-account", "e2e-private", serviceAccountName="builder-2"))


class T09FailClosed(Step):
    """With signet down the API server refuses what the webhooks cover (failurePolicy Fail)."""

    def test_refused_while_signet_is_down(self):
        ENV.stop_signet()
        try:
            # The mutating webhook is called first and fails closed; a Deployment (not mutated)
            # reaches the validating webhook, which fails closed too.
            refused = ENV.kubectl("run", "while-down", "-n", "e2e-apps", f"--image={ENV.images['signed']}", check=False)
            self.assertDenied(refused, 'failed calling webhook "pin.images.signet.dev"')
            self.assertIsNone(ENV.get("pod", "while-down", "-n", "e2e-apps"))
            refused = ENV.kubectl("create", "deployment", "while-down", "-n", "e2e-apps", f"--image={ENV.images['signed']}", check=False)
            self.assertDenied(refused, 'failed calling webhook "images.signet.dev"')
            self.assertIsNone(ENV.get("deployment", "while-down", "-n", "e2e-apps"))
            refused = ENV.kubectl("apply", "-f", "-", check=False, input=policy("while-down", ["x/**"], [{"static": {"action": "pass"}}]))
            self.assertDenied(refused, 'failed calling webhook "policies.signet.dev"')
            # The opt-out label is honoured by signet, not by the API server: while signet is
            # down it opens nothing either.
            self.assertDenied(ENV.kubectl("run", "opted-out-while-down", "-n", "e2e-opted-out",
                                          f"--image={ENV.images['unsigned']}", check=False), "failed calling webhook")
        finally:
            ENV.start_signet()
        self.assertAdmitted(ENV.kubectl("run", "after-restart", "-n", "e2e-apps", f"--image={ENV.images['signed']}", check=False))


class T10AuditLog(Step):
    """signet's audit annotations, as the API server records them (prefixed by the webhook name)."""

    def event(self, namespace, name, verb="create", resource="pods", subresource=None, dry_run=False, decision=None):
        def find():
            for event in ENV.cluster.audit_events():
                ref = event.get("objectRef", {})
                if event.get("stage") == "ResponseComplete" and event.get("verb") == verb and ref.get("resource") == resource \
                        and ref.get("namespace") == namespace and ref.get("name") == name and ref.get("subresource") == subresource \
                        and ("dryRun=All" in event.get("requestURI", "")) == dry_run \
                        and decision in (None, event.get("annotations", {}).get("images.signet.dev/decision")):
                    return event
            return None
        return wait_until(f"an audit event for {verb} {resource} {namespace}/{name}", find, timeout=15)

    def test_decisions_are_in_the_audit_log(self):
        allowed = self.event("e2e-apps", "signed-tag")["annotations"]
        self.assertEqual(allowed["images.signet.dev/decision"], "allowed")
        self.assertIn(ENV.images["signed"], allowed["images.signet.dev/images"])
        denied = self.event("e2e-apps", "unsigned")
        self.assertEqual(denied["annotations"]["images.signet.dev/decision"], "denied")
        self.assertEqual(denied["responseStatus"]["code"], 403)
        dry = self.event("e2e-apps", "applied", dry_run=True)
        self.assertEqual(dry["annotations"]["images.signet.dev/dry-run"], "true")
        excepted = self.event("e2e-excepted", "excepted")["annotations"]
        self.assertEqual(excepted["images.signet.dev/decision"], "allowed")
        self.assertIn('PolicyException "e2e-excepted/unsigned-ok"', excepted["images.signet.dev/exemptions"])
        bypassed = self.event("e2e-bypassed", "bypassed-tampered")["annotations"]
        self.assertIn('EmergencyBypass "incident"', bypassed["images.signet.dev/emergency-bypass"])
        debug = self.event("e2e-apps", "target", verb="patch", subresource="ephemeralcontainers", decision="allowed")["annotations"]
        self.assertIn(ENV.images["keyless"], debug["images.signet.dev/images"])
        refused = self.event("e2e-apps", "target", verb="patch", subresource="ephemeralcontainers", decision="denied")["annotations"]
        self.assertIn(ENV.images["tampered"], refused["images.signet.dev/images"])
        policy_event = self.event(None, "e2e-alice", resource="clusterimagepolicies")["annotations"]
        self.assertEqual(policy_event["policies.signet.dev/decision"], "allowed")


class T11Uninstall(Step):
    """`helm uninstall`: the release's objects go, the CRDs and the objects made with them stay."""

    def test_uninstall(self):
        result = ENV.helm("uninstall", RELEASE, "-n", NAMESPACE)
        self.assertIn("uninstalled", result.stdout)
        ENV.stop_signet()
        for kind, name, *namespace in (("validatingwebhookconfiguration", RELEASE), ("clusterrole", RELEASE),
                                       ("clusterimagepolicy", "system-images"), ("clusterimagepolicy", "broken-release-policy"),
                                       ("deployment", RELEASE, "-n", NAMESPACE), ("serviceaccount", RELEASE, "-n", NAMESPACE),
                                       ("role", f"{RELEASE}-pull-secrets", "-n", "e2e-private"),
                                       ("role", f"{RELEASE}-bypass-events", "-n", "default")):
            with self.subTest(kind=kind, name=name):
                wait_until(f"{kind} {name} is deleted", lambda: ENV.get(kind, name, *namespace) is None, timeout=30)
        for crd in ("clusterimagepolicies", "policyexceptions", "emergencybypasses"):
            self.assertIsNotNone(ENV.get("crd", f"{crd}.signet.dev"), "Helm keeps the CRDs of crds/")
        self.assertIsNotNone(ENV.get("clusterimagepolicy", "e2e-alice"))
        # No webhook any more: nothing is checked.
        self.assertAdmitted(ENV.kubectl("run", "after-uninstall", "-n", "e2e-apps", f"--image={ENV.images['unsigned']}", check=False))


class T12PlainManifests(Step):
    """`kubectl apply -f deploy/crds/ -f deploy/`: every object stored (cert-manager's kinds by stand-in CRDs)."""

    def test_apply_deploy(self):
        documents = []
        for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "*"))):
            if os.path.isfile(path) and path.endswith((".yaml", ".yml", ".json")):
                with open(path) as f:
                    documents += [d for d in yaml.safe_load_all(f) if d]
        # The plain manifests call signet through its Service. The API server must never look
        # that name up, so nothing they create may be an object the webhooks match.
        # An object outside the release namespace is one of an API group no webhook's rules name
        # (the Role in default that lets signet patch a bypass's Events).
        namespace = next(d for d in documents if d["kind"] == "Namespace")["metadata"]["name"]
        matched_groups = {group for d in documents if d["kind"].endswith("WebhookConfiguration")
                          for webhook in d["webhooks"] for rule in webhook["rules"] for group in rule["apiGroups"]}
        for document in documents:
            group = document["apiVersion"].split("/")[0] if "/" in document["apiVersion"] else ""
            in_release_namespace = document["metadata"].get("namespace") in (None, namespace) or group not in matched_groups
            release_policy = document["kind"] == "ClusterImagePolicy" and "signet.dev/chart-release" in document["metadata"].get("labels", {})
            self.assertTrue(in_release_namespace and (document["kind"] != "ClusterImagePolicy" or release_policy),
                            f"{document['kind']} {document['metadata']['name']} would be sent to the webhook")
        self.assertNotIn("rbac.authorization.k8s.io", matched_groups)
        ENV.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": STAND_INS})
        crds = [arg for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "crds", "*.yaml"))) for arg in ("-f", path)]
        ENV.kubectl("apply", *crds)
        ENV.kubectl("wait", "--for=condition=Established", "--timeout=30s", *crds)
        try:
            result = ENV.kubectl("apply", "-f", os.path.join(ROOT, "deploy"), check=False)
            self.assertEqual(result.returncode, 0, result.stderr)
            for document in documents:
                kind, name = document["kind"], document["metadata"]["name"]
                args = ["-n", document["metadata"]["namespace"]] if document["metadata"].get("namespace") else []
                with self.subTest(kind=kind, name=name):
                    self.assertIsNotNone(ENV.get(f"{kind.lower()}.{document['apiVersion'].split('/')[0]}"
                                                 if "/" in document["apiVersion"] else kind.lower(), name, *args))
        finally:
            # Gone before anything else is created.
            ENV.kubectl("delete", "validatingwebhookconfiguration", "-l", "app.kubernetes.io/part-of=signet", "--ignore-not-found")
        self.assertEqual(ENV.get("validatingwebhookconfiguration")["items"], [])


def load_tests(loader, tests, pattern):
    """The steps in their order (T01, T02, ...), each step's tests by name."""
    suite = unittest.TestSuite()
    steps = sorted((c for c in globals().values() if isinstance(c, type) and issubclass(c, Step) and c is not Step),
                   key=lambda c: c.__name__)
    for step in steps:
        suite.addTests(loader.loadTestsFromTestCase(step))
    return suite


# The whole run is bounded: past this, every process is stopped and the run fails.
RUN_LIMIT_SECONDS = int(os.environ.get("SIGNET_E2E_LIMIT_SECONDS", "900"))


def abort_run(signum, frame):
    print(f"e2e: stopped after {RUN_LIMIT_SECONDS} s", file=sys.stderr, flush=True)
    if ENV:
        ENV.stop()
    os._exit(1)


if __name__ == "__main__":
    try:
        prerequisites()
    except Unavailable as reason:
        print(f"e2e: skipped: {reason}")
        sys.exit(0)
    signal.signal(signal.SIGALRM, abort_run)
    signal.alarm(RUN_LIMIT_SECONDS)
    unittest.main(verbosity=2)
