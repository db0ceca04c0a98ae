/* spo — the lwIP port (spo/port_lwip.h). Every socket is non-blocking and every wait goes through
 * lwip_poll (or lwip_select where poll is compiled out), so no call outlives its timeout; name
 * resolution with lwIP's DNS has lwIP's own timeout (DNS_MAX_RETRIES). */
#include "spo/port_lwip.h"

#include "lwip/opt.h"

#include "lwip/def.h"
#include "lwip/errno.h"
#include "lwip/inet.h"
#include "lwip/sockets.h"
#include "lwip/sys.h"
#if LWIP_DNS
#include "lwip/netdb.h"
#endif

#include <string.h>

#if !LWIP_SOCKET || NO_SYS
#error "the spo lwIP port needs LWIP_SOCKET 1 and NO_SYS 0"
#endif
#if !LWIP_SOCKET_POLL && !LWIP_SOCKET_SELECT
#error "the spo lwIP port needs LWIP_SOCKET_POLL or LWIP_SOCKET_SELECT"
#endif

#define WANT_READ 1
#define WANT_WRITE 2

/* sys_now() is 32 bits and wraps after 49.7 days; spo's deadlines need a clock that does not. */
static uint64_t now_ms(void)
{
    static uint32_t last, wraps;
    uint32_t now = sys_now();
    if (now < last)
        wraps++;
    last = now;
    return (uint64_t)wraps << 32 | now;
}

/* Wait until fd is readable/writable or the deadline passes: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, int want, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        uint64_t left = deadline - now;
        int ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
#if LWIP_SOCKET_POLL
        struct pollfd p = { .fd = fd, .events = (short)(want == WANT_READ ? POLLIN : POLLOUT) };
        int r = lwip_poll(&p, 1, ms);
#else
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
        int r = lwip_select(fd + 1, want == WANT_READ ? &set : NULL, want == WANT_WRITE ? &set : NULL,
                            NULL, &tv);
#endif
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* 1 connected, 0 timed out, -1 refused or failed. */
static int try_connect(int fd, const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
    if (lwip_connect(fd, sa, len) == 0)
        return 1;
    if (errno != EINPROGRESS && errno != EWOULDBLOCK)
        return -1;
    int w = wait_fd(fd, WANT_WRITE, deadline);
    if (w <= 0)
        return w;
    int err = 0;
    socklen_t elen = sizeof err;
    if (lwip_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
        return -1;
    return 1;
}

/* One address: open, connect, return SPO_OK with *out set, or a status (the socket closed). */
static int connect_addr(const struct sockaddr *sa, socklen_t len, uint64_t deadline,
                        spo_conn_handle *out)
{
    int fd = lwip_socket(sa->sa_family, SOCK_STREAM, IPPROTO_TCP);
    if (fd < 0)
        return SPO_E_NET_CONNECT;
    if (lwip_fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        lwip_close(fd);
        return SPO_E_NET_CONNECT;
    }
    int one = 1;
    lwip_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int c = try_connect(fd, sa, len, deadline);
    if (c == 1) {
        *out = fd;
        return SPO_OK;
    }
    lwip_close(fd);
    return c == 0 ? SPO_E_NET_TIMEOUT : SPO_E_NET_CONNECT;
}

/* A literal address into a sockaddr; 0 if text is not one. */
static int literal(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    if (lwip_inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = lwip_htons(port);
        *len = sizeof *v4;
        return 1;
    }
#if LWIP_IPV6
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (lwip_inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = lwip_htons(port);
        *len = sizeof *v6;
        return 1;
    }
#endif
    return 0;
}

static int lwip_port_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                             spo_conn_handle *out)
{
    const spo_lwip_app *app = ctx;
    uint64_t deadline = now_ms() + timeout_ms;
    struct sockaddr_storage ss;
    socklen_t len;
    if (literal(host, port, &ss, &len))
        return connect_addr((struct sockaddr *)&ss, len, deadline, out);
    if (app->resolve) {
        char ip[48];
        if (app->resolve(app->ctx, host, ip, sizeof ip) != SPO_OK || !literal(ip, port, &ss, &len))
            return SPO_E_NET_CONNECT;
        return connect_addr((struct sockaddr *)&ss, len, deadline, out);
    }
#if LWIP_DNS
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[6];
    size_t i = sizeof service;
    service[--i] = '\0';
    uint16_t p = port;
    do {
        service[--i] = (char)('0' + p % 10);
        p /= 10;
    } while (p);
    if (lwip_getaddrinfo(host, service + i, &hints, &res) != 0 || !res)
        return SPO_E_NET_CONNECT;
    int rc = SPO_E_NET_CONNECT;
    for (struct addrinfo *ai = res; ai && rc != SPO_OK && rc != SPO_E_NET_TIMEOUT; ai = ai->ai_next)
        rc = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline, out);
    lwip_freeaddrinfo(res);
    return rc;
