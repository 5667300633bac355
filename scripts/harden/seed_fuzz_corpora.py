#!/usr/bin/env python3
"""Writes Fuzz/Corpus/<target>/: the seed inputs of each libFuzzer target, taken from
Tests/Vectors (and, for HTTP, admission reviews and image references, written here).
Run again when the vectors change; the output is committed (small files only)."""
import base64
import glob
import hashlib
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = os.path.join(ROOT, "Tests", "Vectors")
OUT = os.path.join(ROOT, "Fuzz", "Corpus")
MAX_BYTES = 24 * 1024
PER_TARGET = 40


def vectors(*patterns):
    paths = []
    for pattern in patterns:
        paths += sorted(glob.glob(os.path.join(VECTORS, pattern), recursive=True))
    return [p for p in paths if os.path.isfile(p) and os.path.getsize(p) <= MAX_BYTES]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def bundles():
    for path in vectors("sigstore-conformance/test/assets/bundle-verify/*/bundle.sigstore.json"):
        try:
            yield json.loads(read(path))
        except ValueError:
            continue


def b64(text):
    try:
        return base64.b64decode(text)
    except (ValueError, TypeError):
        return None


def certificates_from_bundles():
    for bundle in bundles():
        material = bundle.get("verificationMaterial", {})
        raw = material.get("certificate", {}).get("rawBytes")
        chain = material.get("x509CertificateChain", {}).get("certificates", [])
        for value in [raw] + [c.get("rawBytes") for c in chain]:
            if value and (der := b64(value)):
                yield der


def rekor_bodies_and_checkpoints():
    for bundle in bundles():
        for entry in bundle.get("verificationMaterial", {}).get("tlogEntries", []):
            if body := b64(entry.get("canonicalizedBody", "")):
                yield body
            checkpoint = entry.get("inclusionProof", {}).get("checkpoint", {}).get("envelope")
            if checkpoint:
                yield checkpoint.encode()


def statements():
    for bundle in bundles():
        envelope = bundle.get("dsseEnvelope")
        if envelope and (payload := b64(envelope.get("payload", ""))):
            yield payload
            yield json.dumps(envelope).encode()


HTTP_SEEDS = [
    b"GET /healthz HTTP/1.1\r\nHost: signet\r\n\r\n",
    b"HEAD /metrics HTTP/1.1\r\nHost: signet\r\nConnection: close\r\n\r\n",
    b"POST /validate?timeout=10s HTTP/1.1\r\nHost: signet\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /validate HTTP/1.1\r\nHost: signet\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\nX-Trailer: a\r\n\r\n",
    b"POST /mutate HTTP/1.1\r\nHost: signet\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nnull",
    b"GET / HTTP/1.0\r\n\r\nGET /a HTTP/1.1\r\nHost: b\r\n\r\n",
]

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
       "spec": {"initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [{"name": "web", "image": "ghcr.io/acme/web:v1@sha256:" + "a" * 64, "env": [{"name": "A", "value": "\\u00e9"}]}],
                "ephemeralContainers": [{"name": "debug", "image": "docker.io/library/alpine"}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "ownerReferences": [{"kind": "X", "uid": "1", "controller": True}]},
              "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "127.0.0.1:5000/web:v2"}]}}}}


def review(kind, group, version, obj, operation="CREATE", old=None):
    request = {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "kind": {"group": group, "version": version, "kind": kind},
               "resource": {"group": group, "version": version, "resource": kind.lower() + "s"}, "name": "web",
               "namespace": "shop", "operation": operation, "userInfo": {"username": "alice", "groups": ["dev"]},
               "object": obj, "oldObject": old, "dryRun": False}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


ADMISSION_SEEDS = [
    review("Pod", "", "v1", POD),
    review("Deployment", "apps", "v1", DEPLOYMENT, "UPDATE", DEPLOYMENT),
    review("CronJob", "batch", "v1", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}}}),
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"\\u0075id":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"DELETE","object":null}}',
    json.dumps(POD).encode(),
]

IMAGE_SEEDS = [
    "nginx", "nginx:1.25", "library/nginx:latest", "docker.io/library/nginx", "index.docker.io/acme/web",
    "ghcr.io:443/acme/web:v1", "GHCR.IO:0443/acme/web", "127.0.0.1:5000/web@sha256:" + "b" * 64,
    "[::1]:5000/a/b/c:tag@sha512:" + "c" * 128, "localhost/x_y__z-w.v:1_0", "a" * 64,
]


def main():
    targets = {
        "http": HTTP_SEEDS,
        "admission": ADMISSION_SEEDS,
        "imageReference": [s.encode() for s in IMAGE_SEEDS],
        "certificate": [read(p) for p in vectors(
            "notation-core-go/x509/testdata/*", "notation-core-go/revocation/crl/testdata/*",
            "notary/fixtures/*.crt", "notation/test/e2e/testdata/config/timestamp/*")] + list(certificates_from_bundles())[:8],
        "sigstore": [read(p) for p in vectors(
            "sigstore-conformance/test/assets/bundle-verify/*/bundle.sigstore.json",
            "sigstore-conformance/test/assets/bundle-verify/*/trusted_root.json")][:20]
            + list(rekor_bodies_and_checkpoints())[:10]
            + [read(p) for p in vectors("connaisseur/test/testdata/cosign/**/blobs/*")],
        "tuf": [read(p) for p in vectors(
            "tuf-conformance/tuf_conformance/static_data/*/metadata/*.json", "root-signing/metadata/*.json")],
        "notation": [read(p) for p in vectors(
            "notation/test/e2e/testdata/signatures/*", "notation/test/e2e/testdata/config/trustpolicies/*.json")][:30]
            + [read(p) for p in vectors("notation/test/e2e/testdata/registry/oci_layout/e2e-valid-signature/blobs/sha256/*")],
        "notary": [read(p) for p in vectors("notary/fixtures/compatibility/**/metadata/*.json")],
        "intoto": list(statements()),
    }
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    total = 0
    for target, seeds in targets.items():
        folder = os.path.join(OUT, target)
        os.makedirs(folder)
        unique = {hashlib.sha256(s).hexdigest()[:16]: s for s in seeds if s and len(s) <= MAX_BYTES}
        for name, seed in sorted(unique.items())[:PER_TARGET]:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(seed)
            total += len(seed)
        print(f"{target}: {min(len(unique), PER_TARGET)} seeds")
    print(f"{total} bytes in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
