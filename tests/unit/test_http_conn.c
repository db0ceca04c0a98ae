/* The connection: request bytes on the wire, keep-alive reuse, the stale-connection resend, and
 * error handling, over a scripted transport that serves each response in pieces of any size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spo/http.h"

/* ------------------------------------------------------------------ scripted transport */

#define MAX_CONNS 8
#define MAX_RESPS 4
#define SENT_MAX 32768

typedef struct script {
    const char *resp[MAX_RESPS]; /* the answer to the n-th request on this connection */
    int connect_rc;
    int send_rc[MAX_RESPS];      /* non-zero: sending the n-th request fails with it */
    int end_rc;                  /* recv once the answer is out: 0 (closed) or an error */
} script;

typedef struct fake {
    script conns[MAX_CONNS];
    size_t nconns;
    size_t chunk;       /* bytes per recv at most; 0 = whatever fits */
    int cur;            /* index of the open connection, -1 before the first */
    int open;
    int req;            /* requests seen on the open connection, minus one */
    int served;         /* recv ran since the last send: the next send starts a request */
    size_t off;
    int connects, closes, sends, recvs;
    size_t max_send;
    char host[SPO_HTTP_HOST_MAX];
    uint16_t port;
    char sent[MAX_CONNS][SENT_MAX];
    size_t sent_len[MAX_CONNS];
} fake;

static int ft_connect(void *ctx, const char *host, uint16_t port)
{
    fake *f = ctx;
    assert_false(f->open);
    assert_true((size_t)(f->cur + 1) < f->nconns);
    f->cur++;
    f->connects++;
    snprintf(f->host, sizeof f->host, "%s", host);
    f->port = port;
    if (f->conns[f->cur].connect_rc)
        return f->conns[f->cur].connect_rc;
    f->open = 1;
    f->req = -1;
    f->served = 1;
    return SPO_OK;
}

static int ft_send(void *ctx, const uint8_t *buf, size_t len)
{
    fake *f = ctx;
    assert_true(f->open);
    assert_true(len > 0);
    if (f->served) {
        f->req++;
        f->off = 0;
        f->served = 0;
    }
    f->sends++;
    if (len > f->max_send)
        f->max_send = len;
    assert_true(f->sent_len[f->cur] + len <= SENT_MAX);
    memcpy(f->sent[f->cur] + f->sent_len[f->cur], buf, len);
    f->sent_len[f->cur] += len;
    return f->req < MAX_RESPS && f->conns[f->cur].send_rc[f->req] ? f->conns[f->cur].send_rc[f->req]
                                                                   : SPO_OK;
}

static int ft_recv(void *ctx, uint8_t *buf, size_t len)
{
    fake *f = ctx;
    assert_true(f->open);
    assert_true(len > 0);
    f->recvs++;
    f->served = 1;
    const script *s = &f->conns[f->cur];
    const char *r = f->req >= 0 && f->req < MAX_RESPS ? s->resp[f->req] : NULL;
    size_t left = r ? strlen(r) - f->off : 0;
    if (left == 0)
        return s->end_rc;
    size_t n = left < len ? left : len;
    if (f->chunk && n > f->chunk)
        n = f->chunk;
    memcpy(buf, r + f->off, n);
    f->off += n;
    return (int)n;
}

static void ft_close(void *ctx)
{
    fake *f = ctx;
    assert_true(f->open);
    f->open = 0;
    f->closes++;
}

/* ------------------------------------------------------------------ fixture */

typedef struct trace_rec {
    int calls;
    char method[16];
    char host[SPO_HTTP_HOST_MAX];
    char target[4096];
    int status;
    uint32_t ms;
} trace_rec;

typedef struct body_rec {
    int status;
    char body[16384];
    size_t len;
    int abort_with;
} body_rec;

typedef struct fixture {
    fake f;
    spo_http_conn c;
    trace_rec tr;
    body_rec b;
    uint64_t clock;
    spo_url url;
} fixture;

static uint64_t fake_clock(void *ctx)
{
    fixture *x = ctx;
    x->clock += 5;
    return x->clock;
}

static void on_trace(void *ctx, const char *method, const spo_url *url, int status, uint32_t ms)
{
    spo_span host = url->host, target = url->target;
    trace_rec *t = ctx;
    t->calls++;
    snprintf(t->method, sizeof t->method, "%s", method);
    snprintf(t->host, sizeof t->host, "%.*s", (int)host.len, host.ptr);
    snprintf(t->target, sizeof t->target, "%.*s", (int)target.len, target.ptr);
    t->status = status;
    t->ms = ms;
}

static int on_status(void *ctx, int status, spo_span reason)
{
    (void)reason;
    ((body_rec *)ctx)->status = status;
    return 0;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    body_rec *b = ctx;
    assert_true(b->len + len <= sizeof b->body);
    memcpy(b->body + b->len, data, len);
    b->len += len;
    return b->abort_with;
}

