/* spo — the proxy port: connect() opens a CONNECT tunnel through an HTTP proxy; the rest is the
 * lower port's. See include/spo/proxy.h. */
#include "spo/proxy.h"

#include <mbedtls/platform_util.h>
#include <string.h>

/* ------------------------------------------------------------------ the request */

typedef struct buf {
    char *p;
    size_t cap, len;
    int over;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->over || n > b->cap - b->len) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_u(buf *b, unsigned v)
{
    char tmp[8];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(b, tmp + i, sizeof tmp - i);
}

/* "host:port", with brackets around an IPv6 literal (RFC 9110's authority-form) */
static void put_authority(buf *b, const char *host, uint16_t port)
{
    int v6 = strchr(host, ':') != NULL;
    if (v6)
        puts_(b, "[");
    puts_(b, host);
    puts_(b, v6 ? "]:" : ":");
    put_u(b, port);
}

/* ------------------------------------------------------------------ the answer */

/* A bounded scanner of the proxy's answer: the status line is checked as it arrives ("HTTP/1.x NNN")
 * and only the reason phrase is kept; header lines are skipped unread up to the empty line. */
typedef struct scan {
    size_t total;   /* bytes of the answer so far */
    size_t col;     /* bytes in the current line, CR excluded */
    int line;       /* 0 = status line */
    int cr;         /* the previous byte was CR */
    int status;
    size_t reason_len;
} scan;

enum { SCAN_MORE = 1, SCAN_DONE = 2 };

static int scan_byte(spo_proxy *p, scan *s, uint8_t ch)
{
    static const char prefix[] = "HTTP/1.";
    if (++s->total > SPO_PROXY_ANSWER_MAX)
        return SPO_E_PROXY_TOO_BIG;
    if (s->cr) {
        if (ch != '\n')
            return SPO_E_PROXY_ANSWER;
        s->cr = 0;
        if (s->line == 0 && s->col < sizeof prefix + 4)
            return SPO_E_PROXY_ANSWER; /* "HTTP/1.x NNN" is the least a status line holds */
        if (s->line > 0 && s->col == 0)
            return SCAN_DONE;
        s->line++;
        s->col = 0;
        return SCAN_MORE;
    }
    if (ch == '\r') {
        s->cr = 1;
        return SCAN_MORE;
    }
    if (ch == '\n' || ch == '\0')
        return SPO_E_PROXY_ANSWER;
    size_t i = s->col++;
    if (s->line == 0) {
        if (i < sizeof prefix - 1) {
            if (ch != (uint8_t)prefix[i])
                return SPO_E_PROXY_ANSWER;
        } else if (i == sizeof prefix - 1) {
            if (ch != '0' && ch != '1')
                return SPO_E_PROXY_ANSWER;
        } else if (i == sizeof prefix || i == sizeof prefix + 4) { /* around the status code */
            if (ch != ' ')
                return SPO_E_PROXY_ANSWER;
        } else if (i <= sizeof prefix + 3) {
            if (ch < '0' || ch > '9' || (i == sizeof prefix + 1 && ch == '0'))
                return SPO_E_PROXY_ANSWER;
            s->status = s->status * 10 + (ch - '0');
        } else if (s->reason_len + 1 < sizeof p->reason) {
            /* kept for messages: printable ASCII only, so a hostile proxy cannot drive the terminal */
            char c = '?';
            if (ch >= 0x20 && ch < 0x7f)
                c = (char)ch;
            p->reason[s->reason_len++] = c;
            p->reason[s->reason_len] = '\0';
        }
    }
    return SCAN_MORE;
}

/* ------------------------------------------------------------------ the tunnel */

/* CONNECT line, Host and Proxy-Authorization, each with its host:port at most */
#define REQ_MAX (2 * (SPO_PROXY_HOST_MAX + 8) + SPO_PROXY_AUTH_B64 + 96)

static int send_all(const spo_port *l, spo_conn_handle c, const uint8_t *b, size_t n,
                    uint32_t timeout_ms)
{
    while (n > 0) {
        int k = l->send(l->ctx, c, b, n, timeout_ms);
        if (k <= 0)
            return k == SPO_E_NET_CLOSED ? SPO_E_PROXY_CLOSED : k < 0 ? k : SPO_E_NET_IO;
        b += k;
        n -= (size_t)k;
    }
    return SPO_OK;
}

