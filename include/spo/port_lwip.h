/* spo — a port on lwIP's socket API (LWIP_SOCKET, NO_SYS 0): FreeRTOS + lwIP, STM32Cube, ESP-IDF
 * and similar stacks. Sockets, timeouts (lwip_poll, else lwip_select) and the millisecond clock
 * (sys_now) come from lwIP; what lwIP does not have comes from the application: a hardware entropy
 * source, the wall clock, and, where lwIP is built without DNS (LWIP_DNS 0), a resolver.
 * No lwIP type appears here, so applications need not include lwIP to configure spo. */
#ifndef SPO_PORT_LWIP_H
#define SPO_PORT_LWIP_H

#include "spo/port.h"

typedef struct spo_lwip_app {
    void *ctx; /* passed to every hook */
    /* Required: true random bytes (TRNG); SPO_OK or SPO_E_ENTROPY. */
    int (*entropy)(void *ctx, uint8_t *buf, size_t len);
    /* Required: seconds since 1970 (RTC, SNTP); 0 when unknown, which makes TLS refuse. */
    int64_t (*wall_time)(void *ctx);
    /* Optional: write the IPv4 or IPv6 literal for host into ip (cap bytes, NUL-terminated);
     * SPO_OK or SPO_E_NET_CONNECT. Used when host is not a literal and lwIP has no DNS. */
    int (*resolve)(void *ctx, const char *host, char *ip, size_t cap);
    /* Optional: as spo_port.file_read, for a CA bundle on a file system; NULL otherwise. */
    int (*file_read)(void *ctx, const char *path, uint64_t offset, uint8_t *buf, size_t len);
} spo_lwip_app;

/* Fill *port with the lwIP port over app. Both must outlive every use of the port. Call after
 * lwIP is up (tcpip_init). Returns SPO_OK, or SPO_E_ARG when a required hook is missing. */
int spo_port_lwip(spo_port *port, const spo_lwip_app *app);

#endif
