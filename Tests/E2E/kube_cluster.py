"""A real Kubernetes control plane on 127.0.0.1 for the end-to-end tests: etcd (Debian's
etcd-server) and kube-apiserver, with their own PKI, a static admin token, RBAC, the service
account token issuer (TokenRequest works) and an audit policy writing to a log file.

No controller-manager, scheduler or kubelet runs: objects are stored and admitted, never run.
Every wait is bounded; `stop()` ends both processes (SIGTERM, then SIGKILL).
"""
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The binary the tests unpack from ../shared/tools when KUBE_APISERVER is not set.
PACKED_APISERVER = os.path.join(ROOT, "..", "shared", "tools", "kube-apiserver.xz")
PACKED_APISERVER_SHA256 = "49e470c6e17b522895f57964d09c36660745b52ba8516ae2738e9df5b69462a9"
UNPACKED_APISERVER = os.path.join(ROOT, ".tools", "bin", "kube-apiserver")
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ADMIN_TOKEN = "signet-e2e-admin-token"

# Only the requests whose audit annotations the tests read are logged (Metadata level, so
# webhook annotations appear); everything else is left out to keep the log small.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch"]
    resources:
      - group: ""
        resources: ["pods", "pods/ephemeralcontainers"]
      - group: "apps"
        resources: ["deployments"]
      - group: "signet.dev"
  - level: None
"""


class Unavailable(Exception):
    """No kube-apiserver binary or no etcd: the suite is skipped with this message."""


def find_apiserver():
    """The kube-apiserver to run: $KUBE_APISERVER, else ../shared/tools/kube-apiserver.xz unpacked
    (once, sha256 checked) into .tools/bin/. Raises Unavailable with how to provide one."""
    configured = os.environ.get("KUBE_APISERVER", "")
    if configured:
        if not os.access(configured, os.X_OK):
            raise Unavailable(f"KUBE_APISERVER={configured} is not an executable file")
        return configured
    if os.access(UNPACKED_APISERVER, os.X_OK) and sha256_of(UNPACKED_APISERVER) == PACKED_APISERVER_SHA256:
        return UNPACKED_APISERVER
    if os.path.exists(PACKED_APISERVER):
        os.makedirs(os.path.dirname(UNPACKED_APISERVER), exist_ok=True)
        partial = UNPACKED_APISERVER + ".partial"
        with open(partial, "wb") as out:
            subprocess.run(["xz", "-dc", PACKED_APISERVER], stdout=out, check=True, timeout=120)
        digest = sha256_of(partial)
        if digest != PACKED_APISERVER_SHA256:
            os.unlink(partial)
            raise Unavailable(f"{PACKED_APISERVER} unpacks to sha256 {digest}, expected {PACKED_APISERVER_SHA256}")
        os.chmod(partial, 0o755)
        os.replace(partial, UNPACKED_APISERVER)
        return UNPACKED_APISERVER
    raise Unavailable("no kube-apiserver: set KUBE_APISERVER to an official kube-apiserver binary (linux/amd64, "
                      "from the Kubernetes release server, see docs/e2e.md)")


def sha256_of(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(what, condition, timeout=60.0, interval=0.2, on_timeout=lambda: ""):
    """Polls `condition` until it returns a true value (which is returned); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 (a poll may fail while a peer starts)
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"never happened within {timeout:.0f}s: {what}" + (f" (last error: {last_error})" if last_error else "")
                         + ("\n" + on_timeout() if on_timeout() else ""))


def write(path, data, mode=0o600):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


