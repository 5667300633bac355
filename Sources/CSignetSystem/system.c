#define _GNU_SOURCE
#include <sys/socket.h>
#include "CSignetSystem.h"

int signet_accept(int fd, struct sockaddr_storage *address, socklen_t *length) {
    return accept4(fd, (struct sockaddr *)address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
