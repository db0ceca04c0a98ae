/* The token cache over an in-memory store: format, keys, freshness, eviction, corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spo/auth.h"
#include "spo/port.h"

/* ---- a store in memory, with failures on demand ---- */

typedef struct fake_store {
    uint8_t data[2 * SPO_CACHE_MAX];
    size_t len;
    int present;
    int read_rc, write_rc, remove_rc; /* forced results; 0 = behave */
    int reads, writes, removes;
} fake_store;

static fake_store S;

static int fs_read(void *ctx, const char *key, uint8_t *buf, size_t cap)
{
    fake_store *s = ctx;
    s->reads++;
    assert_string_equal(key, SPO_CACHE_KEY);
    if (s->read_rc)
        return s->read_rc;
    if (!s->present)
        return SPO_STORE_ABSENT;
    if (s->len > cap)
        return SPO_STORE_TOO_BIG;
    memcpy(buf, s->data, s->len);
    return (int)s->len;
}

static int fs_write(void *ctx, const char *key, const uint8_t *data, size_t len)
{
    fake_store *s = ctx;
    s->writes++;
    assert_string_equal(key, SPO_CACHE_KEY);
    if (s->write_rc)
        return s->write_rc;
    assert_true(len <= sizeof s->data);
    memcpy(s->data, data, len);
    s->len = len;
    s->present = 1;
    return SPO_OK;
}

static int fs_remove(void *ctx, const char *key)
{
    fake_store *s = ctx;
    s->removes++;
    assert_string_equal(key, SPO_CACHE_KEY);
    if (s->remove_rc)
        return s->remove_rc;
    if (!s->present)
        return SPO_STORE_ABSENT;
    s->present = 0;
    s->len = 0;
    return SPO_OK;
}

static spo_port PORT = { .ctx = &S, .store_read = fs_read, .store_write = fs_write,
                         .store_remove = fs_remove };
static uint8_t WORK[SPO_CACHE_MAX];
static spo_cache C = { &PORT, SPO_CACHE_KEY, WORK, sizeof WORK };

static const spo_cache_id ID = { SPO_CACHE_APP, "https://login.microsoftonline.com",
                                 "contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555",
                                 "https://graph.microsoft.com/.default" };

#define T0 1700000000 /* when the test tokens were obtained */

static int reset(void **state)
{
    (void)state;
    memset(&S, 0, sizeof S);
    memset(WORK, 0, sizeof WORK);
    C = (spo_cache){ &PORT, SPO_CACHE_KEY, WORK, sizeof WORK };
    return 0;
}

/* A token "tok" of len bytes (a pattern seeded by seed), obtained at T0 for life seconds. */
static void make_token(spo_token *t, size_t len, char seed, uint32_t life)
{
    memset(t, 0, sizeof *t);
    memcpy(t->bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN);
    for (size_t i = 0; i < len; i++)
        t->bearer[SPO_BEARER_PREFIX_LEN + i] = (char)('!' + (seed + i) % 94);
    t->len = len;
    t->lifetime_s = life;
    t->expires_wall = T0 + (int64_t)life;
}

static void assert_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            fail_msg("byte %zu of the work buffer not wiped", i);
}

static void assert_same_token(const spo_token *a, const spo_token *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->bearer, b->bearer, SPO_BEARER_PREFIX_LEN + a->len);
    assert_int_equal(a->bearer[SPO_BEARER_PREFIX_LEN + a->len], '\0');
    assert_int_equal(a->lifetime_s, b->lifetime_s);
    assert_int_equal(a->expires_wall, b->expires_wall);
}

static int load(const spo_cache_id *id, spo_token *out, char *refresh, size_t cap, int64_t now)
{
    int rc = spo_cache_load(&C, id, out, refresh, cap, now, 1000000000u);
    assert_zero(WORK, sizeof WORK);
    return rc;
}

static int store(const spo_cache_id *id, const spo_token *t, const char *refresh, int64_t now)
{
    int rc = spo_cache_store(&C, id, t, refresh, refresh ? strlen(refresh) : 0, now);
    assert_zero(WORK, sizeof WORK);
    return rc;
}

/* ---- an independent writer of the documented format, to forge records ---- */