static int setup(void **state)
{
    fixture *x = calloc(1, sizeof *x);
    assert_non_null(x);
    x->f.cur = -1;
    spo_http_transport tr = { &x->f, ft_connect, ft_send, ft_recv, ft_close };
    spo_http_conn_init(&x->c, &tr, "spo-test/1.0");
    x->c.now_ms = fake_clock;
    x->c.now_ctx = x;
    x->c.trace = on_trace;
    x->c.trace_ctx = &x->tr;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static script *add_conn(fixture *x)
{
    assert_true(x->f.nconns < MAX_CONNS);
    return &x->f.conns[x->f.nconns++];
}

/* One exchange; the url string must outlive the call. */
static int exchange(fixture *x, const char *method, const char *url, const spo_http_header *h,
                    size_t nh, const char *body, size_t body_len)
{
    assert_int_equal(spo_url_parse(url, strlen(url), &x->url), SPO_OK);
    spo_http_request req = { method, &x->url, h, nh, (const uint8_t *)body, body_len, NULL,
                             NULL, NULL };
    spo_http_callbacks cb = { &x->b, on_status, NULL, NULL, on_body };
    x->b.len = 0;
    x->b.status = 0;
    return spo_http_conn_exchange(&x->c, &req, &cb);
}

static void assert_sent(const fixture *x, int conn, const char *want)
{
    size_t n = strlen(want);
    if (x->f.sent_len[conn] != n || memcmp(x->f.sent[conn], want, n))
        fail_msg("connection %d sent:\n%.*s\nwanted:\n%s", conn, (int)x->f.sent_len[conn],
                 x->f.sent[conn], want);
}

static void assert_body(const fixture *x, const char *want)
{
    assert_int_equal(x->b.len, strlen(want));
    assert_memory_equal(x->b.body, want, x->b.len);
}

static void assert_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            fail_msg("byte %zu is %02x", i, p[i]);
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define GRAPH "https://graph.microsoft.com/v1.0/sites?search=x"

/* ------------------------------------------------------------------ tests */

static void get_request_bytes(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    spo_http_header h[] = { { "Authorization", SPO_SPAN_LIT("Bearer abc"), 1 },
                            { "ConsistencyLevel", SPO_SPAN_LIT("eventual"), 0 } };
    assert_int_equal(exchange(x, "GET", GRAPH, h, 2, NULL, 0), 200);
    assert_sent(x, 0,
                "GET /v1.0/sites?search=x HTTP/1.1\r\nHost: graph.microsoft.com\r\n"
                "User-Agent: spo-test/1.0\r\nAccept: application/json\r\n"
                "Authorization: Bearer abc\r\nConsistencyLevel: eventual\r\n\r\n");
    assert_body(x, "hello");
    assert_int_equal(x->b.status, 200);
    assert_string_equal(x->f.host, "graph.microsoft.com");
    assert_int_equal(x->f.port, 443);
    assert_true(x->c.connected);
    assert_int_equal(x->f.closes, 0);
    assert_int_equal(x->tr.calls, 1);
    assert_string_equal(x->tr.method, "GET");
    assert_string_equal(x->tr.host, "graph.microsoft.com");
    assert_string_equal(x->tr.target, "/v1.0/sites?search=x");
    assert_int_equal(x->tr.status, 200);
    assert_int_equal(x->tr.ms, 5);
}

static void secrets_wiped(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n"
                           "{\"access_token\":\"SECRET\"}";
    spo_http_header h[] = { { "Authorization", SPO_SPAN_LIT("Bearer SECRET"), 1 } };
    assert_int_equal(exchange(x, "POST", GRAPH, h, 1, "client_secret=SECRET", 20), 200);
    assert_all_zero(x->c.tx, sizeof x->c.tx);
    assert_all_zero(x->c.rx, sizeof x->c.rx);
    assert_all_zero((const uint8_t *)x->c.parser.line, sizeof x->c.parser.line);
}

static void keep_alive_reuse(void **state)
{
    fixture *x = *state;
    script *s = add_conn(x);
    s->resp[0] = OK_HELLO;
    s->resp[1] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    s->resp[2] = OK_HELLO;
    s->resp[3] = OK_HELLO; /* would answer if spo wrongly reused this connection for contoso */
    s = add_conn(x);
    s->resp[0] = OK_HELLO;
    s->resp[1] = OK_HELLO; /* likewise for the other port */
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(exchange(x, "GET", "https://GRAPH.microsoft.com:443/b", NULL, 0, NULL, 0),
                     200);
    assert_body(x, "abc");
    assert_int_equal(exchange(x, "GET", "https://graph.microsoft.com/c", NULL, 0, NULL, 0), 200);
    assert_int_equal(x->f.connects, 1);
    assert_int_equal(x->f.closes, 0);
    assert_non_null(strstr(x->f.sent[0], "GET /b HTTP/1.1\r\n"));
    assert_non_null(strstr(x->f.sent[0], "GET /c HTTP/1.1\r\n"));

    /* Another host, then another port: a new connection each time. */
    assert_int_equal(exchange(x, "GET", "https://contoso.sharepoint.com/", NULL, 0, NULL, 0), 200);
    assert_int_equal(x->f.connects, 2);
    assert_int_equal(x->f.closes, 1);
    assert_string_equal(x->f.host, "contoso.sharepoint.com");
    assert_int_equal(exchange(x, "GET", "https://contoso.sharepoint.com:8443/", NULL, 0, NULL, 0),
                     200);
    assert_int_equal(x->f.connects, 3);
    assert_int_equal(x->f.port, 8443);
    assert_sent(x, 2, "GET / HTTP/1.1\r\nHost: contoso.sharepoint.com:8443\r\n"
                      "User-Agent: spo-test/1.0\r\nAccept: application/json\r\n\r\n");
}

static void server_says_close(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
    add_conn(x)->resp[0] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_false(x->c.connected);
    assert_int_equal(x->f.closes, 1);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_false(x->c.connected); /* HTTP/1.0 without keep-alive */
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(x->f.connects, 3);
    assert_true(x->c.connected);
}

static void stale_connection_resent_once(void **state)
{
    fixture *x = *state;
    script *s = add_conn(x);
    s->resp[0] = OK_HELLO; /* then the server drops the idle connection: recv gives 0 */
    add_conn(x)->resp[0] = "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew";
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    static const char body[] = "{\"x\":1}";
    assert_int_equal(exchange(x, "POST", GRAPH, NULL, 0, body, sizeof body - 1), 201);
    assert_body(x, "new");
    assert_int_equal(x->f.connects, 2);
    assert_int_equal(x->tr.calls, 2);
    assert_int_equal(x->tr.status, 201);
    /* The same request went out again, whole, on the new connection. */
    static const char req[] = "POST /v1.0/sites?search=x HTTP/1.1\r\nHost: graph.microsoft.com\r\n"
                              "User-Agent: spo-test/1.0\r\nAccept: application/json\r\n"
                              "Content-Length: 7\r\n\r\n{\"x\":1}";
    assert_sent(x, 1, req);
    assert_non_null(strstr(x->f.sent[0], req));
}

static void stale_send_failure_resent(void **state)
{
    fixture *x = *state;
    script *s = add_conn(x);
    s->resp[0] = OK_HELLO;
    s->send_rc[1] = SPO_E_NET_CLOSED;
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(x->f.connects, 2);
}

static void stale_resend_only_once(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->end_rc = SPO_E_NET_CLOSED; /* the fresh connection fails too */
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_NET_CLOSED);
    assert_int_equal(x->f.connects, 2);
    assert_false(x->c.connected);
    assert_int_equal(x->tr.status, SPO_E_NET_CLOSED);
}

