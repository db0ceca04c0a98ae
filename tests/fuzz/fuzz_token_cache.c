/* Fuzz target: the token cache record (src/token_cache.c), read back from a fake port store.
 *
 * The record lives on disk or in flash, so it is input like any other. Input: byte 0 bit 0 seals
 * the rest (a correct magic, version, length and CRC-32 are written over and after it, so the fuzzer
 * reaches the entry checks instead of bouncing off the checksum); bit 1 gives the store a work
 * buffer smaller than SPO_CACHE_MAX; the rest is the record.
 * Properties: load answers one of the documented results; anything but FRESH leaves the whole
 * spo_token zero, and the refresh buffer "" (all zero unless STALE); a FRESH token is non-empty,
 * printable, NUL-terminated after "Bearer ", with the deadline no later than the cached one; the
 * work buffer is zero after every call (it held tokens). Then store a token, load it back FRESH
 * byte for byte with its refresh token, and remove it: MISS afterwards. Every record the cache writes
 * must be one it reads back. */
#include "fuzz.h"
#include "spo/auth.h"
#include "spo/port.h"

#include <string.h>

typedef struct store {
    uint8_t *rec;
    size_t len;
    int present;
    unsigned writes;
} store;

static int st_read(void *ctx, const char *key, uint8_t *buf, size_t cap)
{
    store *s = ctx;
    FUZZ_CHECK(key && strcmp(key, SPO_CACHE_KEY) == 0);
    if (!s->present)
        return SPO_STORE_ABSENT;
    if (s->len > cap)
        return SPO_STORE_TOO_BIG;
    memcpy(buf, s->rec, s->len);
    return (int)s->len;
}

static int st_write(void *ctx, const char *key, const uint8_t *data, size_t len)
{
    store *s = ctx;
    FUZZ_CHECK(key && data && len > 0 && len <= SPO_CACHE_MAX);
    s->rec = realloc(s->rec, len);
    memcpy(s->rec, data, len);
    s->len = len;
    s->present = 1;
    s->writes++;
    return SPO_OK;
}

static int st_remove(void *ctx, const char *key)
{
    store *s = ctx;
    FUZZ_CHECK(key != NULL);
    if (!s->present)
        return SPO_STORE_ABSENT;
    s->present = 0;
    return SPO_OK;
}

