#ifndef C_SIGNET_OPENSSL_H
#define C_SIGNET_OPENSSL_H

// Typed C wrappers for the parts of OpenSSL that Swift cannot import: function-like macros over
// SSL_CTX_ctrl / BIO_ctrl, 64-bit option constants built with casts, and callbacks. Every function
// here is prefixed `signet_` and does no more than the OpenSSL call it names.

#include "../../COpenSSL/shim.h"
#include <stddef.h>
#include <stdint.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "signet needs OpenSSL 3.0 or later"
#endif

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - SSL_CTX settings (SSL_CTX_set_min_proto_version(3), SSL_CTX_set_mode(3), ...)

/// SSL_CTX_set_min_proto_version: `version` is TLS1_2_VERSION etc. Returns 1 on success.
int signet_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
/// SSL_CTX_set_max_proto_version: `version` is TLS1_3_VERSION etc. Returns 1 on success.
int signet_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
/// SSL_CTX_set_mode: adds `mode` bits (SSL_MODE_*), returns the new mode.
long signet_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
/// SSL_CTX_set_options: adds `options` bits (see the signet_SSL_OP_* constants), returns the new options.
uint64_t signet_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options);
/// SSL_CTX_set_session_cache_mode: `mode` is SSL_SESS_CACHE_*; returns the previous mode.
long signet_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
/// Installs a passphrase callback that always fails, so an encrypted private key is an error
/// instead of a prompt on the controlling terminal (SSL_CTX_set_default_passwd_cb(3)).
void signet_SSL_CTX_disable_passphrase_prompt(SSL_CTX *ctx);

/// SSL_OP_* values (64-bit, built with casts in ssl.h, so not importable as macros).
extern const uint64_t signet_SSL_OP_NO_COMPRESSION;
extern const uint64_t signet_SSL_OP_NO_RENEGOTIATION;
extern const uint64_t signet_SSL_OP_CIPHER_SERVER_PREFERENCE;
extern const uint64_t signet_SSL_OP_NO_SSLv3;
extern const uint64_t signet_SSL_OP_NO_TLSv1;
extern const uint64_t signet_SSL_OP_NO_TLSv1_1;

// MARK: - ALPN (RFC 7301)

/// Client side: sets the protocols offered, in wire format (length-prefixed strings).
/// Returns 1 on success (SSL_CTX_set_alpn_protos(3) itself returns 0 on success).
int signet_SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *wire, size_t length);

/// Server side: copies `wire` (the server's protocols in preference order, wire format) into the
/// context and installs a select callback (SSL_CTX_set_alpn_select_cb(3)). The callback picks the
/// first server protocol the client offers; when the client offers ALPN but none of them, the
/// handshake fails with a fatal no_application_protocol alert (RFC 7301 section 3.2).
/// A client that offers no ALPN extension is not affected. Returns 1 on success.
int signet_SSL_CTX_set_alpn_server_protocols(SSL_CTX *ctx, const unsigned char *wire, size_t length);

// MARK: - Per-connection settings

/// SSL_set_tlsext_host_name: sets the SNI host name (RFC 6066 section 3). Returns 1 on success.
int signet_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
/// Sets the name the peer certificate must match: an IP address literal is checked against the
/// iPAddress SANs, anything else against the DNS SANs (X509_VERIFY_PARAM_set1_host(3),
/// X509_VERIFY_PARAM_set1_ip_asc(3)). Returns 1 on success.
int signet_SSL_set_expected_peer_name(SSL *ssl, const char *name);
/// 1 when `name` is an IPv4 or IPv6 address literal (no SNI is sent for those).
int signet_is_ip_address_literal(const char *name);

// MARK: - Memory BIOs (BIO_s_mem(3))

/// BIO_get_mem_data: points `*data` at the readable bytes; returns their count.
long signet_BIO_get_mem_data(BIO *bio, char **data);
/// BIO_pending: bytes waiting to be read.
size_t signet_BIO_pending(BIO *bio);
/// BIO_set_mem_eof_return: what a read of an empty memory BIO returns (-1: retry later, 0: EOF).
long signet_BIO_set_mem_eof_return(BIO *bio, long value);
/// Bytes allocated by a memory BIO's buffer (BIO_get_mem_ptr, `BUF_MEM.max`); it does not shrink
/// when the data is read.
size_t signet_BIO_mem_capacity(BIO *bio);

// MARK: - Errors (ERR_get_error(3))

/// Drains this thread's error queue into `buffer` as "library: reason (data); ..." (always NUL
/// terminated, truncated to `capacity`). Returns the first (oldest) packed error code, 0 when the
/// queue was empty. The queue is empty afterwards.
unsigned long signet_ERR_drain(char *buffer, size_t capacity);
/// ERR_GET_LIB / ERR_GET_REASON of a packed error code.
int signet_ERR_get_lib(unsigned long code);
int signet_ERR_get_reason(unsigned long code);

// MARK: - Certificates

/// Writes the RFC 2253 form of `name` into `buffer` (NUL terminated, cut to `capacity` - 1 bytes);
/// returns the whole form's length, which is `capacity` or more when it was cut.
size_t signet_X509_NAME_to_rfc2253(const X509_NAME *name, char *buffer, size_t capacity);

