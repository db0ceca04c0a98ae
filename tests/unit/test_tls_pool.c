/* The TLS pool allocator: alignment, zeroing, coalescing, exhaustion, peak, bad frees, and a random
 * workload checked against a shadow model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "spo/tls.h"

static spo_tls_pool_stats stats(void)
{
    spo_tls_pool_stats s;
    spo_tls_pool_get(&s);
    return s;
}

static size_t biggest(void) /* largest single allocation an empty pool must grant */
{
    return stats().size - 16;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(stats().used, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(stats().used, 0);
    /* an empty pool must be one free block again */
    void *p = spo_tls_pool_calloc(1, biggest());
    assert_non_null(p);
    spo_tls_pool_free(p);
    spo_tls_pool_reset_peak();
    return 0;
}

static void test_alignment_and_zero(void **state)
{
    (void)state;
    void *p[100];
    for (size_t i = 0; i < 100; i++) {
        p[i] = spo_tls_pool_calloc(1, i);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        for (size_t k = 0; k < i; k++)
            assert_int_equal(((uint8_t *)p[i])[k], 0);
        memset(p[i], 0xA5, i);
    }
    for (size_t i = 0; i < 100; i += 2)
        spo_tls_pool_free(p[i]);
    for (size_t i = 0; i < 100; i += 2) { /* reused memory must come back zeroed */
        p[i] = spo_tls_pool_calloc(i, 1);
        assert_non_null(p[i]);
        for (size_t k = 0; k < i; k++)
            assert_int_equal(((uint8_t *)p[i])[k], 0);
    }
    for (size_t i = 0; i < 100; i++)
        spo_tls_pool_free(p[i]);
}

static void test_zero_size_is_unique(void **state)
{
    (void)state;
    void *a = spo_tls_pool_calloc(0, 0), *b = spo_tls_pool_calloc(0, 8);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    spo_tls_pool_free(a);
    spo_tls_pool_free(b);
}

static void test_coalescing_every_order(void **state)
{
    (void)state;
    size_t third = (stats().size - 3 * 16) / 3 / 16 * 16;
    static const int orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
                                      { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    for (int o = 0; o < 6; o++) {
        void *p[3];
        for (int i = 0; i < 3; i++)
            assert_non_null(p[i] = spo_tls_pool_calloc(1, third));
        spo_tls_pool_free(p[orders[o][0]]);
        spo_tls_pool_free(p[orders[o][1]]);
        /* one block still in use: nothing larger than two thirds fits */
        size_t fails = stats().failures;
        assert_null(spo_tls_pool_calloc(1, biggest()));
        assert_int_equal(stats().failures, fails + 1);
        spo_tls_pool_free(p[orders[o][2]]);
        void *all = spo_tls_pool_calloc(1, biggest());
        assert_non_null(all);
        spo_tls_pool_free(all);
    }
}

static void test_exhaustion_counted(void **state)
{
    (void)state;
    size_t fails = stats().failures;
    assert_null(spo_tls_pool_calloc(1, stats().size));
    assert_null(spo_tls_pool_calloc(SIZE_MAX / 2, 4)); /* n * size overflows */
    assert_null(spo_tls_pool_calloc(4, SIZE_MAX / 2));
    assert_int_equal(stats().failures, fails + 3);

    void *p[256];
    size_t n = 0;
    while (n < 256 && (p[n] = spo_tls_pool_calloc(1, 1000)) != NULL)
        n++;
    assert_true(n > 0 && n < 256);
    assert_int_equal(stats().failures, fails + 4);
    assert_true(stats().used <= stats().size);
    while (n > 0)
        spo_tls_pool_free(p[--n]);
}

static void test_peak(void **state)
{
    (void)state;
    spo_tls_pool_reset_peak();
    assert_int_equal(stats().peak, 0);
    void *a = spo_tls_pool_calloc(1, 1000);
    void *b = spo_tls_pool_calloc(1, 3000);
    size_t high = stats().used;
    assert_true(high >= 4000 + 2 * 16);
    spo_tls_pool_free(b);
    void *c = spo_tls_pool_calloc(1, 10);
    assert_int_equal(stats().peak, high);
    spo_tls_pool_reset_peak();
    assert_int_equal(stats().peak, stats().used);
    spo_tls_pool_free(a);
    spo_tls_pool_free(c);
}

static void test_bad_frees_ignored(void **state)
{
    (void)state;
    size_t bad = stats().bad_frees;
    int on_stack = 0;
    void *a = spo_tls_pool_calloc(1, 64), *b = spo_tls_pool_calloc(1, 64);
    spo_tls_pool_free(a);
    spo_tls_pool_free(a);                     /* double free */
    spo_tls_pool_free(&on_stack);             /* foreign pointer */
    spo_tls_pool_free((uint8_t *)b + 16);     /* inside a block */
    spo_tls_pool_free((uint8_t *)b + 1);      /* misaligned */
    spo_tls_pool_free(NULL);                  /* allowed, not counted */
    assert_int_equal(stats().bad_frees, bad + 4);
    spo_tls_pool_free(b);
    assert_int_equal(stats().bad_frees, bad + 4);
    /* after a double free of a block merged into its neighbour, the list must still be sound */
    void *x = spo_tls_pool_calloc(1, 100), *y = spo_tls_pool_calloc(1, 100);
    spo_tls_pool_free(y);
    spo_tls_pool_free(x);
    spo_tls_pool_free(y);
    assert_int_equal(stats().bad_frees, bad + 5);
}

/* Random allocations and frees; every live block is filled with its own pattern, checked before it
 * is freed, so any overlap between blocks is caught. */
#define SLOTS 96
static void test_random_against_shadow(void **state)
{
    (void)state;
    struct {
        uint8_t *p;
        size_t n;
        uint8_t fill;
    } s[SLOTS];
    memset(s, 0, sizeof s);
    unsigned seed = 12345;
    size_t fails0 = stats().failures, live_bytes = 0;
    for (int it = 0; it < 200000; it++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        int i = (int)(r % SLOTS);
        if (s[i].p) {
            for (size_t k = 0; k < s[i].n; k++)
                assert_int_equal(s[i].p[k], s[i].fill);
            spo_tls_pool_free(s[i].p);
            live_bytes -= s[i].n;
            s[i].p = NULL;
        } else {
            /* mostly small, like mbedTLS's, sometimes a record buffer */
            size_t n = (r >> 8) % 8 == 0 ? 4000 + (r >> 12) % 13000 : (r >> 12) % 600;
            uint8_t *p = spo_tls_pool_calloc(1, n);
            if (!p)
                continue;
            for (size_t k = 0; k < n; k++)
                assert_int_equal(p[k], 0);
            s[i].p = p;
            s[i].n = n;
            s[i].fill = (uint8_t)(it | 1);
            memset(p, s[i].fill, n);
            live_bytes += n;
        }
        spo_tls_pool_stats st = stats();
        assert_true(st.used >= live_bytes);
        assert_true(st.used <= st.size);
        assert_true(st.peak >= st.used);
    }
    assert_true(stats().failures > fails0); /* the workload is sized to hit exhaustion */
    for (int i = 0; i < SLOTS; i++)
        spo_tls_pool_free(s[i].p);
}

static void test_handshake_like_speed(void **state)
{
    (void)state;
    void *p[400];
    clock_t t0 = clock();
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < 400; i++)
            p[i] = spo_tls_pool_calloc(1, (size_t)(i * 37 % 97 + 8));
        for (int i = 0; i < 400; i += 2)
            spo_tls_pool_free(p[i]);
        for (int i = 399; i >= 1; i -= 2)
            spo_tls_pool_free(p[i]);
    }
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    print_message("pool: 400k alloc + 400k free of 8-104 bytes in %.3f s\n", s);
    assert_true(s < 10.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alignment_and_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_size_is_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalescing_every_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_frees_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_against_shadow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_like_speed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
