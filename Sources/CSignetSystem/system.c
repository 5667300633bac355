#define _GNU_SOURCE
#include <sys/socket.h>
#include "CSignetSystem.h"

int signet_accept(int fd, struct sockaddr_storage *address, socklen_t *length) {
    return accept4(fd, (struct sockaddr *)address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

#include <sched.h>
#include <sys/mman.h>

int signet_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}

int signet_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

#include <sys/prctl.h>

int signet_name_current_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
