#include "CSignetOpenSSL.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: - SSL_CTX settings

int signet_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

int signet_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

long signet_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

uint64_t signet_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return SSL_CTX_set_options(ctx, options);
}

long signet_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static int signet_refuse_passphrase(char *buffer, int size, int rwflag, void *userdata) {
    (void)buffer; (void)size; (void)rwflag; (void)userdata;
    return 0;
}

void signet_SSL_CTX_disable_passphrase_prompt(SSL_CTX *ctx) {
    SSL_CTX_set_default_passwd_cb(ctx, signet_refuse_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
}

const uint64_t signet_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
const uint64_t signet_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
const uint64_t signet_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
const uint64_t signet_SSL_OP_NO_SSLv3 = SSL_OP_NO_SSLv3;
const uint64_t signet_SSL_OP_NO_TLSv1 = SSL_OP_NO_TLSv1;
const uint64_t signet_SSL_OP_NO_TLSv1_1 = SSL_OP_NO_TLSv1_1;

// MARK: - ALPN

int signet_SSL_CTX_set_alpn_protos(SSL_CTX *ctx, const unsigned char *wire, size_t length) {
    if (length > 0xffff) return 0;
    return SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)length) == 0 ? 1 : 0;
}

// The server's protocol list lives in the context's ex_data, so it is freed with the SSL_CTX
// (which SSL objects keep alive by reference count), not with any Swift object.
typedef struct {
    size_t length;
    unsigned char bytes[];
} signet_alpn_list;

static int signet_alpn_index = -1;
static CRYPTO_ONCE signet_alpn_index_once = CRYPTO_ONCE_STATIC_INIT;

static void signet_alpn_list_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
    OPENSSL_free(ptr);
}

static void signet_alpn_index_init(void) {
    signet_alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, signet_alpn_list_free);
}

static int signet_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                              const unsigned char *in, unsigned int inlen, void *arg) {
    (void)arg;
    const signet_alpn_list *list = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), signet_alpn_index);
    if (list == NULL || list->length == 0) return SSL_TLSEXT_ERR_NOACK;
    // Server preference order: walk our list, and for each entry scan the client's list.
    size_t i = 0;
    while (i < list->length) {
        unsigned char ours = list->bytes[i];
        const unsigned char *candidate = list->bytes + i + 1;
        unsigned int j = 0;
        while (j < inlen) {
            unsigned char theirs = in[j];
            if (j + 1 + theirs > inlen) break;  // malformed client list: stop scanning
            if (theirs == ours && memcmp(in + j + 1, candidate, ours) == 0) {
                *out = in + j + 1;
                *outlen = theirs;
                return SSL_TLSEXT_ERR_OK;
            }
            j += 1 + theirs;
        }
        i += 1 + (size_t)ours;
    }
    // RFC 7301 section 3.2: no overlap is a fatal no_application_protocol alert.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int signet_SSL_CTX_set_alpn_server_protocols(SSL_CTX *ctx, const unsigned char *wire, size_t length) {
    if (!CRYPTO_THREAD_run_once(&signet_alpn_index_once, signet_alpn_index_init)) return 0;
    if (signet_alpn_index < 0) return 0;
    // Validate the wire format: non-empty entries that exactly fill the buffer.
    size_t i = 0;
    while (i < length) {
        if (wire[i] == 0 || i + 1 + wire[i] > length) return 0;
        i += 1 + wire[i];
    }
    signet_alpn_list *list = OPENSSL_malloc(sizeof(signet_alpn_list) + length);
    if (list == NULL) return 0;
    list->length = length;
    if (length > 0) memcpy(list->bytes, wire, length);
    signet_alpn_list *previous = SSL_CTX_get_ex_data(ctx, signet_alpn_index);
    if (!SSL_CTX_set_ex_data(ctx, signet_alpn_index, list)) {
        OPENSSL_free(list);
        return 0;
    }
    OPENSSL_free(previous);
    SSL_CTX_set_alpn_select_cb(ctx, signet_alpn_select, NULL);
    return 1;
}

