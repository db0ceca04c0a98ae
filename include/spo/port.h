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

    /* Optional persistent storage of small records (the token cache), NULL where there is none. A
     * key is a short name ("tokens": [A-Za-z0-9._-], at most SPO_STORE_KEY_MAX bytes) that a port
     * maps to a file, a flash slot or an NVS entry; the POSIX port also takes an absolute path.
     * Records hold secrets: a port keeps them where only this program's user can read them. */

    /* Read the whole record into buf. Returns its length (0..cap), or SPO_STORE_ABSENT,
     * SPO_STORE_INSECURE (it exists but others could read or replace it, or it is not what a record
     * should be: the caller ignores it and warns), SPO_STORE_TOO_BIG (longer than cap) or
     * SPO_STORE_IO; SPO_E_ARG for a key the port cannot map. */
    int (*store_read)(void *ctx, const char *key, uint8_t *buf, size_t cap);

    /* Replace the record with len bytes, atomically: after a crash or power loss a later read sees
     * the old record or the new one, never a mix. Returns SPO_OK, SPO_STORE_IO or SPO_E_ARG. */
    int (*store_write)(void *ctx, const char *key, const uint8_t *data, size_t len);

    /* Delete the record. Returns SPO_OK, SPO_STORE_ABSENT, SPO_STORE_IO or SPO_E_ARG. */
    int (*store_remove)(void *ctx, const char *key);

    /* Optional (NULL where there is no file system): the size in bytes of the regular file at path
     * and its modification time (nanoseconds since the epoch, or any number that changes whenever
     * the file is written). Returns SPO_OK, or SPO_E_ARG if it cannot be examined or is not a
     * regular file. An interrupted upload is resumed only if both are unchanged. */
    int (*file_stat)(void *ctx, const char *path, uint64_t *size, int64_t *mtime_ns);
} spo_port;

/* Statuses of the storage functions besides SPO_OK and SPO_E_ARG. Far below spo_status so that
 * the two never collide; spo_strerror() does not name them (spo_cache_describe() does). */
enum spo_store_status {
    SPO_STORE_ABSENT = -100,   /* no record under that key */
    SPO_STORE_INSECURE = -101, /* refused: accessible to others, not ours, or not a plain record */
    SPO_STORE_TOO_BIG = -102,  /* the record is longer than the caller's buffer */
    SPO_STORE_IO = -103        /* the storage failed (details are the platform's) */
};

#ifndef SPO_STORE_KEY_MAX
#define SPO_STORE_KEY_MAX 64 /* longest record name, NUL excluded (ESP-IDF's NVS allows 15) */
#endif

/* The POSIX port (port/posix/): getaddrinfo + non-blocking connect with poll, CLOCK_MONOTONIC,
 * time(), nanosleep, getrandom (falling back to /dev/urandom), pread, and records in files. Its ctx
 * is unused. */
const spo_port *spo_port_posix(void);

/* Where the POSIX port keeps the record called key:
 *   - key starting with '/': that file (so SPO_TOKEN_CACHE=/var/lib/app/tokens is passed as is);
 *   - otherwise $XDG_CONFIG_HOME/spo/KEY if XDG_CONFIG_HOME is an absolute path, else
 *     $HOME/.config/spo/KEY (the XDG Base Directory rules).
 * Writes create missing directories 0700, write a 0600 temporary file (O_EXCL) beside the record,
 * fsync it, rename it over the record and fsync the directory; a crash between the two leaves the
 * old record and a stray ".KEY.XXXXXXXXXXXXXXXX" (0600). Reads open with O_NOFOLLOW and refuse
 * (SPO_STORE_INSECURE) anything but a regular file owned by the effective user without group or
 * other permission bits. Concurrent writers never interleave, but the last one wins.
 * Writes the NUL-terminated path to buf; returns its length, SPO_E_ARG (bad key, or neither
 * XDG_CONFIG_HOME nor HOME is usable) or SPO_E_TOO_LONG. For messages ("ignoring PATH: ..."). */
#ifndef SPO_STORE_PATH_MAX
#define SPO_STORE_PATH_MAX 1024 /* longest record path, NUL included */
#endif
int spo_port_posix_store_path(const char *key, char *buf, size_t cap);

#endif
