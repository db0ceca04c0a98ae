/* Fuzz target: Retry-After and HTTP-date parsing (src/http_date.c).
 *
 * Input: byte 0 picks "now" from a table of ordinary and extreme clocks; the rest is the header
 * value. Properties: no UB (signed overflow, shifts: UBSan aborts), a Retry-After is at most
 * SPO_RETRY_AFTER_CAP_MS; an HTTP-date the date parser accepts is accepted by Retry-After too, and
 * a clock k seconds before that date gives min(k s, cap), a clock after it gives 0. */
#include "fuzz.h"
#include "spo/http.h"

#include <string.h>

static const int64_t clocks[] = {
    0, 1, -1, 784111777 /* 1994-11-06 08:49:37 */, 1700000000, 1800000000, 4102444800,
    253402300799 /* 9999-12-31 */, -62135596800 /* 0001-01-01 */, INT64_MAX, INT64_MIN,
    INT64_MAX - 1, INT64_MIN + 1, (int64_t)1 << 40, -((int64_t)1 << 40), 2147483647, 2147483648,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int64_t now = clocks[data[0] % (sizeof clocks / sizeof clocks[0])];
    size_t n = size - 1;
    char *v = malloc(n ? n : 1); /* exact size: ASan sees any read past the end */
    memcpy(v, data + 1, n);
    spo_span value = { v, n };

    uint32_t ms = 0xdeadbeef;
    int rc = spo_http_retry_after(value, now, &ms);
    FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_HTTP_PARSE);
    if (rc == SPO_OK)
        FUZZ_CHECK(ms <= SPO_RETRY_AFTER_CAP_MS);

    int64_t when = 0;
    int rd = spo_http_date(value, &when);
    FUZZ_CHECK(rd == SPO_OK || rd == SPO_E_HTTP_PARSE);
    if (rd == SPO_OK) {
        /* Years 0000..9999 at most: the result stays well inside int64. */
        FUZZ_CHECK(when >= -62167219200 && when <= 253402300860);
        static const int64_t ks[] = { 0, 1, 5, 299, 300, 301, 100000 };
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            uint32_t m = 0;
            FUZZ_CHECK(spo_http_retry_after(value, when - ks[i], &m) == SPO_OK);
            uint64_t want = (uint64_t)ks[i] * 1000u;
            FUZZ_CHECK(m == (want > SPO_RETRY_AFTER_CAP_MS ? SPO_RETRY_AFTER_CAP_MS : want));
            FUZZ_CHECK(spo_http_retry_after(value, when + ks[i], &m) == SPO_OK && m == 0);
        }
        FUZZ_CHECK(spo_http_retry_after(value, now, &ms) == SPO_OK);
    }
    FUZZ_CHECK(spo_http_retry_after(value, now, NULL) == SPO_E_ARG);
    FUZZ_CHECK(spo_http_date(value, NULL) == SPO_E_ARG);
    free(v);
    return 0;
}