static void no_resend_when_not_stale(void **state)
{
    fixture *x = *state;
    /* A fresh connection that closes at once: nothing to blame on staleness. */
    add_conn(x);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_HTTP_TRUNCATED);
    assert_int_equal(x->f.connects, 1);
    assert_false(x->c.connected);

    /* A reused connection that answered in part: the server saw the request. */
    script *s = add_conn(x);
    s->resp[0] = OK_HELLO;
    s->resp[1] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe";
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_HTTP_TRUNCATED);
    assert_int_equal(x->f.connects, 2);

    /* A reused connection that times out: the server may be working on it. */
    s = add_conn(x);
    s->resp[0] = OK_HELLO;
    s->end_rc = SPO_E_NET_TIMEOUT;
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_NET_TIMEOUT);
    assert_int_equal(x->f.connects, 3);
}

static void big_header_through_small_buffer(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    char *tok = malloc(2100);
    assert_non_null(tok);
    memcpy(tok, "Bearer ", 7);
    for (size_t i = 7; i < 2100; i++)
        tok[i] = (char)('A' + i % 26);
    spo_http_header h[] = { { "Authorization", { tok, 2100 }, 1 } };
    assert_int_equal(exchange(x, "GET", GRAPH, h, 1, NULL, 0), 200);
    char *want = malloc(4096);
    assert_non_null(want);
    snprintf(want, 4096,
             "GET /v1.0/sites?search=x HTTP/1.1\r\nHost: graph.microsoft.com\r\n"
             "User-Agent: spo-test/1.0\r\nAccept: application/json\r\nAuthorization: %.*s\r\n\r\n",
             2100, tok);
    assert_sent(x, 0, want);
    assert_true(x->f.sends >= 3);
    assert_true(x->f.max_send <= SPO_HTTP_IO_BUF);
    assert_all_zero(x->c.tx, sizeof x->c.tx);
    free(want);
    free(tok);
}

