#ifndef SIGNET_CCURL_SHIM_H
#define SIGNET_CCURL_SHIM_H
#include <curl/curl.h>
#endif