/// The subject's commonName entries as UTF-8, each followed by a newline (entries holding a
/// newline or NUL are left out); returns the bytes the whole list needs, which is more than
/// `capacity` when it did not fit (then nothing past `capacity` is written).
size_t signet_X509_common_names(X509 *certificate, char *buffer, size_t capacity);

/// The names a certificate identifies its holder by, each followed by a newline: the subject's
/// commonName entries (as UTF-8), then the subjectAltName dNSName, uniformResourceIdentifier and
/// rfc822Name entries (RFC 5280 section 4.2.1.6). A name holding a newline or NUL is left out.
/// Writes what fits into `buffer` and returns the length of all of them (call again with a
/// larger buffer when it is more than `capacity`).
size_t signet_X509_identity_names(X509 *certificate, char *buffer, size_t capacity);

// MARK: - Certificate chains at a chosen time, RFC 3161 time-stamp responses

#include <openssl/ts.h>

/// X509_verify_cert(3) of `leaf` against the trust anchors `roots`, with `intermediates` as
/// untrusted certificates, at `time` (seconds since the epoch, X509_VERIFY_PARAM_set_time(3)).
/// No purpose is set; callers check key usage themselves. Returns 1 when a chain to an anchor was
/// built, 0 otherwise with `*error` set to the X509_V_ERR_* code and `*errorDepth` to the depth of
/// the failing certificate. On success `*chain` is the chain, leaf first
/// (X509_STORE_CTX_get1_chain(3)); release it with signet_X509_stack_free.
int signet_X509_verify_at(X509 *leaf, X509 *const *intermediates, size_t intermediateCount,
                          X509 *const *roots, size_t rootCount, int64_t time,
                          int *error, int *errorDepth, STACK_OF(X509) **chain);
/// sk_X509_num.
int signet_X509_stack_count(const STACK_OF(X509) *stack);
/* The number of entries of a CRL's revoked list (sk_X509_REVOKED_num is a macro). */
int signet_X509_CRL_entry_count(X509_CRL *crl);
/// sk_X509_value with X509_up_ref: the caller owns the returned reference.
X509 *signet_X509_stack_get1(const STACK_OF(X509) *stack, int index);
/// sk_X509_pop_free(stack, X509_free).
void signet_X509_stack_free(STACK_OF(X509) *stack);

/// The genTime of the token in a DER TimeStampResp (RFC 3161 section 2.4.2): d2i_TS_RESP(3),
/// TS_RESP_get_tst_info, TS_TST_INFO_get_time. Writes whole seconds since the epoch to `*seconds`
/// and the fraction in nanoseconds to `*nanoseconds`; the token's accuracy
/// (TS_TST_INFO_get_accuracy: seconds, millis and micros) to `*microseconds` (-1 when the token
/// states none, -2 when a part is negative or too large); and whether TSTInfo.policy is the
/// baseline time-stamp policy of RFC 3628 section 5.2 (0.4.0.2023.1.1) to `*baselinePolicy`.
/// Returns 1 on success.
int signet_TS_RESP_time(const unsigned char *der, size_t length, int64_t *seconds, int32_t *nanoseconds,
                        int64_t *microseconds, int *baselinePolicy);
/// TS_RESP_verify_signature(3) and TS_RESP_verify_response(3) (TS_VFY_VERSION | TS_VFY_DATA) of
/// a DER TimeStampResp: the status is granted, the message imprint is the hash of `data`, and the
/// token is signed by a certificate (embedded or among `untrusted`) that chains to one of `roots`
/// with the timeStamping purpose at `time` (seconds since the epoch) and, when `signer` is not
/// NULL, is that certificate. Returns 1 when valid; 0 otherwise, with the reason left on the
/// OpenSSL error queue.
int signet_TS_RESP_verify(const unsigned char *der, size_t length,
                          const unsigned char *data, size_t dataLength,
                          X509 *const *untrusted, size_t untrustedCount,
                          X509 *const *roots, size_t rootCount, X509 *signer, int64_t time);

/// The certificate that signed the time-stamp token of the DER TimeStampResp `der` (its
/// SignerInfo's issuer and serial number, looked up among the token's certificates and
/// `extra`; PKCS7_get0_signers(3)), with a reference the caller frees (X509_free); NULL when the
/// response or the signer cannot be read. `*embedded` receives the token's own certificates
/// (release with signet_X509_stack_free), or NULL.
X509 *signet_TS_RESP_signer(const unsigned char *der, size_t length, X509 *const *extra, size_t extraCount,
                            STACK_OF(X509) **embedded);

/// i2d_re_X509_tbs(3) of a copy of `cert` without the embedded SCT list extension
/// (1.3.6.1.4.1.11129.2.4.2): the TBSCertificate the CT log signed (RFC 6962 section 3.2).
/// Returns the DER length written to `*der` (free with OPENSSL_free via signet_OPENSSL_free), or -1.
int signet_X509_precertificate_tbs(X509 *cert, unsigned char **der);
/// OPENSSL_free.
void signet_OPENSSL_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