// MARK: - Per-connection settings

int signet_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

int signet_is_ip_address_literal(const char *name) {
    unsigned char address[16];
    return inet_pton(AF_INET, name, address) == 1 || inet_pton(AF_INET6, name, address) == 1;
}

int signet_SSL_set_expected_peer_name(SSL *ssl, const char *name) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (signet_is_ip_address_literal(name)) {
        return X509_VERIFY_PARAM_set1_ip_asc(param, name);
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, name, 0);
}

// MARK: - Memory BIOs

long signet_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

size_t signet_BIO_pending(BIO *bio) {
    return BIO_ctrl_pending(bio);
}

long signet_BIO_set_mem_eof_return(BIO *bio, long value) {
    return BIO_set_mem_eof_return(bio, value);
}

size_t signet_BIO_mem_capacity(BIO *bio) {
    BUF_MEM *memory = NULL;
    if (BIO_get_mem_ptr(bio, &memory) <= 0 || memory == NULL) return 0;
    return memory->max;
}

// MARK: - Errors

static void signet_append(char *buffer, size_t capacity, size_t *used, const char *text) {
    if (capacity == 0 || text == NULL) return;
    size_t room = capacity - 1 - *used;
    size_t length = strlen(text);
    if (length > room) length = room;
    memcpy(buffer + *used, text, length);
    *used += length;
    buffer[*used] = '\0';
}

unsigned long signet_ERR_drain(char *buffer, size_t capacity) {
    size_t used = 0;
    if (capacity > 0) buffer[0] = '\0';
    unsigned long first = 0;
    const char *data = NULL;
    int flags = 0;
    unsigned long code;
    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (first == 0) {
            first = code;
        } else {
            signet_append(buffer, capacity, &used, "; ");
        }
        const char *library = ERR_lib_error_string(code);
        const char *reason = ERR_reason_error_string(code);
        char fallback[32];
        if (reason == NULL) {
            snprintf(fallback, sizeof fallback, "error %lu", (unsigned long)ERR_GET_REASON(code));
            reason = fallback;
        }
        if (library != NULL) {
            signet_append(buffer, capacity, &used, library);
            signet_append(buffer, capacity, &used, ": ");
        }
        signet_append(buffer, capacity, &used, reason);
        if ((flags & ERR_TXT_STRING) && data != NULL && data[0] != '\0') {
            signet_append(buffer, capacity, &used, " (");
            signet_append(buffer, capacity, &used, data);
            signet_append(buffer, capacity, &used, ")");
        }
    }
    return first;
}

int signet_ERR_get_lib(unsigned long code) {
    return ERR_GET_LIB(code);
}

int signet_ERR_get_reason(unsigned long code) {
    return ERR_GET_REASON(code);
}

// MARK: - Certificates

static void signet_append_identity_name(
    const unsigned char *data, int length, char *buffer, size_t capacity, size_t *used
) {
    if (data == NULL || length <= 0) return;
    if (memchr(data, '\n', (size_t)length) != NULL || memchr(data, '\0', (size_t)length) != NULL) return;
    if (*used + (size_t)length + 1 <= capacity) {
        memcpy(buffer + *used, data, (size_t)length);
        buffer[*used + (size_t)length] = '\n';
    }
    *used += (size_t)length + 1;
}

static void signet_append_common_names(X509 *certificate, char *buffer, size_t capacity, size_t *used) {
    X509_NAME *subject = X509_get_subject_name(certificate);
    for (int index = -1; subject != NULL && (index = X509_NAME_get_index_by_NID(subject, NID_commonName, index)) >= 0;) {
        unsigned char *utf8 = NULL;
        int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
        if (length > 0) signet_append_identity_name(utf8, length, buffer, capacity, used);
        OPENSSL_free(utf8);
    }
}

size_t signet_X509_common_names(X509 *certificate, char *buffer, size_t capacity) {
    size_t used = 0;
    signet_append_common_names(certificate, buffer, capacity, &used);
    ERR_clear_error();
    return used;
}

