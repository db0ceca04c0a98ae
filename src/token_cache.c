/* The token cache: one checksummed record of entries in the port's storage (format in auth.h). */
#include "spo/auth.h"
#include "spo/port.h"

#include <mbedtls/platform_util.h>
#include <string.h>

#define VERSION 1
#define HDR 8    /* magic, version, count, record length */
#define FIXED 21 /* kind, 4 key lengths, obtained, lifetime, 2 token lengths */
#define TRAILER 4
#define LIFETIME_MAX 100000000u /* auth.c accepts no longer expires_in */
/* Year ~36800: far enough, and keeps obtained + lifetime far from overflowing. */
#define OBTAINED_MAX ((int64_t)1 << 40)

static const uint8_t MAGIC[4] = { 'S', 'P', 'O', 'C' };

_Static_assert(SPO_CACHE_MAX >= HDR + TRAILER && SPO_CACHE_MAX <= 65535,
               "the record length is a u16");
_Static_assert(SPO_CACHE_ENTRIES >= 1 && SPO_CACHE_ENTRIES <= 255, "the entry count is a u8");
_Static_assert(SPO_TOKEN_MAX <= 65536 && SPO_REFRESH_MAX <= 65536, "token lengths are u16");

/* Where an entry lies in the buffer; its strings follow the fixed part in format order. */
typedef struct entry {
    uint16_t off, size;
    uint16_t alen, rlen;
    uint8_t kind;
    uint8_t klen[4];
    uint32_t lifetime;
    int64_t obtained;
} entry;

typedef struct record {
    size_t count;
    entry e[SPO_CACHE_ENTRIES];
} record;

typedef struct idkey {
    uint8_t kind;
    const char *s[4];
    size_t len[4];
} idkey;

/* CRC-32/IEEE with a 16-entry table: 64 bytes of flash instead of 1 KB, fast enough for 12 KB. */
static uint32_t crc32(const uint8_t *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
        0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
        0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
    };
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ t[c & 15];
        c = (c >> 4) ^ t[c & 15];
    }
    return ~c;
}

static uint32_t get_le(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    while (n--)
        v = (v << 8) | p[n];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Every byte in [lo, '~']: keys may hold spaces (delegated scopes), tokens may not. */
static int ascii(const uint8_t *p, size_t n, uint8_t lo)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < lo || p[i] > '~')
            return 0;
    return 1;
}

static size_t record_limit(const spo_cache *c)
{
    return c->cap < SPO_CACHE_MAX ? c->cap : SPO_CACHE_MAX;
}

static int parse(const uint8_t *b, size_t n, record *r)
{
    r->count = 0;
    if (n < HDR + TRAILER || memcmp(b, MAGIC, sizeof MAGIC) != 0 || b[4] != VERSION ||
        b[5] > SPO_CACHE_ENTRIES || get_le(b + 6, 2) != n ||
        get_le(b + n - TRAILER, 4) != crc32(b, n - TRAILER))
        return -1;
    size_t pos = HDR, end = n - TRAILER;
    for (size_t i = 0; i < b[5]; i++) {
        const uint8_t *p = b + pos;
        entry *e = &r->e[i];
        if (end - pos < FIXED)
            return -1;
        e->kind = p[0];
        size_t size = FIXED;
        for (size_t k = 0; k < 4; k++) {
            e->klen[k] = p[1 + k];
            if (e->klen[k] == 0)
                return -1;
            size += e->klen[k];
        }
        uint64_t obtained = (uint64_t)get_le(p + 5, 4) | (uint64_t)get_le(p + 9, 4) << 32;
        e->lifetime = get_le(p + 13, 4);
        e->alen = (uint16_t)get_le(p + 17, 2);
        e->rlen = (uint16_t)get_le(p + 19, 2);
        if (e->kind > SPO_CACHE_USER || obtained > (uint64_t)OBTAINED_MAX || e->lifetime == 0 ||
            e->lifetime > LIFETIME_MAX || e->alen == 0 || e->alen >= SPO_TOKEN_MAX ||
            e->rlen >= SPO_REFRESH_MAX)
            return -1;
        e->obtained = (int64_t)obtained;
        size_t keys = size - FIXED;
        size += (size_t)e->alen + e->rlen;
        if (size > end - pos || !ascii(p + FIXED, keys, ' ') ||
            !ascii(p + FIXED + keys, (size_t)e->alen + e->rlen, '!'))
            return -1;
        e->off = (uint16_t)pos;
        e->size = (uint16_t)size;
        pos += size;
    }
    if (pos != end)
        return -1;
    r->count = b[5];
    return 0;
}

