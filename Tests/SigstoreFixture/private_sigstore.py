#!/usr/bin/env python3
"""A private Sigstore made by the tests: a transparency log key of our own in a custom
`trusted_root.json`, a managed signing key, and Sigstore bundles (v0.1, Rekor v1 hashedrekord
entries with a signed entry timestamp) whose log entries are correct, each then broken in
exactly one place. Because the log entry always matches what the bundle carries, a broken
signature reaches the signature step instead of being refused earlier at the entry-body check.

Usage: private_sigstore.py OUT_DIR. Writes trusted_root.json, key.pub, artifact and one
<case>.json per bundle. Keys are made fresh at every run (Python's `cryptography`).
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

INTEGRATED_TIME = 1767225600  # 2026-01-01T00:00:00Z; the tests pin their clock after it
LOG_INDEX = 7


def b64(data):
    return base64.b64encode(data).decode()


def canonical(value):
    """RFC 8785 for what these documents hold (strings, integers, objects): sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key, data):
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def bundle(signer, log, artifact_digest, signature, set_key=None, integrated_time=INTEGRATED_TIME, logged_time=None):
    """A v0.1 bundle whose hashedrekord entry logs `signature` and `artifact_digest`, with a
    signed entry timestamp by `set_key` (the log's key unless given) over `logged_time`."""
    body = {
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": artifact_digest.hex()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(pem(signer))}},
        },
    }
    encoded_body = b64(canonical(body))
    log_id = hashlib.sha256(spki(log)).digest()
    promise = {"body": encoded_body, "integratedTime": logged_time or integrated_time, "logID": log_id.hex(), "logIndex": LOG_INDEX}
    entry = {
        "logIndex": str(LOG_INDEX), "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
        "integratedTime": str(integrated_time),
        "inclusionPromise": {"signedEntryTimestamp": b64(sign(set_key or log, canonical(promise)))},
        "canonicalizedBody": encoded_body,
    }
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {"publicKey": {"hint": b64(hashlib.sha256(spki(signer)).digest())}, "tlogEntries": [entry]},
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(artifact_digest)}, "signature": b64(signature)},
    }


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    signer = ec.generate_private_key(ec.SECP256R1())
    log = ec.generate_private_key(ec.SECP256R1())
    stranger = ec.generate_private_key(ec.SECP256R1())
    artifact = b"an artifact signed through signet's private Sigstore\n"
    digest = hashlib.sha256(artifact).digest()
    other = artifact + b"(not what was signed)"

    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.signet.test", "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(spki(log)), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": "2025-01-01T00:00:00Z"}},
            "logId": {"keyId": b64(hashlib.sha256(spki(log)).digest())},
        }],
        "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": [],
    }
    cases = {
        # Everything correct.
        "valid": bundle(signer, log, digest, sign(signer, artifact)),
        # A signature by the right key over other bytes, logged as it is: only the signature step can tell.
        "signature-over-other-bytes": bundle(signer, log, digest, sign(signer, other)),
        # A signature by another key, logged under the signer's key: only the signature step can tell.
        "signature-by-another-key": bundle(signer, log, digest, sign(stranger, artifact)),
        # The signed entry timestamp made by a key that is not the trusted log's.
        "set-by-another-key": bundle(signer, log, digest, sign(signer, artifact), set_key=stranger),
        # The integrated time changed after the log signed it.
        "integrated-time-altered": bundle(signer, log, digest, sign(signer, artifact), logged_time=INTEGRATED_TIME - 3600),
    }
    for name, document in cases.items():
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(document, f)
    with open(os.path.join(out, "trusted_root.json"), "w") as f:
        json.dump(root, f)
    with open(os.path.join(out, "key.pub"), "wb") as f:
        f.write(pem(signer))
    with open(os.path.join(out, "artifact"), "wb") as f:
        f.write(artifact)


if __name__ == "__main__":
    main()
