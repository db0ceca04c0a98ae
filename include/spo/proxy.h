/* spo — HTTPS through an HTTP proxy: a port that opens each connection as a CONNECT tunnel.
 *
 * spo_proxy wraps a lower port (the platform's) and is itself a port: its connect() opens TCP to the
 * proxy, sends `CONNECT host:port HTTP/1.1` (with `Proxy-Authorization: Basic` when the proxy URL
 * carries credentials), reads the proxy's answer with a bounded scanner and, on a 2xx, hands the
 * tunnel to the layer above as if it were the TCP connection to host. TLS then runs through the
 * tunnel and verifies the origin's certificate and host name exactly as on a direct connection: the
 * proxy sees only encrypted bytes. Hosts matched by the no-proxy list are connected to directly.
 * Everything else (clocks, entropy, files, storage) is the lower port's.
 *
 * Settings follow curl's (see spo_proxy_url_parse and spo_proxy_bypass); the CLI reads them from
 * https_proxy / HTTPS_PROXY / all_proxy / ALL_PROXY and no_proxy / NO_PROXY. */
#ifndef SPO_PROXY_H
#define SPO_PROXY_H

#include "spo/port.h"

#ifndef SPO_PROXY_HOST_MAX
#define SPO_PROXY_HOST_MAX 256 /* proxy or tunnel target host name, NUL included */
#endif
#ifndef SPO_PROXY_CRED_MAX
#define SPO_PROXY_CRED_MAX 192 /* "user:password" after percent-decoding, NUL excluded */
#endif
#ifndef SPO_PROXY_ANSWER_MAX
#define SPO_PROXY_ANSWER_MAX 8192 /* the proxy's whole answer to CONNECT: status line + headers */
#endif
#ifndef SPO_PROXY_RX
#define SPO_PROXY_RX 256 /* bytes read from the proxy at a time; keeps what follows the answer */
#endif
#ifndef SPO_PROXY_DEFAULT_PORT
#define SPO_PROXY_DEFAULT_PORT 1080 /* curl's default when the proxy URL names no port */
#endif

/* base64 of SPO_PROXY_CRED_MAX bytes, NUL included */
#define SPO_PROXY_AUTH_B64 (((SPO_PROXY_CRED_MAX + 2) / 3) * 4 + 1)

/* A parsed proxy URL. auth holds the base64 of "user:password" (a secret: zero it when done). */
typedef struct spo_proxy_url {
    char host[SPO_PROXY_HOST_MAX]; /* without brackets for an IPv6 literal */
    uint16_t port;
    uint8_t has_auth;
    char auth[SPO_PROXY_AUTH_B64];
} spo_proxy_url;

/* Parse `[http://][user[:password]@]host[:port][/]`: no scheme means http:// (as in curl); the
 * scheme is case-insensitive; host is a name or a bracketed IPv6 literal; the port defaults to
 * SPO_PROXY_DEFAULT_PORT. User and password are percent-decoded (a user containing ':' after
 * decoding is refused: Basic could not carry it). Any other scheme (https://, socks5://, ...), a
 * path, query or fragment, bad %-escapes, spaces or control characters give SPO_E_PROXY_URL; a
 * part longer than its buffer SPO_E_TOO_LONG. *out is zeroed on failure. */
int spo_proxy_url_parse(const char *s, spo_proxy_url *out);

/* True (1) when host must be reached directly according to no_proxy, as curl decides: a list of
 * entries separated by commas (spaces and tabs around them ignored); "*" alone matches every host;
 * an entry matches the host itself or any name under it ("example.com" and ".example.com" both
 * match example.com and www.example.com, never notexample.com); comparison is case-insensitive and a
 * trailing dot is ignored on either side; IP literals (IPv4, or IPv6 written without brackets, as
 * curl asks; brackets are tolerated) match only exactly, as strings; ports are never compared (an
 * entry's ":port" is ignored). CIDR ranges are not supported: such an entry matches nothing. NULL
 * or an empty list matches nothing. */
int spo_proxy_bypass(const char *no_proxy, const char *host);

/* Called once per connect(): status is the HTTP status of the proxy's answer to CONNECT, a negative
 * spo_status if the tunnel failed, or 0 when host is connected to directly (no-proxy list; called
 * before that connection is tried). Never given credentials. */
typedef void (*spo_proxy_trace_fn)(void *ctx, const char *host, uint16_t port,
                                   const char *proxy_host, uint16_t proxy_port, int status,
                                   uint32_t ms);

typedef struct spo_proxy {
    spo_port port;         /* the wrapper: hand &p->port to the layer above (spo_tls_init) */
    const spo_port *lower; /* the platform port every call ends up in */
    spo_proxy_url url;
    const char *no_proxy;  /* the caller's list, not copied (it holds no secret): 1 KB saved */
    spo_proxy_trace_fn trace;
    void *trace_ctx;
    /* the last CONNECT, for messages */
    char target[SPO_PROXY_HOST_MAX];
    uint16_t target_port;
    int status;            /* HTTP status of the proxy's last answer, 0 if none */
    char reason[64];       /* its reason phrase, printable ASCII only */
    uint8_t in_connect;    /* the last failure happened while talking to the proxy */
    /* bytes the proxy sent after its answer: the first bytes of the tunnel, owed to rx_conn */
    uint8_t rx[SPO_PROXY_RX];
    size_t rx_off, rx_len;
    spo_conn_handle rx_conn;
} spo_proxy;

/* The wrapper's connect(host, port): directly through the lower port when the no-proxy list
 * matches host; otherwise TCP to the proxy, then CONNECT. Besides the lower port's statuses it
 * returns SPO_E_PROXY_CONNECT (the proxy is unreachable: the lower connect failed or timed out),
 * SPO_E_PROXY_AUTH (407, or 401: tinyproxy's answer to wrong credentials), SPO_E_PROXY_REFUSED (any other non-2xx, status and reason kept in p),
 * SPO_E_PROXY_CLOSED, SPO_E_PROXY_ANSWER (not "HTTP/1.x NNN ..." lines ending in CRLF),
 * SPO_E_PROXY_TOO_BIG, or SPO_E_NET_TIMEOUT (no complete answer in timeout_ms; in_connect is set).
 * A refusal's body is never read: the connection is closed. On a 2xx, bytes that arrived after the
 * answer are handed to the first recv() calls of the tunnel.
 *
 * Set up p over lower with the proxy URL (see spo_proxy_url_parse; copied) and the no-proxy list
 * (NULL = none; not copied: it must outlive p). Nothing is sent yet. Returns SPO_OK, SPO_E_ARG,
 * SPO_E_PROXY_URL or SPO_E_TOO_LONG (a part of the proxy URL is longer than its buffer). */
int spo_proxy_init(spo_proxy *p, const spo_port *lower, const char *proxy_url, const char *no_proxy);

/* Zero p, credentials included. */
void spo_proxy_wipe(spo_proxy *p);

#endif
