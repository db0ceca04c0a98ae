/* Fuzz target: the https URL parser and the same-origin check (src/url.c), which guard where the
 * bearer token may be sent.
 *
 * Properties: on SPO_OK, host and target are spans inside the input (or target is the literal "/"),
 * the host is non-empty, fits SPO_HTTP_HOST_MAX and holds only the characters the contract allows,
 * the target starts with '/', holds no fragment, no control, space or non-ASCII byte; the port is not
 * 0; the input began with "https://" (any case) and was shorter than SPO_URL_MAX. same_origin is
 * reflexive, symmetric, and blind to host case; a URL whose host differs is not the same origin. */
#include "fuzz.h"
#include "spo/http.h"

#include <string.h>

static int inside(spo_span s, const char *base, size_t n)
{
    return s.ptr >= base && s.len <= n && (size_t)(s.ptr - base) <= n - s.len;
}

static int host_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.' || c == '_' || c == ':'; /* ':' only in an IPv6 literal, checked below */
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    memcpy(s, data, size);

    spo_url u;
    memset(&u, 0xa5, sizeof u);
    int rc = spo_url_parse(s, size, &u);
    FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_URL);
    if (rc == SPO_OK) {
        FUZZ_CHECK(size < SPO_URL_MAX && size > 8);
        static const char scheme[] = "https://";
        for (size_t i = 0; i < 8; i++)
            FUZZ_CHECK(lower((uint8_t)s[i]) == scheme[i]);
        FUZZ_CHECK(inside(u.host, s, size) && u.host.len > 0 && u.host.len < SPO_HTTP_HOST_MAX);
        FUZZ_CHECK(u.host.ptr >= s + 8);
        int has_colon = 0;
        for (size_t i = 0; i < u.host.len; i++) {
            FUZZ_CHECK(host_char((uint8_t)u.host.ptr[i]));
            has_colon |= u.host.ptr[i] == ':';
        }
        if (has_colon) /* an IPv6 literal, which must have come in brackets */
            FUZZ_CHECK(u.host.ptr[-1] == '[' && u.host.ptr[u.host.len] == ']');
        FUZZ_CHECK(u.port != 0);
        FUZZ_CHECK(u.target.len >= 1 && u.target.ptr[0] == '/');
        FUZZ_CHECK(inside(u.target, s, size) || (u.target.len == 1));
        for (size_t i = 0; i < u.target.len; i++) {
            uint8_t c = (uint8_t)u.target.ptr[i];
            FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#');
        }
        /* No '@' before the path: userinfo is refused. */
        for (const char *p = s + 8; p < u.host.ptr; p++)
            FUZZ_CHECK(*p != '@');

        FUZZ_CHECK(spo_url_same_origin(&u, &u));

        /* The same URL with the host's case flipped is the same origin, both ways. */
        char *t = malloc(size);
        memcpy(t, s, size);
        for (size_t i = 0; i < u.host.len; i++) {
            char *c = t + (u.host.ptr - s) + i;
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 32);
            else if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        }
        spo_url v;
        FUZZ_CHECK(spo_url_parse(t, size, &v) == SPO_OK);
        FUZZ_CHECK(v.port == u.port && v.host.len == u.host.len && v.target.len == u.target.len);
        FUZZ_CHECK(spo_url_same_origin(&u, &v) && spo_url_same_origin(&v, &u));

        /* Change one host byte to another allowed letter: no longer the same origin. */
        size_t k = (size_t)(u.host.ptr - s) + (data[size - 1] % u.host.len);
        if ((t[k] >= 'a' && t[k] <= 'y') || (t[k] >= 'A' && t[k] <= 'Y')) {
            t[k] = (char)(t[k] + 1);
            spo_url w;
            if (spo_url_parse(t, size, &w) == SPO_OK)
                FUZZ_CHECK(!spo_url_same_origin(&u, &w) && !spo_url_same_origin(&w, &u));
        }
        free(t);
    }
    FUZZ_CHECK(!spo_url_same_origin(NULL, &u) && !spo_url_same_origin(&u, NULL));
    FUZZ_CHECK(spo_url_parse(s, size, NULL) == SPO_E_ARG);
    free(s);
    return 0;
}
