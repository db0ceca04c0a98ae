/* spo — JSON helpers around the reader: unescaping string bodies, looking members up in a jsmn
 * element, writing strings. Same rules as the reader: strict RFC 8259 and UTF-8, lone surrogates
 * refused, every output length checked. */
#include "spo/json.h"
#include "json_priv.h"

#include <string.h>

int spo_json_hexval(unsigned c)
{
    if (c - '0' < 10u)
        return (int)(c - '0');
    c |= 0x20u;
    if (c - 'a' < 6u)
        return (int)(c - 'a' + 10);
    return -1;
}

/* Four hex digits at s (n bytes available) as a code unit, or -1. */
static long hex4(const uint8_t *s, size_t n)
{
    long u = 0;
    size_t i;

    if (n < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int h = spo_json_hexval(s[i]);

        if (h < 0)
            return -1;
        u = u << 4 | h;
    }
    return u;
}

size_t spo_json_utf8_put(uint32_t u, uint8_t *o)
{
    if (u < 0x80u) {
        o[0] = (uint8_t)u;
        return 1;
    }
    if (u < 0x800u) {
        o[0] = (uint8_t)(0xC0u | (u >> 6));
        o[1] = (uint8_t)(0x80u | (u & 0x3Fu));
        return 2;
    }
    if (u < 0x10000u) {
        o[0] = (uint8_t)(0xE0u | (u >> 12));
        o[1] = (uint8_t)(0x80u | ((u >> 6) & 0x3Fu));
        o[2] = (uint8_t)(0x80u | (u & 0x3Fu));
        return 3;
    }
    o[0] = (uint8_t)(0xF0u | (u >> 18));
    o[1] = (uint8_t)(0x80u | ((u >> 12) & 0x3Fu));
    o[2] = (uint8_t)(0x80u | ((u >> 6) & 0x3Fu));
    o[3] = (uint8_t)(0x80u | (u & 0x3Fu));
    return 4;
}

/* Length of the well-formed UTF-8 sequence starting a (n bytes available, a[0] >= 0x80), or 0. The
 * second-byte ranges shut out overlongs, UTF-16 surrogates and code points above U+10FFFF. */
