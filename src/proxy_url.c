/* spo — proxy settings: the proxy URL and the no-proxy list, read as curl reads them. */
#include "spo/proxy.h"

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <string.h>

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Append s[0..n) percent-decoded to dst at *pos, at most cap bytes in all. */
static int decode_append(uint8_t *dst, size_t cap, size_t *pos, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0)
                return SPO_E_PROXY_URL;
            c = hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]);
            i += 2;
        }
        if (*pos >= cap)
            return SPO_E_TOO_LONG;
        dst[(*pos)++] = (uint8_t)c;
    }
    return SPO_OK;
}

static int parse_port(const char *s, size_t n, uint16_t *out)
{
    uint32_t v = 0;
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return 0;
    *out = (uint16_t)v;
    return 1;
}

static int host_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static int parse(const char *s, spo_proxy_url *out, uint8_t *cred, size_t *cred_len)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return SPO_E_PROXY_URL;

    /* scheme: only http://, or none (curl's default for a proxy without one) */
    size_t a = 0;
    const char *sep = strstr(s, "://");
    if (sep) {
        static const char http[] = "http";
        if ((size_t)(sep - s) != sizeof http - 1)
            return SPO_E_PROXY_URL;
        for (size_t i = 0; i < sizeof http - 1; i++)
            if (lower((unsigned char)s[i]) != http[i])
                return SPO_E_PROXY_URL;
        a = (size_t)(sep - s) + 3;
    }

    /* authority ends at the first '/'; only an empty path ("/") may follow */
    size_t e = a;
    while (e < len && s[e] != '/' && s[e] != '?' && s[e] != '#')
        e++;
    if (e < len && (s[e] != '/' || e + 1 != len))
        return SPO_E_PROXY_URL;

    /* user info: up to the last '@' (an unencoded '@' in a password is common enough to allow) */
    size_t at = e;
    while (at > a && s[at - 1] != '@')
        at--;
    if (at > a) {
        size_t ui_end = at - 1, colon = a;
        while (colon < ui_end && s[colon] != ':')
            colon++;
        size_t n = 0;
        int rc = decode_append(cred, SPO_PROXY_CRED_MAX, &n, s + a, colon - a);
        if (rc != SPO_OK)
            return rc;
        if (n == 0 || memchr(cred, ':', n))
            return SPO_E_PROXY_URL; /* "user:pass" could not be split again by the proxy */
        if (n >= SPO_PROXY_CRED_MAX)
            return SPO_E_TOO_LONG;
        cred[n++] = ':';
        if (colon < ui_end && (rc = decode_append(cred, SPO_PROXY_CRED_MAX, &n, s + colon + 1,
                                                   ui_end - colon - 1)) != SPO_OK)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (cred[i] < 0x20 || cred[i] == 0x7f)
                return SPO_E_PROXY_URL; /* a CR or LF would end the header early */
        *cred_len = n;
        a = at;
    }

    size_t hs, he, after;
    if (a < e && s[a] == '[') {
        size_t rb = a + 1;
        while (rb < e && s[rb] != ']')
            rb++;
        if (rb == e || rb == a + 1)
            return SPO_E_PROXY_URL;
        for (size_t i = a + 1; i < rb; i++)
            if (hexval((unsigned char)s[i]) < 0 && s[i] != ':' && s[i] != '.')
                return SPO_E_PROXY_URL;
        hs = a + 1;
        he = rb;
        after = rb + 1;
    } else {
        size_t c = a;
        while (c < e && s[c] != ':')
            c++;
        for (size_t i = a; i < c; i++)
            if (!host_char((unsigned char)s[i]))
                return SPO_E_PROXY_URL;
        hs = a;
        he = c;
        after = c;
    }
    if (he == hs)
        return SPO_E_PROXY_URL;
    if (he - hs >= sizeof out->host)
        return SPO_E_TOO_LONG;
    memcpy(out->host, s + hs, he - hs);
    out->host[he - hs] = '\0';

    out->port = SPO_PROXY_DEFAULT_PORT;
    if (after < e && (s[after] != ':' || !parse_port(s + after + 1, e - after - 1, &out->port)))
        return SPO_E_PROXY_URL;
    return SPO_OK;
}

int spo_proxy_url_parse(const char *s, spo_proxy_url *out)
{
    if (!out)
        return SPO_E_ARG;
    memset(out, 0, sizeof *out);
    if (!s || !*s)
        return SPO_E_PROXY_URL;
    uint8_t cred[SPO_PROXY_CRED_MAX];
    size_t cred_len = 0;
    int rc = parse(s, out, cred, &cred_len);
    if (rc == SPO_OK && cred_len) {
        size_t olen = 0;
        if (mbedtls_base64_encode((unsigned char *)out->auth, sizeof out->auth, &olen, cred,
                                  cred_len) != 0)
            rc = SPO_E_INTERNAL; /* sized by SPO_PROXY_AUTH_B64: cannot happen */
        else
            out->has_auth = 1;
    }
    mbedtls_platform_zeroize(cred, sizeof cred);
    if (rc != SPO_OK)
        mbedtls_platform_zeroize(out, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------------ no-proxy list */

static int is_ip_literal(const char *h, size_t n)
{
    int only_v4 = 1;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == ':')
            return 1;
        if (!(h[i] >= '0' && h[i] <= '9') && h[i] != '.')
            only_v4 = 0;
    }
    return only_v4 && n > 0;
}

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* One entry [s, s+n) against the host [h, h+hn), both already trimmed. */
static int entry_matches(const char *s, size_t n, const char *h, size_t hn)
{
    if (n == 1 && s[0] == '*')
        return 1;
    if (n >= 2 && s[0] == '[') { /* "[::1]" or "[::1]:443": the brackets and port go */
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return 0;
        n = (size_t)(rb - s) - 1;
        s++;
    } else {
        size_t colons = 0, last = 0;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':') {
                colons++;
                last = i;
            }
        if (colons == 1) /* "name:port": ports are not compared */
            n = last;
    }
    while (n > 0 && s[0] == '.') {
        s++;
        n--;
    }
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || memchr(s, '/', n)) /* empty, or CIDR (not supported) */
        return 0;
    if (is_ip_literal(h, hn) || is_ip_literal(s, n))
        return n == hn && ieq(s, h, n);
    if (n == hn)
        return ieq(s, h, n);
    return n < hn && h[hn - n - 1] == '.' && ieq(s, h + hn - n, n);
}

int spo_proxy_bypass(const char *no_proxy, const char *host)
{
    if (!no_proxy || !host)
        return 0;
    size_t hn = strlen(host);
    if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
        host++;
        hn -= 2;
    }
    if (hn > 0 && host[hn - 1] == '.')
        hn--;
    if (hn == 0)
        return 0;
    const char *p = no_proxy;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        size_t n = (size_t)(end - p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0 && entry_matches(p, n, host, hn))
            return 1;
        if (!*end)
            return 0;
        p = end + 1;
    }
}
