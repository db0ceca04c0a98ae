/* Fuzz target: the proxy port (src/proxy.c, src/proxy_url.c). The first byte picks what the rest is:
 *   0: the proxy's answer to CONNECT, served by a fake lower port in pieces of (second byte + 1)
 *   1: a proxy URL
 *   2: a no-proxy list, '\n', a host name
 *
 * Properties: an answer is accepted only if it is "HTTP/1.x 2NN" lines ending in CRLF up to an empty
 * line, and then the tunnel yields exactly the bytes after that empty line, whatever the split;
 * every refusal closes the connection; the kept reason phrase is printable ASCII. A parsed proxy URL
 * has a non-empty host that fits, a port, and Basic credentials that are base64 of "user:password"
 * with a non-empty user; a refused URL leaves the result all zero. The no-proxy verdict does not
 * depend on the host's case, and "*" matches every host. */
#include "fuzz.h"
#include "spo/proxy.h"

#include <mbedtls/base64.h>

typedef struct lower {
    const uint8_t *data;
    size_t len, off, split;
    int open, closes;
} lower;

static int lo_connect(void *ctx, const char *host, uint16_t port, uint32_t t, spo_conn_handle *out)
{
    lower *l = ctx;
    (void)host, (void)port, (void)t;
    FUZZ_CHECK(!l->open);
    l->open = 1;
    *out = 3;
    return SPO_OK;
}

static int lo_send(void *ctx, spo_conn_handle c, const uint8_t *b, size_t n, uint32_t t)
{
    lower *l = ctx;
    (void)b, (void)t;
    FUZZ_CHECK(l->open && c == 3 && n > 0);
    return (int)n;
}

static int lo_recv(void *ctx, spo_conn_handle c, uint8_t *b, size_t n, uint32_t t)
{
    lower *l = ctx;
    (void)t;
    FUZZ_CHECK(l->open && c == 3 && n > 0);
    size_t k = l->len - l->off;
    if (k == 0)
        return 0;
    if (k > l->split)
        k = l->split;
    if (k > n)
        k = n;
    memcpy(b, l->data + l->off, k);
    l->off += k;
    return (int)k;
}

static void lo_close(void *ctx, spo_conn_handle c)
{
    lower *l = ctx;
    FUZZ_CHECK(l->open && c == 3);
    l->open = 0;
    l->closes++;
}

static uint64_t lo_clock(void *ctx)
{
    (void)ctx;
    return 0;
}

static const uint8_t *find_end(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(d + i, "\r\n\r\n", 4))
            return d + i + 4;
    return NULL;
}

static void answer(const uint8_t *d, size_t n)
{
    if (n < 1)
        return;
    lower l = { d + 1, n - 1, 0, (size_t)d[0] + 1, 0, 0 };
    spo_port lp = { .ctx = &l, .connect = lo_connect, .send = lo_send, .recv = lo_recv,
                    .close = lo_close, .monotonic_ms = lo_clock };
    static spo_proxy p;
    FUZZ_CHECK(spo_proxy_init(&p, &lp, "http://u:p@proxy:3128", NULL) == SPO_OK);
    spo_conn_handle h;
    int rc = p.port.connect(p.port.ctx, "graph.microsoft.com", 443, 1000, &h);
    for (const char *r = p.reason; *r; r++)
        FUZZ_CHECK(*r >= 0x20 && *r < 0x7f);
    const uint8_t *body = find_end(l.data, l.len);
    if (rc != SPO_OK) {
        FUZZ_CHECK(rc == SPO_E_PROXY_AUTH || rc == SPO_E_PROXY_REFUSED || rc == SPO_E_PROXY_ANSWER ||
                   rc == SPO_E_PROXY_TOO_BIG || rc == SPO_E_PROXY_CLOSED);
        FUZZ_CHECK(!l.open && l.closes == 1 && p.rx_len == 0);
        return;
    }
    FUZZ_CHECK(body && (size_t)(body - l.data) <= SPO_PROXY_ANSWER_MAX);
    FUZZ_CHECK(!memcmp(l.data, "HTTP/1.", 7) && l.data[9] == '2');
    FUZZ_CHECK(p.status >= 200 && p.status <= 299);
    for (const uint8_t *c = l.data; c < body - 2; c++) /* CR only before LF, LF only after CR */
        FUZZ_CHECK((*c != '\r' || c[1] == '\n') && (*c != '\n' || c[-1] == '\r'));
    /* the tunnel: exactly what followed the answer, read 5 bytes at a time */
    size_t want = l.len - (size_t)(body - l.data), got = 0;
    uint8_t buf[5];
    for (;;) {
        int k = p.port.recv(p.port.ctx, h, buf, sizeof buf, 1000);
        if (k <= 0)
            break;
        FUZZ_CHECK(got + (size_t)k <= want && !memcmp(buf, body + got, (size_t)k));
        got += (size_t)k;
    }
    FUZZ_CHECK(got == want);
    p.port.close(p.port.ctx, h);
}

static void url(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    memcpy(s, d, n);
    s[n] = '\0';
    spo_proxy_url u;
    memset(&u, 0xa5, sizeof u);
    int rc = spo_proxy_url_parse(s, &u);
    FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_PROXY_URL || rc == SPO_E_TOO_LONG);
    if (rc != SPO_OK) {
        static const spo_proxy_url zero;
        FUZZ_CHECK(!memcmp(&u, &zero, sizeof u));
    } else {
        size_t hl = strnlen(u.host, sizeof u.host);
        FUZZ_CHECK(hl > 0 && hl < sizeof u.host && u.port != 0);
        if (u.has_auth) {
            uint8_t cred[SPO_PROXY_CRED_MAX + 4];
            size_t cl = 0;
            FUZZ_CHECK(mbedtls_base64_decode(cred, sizeof cred, &cl, (const uint8_t *)u.auth,
                                             strlen(u.auth)) == 0);
            const uint8_t *colon = memchr(cred, ':', cl);
            FUZZ_CHECK(cl <= SPO_PROXY_CRED_MAX && colon && colon > cred);
            for (size_t i = 0; i < cl; i++)
                FUZZ_CHECK(cred[i] >= 0x20 && cred[i] != 0x7f);
        } else {
            FUZZ_CHECK(u.auth[0] == '\0');
        }
    }
    free(s);
}

static void bypass(const uint8_t *d, size_t n)
{
    const uint8_t *nl = memchr(d, '\n', n);
    if (!nl)
        return;
    size_t ln = (size_t)(nl - d), hn = n - ln - 1;
    char *list = malloc(ln + 1), *host = malloc(hn + 1), *up = malloc(hn + 1);
    memcpy(list, d, ln);
    list[ln] = '\0';
    memcpy(host, nl + 1, hn);
    host[hn] = '\0';
    for (size_t i = 0; i <= hn; i++)
        up[i] = (char)(host[i] >= 'a' && host[i] <= 'z' ? host[i] - 32 : host[i]);
    int v = spo_proxy_bypass(list, host);
    FUZZ_CHECK(v == 0 || v == 1);
    FUZZ_CHECK(spo_proxy_bypass(list, up) == v);
    int named = 0; /* brackets and one trailing dot aside, something is left to match */
    for (const char *c = host; *c; c++)
        named |= (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
    if (named)
        FUZZ_CHECK(spo_proxy_bypass("*", host) == 1);
    free(list);
    free(host);
    free(up);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: answer(data + 1, size - 1); break;
    case 1: url(data + 1, size - 1); break;
    default: bypass(data + 1, size - 1); break;
    }
    return 0;
}
