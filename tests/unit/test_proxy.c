/* The proxy port: CONNECT bytes on the wire, the proxy's answer in any split, the tunnel's first
 * bytes arriving with the answer, refusals and broken answers, the no-proxy list and proxy URLs.
 * Under it, a scripted lower port that serves the proxy's bytes in pieces of any size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spo/proxy.h"

/* ------------------------------------------------------------------ scripted lower port */

typedef struct lower {
    const char *script; /* everything the proxy sends on the connection */
    size_t script_len, off;
    size_t split;       /* bytes per recv at most; 0 = as many as asked */
    int end_rc;         /* recv once the script is out: 0 (closed) or an error */
    int connect_rc;
    int open, connects, closes, recvs;
    char host[SPO_PROXY_HOST_MAX];
    uint16_t port;
    char sent[4096];
    size_t sent_len;
    uint64_t now;
} lower;

static int lo_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                      spo_conn_handle *out)
{
    lower *l = ctx;
    (void)timeout_ms;
    assert_false(l->open);
    l->connects++;
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    if (l->connect_rc)
        return l->connect_rc;
    l->open = 1;
    *out = 7;
    return SPO_OK;
}

static int lo_send(void *ctx, spo_conn_handle c, const uint8_t *buf, size_t len, uint32_t t)
{
    lower *l = ctx;
    (void)t;
    assert_int_equal(c, 7);
    assert_true(l->open);
    /* at most 10 bytes a call: the wrapper must finish a partial send */
    size_t n = len < 10 ? len : 10;
    assert_true(l->sent_len + n <= sizeof l->sent);
    memcpy(l->sent + l->sent_len, buf, n);
    l->sent_len += n;
    return (int)n;
}

static int lo_recv(void *ctx, spo_conn_handle c, uint8_t *buf, size_t len, uint32_t t)
{
    lower *l = ctx;
    (void)t;
    assert_int_equal(c, 7);
    assert_true(l->open);
    assert_true(len > 0);
    l->recvs++;
    size_t left = l->script_len - l->off;
    if (left == 0)
        return l->end_rc;
    size_t n = left < len ? left : len;
    if (l->split && n > l->split)
        n = l->split;
    memcpy(buf, l->script + l->off, n);
    l->off += n;
    return (int)n;
}

static void lo_close(void *ctx, spo_conn_handle c)
{
    lower *l = ctx;
    assert_int_equal(c, 7);
    assert_true(l->open);
    l->open = 0;
    l->closes++;
}

static uint64_t lo_clock(void *ctx)
{
    lower *l = ctx;
    return l->now += 1;
}

static lower L;
static spo_port LP;
static spo_proxy P;

static void script(const char *s, size_t len, size_t split)
{
    memset(&L, 0, sizeof L);
    L.script = s;
    L.script_len = len ? len : strlen(s);
    L.split = split;
    LP = (spo_port){ .ctx = &L, .connect = lo_connect, .send = lo_send, .recv = lo_recv,
                     .close = lo_close, .monotonic_ms = lo_clock };
}

static int tunnel(const char *proxy, const char *no_proxy, const char *host, uint16_t port,
                  spo_conn_handle *h)
{
    assert_int_equal(spo_proxy_init(&P, &LP, proxy, no_proxy), SPO_OK);
    return P.port.connect(P.port.ctx, host, port, 1000, h);
}

/* Read everything the tunnel yields until the lower port has nothing more, n bytes at a time. */
static size_t drain(spo_conn_handle h, char *out, size_t cap, size_t n)
{
    size_t got = 0;
    for (;;) {
        int k = P.port.recv(P.port.ctx, h, (uint8_t *)out + got, n < cap - got ? n : cap - got, 9);
        if (k <= 0)
            return got;
        got += (size_t)k;
    }
}

#define CONNECT_GRAPH "CONNECT graph.microsoft.com:443 HTTP/1.1\r\nHost: graph.microsoft.com:443\r\n"

/* ------------------------------------------------------------------ the request */

static void connect_request_bytes(void **state)
{
    (void)state;
    spo_conn_handle h = 0;
    script("HTTP/1.1 200 Connection established\r\n\r\n", 0, 0);
    assert_int_equal(tunnel("http://proxy.corp.example:3128", NULL, "graph.microsoft.com", 443, &h),
                     SPO_OK);
    assert_int_equal(h, 7);
    assert_string_equal(L.host, "proxy.corp.example");
    assert_int_equal(L.port, 3128);
    L.sent[L.sent_len] = '\0';
    assert_string_equal(L.sent, CONNECT_GRAPH "\r\n");
    assert_int_equal(P.status, 200);
    assert_string_equal(P.reason, "Connection established");
    assert_string_equal(P.target, "graph.microsoft.com");
    assert_int_equal(P.in_connect, 0);
}

