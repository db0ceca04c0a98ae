/* spo — one keep-alive HTTP/1.1 connection: write a request, parse the answer, decide on reuse.
 *
 * The request is streamed through tx and flushed whenever it fills, so no header or target has to
 * fit the buffer; a body in the caller's memory is sent straight from there when it does not fit
 * what is left (one record instead of many), and a streamed body (body_fn) is produced into tx.
 * One request is in flight at a time: anything the server sends after its answer was not asked
 * for, so it is dropped with the connection. */
#include "spo/http.h"

#include <string.h>

/* Volatile stores cannot be removed as dead, unlike a memset before the buffer goes out of use. */
static void wipe(void *buf, size_t n)
{
    volatile uint8_t *v = buf;
    while (n--)
        *v++ = 0;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int ieq(const char *a, const char *b)
{
    while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

int spo_http_span_ieq(spo_span s, const char *z)
{
    size_t i = 0;
    for (; i < s.len && z[i]; i++)
        if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)z[i]))
            return 0;
    return i == s.len && z[i] == '\0';
}

static int is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if (!memchr(extra, c, sizeof extra - 1))
            return 0;
    }
    return 1;
}

/* A value may hold SP, HTAB, VCHAR and obs-text; a CR or LF would let it start a header of its
 * own. */
static int is_field_value(spo_span v)
{
    if (!v.ptr && v.len)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int is_printable(spo_span s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.ptr[i] <= ' ' || (unsigned char)s.ptr[i] >= 0x7f)
            return 0;
    return s.len > 0;
}

static int caller_has(const spo_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (ieq(req->headers[i].name, name))
            return 1;
    return 0;
}

static int validate(const spo_http_conn *c, const spo_http_request *req)
{
    static const char *const reserved[] = { "Host", "Content-Length", "Transfer-Encoding",
                                            "Connection" };
    const spo_url *u = req->url;
    if (!c->tr.connect || !c->tr.send || !c->tr.recv || !is_token(req->method))
        return SPO_E_ARG;
    if (!u->host.ptr || !is_printable(u->host) || u->host.len >= SPO_HTTP_HOST_MAX ||
        !u->target.ptr || !is_printable(u->target) || u->port == 0)
        return SPO_E_ARG;
    if ((req->nheaders && !req->headers) || (req->body_len && !req->body && !req->body_fn) ||
        (req->body && req->body_fn))
        return SPO_E_ARG;
    if (c->user_agent && !is_field_value((spo_span){ c->user_agent, strlen(c->user_agent) }))
        return SPO_E_ARG;
    for (size_t i = 0; i < req->nheaders; i++) {
        const spo_http_header *h = &req->headers[i];
        if (!is_token(h->name) || !is_field_value(h->value))
            return SPO_E_ARG;
        for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
            if (ieq(h->name, reserved[r]))
                return SPO_E_ARG;
    }
    return SPO_OK;
}

/* ------------------------------------------------------------------ request writer */

typedef struct writer {
    spo_http_conn *c;
    size_t n;
    int err;
} writer;

static void flush(writer *w)
{
    if (!w->err && w->n) {
        int rc = w->c->tr.send(w->c->tr.ctx, w->c->tx, w->n);
        if (rc < 0)
            w->err = rc;
    }
    w->n = 0;
}

static void put(writer *w, const void *src, size_t len)
{
    const uint8_t *s = src;
    while (len && !w->err) {
        if (w->n == sizeof w->c->tx)
            flush(w);
        size_t k = sizeof w->c->tx - w->n;
        if (k > len)
            k = len;
        memcpy(w->c->tx + w->n, s, k);
        w->n += k;
        s += k;
        len -= k;
    }
}

static void put_str(writer *w, const char *z)
{
    put(w, z, strlen(z));
}

static void put_dec(writer *w, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, d + i, sizeof d - i);
}