static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Recompute length and CRC of the record in S so that only the field under test is wrong. */
static void reseal(void)
{
    le(S.data + 6, S.len, 2);
    le(S.data + S.len - 4, ref_crc32(S.data, S.len - 4), 4);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    (void)state;
    spo_token t, out;
    make_token(&t, 2000, 3, 3599);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    assert_int_equal(S.writes, 1);
    assert_int_equal(load(&ID, &out, NULL, 0, T0 + 60), SPO_CACHE_FRESH);
    assert_same_token(&out, &t);
    /* Obtained 60 s ago on the wall clock = 60 s before now on the monotonic clock. */
    assert_int_equal(out.obtained_ms, 1000000000u - 60000u);
    assert_true(spo_token_fresh(&out, 1000000000u));
}

static void test_format_is_as_documented(void **state)
{
    (void)state;
    spo_token t;
    make_token(&t, 5, 0, 3600);
    spo_cache_id id = { SPO_CACHE_USER, "https://a/", "t", "c", "s x" };
    assert_int_equal(spo_cache_store(&C, &id, &t, "RT", 2, T0), SPO_OK);
    uint8_t want[8 + 21 + 9 + 1 + 1 + 3 + 5 + 2 + 4];
    uint8_t *p = want;
    memcpy(p, "SPOC\x01\x01", 6);
    le(p + 6, sizeof want, 2);
    p += 8;
    p[0] = SPO_CACHE_USER;
    p[1] = 9; /* the authority without its trailing '/' */
    p[2] = 1;
    p[3] = 1;
    p[4] = 3;
    le(p + 5, T0, 8);
    le(p + 13, 3600, 4);
    le(p + 17, 5, 2);
    le(p + 19, 2, 2);
    memcpy(p + 21, "https://atcs x!\"#$%RT", 21);
    le(want + sizeof want - 4, ref_crc32(want, sizeof want - 4), 4);
    assert_int_equal(S.len, sizeof want);
    assert_memory_equal(S.data, want, sizeof want);
}

/* The wall-clock rule must be spo_token_fresh()'s, second for second, long and short tokens. */
static void test_freshness_matches_spo_token_fresh(void **state)
{
    (void)state;
    static const uint32_t lives[] = { 1, 2, 3, 299, 300, 599, 600, 601, 899, 3599, 86400 };
    for (size_t i = 0; i < sizeof lives / sizeof lives[0]; i++) {
        spo_token t, out, mem;
        make_token(&t, 40, (char)i, lives[i]);
        assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
        mem = t;
        mem.obtained_ms = 5000000;
        int64_t probes[] = { 0, 1, (int64_t)lives[i] / 2 - 1, (int64_t)lives[i] / 2,
                             (int64_t)lives[i] - 301, (int64_t)lives[i] - 300,
                             (int64_t)lives[i] - 299, (int64_t)lives[i], (int64_t)lives[i] + 1 };
        for (size_t k = 0; k < sizeof probes / sizeof probes[0]; k++) {
            if (probes[k] < 0)
                continue;
            int want = spo_token_fresh(&mem, 5000000 + (uint64_t)probes[k] * 1000);
            int rc = load(&ID, &out, NULL, 0, T0 + probes[k]);
            assert_int_equal(rc, want ? SPO_CACHE_FRESH : SPO_CACHE_STALE);
            if (!want)
                assert_int_equal(out.len, 0);
        }
    }
}

static void test_clock_behind_obtained_is_stale(void **state)
{
    (void)state;
    spo_token t, out;
    make_token(&t, 40, 0, 3600);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    assert_int_equal(load(&ID, &out, NULL, 0, T0 - 1), SPO_CACHE_STALE);
    assert_int_equal(load(&ID, &out, NULL, 0, 0), SPO_CACHE_STALE); /* RTC reset to 1970 */
    assert_int_equal(load(&ID, &out, NULL, 0, INT64_MIN), SPO_CACHE_STALE);
    assert_int_equal(load(&ID, &out, NULL, 0, INT64_MAX), SPO_CACHE_STALE);
}

/* After a reboot the monotonic clock restarts below the token's age: the token must still stop
 * being fresh in this process no later than it would by the wall clock. */
