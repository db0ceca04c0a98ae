/* spo — https URLs: split into host, port and request target, and compare origins.
 *
 * The parser is deliberately narrower than RFC 3986: spo only follows links Microsoft hands out, so
 * anything unusual (userinfo, odd host characters, raw spaces) is more likely an attack on the
 * same-origin check that guards the bearer token than a URL worth following. */
#include "spo/http.h"

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(int c)
{
    return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f');
}

/* Labels must be non-empty: "a..b", ".a" and "a." would each make two spellings of one origin. */
static int valid_name(const char *h, size_t n)
{
    int prev = '.';
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)h[i];
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
            return 0;
        if (c == '.' && prev == '.')
            return 0;
        prev = c;
    }
    return n > 0 && prev != '.';
}

/* Only the character set is checked; the port's address parser decides whether it is an address.
 * Zone identifiers ("%25eth0") are refused: they name a local interface, never a Graph host. */
static int valid_ipv6(const char *h, size_t n)
{
    size_t colons = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)h[i];
        if (c == ':')
            colons++;
        else if (!is_hex(c) && c != '.')
            return 0;
    }
    return colons >= 2 && n <= 45; /* 45: the longest textual form, IPv4-mapped */
}

static int parse_port(const char *s, size_t n, uint16_t *out)
{
    uint32_t v = 0;
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return 0;
    *out = (uint16_t)v;
    return 1;
}

int spo_url_parse(const char *s, size_t len, spo_url *out)
{
    return spo_url_parse_max(s, len, SPO_URL_MAX, out);
}

int spo_url_parse_max(const char *s, size_t len, size_t max, spo_url *out)
{
    static const char scheme[] = "https://";
    const size_t slen = sizeof scheme - 1;

    if (!out)
        return SPO_E_ARG;
    if (!s || len <= slen || len >= max)
        return SPO_E_URL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f)
            return SPO_E_URL;
    }
    for (size_t i = 0; i < slen; i++)
        if (lower((unsigned char)s[i]) != scheme[i])
            return SPO_E_URL;

    size_t a = slen, e = slen;
    while (e < len && s[e] != '/' && s[e] != '?' && s[e] != '#')
        e++;
    for (size_t i = a; i < e; i++)
        if (s[i] == '@')
            return SPO_E_URL;

    size_t hs, he, after; /* host [hs, he); after: where ":port" may start */
    if (s[a] == '[') {
        size_t rb = a + 1;
        while (rb < e && s[rb] != ']')
            rb++;
        if (rb == e || !valid_ipv6(s + a + 1, rb - a - 1))
            return SPO_E_URL;
        hs = a + 1;
        he = rb;
        after = rb + 1;
    } else {
        size_t c = a;
        while (c < e && s[c] != ':')
            c++;
        if (!valid_name(s + a, c - a))
            return SPO_E_URL;
        hs = a;
        he = c;
        after = c;
    }
    if (he - hs >= SPO_HTTP_HOST_MAX)
        return SPO_E_URL;

    uint16_t port = 443;
    if (after < e) {
        if (s[after] != ':' || !parse_port(s + after + 1, e - after - 1, &port))
            return SPO_E_URL;
    }

    if (e < len && s[e] == '?')
        return SPO_E_URL;
    size_t f = e;
    while (f < len && s[f] != '#')
        f++;

    out->host = (spo_span){ s + hs, he - hs };
    out->port = port;
    out->target = f > e ? (spo_span){ s + e, f - e } : SPO_SPAN_LIT("/");
    return SPO_OK;
}

int spo_url_same_origin(const spo_url *a, const spo_url *b)
{
    if (!a || !b || a->port != b->port || a->host.len != b->host.len)
        return 0;
    for (size_t i = 0; i < a->host.len; i++)
        if (lower((unsigned char)a->host.ptr[i]) != lower((unsigned char)b->host.ptr[i]))
            return 0;
    return 1;
}

int spo_url_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int spo_url_encode_append(char *dst, size_t cap, size_t *pos, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t p = *pos;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int keep = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                   ch == '-' || ch == '.' || ch == '_' || ch == '~';
        size_t need = keep ? 1 : 3;
        if (cap - p <= need) /* keep room for the NUL */
            return SPO_E_TOO_LONG;
        if (keep) {
            dst[p++] = (char)ch;
        } else {
            dst[p++] = '%';
            dst[p++] = hex[ch >> 4];
            dst[p++] = hex[ch & 15];
        }
    }
    dst[p] = '\0';
    *pos = p;
    return SPO_OK;
}
