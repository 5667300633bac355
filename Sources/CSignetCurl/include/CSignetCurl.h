#ifndef C_SIGNET_CURL_H
#define C_SIGNET_CURL_H
#include <curl/curl.h>
#endif