static void test_monotonic_origin_after_token(void **state)
{
    (void)state;
    spo_token t, out;
    make_token(&t, 40, 0, 3600);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    int64_t age = 1000;
    uint64_t now_ms = 20000; /* booted 20 s ago */
    assert_int_equal(spo_cache_load(&C, &ID, &out, NULL, 0, T0 + age, now_ms), SPO_CACHE_FRESH);
    assert_int_equal(out.expires_wall, T0 + 3600);
    for (int64_t d = 0; d < 4000; d++) {
        int in_process = spo_token_fresh(&out, now_ms + (uint64_t)d * 1000);
        if (in_process)
            assert_true(T0 + age + d < T0 + 3600 - 300);
    }
    assert_true(spo_token_fresh(&out, now_ms + 2000u * 1000u)); /* and it is actually reused */
}

static void test_keys_are_distinct(void **state)
{
    (void)state;
    spo_cache_id ids[6];
    for (int i = 0; i < 6; i++)
        ids[i] = ID;
    ids[1].kind = SPO_CACHE_USER;
    ids[2].authority = "https://login.microsoftonline.us";
    ids[3].tenant = "fabrikam.onmicrosoft.com";
    ids[4].client_id = "99999999-2222-3333-4444-555555555555";
    ids[5].scope = "https://graph.microsoft.us/.default";
    spo_token t, out;
    for (int i = 0; i < 6; i++) {
        make_token(&t, 100, (char)i, 3600);
        assert_int_equal(store(&ids[i], &t, NULL, T0), SPO_OK);
    }
    for (int i = 0; i < 6; i++) {
        make_token(&t, 100, (char)i, 3600);
        assert_int_equal(load(&ids[i], &out, NULL, 0, T0), SPO_CACHE_FRESH);
        assert_same_token(&out, &t);
    }
    spo_cache_id other = ID;
    other.tenant = "contoso.onmicrosoft.co"; /* a prefix is not a match */
    assert_int_equal(load(&other, &out, NULL, 0, T0), SPO_CACHE_MISS);
    other = ID;
    other.authority = "https://login.microsoftonline.com//";
    assert_int_equal(load(&other, &out, NULL, 0, T0), SPO_CACHE_FRESH);
}

static void test_replace_rotates_refresh(void **state)
{
    (void)state;
    spo_token t, out;
    char rt[SPO_REFRESH_MAX];
    make_token(&t, 1500, 1, 3600);
    assert_int_equal(store(&ID, &t, "refresh-one", T0), SPO_OK);
    make_token(&t, 1700, 2, 4000);
    assert_int_equal(store(&ID, &t, "refresh-two", T0), SPO_OK);
    assert_int_equal(S.data[5], 1); /* replaced, not added */
    assert_int_equal(load(&ID, &out, rt, sizeof rt, T0 + 10), SPO_CACHE_FRESH);
    assert_same_token(&out, &t);
    assert_string_equal(rt, "refresh-two");
    /* Stale: the access token is withheld, the refresh token is still handed out. */
    assert_int_equal(load(&ID, &out, rt, sizeof rt, T0 + 3800), SPO_CACHE_STALE);
    assert_int_equal(out.len, 0);
    assert_string_equal(rt, "refresh-two");
    /* A buffer too small is an error, never a cut token. */
    assert_int_equal(load(&ID, &out, rt, 11, T0 + 10), SPO_E_TOO_LONG);
    assert_int_equal(out.len, 0);
    assert_int_equal(load(&ID, &out, rt, 12, T0 + 10), SPO_CACHE_FRESH);
    /* NULL: not wanted. */
    assert_int_equal(load(&ID, &out, NULL, 0, T0 + 10), SPO_CACHE_FRESH);
    /* A miss leaves an empty refresh token. */
    spo_cache_id other = ID;
    other.scope = "x";
    assert_int_equal(load(&other, &out, rt, sizeof rt, T0), SPO_CACHE_MISS);
    assert_string_equal(rt, "");
}

static spo_cache_id numbered(int i, char *buf, size_t cap)
{
    spo_cache_id id = ID;
    snprintf(buf, cap, "tenant-%d", i);
    id.tenant = buf;
    return id;
}

