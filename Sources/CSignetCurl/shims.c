#include "CSignetCurl.h"

#include <arpa/inet.h>
#include <netinet/in.h>

CURLcode signet_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode signet_curl_easy_setopt_off_t(CURL *handle, CURLoption option, int64_t value) {
    return curl_easy_setopt(handle, option, (curl_off_t)value);
}

CURLcode signet_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode signet_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode signet_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode signet_curl_easy_setopt_share(CURL *handle, CURLSH *share) {
    return curl_easy_setopt(handle, CURLOPT_SHARE, share);
}

CURLcode signet_curl_easy_setopt_writefunction(CURL *handle, curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

CURLcode signet_curl_easy_setopt_headerfunction(CURL *handle, curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}

CURLcode signet_curl_easy_setopt_resolver_start(CURL *handle, curl_resolver_start_callback callback, void *data) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_RESOLVER_START_FUNCTION, callback);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_RESOLVER_START_DATA, data);
}

CURLcode signet_curl_easy_setopt_opensocket(CURL *handle, curl_opensocket_callback callback, void *data) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, callback);
    if (code != CURLE_OK) {
        return code;
    }
    code = curl_easy_setopt(handle, CURLOPT_OPENSOCKETDATA, data);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_FRESH_CONNECT, 1L);
}

int signet_curl_sockaddr_describe(const struct curl_sockaddr *address, char *text, size_t size) {
    // curl allocates room for the whole address behind `addr` (a struct sockaddr in the
    // declaration), `addrlen` bytes of it.
    const struct sockaddr *generic = &address->addr;
    if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)generic;
        if (inet_ntop(AF_INET, &v4->sin_addr, text, (socklen_t)size) == NULL) {
            return -1;
        }
        return ntohs(v4->sin_port);
    }
    if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)generic;
        if (inet_ntop(AF_INET6, &v6->sin6_addr, text, (socklen_t)size) == NULL) {
            return -1;
        }
        return ntohs(v6->sin6_port);
    }
    return -1;
}

CURLcode signet_curl_easy_set_body(CURL *handle, const void *bytes, int64_t length) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_COPYPOSTFIELDS, length > 0 ? bytes : "");
}

CURLcode signet_curl_easy_restrict_protocols_to_http(CURL *handle, int plain_redirects) {
#if LIBCURL_VERSION_NUM >= 0x075500
    CURLcode code = curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, plain_redirects ? "http,https" : "https");
#else
    CURLcode code = curl_easy_setopt(handle, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    if (code != CURLE_OK) {
        return code;
    }
    return curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS, plain_redirects ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS) : (long)CURLPROTO_HTTPS);
#endif
}

CURLcode signet_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode signet_curl_easy_getinfo_off_t(CURL *handle, CURLINFO info, int64_t *value) {
    curl_off_t result = 0;
    CURLcode code = curl_easy_getinfo(handle, info, &result);
    *value = (int64_t)result;
    return code;
}

CURLcode signet_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode signet_curl_easy_getinfo_string(CURL *handle, CURLINFO info, const char **value) {
    char *result = NULL;
    CURLcode code = curl_easy_getinfo(handle, info, &result);
    *value = result;
    return code;
}

CURLMcode signet_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

CURLSHcode signet_curl_share_setopt_lock_data(CURLSH *handle, curl_lock_data data) {
    return curl_share_setopt(handle, CURLSHOPT_SHARE, data);
}

CURLcode signet_curl_msg_result(const CURLMsg *message) {
    return message->data.result;
}

int signet_curl_runtime_supports_http2(void) {
    curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    return info != NULL && (info->features & CURL_VERSION_HTTP2) != 0;
}