class CertificateAuthority:
    """An ECDSA P-256 CA that issues TLS server certificates."""

    def __init__(self, name):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
                            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self):
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue_server(self, common_name, dns_names=(), ips=()):
        """(certificate PEM, key PEM) of a server certificate for the names."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        names = [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        certificate = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                       .issuer_name(self.certificate.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                       .add_extension(x509.SubjectAlternativeName(names), critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                       .sign(self.key, hashes.SHA256()))
        return (certificate.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Process:
    """A child process in its own process group, logging to files in `directory`."""

    def __init__(self, name, args, directory, env=None):
        self.name = name
        self.stdout_path = os.path.join(directory, f"{name}.stdout")
        self.stderr_path = os.path.join(directory, f"{name}.stderr")
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.popen = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=directory,
                                          env=env, start_new_session=True)

    def running(self):
        return self.popen.poll() is None

    def stdout(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    def stderr_tail(self, size=3000):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()[-size:]

    def stop(self, timeout=20):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        return self.popen.returncode


class KubeCluster:
    """etcd and kube-apiserver on free loopback ports, configured as described above."""

    def __init__(self, directory, apiserver_binary):
        self.directory = directory
        self.binary = apiserver_binary
        self.ca = CertificateAuthority("signet-e2e-cluster-ca")
        self.ca_file = write(os.path.join(directory, "ca.crt"), self.ca.pem, 0o644)
        self.audit_log = os.path.join(directory, "audit.log")
        self.processes = []

    def start(self):
        if not os.access(ETCD, os.X_OK):
            raise Unavailable(f"{ETCD} is missing: install Debian's etcd-server (make deps)")
        d = self.directory
        etcd_port, peer_port = free_port(), free_port()
        etcd = Process("etcd", [
            ETCD, "--name", "e2e", "--data-dir", os.path.join(d, "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}", "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"e2e=http://127.0.0.1:{peer_port}", "--log-level", "warn"], d)
        self.processes.append(etcd)
        wait_until("etcd answers /health", lambda: b"true" in urllib.request.urlopen(
            f"http://127.0.0.1:{etcd_port}/health", timeout=2).read(), timeout=30,
            on_timeout=etcd.stderr_tail)

        crt, key = self.ca.issue_server("kube-apiserver", ["localhost", "kubernetes", "kubernetes.default.svc"], ["127.0.0.1"])
        sa_key = ec.generate_private_key(ec.SECP256R1())
        write(os.path.join(d, "apiserver.crt"), crt, 0o644)
        write(os.path.join(d, "apiserver.key"), key)
        write(os.path.join(d, "sa.key"), sa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
        write(os.path.join(d, "sa.pub"), sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
        write(os.path.join(d, "tokens.csv"), f'{ADMIN_TOKEN},e2e-admin,e2e-admin-uid,"system:masters"\n')
        write(os.path.join(d, "audit-policy.yaml"), AUDIT_POLICY, 0o644)
        self.port = free_port()
        os.makedirs(os.path.join(d, "apiserver-certs"), exist_ok=True)
        apiserver = Process("kube-apiserver", [
            self.binary, f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
            f"--cert-dir={os.path.join(d, 'apiserver-certs')}",
            f"--tls-cert-file={os.path.join(d, 'apiserver.crt')}", f"--tls-private-key-file={os.path.join(d, 'apiserver.key')}",
            f"--client-ca-file={self.ca_file}", f"--token-auth-file={os.path.join(d, 'tokens.csv')}",
            "--authorization-mode=RBAC", "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={os.path.join(d, 'sa.pub')}",
            f"--service-account-signing-key-file={os.path.join(d, 'sa.key')}",
            "--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
            f"--audit-policy-file={os.path.join(d, 'audit-policy.yaml')}", f"--audit-log-path={self.audit_log}",
            "--audit-log-mode=blocking", "--profiling=false", "--v=1"], d)
        self.processes.append(apiserver)
        self.apiserver = apiserver
        wait_until("kube-apiserver /readyz is ok", lambda: self.get("/readyz") == (200, "ok"), timeout=90,
                   on_timeout=lambda: apiserver.stderr_tail() if not apiserver.running() else "")
        self.kubeconfig = write(os.path.join(d, "kubeconfig"), json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
            "clusters": [{"name": "e2e", "cluster": {"server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "admin"}}]}))
        return self

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def get(self, path, token=ADMIN_TOKEN):
        """(status, body text) of a GET to the API server."""
        context = ssl.create_default_context(cafile=self.ca_file)
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def audit_events(self):
        """The audit log's events so far."""
        if not os.path.exists(self.audit_log):
            return []
        with open(self.audit_log, errors="replace") as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        for process in reversed(self.processes):
            process.stop()
        self.processes = []