static void test_evicts_oldest_by_count(void **state)
{
    (void)state;
    char names[SPO_CACHE_ENTRIES + 2][32];
    spo_token t, out;
    for (int i = 0; i < SPO_CACHE_ENTRIES; i++) {
        spo_cache_id id = numbered(i, names[i], sizeof names[i]);
        make_token(&t, 200, (char)i, 3600);
        assert_int_equal(store(&id, &t, NULL, T0), SPO_OK);
    }
    /* Storing 0 again makes it the newest: 1 is now the oldest. */
    spo_cache_id id0 = numbered(0, names[0], sizeof names[0]);
    make_token(&t, 200, 0, 3600);
    assert_int_equal(store(&id0, &t, NULL, T0), SPO_OK);
    spo_cache_id idn = numbered(SPO_CACHE_ENTRIES, names[SPO_CACHE_ENTRIES], 32);
    assert_int_equal(store(&idn, &t, NULL, T0), SPO_OK);
    assert_int_equal(S.data[5], SPO_CACHE_ENTRIES);
    for (int i = 0; i <= SPO_CACHE_ENTRIES; i++) {
        spo_cache_id id = numbered(i, names[i], sizeof names[i]);
        assert_int_equal(load(&id, &out, NULL, 0, T0), i == 1 ? SPO_CACHE_MISS : SPO_CACHE_FRESH);
    }
}

static void test_evicts_oldest_by_size(void **state)
{
    (void)state;
    char names[4][32];
    spo_token t, out;
    /* Each entry is ~4.2 KB: two fit SPO_CACHE_MAX, three do not. */
    for (int i = 0; i < 3; i++) {
        spo_cache_id id = numbered(i, names[i], sizeof names[i]);
        make_token(&t, SPO_TOKEN_MAX - 1, (char)i, 3600);
        assert_int_equal(store(&id, &t, NULL, T0), SPO_OK);
        assert_true(S.len <= SPO_CACHE_MAX);
    }
    for (int i = 0; i < 3; i++) {
        spo_cache_id id = numbered(i, names[i], sizeof names[i]);
        assert_int_equal(load(&id, &out, NULL, 0, T0), i == 0 ? SPO_CACHE_MISS : SPO_CACHE_FRESH);
    }
    /* The largest entry there can be (4 KB access + 4 KB refresh + 255-byte keys) fits alone. */
    char big[SPO_REFRESH_MAX];
    memset(big, 'r', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char key[256];
    memset(key, 'k', 255);
    key[255] = '\0';
    spo_cache_id huge = { SPO_CACHE_USER, key, key, key, key };
    assert_int_equal(store(&huge, &t, big, T0), SPO_OK);
    assert_int_equal(S.data[5], 1);
    char rt[SPO_REFRESH_MAX];
    assert_int_equal(load(&huge, &out, rt, sizeof rt, T0), SPO_CACHE_FRESH);
    assert_string_equal(rt, big);
}

static void test_small_buffer_limits_record(void **state)
{
    (void)state;
    static uint8_t small[600];
    spo_cache c = { &PORT, SPO_CACHE_KEY, small, sizeof small };
    spo_token t, out;
    make_token(&t, 600, 0, 3600);
    assert_int_equal(spo_cache_store(&c, &ID, &t, NULL, 0, T0), SPO_E_TOO_LONG);
    assert_int_equal(S.writes, 0);
    make_token(&t, 300, 0, 3600);
    assert_int_equal(spo_cache_store(&c, &ID, &t, NULL, 0, T0), SPO_OK);
    spo_cache_id id2 = ID;
    id2.scope = "other";
    assert_int_equal(spo_cache_store(&c, &id2, &t, NULL, 0, T0), SPO_OK);
    assert_true(S.len <= sizeof small);
    assert_int_equal(S.data[5], 1); /* the first had to go */
    /* A record larger than the buffer of the reader is refused as corrupt, and replaced. */
    spo_cache_id id3 = ID;
    id3.scope = "third";
    make_token(&t, 3000, 0, 3600);
    assert_int_equal(store(&id3, &t, NULL, T0), SPO_OK);
    assert_int_equal(spo_cache_load(&c, &id3, &out, NULL, 0, T0, 0), SPO_CACHE_CORRUPT);
    assert_zero(small, sizeof small);
}

static void test_prunes_expired_without_refresh(void **state)
{
    (void)state;
    spo_token t, out;
    spo_cache_id a = ID, b = ID, n = ID;
    a.scope = "a";
    b.scope = "b";
    n.scope = "n";
    make_token(&t, 50, 0, 600);
    assert_int_equal(store(&a, &t, NULL, T0), SPO_OK);
    assert_int_equal(store(&b, &t, "keep-me", T0), SPO_OK);
    assert_int_equal(store(&n, &t, NULL, T0 + 600), SPO_OK); /* a and b expired at T0 + 600 */
    assert_int_equal(S.data[5], 2);
    assert_int_equal(load(&a, &out, NULL, 0, T0 + 600), SPO_CACHE_MISS);
    char rt[64];
    assert_int_equal(load(&b, &out, rt, sizeof rt, T0 + 600), SPO_CACHE_STALE);
    assert_string_equal(rt, "keep-me");
}

static void valid_record(void)
{
    spo_token t;
    spo_cache_id b = ID;
    b.kind = SPO_CACHE_USER;
    b.scope = "https://graph.microsoft.com/Sites.Read.All offline_access";
    make_token(&t, 300, 1, 3600);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    make_token(&t, 200, 2, 3600);
    assert_int_equal(store(&b, &t, "a-refresh-token", T0), SPO_OK);
}

/* Every byte matters (no padding): any change to any byte is seen, and so is every truncation. */
static void test_every_flip_and_truncation_detected(void **state)
{
    (void)state;
    spo_token out;
    valid_record();
    uint8_t good[2 * SPO_CACHE_MAX];
    size_t n = S.len;
    memcpy(good, S.data, n);
    static const uint8_t masks[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x55 };
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            S.data[i] ^= masks[m];
            int rc = load(&ID, &out, NULL, 0, T0);
            if (rc != SPO_CACHE_CORRUPT)
                fail_msg("byte %zu ^ 0x%02x: %d", i, masks[m], rc);
            assert_int_equal(out.len, 0);
            S.data[i] = good[i];
        }
    }
    for (size_t len = 0; len < n; len++) {
        S.len = len;
        assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    }
    S.len = n + 1;
    S.data[n] = 0;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    S.len = n;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_FRESH);
}

