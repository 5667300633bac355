"""A time-stamping authority of the private Sigstore's own (RFC 3161): a root and a signing
certificate with the critical timeStamping extended key usage (section 2.3), its entry in a
trusted root's `timestampAuthorities`, and TimeStampResp values made by OpenSSL's own responder
(`TS_RESP_create_response`, what `openssl ts -reply` runs), called through ctypes so that the
token's genTime is the one the case needs rather than the machine's clock (`TS_RESP_CTX_set_time_cb`;
`openssl ts -reply` has no option for it).
"""
import base64
import ctypes
import ctypes.util
import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_crypto = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
_P = ctypes.c_void_p
_TIME_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, _P, _P, ctypes.POINTER(ctypes.c_long), ctypes.POINTER(ctypes.c_long))
for _name, _result, _arguments in [
    ("BIO_new_mem_buf", _P, [ctypes.c_char_p, ctypes.c_int]), ("BIO_free", ctypes.c_int, [_P]),
    ("PEM_read_bio_X509", _P, [_P, _P, _P, _P]), ("X509_free", None, [_P]),
    ("PEM_read_bio_PrivateKey", _P, [_P, _P, _P, _P]), ("EVP_PKEY_free", None, [_P]),
    ("EVP_sha256", _P, []), ("OBJ_txt2obj", _P, [ctypes.c_char_p, ctypes.c_int]), ("ASN1_OBJECT_free", None, [_P]),
    ("TS_RESP_CTX_new", _P, []), ("TS_RESP_CTX_free", None, [_P]),
    ("TS_RESP_CTX_set_signer_cert", ctypes.c_int, [_P, _P]), ("TS_RESP_CTX_set_signer_key", ctypes.c_int, [_P, _P]),
    ("TS_RESP_CTX_set_signer_digest", ctypes.c_int, [_P, _P]), ("TS_RESP_CTX_set_ess_cert_id_digest", ctypes.c_int, [_P, _P]),
    ("TS_RESP_CTX_set_def_policy", ctypes.c_int, [_P, _P]), ("TS_RESP_CTX_add_md", ctypes.c_int, [_P, _P]),
    ("TS_RESP_CTX_set_time_cb", None, [_P, _TIME_CALLBACK, _P]),
    ("TS_RESP_create_response", _P, [_P, _P]), ("TS_RESP_free", None, [_P]),
    ("TS_RESP_get_status_info", _P, [_P]), ("TS_STATUS_INFO_get0_status", _P, [_P]), ("ASN1_INTEGER_get", ctypes.c_long, [_P]),
    ("i2d_TS_RESP", ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_char_p)]),
    ("ERR_get_error", ctypes.c_ulong, []), ("ERR_error_string_n", None, [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_size_t]),
]:
    getattr(_crypto, _name).restype = _result
    getattr(_crypto, _name).argtypes = _arguments

# id-sha256 AlgorithmIdentifier with NULL parameters (RFC 5754 section 2).
_SHA256_ALGORITHM = bytes.fromhex("300d060960864801650304020105 00".replace(" ", ""))


def _der(tag, content):
    length = len(content)
    encoded = bytes([length]) if length < 128 else bytes([0x81, length]) if length < 256 else bytes([0x82]) + length.to_bytes(2, "big")
    return bytes([tag]) + encoded + content


def time_stamp_request(data):
    """A DER TimeStampReq (section 2.4.1): version 1, the SHA-256 imprint of `data`, certReq true."""
    imprint = _der(0x30, _SHA256_ALGORITHM + _der(0x04, hashlib.sha256(data).digest()))
    return _der(0x30, _der(0x02, b"\x01") + imprint + _der(0x01, b"\xff"))


def _check(pointer, what):
    if not pointer:
        reason = ctypes.create_string_buffer(256)
        _crypto.ERR_error_string_n(_crypto.ERR_get_error(), reason, len(reason))
        raise RuntimeError(f"{what}: {reason.value.decode()}")
    return pointer


