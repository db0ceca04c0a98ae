/* spo — TLS over the port, with mbedTLS 3.6.
 *
 * Verification is always required and the host name always checked: there is no switch to turn it
 * off. Trust comes from a PEM bundle, in a file (read through the port, a piece at a time) or in
 * memory; the bundle is scanned per verification and only the roots that match are parsed, so a
 * 200 KB system bundle costs no more RAM than one root.
 *
 * All of mbedTLS's allocations come from one static pool of SPO_TLS_POOL_SIZE bytes (src/tls_pool.c;
 * spo's own allocator rather than MBEDTLS_MEMORY_BUFFER_ALLOC_C because only an allocator that
 * counts its own failures can tell "pool exhausted" from "certificate refused": mbedTLS reports both
 * as -0x2700). */
#ifndef SPO_TLS_H
#define SPO_TLS_H

#include "spo/port.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>

#ifndef SPO_TLS_POOL_SIZE
/* mbedTLS's heap. Microsoft's endpoints serve an RSA-4096 issuing CA and leaves with many names:
 * 48.1 KB peak on x86-64 with such a chain (make memreport); 52 KiB leaves 9.7% headroom. A server
 * with an RSA-2048 chain needs ~40 KB. Too small a pool fails cleanly with SPO_E_TLS_POOL. */
#define SPO_TLS_POOL_SIZE (52 * 1024)
#endif
#ifndef SPO_HOST_MAX
#define SPO_HOST_MAX 256 /* longest host name, NUL included (DNS allows 253) */
#endif
#ifndef SPO_PATH_MAX
#define SPO_PATH_MAX 256 /* longest CA file path, NUL included */
#endif
#ifndef SPO_TLS_CA_CHUNK
#define SPO_TLS_CA_CHUNK 512 /* bytes of a CA file read per port->file_read call */
#endif
#ifndef SPO_TLS_CA_DER_MAX
#define SPO_TLS_CA_DER_MAX 4096 /* larger roots in the bundle are skipped (counted in ca_skipped) */
#endif

/* Where trusted roots come from: exactly one of pem_path (read with port->file_read) or pem/pem_len. */
typedef struct spo_trust {
    const char *pem_path;
    const uint8_t *pem;
    size_t pem_len;
} spo_trust;

/* Why the last handshake's certificate check failed (bit set; several may be). */
enum {
    SPO_TLS_BAD_EXPIRED = 1u << 0,   /* a certificate in the chain is expired */
    SPO_TLS_BAD_FUTURE = 1u << 1,    /* a certificate is not valid yet (or the clock is wrong) */
    SPO_TLS_BAD_HOST = 1u << 2,      /* the certificate does not name the host */
    SPO_TLS_BAD_UNTRUSTED = 1u << 3, /* no trusted root issued the chain (unknown CA, self-signed) */
    SPO_TLS_BAD_OTHER = 1u << 4      /* revoked, bad key usage, weak signature, ... */
};

typedef struct spo_tls {
    const spo_port *port;
    spo_trust trust;
    char ca_path[SPO_PATH_MAX];
    spo_conn_handle conn;
    uint32_t timeout_ms;
    uint32_t verify_flags; /* mbedTLS's raw flags of the last handshake */
    int last_mbedtls_err;  /* raw mbedTLS error of the last failure, for --verbose */
    int net_err;           /* the port's status behind the last failed send/recv, 0 if none */
    int trust_err;         /* set when the bundle could not be read during verification */
    unsigned ca_skipped;   /* bundle entries ignored (too large, undecodable, unparsable) */
    uint8_t open, setup;
    uint8_t ca_buf[SPO_TLS_CA_CHUNK]; /* window on the CA file while scanning it */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
} spo_tls;

#ifndef SPO_BUILD_TIME
/* The build's date, seconds since the epoch: a wall clock before it is certainly wrong (a device
 * without an RTC starts in 1970). The Makefile sets it to SOURCE_DATE_EPOCH if set, else the time
 * of the last git commit, so that a build is reproducible; this default (2020-01-01) is for builds
 * without either. */
#define SPO_BUILD_TIME 1577836800
#endif

/* The clock behind certificate validity checks (process-wide, like the port: mbedTLS's time hook
 * takes no context). mbedTLS's "now" is port->wall_time() + offset_s. While that is before
 * SPO_BUILD_TIME the clock is unknown, and then:
 *   - "now" is SPO_BUILD_TIME: a certificate that expired before the build is refused, as the true
 *     time is at least that;
 *   - "not valid yet" is ignored: the true time is unknown above the build date, and refusing would
 *     leave a device without an RTC unable to make the one connection that tells it the time.
 * Host name and chain checks are unchanged. The client sets the offset once it has learnt the
 * time from the token endpoint's Date header (spo/spo.h). */
void spo_tls_set_clock_offset(int64_t offset_s);

/* port->wall_time() + the offset (the same time mbedTLS sees, before the build-date floor). */
int64_t spo_tls_wall(void);

/* Process-wide setup: makes the port's wall clock mbedTLS's time (certificate dates) and the port's
 * entropy mbedTLS's entropy source, and initialises PSA crypto (the pool is mbedTLS's allocator by
 * configuration). Call once before anything else; idempotent. A later call switches the port used
 * for time and entropy; spo_tls_init calls it with its own port if nobody has. */
int spo_tls_global_init(const spo_port *port);

/* Prepare t (no network yet). The trust struct's strings are copied; an in-memory bundle is not and
 * must outlive t. timeout_ms (> 0) bounds the connect and every single network wait. The bundle is
 * checked on each connect, which returns SPO_E_TLS_TRUST when it is unreadable or empty. */
int spo_tls_init(spo_tls *t, const spo_port *port, const spo_trust *trust, uint32_t timeout_ms);

/* Connect to host:port and complete the handshake (TLS 1.2 or 1.3, SNI = host). On failure returns
 * SPO_E_NET_*, SPO_E_TLS_VERIFY (see spo_tls_verify_reason), SPO_E_TLS_POOL or SPO_E_TLS, and the
 * connection is closed. */
int spo_tls_connect(spo_tls *t, const char *host, uint16_t port);

/* Send all len bytes or fail. Returns SPO_OK or a negative status. */
int spo_tls_send(spo_tls *t, const uint8_t *buf, size_t len);

/* Receive up to len bytes: the count (> 0), 0 on close_notify, SPO_E_NET_CLOSED when the peer
 * vanished without close_notify, or another negative status. */
int spo_tls_recv(spo_tls *t, uint8_t *buf, size_t len);

/* Send close_notify (best effort) and close the socket. Safe to call when not open. */
void spo_tls_close(spo_tls *t);

/* Release everything t holds and zero it. */
void spo_tls_free(spo_tls *t);

/* SPO_TLS_BAD_* bits for the last SPO_E_TLS_VERIFY. */
unsigned spo_tls_verify_reason(const spo_tls *t);

/* Pool figures, for memreport and diagnostics. used and peak count whole blocks (16-byte header and
 * rounding to 16 included), so peak is what SPO_TLS_POOL_SIZE must hold, fragmentation aside.
 * bad_frees counts frees of pointers the pool did not hand out (or already took back), ignored. */
typedef struct spo_tls_pool_stats {
    size_t size, used, peak, failures, bad_frees;
} spo_tls_pool_stats;
void spo_tls_pool_get(spo_tls_pool_stats *out);
void spo_tls_pool_reset_peak(void);

/* The pool's bytes, for inspection: the secret-hygiene test checks that no secret is left there. */
void spo_tls_pool_region(const uint8_t **base, size_t *size);

#endif