/* Records with a valid CRC but a hostile field: each must be refused, not trusted. */
static void test_forged_fields_refused(void **state)
{
    (void)state;
    spo_token out;
    uint8_t good[2 * SPO_CACHE_MAX];
    valid_record();
    size_t n = S.len;
    memcpy(good, S.data, n);
    const size_t e = 8; /* first entry */
    struct { size_t off; uint64_t val; size_t width; const char *what; } cases[] = {
        { 4, 2, 1, "version 2" },
        { 5, 0, 1, "count 0 with entries after" },
        { 5, 3, 1, "count beyond the entries" },
        { 5, 255, 1, "count beyond SPO_CACHE_ENTRIES" },
        { e + 0, 2, 1, "unknown kind" },
        { e + 1, 0, 1, "empty authority" },
        { e + 2, 255, 1, "tenant past the record" },
        { e + 5, (uint64_t)1 << 41, 8, "obtained in year 70000" },
        { e + 5, UINT64_MAX, 8, "negative obtained" },
        { e + 13, 0, 4, "zero lifetime" },
        { e + 13, 100000001, 4, "lifetime past 10^8" },
        { e + 17, 0, 2, "empty access token" },
        { e + 17, SPO_TOKEN_MAX, 2, "access token past SPO_TOKEN_MAX" },
        { e + 17, 65535, 2, "access token past the record" },
        { e + 19, SPO_REFRESH_MAX, 2, "refresh token past SPO_REFRESH_MAX" },
        { e + 19, 1, 2, "refresh token overlapping the next entry" },
        { e + 21, '\n', 1, "control character in a key" },
        { e + 21 + 33 + 23 + 36 + 36, '\r', 1, "CR in an access token" },
        { e + 21 + 33 + 23 + 36 + 36, ' ', 1, "space in an access token" },
        { e + 21 + 33 + 23 + 36 + 36, 0x80, 1, "non-ASCII in an access token" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(S.data, good, n);
        S.len = n;
        le(S.data + cases[i].off, cases[i].val, cases[i].width);
        reseal();
        int rc = load(&ID, &out, NULL, 0, T0);
        if (rc != SPO_CACHE_CORRUPT)
            fail_msg("%s: %d", cases[i].what, rc);
    }
    /* Trailing bytes inside the declared length. */
    memcpy(S.data, good, n);
    S.len = n + 3;
    memset(S.data + n - 4, 'x', 3);
    reseal();
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    /* Wrong magic. */
    memcpy(S.data, good, n);
    S.len = n;
    S.data[0] = 'X';
    reseal();
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    /* A refresh token one byte past SPO_REFRESH_MAX, lengths all consistent. */
    reset(NULL);
    char big[SPO_REFRESH_MAX];
    memset(big, 'r', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    spo_token t;
    make_token(&t, 10, 0, 3600);
    assert_int_equal(store(&ID, &t, big, T0), SPO_OK);
    S.len++;
    S.data[S.len - 5] = 'r';
    le(S.data + e + 19, SPO_REFRESH_MAX, 2);
    reseal();
    char rt[SPO_REFRESH_MAX + 8];
    assert_int_equal(load(&ID, &out, rt, sizeof rt, T0), SPO_CACHE_CORRUPT);
    /* An access token one byte past SPO_TOKEN_MAX, lengths all consistent. */
    reset(NULL);
    make_token(&t, SPO_TOKEN_MAX - 1, 0, 3600);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    S.len++;
    S.data[S.len - 5] = 'a';
    le(S.data + e + 17, SPO_TOKEN_MAX, 2);
    reseal();
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    /* One well-formed entry more than SPO_CACHE_ENTRIES. */
    reset(NULL);
    char names[SPO_CACHE_ENTRIES][32];
    make_token(&t, 20, 0, 3600);
    for (int i = 0; i < SPO_CACHE_ENTRIES; i++) {
        spo_cache_id id = ID;
        snprintf(names[i], sizeof names[i], "t%d", i);
        id.tenant = names[i];
        assert_int_equal(store(&id, &t, NULL, T0), SPO_OK);
    }
    size_t last = S.len - 4 - (21 + 33 + 2 + 36 + 36 + 20);
    size_t size = S.len - 4 - last;
    memmove(S.data + S.len - 4, S.data + last, size); /* over the CRC, which reseal() rewrites */
    S.len += size;
    S.data[5] = SPO_CACHE_ENTRIES + 1;
    reseal();
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    S.data[5] = SPO_CACHE_ENTRIES;
    reseal();
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT); /* the baseline: too long */

    memcpy(S.data, good, n);
    S.len = n;
    /* The forger's baseline is right: the untouched record resealed still loads. */
    memcpy(S.data, good, n);
    reseal();
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_FRESH);
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

/* Random mutations with the CRC recomputed, so they reach the field checks: never a crash (the
 * ASan build), and anything accepted is within bounds. */
static void test_resealed_mutations_never_crash(void **state)
{
    (void)state;
    spo_token out;
    char rt[SPO_REFRESH_MAX];
    uint8_t good[2 * SPO_CACHE_MAX];
    valid_record();
    size_t n = S.len;
    memcpy(good, S.data, n);
    spo_cache_id b = ID;
    b.kind = SPO_CACHE_USER;
    b.scope = "https://graph.microsoft.com/Sites.Read.All offline_access";
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(S.data, good, n);
        S.len = n;
        int edits = 1 + (int)(rnd() % 4);
        for (int k = 0; k < edits; k++)
            S.data[8 + rnd() % (n - 12)] = (uint8_t)rnd();
        if (rnd() % 4 == 0)
            S.len = 12 + rnd() % (n - 12);
        reseal();
        int rc = load(iter & 1 ? &b : &ID, &out, rt, sizeof rt, T0);
        assert_true(rc == SPO_CACHE_CORRUPT || rc == SPO_CACHE_FRESH || rc == SPO_CACHE_STALE ||
                    rc == SPO_CACHE_MISS);
        if (rc == SPO_CACHE_FRESH) {
            assert_true(out.len > 0 && out.len < SPO_TOKEN_MAX);
            assert_int_equal(strlen(out.bearer), SPO_BEARER_PREFIX_LEN + out.len);
        }
        if (rc == SPO_CACHE_FRESH || rc == SPO_CACHE_STALE)
            assert_true(strlen(rt) < SPO_REFRESH_MAX);
    }
    /* Noise with a valid header and CRC. */
    for (int iter = 0; iter < 5000; iter++) {
        S.len = 12 + rnd() % 400;
        for (size_t i = 0; i < S.len; i++)
            S.data[i] = (uint8_t)rnd();
        memcpy(S.data, "SPOC\x01", 5);
        S.data[5] = (uint8_t)(rnd() % 3);
        reseal();
        int rc = load(&ID, &out, rt, sizeof rt, T0);
        assert_true(rc == SPO_CACHE_CORRUPT || rc == SPO_CACHE_MISS);
    }
}