/* *src_failed tells run() that an error came from the caller's body source, not the network. */
static int send_request(spo_http_conn *c, const spo_http_request *req, int *src_failed)
{
    writer w = { c, 0, 0 };
    const spo_url *u = req->url;
    int ipv6 = memchr(u->host.ptr, ':', u->host.len) != NULL;

    put_str(&w, req->method);
    put(&w, " ", 1);
    put(&w, u->target.ptr, u->target.len);
    put_str(&w, " HTTP/1.1\r\nHost: ");
    if (ipv6)
        put(&w, "[", 1);
    put(&w, u->host.ptr, u->host.len);
    if (ipv6)
        put(&w, "]", 1);
    if (u->port != 443) {
        put(&w, ":", 1);
        put_dec(&w, u->port);
    }
    if (!caller_has(req, "User-Agent")) {
        put_str(&w, "\r\nUser-Agent: ");
        put_str(&w, c->user_agent && *c->user_agent ? c->user_agent : "spo");
    }
    if (!caller_has(req, "Accept"))
        put_str(&w, "\r\nAccept: application/json");
    for (size_t i = 0; i < req->nheaders; i++) {
        put_str(&w, "\r\n");
        put_str(&w, req->headers[i].name);
        put_str(&w, ": ");
        put(&w, req->headers[i].value.ptr, req->headers[i].value.len);
    }
    if (req->body_len || ieq(req->method, "POST") || ieq(req->method, "PUT") ||
        ieq(req->method, "PATCH")) {
        put_str(&w, "\r\nContent-Length: ");
        put_dec(&w, req->body_len);
    }
    put_str(&w, "\r\n\r\n");

    if (req->body_fn) {
        /* Streamed: the source fills the rest of tx, which is flushed whenever it is full. */
        size_t left = req->body_len;
        while (left && !w.err) {
            if (w.n == sizeof c->tx)
                flush(&w);
            if (w.err)
                break;
            size_t room = sizeof c->tx - w.n;
            if (room > left)
                room = left;
            int n = req->body_fn(req->body_ctx, c->tx + w.n, room);
            if (n <= 0 || (size_t)n > room) {
                /* 0 early is a short source: the server would wait for the rest for ever. */
                w.err = n < 0 ? n : SPO_E_ARG;
                *src_failed = 1;
            } else {
                w.n += (size_t)n;
                left -= (size_t)n;
            }
        }
        flush(&w);
    } else if (req->body_len <= sizeof c->tx - w.n) {
        put(&w, req->body, req->body_len);
        flush(&w);
    } else {
        flush(&w);
        if (!w.err) {
            int rc = c->tr.send(c->tr.ctx, req->body, req->body_len);
            if (rc < 0)
                w.err = rc;
        }
    }
    wipe(c->tx, sizeof c->tx);
    return w.err;
}

/* ------------------------------------------------------------------ exchange */

static uint64_t now(const spo_http_conn *c)
{
    return c->now_ms ? c->now_ms(c->now_ctx) : 0;
}

static int open_to(spo_http_conn *c, spo_span host, uint16_t port)
{
    memcpy(c->host, host.ptr, host.len); /* host.len < SPO_HTTP_HOST_MAX: validated */
    c->host[host.len] = '\0';
    c->port = port;
    int rc = c->tr.connect(c->tr.ctx, c->host, port);
    if (rc < 0)
        return rc; /* host stays: it names the server in the error; connected decides reuse */
    c->connected = 1;
    c->reused = 0;
    return SPO_OK;
}

/* Reads until the parser has the whole answer. *got_any tells the caller whether a stale
 * connection can still be the explanation for a failure. */
static int read_response(spo_http_conn *c, const spo_http_request *req,
                         const spo_http_callbacks *cb, int *got_any)
{
    spo_http_parser *p = &c->parser;
    spo_http_parser_init(p, cb, ieq(req->method, "HEAD") ? SPO_HTTP_REQ_HEAD : 0);
    c->leftover = 0;
    *got_any = 0;
    for (;;) {
        int n = c->tr.recv(c->tr.ctx, c->rx, sizeof c->rx);
        if (n < 0)
            return n;
        if (n == 0) {
            int rc = spo_http_parser_eof(p);
            return rc < 0 ? rc : p->status;
        }
        if ((size_t)n > sizeof c->rx)
            return SPO_E_INTERNAL; /* the transport overran our buffer */
        *got_any = 1;
        c->rx_len = (size_t)n;
        long used = spo_http_parser_feed(p, c->rx, c->rx_len);
        if (p->err)
            return p->err > 0 ? SPO_E_ABORTED : p->err;
        if (p->done) {
            c->rx_off = (size_t)used;
            c->leftover = c->rx_off < c->rx_len;
            return p->status;
        }
    }
}

