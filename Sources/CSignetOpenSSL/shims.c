#include "CSignetOpenSSL.h"
