#!/usr/bin/env python3
"""The parts of `make demo` that talk to the registry and to signet (run-demo.sh starts both).

  demo.py push    fills the local registry: small images, one signed with the key the demo
                  generated (cosign simple signing), two with tampered signatures, unsigned ones,
                  and the connaisseur registry mirror (real cosign signatures, key and keyless).
  demo.py scenes  sends AdmissionReviews to `signet serve` over HTTPS and prints each decision
                  with what signet says about it: the answer (status, warnings), the audit line
                  of its uid, the `verified` debug log lines (digest, cache outcome) and the
                  /metrics counters the review moved. Where serve does not say something (which
                  key verified, each step of a keyless verification), `signet verify` is asked
                  with the same trust, and the output says so.

Python's standard library and PyYAML; signatures are made with the openssl command.
"""
import argparse
import base64
import calendar
import hashlib
import http.client
import json
import os
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import yaml

# cosign's formats (sigstore/cosign specs/SIGNATURE_SPEC.md).
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

CONNAISSEUR_REPOSITORY = "securesystemsengineering/testimage"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """The distribution API (OCI distribution spec: push a blob monolithically, put a manifest)."""

    def __init__(self, host):
        self.base = f"http://{host}"
        self.host = host

    def _request(self, method, url, data=None, headers=None, expect=(200, 201, 202)):
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status not in expect:
                raise RuntimeError(f"{method} {url}: {response.status}")
            return response

    def push_blob(self, repository, data):
        digest = sha256(data)
        response = self._request("POST", f"{self.base}/v2/{repository}/blobs/uploads/")
        location = urllib.parse.urljoin(self.base, response.headers["Location"])
        separator = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{separator}digest={digest}", data=data,
                      headers={"Content-Type": "application/octet-stream"})
        return {"digest": digest, "size": len(data)}

    def push_manifest(self, repository, reference, data, media_type):
        self._request("PUT", f"{self.base}/v2/{repository}/manifests/{reference}", data=data,
                      headers={"Content-Type": media_type})
        return sha256(data)


def push_image(registry, repository, tag):
    """A one-layer image of a few hundred bytes; returns its manifest digest."""
    layer = registry.push_blob(repository, f"signet demo layer {repository}:{tag} {uuid.uuid4()}\n".encode())
    config = registry.push_blob(repository, json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {},
         "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": dict(mediaType=OCI_CONFIG, **config),
                "layers": [dict(mediaType=OCI_LAYER, **layer)]}
    return registry.push_manifest(repository, tag, json.dumps(manifest).encode(), OCI_MANIFEST)