static void connect_request_with_credentials(void **state)
{
    (void)state;
    spo_conn_handle h;
    /* RFC 7617's example: "Aladdin:open sesame" */
    script("HTTP/1.1 200 OK\r\n\r\n", 0, 0);
    assert_int_equal(tunnel("http://Aladdin:open%20sesame@10.0.0.1:8080/", NULL,
                            "graph.microsoft.com", 443, &h), SPO_OK);
    assert_string_equal(L.host, "10.0.0.1");
    assert_int_equal(L.port, 8080);
    L.sent[L.sent_len] = '\0';
    assert_string_equal(L.sent, CONNECT_GRAPH
                        "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
}

static void connect_request_ipv6(void **state)
{
    (void)state;
    spo_conn_handle h;
    script("HTTP/1.1 200 OK\r\n\r\n", 0, 0);
    assert_int_equal(tunnel("[fd00::3128]", NULL, "::1", 8443, &h), SPO_OK);
    assert_string_equal(L.host, "fd00::3128");
    assert_int_equal(L.port, SPO_PROXY_DEFAULT_PORT);
    L.sent[L.sent_len] = '\0';
    assert_string_equal(L.sent, "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
}

/* ------------------------------------------------------------------ the answer */

static const char TLS_BYTES[] = "\x16\x03\x03\x00\x31 server hello and the rest of the handshake";

/* A 2xx with headers, then the server's first TLS bytes in the same read: in every split, and
 * read back through the tunnel in every size, the tunnel yields exactly those bytes. */
static void ok_answer_any_split_keeps_tls_bytes(void **state)
{
    (void)state;
    char all[512];
    int n = snprintf(all, sizeof all, "HTTP/1.0 200 Connection established\r\nProxy-Agent: "
                                      "tinyproxy/1.11.1\r\nVia: 1.1 proxy\r\nContent-Length: 0\r\n"
                                      "\r\n%s", TLS_BYTES);
    size_t tls_len = strlen(TLS_BYTES);
    for (size_t split = 1; split <= (size_t)n; split++) {
        for (size_t rd = 1; rd <= tls_len + 1; rd += 7) {
            spo_conn_handle h;
            script(all, (size_t)n, split);
            assert_int_equal(tunnel("http://p:1", NULL, "graph.microsoft.com", 443, &h), SPO_OK);
            assert_int_equal(P.status, 200);
            char got[256];
            size_t g = drain(h, got, sizeof got, rd);
            assert_int_equal(g, tls_len);
            assert_memory_equal(got, TLS_BYTES, tls_len);
            P.port.close(P.port.ctx, h);
            assert_int_equal(L.closes, 1);
        }
    }
}

/* The pending bytes belong to the tunnel they came with: closing it drops them. */
static void pending_bytes_dropped_on_close(void **state)
{
    (void)state;
    spo_conn_handle h;
    script("HTTP/1.1 200 OK\r\n\r\nTLS", 0, 0);
    assert_int_equal(tunnel("p:1", NULL, "h", 443, &h), SPO_OK);
    assert_int_equal(P.rx_len - P.rx_off, 3);
    P.port.close(P.port.ctx, h);
    assert_int_equal(P.rx_len, 0);
}

static void refusal(const char *answer, size_t split, int want_rc, int want_status,
                    const char *want_reason)
{
    spo_conn_handle h = 0;
    script(answer, 0, split);
    assert_int_equal(tunnel("http://u:pw@proxy:3128", NULL, "graph.microsoft.com", 443, &h),
                     want_rc);
    assert_int_equal(P.status, want_status);
    if (want_reason)
        assert_string_equal(P.reason, want_reason);
    assert_false(L.open);          /* closed: a refusal's body never reaches TLS */
    assert_int_equal(L.closes, 1);
    assert_int_equal(P.rx_len, 0);
    assert_int_equal(h, 0);
    assert_int_equal(P.in_connect, 1);
}

static void proxy_auth_required(void **state)
{
    (void)state;
    static const char a407[] = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: "
                               "Basic realm=\"corp\"\r\nContent-Length: 21\r\n\r\n<html>denied</html>\r\n";
    for (size_t split = 0; split < sizeof a407; split++)
        refusal(a407, split, SPO_E_PROXY_AUTH, 407, "Proxy Authentication Required");
    /* tinyproxy 1.11 answers wrong credentials with 401 */
    refusal("HTTP/1.0 401 Unauthorized\r\n\r\n", 0, SPO_E_PROXY_AUTH, 401, "Unauthorized");
}

static void proxy_refuses(void **state)
{
    (void)state;
    refusal("HTTP/1.0 403 Access violation\r\nServer: tinyproxy/1.11.1\r\nContent-Type: "
            "text/html\r\n\r\n<html>...", 3, SPO_E_PROXY_REFUSED, 403, "Access violation");
    refusal("HTTP/1.1 502 Bad Gateway\r\n\r\n", 0, SPO_E_PROXY_REFUSED, 502, "Bad Gateway");
    refusal("HTTP/1.1 100 Continue\r\n\r\n", 0, SPO_E_PROXY_REFUSED, 100, "Continue");
    refusal("HTTP/1.1 403\r\n\r\n", 0, SPO_E_PROXY_REFUSED, 403, ""); /* no reason phrase */
    /* a hostile reason phrase cannot drive the terminal */
    refusal("HTTP/1.1 403 \x1b]0;pwned\x07\r\n\r\n", 1, SPO_E_PROXY_REFUSED, 403, "?]0;pwned?");
}

static void garbage_answers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "SSH-2.0-OpenSSH_9.2p1\r\n",
        "\x15\x03\x03\x00\x02\x02\x28", /* a TLS alert: the proxy port speaks TLS */
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 20\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Odd\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\n\n",           /* bare LF */
        "HTTP/1.1 200 OK\r\nVia: x\n\r\n",
        "HTTP/1.1 200 OK\rX\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spo_conn_handle h = 0;
        script(bad[i], 0, 1);
        assert_int_equal(tunnel("p:3128", NULL, "graph.microsoft.com", 443, &h), SPO_E_PROXY_ANSWER);
        assert_false(L.open);
    }
}

