/* HTTP-date and Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spo/http.h"

static int64_t date(const char *s)
{
    int64_t t = -12345;
    int rc = spo_http_date((spo_span){ s, strlen(s) }, &t);
    if (rc != SPO_OK)
        fail_msg("refused: \"%s\" (rc %d)", s, rc);
    return t;
}

static void date_bad(const char *s)
{
    int64_t t;
    int rc = spo_http_date((spo_span){ s, strlen(s) }, &t);
    if (rc != SPO_E_HTTP_PARSE)
        fail_msg("accepted: \"%s\" (rc %d)", s, rc);
}

static void three_formats(void **state)
{
    (void)state;
    /* RFC 9110's own example, in its three spellings. */
    assert_int_equal(date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(date("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(date("Sun Nov 06 08:49:37 1994"), 784111777);
    assert_int_equal(date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), 784111777);
}

static void calendar_edges(void **state)
{
    (void)state;
    assert_int_equal(date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_int_equal(date("Wed, 31 Dec 1969 23:59:59 GMT"), -1);
    assert_int_equal(date("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
    assert_int_equal(date("Thu, 29 Feb 2024 12:00:00 GMT"), 1709208000);
    assert_int_equal(date("Fri, 07 Jun 2024 09:30:00 GMT"), 1717752600);
    assert_int_equal(date("Tue, 19 Jan 2038 03:14:08 GMT"), 2147483648LL);
    assert_int_equal(date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799LL);
    assert_int_equal(date("Sat, 01 Jan 1600 00:00:00 GMT"), -11676096000LL);
    assert_int_equal(date("Mon, 01 Jan 0001 00:00:00 GMT"), -62135596800LL);
    /* Year 0 is a leap year, and its January needs a floored (not truncated) era. */
    assert_int_equal(date("Sat, 01 Jan 0000 00:00:00 GMT"), -62135596800LL - 366 * 86400LL);
    assert_int_equal(date("Sat, 01 Mar 0000 00:00:00 GMT"), -62135596800LL - 306 * 86400LL);
    assert_int_equal(date("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800); /* leap second */
    /* Two-digit years: 70..99 are 19xx, 00..69 are 20xx. */
    assert_int_equal(date("Thursday, 01-Jan-70 00:00:00 GMT"), 0);
    assert_int_equal(date("Tuesday, 01-Jan-69 00:00:00 GMT"), 3124224000LL);
}

/* Every day of 1600..2400 (leap rules of all three kinds, both sides of the epoch) must be exactly
 * one day after the one before. */
static void every_day(void **state)
{
    (void)state;
    static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int64_t expect = -11676096000LL;
    long ndays = 0;
    for (int y = 1600; y <= 2400; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int len[12] = { 31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        for (int m = 0; m < 12; m++) {
            for (int d = 1; d <= len[m]; d++) {
                char s[40];
                snprintf(s, sizeof s, "Mon, %02d %s %04d 00:00:00 GMT", d, mon[m], y);
                assert_int_equal(date(s), expect);
                expect += 86400;
                ndays++;
            }
            char s[40]; /* the day after the month's last is refused */
            snprintf(s, sizeof s, "Mon, %02d %s %04d 00:00:00 GMT", len[m] + 1, mon[m], y);
            date_bad(s);
        }
    }
    assert_int_equal(ndays, 2 * 146097 + 366); /* two 400-year cycles, then 2400 */
}

static void bad_dates(void **state)
{
    (void)state;
    date_bad("");
    date_bad("Sun");
    date_bad("sun, 06 Nov 1994 08:49:37 GMT");
    date_bad("Sun, 06 nov 1994 08:49:37 GMT");
    date_bad("Sun, 06 Nov 1994 08:49:37 gmt");
    date_bad("Sun, 06 Nov 1994 08:49:37 UTC");
    date_bad("Sun, 06 Nov 1994 08:49:37 +0000");
    date_bad("Sun, 6 Nov 1994 08:49:37 GMT");
    date_bad("Sun, 06 Nov 94 08:49:37 GMT");
    date_bad("Sun, 06 Nov 1994 8:49:37 GMT");
    date_bad("Sun, 06 Nov 1994 24:00:00 GMT");
    date_bad("Sun, 06 Nov 1994 23:60:00 GMT");
    date_bad("Sun, 06 Nov 1994 23:59:61 GMT");
    date_bad("Sun, 00 Nov 1994 08:49:37 GMT");
    date_bad("Sun, 31 Nov 1994 08:49:37 GMT");
    date_bad("Sat, 29 Feb 2100 00:00:00 GMT");
    date_bad("Sun, 06 Foo 1994 08:49:37 GMT");
    date_bad("Xyz, 06 Nov 1994 08:49:37 GMT");
    date_bad("Sun,  06 Nov 1994 08:49:37 GMT");
    date_bad("Sun, 06 Nov 1994 08:49:37 GMTX");
    date_bad("Sun, 06 Nov 1994 08-49-37 GMT");
    date_bad("Sun, 0x Nov 1994 08:49:37 GMT");
    date_bad("Sunday, 06-Nov-1994 08:49:37 GMT");
    date_bad("Sonday, 06-Nov-94 08:49:37 GMT");
    date_bad("Sunday, 06 Nov 94 08:49:37 GMT");
    date_bad("Sunday 06-Nov-94 08:49:37 GMT");
    date_bad("Sun Nov 6 08:49:37 1994");
    date_bad("Sun Nov  6 08:49:37 94");
    date_bad("Sun Nov  x 08:49:37 1994");
    date_bad("1994-11-06T08:49:37Z");
    date_bad("784111777");
    int64_t t;
    assert_int_equal(spo_http_date((spo_span){ "x", 1 }, NULL), SPO_E_ARG);
    assert_int_equal(spo_http_date((spo_span){ NULL, 3 }, &t), SPO_E_ARG);
}

static uint32_t ra(const char *s, int64_t now)
{
    uint32_t ms = 0xdeadbeef;
    int rc = spo_http_retry_after((spo_span){ s, strlen(s) }, now, &ms);
    if (rc != SPO_OK)
        fail_msg("refused: \"%s\" (rc %d)", s, rc);
    return ms;
}

static void ra_bad(const char *s)
{
    uint32_t ms = 77;
    int rc = spo_http_retry_after((spo_span){ s, strlen(s) }, 0, &ms);
    if (rc != SPO_E_HTTP_PARSE)
        fail_msg("accepted: \"%s\" (rc %d, %u ms)", s, rc, ms);
}

static void retry_after_seconds(void **state)
{
    (void)state;
    assert_int_equal(ra("0", 0), 0);
    assert_int_equal(ra("2", 0), 2000);
    assert_int_equal(ra("10", 0), 10000);
    assert_int_equal(ra(" \t31 ", 0), 31000);
    assert_int_equal(ra("007", 0), 7000);
    assert_int_equal(ra("2.128", 0), 2128);
    assert_int_equal(ra("2.5", 0), 2500);
    assert_int_equal(ra("2.1280000", 0), 2128);
    assert_int_equal(ra("2.1281", 0), 2129);   /* never early: rounded up */
    assert_int_equal(ra("0.0001", 0), 1);
    assert_int_equal(ra("0.000000000000000000001", 0), 1);
    assert_int_equal(ra("300", 0), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("299.999", 0), 299999);
    assert_int_equal(ra("299.9999", 0), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("301", 0), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("4294967296", 0), SPO_RETRY_AFTER_CAP_MS);
    /* 2^64 must not wrap to 0 */
    assert_int_equal(ra("18446744073709551616", 0), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("18446744073709551616.5", 0), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("99999999999999999999999999999999999999.9", 0), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("-5", 0), 0);
    assert_int_equal(ra("-0.5", 0), 0);
    assert_int_equal(ra("-99999999999999999999999", 0), 0);
}

static void retry_after_dates(void **state)
{
    (void)state;
    const int64_t t = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t - 120), 120000);
    assert_int_equal(ra("Sunday, 06-Nov-94 08:49:37 GMT", t - 1), 1000);
    assert_int_equal(ra("Sun Nov  6 08:49:37 1994", t - 299), 299000);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t - 300), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t - 86400), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t), 0);
    assert_int_equal(ra("Sun, 06 Nov 1994 08:49:37 GMT", t + 5), 0);
    /* Absurd clocks: no overflow either way. */
    assert_int_equal(ra("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MIN), SPO_RETRY_AFTER_CAP_MS);
    assert_int_equal(ra("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MAX), 0);
    assert_int_equal(ra("Mon, 01 Jan 0001 00:00:00 GMT", INT64_MIN), SPO_RETRY_AFTER_CAP_MS);
}

static void retry_after_garbage(void **state)
{
    (void)state;
    ra_bad("");
    ra_bad("   ");
    ra_bad("abc");
    ra_bad("2.");
    ra_bad(".5");
    ra_bad("2.x");
    ra_bad("2..5");
    ra_bad("2 s");
    ra_bad("2s");
    ra_bad("1e3");
    ra_bad("+5");
    ra_bad("-");
    ra_bad("--5");
    ra_bad("0x10");
    ra_bad("5,5");
    ra_bad("Sun, 06 Nov 1994 08:49:37 UTC");
    ra_bad("tomorrow");
    uint32_t ms;
    assert_int_equal(spo_http_retry_after((spo_span){ "1", 1 }, 0, NULL), SPO_E_ARG);
    assert_int_equal(spo_http_retry_after((spo_span){ NULL, 1 }, 0, &ms), SPO_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_formats),
        cmocka_unit_test(calendar_edges),
        cmocka_unit_test(every_day),
        cmocka_unit_test(bad_dates),
        cmocka_unit_test(retry_after_seconds),
        cmocka_unit_test(retry_after_dates),
        cmocka_unit_test(retry_after_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
