#!/usr/bin/env python3
"""A private Sigstore made by the tests: a transparency log key of our own, a Fulcio-like
certificate authority (root and intermediate), a certificate transparency log and a time-stamping
authority in a custom `trusted_root.json`, a managed signing key, and Sigstore bundles (Rekor v1
entries with a signed entry timestamp or an inclusion proof) whose log entries are correct, each
then broken in exactly one place. Because the log entry always matches what the bundle carries, a
broken signature, certificate, SCT or timestamp reaches its own step instead of being refused
earlier at the entry-body check.

Usage: private_sigstore.py OUT_DIR. Writes trusted_root.json, key.pub, artifact, image-digest
(the subject of the DSSE cases' statement), image-manifest.json (the manifest the image-signature
cases sign), foreign-ctlog-id (the untrusted CT log's ID), one
<case>.json per bundle, and keyless-sig/<case>/ with the annotations of a cosign keyless `.sig`
layer (signature, certificate, chain, bundle) and its payload. Keys are made fresh at every run
(Python's `cryptography`; the TSA's tokens by OpenSSL's responder, see timestamp_authority.py).
"""
import datetime
import base64
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certificate_transparency import CertificateTransparencyLog, flip_last_bit, sct_list_extension
from timestamp_authority import TimestampAuthority

ISSUER = "https://issuer.signet.test"
SUBJECT = "signer@signet.test"

INTEGRATED_TIME = 1767225600  # 2026-01-01T00:00:00Z; the tests pin their clock after it
LOG_INDEX = 7
# When the TSA stamps the signatures of the timestamp cases: inside the leaf's ten minutes.
TIMESTAMP_TIME = INTEGRATED_TIME + 120
IN_TOTO = "application/vnd.in-toto+json"


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