class TimestampAuthority:
    """A TSA: a root CA and a signing certificate, valid from `start` to `end` (epoch seconds)."""

    def __init__(self, uri, start, end, sibling_of=None):
        """With `sibling_of`, another signing certificate issued by that authority's root (its
        root and root key are shared; the trusted root names the other's signing certificate)."""
        self.uri = uri
        self.root_key = sibling_of.root_key if sibling_of else ec.generate_private_key(ec.SECP256R1())
        self.signing_key = ec.generate_private_key(ec.SECP256R1())
        names = lambda common_name: x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "signet.test"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        at = lambda seconds: datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)

        def build(subject, key, signing_key, ca, extensions):
            builder = (x509.CertificateBuilder().subject_name(names(subject)).issuer_name(names("signet test tsa root"))
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(at(start)).not_valid_after(at(end))
                       .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
            for extension, critical in extensions:
                builder = builder.add_extension(extension, critical=critical)
            return builder.sign(signing_key, hashes.SHA256())

        usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                     encipher_only=False, decipher_only=False)
        self.root = sibling_of.root if sibling_of else build("signet test tsa root", self.root_key, self.root_key, True, [
            (x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), True)])
        # RFC 3161 section 2.3: the signing certificate's only extended key usage is
        # id-kp-timeStamping, and the extension is critical.
        self.signing = build("signet test tsa", self.signing_key, self.root_key, False, [
            (x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)])

    def trusted_root_entry(self):
        """The `timestampAuthorities` entry: the chain from the signing certificate to the root."""
        chain = [self.signing, self.root]
        return {
            "subject": {"organization": "signet.test", "commonName": "signet test tsa"}, "uri": self.uri,
            "certChain": {"certificates": [{"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()} for c in chain]},
            "validFor": {"start": "2025-01-01T00:00:00Z"},
        }

    def respond(self, data, gen_time):
        """A granted DER TimeStampResp over the SHA-256 of `data` with genTime `gen_time` (epoch
        seconds), signed with SHA-256 and an ESS signing-certificate-v2 attribute."""
        certificate_pem = self.signing.public_bytes(serialization.Encoding.PEM)
        key_pem = self.signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        request = time_stamp_request(data)

        def at_gen_time(_context, _data, seconds, microseconds):
            seconds[0] = gen_time
            microseconds[0] = 0
            return 1

        callback = _TIME_CALLBACK(at_gen_time)
        owned = []
        try:
            certificate_bio = _check(_crypto.BIO_new_mem_buf(certificate_pem, len(certificate_pem)), "certificate BIO")
            owned.append((_crypto.BIO_free, certificate_bio))
            certificate = _check(_crypto.PEM_read_bio_X509(certificate_bio, None, None, None), "signing certificate")
            owned.append((_crypto.X509_free, certificate))
            key_bio = _check(_crypto.BIO_new_mem_buf(key_pem, len(key_pem)), "key BIO")
            owned.append((_crypto.BIO_free, key_bio))
            key = _check(_crypto.PEM_read_bio_PrivateKey(key_bio, None, None, None), "signing key")
            owned.append((_crypto.EVP_PKEY_free, key))
            policy = _check(_crypto.OBJ_txt2obj(b"1.2.3.4.1", 1), "policy OID")
            owned.append((_crypto.ASN1_OBJECT_free, policy))
            context = _check(_crypto.TS_RESP_CTX_new(), "responder")
            owned.append((_crypto.TS_RESP_CTX_free, context))
            sha256 = _crypto.EVP_sha256()
            for setter, argument in [(_crypto.TS_RESP_CTX_set_signer_cert, certificate), (_crypto.TS_RESP_CTX_set_signer_key, key),
                                     (_crypto.TS_RESP_CTX_set_signer_digest, sha256), (_crypto.TS_RESP_CTX_set_ess_cert_id_digest, sha256),
                                     (_crypto.TS_RESP_CTX_set_def_policy, policy), (_crypto.TS_RESP_CTX_add_md, sha256)]:
                if setter(context, argument) != 1:
                    _check(None, setter.__name__)
            _crypto.TS_RESP_CTX_set_time_cb(context, callback, None)
            request_bio = _check(_crypto.BIO_new_mem_buf(request, len(request)), "request BIO")
            owned.append((_crypto.BIO_free, request_bio))
            response = _check(_crypto.TS_RESP_create_response(context, request_bio), "response")
            owned.append((_crypto.TS_RESP_free, response))
            status = _crypto.ASN1_INTEGER_get(_crypto.TS_STATUS_INFO_get0_status(_crypto.TS_RESP_get_status_info(response)))
            if status != 0:
                raise RuntimeError(f"the responder did not grant the time stamp (status {status})")
            length = _crypto.i2d_TS_RESP(response, None)
            buffer = ctypes.create_string_buffer(length)
            cursor = ctypes.c_char_p(ctypes.addressof(buffer))
            if _crypto.i2d_TS_RESP(response, ctypes.byref(cursor)) != length:
                raise RuntimeError("the response could not be encoded")
            return buffer.raw
        finally:
            for free, pointer in reversed(owned):
                free(pointer)
