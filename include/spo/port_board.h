/* spo — the board port, for a device without an OS socket layer (bare metal or a small RTOS): the
 * application supplies the network (a cellular modem's socket commands, a Wi-Fi module, a vendor
 * TCP stack), a hardware entropy source and its clocks, as the app_* functions below.
 *
 * Every hook returns spo's conventions (spo/port.h): a byte count or SPO_OK, else a negative
 * SPO_E_* status. None of them is weak: an image that lacks one fails to link, rather than running
 * with, say, no entropy. app_sleep_ms is the exception, with a busy-wait default. */
#ifndef SPO_PORT_BOARD_H
#define SPO_PORT_BOARD_H

#include "spo/port.h"

/* Open a TCP connection to host:port within timeout_ms; store any handle the app likes in *out. */
int app_net_connect(const char *host, uint16_t port, uint32_t timeout_ms, intptr_t *out);
/* Send up to len bytes: the count (> 0), or SPO_E_NET_TIMEOUT / SPO_E_NET_CLOSED / SPO_E_NET_IO. */
int app_net_send(intptr_t conn, const uint8_t *buf, size_t len, uint32_t timeout_ms);
/* Receive up to len bytes: the count (> 0), 0 on an orderly close, or a negative status. */
int app_net_recv(intptr_t conn, uint8_t *buf, size_t len, uint32_t timeout_ms);
void app_net_close(intptr_t conn);

/* Fill buf from a true hardware source (TRNG, ADC noise...): SPO_OK or SPO_E_ENTROPY. */
int app_hw_entropy(uint8_t *buf, size_t len);

/* A free-running millisecond counter (SysTick, a timer); it may wrap at 2^32. */
uint32_t app_millis(void);
/* Seconds since 1970 from an RTC or SNTP; 0 if unknown (certificate dates then cannot be checked
 * and TLS refuses, which is the safe answer). */
int64_t app_unix_time(void);
/* Sleep or yield for ms; the default spins on app_millis(). */
void app_sleep_ms(uint32_t ms);

/* The port over those hooks. No file system: give spo the CA roots in memory (spo_config.ca_pem). */
const spo_port *spo_port_board(void);

#endif