static void long_url(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    char *url = malloc(SPO_URL_MAX);
    assert_non_null(url);
    size_t n = (size_t)sprintf(url, "https://graph.microsoft.com/v1.0/sites?$skiptoken=");
    for (; n < SPO_URL_MAX - 1; n++)
        url[n] = (char)('a' + n % 26);
    url[n] = '\0';
    assert_int_equal(exchange(x, "GET", url, NULL, 0, NULL, 0), 200);
    const char *target = url + strlen("https://graph.microsoft.com");
    assert_int_equal(memcmp(x->f.sent[0], "GET ", 4), 0);
    assert_int_equal(memcmp(x->f.sent[0] + 4, target, strlen(target)), 0);
    assert_int_equal(memcmp(x->f.sent[0] + 4 + strlen(target), " HTTP/1.1\r\n", 11), 0);
    assert_true(x->f.max_send <= SPO_HTTP_IO_BUF);
    assert_int_equal(strlen(x->tr.target), strlen(target));
    free(url);
}

static void invalid_requests_refused(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    static const spo_http_header bad[][1] = {
        { { "X-Evil", SPO_SPAN_LIT("a\r\nHost: evil.com"), 0 } },
        { { "X-Evil", SPO_SPAN_LIT("a\nb"), 0 } },
        { { "X-Evil", SPO_SPAN_LIT("a\rb"), 0 } },
        { { "X-Evil", { "a\0b", 3 }, 0 } },
        { { "X-Evil", SPO_SPAN_LIT("a\x7f"), 0 } },
        { { "X Evil", SPO_SPAN_LIT("a"), 0 } },
        { { "X-Evil:", SPO_SPAN_LIT("a"), 0 } },
        { { "", SPO_SPAN_LIT("a"), 0 } },
        { { NULL, SPO_SPAN_LIT("a"), 0 } },
        { { "X-Evil", { NULL, 3 }, 0 } },
        { { "content-length", SPO_SPAN_LIT("0"), 0 } },
        { { "Host", SPO_SPAN_LIT("evil.com"), 0 } },
        { { "Transfer-Encoding", SPO_SPAN_LIT("chunked"), 0 } },
        { { "Connection", SPO_SPAN_LIT("close"), 0 } },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = exchange(x, "GET", GRAPH, bad[i], 1, NULL, 0);
        if (rc != SPO_E_ARG)
            fail_msg("case %zu: rc %d", i, rc);
        assert_int_equal(x->tr.status, SPO_E_ARG);
    }
    assert_int_equal(exchange(x, "GE T", GRAPH, NULL, 0, NULL, 0), SPO_E_ARG);
    assert_int_equal(exchange(x, "", GRAPH, NULL, 0, NULL, 0), SPO_E_ARG);
    assert_int_equal(exchange(x, "POST", GRAPH, NULL, 0, NULL, 5), SPO_E_ARG); /* body NULL */
    assert_int_equal(x->f.connects, 0);
    assert_int_equal(x->f.sends, 0);
    assert_int_equal(spo_http_conn_exchange(NULL, NULL, NULL), SPO_E_ARG);
    assert_int_equal(spo_http_conn_exchange(&x->c, NULL, NULL), SPO_E_ARG);

    /* A tab is fine in a value, and so is an empty one. */
    spo_http_header ok[] = { { "X-Tab", SPO_SPAN_LIT("a\tb"), 0 }, { "X-Empty", { "", 0 }, 0 } };
    assert_int_equal(exchange(x, "GET", GRAPH, ok, 2, NULL, 0), 200);
    assert_non_null(strstr(x->f.sent[0], "\r\nX-Tab: a\tb\r\nX-Empty: \r\n\r\n"));
}