/* Read and check the record into c->buf: SPO_OK, or what load should answer. */
static int read_record(const spo_cache *c, record *r)
{
    size_t limit = record_limit(c);
    r->count = 0;
    int n = c->port->store_read(c->port->ctx, c->key, c->buf, limit);
    if (n == SPO_STORE_ABSENT)
        return SPO_CACHE_MISS;
    if (n == SPO_STORE_INSECURE)
        return SPO_CACHE_INSECURE;
    if (n == SPO_STORE_TOO_BIG || (n >= 0 && (size_t)n > limit))
        return SPO_CACHE_CORRUPT;
    if (n < 0)
        return n;
    return parse(c->buf, (size_t)n, r) == 0 ? SPO_OK : SPO_CACHE_CORRUPT;
}

static int prepare_id(const spo_cache_id *id, idkey *k)
{
    const char *s[4] = { id->authority, id->tenant, id->client_id, id->scope };
    if (id->kind > SPO_CACHE_USER)
        return SPO_E_ARG;
    k->kind = id->kind;
    for (size_t i = 0; i < 4; i++) {
        if (!s[i])
            return SPO_E_ARG;
        size_t n = strlen(s[i]);
        /* "https://login.microsoftonline.com/" and without the slash are the same authority. */
        while (i == 0 && n > 0 && s[i][n - 1] == '/')
            n--;
        if (n == 0 || n > 255 || !ascii((const uint8_t *)s[i], n, ' '))
            return SPO_E_ARG;
        k->s[i] = s[i];
        k->len[i] = n;
    }
    return SPO_OK;
}

static int matches(const uint8_t *b, const entry *e, const idkey *k)
{
    if (e->kind != k->kind)
        return 0;
    const uint8_t *p = b + e->off + FIXED;
    for (size_t i = 0; i < 4; i++) {
        if (e->klen[i] != k->len[i] || memcmp(p, k->s[i], k->len[i]) != 0)
            return 0;
        p += e->klen[i];
    }
    return 1;
}

static size_t key_bytes(const entry *e)
{
    return (size_t)e->klen[0] + e->klen[1] + e->klen[2] + e->klen[3];
}

/* spo_token_fresh()'s rule on the wall clock; a clock behind "obtained" is never fresh. */
static int fresh_at(int64_t obtained, uint32_t lifetime, int64_t now)
{
    if (now < obtained || (uint64_t)(now - obtained) >= lifetime)
        return 0;
    /* In milliseconds like spo_token_fresh(), so that half of an odd lifetime agrees too. */
    uint64_t elapsed = (uint64_t)(now - obtained) * 1000u;
    uint64_t life = (uint64_t)lifetime * 1000u;
    uint64_t margin = (uint64_t)SPO_TOKEN_REFRESH_MARGIN_S * 1000u;
    uint64_t usable = life > 2 * margin ? life - margin : life / 2;
    return elapsed < usable;
}

static int has_storage(const spo_cache *c)
{
    return c->port->store_read && c->port->store_write && c->port->store_remove;
}

static int cache_ok(const spo_cache *c)
{
    return c && c->port && c->key && c->buf && record_limit(c) >= HDR + TRAILER;
}

/* Header and CRC around the entries in buf[HDR, end); returns the record length. */
static size_t seal(uint8_t *b, size_t count, size_t end)
{
    memcpy(b, MAGIC, sizeof MAGIC);
    b[4] = VERSION;
    b[5] = (uint8_t)count;
    put_le(b + 6, end + TRAILER, 2);
    put_le(b + end, crc32(b, end), 4);
    return end + TRAILER;
}

/* Move the entries with keep[i] set to the front, in order; returns the end of the last one.
 * Entries only move down, and each lies past everything written before it. */
static size_t compact(uint8_t *b, const record *r, const uint8_t *keep)
{
    size_t pos = HDR;
    for (size_t i = 0; i < r->count; i++) {
        if (!keep[i])
            continue;
        memmove(b + pos, b + r->e[i].off, r->e[i].size);
        pos += r->e[i].size;
    }
    return pos;
}

