/* spo — the POSIX port: sockets, clocks, entropy and files for Linux and other POSIX systems.
 *
 * Sockets are non-blocking and every wait goes through poll(), so no call can hang past its timeout
 * (except name resolution: getaddrinfo has no timeout). */
#include "spo/port.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_posix.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t posix_monotonic_ms(void *ctx)
{
    (void)ctx;
    return now_ms();
}

/* Wait for events on fd until the absolute deadline; 1 ready, 0 timed out, -1 poll failed. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        uint64_t left = deadline - now;
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* 1 connected, 0 timed out, -1 refused or failed. */
static int try_connect(int fd, const struct addrinfo *ai, uint64_t deadline)
{
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 1;
    if (errno != EINPROGRESS && errno != EINTR)
        return -1;
    int w = wait_fd(fd, POLLOUT, deadline);
    if (w <= 0)
        return w;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return -1;
    return 1;
}

static int posix_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                         spo_conn_handle *out)
{
    (void)ctx;
    if (!host || !out || host[0] == '\0')
        return SPO_E_ARG;
    uint64_t deadline = now_ms() + timeout_ms;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    /* No AI_ADDRCONFIG: it hides ::1 on hosts whose only IPv6 address is loopback, and every
     * address is tried anyway. */
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return SPO_E_NET_CONNECT;
    int status = SPO_E_NET_CONNECT;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0)
            continue;
        int r = try_connect(fd, ai, deadline);
        if (r == 1) {
            /* spo writes whole requests and then waits: Nagle would only add delayed-ACK stalls. */
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            freeaddrinfo(res);
            *out = fd;
            return SPO_OK;
        }
        close(fd);
        if (r == 0) {
            status = SPO_E_NET_TIMEOUT;
            break;
        }
    }
    freeaddrinfo(res);
    return status;
}

static int posix_send(void *ctx, spo_conn_handle c, const uint8_t *buf, size_t len,
                      uint32_t timeout_ms)
{
    (void)ctx;
    if (!buf || len == 0)
        return SPO_E_ARG;
    if (len > INT_MAX)
        len = INT_MAX;
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = send((int)c, buf, len, MSG_NOSIGNAL);
        if (n > 0)
            return (int)n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return (errno == EPIPE || errno == ECONNRESET) ? SPO_E_NET_CLOSED : SPO_E_NET_IO;
        int w = wait_fd((int)c, POLLOUT, deadline);
        if (w <= 0)
            return w == 0 ? SPO_E_NET_TIMEOUT : SPO_E_NET_IO;
    }
}

static int posix_recv(void *ctx, spo_conn_handle c, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    (void)ctx;
    if (!buf || len == 0)
        return SPO_E_ARG;
    if (len > INT_MAX)
        len = INT_MAX;
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = recv((int)c, buf, len, 0);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == ECONNRESET ? SPO_E_NET_CLOSED : SPO_E_NET_IO;
        int w = wait_fd((int)c, POLLIN, deadline);
        if (w <= 0)
            return w == 0 ? SPO_E_NET_TIMEOUT : SPO_E_NET_IO;
    }
}

static void posix_close(void *ctx, spo_conn_handle c)
{
    (void)ctx;
    if (c >= 0)
        close((int)c); /* not retried on EINTR: on Linux the descriptor is gone either way */
}

static int64_t posix_wall_time(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static void posix_sleep_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    struct timespec req = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L };
    struct timespec rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}

static int urandom(uint8_t *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SPO_E_ENTROPY;
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return SPO_E_ENTROPY;
        }
        buf += n;
        len -= (size_t)n;
    }
    close(fd);
    return SPO_OK;
}

static int posix_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!buf && len)
        return SPO_E_ARG;
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) /* ENOSYS on old kernels, or blocked by a seccomp policy */
            return urandom(buf, len);
        buf += n;
        len -= (size_t)n;
    }
    return SPO_OK;
}

static int posix_file_read(void *ctx, const char *path, uint64_t offset, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!path || (!buf && len) || offset > (uint64_t)(sizeof(off_t) >= 8 ? INT64_MAX : INT32_MAX))
        return SPO_E_ARG;
    if (len > INT_MAX)
        len = INT_MAX;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SPO_E_ARG;
    ssize_t n;
    do
        n = pread(fd, buf, len, (off_t)offset);
    while (n < 0 && errno == EINTR);
    close(fd);
    return n < 0 ? SPO_E_ARG : (int)n;
}

static int posix_file_stat(void *ctx, const char *path, uint64_t *size, int64_t *mtime_ns)
{
    (void)ctx;
    struct stat st;
    if (!path || !size || !mtime_ns || stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        return SPO_E_ARG;
    *size = (uint64_t)st.st_size;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + (int64_t)st.st_mtim.tv_nsec;
    return SPO_OK;
}

const spo_port *spo_port_posix(void)
{
    static const spo_port port = {
        .ctx = NULL,
        .connect = posix_connect,
        .send = posix_send,
        .recv = posix_recv,
        .close = posix_close,
        .monotonic_ms = posix_monotonic_ms,
        .wall_time = posix_wall_time,
        .sleep_ms = posix_sleep_ms,
        .entropy = posix_entropy,
        .file_read = posix_file_read,
        .store_read = posix_store_read,
        .store_write = posix_store_write,
        .store_remove = posix_store_remove,
        .file_stat = posix_file_stat,
    };
    return &port;
}