def simple_signing_payload(reference, digest):
    """The payload `cosign sign` signs, byte for byte as cosign writes it."""
    return json.dumps({"critical": {"identity": {"docker-reference": reference},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": None}, separators=(",", ":")).encode()


def sign(key_file, payload):
    """ECDSA over SHA-256 of the payload, DER-encoded and base64 (what cosign puts in the annotation)."""
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], input=payload,
                               capture_output=True, check=True).stdout
    return base64.b64encode(signature).decode()


def push_signature(registry, repository, digest, layers):
    """`<repository>:sha256-<hex>.sig` with one simple-signing layer per (payload, signature)."""
    descriptors = []
    for payload, signature in layers:
        blob = registry.push_blob(repository, payload)
        descriptors.append(dict(mediaType=SIMPLE_SIGNING, **blob, annotations={SIGNATURE_ANNOTATION: signature}))
    config = registry.push_blob(repository, json.dumps(
        {"architecture": "", "os": "", "config": {},
         "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]}}).encode())
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": dict(mediaType=OCI_CONFIG, **config), "layers": descriptors}
    tag = digest.replace(":", "-") + ".sig"
    registry.push_manifest(repository, tag, json.dumps(manifest).encode(), OCI_MANIFEST)


def push_connaisseur(registry, storage, vectors):
    """The connaisseur registry mirror: image manifests and their `.sig` images as recorded.

    The signature images are pushed whole: their payload blobs are in the vectors, and their
    config blobs are the empty-image configs cosign writes, rebuilt here byte for byte. The image
    manifests name multi-megabyte layers the vectors do not carry; a signature covers only the
    manifest's digest, so a placeholder for each such blob is written into the registry's storage
    (distribution's filesystem layout) before the manifest is pushed.
    """
    base = os.path.join(vectors, CONNAISSEUR_REPOSITORY)
    for name in sorted(os.listdir(os.path.join(base, "blobs"))):
        with open(os.path.join(base, "blobs", name), "rb") as file:
            registry.push_blob(CONNAISSEUR_REPOSITORY, file.read())
    digests = {}
    manifests = os.path.join(base, "manifests")
    for name in sorted(os.listdir(manifests)):
        with open(os.path.join(manifests, name), "rb") as file:
            data = file.read()
        document = json.loads(data)
        if "config" not in document:
            continue  # co-unsigned.json is an empty object in the mirror
        tag = name[: -len(".json")]
        layers = document["layers"]
        if tag.endswith(".sig"):
            history = [{"created": "0001-01-01T00:00:00Z"}] * len(layers)
            config = ('{"architecture":"","created":"0001-01-01T00:00:00Z","history":%s,"os":"",'
                      '"rootfs":{"type":"layers","diff_ids":%s},"config":{}}'
                      % (json.dumps(history, separators=(",", ":")),
                         json.dumps([layer["digest"] for layer in layers], separators=(",", ":"))))
            pushed = registry.push_blob(CONNAISSEUR_REPOSITORY, config.encode())
            if pushed["digest"] != document["config"]["digest"]:
                raise RuntimeError(f"rebuilt cosign config of {tag} is {pushed['digest']}, not {document['config']['digest']}")
        else:
            for entry in [document["config"]] + layers:
                plant_blob(storage, CONNAISSEUR_REPOSITORY, entry["digest"])
        digests[tag] = registry.push_manifest(CONNAISSEUR_REPOSITORY, tag, data, document["mediaType"])
    return digests


def plant_blob(storage, repository, digest):
    hexdigest = digest.split(":", 1)[1]
    root = os.path.join(storage, "docker", "registry", "v2")
    blob = os.path.join(root, "blobs", "sha256", hexdigest[:2], hexdigest)
    link = os.path.join(root, "repositories", repository, "_layers", "sha256", hexdigest)
    os.makedirs(blob, exist_ok=True)
    os.makedirs(link, exist_ok=True)
    with open(os.path.join(blob, "data"), "wb") as file:
        file.write(b"placeholder")
    with open(os.path.join(link, "link"), "w") as file:
        file.write(digest)


def command_push(arguments):
    """Pushes the demo's images; writes {"repository:tag": digest} to --out."""
    key = arguments.key
    registry = Registry(arguments.registry)
    images = {}

    def image(repository, tag):
        images[f"{repository}:{tag}"] = push_image(registry, repository, tag)
        return images[f"{repository}:{tag}"]

    def signed_payload(repository, digest):
        return simple_signing_payload(f"{registry.host}/{repository}", digest)

    # Signed with the demo key, as `cosign sign --key demo.key` would.
    web = image("demo/web", "1.0")
    payload = signed_payload("demo/web", web)
    push_signature(registry, "demo/web", web, [(payload, sign(key, payload))])
    # No `.sig` image at all. legacy-report and payments-api are admitted only by an exception
    # and by a bypass.
    for repository, tag in [("demo/unsigned", "1.0"), ("demo/legacy-report", "0.9"), ("demo/payments-api", "2.4.1-hotfix")]:
        image(repository, tag)
    # Tampered, two ways. edited: a payload signed for demo/web's digest, then edited to name
    # this image's digest, so the signature no longer matches its bytes. copied: demo/web's
    # valid signature attached to another image, so the signed digest is not this image's.
    edited = image("demo/edited", "1.0")
    push_signature(registry, "demo/edited", edited,
                   [(signed_payload("demo/edited", edited), sign(key, signed_payload("demo/edited", web)))])
    copied = image("demo/copied", "1.0")
    push_signature(registry, "demo/copied", copied, [(payload, sign(key, payload))])
    # The connaisseur mirror: real cosign signatures.
    for tag, digest in push_connaisseur(registry, arguments.storage, arguments.vectors).items():
        if not tag.endswith(".sig"):
            images[f"{CONNAISSEUR_REPOSITORY}:{tag}"] = digest
    with open(arguments.out, "w") as file:
        json.dump(images, file, indent=1, sort_keys=True)


class Signet:
    """`signet serve` as the demo sees it: /validate, /metrics, the audit lines on its standard
    output (--audit-log stdout) and its JSON log on standard error (--log-level debug adds a
    `verified` line per authority with the digest and the cache outcome)."""

    def __init__(self, url, ca, audit, log):
        parsed = urllib.parse.urlsplit(url)
        # One kept-alive connection, as the API server holds: answers to `Connection: close`
        # requests can leave signet before their audit line is written.
        self.connection = http.client.HTTPSConnection(
            parsed.hostname, parsed.port, context=ssl.create_default_context(cafile=ca), timeout=30)
        self.audit = audit
        self.log = log

    def _get(self, path, body=None):
        self.connection.request("POST" if body is not None else "GET", path, body=body,
                                headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {data[:200]!r}")
        return data

    def metrics(self):
        """{(name, frozenset of label pairs): value} of /metrics (Prometheus text format)."""
        values = {}
        for line in self._get("/metrics").decode().splitlines():
            if not line or line.startswith("#"):
                continue
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p) if labels else frozenset()
            values[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
        return values

    @staticmethod
    def _lines(path, offset):
        """The whole lines written to `path` after `offset` (a line being written is left out)."""
        with open(path) as file:
            file.seek(offset)
            text = file.read()
        return text[: text.rfind("\n") + 1]

    def review(self, namespace, name, containers):
        """Sends a Pod CREATE review; returns the response, the audit records of its uid, the
        `verified` log lines it caused, and the metrics it moved."""
        uid = str(uuid.uuid4())
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
               "spec": {"containers": [{"name": c, "image": i} for c, i in containers]}}
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                              "resource": {"group": "", "version": "v1", "resource": "pods"},
                              "name": name, "namespace": namespace, "operation": "CREATE",
                              "userInfo": {"username": "demo-user"}, "object": pod, "dryRun": False}}
        before = self.metrics()
        audit_offset, log_offset = os.path.getsize(self.audit), os.path.getsize(self.log)
        response = json.loads(self._get("/validate?timeout=10s", json.dumps(review).encode()))["response"]
        # The audit line is written before the answer leaves, the log line that closes the
        # review around it; both are waited for (at most 5 s) rather than assumed.
        for _ in range(250):
            log = self._lines(self.log, log_offset)
            records = [json.loads(line) for line in self._lines(self.audit, audit_offset).splitlines()
                       if line.startswith("{") and json.loads(line).get("uid") == uid]
            if uid in log and records:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"signet wrote no audit line or log line for review {uid}")
        verified = [entry for entry in (json.loads(line) for line in log.splitlines() if line.startswith("{"))
                    if entry.get("msg") == "verified"]
        after = self.metrics()
        moved = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
        return Outcome(response, records, verified, moved)


class Outcome:
    def __init__(self, response, records, verified, moved):
        self.response = response
        self.allowed = response["allowed"]
        self.admission = next(r for r in records if r["event"] == "admission")
        self.records = records
        self.verified = {entry["image"]: entry for entry in verified}
        self.moved = moved

    def delta(self, name, **labels):
        return sum(v for (n, pairs), v in self.moved.items()
                   if n == name and all((k, val) in pairs for k, val in labels.items()))

    def decision_line(self, what):
        word = "ALLOWED" if self.allowed else "DENIED "
        return f"{word}  {what} in {self.admission['latencyMs']:.1f} ms"


def shorten(text, *directories):
    for directory in directories:
        text = text.replace(directory.rstrip("/") + "/", "")
    return text


def until(timestamp):
    """`2026-12-02T08:57:05Z, in 2 h 0 min`, counted from now."""
    minutes = round((calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")) - time.time()) / 60)
    return f"{timestamp}, in {minutes // 60} h {minutes % 60} min"


def after_container(warning):
    """What a warning says after `image "..." (container "...") `."""
    return warning.split('") ', 1)[1]


def signet_verify(arguments, image, flags):
    completed = subprocess.run(
        [arguments.signet, "verify", "--output", "json", "--allow-insecure-registry", arguments.registry, *flags, image],
        capture_output=True, text=True, timeout=60)
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"signet verify {image}: {completed.stderr.strip()}")
    return json.loads(completed.stdout)


def command_scenes(arguments):
    signet = Signet(arguments.url, arguments.ca, arguments.audit, arguments.log)
    registry = arguments.registry
    root = arguments.root
    with open(arguments.images) as file:
        digests = json.load(file)
    # What the policies trust, read from the rendered files so that the checks below use the same.
    with open(os.path.join(arguments.policies, "release-keys.yaml")) as file:
        keys = [entry["file"] for entry in yaml.safe_load(file)["spec"]["authorities"][0]["key"]["publicKeys"]]
    key_flags = [flag for key in keys for flag in ("--key", key)]
    with open(os.path.join(arguments.policies, "keyless-github.yaml")) as file:
        identity = yaml.safe_load(file)["spec"]["authorities"][0]["keyless"]["identities"][0]
    issuer_regexp, subject_regexp = identity["issuerRegExp"], identity["subjectRegExp"]

    def check_digest(log, image):
        """The digest signet verified, checked against the manifest pushed under that tag."""
        pushed = digests[image.split("/", 1)[1]]
        if log.get("digest") != pushed:
            raise RuntimeError(f"signet verified {image} as {log.get('digest')}, the registry holds {pushed}")
        return pushed

    def title(number, text):
        print(f"\n== {number}. {text}")

    def detail(label, text):
        print(f"         {label:<11}{text}")

    def verified_image(image, namespace, name, note_key_source):
        outcome = signet.review(namespace, name, [(name, image)])
        print(outcome.decision_line(f"{image} (pod {namespace}/{name})"))
        log = outcome.verified.get(image, {})
        detail("digest", check_digest(log, image))
        report = signet_verify(arguments, image, key_flags)
        for signer in report.get("signers", []):
            detail("key", f"{shorten(signer['key'], root, os.path.dirname(keys[0]))}, {signer['algorithm']} sha256:{signer['fingerprint'][:16]}…")
        if note_key_source:
            detail("", "(the key is named by `signet verify` with the policy's keys: serve's answer and audit")
            detail("", " line do not say which key verified)")
        seconds = outcome.delta("signet_verification_duration_seconds_sum")
        detail("time", f"{outcome.admission['latencyMs']:.1f} ms to decide, {seconds * 1000:.1f} ms of it verifying "
                       f"(cache {log.get('cache', '?')}, {int(outcome.delta('signet_registry_requests_total'))} registry requests)")
        return outcome

    web = f"{registry}/demo/web:1.0"
    title(1, "A signature the demo made: demo/web:1.0, signed at start-up with a fresh P-256 key")
    first = verified_image(web, "demo", "web", True)
    alice = f"{registry}/securesystemsengineering/testimage:multi-cosigned-alice"
    title("1b", "A real cosign signature: connaisseur's testimage:multi-cosigned-alice, signed by alice")
    verified_image(alice, "demo", "alice", False)

    title(2, "demo/web:1.0 a second time: the verdict comes from the cache")
    outcome = signet.review("demo", "web-2", [("web", web)])
    print(outcome.decision_line(f"{web} (pod demo/web-2)"))
    log = outcome.verified.get(web, {})
    detail("digest", check_digest(log, web))
    detail("time", f"{outcome.admission['latencyMs']:.1f} ms to decide (the first time: {first.admission['latencyMs']:.1f} ms)")
    detail("cache", f"{log.get('cache', '?')}: verification cache hits +{int(outcome.delta('signet_verification_cache_hits_total', cache='verification'))}, "
                    f"tag cache hits +{int(outcome.delta('signet_verification_cache_hits_total', cache='tag'))}, "
                    f"{int(outcome.delta('signet_registry_requests_total'))} registry requests")

    title(3, "An unsigned image: demo/unsigned:1.0")
    unsigned = f"{registry}/demo/unsigned:1.0"
    outcome = signet.review("demo", "unsigned", [("app", unsigned)])
    print(outcome.decision_line(f"{unsigned} (pod demo/unsigned)"))
    detail("reason", outcome.admission["images"][0]["reason"].split(": ", 1)[1])

    title(4, "Tampered signatures: a payload edited after signing; demo/web's signature copied to another image")
    outcome = signet.review("demo", "tampered", [("edited", f"{registry}/demo/edited:1.0"), ("copied", f"{registry}/demo/copied:1.0")])
    print(outcome.decision_line("pod demo/tampered (2 images)"))
    for verdict in outcome.admission["images"]:
        detail(verdict["container"], verdict["reason"].split(": ", 1)[1])

    title(5, "Keyless: connaisseur's production signature (Fulcio certificate, Rekor entry) through the embedded Sigstore root")
    keyless = f"{registry}/securesystemsengineering/testimage:keyless"
    outcome = signet.review("demo", "keyless", [("app", keyless)])
    print(outcome.decision_line(f"{keyless} (pod demo/keyless)"))
    detail("policy", f"keyless-github: issuer ~ {issuer_regexp}, subject ~ {subject_regexp}")
    report = signet_verify(arguments, keyless, ["--certificate-identity-regexp", subject_regexp,
                                                "--certificate-oidc-issuer-regexp", issuer_regexp])
    detail("", f"the trust chain step by step, from `signet verify` with the policy's identity "
               f"({report['timings']['totalMilliseconds']:.1f} ms; serve reports no steps):")
    for step in report["steps"]:
        name = step["name"].removeprefix("layer 0 ")
        if name in ("tlog", "timestamps", "chain", "sct", "signature", "identity"):
            detail(name, f"{'ok' if step['passed'] else 'FAILED'}: {step['detail']}")
    other = signet_verify(arguments, keyless, ["--certificate-identity", "bob@gmail.com",
                                               "--certificate-oidc-issuer-regexp", issuer_regexp])
    detail("", f"the same signature required from bob@gmail.com: {'VERIFIED' if other['passed'] else 'NOT VERIFIED'}:")
    detail("", other["reason"].split(": ", 1)[-1])

    title(6, "An unsigned image allowed by a PolicyException (namespace reporting)")
    legacy = f"{registry}/demo/legacy-report:0.9"
    outcome = signet.review("reporting", "nightly-report", [("report", legacy)])
    print(outcome.decision_line(f"{legacy} (pod reporting/nightly-report)"))
    exemption = outcome.admission["exemptions"][0]
    detail("warning", after_container(outcome.response["warnings"][0]))
    detail("expires", until(exemption["expiresAt"]) + "; from then on this image is denied again")
    outcome = signet.review("demo", "nightly-report", [("report", legacy)])
    print(outcome.decision_line("the same image in pod demo/nightly-report (the exception holds in reporting only)"))

    title(7, "An image allowed by an EmergencyBypass (break glass for namespace payments)")
    hotfix = f"{registry}/demo/payments-api:2.4.1-hotfix"
    outcome = signet.review("payments", "payments-api", [("api", hotfix)])
    print(outcome.decision_line(f"{hotfix} (pod payments/payments-api)"))
    exemption = outcome.admission["exemptions"][0]
    detail("warning", after_container(outcome.response["warnings"][0]))
    detail("expires", until(exemption["expiresAt"]) + " (signet refuses a bypass more than --max-bypass-window, 24 h, ahead)")
    events = [record["event"] for record in outcome.records]
    detail("audit", f"records {', '.join(events)}; signet_emergency_bypass_uses_total "
                    f"+{int(outcome.delta('signet_emergency_bypass_uses_total'))}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="fill the registry")
    push.add_argument("--registry", required=True, help="host:port of the registry (plain HTTP)")
    push.add_argument("--storage", required=True, help="the registry's filesystem root directory")
    push.add_argument("--vectors", required=True, help="the connaisseur testdata/cosign folder")
    push.add_argument("--key", required=True, help="PEM EC P-256 private key to sign with")
    push.add_argument("--out", required=True, help="where to write the digests pushed (JSON)")
    scenes = commands.add_parser("scenes", help="send the reviews and print what signet decided")
    scenes.add_argument("--url", required=True, help="https://127.0.0.1:PORT of signet serve")
    scenes.add_argument("--ca", required=True, help="the serving certificate (PEM)")
    scenes.add_argument("--audit", required=True, help="signet's standard output (audit lines)")
    scenes.add_argument("--log", required=True, help="signet's standard error (JSON log, debug level)")
    scenes.add_argument("--registry", required=True, help="host:port of the registry")
    scenes.add_argument("--images", required=True, help="the digests `push` wrote")
    scenes.add_argument("--signet", required=True, help="the signet binary (for `signet verify`)")
    scenes.add_argument("--policies", required=True, help="the rendered demo policies")
    scenes.add_argument("--root", required=True, help="the repository (shortens paths in output)")
    arguments = parser.parse_args()
    {"push": command_push, "scenes": command_scenes}[arguments.command](arguments)


if __name__ == "__main__":
    main()