size_t signet_X509_identity_names(X509 *certificate, char *buffer, size_t capacity) {
    size_t used = 0;
    signet_append_common_names(certificate, buffer, capacity, &used);
    GENERAL_NAMES *names = X509_get_ext_d2i(certificate, NID_subject_alt_name, NULL, NULL);
    for (int index = 0; names != NULL && index < sk_GENERAL_NAME_num(names); index++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
        if (name->type == GEN_DNS || name->type == GEN_URI || name->type == GEN_EMAIL) {
            signet_append_identity_name(
                ASN1_STRING_get0_data(name->d.ia5), ASN1_STRING_length(name->d.ia5), buffer, capacity, &used);
        }
    }
    GENERAL_NAMES_free(names);
    ERR_clear_error();
    return used;
}

size_t signet_X509_NAME_to_rfc2253(const X509_NAME *name, char *buffer, size_t capacity) {
    if (capacity == 0) return 0;
    buffer[0] = '\0';
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return 0;
    size_t length = 0;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data = NULL;
        long available = BIO_get_mem_data(bio, &data);
        if (available > 0) {
            size_t copied = (size_t)available < capacity - 1 ? (size_t)available : capacity - 1;
            memcpy(buffer, data, copied);
            buffer[copied] = '\0';
            // The whole name's length: a caller whose buffer was too small asks again.
            length = (size_t)available;
        }
    }
    BIO_free(bio);
    return length;
}

// MARK: - Certificate chains at a chosen time, RFC 3161 time-stamp responses

#include <time.h>

static STACK_OF(X509) *signet_X509_stack_of(X509 *const *certificates, size_t count) {
    STACK_OF(X509) *stack = sk_X509_new_null();
    if (stack == NULL) return NULL;
    for (size_t index = 0; index < count; index++) {
        if (!sk_X509_push(stack, certificates[index])) {
            sk_X509_free(stack);
            return NULL;
        }
    }
    return stack;
}

static X509_STORE *signet_X509_store_of(X509 *const *roots, size_t count, int64_t time) {
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) return NULL;
    for (size_t index = 0; index < count; index++) {
        if (!X509_STORE_add_cert(store, roots[index])) {
            X509_STORE_free(store);
            return NULL;
        }
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)time);
    return store;
}

int signet_X509_verify_at(X509 *leaf, X509 *const *intermediates, size_t intermediateCount,
                          X509 *const *roots, size_t rootCount, int64_t time,
                          int *error, int *errorDepth, STACK_OF(X509) **chain) {
    *error = X509_V_ERR_UNSPECIFIED;
    *errorDepth = 0;
    *chain = NULL;
    X509_STORE *store = signet_X509_store_of(roots, rootCount, time);
    STACK_OF(X509) *untrusted = signet_X509_stack_of(intermediates, intermediateCount);
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    int verified = 0;
    if (store != NULL && untrusted != NULL && context != NULL
        && X509_STORE_CTX_init(context, store, leaf, untrusted) == 1) {
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(context), (time_t)time);
        /* Security level 1 (80 bits): a certificate signed with SHA-1 or MD5, or an RSA key
           under 1024 bits, fails the path ("digest algorithm too weak"), as Go's crypto/x509
           (sigstore-go, notation-go) refuses them. The trust anchor's own self-signature is not
           checked, so an old root signed with SHA-1 still anchors. */
        X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(context), 1);
        verified = X509_verify_cert(context) == 1;
        if (verified) {
            *error = X509_V_OK;
            *chain = X509_STORE_CTX_get1_chain(context);
        } else {
            *error = X509_STORE_CTX_get_error(context);
            *errorDepth = X509_STORE_CTX_get_error_depth(context);
        }
    }
    X509_STORE_CTX_free(context);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return verified;
}

int signet_X509_stack_count(const STACK_OF(X509) *stack) {
    return stack == NULL ? 0 : sk_X509_num(stack);
}