static void test_corrupt_is_replaced_by_next_store(void **state)
{
    (void)state;
    spo_token t, out;
    spo_cache_id other = ID;
    other.scope = "other";
    make_token(&t, 100, 0, 3600);
    assert_int_equal(store(&other, &t, NULL, T0), SPO_OK);
    S.data[20] ^= 1;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_FRESH);
    assert_int_equal(load(&other, &out, NULL, 0, T0), SPO_CACHE_MISS); /* lost with the rest */
}

static void test_storage_statuses(void **state)
{
    (void)state;
    spo_token t, out;
    char rt[16] = "junk";
    make_token(&t, 100, 0, 3600);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);

    S.read_rc = SPO_STORE_INSECURE;
    assert_int_equal(load(&ID, &out, rt, sizeof rt, T0), SPO_CACHE_INSECURE);
    assert_string_equal(rt, "");
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK); /* overwritten: the port fixes it */
    S.read_rc = SPO_STORE_IO;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_STORE_IO);
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_OK);
    S.read_rc = SPO_STORE_TOO_BIG;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_CORRUPT);
    S.read_rc = 0;
    S.write_rc = SPO_STORE_IO;
    assert_int_equal(store(&ID, &t, NULL, T0), SPO_STORE_IO);
    S.write_rc = 0;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_FRESH);

    S.present = 0;
    assert_int_equal(load(&ID, &out, NULL, 0, T0), SPO_CACHE_MISS);

    assert_string_equal(spo_cache_describe(SPO_CACHE_INSECURE),
                        spo_cache_describe(SPO_STORE_INSECURE));
    assert_non_null(spo_cache_describe(SPO_STORE_IO));
    assert_non_null(spo_cache_describe(-9999));
}

