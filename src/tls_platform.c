/* spo — mbedTLS's time, calendar and entropy, all taken from the port.
 *
 * mbedTLS's hooks are plain functions without a context, hence the one static port pointer. The
 * calendar is computed here rather than with gmtime_r: devices may lack one, and glibc's allocates. */
#include "tls_priv.h"

#include <mbedtls/entropy.h>
#include <mbedtls/platform_time.h>
#include <mbedtls/platform_util.h>

#include <time.h>

static const spo_port *g_port;
static int64_t g_offset; /* from the token endpoint's Date header: see spo_tls_set_clock_offset */

void spo_tls_set_clock_offset(int64_t offset_s)
{
    g_offset = offset_s;
}

int64_t spo_tls_wall(void)
{
    int64_t now = 0;
    if (g_port && g_port->wall_time)
        now = g_port->wall_time(g_port->ctx);
    return now + g_offset;
}

int spo_tls_clock_unknown(void)
{
    return spo_tls_wall() < SPO_BUILD_TIME;
}

/* A clock before the build is unknown: the build date is the best lower bound (see spo/tls.h). */
static mbedtls_time_t port_time(mbedtls_time_t *out)
{
    int64_t t = spo_tls_wall();
    mbedtls_time_t now = (mbedtls_time_t)(t < SPO_BUILD_TIME ? SPO_BUILD_TIME : t);
    if (out)
        *out = now;
    return now;
}

void spo_tls_platform_set_port(const spo_port *port)
{
    g_port = port;
    mbedtls_platform_set_time(port_time);
}

const spo_port *spo_tls_platform_port(void)
{
    return g_port;
}

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
    (void)data;
    *olen = 0;
    if (!g_port || !g_port->entropy || g_port->entropy(g_port->ctx, output, len) != SPO_OK)
        return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
    *olen = len;
    return 0;
}

/* Certificates carry dates in years 0000-9999; outside that (a broken clock) verification fails. */
#define SECS_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define SECS_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */
#define DAYS_1970_TO_2000_03_01 11017
#define DAYS_400Y 146097
#define DAYS_100Y 36524
#define DAYS_4Y 1461

/* Counting years from 1 March makes the leap day the last day of the year, so the leap rules
 * reduce to capping the century and year quotients (the only place where a 366th day or a 36525th
 * day appears). */
struct tm *mbedtls_platform_gmtime_r(const mbedtls_time_t *tt, struct tm *tm_buf)
{
    static const uint8_t mlen[12] = { 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29 };
    static const uint16_t yday_at[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
    if (!tt || !tm_buf || (long long)*tt < SECS_MIN || (long long)*tt > SECS_MAX)
        return NULL;
    long long t = (long long)*tt;
    long long days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    long long wd = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    long long d = days - DAYS_1970_TO_2000_03_01;
    long long q400 = d / DAYS_400Y, r = d % DAYS_400Y;
    if (r < 0) {
        r += DAYS_400Y;
        q400--;
    }
    long long q100 = r / DAYS_100Y;
    if (q100 == 4)
        q100 = 3;
    r -= q100 * DAYS_100Y;
    long long q4 = r / DAYS_4Y;
    r -= q4 * DAYS_4Y;
    long long q1 = r / 365;
    if (q1 == 4)
        q1 = 3;
    r -= q1 * 365;
    long long year = 2000 + 400 * q400 + 100 * q100 + 4 * q4 + q1;
    int m = 0;
    while (r >= mlen[m]) {
        r -= mlen[m];
        m++;
    }
    int mon = m + 2; /* 0 = January */
    if (mon >= 12) {
        mon -= 12;
        year++;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    tm_buf->tm_year = (int)(year - 1900);
    tm_buf->tm_mon = mon;
    tm_buf->tm_mday = (int)r + 1;
    tm_buf->tm_hour = (int)(secs / 3600);
    tm_buf->tm_min = (int)(secs / 60 % 60);
    tm_buf->tm_sec = (int)(secs % 60);
    tm_buf->tm_wday = (int)(wd < 0 ? wd + 7 : wd);
    tm_buf->tm_yday = yday_at[mon] + (int)r + (leap && mon > 1);
    tm_buf->tm_isdst = 0;
    return tm_buf;
}
