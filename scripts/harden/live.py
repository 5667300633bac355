"""`signet serve` (release build, or debug in short mode) on 127.0.0.1 for parts 4 and 5 of `make harden`: a throwaway PKI made
with openssl, static policies, and a healthy client (the API server's stand-in) that posts reviews
at a steady rate from 127.0.0.2 with its client certificate and records each latency."""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

from common import ROOT, SCRATCH, StepFailed

# Full mode: the release build, the one `make bench` makes (debug and release sit side by side in
# .build; the parts run one after another, so the two builds never wait on each other). Short mode
# (CI, after `make test`): the debug build `make test` made, so no second full build.
BUILDS = {
    "release": ["swift", "build", "-c", "release", "--product", "signet"],
    "debug": ["swift", "build", "--product", "signet"],
}
POLICY = """apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: trusted-registries
spec:
  images:
    - glob: "ghcr.io/signet-demo/**"
  authorities:
    - name: allow
      static:
        action: pass
"""


def openssl(*arguments, cwd):
    subprocess.run(["openssl"] + list(arguments), cwd=cwd, check=True, capture_output=True)


class PKI:
    """A CA, a server certificate for localhost/127.0.0.1, the API server's client certificate
    (CN kube-apiserver, the allowed name) and an intruder's (CN intruder, same CA)."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-subj", "/CN=harden CA", "-days", "2", cwd=directory)
        self.issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.issue("client", "kube-apiserver", "extendedKeyUsage=clientAuth")
        self.issue("intruder", "intruder", "extendedKeyUsage=clientAuth")

    def issue(self, name, common_name, extension):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", "/CN=" + common_name, cwd=self.directory)
        with open(os.path.join(self.directory, name + ".ext"), "w") as f:
            f.write(extension + "\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=self.directory)

    def path(self, name):
        return os.path.join(self.directory, name)


def review_body(uid="harden", kind="Pod", image="ghcr.io/signet-demo/web:v1"):
    return json.dumps({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
                    "resource": {"group": "", "version": "v1", "resource": "pods"}, "name": "web", "namespace": "team-a",
                    "operation": "CREATE", "userInfo": {"username": "alice@example.com"},
                    "object": {"apiVersion": "v1", "kind": kind, "metadata": {"name": "web", "namespace": "team-a"},
                               "spec": {"containers": [{"name": "web", "image": image}]}}},
    }).encode()


def server_binary(kind, log):
    """Builds `signet` (`kind`: release or debug, see BUILDS) and returns its path."""
    build = BUILDS[kind]
    with open(log, "a") as f:
        f.write("$ %s\n" % " ".join(build))
        f.flush()
        if subprocess.run(build, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
            raise StepFailed("the %s build failed (see .build-harden/harden.log)" % kind)
    show = [a for a in build if a not in ("--product", "signet")] + ["--show-bin-path"]
    path = subprocess.run(show, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(path, "signet")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`signet serve` over TLS with client certificates required for /validate."""

    def __init__(self, binary, work, extra=()):
        self.work = work
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.join(work, "policies"))
        with open(os.path.join(work, "policies", "trusted.yaml"), "w") as f:
            f.write(POLICY)
        self.pki = PKI(os.path.join(work, "pki"))
        self.cert = os.path.join(work, "tls.crt")
        self.key = os.path.join(work, "tls.key")
        shutil.copy(self.pki.path("server.pem"), self.cert)
        shutil.copy(self.pki.path("server.key"), self.key)
        self.port = free_port()
        self.command = [binary, "serve", "--address", "127.0.0.1", "--port", str(self.port), "--tls-cert", self.cert,
                        "--tls-key", self.key, "--policy-dir", os.path.join(work, "policies"), "--client-ca", self.pki.path("ca.pem"),
                        "--client-allowed-names", "kube-apiserver", "--log-level", "warning"] + list(extra)
        self.log = open(os.path.join(work, "server.log"), "w")
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(), timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        self.stop()
        raise StepFailed("signet serve did not become ready (see %s)" % os.path.join(work, "server.log"))

    def context(self, certificate="client"):
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.pem"))
        if certificate:
            ctx.load_cert_chain(self.pki.path(certificate + ".pem"), self.pki.path(certificate + ".key"))
        return ctx

    def peak_rss_mib(self):
        with open("/proc/%d/status" % self.process.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def reset_peak(self):
        """Makes VmHWM start again from the current resident size (proc(5), clear_refs value 5)."""
        try:
            with open("/proc/%d/clear_refs" % self.process.pid, "w") as f:
                f.write("5")
        except OSError:
            pass

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


class HealthyClient:
    """Posts a review every 1/rate s over keep-alive TLS from 127.0.0.2, reconnecting after an
    error; every latency and error is recorded with the time it happened. A request may take up
    to 30 s before it counts as an error, so a busy machine slows the figures but fails none."""

    def __init__(self, server, rate=40, source="127.0.0.2"):
        self.server, self.interval, self.source = server, 1.0 / rate, source
        self.samples = []  # (monotonic time, seconds or None for an error, what)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def loop(self):
        body = review_body()
        conn = None
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += self.interval
            begin = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=self.server.context(),
                                                       timeout=30, source_address=(self.source, 0))
                conn.request("POST", "/validate?timeout=10s", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                ok = response.status == 200 and b'"allowed":true' in answer
                self.samples.append((begin, time.monotonic() - begin if ok else None, "HTTP %d" % response.status))
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, ssl.SSLError, http.client.HTTPException) as error:
                self.samples.append((begin, None, type(error).__name__))
                if conn is not None:
                    conn.close()
                conn = None

    def window(self, start, end):
        """Requests, errors, p50 and p99 (ms) of the requests started in [start, end)."""
        inside = [s for s in self.samples if start <= s[0] < end]
        latencies = sorted(s[1] for s in inside if s[1] is not None)
        errors = [s[2] for s in inside if s[1] is None]

        def percentile(p):
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

        return {"requests": len(inside), "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
                "p50_ms": percentile(0.50), "p99_ms": percentile(0.99)}

    def stop(self):
        self.stop_event.set()
        self.thread.join(15)
