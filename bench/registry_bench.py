"""The verification half of `make bench`: Debian's docker-registry on 127.0.0.1, images and cosign
signatures made here (ECDSA P-256 with the openssl CLI, simple-signing payloads as cosign writes
them), and `signet serve` verifying them with a `key` authority."""
import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import run


def go_duration_ms(text):
    """A Go `time.Duration` as its String() writes it (logfmt quotes the `µs` form; unquoted here) (`85.596µs`, `1.188465ms`, `1.2s`), in
    milliseconds; None for any other form."""
    match = re.fullmatch(r"([0-9.]+)(ns|µs|us|ms|s)", text or "")
    if not match:
        return None
    return float(match.group(1)) * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]


class Registry:
    """Debian's docker-registry on 127.0.0.1 with filesystem storage.

    With `answer_times`, it also logs at level info, which writes one `response completed` line
    per request with the time the registry itself took to answer (`http.response.duration`):
    what a cold review waited on the registry, told apart from signet's own work."""

    def __init__(self, ws, answer_times=False):
        self.port = run.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="signet-bench-registry-", dir=ws.dir)
        config = os.path.join(self.dir, "config.yml")
        level = "info" if answer_times else "error"
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: {level}\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n")
        # The access log (one combined-format line per request answered) counts requests.
        self.log_path = os.path.join(self.dir, "access.log")
        self.log = open(self.log_path, "wb")
        self.app_log_path = os.path.join(self.dir, "registry.log") if answer_times else None
        self.app_log = open(self.app_log_path, "wb") if answer_times else subprocess.DEVNULL
        self.process = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log, stderr=self.app_log)
        run.wait_until_listening(self.port)

    def answer_durations_ms(self):
        """`(METHOD uri, milliseconds)` for each request answered so far through the registry's
        handlers, in the order answered (only with `answer_times`; None where no duration was
        logged). A path no handler serves (`/v2/<name>/referrers/...` on this registry) is
        answered 404 by the router without a line."""
        if not self.app_log_path:
            return []
        self.app_log.flush()
        answers = []
        with open(self.app_log_path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if 'msg="response completed' in line:
                    duration = re.search(r'http\.response\.duration="?([^" ]+)', line)
                    method = re.search(r'http\.request\.method=(\S+)', line)
                    uri = re.search(r'http\.request\.uri="?([^" ]+)', line)
                    answers.append((f"{method.group(1) if method else '?'} {uri.group(1) if uri else '?'}",
                                    go_duration_ms(duration.group(1)) if duration else None))
        return answers

    def requests(self):
        """The requests the registry has answered so far, as `METHOD path` strings."""
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return [m.group(1).decode() for m in re.finditer(rb'"([A-Z]+ \S+) HTTP/[0-9.]+"', f.read())]

    def request(self, method, path, data=None, headers=None):
        req = urllib.request.Request(f"http://{self.host}{path}", data=data, method=method, headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()

    def push_blob(self, repo, data):
        """Uploads `data` unless the repository has it already (as docker push does, so pushes in
        parallel that share a blob do not upload it over each other)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
            return {"digest": digest, "size": len(data)}
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        _, headers, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        location = headers["Location"]
        if location.startswith("http"):
            location = location.split(self.host, 1)[1]
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={digest}", data=data,
                     headers={"Content-Type": "application/octet-stream"})
        return {"digest": digest, "size": len(data)}

    def push_manifest(self, repo, reference, manifest):
        body = json.dumps(manifest, separators=(",", ":")).encode()
        self.request("PUT", f"/v2/{repo}/manifests/{reference}", data=body,
                     headers={"Content-Type": manifest["mediaType"]})
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def push_image(self, repo, tag, salt):
        return self.push_image_sized(repo, tag, salt)[0]

    def push_image_sized(self, repo, tag, salt):
        """Pushes a one-layer image; returns its manifest digest and length."""
        config = self.push_blob(repo, json.dumps({"architecture": "amd64", "os": "linux", "salt": salt}).encode())
        layer = self.push_blob(repo, f"layer {salt}".encode() * 16)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer}]}
        digest = self.push_manifest(repo, tag, manifest)
        return digest, len(json.dumps(manifest, separators=(",", ":")).encode())

    def push_signature(self, repo, digest, key_file):
        payload = json.dumps({"critical": {"identity": {"docker-reference": f"{self.host}/{repo}"},
                                           "image": {"docker-manifest-digest": digest},
                                           "type": "cosign container image signature"},
                              "optional": None}, separators=(",", ":")).encode()
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], input=payload,
                                   capture_output=True, check=True).stdout
        layer = self.push_blob(repo, payload)
        config = self.push_blob(repo, b'{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}')
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                    "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", **layer,
                                "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(signature).decode()}}]}
        self.push_manifest(repo, digest.replace(":", "-") + ".sig", manifest)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        if self.app_log_path:
            self.app_log.close()
        self.log.close()


def indent(text, spaces):
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


def policy_yaml(name, glob, authorities):
    """A ClusterImagePolicy for `glob` with `authorities` (YAML list items, unindented)."""
    return f"""apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: {name}
spec:
  images:
    - glob: "{glob}"
  authorities:
{indent(authorities, 4)}
"""


def make_key(ws, name):
    """A P-256 signing key made with openssl; returns (private key file, public key file)."""
    key = os.path.join(ws.dir, f"{name}.key")
    public = os.path.join(ws.dir, f"{name}.pub")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True)
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", public], check=True, capture_output=True)
    return key, public


def key_policy(name, glob, public):
    """A ClusterImagePolicy trusting the cosign key `public` for `glob`."""
    return policy_yaml(name, glob, f"- name: release-key\n  key:\n    publicKeys:\n      - file: {public}")


def key_policy_dir(ws, part, glob, public):
    """A policy directory of its own for one part of the bench, holding `key_policy` for `glob`."""
    directory = os.path.join(ws.dir, f"policies-{part}")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f"{part}.yaml"), "w") as f:
        f.write(key_policy(f"bench-{part}", glob, public))
    return directory


def pod_review(images, uid="bench"):
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                                   "namespace": "bench", "name": "p", "operation": "CREATE",
                                   "userInfo": {"username": "bench"},
                                   "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                              "spec": {"containers": [{"name": f"c{i}", "image": image}
                                                                      for i, image in enumerate(images)]}}}}).encode()


def metric(metrics, prefix):
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(prefix) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def measure(binary, ws, results, registry):
    key, public = make_key(ws, "cosign")
    with open(os.path.join(ws.policies, "signed.yaml"), "w") as f:
        f.write(key_policy("bench-signed", f"{registry.host}/**", public))
    signed = []
    for i in range(6):
        digest = registry.push_image("bench/app", f"v{i}", f"cold-{i}")
        registry.push_signature("bench/app", digest, key)
        signed.append((f"{registry.host}/bench/app:v{i}", digest))
    flight_digest = registry.push_image("bench/flight", "v1", "flight")
    registry.push_signature("bench/flight", flight_digest, key)

    server = run.Signet(binary, ws, extra=("--allow-insecure-registry", registry.host))
    sections = []
    extra_targets = []

    # Cold key-based verification: each image once, by digest (no resolution) and by tag.
    cold_ms, cold_requests = [], []
    for index, (tag_ref, digest) in enumerate(signed):
        reference = f"{registry.host}/bench/app@{digest}" if index % 2 == 0 else tag_ref
        before = metric(server.metrics(), "signet_registry_requests_total")
        start = time.perf_counter()
        response = json.loads(server.post("/validate?timeout=10s", pod_review([reference])))
        elapsed = (time.perf_counter() - start) * 1000
        assert response["response"]["allowed"], response
        cold_ms.append(elapsed)
        cold_requests.append(metric(server.metrics(), "signet_registry_requests_total") - before)
    digest_requests = [r for i, r in enumerate(cold_requests) if i % 2 == 0]
    tag_requests = [r for i, r in enumerate(cold_requests) if i % 2 == 1]
    cold = run.spread(cold_ms)
    results["cold_verification"] = {"latency_ms": cold, "registry_requests_digest": digest_requests,
                                    "registry_requests_tag": tag_requests}
    sections.append({"title": "Cold key-based verification (loopback docker-registry, empty cache)", "lines": [
        "Each review names one signed image the server has not seen; the `.sig` manifest and its payload "
        "blob are fetched and the ECDSA P-256 signature checked.", "",
        "| measure | value |", "|---|---|",
        f"| latency through /validate, median (min..max) over {len(cold_ms)} images | "
        f"{cold['median']:.1f} ms ({cold['min']:.1f}..{cold['max']:.1f}) |",
        f"| registry requests, image named by digest | {', '.join(str(int(r)) for r in digest_requests)} |",
        f"| registry requests, image named by tag (adds the tag resolution) | {', '.join(str(int(r)) for r in tag_requests)} |"]})
    extra_targets.append({"target": "cold key-based verification < 50 ms on loopback",
                          "measured": f"{cold['median']:.1f} ms median, {cold['max']:.1f} ms max",
                          "met": "yes" if cold["max"] < 50 else "no"})
    extra_targets.append({"target": "cold verification: at most 3 registry requests",
                          "measured": f"{int(max(digest_requests))} by digest, {int(max(tag_requests))} by tag",
                          "met": "yes" if max(cold_requests) <= 3 else "no"})

    # Warm: the same image again is a cache hit.
    warm_ms = []
    reference = f"{registry.host}/bench/app@{signed[0][1]}"
    for _ in range(200):
        start = time.perf_counter()
        server.post("/validate?timeout=10s", pod_review([reference]))
        warm_ms.append((time.perf_counter() - start) * 1000)
    warm = run.spread(warm_ms)

    # Single flight: 100 concurrent reviews of one uncached image.
    fetches_before = metric(server.metrics(), "signet_verification_signature_fetches_total")
    requests_before = metric(server.metrics(), "signet_registry_requests_total")
    flight_reference = f"{registry.host}/bench/flight@{flight_digest}"
    with ThreadPoolExecutor(max_workers=100) as pool:
        answers = list(pool.map(lambda i: json.loads(server.post("/validate?timeout=10s", pod_review([flight_reference], f"f{i}"))),
                                range(100)))
    allowed = sum(1 for a in answers if a["response"]["allowed"])
    fetches = metric(server.metrics(), "signet_verification_signature_fetches_total") - fetches_before
    flight_requests = metric(server.metrics(), "signet_registry_requests_total") - requests_before
    results["single_flight"] = {"reviews": 100, "allowed": allowed, "signature_fetches": fetches,
                                "registry_requests": flight_requests}
    sections.append({"title": "Single flight", "lines": [
        "| concurrent reviews of one uncached image | allowed | signature fetches | registry requests |",
        "|---|---|---|---|", f"| 100 | {allowed} | {int(fetches)} | {int(flight_requests)} |"]})
    extra_targets.append({"target": "single flight: exactly 1 signature fetch for 100 concurrent reviews",
                          "measured": f"{int(fetches)} fetch, {int(flight_requests)} registry requests",
                          "met": "yes" if fetches == 1 else "no"})

    # Memory with 10,000 cached verdicts: digest-pinned images with no signature (negative verdicts).
    rss_before = run.rss_kib(server.process.pid)
    per_review = 100
    for batch in range(100):
        images = [f"{registry.host}/bench/unsigned@sha256:" + hashlib.sha256(f"{batch}-{i}".encode()).hexdigest()
                  for i in range(per_review)]
        server.post("/validate?timeout=25s", pod_review(images, f"m{batch}"))
    rss_after = run.rss_kib(server.process.pid)
    results.setdefault("memory", {})["with_10000_cached_verdicts_rss_mib"] = round(rss_after / 1024, 1)
    results["memory"]["before_filling_cache_rss_mib"] = round(rss_before / 1024, 1)
    # Everything the fill left resident, cache and allocator slack alike, per verdict.
    results["memory"]["growth_per_cached_verdict_bytes"] = round((rss_after - rss_before) * 1024 / (100 * per_review))
    extra_targets.append({"target": "memory < 64 MB with 10,000 cached verdicts",
                          "measured": f"{rss_after / 1024:.1f} MiB resident",
                          "met": "yes" if rss_after / 1024 < 64 else "no"})

    # The seeds' budgets.
    bundle_case = os.path.join(run.ROOT, "Tests", "Vectors", "sigstore-conformance", "test", "assets",
                               "bundle-verify", "happy-path-v0.3")
    chain_ms = []
    if os.path.isdir(bundle_case):
        artifact = os.path.join(bundle_case, "..", "a.txt")
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([binary, "verify-bundle", "--bundle", os.path.join(bundle_case, "bundle.sigstore.json"),
                            "--certificate-identity",
                            "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
                            "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com", artifact],
                           check=True, capture_output=True)
            chain_ms.append((time.perf_counter() - start) * 1000)
    chain = run.spread(chain_ms)
    budget_rows = [
        ("signature verified (cold key-based, through /validate)", "2 s", f"{cold['max']:.1f} ms max"),
        ("trust chain validated (keyless bundle: Fulcio chain, SCT, Rekor SET/proof, identity; whole `signet verify-bundle` process)",
         "3 s", f"{chain['max']:.1f} ms max" if chain["max"] is not None else "not measured"),
        ("cached decision (warm /validate round trip from a Python client)", "500 ms",
         f"{warm['median']:.2f} ms median, {warm['max']:.2f} ms max"),
    ]
    sections.append({"title": "The seeds' budgets", "lines": ["| budget | limit | measured |", "|---|---|---|"] +
                     [f"| {name} | {limit} | {value} |" for name, limit, value in budget_rows]})
    results["budgets"] = {"cold_signature_ms": cold, "trust_chain_ms": chain, "cached_decision_ms": warm}
    results.setdefault("sections", []).extend(sections)
    results.setdefault("extra_targets", []).extend(extra_targets)
    server.stop()