static void post_bodies(void **state)
{
    fixture *x = *state;
    script *s = add_conn(x);
    s->resp[0] = OK_HELLO;
    s->resp[1] = OK_HELLO;
    s->resp[2] = OK_HELLO;
    spo_http_header h[] = { { "Content-Type", SPO_SPAN_LIT("application/x-www-form-urlencoded"),
                              0 } };
    assert_int_equal(exchange(x, "POST", "https://login.microsoftonline.com/t/oauth2/v2.0/token",
                              h, 1, "grant_type=client_credentials", 29),
                     200);
    assert_sent(x, 0,
                "POST /t/oauth2/v2.0/token HTTP/1.1\r\nHost: login.microsoftonline.com\r\n"
                "User-Agent: spo-test/1.0\r\nAccept: application/json\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n"
                "grant_type=client_credentials");
    assert_int_equal(x->f.sends, 1); /* small requests leave in one piece */

    size_t before = x->f.sent_len[0];
    assert_int_equal(exchange(x, "POST", "https://login.microsoftonline.com/x", NULL, 0, NULL, 0),
                     200);
    assert_non_null(strstr(x->f.sent[0] + before, "\r\nContent-Length: 0\r\n\r\n"));

    /* A body larger than tx goes out whole after the head. */
    char *big = malloc(5000);
    assert_non_null(big);
    for (size_t i = 0; i < 5000; i++)
        big[i] = (char)('0' + i % 10);
    before = x->f.sent_len[0];
    assert_int_equal(exchange(x, "PUT", "https://login.microsoftonline.com/up", NULL, 0, big, 5000),
                     200);
    const char *sent = x->f.sent[0] + before;
    const char *end = strstr(sent, "\r\n\r\n");
    assert_non_null(end);
    assert_non_null(strstr(sent, "\r\nContent-Length: 5000\r\n\r\n"));
    assert_int_equal(x->f.sent_len[0] - (size_t)(end + 4 - x->f.sent[0]), 5000);
    assert_memory_equal(end + 4, big, 5000);
    free(big);
}

static void host_header_forms(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", "https://[2001:db8::1]:8443/x", NULL, 0, NULL, 0), 200);
    assert_string_equal(x->f.host, "2001:db8::1");
    assert_int_equal(x->f.port, 8443);
    assert_non_null(strstr(x->f.sent[0], "\r\nHost: [2001:db8::1]:8443\r\n"));
    assert_int_equal(exchange(x, "GET", "https://[::1]/", NULL, 0, NULL, 0), 200);
    assert_non_null(strstr(x->f.sent[1], "\r\nHost: [::1]\r\n"));
}

static void caller_overrides_defaults(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->resp[0] = OK_HELLO;
    spo_http_header h[] = { { "user-agent", SPO_SPAN_LIT("mine"), 0 },
                            { "Accept", SPO_SPAN_LIT("*/*"), 0 } };
    assert_int_equal(exchange(x, "GET", GRAPH, h, 2, NULL, 0), 200);
    assert_null(strstr(x->f.sent[0], "spo-test"));
    assert_null(strstr(x->f.sent[0], "application/json"));
    assert_non_null(strstr(x->f.sent[0], "\r\nuser-agent: mine\r\nAccept: */*\r\n\r\n"));

    /* No user agent given at all: "spo". */
    spo_http_transport tr = { &x->f, ft_connect, ft_send, ft_recv, ft_close };
    spo_http_conn_close(&x->c);
    spo_http_conn_init(&x->c, &tr, NULL);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_non_null(strstr(x->f.sent[1], "\r\nUser-Agent: spo\r\n"));
}

static void leftover_bytes_not_reused(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n";
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_body(x, "ok");
    assert_false(x->c.connected);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(x->f.connects, 2);
}

static void close_delimited_and_truncated(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it";
    add_conn(x)->resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
    script *s = add_conn(x);
    s->resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
    s->end_rc = SPO_E_NET_IO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_body(x, "all of it");
    assert_false(x->c.connected);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_HTTP_TRUNCATED);
    assert_false(x->c.connected);
    assert_int_equal(x->tr.status, SPO_E_HTTP_TRUNCATED);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_NET_IO);
    assert_false(x->c.connected);
    assert_int_equal(x->f.closes, 3);
}

static void any_recv_size(void **state)
{
    fixture *x = *state;
    static const char resp[] =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nrequest-id: 1\r\n\r\n"
        "1a;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n3\r\n123\r\n0\r\nTrailer: t\r\n\r\n";
    for (size_t chunk = 1; chunk <= sizeof resp; chunk++) {
        memset(&x->f, 0, sizeof x->f);
        x->f.cur = -1;
        x->f.chunk = chunk;
        add_conn(x)->resp[0] = resp;
        assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
        assert_body(x, "abcdefghijklmnopqrstuvwxyz123");
        assert_true(x->c.connected);
        spo_http_conn_close(&x->c);
    }
}

static void connect_failure(void **state)
{
    fixture *x = *state;
    add_conn(x)->connect_rc = SPO_E_NET_CONNECT;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_NET_CONNECT);
    assert_false(x->c.connected);
    assert_int_equal(x->f.sends, 0);
    assert_int_equal(x->tr.calls, 1);
    assert_int_equal(x->tr.status, SPO_E_NET_CONNECT);
}

static void head_request(void **state)
{
    fixture *x = *state;
    script *s = add_conn(x);
    s->resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    s->resp[1] = OK_HELLO;
    assert_int_equal(exchange(x, "HEAD", GRAPH, NULL, 0, NULL, 0), 200);
    assert_int_equal(x->b.len, 0);
    assert_true(x->c.connected);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    assert_body(x, "hello");
    assert_int_equal(x->f.connects, 1);
}