static int run(spo_http_conn *c, const spo_http_request *req, const spo_http_callbacks *cb)
{
    const spo_url *u = req->url;
    int rc;
    if (c->connected && !(c->port == u->port && spo_http_span_ieq(u->host, c->host)))
        spo_http_conn_close(c);
    if (!c->connected && (rc = open_to(c, u->host, u->port)) < 0)
        return rc;

    for (int attempt = 0;; attempt++) {
        int reused = c->reused, got_any = 0, src_failed = 0;
        rc = send_request(c, req, &src_failed);
        if (rc == SPO_OK)
            rc = read_response(c, req, cb, &got_any);
        if (rc >= 0)
            break;
        /* A server may drop an idle keep-alive connection just as we reuse it; the request never
         * reached it, so sending it again is safe. A timeout is different: the server may be busy
         * with the request, and a second copy could run it twice. */
        if (!reused || got_any || attempt > 0 || rc == SPO_E_NET_TIMEOUT || src_failed)
            return rc;
        if (req->body_fn && req->body_len && !req->body_rewind)
            return rc; /* the bytes already taken from the source cannot be had again */
        spo_http_conn_close(c);
        if (req->body_fn && req->body_len && (rc = req->body_rewind(req->body_ctx)) < 0)
            return rc;
        if ((rc = open_to(c, u->host, u->port)) < 0)
            return rc;
    }

    if (c->parser.keep_alive && !c->leftover)
        c->reused = 1;
    else
        spo_http_conn_close(c);
    return rc;
}

void spo_http_conn_init(spo_http_conn *c, const spo_http_transport *tr, const char *user_agent)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    if (tr)
        c->tr = *tr;
    c->user_agent = user_agent;
}

int spo_http_conn_exchange(spo_http_conn *c, const spo_http_request *req,
                           const spo_http_callbacks *cb)
{
    if (!c || !req || !req->url || !req->method)
        return SPO_E_ARG;
    uint64_t t0 = now(c);
    int rc = validate(c, req);
    if (rc == SPO_OK)
        rc = run(c, req, cb);
    if (rc < 0)
        spo_http_conn_close(c);
    /* The answer may have been a token: nothing of it stays behind. */
    wipe(c->rx, sizeof c->rx);
    wipe(c->parser.line, sizeof c->parser.line);
    c->rx_len = c->rx_off = 0;
    if (c->trace) {
        uint64_t ms = now(c) - t0;
        c->trace(c->trace_ctx, req->method, req->url, rc,
                 ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
    }
    return rc;
}

static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s == end || *s < '0' || *s > '9')
        return 0;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 1;
}

int spo_http_content_range(spo_span value, uint64_t *first, uint64_t *last, uint64_t *total)
{
    if (!value.ptr || !first || !last || !total)
        return SPO_E_HTTP_PARSE;
    const char *p = value.ptr, *end = value.ptr + value.len;
    uint64_t a, b, t = UINT64_MAX;
    if (value.len < 6 || !spo_http_span_ieq((spo_span){ p, 5 }, "bytes") || p[5] != ' ')
        return SPO_E_HTTP_PARSE;
    p += 6;
    if (!parse_u64(&p, end, &a) || p == end || *p++ != '-' || !parse_u64(&p, end, &b) ||
        p == end || *p++ != '/')
        return SPO_E_HTTP_PARSE;
    if (p < end && *p == '*' && p + 1 == end)
        p++;
    else if (!parse_u64(&p, end, &t) || t == UINT64_MAX)
        return SPO_E_HTTP_PARSE;
    if (p != end || a > b || b >= t)
        return SPO_E_HTTP_PARSE;
    *first = a;
    *last = b;
    *total = t;
    return SPO_OK;
}

void spo_http_conn_close(spo_http_conn *c)
{
    if (!c)
        return;
    if (c->connected && c->tr.close)
        c->tr.close(c->tr.ctx);
    c->connected = 0;
    c->reused = 0;
}
