"""A certificate transparency log of the private Sigstore's own (RFC 6962): its key, its entry in
a trusted root's `ctlogs`, and the signed certificate timestamps it gives a precertificate, so
that the test CA can embed them in the certificates it issues (RFC 6962 section 3.3).

A precertificate's TBSCertificate is the final certificate's without the SCT list extension
(section 3.2: the poison extension removed, the SCT list not yet added), so the CA builds the
certificate twice with one serial number: once without the extension to get the signed TBS, then
with the SCT list appended as its last extension.
"""
import base64
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# RFC 6962 section 3.3: the embedded SignedCertificateTimestampList extension.
SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def vector(data, length_bytes):
    """A TLS variable-length vector (RFC 5246 section 4.3): the length, then the bytes."""
    return len(data).to_bytes(length_bytes, "big") + data


def flip_last_bit(signature):
    """The DER ECDSA signature with the low bit of its last byte flipped: still well formed, no
    longer valid."""
    return signature[:-1] + bytes([signature[-1] ^ 1])


class CertificateTransparencyLog:
    """A CT log: a P-256 key whose SHA-256 of the DER SubjectPublicKeyInfo is the log ID."""

    def __init__(self, base_url):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.base_url = base_url
        self.spki = self.key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.log_id = hashlib.sha256(self.spki).digest()

    def trusted_root_entry(self):
        return {
            "baseUrl": self.base_url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(self.spki).decode(), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": "2025-01-01T00:00:00Z"}},
            "logId": {"keyId": base64.b64encode(self.log_id).decode()},
        }

    def timestamp(self, precertificate_tbs, issuer_spki, milliseconds, flip_signature=False):
        """A serialized v1 SignedCertificateTimestamp (section 3.2) for a precertificate entry:
        the log's ECDSA SHA-256 signature over the `digitally-signed` struct (version v1,
        signature type certificate_timestamp, the timestamp, entry type precert_entry, the SHA-256
        of the issuer's key, the TBS, no extensions)."""
        extensions = b""
        signed = (bytes([0, 0]) + milliseconds.to_bytes(8, "big") + (1).to_bytes(2, "big")
                  + hashlib.sha256(issuer_spki).digest() + vector(precertificate_tbs, 3) + vector(extensions, 2))
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if flip_signature:
            signature = flip_last_bit(signature)
        # 4 = sha256, 3 = ecdsa (RFC 5246 section 7.4.1.4.1).
        return (bytes([0]) + self.log_id + milliseconds.to_bytes(8, "big") + vector(extensions, 2)
                + bytes([4, 3]) + vector(signature, 2))


def sct_list_extension(serialized_timestamps):
    """The SCT list extension: an OCTET STRING holding the TLS SignedCertificateTimestampList."""
    listed = vector(b"".join(vector(sct, 2) for sct in serialized_timestamps), 2)
    length = len(listed)
    header = bytes([0x04, length]) if length < 128 else bytes([0x04, 0x81, length]) if length < 256 else bytes([0x04, 0x82]) + length.to_bytes(2, "big")
    return x509.UnrecognizedExtension(SCT_LIST_OID, header + listed)