static int send_connect(spo_proxy *p, spo_conn_handle c, const char *host, uint16_t port,
                        uint32_t timeout_ms)
{
    char req[REQ_MAX];
    buf b = { req, sizeof req, 0, 0 };
    puts_(&b, "CONNECT ");
    put_authority(&b, host, port);
    puts_(&b, " HTTP/1.1\r\nHost: ");
    put_authority(&b, host, port);
    puts_(&b, "\r\n");
    if (p->url.has_auth) {
        puts_(&b, "Proxy-Authorization: Basic ");
        puts_(&b, p->url.auth);
        puts_(&b, "\r\n");
    }
    puts_(&b, "\r\n");
    int rc = b.over ? SPO_E_INTERNAL /* REQ_MAX holds the longest */
                    : send_all(p->lower, c, (const uint8_t *)req, b.len, timeout_ms);
    mbedtls_platform_zeroize(req, sizeof req); /* it held the credentials */
    return rc;
}

/* Read the proxy's answer. On a 2xx, what followed it in the same read is the tunnel's first bytes
 * (the server's TLS): kept in p->rx for px_recv. A refusal's body is never read. */
static int read_answer(spo_proxy *p, spo_conn_handle c, uint32_t timeout_ms)
{
    const spo_port *l = p->lower;
    scan s;
    memset(&s, 0, sizeof s);
    uint64_t deadline = l->monotonic_ms(l->ctx) + timeout_ms;
    for (;;) {
        uint64_t now = l->monotonic_ms(l->ctx);
        if (now >= deadline)
            return SPO_E_NET_TIMEOUT;
        int n = l->recv(l->ctx, c, p->rx, sizeof p->rx, (uint32_t)(deadline - now));
        if (n == 0 || n == SPO_E_NET_CLOSED)
            return SPO_E_PROXY_CLOSED;
        if (n < 0)
            return n;
        if ((size_t)n > sizeof p->rx)
            return SPO_E_INTERNAL; /* the port broke its contract */
        for (size_t i = 0; i < (size_t)n; i++) {
            int rc = scan_byte(p, &s, p->rx[i]);
            if (rc == SCAN_MORE)
                continue;
            if (rc < 0)
                return rc;
            p->status = s.status;
            /* 401 too: tinyproxy 1.11 answers wrong credentials with it (missing ones with 407) */
            if (s.status == 407 || s.status == 401)
                return SPO_E_PROXY_AUTH;
            if (s.status < 200 || s.status > 299)
                return SPO_E_PROXY_REFUSED;
            p->rx_off = i + 1;
            p->rx_len = (size_t)n;
            p->rx_conn = c;
            return SPO_OK;
        }
    }
}

static void trace(spo_proxy *p, const char *host, uint16_t port, int status, uint64_t t0)
{
    if (p->trace) {
        uint64_t ms = p->lower->monotonic_ms(p->lower->ctx) - t0;
        p->trace(p->trace_ctx, host, port, p->url.host, p->url.port, status,
                 ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
    }
}

static int px_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                      spo_conn_handle *out)
{
    spo_proxy *p = ctx;
    const spo_port *l = p->lower;
    size_t hn = host ? strlen(host) : 0;
    if (hn == 0 || !out)
        return SPO_E_ARG;
    if (hn >= sizeof p->target)
        return SPO_E_TOO_LONG;
    memcpy(p->target, host, hn + 1);
    p->target_port = port;
    p->status = 0;
    p->reason[0] = '\0';
    p->in_connect = 0;
    uint64_t t0 = l->monotonic_ms(l->ctx);

    if (spo_proxy_bypass(p->no_proxy, host)) {
        trace(p, host, port, 0, t0);
        return l->connect(l->ctx, host, port, timeout_ms, out);
    }
    if (p->rx_off < p->rx_len)
        return SPO_E_INTERNAL; /* another tunnel's first bytes are still unread: one at a time */
    p->rx_off = p->rx_len = 0;

    p->in_connect = 1;
    spo_conn_handle c;
    int rc = l->connect(l->ctx, p->url.host, p->url.port, timeout_ms, &c);
    if (rc != SPO_OK) {
        rc = SPO_E_PROXY_CONNECT;
    } else {
        rc = send_connect(p, c, host, port, timeout_ms);
        if (rc == SPO_OK)
            rc = read_answer(p, c, timeout_ms);
        if (rc != SPO_OK) {
            l->close(l->ctx, c);
            p->rx_off = p->rx_len = 0;
        }
    }
    if (rc == SPO_OK) {
        *out = c;
        p->in_connect = 0;
    }
    trace(p, host, port, rc == SPO_OK || rc == SPO_E_PROXY_AUTH || rc == SPO_E_PROXY_REFUSED
                             ? p->status : rc, t0);
    return rc;
}

