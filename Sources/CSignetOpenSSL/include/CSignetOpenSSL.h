#ifndef C_SIGNET_OPENSSL_H
#define C_SIGNET_OPENSSL_H
#include "../../COpenSSL/shim.h"
#endif
