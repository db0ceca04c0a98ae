/* spo's mbedTLS configuration for bare-metal boards (newlib, no OS): the main configuration, plus
 * what a target without POSIX clocks needs. Keep every TLS choice in mbedtls_config.h so that all
 * boards negotiate the same way; only the platform glue differs here.
 *
 * - PLATFORM_MS_TIME_ALT: mbedTLS's own mbedtls_ms_time() needs clock_gettime() and refuses to build
 *   without it; the board port defines mbedtls_ms_time() from its millisecond clock.
 * - PLATFORM_STD_TIME: the default time source is time(), which on newlib calls _gettimeofday(), a
 *   system call a bare-metal image does not have. spo installs the port's clock before any use
 *   (spo_tls_global_init); until then the board's clock answers too, rather than a system call.
 * - No PLATFORM_NO_STD_FUNCTIONS: mbedTLS uses only memcpy/memcmp/memset/strlen-like functions here,
 *   and snprintf, which the map check (scripts/check-noheap.sh) watches for.
 */
#ifndef SPO_MBEDTLS_CONFIG_BAREMETAL_H
#define SPO_MBEDTLS_CONFIG_BAREMETAL_H

#include "mbedtls_config.h"

#define MBEDTLS_PLATFORM_MS_TIME_ALT

#include <time.h>
time_t spo_board_mbedtls_time(time_t *out);
#define MBEDTLS_PLATFORM_STD_TIME spo_board_mbedtls_time

#endif