/* CRC-32/IEEE, bit by bit: an independent copy of the checksum the record carries. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}


static const spo_cache_id ids[3] = {
    { SPO_CACHE_APP, "a", "t", "c", "s" },
    { SPO_CACHE_USER, "https://login.microsoftonline.com/", "common", "cid", "offline_access x" },
    { SPO_CACHE_APP, "https://login.microsoftonline.com", "contoso", "00000000", "https://g/.default" },
};

#define NOW 1700000000
#define NOW_MS 5000u

/* One load, with every property that holds whatever the record was. */
static int load(const spo_cache *c, const spo_cache_id *id, spo_token *t, char *refresh)
{
    memset(t, 0xa5, sizeof *t);
    memset(refresh, 0xa5, SPO_REFRESH_MAX);
    int rc = spo_cache_load(c, id, t, refresh, SPO_REFRESH_MAX, NOW, NOW_MS);
    FUZZ_CHECK(rc == SPO_CACHE_FRESH || rc == SPO_CACHE_STALE || rc == SPO_CACHE_MISS ||
               rc == SPO_CACHE_CORRUPT);
    FUZZ_CHECK(fuzz_all_zero(c->buf, c->cap < SPO_CACHE_MAX ? c->cap : SPO_CACHE_MAX));
    if (rc == SPO_CACHE_FRESH) {
        const char *tok = t->bearer + SPO_BEARER_PREFIX_LEN;
        FUZZ_CHECK(memcmp(t->bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN) == 0);
        FUZZ_CHECK(t->len > 0 && t->len < SPO_TOKEN_MAX && tok[t->len] == '\0');
        for (size_t i = 0; i < t->len; i++)
            FUZZ_CHECK(tok[i] > ' ' && tok[i] <= '~');
        FUZZ_CHECK(t->lifetime_s > 0);
        FUZZ_CHECK(spo_token_fresh(t, NOW_MS));
        /* On this process's clock the token must not outlive its wall-clock expiry. */
        FUZZ_CHECK(t->obtained_ms + (uint64_t)t->lifetime_s * 1000u <=
                   NOW_MS + (uint64_t)(t->expires_wall - NOW) * 1000u);
    } else {
        FUZZ_CHECK(fuzz_all_zero(t, sizeof *t));
    }
    if (rc == SPO_CACHE_FRESH || rc == SPO_CACHE_STALE)
        FUZZ_CHECK(fuzz_terminated(refresh, SPO_REFRESH_MAX));
    else
        FUZZ_CHECK(fuzz_all_zero(refresh, SPO_REFRESH_MAX));
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static spo_token t, back;
    static char refresh[SPO_REFRESH_MAX], refresh2[SPO_REFRESH_MAX];
    if (size == 0 || size > SPO_CACHE_MAX + 64)
        return 0;
    const uint8_t ctl = data[0];
    size_t n = size - 1;

    store s = { NULL, 0, 1, 0 };
    s.rec = malloc(n + 4);
    memcpy(s.rec, data + 1, n);
    s.len = n;
    if ((ctl & 1) && n >= 8) {
        memcpy(s.rec, "SPOC", 4);
        s.rec[4] = 1;
        s.rec[6] = (uint8_t)((n + 4) & 0xff);
        s.rec[7] = (uint8_t)((n + 4) >> 8);
        uint32_t crc = crc32_ieee(s.rec, n);
        for (int i = 0; i < 4; i++)
            s.rec[n + i] = (uint8_t)(crc >> (8 * i));
        s.len = n + 4;
    }
    spo_port port;
    memset(&port, 0, sizeof port);
    port.ctx = &s;
    port.store_read = st_read;
    port.store_write = st_write;
    port.store_remove = st_remove;
    size_t cap = (ctl & 2) ? 4096 : SPO_CACHE_MAX;
    uint8_t *buf = malloc(cap); /* exact size: ASan sees any write past it */
    const spo_cache c = { &port, SPO_CACHE_KEY, buf, cap };

    for (size_t i = 0; i < 3; i++) {
        int r = load(&c, &ids[i], &t, refresh);
#ifdef FUZZ_DEBUG /* -DFUZZ_DEBUG: say what each input did, to see the harness reach its paths */
        fprintf(stderr, "id %zu -> %d (token %zu, refresh %zu)%s", i, r, t.len, strlen(refresh),
                i == 2 ? "\n" : "; ");
#else
        (void)r;
#endif
    }

    /* Store a token for ids[i] over whatever was there, read it back, remove it. */
    size_t which = (ctl >> 2) % 3;
    memset(&t, 0, sizeof t);
    memcpy(t.bearer, SPO_BEARER_PREFIX "eyJ0eXAi.fuzz", SPO_BEARER_PREFIX_LEN + 13);
    t.len = 13;
    t.lifetime_s = 3599;
    t.expires_wall = NOW - 10 + 3599;
    const char *rt = (ctl & 32) ? "0.ARoA-refresh" : NULL;
    int rc = spo_cache_store(&c, &ids[which], &t, rt, rt ? strlen(rt) : 0, NOW);
    FUZZ_CHECK(rc == SPO_OK);
    FUZZ_CHECK(fuzz_all_zero(buf, cap < SPO_CACHE_MAX ? cap : SPO_CACHE_MAX));
    FUZZ_CHECK(s.present && s.len <= cap);
    FUZZ_CHECK(load(&c, &ids[which], &back, refresh2) == SPO_CACHE_FRESH);
    FUZZ_CHECK(back.len == t.len && memcmp(back.bearer, t.bearer, SPO_BEARER_PREFIX_LEN + t.len) == 0);
    FUZZ_CHECK(back.expires_wall == t.expires_wall);
    FUZZ_CHECK(strcmp(refresh2, rt ? rt : "") == 0);
    /* The other ids still load (whatever they gave before, evictions aside): no corruption. */
    for (size_t i = 0; i < 3; i++)
        FUZZ_CHECK(load(&c, &ids[i], &back, refresh2) != SPO_CACHE_CORRUPT);

    rc = spo_cache_remove(&c, &ids[which]);
    FUZZ_CHECK(rc == 1);
    FUZZ_CHECK(fuzz_all_zero(buf, cap < SPO_CACHE_MAX ? cap : SPO_CACHE_MAX));
    FUZZ_CHECK(load(&c, &ids[which], &back, refresh2) == SPO_CACHE_MISS);
    FUZZ_CHECK(spo_cache_remove(&c, NULL) >= 0);
    FUZZ_CHECK(!s.present);

    free(buf);
    free(s.rec);
    return 0;
}