static int px_send(void *ctx, spo_conn_handle c, const uint8_t *b, size_t len, uint32_t timeout_ms)
{
    const spo_proxy *p = ctx;
    return p->lower->send(p->lower->ctx, c, b, len, timeout_ms);
}

static int px_recv(void *ctx, spo_conn_handle c, uint8_t *b, size_t len, uint32_t timeout_ms)
{
    spo_proxy *p = ctx;
    if (p->rx_off < p->rx_len && c == p->rx_conn && len > 0) {
        size_t n = p->rx_len - p->rx_off;
        if (n > len)
            n = len;
        if (n > (size_t)INT32_MAX)
            n = (size_t)INT32_MAX;
        memcpy(b, p->rx + p->rx_off, n);
        p->rx_off += n;
        if (p->rx_off == p->rx_len)
            p->rx_off = p->rx_len = 0;
        return (int)n;
    }
    return p->lower->recv(p->lower->ctx, c, b, len, timeout_ms);
}

static void px_close(void *ctx, spo_conn_handle c)
{
    spo_proxy *p = ctx;
    if (c == p->rx_conn)
        p->rx_off = p->rx_len = 0;
    p->lower->close(p->lower->ctx, c);
}

/* The rest is the lower port's, unchanged. */
static uint64_t px_monotonic(void *ctx)
{
    const spo_proxy *p = ctx;
    return p->lower->monotonic_ms(p->lower->ctx);
}
static int64_t px_wall(void *ctx)
{
    const spo_proxy *p = ctx;
    return p->lower->wall_time(p->lower->ctx);
}
static void px_sleep(void *ctx, uint32_t ms)
{
    const spo_proxy *p = ctx;
    p->lower->sleep_ms(p->lower->ctx, ms);
}
static int px_entropy(void *ctx, uint8_t *b, size_t len)
{
    const spo_proxy *p = ctx;
    return p->lower->entropy(p->lower->ctx, b, len);
}
static int px_file_read(void *ctx, const char *path, uint64_t off, uint8_t *b, size_t len)
{
    const spo_proxy *p = ctx;
    return p->lower->file_read(p->lower->ctx, path, off, b, len);
}
static int px_store_read(void *ctx, const char *key, uint8_t *b, size_t cap)
{
    const spo_proxy *p = ctx;
    return p->lower->store_read(p->lower->ctx, key, b, cap);
}
static int px_store_write(void *ctx, const char *key, const uint8_t *d, size_t len)
{
    const spo_proxy *p = ctx;
    return p->lower->store_write(p->lower->ctx, key, d, len);
}
static int px_store_remove(void *ctx, const char *key)
{
    const spo_proxy *p = ctx;
    return p->lower->store_remove(p->lower->ctx, key);
}

int spo_proxy_init(spo_proxy *p, const spo_port *lower, const char *proxy_url, const char *no_proxy)
{
    if (!p)
        return SPO_E_ARG;
    memset(p, 0, sizeof *p);
    if (!lower || !lower->connect || !lower->send || !lower->recv || !lower->close ||
        !lower->monotonic_ms)
        return SPO_E_ARG;
    int rc = spo_proxy_url_parse(proxy_url, &p->url);
    if (rc != SPO_OK)
        return rc;
    p->no_proxy = no_proxy;
    p->lower = lower;
    p->port = *lower; /* optional functions stay NULL where the lower port has none */
    p->port.ctx = p;
    p->port.connect = px_connect;
    p->port.send = px_send;
    p->port.recv = px_recv;
    p->port.close = px_close;
    p->port.monotonic_ms = px_monotonic;
    p->port.wall_time = lower->wall_time ? px_wall : NULL;
    p->port.sleep_ms = lower->sleep_ms ? px_sleep : NULL;
    p->port.entropy = lower->entropy ? px_entropy : NULL;
    p->port.file_read = lower->file_read ? px_file_read : NULL;
    p->port.store_read = lower->store_read ? px_store_read : NULL;
    p->port.store_write = lower->store_write ? px_store_write : NULL;
    p->port.store_remove = lower->store_remove ? px_store_remove : NULL;
    return SPO_OK;
}

void spo_proxy_wipe(spo_proxy *p)
{
    if (p)
        mbedtls_platform_zeroize(p, sizeof *p);
}