static void oversized_answer(void **state)
{
    (void)state;
    static char big[SPO_PROXY_ANSWER_MAX + 64];
    static const char head[] = "HTTP/1.1 200 OK\r\nX-Pad: ";
    /* exactly SPO_PROXY_ANSWER_MAX bytes: accepted */
    size_t fill = SPO_PROXY_ANSWER_MAX - (sizeof head - 1) - 4;
    memcpy(big, head, sizeof head - 1);
    memset(big + sizeof head - 1, 'a', fill);
    memcpy(big + sizeof head - 1 + fill, "\r\n\r\nTLS", 8);
    spo_conn_handle h;
    script(big, 0, 0);
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_OK);
    char got[8];
    assert_int_equal(drain(h, got, sizeof got, 8), 3);
    P.port.close(P.port.ctx, h);
    /* one byte more: refused, and the connection closed */
    memset(big + sizeof head - 1, 'a', fill + 1);
    memcpy(big + sizeof head - 1 + fill + 1, "\r\n\r\n", 5);
    script(big, 0, 0);
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_E_PROXY_TOO_BIG);
    assert_false(L.open);
    /* an endless header line is cut at the same bound without waiting for its end */
    memset(big, 'x', sizeof big);
    memcpy(big, head, sizeof head - 1);
    script(big, sizeof big, 100);
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_E_PROXY_TOO_BIG);
    assert_true(L.off <= SPO_PROXY_ANSWER_MAX + 100);
}

static void closed_or_silent(void **state)
{
    (void)state;
    spo_conn_handle h;
    script("", 0, 0);
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_E_PROXY_CLOSED);
    script("HTTP/1.1 200 OK\r\nVia: x\r\n", 0, 0);
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_E_PROXY_CLOSED);
    assert_false(L.open);
    script("HTTP/1.1 200 OK\r\n", 0, 0);
    L.end_rc = SPO_E_NET_CLOSED; /* reset rather than an orderly close */
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_E_PROXY_CLOSED);
    script("HTTP/1.1 200 OK\r\n", 0, 0);
    L.end_rc = SPO_E_NET_TIMEOUT;
    assert_int_equal(tunnel("p:3128", NULL, "h", 443, &h), SPO_E_NET_TIMEOUT);
    assert_int_equal(P.in_connect, 1);
    assert_false(L.open);
}