int signet_X509_CRL_entry_count(X509_CRL *crl) {
    STACK_OF(X509_REVOKED) *entries = X509_CRL_get_REVOKED(crl);
    return entries == NULL ? 0 : sk_X509_REVOKED_num(entries);
}

X509 *signet_X509_stack_get1(const STACK_OF(X509) *stack, int index) {
    X509 *certificate = sk_X509_value(stack, index);
    if (certificate != NULL) X509_up_ref(certificate);
    return certificate;
}

void signet_X509_stack_free(STACK_OF(X509) *stack) {
    sk_X509_pop_free(stack, X509_free);
}

int signet_TS_RESP_time(const unsigned char *der, size_t length, int64_t *seconds, int32_t *nanoseconds,
                        int64_t *microseconds, int *baselinePolicy) {
    // OpenSSL takes these lengths as long and int: refuse what would not fit rather than cast.
    if (length > LONG_MAX) return 0;
    const unsigned char *cursor = der;
    TS_RESP *response = d2i_TS_RESP(NULL, &cursor, (long)length);
    if (response == NULL) return 0;
    int ok = 0;
    TS_TST_INFO *info = TS_RESP_get_tst_info(response);
    const ASN1_GENERALIZEDTIME *genTime = info == NULL ? NULL : TS_TST_INFO_get_time(info);
    struct tm parts;
    if (genTime != NULL && ASN1_TIME_to_tm(genTime, &parts) == 1) {
        *seconds = (int64_t)timegm(&parts);
        *nanoseconds = 0;
        // GeneralizedTime "YYYYMMDDHHMMSS[.fff]Z" (RFC 3161 section 2.4.2): read the fraction.
        const unsigned char *text = ASN1_STRING_get0_data(genTime);
        int textLength = ASN1_STRING_length(genTime);
        if (textLength > 15 && text[14] == '.') {
            int32_t scale = 100000000;
            for (int index = 15; index < textLength && text[index] >= '0' && text[index] <= '9' && scale > 0; index++) {
                *nanoseconds += (text[index] - '0') * scale;
                scale /= 10;
            }
        }
        ok = 1;
        *microseconds = -1;
        TS_ACCURACY *accuracy = TS_TST_INFO_get_accuracy(info);
        if (accuracy != NULL) {
            // RFC 3161: seconds INTEGER, millis and micros INTEGER (1..999), each optional.
            const ASN1_INTEGER *accuracyParts[3] = {
                TS_ACCURACY_get_seconds(accuracy), TS_ACCURACY_get_millis(accuracy), TS_ACCURACY_get_micros(accuracy),
            };
            const int64_t limits[3] = {1000000000, 999, 999};
            const int64_t scales[3] = {1000000, 1000, 1};
            int64_t total = 0;
            int valid = 1;
            for (int index = 0; index < 3 && valid; index++) {
                int64_t value = 0;
                if (accuracyParts[index] == NULL) continue;
                if (ASN1_INTEGER_get_int64(&value, accuracyParts[index]) != 1 || value < 0 || value > limits[index]) valid = 0;
                else total += value * scales[index];
            }
            *microseconds = valid ? total : -2;
        }
        ASN1_OBJECT *policy = TS_TST_INFO_get_policy_id(info);
        ASN1_OBJECT *baseline = OBJ_txt2obj("0.4.0.2023.1.1", 1);
        *baselinePolicy = policy != NULL && baseline != NULL && OBJ_cmp(policy, baseline) == 0;
        ASN1_OBJECT_free(baseline);
    }
    TS_RESP_free(response);
    return ok;
}