static size_t utf8_len(const uint8_t *a, size_t n)
{
    unsigned c = a[0], lo = 0x80, hi = 0xBF;
    size_t need, i;

    if (c < 0xC2u || c > 0xF4u)
        return 0;
    if (c < 0xE0u) {
        need = 1;
    } else if (c < 0xF0u) {
        need = 2;
        if (c == 0xE0u)
            lo = 0xA0;
        else if (c == 0xEDu)
            hi = 0x9F;
    } else {
        need = 3;
        if (c == 0xF0u)
            lo = 0x90;
        else if (c == 0xF4u)
            hi = 0x8F;
    }
    if (n <= need)
        return 0;
    for (i = 1; i <= need; i++) {
        if (a[i] < lo || a[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* One unit of a string body at s: a run of literal bytes or one escape (a surrogate pair counts as
 * one). Literal runs are returned in place (*lit set, *used bytes); an escape is decoded into out
 * (*lit NULL). Returns the byte count produced, or -1 if the body is not valid JSON. */
static long next_unit(const uint8_t *s, size_t n, size_t *used, const uint8_t **lit, uint8_t out[4])
{
    long u;

    if (s[0] != '\\') {
        size_t i = 0;

        while (i < n && s[i] != '\\') {
            if (s[i] < 0x80u) {
                if (s[i] < 0x20u || s[i] == '"')
                    return -1;
                i++;
            } else {
                size_t k = utf8_len(s + i, n - i);

                if (k == 0)
                    return -1;
                i += k;
            }
        }
        *used = i;
        *lit = s;
        return (long)i;
    }
    *lit = NULL;
    if (n < 2)
        return -1;
    *used = 2;
    switch (s[1]) {
    case '"': case '\\': case '/': out[0] = s[1]; return 1;
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: return -1;
    }
    u = hex4(s + 2, n - 2);
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return -1;
    *used = 6;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (n < 12 || s[6] != '\\' || s[7] != 'u')
            return -1;
        long lo = hex4(s + 8, n - 8);

        if (lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        *used = 12;
    }
    return (long)spo_json_utf8_put((uint32_t)u, out);
}

int spo_json_unescape(const char *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
    const uint8_t *s = (const uint8_t *)src;
    size_t i = 0, o = 0;

    if (out_len != NULL)
        *out_len = 0;
    if (dst == NULL || cap == 0 || (src == NULL && len > 0))
        return SPO_E_ARG;
    /* dst is not cleared up front: it may be src */
    while (i < len) {
        uint8_t esc[4];
        const uint8_t *lit;
        size_t used;
        long n = next_unit(s + i, len - i, &used, &lit, esc);

        if (n < 0) {
            dst[0] = '\0';
            return SPO_E_JSON_SYNTAX;
        }
        if ((size_t)n >= cap - o) {
            dst[0] = '\0';
            return SPO_E_TOO_LONG;
        }
        /* in place (dst == src) is allowed: output never outruns input, but literal runs overlap */
        memmove(dst + o, lit != NULL ? lit : esc, (size_t)n);
        o += (size_t)n;
        i += used;
    }
    dst[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return SPO_OK;
}

/* Does the string body s (n bytes, escapes allowed) unescape to exactly the C string key? */
static int body_equals(const uint8_t *s, size_t n, const char *key)
{
    size_t i = 0, k = 0, klen = strlen(key);

    /* keys almost never hold escapes: then the bytes are the key */
    if (memchr(s, '\\', n) == NULL)
        return n == klen && memcmp(s, key, n) == 0;
    while (i < n) {
        uint8_t esc[4];
        const uint8_t *lit;
        size_t used;
        long m = next_unit(s + i, n - i, &used, &lit, esc);

        if (m < 0 || (size_t)m > klen - k || memcmp(key + k, lit != NULL ? lit : esc, (size_t)m) != 0)
            return 0;
        k += (size_t)m;
        i += used;
    }
    return k == klen;
}

/* Index of the token after the value at tok[i] and everything nested in it. jsmn gives no parent
 * links here, but every token's size counts its direct children (a key's size counts its value), so
 * walking forward while children are owed covers exactly the subtree. */
static int skip_value(const jsmntok_t *tok, int ntok, int i)
{
    long owed = 1;

    while (owed > 0) {
        if (i >= ntok || tok[i].size < 0)
            return -1;
        owed += tok[i].size - 1;
        i++;
    }
    return i;
}

int spo_json_elem_member(const spo_json_elem *e, const char *key)
{
    const jsmntok_t *t;
    int i, m, hit = -1;

    if (e == NULL || key == NULL || e->tok == NULL)
        return SPO_E_ARG;
    if (e->ntok < 1 || e->tok[0].type != JSMN_OBJECT)
        return SPO_E_JSON_SHAPE;
    t = e->tok;
    i = 1;
    for (m = 0; m < t[0].size; m++) {
        /* a member is a key token (size 1) followed by its value's subtree */
        if (i + 1 >= e->ntok || t[i].type != JSMN_STRING || t[i].start < 0 || t[i].end < t[i].start ||
            (size_t)t[i].end > e->len)
            return SPO_E_JSON_SHAPE;
        /* duplicate keys: the last one wins, as for the reader's captures */
        if (body_equals((const uint8_t *)e->js + t[i].start, (size_t)(t[i].end - t[i].start), key))
            hit = i + 1;
        i = skip_value(t, e->ntok, i);
        if (i < 0)
            return SPO_E_JSON_SHAPE;
    }
    if (hit < 0)
        return SPO_E_JSON_SHAPE;
    if (t[hit].start < 0 || t[hit].end < t[hit].start || (size_t)t[hit].end > e->len)
        return SPO_E_JSON_SHAPE;
    return hit;
}

int spo_json_elem_string(const spo_json_elem *e, const char *key, char *dst, size_t cap,
                         size_t *out_len)
{
    int hit;

    if (out_len != NULL)
        *out_len = 0;
    if (e == NULL || key == NULL || dst == NULL || cap == 0 || e->tok == NULL)
        return SPO_E_ARG;
    dst[0] = '\0';
    hit = spo_json_elem_member(e, key);
    if (hit < 0)
        return hit;
    if (e->tok[hit].type != JSMN_STRING)
        return SPO_E_JSON_SHAPE;
    return spo_json_unescape(e->js + e->tok[hit].start,
                             (size_t)(e->tok[hit].end - e->tok[hit].start), dst, cap, out_len);
}

int spo_json_utf8_valid(const char *s, size_t len)
{
    const uint8_t *b = (const uint8_t *)s;
    size_t i;

    if (s == NULL && len > 0)
        return 0;
    for (i = 0; i < len;) {
        if (b[i] < 0x80u) {
            i++;
        } else {
            size_t k = utf8_len(b + i, len - i);

            if (k == 0)
                return 0;
            i += k;
        }
    }
    return 1;
}

int spo_json_write_string(int (*put)(void *ctx, const char *s, size_t n), void *ctx, const char *s,
                          size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *b = (const uint8_t *)s;
    size_t i, run = 0;
    int rc;

    if (put == NULL || (s == NULL && len > 0))
        return SPO_E_ARG;
    /* check the UTF-8 first so that a bad string writes nothing rather than half a JSON string */
    if (!spo_json_utf8_valid(s, len))
        return SPO_E_ARG;
    if ((rc = put(ctx, "\"", 1)) != SPO_OK)
        return rc;
    for (i = 0; i < len; i++) {
        char e[6];
        size_t en = 2;
        uint8_t c = b[i];

        if (c >= 0x20u && c != '"' && c != '\\')
            continue;
        if (i > run && (rc = put(ctx, s + run, i - run)) != SPO_OK)
            return rc;
        run = i + 1;
        e[0] = '\\';
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 0xFu];
            en = 6;
            break;
        }
        if ((rc = put(ctx, e, en)) != SPO_OK)
            return rc;
    }
    if (len > run && (rc = put(ctx, s + run, len - run)) != SPO_OK)
        return rc;
    return put(ctx, "\"", 1);
}