int spo_cache_load(const spo_cache *c, const spo_cache_id *id, spo_token *out, char *refresh,
                   size_t refresh_cap, int64_t now, uint64_t now_ms)
{
    idkey k;
    record r;
    if (!out || (!refresh && refresh_cap))
        return SPO_E_ARG;
    mbedtls_platform_zeroize(out, sizeof *out);
    if (refresh_cap)
        refresh[0] = '\0';
    if (!cache_ok(c) || !id || prepare_id(id, &k) != SPO_OK)
        return SPO_E_ARG;
    if (!has_storage(c))
        return SPO_CACHE_MISS;

    int rc = read_record(c, &r);
    const entry *e = NULL;
    for (size_t i = 0; rc == SPO_OK && i < r.count && !e; i++)
        if (matches(c->buf, &r.e[i], &k))
            e = &r.e[i];
    if (rc == SPO_OK && !e)
        rc = SPO_CACHE_MISS;
    if (rc != SPO_OK)
        goto done;

    const char *access = (const char *)c->buf + e->off + FIXED + key_bytes(e);
    if (refresh && e->rlen) {
        if (refresh_cap <= e->rlen) {
            rc = SPO_E_TOO_LONG;
            goto done;
        }
        memcpy(refresh, access + e->alen, e->rlen);
        refresh[e->rlen] = '\0';
    }
    if (!fresh_at(e->obtained, e->lifetime, now)) {
        rc = SPO_CACHE_STALE;
        goto done;
    }
    memcpy(out->bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN);
    memcpy(out->bearer + SPO_BEARER_PREFIX_LEN, access, e->alen);
    out->bearer[SPO_BEARER_PREFIX_LEN + e->alen] = '\0';
    out->len = e->alen;
    out->lifetime_s = e->lifetime;
    out->expires_wall = e->obtained + e->lifetime;
    /* Place "obtained" on this process's monotonic clock so spo_token_fresh() keeps the same
     * deadline. If the token predates the clock's origin (obtained before a reboot), start at 0 and
     * shorten the lifetime by the difference: the token still expires no later than it does. */
    uint64_t elapsed_ms = (uint64_t)(now - e->obtained) * 1000u;
    if (now_ms >= elapsed_ms) {
        out->obtained_ms = now_ms - elapsed_ms;
    } else {
        out->obtained_ms = 0;
        out->lifetime_s -= (uint32_t)((elapsed_ms - now_ms + 999u) / 1000u);
    }
    rc = SPO_CACHE_FRESH;
done:
    if (rc != SPO_CACHE_FRESH)
        mbedtls_platform_zeroize(out, sizeof *out);
    if (rc != SPO_CACHE_FRESH && rc != SPO_CACHE_STALE && refresh_cap)
        mbedtls_platform_zeroize(refresh, refresh_cap);
    mbedtls_platform_zeroize(c->buf, record_limit(c));
    return rc;
}

