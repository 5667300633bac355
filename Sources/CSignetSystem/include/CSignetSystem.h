#ifndef C_SIGNET_SYSTEM_H
#define C_SIGNET_SYSTEM_H
/* Linux event notification (epoll(7), eventfd(2)) and socket options that Glibc's Swift module does not expose. */
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>

/* epoll_event is packed on x86-64; these keep Swift away from its layout. */
static inline int signet_epoll_add(int epfd, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev; ev.events = events; ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
static inline int signet_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev; ev.events = events; ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}
static inline int signet_epoll_remove(int epfd, int fd) {
    struct epoll_event ev = {0};
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}
/* Waits for up to `capacity` events and copies them out as parallel arrays of tokens and event bits. */
static inline int signet_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms) {
    struct epoll_event buffer[256];
    if (capacity > 256) capacity = 256;
    int n = epoll_wait(epfd, buffer, capacity, timeout_ms);
    for (int i = 0; i < n; i++) { tokens[i] = buffer[i].data.u64; events[i] = buffer[i].events; }
    return n;
}
static inline int signet_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int signet_eventfd_create(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC (a GNU extension, so defined in system.c). */
int signet_accept(int fd, struct sockaddr_storage *address, socklen_t *length);
/* The CPUs this process may run on (sched_getaffinity(2), CPU_COUNT), or -1 when it cannot be read
   (among others on a machine of more than 1024 possible CPUs, for which a cpu_set_t is too small). */
int signet_affinity_cpu_count(void);
/* memfd_create(2) with MFD_CLOEXEC: a file that lives in memory only, gone when the last descriptor
   to it closes (a GNU extension, so defined in system.c). */
int signet_memfd_create(const char *name);
/* Names the calling thread as `ps -L`, `top -H`, perf and gdb show it (prctl(2) PR_SET_NAME: at most
   15 bytes kept). A thread otherwise carries the name of the thread that created it. */
int signet_name_current_thread(const char *name);
static inline int signet_set_nodelay(int fd) {
    int one = 1; return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
static const uint32_t signet_epoll_in = EPOLLIN;
static const uint32_t signet_epoll_out = EPOLLOUT;
static const uint32_t signet_epoll_err = EPOLLERR;
static const uint32_t signet_epoll_hup = EPOLLHUP;
static const uint32_t signet_epoll_rdhup = EPOLLRDHUP;
#endif