static void callback_and_parse_errors_close(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->resp[0] = "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n";
    add_conn(x)->resp[0] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    x->b.abort_with = SPO_E_JSON_SYNTAX;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_JSON_SYNTAX);
    assert_false(x->c.connected);
    x->b.abort_with = 1; /* positive: would look like a byte count, so it becomes SPO_E_ABORTED */
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_ABORTED);
    assert_false(x->c.connected);
    x->b.abort_with = 0;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_HTTP_PARSE);
    assert_false(x->c.connected);
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), SPO_E_HTTP_PARSE);
    assert_int_equal(x->f.closes, 4);
}

static void close_is_idempotent(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    assert_int_equal(exchange(x, "GET", GRAPH, NULL, 0, NULL, 0), 200);
    spo_http_conn_close(&x->c);
    spo_http_conn_close(&x->c);
    spo_http_conn_close(NULL);
    assert_int_equal(x->f.closes, 1);
    assert_false(x->c.connected);
}


/* ------------------------------------------------------------------ streamed bodies, redirects */

typedef struct src {
    size_t total, pos, step; /* produce total bytes, at most step per call (0 = as asked) */
    int fail_at_call, fail_rc, calls, rewinds, short_by;
} src;

static int src_fill(void *ctx, uint8_t *buf, size_t cap)
{
    src *s = ctx;
    s->calls++;
    if (s->fail_at_call && s->calls == s->fail_at_call)
        return s->fail_rc;
    size_t n = s->step && s->step < cap ? s->step : cap;
    if (s->pos + s->short_by >= s->total)
        return 0;
    if (n > s->total - s->pos)
        n = s->total - s->pos;
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)('a' + (s->pos + i) % 23);
    s->pos += n;
    return (int)n;
}

static int src_rewind(void *ctx)
{
    src *s = ctx;
    s->rewinds++;
    s->pos = 0;
    return SPO_OK;
}

static int stream(fixture *x, const char *method, const char *url, const spo_http_header *h,
                  size_t nh, src *s, int rewind)
{
    assert_int_equal(spo_url_parse(url, strlen(url), &x->url), SPO_OK);
    spo_http_request req = { method, &x->url, h, nh, NULL, s->total, src_fill,
                             rewind ? src_rewind : NULL, s };
    spo_http_callbacks cb = { &x->b, on_status, NULL, NULL, on_body };
    x->b.len = 0;
    return spo_http_conn_exchange(&x->c, &req, &cb);
}

static void assert_stream_body(const char *body, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)body[i] != (uint8_t)('a' + i % 23))
            fail_msg("body byte %zu is %02x", i, (uint8_t)body[i]);
}

#define UP "https://contoso.sharepoint.com/_api/v2.0/up?tempauth=x"

