/* spo — HTTP-date and Retry-After.
 *
 * No libc time functions: timegm() is not standard and bare-metal C libraries often lack even
 * mktime(), so the calendar arithmetic is done here, on integers, for the proleptic Gregorian
 * calendar RFC 9110 uses. */
#include "spo/http.h"

static const char k_days[7][4] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const k_long_days[7] = { "Monday", "Tuesday", "Wednesday", "Thursday",
                                            "Friday", "Saturday", "Sunday" };
static const char k_months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_ows(int c)
{
    return c == ' ' || c == '\t';
}

/* Day-name, month and "GMT" are case-sensitive in RFC 9110, so plain byte comparison. */
static int same(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int short_day(const char *s)
{
    for (int i = 0; i < 7; i++)
        if (same(s, k_days[i], 3))
            return 1;
    return 0;
}

static int month(const char *s, int *out)
{
    for (int i = 0; i < 12; i++)
        if (same(s, k_months[i], 3)) {
            *out = i + 1;
            return 1;
        }
    return 0;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const unsigned char d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01. The year is shifted to start in March so the leap day falls last, which
 * makes day-of-year a linear formula; 400-year eras repeat exactly (146097 days). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "hh:mm:ss" */
static int clock_time(const char *s, int *h, int *mi, int *sec)
{
    return s[2] == ':' && s[5] == ':' && digits(s, 2, h) && digits(s + 3, 2, mi) &&
           digits(s + 6, 2, sec) && *h <= 23 && *mi <= 59 && *sec <= 60; /* 60: leap second */
}

static int assemble(int y, int m, int d, int h, int mi, int sec, int64_t *out)
{
    if (d < 1 || d > month_days(y, m))
        return SPO_E_HTTP_PARSE;
    *out = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec;
    return SPO_OK;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
static int imf_fixdate(const char *s, size_t n, int64_t *out)
{
    int d, m, y, h, mi, sec;
    if (n != 29 || !short_day(s) || !same(s + 3, ", ", 2) || !digits(s + 5, 2, &d) || s[7] != ' ' ||
        !month(s + 8, &m) || s[11] != ' ' || !digits(s + 12, 4, &y) || s[16] != ' ' ||
        !clock_time(s + 17, &h, &mi, &sec) || !same(s + 25, " GMT", 4))
        return SPO_E_HTTP_PARSE;
    return assemble(y, m, d, h, mi, sec, out);
}

/* "Sun Nov  6 08:49:37 1994" */
static int asctime_date(const char *s, size_t n, int64_t *out)
{
    int d, m, y, h, mi, sec;
    if (n != 24 || !short_day(s) || s[3] != ' ' || !month(s + 4, &m) || s[7] != ' ' ||
        s[10] != ' ' || !clock_time(s + 11, &h, &mi, &sec) || s[19] != ' ' ||
        !digits(s + 20, 4, &y))
        return SPO_E_HTTP_PARSE;
    if (s[8] == ' ' ? !digits(s + 9, 1, &d) : !digits(s + 8, 2, &d))
        return SPO_E_HTTP_PARSE;
    return assemble(y, m, d, h, mi, sec, out);
}

/* "Sunday, 06-Nov-94 08:49:37 GMT". Without a clock here, the two-digit year is read in a fixed
 * 1970..2069 window instead of RFC 9110's "not more than 50 years ahead of now". */
static int rfc850_date(const char *s, size_t n, int64_t *out)
{
    size_t c = 0;
    while (c < n && s[c] != ',')
        c++;
    int named = 0;
    for (int i = 0; i < 7; i++) {
        size_t len = 0;
        while (k_long_days[i][len])
            len++;
        if (len == c && same(s, k_long_days[i], len))
            named = 1;
    }
    int d, m, y, h, mi, sec;
    const char *r = s + c;
    if (!named || n - c != 24 || !same(r, ", ", 2) || !digits(r + 2, 2, &d) || r[4] != '-' ||
        !month(r + 5, &m) || r[8] != '-' || !digits(r + 9, 2, &y) || r[11] != ' ' ||
        !clock_time(r + 12, &h, &mi, &sec) || !same(r + 20, " GMT", 4))
        return SPO_E_HTTP_PARSE;
    return assemble(y < 70 ? 2000 + y : 1900 + y, m, d, h, mi, sec, out);
}

static spo_span trim(spo_span v)
{
    while (v.len && is_ows((unsigned char)v.ptr[0])) {
        v.ptr++;
        v.len--;
    }
    while (v.len && is_ows((unsigned char)v.ptr[v.len - 1]))
        v.len--;
    return v;
}

int spo_http_date(spo_span value, int64_t *out)
{
    if (!out || (!value.ptr && value.len))
        return SPO_E_ARG;
    spo_span v = trim(value);
    if (v.len < 4)
        return SPO_E_HTTP_PARSE;
    if (v.ptr[3] == ',')
        return imf_fixdate(v.ptr, v.len, out);
    if (v.ptr[3] == ' ')
        return asctime_date(v.ptr, v.len, out);
    return rfc850_date(v.ptr, v.len, out);
}

/* delay-seconds, with Graph's fraction. Seconds saturate just above the cap so any number of digits
 * is read without overflow; the fraction is rounded up so spo never retries early. */
static int delay(spo_span v, uint32_t *ms)
{
    const uint64_t cap_s = SPO_RETRY_AFTER_CAP_MS / 1000u + 1u;
    size_t i = 0;
    int negative = 0;
    if (v.ptr[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i >= v.len || !is_digit((unsigned char)v.ptr[i]))
        return SPO_E_HTTP_PARSE;
    uint64_t sec = 0;
    for (; i < v.len && is_digit((unsigned char)v.ptr[i]); i++)
        if (sec <= cap_s)
            sec = sec * 10 + (uint64_t)(v.ptr[i] - '0');
    uint64_t frac = 0, scale = 100;
    int round_up = 0;
    if (i < v.len && v.ptr[i] == '.') {
        i++;
        if (i >= v.len || !is_digit((unsigned char)v.ptr[i]))
            return SPO_E_HTTP_PARSE;
        for (; i < v.len && is_digit((unsigned char)v.ptr[i]); i++) {
            if (scale) {
                frac += (uint64_t)(v.ptr[i] - '0') * scale;
                scale /= 10;
            } else if (v.ptr[i] != '0') {
                round_up = 1;
            }
        }
    }
    if (i != v.len)
        return SPO_E_HTTP_PARSE;
    uint64_t total = sec * 1000u + frac + (uint64_t)round_up;
    if (negative)
        total = 0;
    *ms = total > SPO_RETRY_AFTER_CAP_MS ? SPO_RETRY_AFTER_CAP_MS : (uint32_t)total;
    return SPO_OK;
}

int spo_http_retry_after(spo_span value, int64_t now, uint32_t *ms)
{
    if (!ms || (!value.ptr && value.len))
        return SPO_E_ARG;
    spo_span v = trim(value);
    if (v.len == 0)
        return SPO_E_HTTP_PARSE;
    if (is_digit((unsigned char)v.ptr[0]) || v.ptr[0] == '-')
        return delay(v, ms);

    int64_t when;
    int rc = spo_http_date(v, &when);
    if (rc != SPO_OK)
        return rc;
    if (when <= now) {
        *ms = 0;
        return SPO_OK;
    }
    /* Exact even when when - now overflows int64: the unsigned difference of two's-complement
     * values is the true distance when when > now. */
    uint64_t sec = (uint64_t)when - (uint64_t)now;
    *ms = sec > SPO_RETRY_AFTER_CAP_MS / 1000u ? SPO_RETRY_AFTER_CAP_MS : (uint32_t)(sec * 1000u);
    if (*ms > SPO_RETRY_AFTER_CAP_MS)
        *ms = SPO_RETRY_AFTER_CAP_MS;
    return SPO_OK;
}