int spo_cache_store(const spo_cache *c, const spo_cache_id *id, const spo_token *t,
                    const char *refresh, size_t refresh_len, int64_t now)
{
    idkey k;
    record r;
    uint8_t keep[SPO_CACHE_ENTRIES];
    if (!cache_ok(c) || !id || !t || (!refresh && refresh_len) || prepare_id(id, &k) != SPO_OK ||
        !has_storage(c))
        return SPO_E_ARG;
    const char *access = t->bearer + SPO_BEARER_PREFIX_LEN;
    if (t->len == 0 || t->len >= SPO_TOKEN_MAX || !ascii((const uint8_t *)access, t->len, '!') ||
        t->lifetime_s == 0 || t->lifetime_s > LIFETIME_MAX ||
        t->expires_wall < (int64_t)t->lifetime_s ||
        t->expires_wall - (int64_t)t->lifetime_s > OBTAINED_MAX || refresh_len >= SPO_REFRESH_MAX ||
        !ascii((const uint8_t *)refresh, refresh_len, '!'))
        return SPO_E_ARG;
    int64_t obtained = t->expires_wall - (int64_t)t->lifetime_s;
    size_t keys = k.len[0] + k.len[1] + k.len[2] + k.len[3];
    size_t size = FIXED + keys + t->len + refresh_len;
    size_t limit = record_limit(c);
    if (HDR + size + TRAILER > limit)
        return SPO_E_TOO_LONG;

    /* Whatever stops the old record from being read (absent, corrupt, insecure, unreadable), the
     * new one replaces it: a cache is only worth its newest entry. */
    if (read_record(c, &r) != SPO_OK)
        r.count = 0;
    size_t kept = 0, total = HDR + size + TRAILER;
    for (size_t i = 0; i < r.count; i++) {
        const entry *e = &r.e[i];
        int expired = now >= e->obtained + (int64_t)e->lifetime && e->rlen == 0;
        keep[i] = !matches(c->buf, e, &k) && !expired;
        kept += keep[i];
        total += keep[i] ? e->size : 0;
    }
    for (size_t i = 0; i < r.count && (kept + 1 > SPO_CACHE_ENTRIES || total > limit); i++) {
        if (keep[i]) {
            keep[i] = 0;
            kept--;
            total -= r.e[i].size;
        }
    }

    uint8_t *b = c->buf;
    size_t pos = compact(b, &r, keep);
    uint8_t *p = b + pos;
    p[0] = k.kind;
    for (size_t i = 0; i < 4; i++)
        p[1 + i] = (uint8_t)k.len[i];
    put_le(p + 5, (uint64_t)obtained, 8);
    put_le(p + 13, t->lifetime_s, 4);
    put_le(p + 17, t->len, 2);
    put_le(p + 19, refresh_len, 2);
    p += FIXED;
    for (size_t i = 0; i < 4; i++) {
        memcpy(p, k.s[i], k.len[i]);
        p += k.len[i];
    }
    memcpy(p, access, t->len);
    if (refresh_len)
        memcpy(p + t->len, refresh, refresh_len);
    size_t n = seal(b, kept + 1, pos + size);
    int rc = c->port->store_write(c->port->ctx, c->key, b, n);
    mbedtls_platform_zeroize(b, limit);
    return rc;
}

int spo_cache_remove(const spo_cache *c, const spo_cache_id *id)
{
    idkey k;
    record r;
    uint8_t keep[SPO_CACHE_ENTRIES];
    if (!cache_ok(c) || (id && prepare_id(id, &k) != SPO_OK) || !has_storage(c))
        return SPO_E_ARG;
    int rc = id ? read_record(c, &r) : SPO_CACHE_CORRUPT;
    if (rc == SPO_CACHE_MISS || rc < 0) {
        mbedtls_platform_zeroize(c->buf, record_limit(c)); /* a failed read may have left bytes */
        return rc < 0 ? rc : 0;
    }
    if (rc != SPO_OK) {
        /* The whole record: asked for, or unreadable (and possibly still holding secrets). */
        mbedtls_platform_zeroize(c->buf, record_limit(c));
        rc = c->port->store_remove(c->port->ctx, c->key);
        return rc == SPO_OK ? 1 : rc == SPO_STORE_ABSENT ? 0 : rc;
    }
    size_t gone = 0;
    for (size_t i = 0; i < r.count; i++) {
        keep[i] = !matches(c->buf, &r.e[i], &k);
        gone += !keep[i];
    }
    if (gone == 0)
        rc = 0;
    else if (gone == r.count)
        rc = c->port->store_remove(c->port->ctx, c->key);
    else
        rc = c->port->store_write(c->port->ctx, c->key, c->buf,
                                  seal(c->buf, r.count - gone, compact(c->buf, &r, keep)));
    mbedtls_platform_zeroize(c->buf, record_limit(c));
    if (rc == SPO_STORE_ABSENT)
        rc = SPO_OK; /* deleted meanwhile by someone else: gone all the same */
    return rc == SPO_OK ? (int)gone : rc;
}

const char *spo_cache_describe(int rc)
{
    switch (rc) {
    case SPO_CACHE_FRESH: return "a fresh token is cached";
    case SPO_CACHE_STALE: return "the cached token has expired";
    case SPO_CACHE_MISS:
    case SPO_STORE_ABSENT: return "no token is cached";
    case SPO_CACHE_CORRUPT:
    case SPO_STORE_TOO_BIG: return "the cache is corrupt; it will be replaced";
    case SPO_CACHE_INSECURE:
    case SPO_STORE_INSECURE:
        return "the cache is not a regular file owned by this user and closed to others; "
               "it will be replaced";
    case SPO_STORE_IO: return "the cache storage failed";
    case SPO_E_ARG: return "no usable cache location";
    case SPO_E_TOO_LONG: return "the token does not fit the cache";
    default: return spo_strerror(rc);
    }
}
