/* spo — the board port: spo_port over the application's app_* hooks (spo/port_board.h). */
#include "spo/port_board.h"

#include <mbedtls/platform_time.h>

/* Most MCU tick counters are 32 bits and wrap after 49.7 days; spo's deadlines and token expiry
 * need a clock that never goes backwards, so the wraps are counted here. Valid as long as the
 * port is asked at least once per wrap, which any running spo does. Not thread-safe, like spo. */
static uint64_t millis64(void)
{
    static uint32_t last, wraps;
    uint32_t now = app_millis();
    if (now < last)
        wraps++;
    last = now;
    return (uint64_t)wraps << 32 | now;
}

__attribute__((weak)) void app_sleep_ms(uint32_t ms)
{
    uint32_t start = app_millis();
    while ((uint32_t)(app_millis() - start) < ms) {
    }
}

static int board_connect(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                         spo_conn_handle *out)
{
    (void)ctx;
    intptr_t h = 0;
    int rc = app_net_connect(host, port, timeout_ms, &h);
    if (rc != SPO_OK)
        return rc < 0 ? rc : SPO_E_NET_CONNECT;
    *out = h;
    return SPO_OK;
}

static int board_send(void *ctx, spo_conn_handle c, const uint8_t *buf, size_t len,
                      uint32_t timeout_ms)
{
    (void)ctx;
    return app_net_send(c, buf, len, timeout_ms);
}

static int board_recv(void *ctx, spo_conn_handle c, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    (void)ctx;
    return app_net_recv(c, buf, len, timeout_ms);
}

static void board_close(void *ctx, spo_conn_handle c)
{
    (void)ctx;
    app_net_close(c);
}

static uint64_t board_monotonic_ms(void *ctx)
{
    (void)ctx;
    return millis64();
}

static int64_t board_wall_time(void *ctx)
{
    (void)ctx;
    return app_unix_time();
}

static void board_sleep_ms(void *ctx, uint32_t ms)
{
    (void)ctx;
    app_sleep_ms(ms);
}

static int board_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return app_hw_entropy(buf, len) == SPO_OK ? SPO_OK : SPO_E_ENTROPY;
}

const spo_port *spo_port_board(void)
{
    static const spo_port port = {
        .ctx = NULL,
        .connect = board_connect,
        .send = board_send,
        .recv = board_recv,
        .close = board_close,
        .monotonic_ms = board_monotonic_ms,
        .wall_time = board_wall_time,
        .sleep_ms = board_sleep_ms,
        .entropy = board_entropy,
        .file_read = NULL,
    };
    return &port;
}

/* mbedTLS's clocks on a target without clock_gettime (config/mbedtls_config_baremetal.h). */
#if defined(MBEDTLS_PLATFORM_MS_TIME_ALT)
mbedtls_ms_time_t mbedtls_ms_time(void)
{
    return (mbedtls_ms_time_t)millis64();
}
#endif

time_t spo_board_mbedtls_time(time_t *out);
time_t spo_board_mbedtls_time(time_t *out)
{
    time_t now = (time_t)app_unix_time();
    if (out)
        *out = now;
    return now;
}
