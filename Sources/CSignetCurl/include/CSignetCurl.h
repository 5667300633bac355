#ifndef C_SIGNET_CURL_H
#define C_SIGNET_CURL_H

// Typed entry points for the libcurl calls Swift cannot import: curl_easy_setopt,
// curl_easy_getinfo, curl_multi_setopt and curl_share_setopt are variadic in C, so each argument
// type gets its own function here. Nothing else in signet includes <curl/curl.h> directly.

#include <curl/curl.h>
#include <stdint.h>

// signet drives transfers with curl_multi_poll and curl_multi_wakeup (7.68) and relies on the
// HTTP/2 multiplexing and connection-reuse fixes up to 7.74, the oldest release it supports.
#if !defined(LIBCURL_VERSION_NUM) || LIBCURL_VERSION_NUM < 0x074A00
#error "signet needs libcurl 7.74.0 or newer (built with nghttp2 for HTTP/2)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

// MARK: easy handle options

CURLcode signet_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode signet_curl_easy_setopt_off_t(CURL *handle, CURLoption option, int64_t value);
CURLcode signet_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode signet_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode signet_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode signet_curl_easy_setopt_share(CURL *handle, CURLSH *share);
CURLcode signet_curl_easy_setopt_writefunction(CURL *handle, curl_write_callback callback);
CURLcode signet_curl_easy_setopt_headerfunction(CURL *handle, curl_write_callback callback);
/// Calls `callback` with `data` before each host name lookup the transfer starts; a non-zero
/// return refuses the lookup (CURLOPT_RESOLVER_START_FUNCTION and CURLOPT_RESOLVER_START_DATA).
CURLcode signet_curl_easy_setopt_resolver_start(CURL *handle, curl_resolver_start_callback callback, void *data);
/// Calls `callback` with `data` for each connection the transfer opens, in place of curl's own
/// `socket()` call (CURLOPT_OPENSOCKETFUNCTION and CURLOPT_OPENSOCKETDATA), and makes the
/// transfer open its own connections (CURLOPT_FRESH_CONNECT): one already open was not asked about.
CURLcode signet_curl_easy_setopt_opensocket(CURL *handle, curl_opensocket_callback callback, void *data);
/// Writes the numeric form of the address curl is about to connect to into `text` (`size` bytes,
/// 46 are enough) and returns its port, or -1 for a family other than IPv4 and IPv6.
int signet_curl_sockaddr_describe(const struct curl_sockaddr *address, char *text, size_t size);
/// Copies `length` bytes as the request body (CURLOPT_POSTFIELDSIZE_LARGE + CURLOPT_COPYPOSTFIELDS).
CURLcode signet_curl_easy_set_body(CURL *handle, const void *bytes, int64_t length);
/// Limits a transfer to http and https, and its redirects to https alone unless
/// `plain_redirects` (CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR on 7.85+, the
/// bitmask options before that).
CURLcode signet_curl_easy_restrict_protocols_to_http(CURL *handle, int plain_redirects);

// MARK: easy handle information

CURLcode signet_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode signet_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, int64_t *value);
CURLcode signet_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);
CURLcode signet_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value);

// MARK: multi and share handles

CURLMcode signet_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value);
CURLSHcode signet_curl_share_setopt_lock_data(CURLSH *handle, curl_lock_data data);

/// The result code of a finished transfer reported by curl_multi_info_read (a union member in C).
CURLcode signet_curl_msg_result(const CURLMsg *message);

/// True when the linked libcurl (not only the headers) supports HTTP/2.
int signet_curl_runtime_supports_http2(void);

#ifdef __cplusplus
}
#endif

#endif