static void proxy_unreachable(void **state)
{
    (void)state;
    spo_conn_handle h;
    script("", 0, 0);
    L.connect_rc = SPO_E_NET_CONNECT;
    assert_int_equal(tunnel("http://proxy:3128", NULL, "h", 443, &h), SPO_E_PROXY_CONNECT);
    script("", 0, 0);
    L.connect_rc = SPO_E_NET_TIMEOUT;
    assert_int_equal(tunnel("http://proxy:3128", NULL, "h", 443, &h), SPO_E_PROXY_CONNECT);
    assert_string_equal(L.host, "proxy");
}

typedef struct trace_rec {
    int calls, status;
    char host[64], proxy[64];
    uint16_t port, proxy_port;
} trace_rec;

static void on_trace(void *ctx, const char *host, uint16_t port, const char *proxy_host,
                     uint16_t proxy_port, int status, uint32_t ms)
{
    trace_rec *t = ctx;
    (void)ms;
    t->calls++;
    snprintf(t->host, sizeof t->host, "%s", host);
    snprintf(t->proxy, sizeof t->proxy, "%s", proxy_host);
    t->port = port;
    t->proxy_port = proxy_port;
    t->status = status;
}

static void no_proxy_goes_direct_and_trace(void **state)
{
    (void)state;
    spo_conn_handle h;
    trace_rec tr = { 0 };
    script("", 0, 0);
    assert_int_equal(spo_proxy_init(&P, &LP, "http://u:pw@proxy:3128", "localhost,.corp.example"),
                     SPO_OK);
    P.trace = on_trace;
    P.trace_ctx = &tr;
    assert_int_equal(P.port.connect(P.port.ctx, "login.CORP.example", 8443, 100, &h), SPO_OK);
    assert_string_equal(L.host, "login.CORP.example");
    assert_int_equal(L.port, 8443);
    assert_int_equal(L.sent_len, 0);
    assert_int_equal(tr.calls, 1);
    assert_int_equal(tr.status, 0);
    P.port.close(P.port.ctx, h);

    script("HTTP/1.1 200 OK\r\n\r\n", 0, 0);
    assert_int_equal(P.port.connect(P.port.ctx, "graph.microsoft.com", 443, 100, &h), SPO_OK);
    assert_string_equal(L.host, "proxy");
    assert_int_equal(tr.calls, 2);
    assert_int_equal(tr.status, 200);
    assert_string_equal(tr.host, "graph.microsoft.com");
    assert_string_equal(tr.proxy, "proxy");
    assert_int_equal(tr.proxy_port, 3128);
}

static void other_functions_are_the_lower_ports(void **state)
{
    (void)state;
    script("", 0, 0);
    assert_int_equal(spo_proxy_init(&P, &LP, "p", NULL), SPO_OK);
    assert_int_equal(P.port.monotonic_ms(P.port.ctx), 1);
    assert_int_equal(L.now, 1);
    /* optional functions the lower port lacks stay absent */
    assert_null(P.port.file_read);
    assert_null(P.port.store_read);
    assert_null(P.port.entropy);
    assert_int_equal(spo_proxy_init(&P, &LP, "ftp://p", NULL), SPO_E_PROXY_URL);
    assert_int_equal(spo_proxy_init(&P, NULL, "p", NULL), SPO_E_ARG);
}

static void wipe_zeroes_credentials(void **state)
{
    (void)state;
    script("", 0, 0);
    assert_int_equal(spo_proxy_init(&P, &LP, "http://user:hunter2@p:1", NULL), SPO_OK);
    assert_true(P.url.has_auth);
    spo_proxy_wipe(&P);
    static const spo_proxy zero;
    assert_memory_equal(&P, &zero, sizeof P);
}

/* ------------------------------------------------------------------ the no-proxy list */