int signet_TS_RESP_verify(const unsigned char *der, size_t length,
                          const unsigned char *data, size_t dataLength,
                          X509 *const *untrusted, size_t untrustedCount,
                          X509 *const *roots, size_t rootCount, X509 *signer, int64_t time) {
    if (dataLength > INT_MAX) return 0;
    // OpenSSL takes these lengths as long and int: refuse what would not fit rather than cast.
    if (length > LONG_MAX) return 0;
    const unsigned char *cursor = der;
    TS_RESP *response = d2i_TS_RESP(NULL, &cursor, (long)length);
    if (response == NULL) return 0;
    int verified = 0;
    TS_VERIFY_CTX *context = TS_VERIFY_CTX_new();
    X509_STORE *store = signet_X509_store_of(roots, rootCount, time);
    STACK_OF(X509) *certificates = sk_X509_new_null();
    for (size_t index = 0; certificates != NULL && index < untrustedCount; index++) {
        X509_up_ref(untrusted[index]);
        sk_X509_push(certificates, untrusted[index]);
    }
    BIO *bio = BIO_new_mem_buf(data, (int)dataLength);
    PKCS7 *token = TS_RESP_get_token(response);
    X509 *found = NULL;
    if (context != NULL && store != NULL && certificates != NULL && bio != NULL && token != NULL
        && TS_RESP_verify_signature(token, certificates, store, &found) == 1) {
        if (signer != NULL && (found == NULL || X509_cmp(found, signer) != 0)) {
            ERR_raise_data(ERR_LIB_TS, TS_R_CERTIFICATE_VERIFY_ERROR,
                           "the token is signed by a certificate other than the authority's signing certificate");
        } else {
            // The signature is checked above: the rest is the status, version and imprint.
            TS_VERIFY_CTX_set_flags(context, TS_VFY_VERSION | TS_VFY_DATA);
            // The context takes ownership of the BIO.
            TS_VERIFY_CTX_set_data(context, bio);
            bio = NULL;
            verified = TS_RESP_verify_response(context, response) == 1;
        }
    }
    X509_free(found);
    BIO_free(bio);
    sk_X509_pop_free(certificates, X509_free);
    X509_STORE_free(store);
    TS_VERIFY_CTX_free(context);
    TS_RESP_free(response);
    return verified;
}

X509 *signet_TS_RESP_signer(const unsigned char *der, size_t length, X509 *const *extra, size_t extraCount,
                            STACK_OF(X509) **embedded) {
    *embedded = NULL;
    if (length > LONG_MAX) return NULL;
    const unsigned char *cursor = der;
    TS_RESP *response = d2i_TS_RESP(NULL, &cursor, (long)length);
    if (response == NULL) return NULL;
    X509 *signer = NULL;
    PKCS7 *token = TS_RESP_get_token(response);
    // `extra` first, then the token's own, as TS_RESP_verify_signature(3) looks them up.
    STACK_OF(X509) *candidates = sk_X509_new_null();
    if (token != NULL && PKCS7_type_is_signed(token) && token->d.sign != NULL && candidates != NULL) {
        STACK_OF(X509) *own = token->d.sign->cert;
        *embedded = sk_X509_new_null();
        for (int index = 0; own != NULL && index < sk_X509_num(own); index++) {
            X509 *certificate = sk_X509_value(own, index);
            if (*embedded != NULL && X509_up_ref(certificate) == 1 && sk_X509_push(*embedded, certificate) <= 0) X509_free(certificate);
        }
        for (size_t index = 0; index < extraCount; index++) sk_X509_push(candidates, extra[index]);
        STACK_OF(X509) *signers = PKCS7_get0_signers(token, candidates, 0);
        if (signers != NULL && sk_X509_num(signers) == 1) {
            signer = sk_X509_value(signers, 0);
            X509_up_ref(signer);
        }
        sk_X509_free(signers);
    }
    sk_X509_free(candidates);
    TS_RESP_free(response);
    return signer;
}

int signet_X509_precertificate_tbs(X509 *cert, unsigned char **der) {
    *der = NULL;
    X509 *copy = X509_dup(cert);
    if (copy == NULL) return -1;
    int index = X509_get_ext_by_NID(copy, NID_ct_precert_scts, -1);
    if (index >= 0) {
        X509_EXTENSION_free(X509_delete_ext(copy, index));
    }
    int length = i2d_re_X509_tbs(copy, der);
    X509_free(copy);
    return length;
}

void signet_OPENSSL_free(void *pointer) {
    OPENSSL_free(pointer);
}
