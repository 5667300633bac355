#!/usr/bin/env python3
"""A TUF repository of the tests' own that delivers a Sigstore `trusted_root.json`, signed with
keys made at `init` (ECDSA P-256, `ecdsa-sha2-nistp256`), laid out as the public Sigstore mirror
is: `<version>.root.json`, `timestamp.json`, `<version>.snapshot.json`, `<version>.targets.json`
at the top (consistent snapshots) and the target under `targets/<sha256>.trusted_root.json`
(TUF specification 1.0, sections 4 and 5). Written independently of signet's TUF client:
metadata is signed over OLPC canonical JSON (section 4.2) with Python's `cryptography`.

Usage:
  tuf_repository.py init DIR TRUSTED_ROOT     keys, root 1, and the first trusted root
  tuf_repository.py publish DIR TRUSTED_ROOT  new targets, snapshot and timestamp versions
                                              delivering another trusted root
The signing keys and versions live in DIR/.keys (outside what the tests serve: serve DIR/mirror).
TUF_TIMESTAMP_EXPIRES, when set, is the timestamp's `expires` (a freeze-attack test lets it pass).
`DIR/mirror/1.root.json` is the root a client bootstraps from.
"""
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

EXPIRES = "2030-01-01T00:00:00Z"  # the tests judge expiry at a pinned time before it
ROLES = ["root", "timestamp", "snapshot", "targets"]


def canonical(value):
    """OLPC canonical JSON (securesystemslib `encode_canonical`): no whitespace, sorted keys,
    strings escaping only backslash and double quote, integers only."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(canonical(key) + ":" + canonical(value[key]) for key in sorted(value)) + "}"
    raise TypeError(f"no canonical form for {value!r}")


def public_entry(key):
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem}}


def key_id(key):
    return hashlib.sha256(canonical(public_entry(key)).encode()).hexdigest()


def signed_document(signed, keys):
    message = canonical(signed).encode()
    signatures = [{"keyid": key_id(key), "sig": key.sign(message, ec.ECDSA(hashes.SHA256())).hex()} for key in keys]
    return json.dumps({"signatures": signatures, "signed": signed}, indent=1).encode()


class Repository:
    def __init__(self, directory):
        self.directory = directory
        self.mirror = os.path.join(directory, "mirror")
        self.state_directory = os.path.join(directory, ".keys")

    def write(self, relative, data):
        path = os.path.join(self.mirror, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".partial", "wb") as f:
            f.write(data)
        os.replace(path + ".partial", path)  # a client never reads half a file

    def load(self):
        self.keys = {}
        for role in ROLES:
            with open(os.path.join(self.state_directory, f"{role}.pem"), "rb") as f:
                self.keys[role] = serialization.load_pem_private_key(f.read(), password=None)
        with open(os.path.join(self.state_directory, "versions.json")) as f:
            self.versions = json.load(f)

    def save(self):
        with open(os.path.join(self.state_directory, "versions.json"), "w") as f:
            json.dump(self.versions, f)

    def init(self):
        os.makedirs(self.state_directory, exist_ok=True)
        self.keys = {}
        for role in ROLES:
            key = ec.generate_private_key(ec.SECP256R1())
            self.keys[role] = key
            with open(os.path.join(self.state_directory, f"{role}.pem"), "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.versions = {"targets": 0, "snapshot": 0, "timestamp": 0}
        root = {
            "_type": "root", "spec_version": "1.0.31", "version": 1, "expires": EXPIRES, "consistent_snapshot": True,
            "keys": {key_id(key): public_entry(key) for key in self.keys.values()},
            "roles": {role: {"keyids": [key_id(self.keys[role])], "threshold": 1} for role in ROLES},
        }
        self.write("1.root.json", signed_document(root, [self.keys["root"]]))

    def publish(self, trusted_root):
        for role in self.versions:
            self.versions[role] += 1
        digest = hashlib.sha256(trusted_root).hexdigest()
        self.write(f"targets/{digest}.trusted_root.json", trusted_root)
        targets = {
            "_type": "targets", "spec_version": "1.0.31", "version": self.versions["targets"], "expires": EXPIRES,
            "targets": {"trusted_root.json": {
                "length": len(trusted_root),
                "hashes": {"sha256": digest, "sha512": hashlib.sha512(trusted_root).hexdigest()},
            }},
        }
        self.write(f"{self.versions['targets']}.targets.json", signed_document(targets, [self.keys["targets"]]))
        snapshot = {
            "_type": "snapshot", "spec_version": "1.0.31", "version": self.versions["snapshot"], "expires": EXPIRES,
            "meta": {"targets.json": {"version": self.versions["targets"]}},
        }
        snapshot_bytes = signed_document(snapshot, [self.keys["snapshot"]])
        self.write(f"{self.versions['snapshot']}.snapshot.json", snapshot_bytes)
        timestamp = {
            "_type": "timestamp", "spec_version": "1.0.31", "version": self.versions["timestamp"],
            "expires": os.environ.get("TUF_TIMESTAMP_EXPIRES") or EXPIRES,
            "meta": {"snapshot.json": {
                "version": self.versions["snapshot"], "length": len(snapshot_bytes),
                "hashes": {"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
            }},
        }
        self.write("timestamp.json", signed_document(timestamp, [self.keys["timestamp"]]))
        self.save()


def main():
    command, directory, trusted_root_file = sys.argv[1:4]
    with open(trusted_root_file, "rb") as f:
        trusted_root = f.read()
    repository = Repository(directory)
    if command == "init":
        repository.init()
    elif command == "publish":
        repository.load()
    else:
        sys.exit(f"unknown command {command}")
    repository.publish(trusted_root)


if __name__ == "__main__":
    main()