#else
    return SPO_E_NET_CONNECT; /* a name, no DNS in lwIP, no resolve hook */
#endif
}

static int lwip_port_send(void *ctx, spo_conn_handle c, const uint8_t *buf, size_t len,
                          uint32_t timeout_ms)
{
    (void)ctx;
    int fd = (int)c;
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = lwip_send(fd, buf, len > 0x7fffffff ? 0x7fffffff : len, 0);
        if (n > 0)
            return (int)n;
        if (n < 0 && errno != EWOULDBLOCK && errno != EAGAIN && errno != EINTR)
            return errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN ? SPO_E_NET_CLOSED
                                                                              : SPO_E_NET_IO;
        int w = wait_fd(fd, WANT_WRITE, deadline);
        if (w <= 0)
            return w == 0 ? SPO_E_NET_TIMEOUT : SPO_E_NET_IO;
    }
}

static int lwip_port_recv(void *ctx, spo_conn_handle c, uint8_t *buf, size_t len,
                          uint32_t timeout_ms)
{
    (void)ctx;
    int fd = (int)c;
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = lwip_recv(fd, buf, len > 0x7fffffff ? 0x7fffffff : len, 0);
        if (n >= 0)
            return (int)n;
        if (errno != EWOULDBLOCK && errno != EAGAIN && errno != EINTR)
            return errno == ECONNRESET || errno == ENOTCONN ? SPO_E_NET_CLOSED : SPO_E_NET_IO;
        int w = wait_fd(fd, WANT_READ, deadline);
        if (w <= 0)
            return w == 0 ? SPO_E_NET_TIMEOUT : SPO_E_NET_IO;
    }
}

static void lwip_port_close(void *ctx, spo_conn_handle c)
{
    (void)ctx;
    lwip_close((int)c);
}

static uint64_t lwip_port_monotonic_ms(void *ctx)
{
    (void)ctx;
    return now_ms();
}

static int64_t lwip_port_wall_time(void *ctx)
{
    const spo_lwip_app *app = ctx;
    return app->wall_time(app->ctx);
}

static void lwip_port_sleep_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    sys_msleep(ms);
}

static int lwip_port_entropy(void *ctx, uint8_t *buf, size_t len)
{
    const spo_lwip_app *app = ctx;
    return app->entropy(app->ctx, buf, len) == SPO_OK ? SPO_OK : SPO_E_ENTROPY;
}

static int lwip_port_file_read(void *ctx, const char *path, uint64_t offset, uint8_t *buf,
                               size_t len)
{
    const spo_lwip_app *app = ctx;
    return app->file_read(app->ctx, path, offset, buf, len);
}

int spo_port_lwip(spo_port *port, const spo_lwip_app *app)
{
    if (!port || !app || !app->entropy || !app->wall_time)
        return SPO_E_ARG;
    *port = (spo_port){
        .ctx = (void *)(uintptr_t)app,
        .connect = lwip_port_connect,
        .send = lwip_port_send,
        .recv = lwip_port_recv,
        .close = lwip_port_close,
        .monotonic_ms = lwip_port_monotonic_ms,
        .wall_time = lwip_port_wall_time,
        .sleep_ms = lwip_port_sleep_ms,
        .entropy = lwip_port_entropy,
        .file_read = app->file_read ? lwip_port_file_read : NULL,
    };
    return SPO_OK;
}
