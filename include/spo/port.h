/* spo — the platform port: everything spo needs from the system, as a struct of function pointers.
 *
 * A port is like coreHTTP's transport interface: spo never calls a socket, clock or RNG directly.
 * port/posix/ is the reference port; tests plug in fakes that replay scripted bytes in any split.
 * One connection is open at a time (TLS memory is the budget's largest item), but a port may support
 * more; connections are named by an opaque handle. */
#ifndef SPO_PORT_H
#define SPO_PORT_H

#include "spo/base.h"

typedef intptr_t spo_conn_handle;

typedef struct spo_port {
    void *ctx; /* passed to every function below */

    /* Open a TCP connection to host (a name, an IPv4 or an IPv6 literal) and port, trying every
     * address the name resolves to, within timeout_ms in total. Returns SPO_OK and sets *out, or
     * SPO_E_NET_CONNECT / SPO_E_NET_TIMEOUT. */
    int (*connect)(void *ctx, const char *host, uint16_t port, uint32_t timeout_ms,
                   spo_conn_handle *out);

    /* Send up to len bytes; returns the count sent (> 0), or SPO_E_NET_TIMEOUT / SPO_E_NET_CLOSED /
     * SPO_E_NET_IO. */
    int (*send)(void *ctx, spo_conn_handle c, const uint8_t *buf, size_t len, uint32_t timeout_ms);

    /* Receive up to len bytes; returns the count (> 0), 0 when the peer closed in order, or
     * SPO_E_NET_TIMEOUT (nothing within timeout_ms) / SPO_E_NET_CLOSED (reset) / SPO_E_NET_IO. */
    int (*recv)(void *ctx, spo_conn_handle c, uint8_t *buf, size_t len, uint32_t timeout_ms);

    /* Close the connection; the handle is invalid afterwards. */
    void (*close)(void *ctx, spo_conn_handle c);

    /* Milliseconds from an arbitrary origin that never goes backwards. */
    uint64_t (*monotonic_ms)(void *ctx);

    /* Seconds since 1970-01-01T00:00:00Z as the device believes; may be wrong on devices without an
     * RTC (spo checks it for plausibility). */
    int64_t (*wall_time)(void *ctx);

    /* Sleep for ms milliseconds. */
    void (*sleep_ms)(void *ctx, uint32_t ms);

    /* Fill buf with len bytes of true entropy; returns SPO_OK or SPO_E_ENTROPY. */
    int (*entropy)(void *ctx, uint8_t *buf, size_t len);

    /* Optional (NULL where there is no file system): read up to len bytes of the file at path from
     * offset. Returns the count, 0 at end of file, or SPO_E_ARG if the file cannot be opened. Used to
     * scan a CA bundle without holding it in RAM. */
    int (*file_read)(void *ctx, const char *path, uint64_t offset, uint8_t *buf, size_t len);
} spo_port;

/* The POSIX port (port/posix/): getaddrinfo + non-blocking connect with poll, CLOCK_MONOTONIC,
 * time(), nanosleep, getrandom (falling back to /dev/urandom), pread. Its ctx is unused. */
const spo_port *spo_port_posix(void);

#endif