static void test_remove(void **state)
{
    (void)state;
    spo_token t, out;
    spo_cache_id a = ID, b = ID;
    a.scope = "a";
    b.scope = "b";
    make_token(&t, 100, 0, 3600);
    assert_int_equal(spo_cache_remove(&C, &a), 0); /* nothing stored */
    assert_int_equal(spo_cache_remove(&C, NULL), 0);
    assert_int_equal(store(&a, &t, NULL, T0), SPO_OK);
    assert_int_equal(store(&b, &t, "rt", T0), SPO_OK);
    assert_int_equal(spo_cache_remove(&C, &ID), 0);
    assert_int_equal(S.writes, 2);
    assert_int_equal(spo_cache_remove(&C, &a), 1);
    assert_zero(WORK, sizeof WORK);
    assert_int_equal(load(&a, &out, NULL, 0, T0), SPO_CACHE_MISS);
    assert_int_equal(load(&b, &out, NULL, 0, T0), SPO_CACHE_FRESH);
    assert_int_equal(spo_cache_remove(&C, &b), 1); /* the last one: the record goes */
    assert_int_equal(S.present, 0);

    assert_int_equal(store(&a, &t, NULL, T0), SPO_OK);
    assert_int_equal(spo_cache_remove(&C, NULL), 1);
    assert_int_equal(S.present, 0);

    /* A corrupt record is deleted whole, even for one id. */
    assert_int_equal(store(&a, &t, NULL, T0), SPO_OK);
    S.data[9] ^= 4;
    assert_int_equal(spo_cache_remove(&C, &b), 1);
    assert_int_equal(S.present, 0);
    /* So is one the port calls insecure. */
    assert_int_equal(store(&a, &t, NULL, T0), SPO_OK);
    S.read_rc = SPO_STORE_INSECURE;
    assert_int_equal(spo_cache_remove(&C, &a), 1);
    assert_int_equal(S.present, 0);
    S.read_rc = SPO_STORE_IO;
    assert_int_equal(spo_cache_remove(&C, &a), SPO_STORE_IO);
    S.read_rc = 0;
    assert_int_equal(store(&a, &t, NULL, T0), SPO_OK);
    S.remove_rc = SPO_STORE_IO;
    assert_int_equal(spo_cache_remove(&C, NULL), SPO_STORE_IO);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    spo_token t, out;
    make_token(&t, 100, 0, 3600);
    spo_cache_id bad[7];
    for (int i = 0; i < 7; i++)
        bad[i] = ID;
    bad[0].kind = 2;
    bad[1].tenant = "";
    bad[2].authority = "///";
    bad[3].client_id = NULL;
    bad[4].scope = "a\nb";
    char longkey[300];
    memset(longkey, 'a', 256);
    longkey[256] = '\0';
    bad[5].tenant = longkey;
    bad[6].scope = "caf\xc3\xa9";
    for (int i = 0; i < 7; i++) {
        assert_int_equal(spo_cache_store(&C, &bad[i], &t, NULL, 0, T0), SPO_E_ARG);
        assert_int_equal(spo_cache_load(&C, &bad[i], &out, NULL, 0, T0, 0), SPO_E_ARG);
        assert_int_equal(spo_cache_remove(&C, &bad[i]), SPO_E_ARG);
    }
    assert_int_equal(S.writes, 0);
    spo_token tt = t;
    tt.bearer[SPO_BEARER_PREFIX_LEN + 5] = ' ';
    assert_int_equal(spo_cache_store(&C, &ID, &tt, NULL, 0, T0), SPO_E_ARG);
    tt = t;
    tt.len = 0;
    assert_int_equal(spo_cache_store(&C, &ID, &tt, NULL, 0, T0), SPO_E_ARG);
    tt = t;
    tt.lifetime_s = 0;
    assert_int_equal(spo_cache_store(&C, &ID, &tt, NULL, 0, T0), SPO_E_ARG);
    tt = t;
    tt.expires_wall = INT64_MIN;
    assert_int_equal(spo_cache_store(&C, &ID, &tt, NULL, 0, T0), SPO_E_ARG);
    tt.expires_wall = INT64_MAX;
    assert_int_equal(spo_cache_store(&C, &ID, &tt, NULL, 0, T0), SPO_E_ARG);
    assert_int_equal(spo_cache_store(&C, &ID, &t, "r t", 3, T0), SPO_E_ARG);
    assert_int_equal(spo_cache_store(&C, &ID, &t, NULL, 3, T0), SPO_E_ARG);
    assert_int_equal(S.writes, 0);
    assert_int_equal(spo_cache_load(&C, &ID, NULL, NULL, 0, T0, 0), SPO_E_ARG);
    assert_int_equal(spo_cache_load(&C, &ID, &out, NULL, 5, T0, 0), SPO_E_ARG);
    assert_int_equal(spo_cache_load(NULL, &ID, &out, NULL, 0, T0, 0), SPO_E_ARG);

    /* A port without storage: nothing cached, nothing to store. */
    spo_port none = { 0 };
    spo_cache c = { &none, SPO_CACHE_KEY, WORK, sizeof WORK };
    assert_int_equal(spo_cache_load(&c, &ID, &out, NULL, 0, T0, 0), SPO_CACHE_MISS);
    assert_int_equal(spo_cache_store(&c, &ID, &t, NULL, 0, T0), SPO_E_ARG);
    assert_int_equal(spo_cache_remove(&c, NULL), SPO_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip, reset),
        cmocka_unit_test_setup(test_format_is_as_documented, reset),
        cmocka_unit_test_setup(test_freshness_matches_spo_token_fresh, reset),
        cmocka_unit_test_setup(test_clock_behind_obtained_is_stale, reset),
        cmocka_unit_test_setup(test_monotonic_origin_after_token, reset),
        cmocka_unit_test_setup(test_keys_are_distinct, reset),
        cmocka_unit_test_setup(test_replace_rotates_refresh, reset),
        cmocka_unit_test_setup(test_evicts_oldest_by_count, reset),
        cmocka_unit_test_setup(test_evicts_oldest_by_size, reset),
        cmocka_unit_test_setup(test_small_buffer_limits_record, reset),
        cmocka_unit_test_setup(test_prunes_expired_without_refresh, reset),
        cmocka_unit_test_setup(test_every_flip_and_truncation_detected, reset),
        cmocka_unit_test_setup(test_forged_fields_refused, reset),
        cmocka_unit_test_setup(test_resealed_mutations_never_crash, reset),
        cmocka_unit_test_setup(test_corrupt_is_replaced_by_next_store, reset),
        cmocka_unit_test_setup(test_storage_statuses, reset),
        cmocka_unit_test_setup(test_remove, reset),
        cmocka_unit_test_setup(test_bad_arguments, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