def at(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "signet.test"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate(subject, issuer_name, key, signing_key, ca, not_before, not_after, extensions=(), serial=None):
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(serial or x509.random_serial_number()).not_valid_before(at(not_before)).not_valid_after(at(not_after))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
            key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


class CertificateAuthority:
    """A Fulcio-like CA: a root and an intermediate, both valid from 2025 on. Its leaves carry an
    SCT from `ct_log` (RFC 6962 precertificate flow) unless a case says otherwise."""

    def __init__(self, label, ct_log):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        start, end = INTEGRATED_TIME - 366 * 86400, INTEGRATED_TIME + 3650 * 86400
        # A foreign CA uses the same names as the trusted one: only the keys tell them apart.
        self.root = certificate(name("signet test root"), name("signet test root"), self.root_key, self.root_key, True, start, end)
        self.intermediate = certificate(
            name("signet test intermediate"), name("signet test root"), self.intermediate_key, self.root_key, True, start, end)
        self.label = label
        self.ct_log = ct_log

    def leaf(self, key, issuer=ISSUER, subject=SUBJECT, not_before=INTEGRATED_TIME - 60, not_after=INTEGRATED_TIME + 600, scts=None):
        """A Fulcio-style leaf: the SAN email, the OIDC issuer in both Fulcio extensions
        (1.3.6.1.4.1.57264.1.1 raw, .1.8 a DER UTF8String), code signing, and an embedded SCT
        list. `scts` lists (CT log, flip the signature) pairs; by default one valid SCT from the
        CA's CT log, each timestamped when the certificate becomes valid."""
        if scts is None:
            scts = [(self.ct_log, False)]
        raw_issuer = issuer.encode()
        der_issuer = bytes([0x0c, len(raw_issuer)]) + raw_issuer
        serial = x509.random_serial_number()
        extensions = [
            (x509.SubjectAlternativeName([x509.RFC822Name(subject)]), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
            (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                           key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False), True),
            (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), raw_issuer), False),
            (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), der_issuer), False),
        ]

        def issue(extra):
            return certificate(x509.Name([]), self.intermediate.subject, key, self.intermediate_key, False, not_before, not_after,
                               extensions + extra, serial=serial)

        if not scts:
            return issue([])
        # RFC 6962 section 3.2: each log signs the precertificate's TBS, which is the final
        # certificate's without the SCT list; the list is then added as the last extension.
        precertificate_tbs = issue([]).tbs_certificate_bytes
        issuer_spki = spki(self.intermediate_key)
        timestamps = [log.timestamp(precertificate_tbs, issuer_spki, not_before * 1000, flip_signature=flip) for log, flip in scts]
        return issue([(sct_list_extension(timestamps), False)])

    def trusted_root_entry(self):
        return {
            "subject": {"organization": "signet.test", "commonName": self.label}, "uri": "https://fulcio.signet.test",
            "certChain": {"certificates": [{"rawBytes": b64(der(self.intermediate))}, {"rawBytes": b64(der(self.root))}]},
            "validFor": {"start": "2025-01-01T00:00:00Z"},
        }


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def merkle_root(leaves):
    """RFC 6962 section 2.1: the Merkle tree hash of leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:split]) + merkle_root(leaves[split:])).digest()


def merkle_path(index, leaves):
    """RFC 6962 section 2.1.1: the audit path of the leaf at `index`."""
    if len(leaves) == 1:
        return []
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < split:
        return merkle_path(index, leaves[:split]) + [merkle_root(leaves[split:])]
    return merkle_path(index - split, leaves[split:]) + [merkle_root(leaves[:split])]


def inclusion_proof(log, canonical_body):
    """The entry's inclusion proof at LOG_INDEX in a tree of LOG_INDEX + 3 leaves (the others
    random), with a checkpoint the log signs (C2SP tlog-checkpoint in a signed note whose
    signature line starts with the first four bytes of the log ID)."""
    leaves = [hashlib.sha256(b"\x00" + os.urandom(32)).digest() for _ in range(LOG_INDEX + 3)]
    leaves[LOG_INDEX] = hashlib.sha256(b"\x00" + canonical_body).digest()
    root = merkle_root(leaves)
    text = f"rekor.signet.test - 1\n{len(leaves)}\n{b64(root)}\n"
    log_id = hashlib.sha256(spki(log)).digest()
    note = text + "\n" + f"\u2014 rekor.signet.test {b64(log_id[:4] + sign(log, text.encode()))}\n"
    return {"logIndex": str(LOG_INDEX), "rootHash": b64(root), "treeSize": str(len(leaves)),
            "hashes": [b64(h) for h in merkle_path(LOG_INDEX, leaves)], "checkpoint": {"envelope": note}}


def rekor_entry(log, body, set_key=None, integrated_time=INTEGRATED_TIME, logged_time=None, promise=True, proof=False):
    """A Rekor v1 entry of `body` (a JSON object) with its signed entry timestamp by `set_key`
    (the log's key unless given) over `logged_time` (the integrated time unless given), and,
    when `proof`, its inclusion proof with a signed checkpoint."""
    encoded_body = b64(canonical(body))
    log_id = hashlib.sha256(spki(log)).digest()
    payload = {"body": encoded_body, "integratedTime": logged_time or integrated_time, "logID": log_id.hex(), "logIndex": LOG_INDEX}
    signed_entry_timestamp = b64(sign(set_key or log, canonical(payload)))
    entry = {
        "logIndex": str(LOG_INDEX), "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
        "integratedTime": str(integrated_time), "canonicalizedBody": encoded_body,
    }
    if promise:
        entry["inclusionPromise"] = {"signedEntryTimestamp": signed_entry_timestamp}
    if proof:
        entry["inclusionProof"] = inclusion_proof(log, canonical(body))
    cosign = {"SignedEntryTimestamp": signed_entry_timestamp, "Payload": {
        "body": encoded_body, "integratedTime": integrated_time, "logIndex": LOG_INDEX, "logID": log_id.hex()}}
    return entry, cosign


def hashed_rekord(verifier_pem, artifact_digest, signature):
    return {
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": artifact_digest.hex()}},
            "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier_pem)}},
        },
    }


def keyless_bundle(leaf, log, artifact_digest, signature, version="0.1", chain=(), message_digest=True, promise=True, proof=False,
                   timestamps=()):
    """A keyless bundle: the leaf (v0.3: `certificate`; earlier: an `x509CertificateChain` of the
    leaf and `chain`), its hashedrekord entry logged with a SET and, when `proof`, an inclusion
    proof (v0.2 and v0.3 entries need one), and the DER RFC 3161 `timestamps`."""
    entry, _ = rekor_entry(log, hashed_rekord(cert_pem(leaf), artifact_digest, signature), promise=promise, proof=proof)
    if version == "0.3":
        material = {"certificate": {"rawBytes": b64(der(leaf))}}
        media_type = "application/vnd.dev.sigstore.bundle.v0.3+json"
    else:
        material = {"x509CertificateChain": {"certificates": [{"rawBytes": b64(der(c))} for c in (leaf, *chain)]}}
        media_type = f"application/vnd.dev.sigstore.bundle+json;version={version}"
    material["tlogEntries"] = [entry]
    if timestamps:
        material["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": b64(t)} for t in timestamps]}
    message = {"signature": b64(signature)}
    if message_digest:
        message["messageDigest"] = {"algorithm": "SHA2_256", "digest": b64(artifact_digest)}
    return {"mediaType": media_type, "verificationMaterial": material, "messageSignature": message}


def dsse_bundle(leaf, log, payload, signature):
    """A v0.3 keyless bundle of an in-toto statement in a DSSE envelope, logged as a Rekor `dsse`
    0.0.1 entry (the hashes of the envelope and its payload, the signature and the leaf) with a
    SET and an inclusion proof."""
    return logged_dsse_bundle(log, payload, signature, b64(cert_pem(leaf)), {"certificate": {"rawBytes": b64(der(leaf))}})


def key_dsse_bundle(signer, log, payload):
    """A v0.3 bundle of a managed key (cosign 3 `sign --key`): an in-toto statement in a DSSE
    envelope signed by `signer`, logged as a Rekor `dsse` 0.0.1 entry that records the signer's
    public key, with a SET and an inclusion proof."""
    signature = sign(signer, pre_authentication_encoding(IN_TOTO, payload))
    return logged_dsse_bundle(log, payload, signature, b64(pem(signer)), {"publicKey": {"hint": "signet-test"}})


def logged_dsse_bundle(log, payload, signature, verifier, material):
    """A v0.3 bundle of `payload` in a DSSE envelope with `signature`, its `dsse` entry naming
    `verifier` (a certificate or key, PEM in base64), beside the verification `material`."""
    envelope = {"payload": b64(payload), "payloadType": IN_TOTO, "signatures": [{"sig": b64(signature), "keyid": ""}]}
    body = {
        "apiVersion": "0.0.1", "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(canonical(envelope)).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(signature), "verifier": verifier}],
        },
    }
    entry, _ = rekor_entry(log, body, proof=True)
    return {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {**material, "tlogEntries": [entry]},
            "dsseEnvelope": envelope}


def pre_authentication_encoding(payload_type, payload):
    """DSSE v1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)


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
    # Keyless: a Fulcio-like CA the trusted root names, and a foreign one with the same names.
    # Each CA's leaves carry an SCT from its CT log; only the trusted one is in the trusted root.
    ct_log = CertificateTransparencyLog("https://ctfe.signet.test")
    foreign_ct_log = CertificateTransparencyLog("https://ctfe.foreign.test")
    fulcio = CertificateAuthority("signet test fulcio", ct_log)
    foreign = CertificateAuthority("foreign fulcio", foreign_ct_log)
    root["certificateAuthorities"] = [fulcio.trusted_root_entry()]
    root["ctlogs"] = [ct_log.trusted_root_entry()]
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    leaf = fulcio.leaf(ephemeral)
    signature = sign(ephemeral, artifact)
    cases.update({
        # Everything correct (the leaf alone).
        "keyless-valid": keyless_bundle(leaf, log, digest, signature),
        # A leaf of a CA the trusted root does not name (same names, other keys), correctly
        # logged in the trusted log: only the certificate chain step can tell.
        "keyless-foreign-ca": keyless_bundle(foreign.leaf(ephemeral), log, digest, signature),
        # The same foreign leaf carrying its own chain in a v0.1 bundle: the bundle's chain is
        # trusted for nothing.
        "keyless-foreign-ca-with-its-chain": keyless_bundle(
            foreign.leaf(ephemeral), log, digest, signature, version="0.1", chain=(foreign.intermediate, foreign.root)),
        # The trusted leaf with a foreign chain swapped in: the path is built from the trusted
        # root, so the bundle's chain neither grants nor takes away trust.
        "keyless-swapped-chain": keyless_bundle(leaf, log, digest, signature, version="0.1", chain=(foreign.intermediate, foreign.root)),
        # The right subject from another OIDC issuer: only the identity step can tell.
        "keyless-wrong-issuer": keyless_bundle(fulcio.leaf(ephemeral, issuer="https://other-issuer.signet.test"), log, digest, signature),
        # A leaf that expired before the log integrated the entry.
        "keyless-expired-at-signing": keyless_bundle(
            fulcio.leaf(ephemeral, not_before=INTEGRATED_TIME - 1200, not_after=INTEGRATED_TIME - 600), log, digest, signature),
    })
    # Certificate transparency (RFC 6962): leaves of the trusted CA, correctly logged, whose
    # embedded SCTs differ. Only the SCT step can tell.
    def with_scts(scts):
        return keyless_bundle(fulcio.leaf(ephemeral, scts=scts), log, digest, signature)
    cases.update({
        "sct-from-unknown-log": with_scts([(foreign_ct_log, False)]),
        "sct-unknown-and-trusted": with_scts([(foreign_ct_log, False), (ct_log, False)]),
        "sct-signature-flipped": with_scts([(ct_log, True)]),
        "sct-none": with_scts([]),
        "sct-same-log-twice": with_scts([(ct_log, False), (ct_log, False)]),
    })

    # RFC 3161 timestamps: v0.3 bundles whose log entry has an inclusion proof but no SET, so
    # the TSA's token is the only time the signature has. The leaf is valid for ten minutes
    # around the integrated time, long expired when the tests verify.
    tsa = TimestampAuthority("https://tsa.signet.test", INTEGRATED_TIME - 366 * 86400, INTEGRATED_TIME + 3650 * 86400)
    # The same names and URI, other keys, not in the trusted root.
    foreign_tsa = TimestampAuthority("https://tsa.signet.test", INTEGRATED_TIME - 366 * 86400, INTEGRATED_TIME + 3650 * 86400)
    # Another signing certificate the trusted TSA's root issued, not the one the trusted root names.
    sibling_tsa = TimestampAuthority("https://tsa.signet.test", INTEGRATED_TIME - 366 * 86400, INTEGRATED_TIME + 3650 * 86400,
                                     sibling_of=tsa)
    root["timestampAuthorities"] = [tsa.trusted_root_entry()]

    def timestamped(*timestamps):
        return keyless_bundle(leaf, log, digest, signature, version="0.3", promise=False, proof=True, timestamps=timestamps)
    cases.update({
        "tsa-valid": timestamped(tsa.respond(signature, TIMESTAMP_TIME)),
        "tsa-none": timestamped(),
        "tsa-untrusted": timestamped(foreign_tsa.respond(signature, TIMESTAMP_TIME)),
        "tsa-sibling": timestamped(sibling_tsa.respond(signature, TIMESTAMP_TIME)),
        # The artifact stamped instead of the signature: the message imprint is not the
        # signature's hash.
        "tsa-other-data": timestamped(tsa.respond(artifact, TIMESTAMP_TIME)),
        # Ten minutes after the leaf expired.
        "tsa-outside-validity": timestamped(tsa.respond(signature, INTEGRATED_TIME + 1200)),
    })

    # An in-toto statement about an image digest in a DSSE envelope signed by the trusted CA's
    # leaf, and the same with one bit of the DSSE signature flipped and logged as flipped.
    image_digest = hashlib.sha256(b"an image manifest signed through signet's private Sigstore\n").hexdigest()
    statement = canonical({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.signet.test/app", "digest": {"sha256": image_digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://signet.test/build"}, "runDetails": {"builder": {"id": "https://signet.test/builder"}}},
    })
    envelope_signature = sign(ephemeral, pre_authentication_encoding(IN_TOTO, statement))
    cases.update({
        "dsse-valid": dsse_bundle(leaf, log, statement, envelope_signature),
        "dsse-signature-flipped": dsse_bundle(leaf, log, statement, flip_last_bit(envelope_signature)),
    })

    # cosign's image signature (cosign 3 `sign` with the bundle format): the statement of
    # https://sigstore.dev/cosign/sign/v1 about the manifest written as image-manifest.json (an
    # OCI manifest of the empty config, which a registry takes once that blob is pushed), and a
    # message signature over the same manifest's digest, which is no image signature.
    manifest = canonical({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2},
        "layers": [],
    })
    with open(os.path.join(out, "image-manifest.json"), "wb") as file:
        file.write(manifest)
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    image_statement = canonical({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.signet.test/app", "digest": {"sha256": manifest_digest}}],
        "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {},
    })
    cases.update({
        "image-signature-dsse": dsse_bundle(leaf, log, image_statement, sign(ephemeral, pre_authentication_encoding(IN_TOTO, image_statement))),
        "image-signature-message": keyless_bundle(leaf, log, bytes.fromhex(manifest_digest), sign(ephemeral, manifest)),
        # The same statement signed by the managed key (key.pub).
        "image-signature-key-dsse": key_dsse_bundle(signer, log, image_statement),
    })

    # Statements larger than a registry document (110,000 values in the predicate, as an SBOM
    # has): one about the image, one about another digest. The verifier matches their subjects
    # only once the signer's identity is trusted.
    def large_statement(subject_digest):
        return canonical({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.signet.test/app", "digest": {"sha256": subject_digest}}],
            "predicateType": "https://spdx.dev/Document",
            "predicate": {"packages": [0] * 110000},
        })
    for name, subject_digest in (("dsse-large", image_digest), ("dsse-large-other-subject", "ab" * 32)):
        large = large_statement(subject_digest)
        cases[name] = dsse_bundle(leaf, log, large, sign(ephemeral, pre_authentication_encoding(IN_TOTO, large)))

    # Bundle version rules (sigstore_bundle.proto): each refused when the bundle is read.
    no_promise = keyless_bundle(leaf, log, digest, signature, version="0.1", chain=(fulcio.intermediate,))
    del no_promise["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
    v03_chain = keyless_bundle(leaf, log, digest, signature, version="0.1", chain=(fulcio.intermediate,))
    v03_chain["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.3+json"
    both = keyless_bundle(leaf, log, digest, signature)
    both["dsseEnvelope"] = {"payload": b64(artifact), "payloadType": "application/octet-stream",
                            "signatures": [{"sig": b64(signature), "keyid": ""}]}
    cases.update({"rule-v0.1-without-promise": no_promise, "rule-v0.3-with-chain": v03_chain, "rule-both-contents": both})

    # A cosign keyless `.sig` layer: its annotations, then each tampered with.
    payload = b'{"critical":{"identity":{"docker-reference":"registry.signet.test/app"},' \
              b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},"type":"cosign container image signature"},"optional":null}'
    layer_signature = sign(ephemeral, payload)
    _, cosign_bundle = rekor_entry(log, hashed_rekord(cert_pem(leaf), hashlib.sha256(payload).digest(), layer_signature))
    chain_pem = cert_pem(fulcio.intermediate) + cert_pem(fulcio.root)
    altered = dict(cosign_bundle)
    altered["SignedEntryTimestamp"] = b64(bytes([base64.b64decode(cosign_bundle["SignedEntryTimestamp"])[0] ^ 1])
                                          + base64.b64decode(cosign_bundle["SignedEntryTimestamp"])[1:])
    other_leaf = fulcio.leaf(ec.generate_private_key(ec.SECP256R1()))
    layers = {
        "valid": (cert_pem(leaf), chain_pem, cosign_bundle),
        "bundle-removed": (cert_pem(leaf), chain_pem, None),
        "set-altered": (cert_pem(leaf), chain_pem, altered),
        # Another certificate of the same CA and identity, for another key.
        "certificate-swapped": (cert_pem(other_leaf), chain_pem, cosign_bundle),
        # The chain of a foreign CA: trusted for nothing, so the signature still verifies.
        "chain-swapped": (cert_pem(leaf), cert_pem(foreign.intermediate) + cert_pem(foreign.root), cosign_bundle),
    }
    for layer, (certificate_pem, chain, rekor_bundle) in layers.items():
        directory = os.path.join(out, "keyless-sig", layer)
        os.makedirs(directory, exist_ok=True)
        files = {"payload": payload, "signature": b64(layer_signature).encode(), "certificate": certificate_pem, "chain": chain}
        if rekor_bundle is not None:
            files["bundle"] = json.dumps(rekor_bundle).encode()
        for file_name, content in files.items():
            with open(os.path.join(directory, file_name), "wb") as f:
                f.write(content)

    for name, document in cases.items():
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(document, f)
    with open(os.path.join(out, "trusted_root.json"), "w") as f:
        json.dump(root, f)
    with open(os.path.join(out, "key.pub"), "wb") as f:
        f.write(pem(signer))
    with open(os.path.join(out, "artifact"), "wb") as f:
        f.write(artifact)
    with open(os.path.join(out, "image-digest"), "w") as f:
        f.write(f"sha256:{image_digest}")
    with open(os.path.join(out, "foreign-ctlog-id"), "w") as f:
        f.write(b64(foreign_ct_log.log_id))


if __name__ == "__main__":
    main()
