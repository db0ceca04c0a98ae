/* quickXorHash against every vector of ../shared/fixtures/quickxorhash/vectors.tsv ($SPO_QXH_VECTORS
 * overrides): each input fed whole, in two pieces at every split point, and one byte at a time; plus
 * a long input fed in odd pieces against the same input fed whole, and the length term beyond 32
 * bits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spo/graph.h"

#define MAXIN 4096

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Test-only decoder: the library never decodes base64. */
static size_t b64dec(const char *s, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (; *s && *s != '='; s++) {
        int v = b64val((unsigned char)*s);
        assert_true(v >= 0);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < cap);
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return n;
}

static void hash_of(const uint8_t *d, size_t n, char out[SPO_QXH_B64])
{
    spo_qxh h;
    spo_qxh_init(&h);
    spo_qxh_update(&h, d, n);
    spo_qxh_final(&h, out);
}

static void test_vectors(void **state)
{
    (void)state;
    const char *path = getenv("SPO_QXH_VECTORS");
    if (path == NULL || *path == '\0')
        path = "../shared/fixtures/quickxorhash/vectors.tsv";
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s (set SPO_QXH_VECTORS)", path);
    static char line[16384];
    static uint8_t in[MAXIN];
    int nvec = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *t1 = strchr(line, '\t');
        assert_non_null(t1);
        char *t2 = strchr(t1 + 1, '\t');
        assert_non_null(t2);
        *t1 = *t2 = '\0';
        char *want = t2 + 1;
        want[strcspn(want, "\r\n")] = '\0';
        size_t n = (size_t)strtoul(line, NULL, 10);
        assert_int_equal(b64dec(t1 + 1, in, sizeof in), n);
        assert_int_equal(strlen(want), SPO_QXH_B64 - 1);

        char got[SPO_QXH_B64];
        hash_of(in, n, got);
        assert_string_equal(got, want);

        spo_qxh h;
        for (size_t cut = 0; cut <= n; cut++) { /* two pieces, at every split */
            spo_qxh_init(&h);
            spo_qxh_update(&h, in, cut);
            spo_qxh_update(&h, in + cut, n - cut);
            spo_qxh_final(&h, got);
            assert_string_equal(got, want);
        }
        spo_qxh_init(&h); /* byte by byte, with empty updates between */
        for (size_t i = 0; i < n; i++) {
            spo_qxh_update(&h, in + i, 1);
            spo_qxh_update(&h, NULL, 0);
        }
        spo_qxh_final(&h, got);
        assert_string_equal(got, want);
        nvec++;
    }
    fclose(f);
    assert_int_equal(nvec, 70); /* the README's count: a short read of the file cannot pass */
}

/* 1 MiB + 7 in pieces of 1, 159, 160, 161 and 4093 bytes (the state's period is 160 bytes) gives
 * the hash of the whole. */
static void test_long_pieces(void **state)
{
    (void)state;
    static uint8_t big[(1u << 20) + 7];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof big; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t)(x >> 16);
    }
    char whole[SPO_QXH_B64], got[SPO_QXH_B64];
    hash_of(big, sizeof big, whole);
    static const size_t steps[] = { 1, 159, 160, 161, 4093 };
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        spo_qxh h;
        spo_qxh_init(&h);
        size_t off = 0;
        while (off < sizeof big) {
            size_t k = sizeof big - off < steps[s] ? sizeof big - off : steps[s];
            spo_qxh_update(&h, big + off, k);
            off += k;
        }
        spo_qxh_final(&h, got);
        assert_string_equal(got, whole);
    }
    /* final does not consume: hashing more after it continues the same stream */
    spo_qxh h;
    spo_qxh_init(&h);
    spo_qxh_update(&h, big, 1000);
    spo_qxh_final(&h, got);
    spo_qxh_update(&h, big + 1000, sizeof big - 1000);
    spo_qxh_final(&h, got);
    assert_string_equal(got, whole);
}

/* The length is a 64-bit little-endian term: a length past 4 GiB shows in byte 16 of the hash.
 * Zero bytes leave the state alone, so the hash of 2^32 + 3 zero bytes is the length term alone;
 * the count is set directly rather than hashing 4 GiB. */
static void test_length_64bit(void **state)
{
    (void)state;
    spo_qxh h;
    spo_qxh_init(&h);
    h.length = (1ull << 32) + 3;
    char got[SPO_QXH_B64];
    spo_qxh_final(&h, got);
    uint8_t d[32];
    assert_int_equal(b64dec(got, d, sizeof d), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(d[i], i == 12 ? 3 : i == 16 ? 1 : 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_long_pieces),
        cmocka_unit_test(test_length_64bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