static void streamed_body(void **state)
{
    fixture *x = *state;
    script *sc = add_conn(x);
    sc->resp[0] = "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}";
    sc->resp[1] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    spo_http_header h[] = { { "Content-Range", SPO_SPAN_LIT("bytes 0-9999/20000"), 0 },
                            { "Content-Type", SPO_SPAN_LIT("application/octet-stream"), 0 } };
    src s = { 10000, 0, 7, 0, 0, 0, 0, 0 };
    assert_int_equal(stream(x, "PUT", UP, h, 2, &s, 0), 202);
    static const char head[] = "PUT /_api/v2.0/up?tempauth=x HTTP/1.1\r\n"
                               "Host: contoso.sharepoint.com\r\n"
                               "User-Agent: spo-test/1.0\r\nAccept: application/json\r\n"
                               "Content-Range: bytes 0-9999/20000\r\n"
                               "Content-Type: application/octet-stream\r\n"
                               "Content-Length: 10000\r\n\r\n";
    assert_int_equal(x->f.sent_len[0], strlen(head) + 10000);
    assert_memory_equal(x->f.sent[0], head, strlen(head));
    assert_stream_body(x->f.sent[0] + strlen(head), 10000);
    assert_null(strstr(x->f.sent[0], "Authorization")); /* the layer never adds one */
    assert_true(x->f.max_send <= SPO_HTTP_IO_BUF);
    assert_true(x->f.sends >= 10000 / SPO_HTTP_IO_BUF);
    assert_all_zero(x->c.tx, sizeof x->c.tx);

    /* A zero-length streamed body: Content-Length 0, the source is never asked. */
    size_t before = x->f.sent_len[0];
    src z = { 0, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(stream(x, "PUT", UP, NULL, 0, &z, 0), 201);
    assert_int_equal(z.calls, 0);
    assert_non_null(strstr(x->f.sent[0] + before, "\r\nContent-Length: 0\r\n\r\n"));
    assert_int_equal(x->f.connects, 1);
}

static void streamed_body_failures(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->resp[0] = OK_HELLO;
    /* The source fails: its status comes back unchanged and the connection is closed, since the
     * server has a part of a request. */
    src s = { 5000, 0, 0, 3, SPO_E_NET_IO, 0, 0, 0 };
    assert_int_equal(stream(x, "PUT", UP, NULL, 0, &s, 1), SPO_E_NET_IO);
    assert_false(x->c.connected);
    assert_int_equal(s.rewinds, 0);
    /* A source that runs dry early is a caller bug, not a network failure. */
    src dry = { 5000, 0, 0, 0, 0, 0, 0, 100 };
    assert_int_equal(stream(x, "PUT", UP, NULL, 0, &dry, 1), SPO_E_ARG);
    assert_false(x->c.connected);
    assert_int_equal(x->f.connects, 2);
    /* body and body_fn together are refused before anything is sent. */
    assert_int_equal(spo_url_parse(UP, strlen(UP), &x->url), SPO_OK);
    src b = { 3, 0, 0, 0, 0, 0, 0, 0 };
    spo_http_request req = { "PUT", &x->url, NULL, 0, (const uint8_t *)"abc", 3, src_fill, NULL,
                             &b };
    assert_int_equal(spo_http_conn_exchange(&x->c, &req, NULL), SPO_E_ARG);
    assert_int_equal(x->f.connects, 2);
    assert_int_equal(b.calls, 0);
}

static void streamed_body_on_stale_connection(void **state)
{
    fixture *x = *state;
    /* Without a rewind the bytes already taken cannot be sent again: the caller hears of it. */
    add_conn(x)->resp[0] = OK_HELLO; /* then closed: stale for the PUT */
    add_conn(x)->resp[0] = OK_HELLO;
    add_conn(x)->resp[0] = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(exchange(x, "GET", UP, NULL, 0, NULL, 0), 200);
    src s = { 3000, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(stream(x, "PUT", UP, NULL, 0, &s, 0), SPO_E_HTTP_TRUNCATED);
    assert_int_equal(x->f.connects, 1);

    /* With a rewind it is sent again, whole, on a new connection. */
    assert_int_equal(exchange(x, "GET", UP, NULL, 0, NULL, 0), 200);
    src r = { 3000, 0, 0, 0, 0, 0, 0, 0 };
    assert_int_equal(stream(x, "PUT", UP, NULL, 0, &r, 1), 201);
    assert_int_equal(r.rewinds, 1);
    assert_int_equal(x->f.connects, 3);
    const char *end = strstr(x->f.sent[2], "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(x->f.sent_len[2] - (size_t)(end + 4 - x->f.sent[2]), 3000);
    assert_stream_body(end + 4, 3000);
}

typedef struct hdr_rec {
    char location[SPO_URL_MAX];
    char content_range[64];
    int headers_done;
    uint64_t content_length;
    uint8_t framing;
    spo_http_conn *c;
} hdr_rec;

typedef struct redir {
    hdr_rec h;
    body_rec b;
} redir;

static int redir_header(void *ctx, spo_span name, spo_span value)
{
    redir *r = ctx;
    if (spo_http_span_ieq(name, "Location"))
        snprintf(r->h.location, sizeof r->h.location, "%.*s", (int)value.len, value.ptr);
    else if (spo_http_span_ieq(name, "Content-Range"))
        snprintf(r->h.content_range, sizeof r->h.content_range, "%.*s", (int)value.len,
                 value.ptr);
    return 0;
}

static int redir_done(void *ctx)
{
    redir *r = ctx;
    r->h.headers_done = 1;
    r->h.framing = r->h.c->parser.framing;
    r->h.content_length = r->h.c->parser.content_length;
    return 0;
}

static int redir_body(void *ctx, const uint8_t *data, size_t len)
{
    return on_body(&((redir *)ctx)->b, data, len);
}

static int redir_status(void *ctx, int status, spo_span reason)
{
    return on_status(&((redir *)ctx)->b, status, reason);
}

static void redirect_returned_not_followed(void **state)
{
    fixture *x = *state;
    add_conn(x)->resp[0] = "HTTP/1.1 302 Found\r\nLocation: https://dl.sharepoint.test:8444/"
                           "download.aspx?tempauth=abc\r\nContent-Length: 4\r\n\r\nmove";
    add_conn(x)->resp[0] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-4/5\r\n"
                           "Content-Length: 3\r\n\r\nllo";
    static redir r;
    memset(&r, 0, sizeof r);
    r.h.c = &x->c;
    spo_http_callbacks cb = { &r, redir_status, redir_header, redir_done, redir_body };
    spo_http_header auth[] = { { "Authorization", SPO_SPAN_LIT("Bearer SECRET"), 1 } };
    assert_int_equal(spo_url_parse(GRAPH, strlen(GRAPH), &x->url), SPO_OK);
    spo_http_request req = { "GET", &x->url, auth, 1, NULL, 0, NULL, NULL, NULL };
    assert_int_equal(spo_http_conn_exchange(&x->c, &req, &cb), 302);
    assert_string_equal(r.h.location, "https://dl.sharepoint.test:8444/download.aspx?tempauth=abc");
    assert_int_equal(r.b.len, 4); /* the 3xx body reached the sink; nothing was followed */
    assert_int_equal(x->f.connects, 1);
    assert_true(x->c.connected);

    /* The caller follows it to the other host, without the token: the Graph connection closes
     * first (one connection at a time) and nothing of the token reaches the new host. */
    static spo_url loc;
    assert_int_equal(spo_url_parse(r.h.location, strlen(r.h.location), &loc), SPO_OK);
    spo_http_header range[] = { { "Range", SPO_SPAN_LIT("bytes=2-"), 0 } };
    spo_http_request get = { "GET", &loc, range, 1, NULL, 0, NULL, NULL, NULL };
    r.b.len = 0;
    assert_int_equal(spo_http_conn_exchange(&x->c, &get, &cb), 206);
    assert_int_equal(x->f.closes, 1);
    assert_int_equal(x->f.connects, 2);
    assert_string_equal(x->f.host, "dl.sharepoint.test");
    assert_int_equal(x->f.port, 8444);
    assert_sent(x, 1, "GET /download.aspx?tempauth=abc HTTP/1.1\r\n"
                      "Host: dl.sharepoint.test:8444\r\n"
                      "User-Agent: spo-test/1.0\r\nAccept: application/json\r\n"
                      "Range: bytes=2-\r\n\r\n");
    assert_string_equal(r.h.content_range, "bytes 2-4/5");
    assert_int_equal(r.h.headers_done, 1);
    assert_int_equal(r.h.framing, SPO_HTTP_FRAMING_LENGTH);
    assert_int_equal(r.h.content_length, 3);
    assert_int_equal(r.b.len, 3);
    assert_memory_equal(r.b.body, "llo", 3);
}

static void content_range_values(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int ok;
        uint64_t a, b, t;
    } cases[] = {
        { "bytes 0-1023/2048", 1, 0, 1023, 2048 },
        { "bytes 5-5/6", 1, 5, 5, 6 },
        { "BYTES 1-2/*", 1, 1, 2, UINT64_MAX },
        { "bytes 0-18446744073709551613/18446744073709551614", 1, 0, 18446744073709551613u,
          18446744073709551614u },
        { "bytes 0-1/18446744073709551616", 0, 0, 0, 0 },
        { "bytes 0-99999999999999999999/1", 0, 0, 0, 0 },
        { "bytes */2048", 0, 0, 0, 0 },
        { "bytes 2-1/5", 0, 0, 0, 0 },
        { "bytes 0-5/5", 0, 0, 0, 0 },
        { "bytes 0-4/5 ", 0, 0, 0, 0 },
        { "bytes  0-4/5", 0, 0, 0, 0 },
        { "bytes 0-4", 0, 0, 0, 0 },
        { "bytes -4/5", 0, 0, 0, 0 },
        { "bytes 0-/5", 0, 0, 0, 0 },
        { "bytes 0-4/", 0, 0, 0, 0 },
        { "bytes 0-4/*x", 0, 0, 0, 0 },
        { "items 0-4/5", 0, 0, 0, 0 },
        { "bytes", 0, 0, 0, 0 },
        { "", 0, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t a = 7, b = 7, t = 7;
        int rc = spo_http_content_range((spo_span){ cases[i].v, strlen(cases[i].v) }, &a, &b, &t);
        if (rc != (cases[i].ok ? SPO_OK : SPO_E_HTTP_PARSE))
            fail_msg("case %zu (%s): rc %d", i, cases[i].v, rc);
        if (cases[i].ok && (a != cases[i].a || b != cases[i].b || t != cases[i].t))
            fail_msg("case %zu (%s): wrong values", i, cases[i].v);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(get_request_bytes),
        T(secrets_wiped),
        T(keep_alive_reuse),
        T(server_says_close),
        T(stale_connection_resent_once),
        T(stale_send_failure_resent),
        T(stale_resend_only_once),
        T(no_resend_when_not_stale),
        T(big_header_through_small_buffer),
        T(long_url),
        T(invalid_requests_refused),
        T(post_bodies),
        T(host_header_forms),
        T(caller_overrides_defaults),
        T(leftover_bytes_not_reused),
        T(close_delimited_and_truncated),
        T(any_recv_size),
        T(connect_failure),
        T(head_request),
        T(callback_and_parse_errors_close),
        T(close_is_idempotent),
        T(streamed_body),
        T(streamed_body_failures),
        T(streamed_body_on_stale_connection),
        T(redirect_returned_not_followed),
        T(content_range_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