static void no_proxy_table(void **state)
{
    (void)state;
    static const struct {
        const char *list, *host;
        int direct;
    } t[] = {
        { NULL, "graph.microsoft.com", 0 },
        { "", "graph.microsoft.com", 0 },
        { "*", "graph.microsoft.com", 1 },
        { "*", "::1", 1 },
        { "a.example, *", "x", 1 },
        { "*.microsoft.com", "graph.microsoft.com", 0 }, /* '*' is only a wildcard alone */
        { "microsoft.com", "graph.microsoft.com", 1 },
        { "microsoft.com", "microsoft.com", 1 },
        { ".microsoft.com", "microsoft.com", 1 },
        { ".microsoft.com", "graph.microsoft.com", 1 },
        { "microsoft.com", "notmicrosoft.com", 0 },
        { ".microsoft.com", "notmicrosoft.com", 0 },
        { "microsoft.com", "microsoft.com.evil.example", 0 },
        { "graph.microsoft.com", "microsoft.com", 0 },
        { "MICROSOFT.Com", "Graph.microsoft.COM", 1 },
        { "microsoft.com.", "graph.microsoft.com", 1 },
        { "microsoft.com", "graph.microsoft.com.", 1 },
        { "localhost:8443", "localhost", 1 },   /* ports are not compared */
        { "a.example,localhost", "localhost", 1 },
        { " a.example ,\tlocalhost\t", "localhost", 1 },
        { "a.example,,b.example", "b.example", 1 },
        { "a.example", "b.example", 0 },
        { ",", "b.example", 0 },
        { ".", "b.example", 0 },
        /* IP literals only exactly */
        { "127.0.0.1", "127.0.0.1", 1 },
        { "0.0.1", "127.0.0.1", 0 },
        { "27.0.0.1", "127.0.0.1", 0 },
        { "127.0.0.1", "127.0.0.10", 0 },
        { "10.0.0.0/8", "10.1.2.3", 0 },         /* CIDR: not supported, matches nothing */
        { "::1", "::1", 1 },
        { "::1", "[::1]", 1 },
        { "[::1]", "::1", 1 },
        { "[::1]:443", "::1", 1 },
        { "FD00::1", "fd00::1", 1 },
        { ":1", "::1", 0 },
        { "::1", "fd00::1", 0 },
        { "fd00::1", "fd00::10", 0 },
        { "localhost", "::1", 0 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int got = spo_proxy_bypass(t[i].list, t[i].host);
        if (got != t[i].direct)
            fail_msg("no_proxy '%s', host '%s': %d, expected %d", t[i].list ? t[i].list : "(null)",
                     t[i].host, got, t[i].direct);
    }
}

/* ------------------------------------------------------------------ proxy URLs */

static void proxy_url_table(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        int rc;
        const char *host;
        uint16_t port;
        const char *cred; /* decoded "user:password", NULL = none */
    } t[] = {
        { "http://proxy:3128", SPO_OK, "proxy", 3128, NULL },
        { "HTTP://Proxy.Corp.example:80/", SPO_OK, "Proxy.Corp.example", 80, NULL },
        { "proxy", SPO_OK, "proxy", 1080, NULL },
        { "proxy:8080", SPO_OK, "proxy", 8080, NULL },
        { "http://proxy", SPO_OK, "proxy", 1080, NULL },
        { "http://10.1.2.3:3128", SPO_OK, "10.1.2.3", 3128, NULL },
        { "http://[::1]:3128", SPO_OK, "::1", 3128, NULL },
        { "http://[fd00::a:b]", SPO_OK, "fd00::a:b", 1080, NULL },
        { "http://bob:s3cret@proxy:3128", SPO_OK, "proxy", 3128, "bob:s3cret" },
        { "http://bob@proxy:3128", SPO_OK, "proxy", 3128, "bob:" },
        { "http://bob:@proxy:3128", SPO_OK, "proxy", 3128, "bob:" },
        { "http://DOMAIN%5Cbob:p%40ss%3Aw%25rd@[::1]:3128", SPO_OK, "::1", 3128,
          "DOMAIN\\bob:p@ss:w%rd" },
        { "http://bob:p@ss@proxy:3128", SPO_OK, "proxy", 3128, "bob:p@ss" }, /* the last '@' */
        { "http://bob:pa:ss@proxy", SPO_OK, "proxy", 1080, "bob:pa:ss" },
        { "http://%C3%A9mile:x@proxy", SPO_OK, "proxy", 1080, "\xc3\xa9mile:x" },
        /* refused */
        { "", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "https://proxy:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "socks5://proxy:1080", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "socks5h://u:p@proxy:1080", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "htt://proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "://proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:0", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:65536", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:31x8", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:3128/path", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:3128?q", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy:3128#f", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://pro xy:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://proxy\r\n:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://pr\xc3\xb6xy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://[::1", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://[]:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://[::g]:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://[::1]x", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://::1:3128", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://@proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { ":pw@proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://bob:pw%@proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://bob:pw%4@proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://bob:pw%zz@proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
        { "http://b%3Aob:pw@proxy", SPO_E_PROXY_URL, NULL, 0, NULL }, /* ':' in the user */
        { "http://bob:p%0D%0Aw@proxy", SPO_E_PROXY_URL, NULL, 0, NULL }, /* CRLF injection */
        { "http://bob:%00@proxy", SPO_E_PROXY_URL, NULL, 0, NULL },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        spo_proxy_url u;
        int rc = spo_proxy_url_parse(t[i].url, &u);
        if (rc != t[i].rc)
            fail_msg("'%s': %d, expected %d", t[i].url, rc, t[i].rc);
        if (rc != SPO_OK) {
            static const spo_proxy_url zero;
            assert_memory_equal(&u, &zero, sizeof u); /* no half-parsed credentials left */
            continue;
        }
        assert_string_equal(u.host, t[i].host);
        assert_int_equal(u.port, t[i].port);
        assert_int_equal(u.has_auth, t[i].cred != NULL);
        if (t[i].cred) {
            /* the header value is base64 of the decoded "user:password" */
            static const char b64[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            char want[SPO_PROXY_AUTH_B64];
            const uint8_t *s = (const uint8_t *)t[i].cred;
            size_t n = strlen(t[i].cred), o = 0;
            for (size_t k = 0; k < n; k += 3) {
                uint32_t v = (uint32_t)s[k] << 16 | (k + 1 < n ? (uint32_t)s[k + 1] << 8 : 0) |
                             (k + 2 < n ? s[k + 2] : 0);
                want[o++] = b64[v >> 18 & 63];
                want[o++] = b64[v >> 12 & 63];
                want[o++] = k + 1 < n ? b64[v >> 6 & 63] : '=';
                want[o++] = k + 2 < n ? b64[v & 63] : '=';
            }
            want[o] = '\0';
            assert_string_equal(u.auth, want);
        }
    }
}

static void proxy_url_limits(void **state)
{
    (void)state;
    char url[SPO_PROXY_HOST_MAX + SPO_PROXY_CRED_MAX + 64];
    spo_proxy_url u;
    /* the longest host fits, one more byte does not */
    memcpy(url, "http://", 7);
    memset(url + 7, 'h', SPO_PROXY_HOST_MAX - 1);
    strcpy(url + 7 + SPO_PROXY_HOST_MAX - 1, ":1");
    assert_int_equal(spo_proxy_url_parse(url, &u), SPO_OK);
    memset(url + 7, 'h', SPO_PROXY_HOST_MAX);
    strcpy(url + 7 + SPO_PROXY_HOST_MAX, ":1");
    assert_int_equal(spo_proxy_url_parse(url, &u), SPO_E_TOO_LONG);
    /* "user:password" of exactly SPO_PROXY_CRED_MAX bytes fits, one more does not */
    memcpy(url, "http://u:", 9);
    memset(url + 9, 'p', SPO_PROXY_CRED_MAX - 2);
    strcpy(url + 9 + SPO_PROXY_CRED_MAX - 2, "@h");
    assert_int_equal(spo_proxy_url_parse(url, &u), SPO_OK);
    assert_int_equal(strlen(u.auth), ((SPO_PROXY_CRED_MAX + 2) / 3) * 4);
    memset(url + 9, 'p', SPO_PROXY_CRED_MAX - 1);
    strcpy(url + 9 + SPO_PROXY_CRED_MAX - 1, "@h");
    assert_int_equal(spo_proxy_url_parse(url, &u), SPO_E_TOO_LONG);
    assert_int_equal(spo_proxy_url_parse(NULL, &u), SPO_E_PROXY_URL);
    assert_int_equal(spo_proxy_url_parse("p", NULL), SPO_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_request_bytes),
        cmocka_unit_test(connect_request_with_credentials),
        cmocka_unit_test(connect_request_ipv6),
        cmocka_unit_test(ok_answer_any_split_keeps_tls_bytes),
        cmocka_unit_test(pending_bytes_dropped_on_close),
        cmocka_unit_test(proxy_auth_required),
        cmocka_unit_test(proxy_refuses),
        cmocka_unit_test(garbage_answers),
        cmocka_unit_test(oversized_answer),
        cmocka_unit_test(closed_or_silent),
        cmocka_unit_test(proxy_unreachable),
        cmocka_unit_test(no_proxy_goes_direct_and_trace),
        cmocka_unit_test(other_functions_are_the_lower_ports),
        cmocka_unit_test(wipe_zeroes_credentials),
        cmocka_unit_test(no_proxy_table),
        cmocka_unit_test(proxy_url_table),
        cmocka_unit_test(proxy_url_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
