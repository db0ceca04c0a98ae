/* spo — HTTP/1.1 client: URL parsing, a request writer, an incremental response parser, and a
 * keep-alive connection that ties them to a transport.
 *
 * The response parser is a push state machine: feed it bytes in any split (one byte at a time works)
 * and it calls back with the status, each header, and the body in pieces. It never needs the whole
 * response; its only buffer is one header line of SPO_HTTP_LINE_MAX bytes. It is strict: bare LF,
 * obs-fold, spaces before the colon, bad chunk sizes, Content-Length together with
 * Transfer-Encoding, and differing duplicate Content-Length values are errors. */
#ifndef SPO_HTTP_H
#define SPO_HTTP_H

#include "spo/base.h"

#ifndef SPO_HTTP_LINE_MAX
#define SPO_HTTP_LINE_MAX 2048 /* longest status/header/chunk-size line, CRLF excluded */
#endif
#ifndef SPO_HTTP_MAX_HEADERS
#define SPO_HTTP_MAX_HEADERS 64 /* header (and trailer) lines in one response */
#endif
#ifndef SPO_HTTP_IO_BUF
#define SPO_HTTP_IO_BUF 1024 /* the buffer requests are written through and answers read into */
#endif
#ifndef SPO_HTTP_HOST_MAX
#define SPO_HTTP_HOST_MAX 256 /* longest host name, NUL included */
#endif
#ifndef SPO_URL_MAX
#define SPO_URL_MAX 1024 /* longest URL spo will follow (nextLink), NUL included */
#endif

/* ---------------------------------------------------------------- URLs */

/* An https URL split into parts; spans point into the parsed string. */
typedef struct spo_url {
    spo_span host;   /* without brackets for IPv6 literals; lower-case is not enforced */
    uint16_t port;   /* 443 when absent */
    spo_span target; /* path and query, "/" when absent; never empty; fragment dropped */
} spo_url;

/* Parse an absolute https URL of at most SPO_URL_MAX - 1 bytes. Rejects other schemes, userinfo,
 * empty or invalid hosts (letters, digits, '-', '.', '_'; or an IPv6 literal in brackets), bad
 * ports, control characters, spaces and non-ASCII bytes, and a query with no path ("https://h?q":
 * the target could not start with '/' without copying). Returns SPO_OK, SPO_E_URL, or SPO_E_ARG
 * when out is NULL. */
int spo_url_parse(const char *s, size_t len, spo_url *out);

/* spo_url_parse for URLs of at most max - 1 bytes: pre-authenticated download and upload URLs
 * carry a tempauth token and are longer than the Graph links SPO_URL_MAX is sized for. */
int spo_url_parse_max(const char *s, size_t len, size_t max, spo_url *out);

/* True when a and b name the same origin (host compared case-insensitively, same port). */
int spo_url_same_origin(const spo_url *a, const spo_url *b);

/* Append s percent-encoded to dst at *pos: unreserved bytes (A-Z a-z 0-9 - . _ ~) kept, every
 * other byte %XX, so the result is right both in a query and in an x-www-form-urlencoded body.
 * dst stays NUL-terminated. Returns SPO_OK or SPO_E_TOO_LONG (nothing past *pos is promised). */
int spo_url_encode_append(char *dst, size_t cap, size_t *pos, const char *s, size_t len);

/* The value of the hex digit c (0-9, a-f, A-F), or -1: for %XX escapes and chunk sizes. */
int spo_url_hexval(int c);

/* True when s equals the NUL-terminated z, ASCII case-insensitively (header names, hosts). */
int spo_http_span_ieq(spo_span s, const char *z);

/* ---------------------------------------------------------------- Retry-After */

#ifndef SPO_RETRY_AFTER_CAP_MS
#define SPO_RETRY_AFTER_CAP_MS (300u * 1000u) /* longest wait spo honours for one Retry-After */
#endif

/* Parse a Retry-After value: delay-seconds ("2", and Graph's fractional "2.128") or an HTTP-date
 * (IMF-fixdate, RFC 850 or asctime) relative to now (seconds since the epoch). Negative values and
 * dates in the past give 0; values above SPO_RETRY_AFTER_CAP_MS are capped. Returns SPO_OK and *ms,
 * or SPO_E_HTTP_PARSE for anything else. */
int spo_http_retry_after(spo_span value, int64_t now, uint32_t *ms);

/* Parse an HTTP-date (the Date header) to seconds since the epoch. SPO_OK or SPO_E_HTTP_PARSE. */
int spo_http_date(spo_span value, int64_t *out);

/* ---------------------------------------------------------------- response parser */

typedef struct spo_http_callbacks {
    void *ctx;
    /* Status line of the final (non-1xx) response. Optional. */
    int (*on_status)(void *ctx, int status, spo_span reason);
    /* Each header of the final response, then each trailer, name and value trimmed. Optional. */
    int (*on_header)(void *ctx, spo_span name, spo_span value);
    /* All headers seen; the body follows. Optional. */
    int (*on_headers_done)(void *ctx);
    /* A piece of the decoded body (chunk framing removed). Optional. */
    int (*on_body)(void *ctx, const uint8_t *data, size_t len);
} spo_http_callbacks;
/* A callback returns 0 to go on; any non-zero value stops the parser, which returns it unchanged.
 * Return a negative value (SPO_E_ABORTED or your own error): a positive one would read as a byte
 * count from spo_http_parser_feed; spo_http_conn_exchange turns it into SPO_E_ABORTED. */

/* How the body of the response is delimited, once the headers are parsed. */
typedef enum spo_http_framing {
    SPO_HTTP_FRAMING_NONE = 0,   /* no body: 1xx, 204, 304, response to HEAD */
    SPO_HTTP_FRAMING_LENGTH,     /* Content-Length */
    SPO_HTTP_FRAMING_CHUNKED,    /* Transfer-Encoding: chunked */
    SPO_HTTP_FRAMING_CLOSE       /* until the connection closes */
} spo_http_framing;

enum { SPO_HTTP_REQ_HEAD = 1u << 0 }; /* parser flag: the request was HEAD (no body follows) */

/* Everything below is the parser's; callers may read status, framing, keep_alive, done and err. */
typedef struct spo_http_parser {
    spo_http_callbacks cb;
    unsigned flags;
    int err;                 /* 0, or what the parser failed with (it stays failed) */
    uint8_t state;
    uint8_t sub;             /* progress inside a token: "HTTP/1." matched, status digits, ... */
    uint8_t framing;         /* spo_http_framing, valid after the headers */
    uint8_t keep_alive;      /* the connection may be reused after this message */
    uint8_t done;            /* the message is complete */
    uint8_t seen_cl, seen_te, te_chunked_last, conn_close, conn_keep, http10;
    uint8_t interim;         /* inside a 1xx response, which is parsed but not reported */
    uint8_t trailer;         /* the field lines are trailers after the last chunk */
    int status;
    uint16_t nheaders;       /* lines counted against SPO_HTTP_MAX_HEADERS (see the parser) */
    uint64_t content_length;
    uint64_t remaining;      /* body or chunk bytes left; the chunk size while it is read */
    size_t line_len;         /* bytes of the current line so far, CRLF excluded */
    size_t name_len;         /* line[] holds the field name, then its value (or the reason) */
    size_t value_len, value_end; /* value bytes stored; length without trailing whitespace */
    char line[SPO_HTTP_LINE_MAX];
} spo_http_parser;

/* Start parsing a new response. cb may be NULL (parse and discard). Leading empty lines, the lines
 * of skipped 1xx responses, header lines and trailer lines all count against SPO_HTTP_MAX_HEADERS,
 * which bounds the work a server can make the parser do before the body. A 101 is an error: spo
 * never asks to upgrade. */
void spo_http_parser_init(spo_http_parser *p, const spo_http_callbacks *cb, unsigned flags);

/* Feed len bytes. Returns the number consumed: len, or less when the message ended inside the
 * buffer (the rest belongs to the next response), or a negative status (SPO_E_HTTP_*), or the
 * non-zero value a callback returned. After an error the parser stays failed. */
long spo_http_parser_feed(spo_http_parser *p, const uint8_t *data, size_t len);

/* The connection ended. Returns SPO_OK if that completes the message (close-delimited body),
 * SPO_E_HTTP_TRUNCATED otherwise. */
int spo_http_parser_eof(spo_http_parser *p);

/* ---------------------------------------------------------------- connection */

/* What the connection runs on: TLS in spo, a fake in tests. Same contracts as spo_tls_*. */
typedef struct spo_http_transport {
    void *ctx;
    int (*connect)(void *ctx, const char *host, uint16_t port);
    int (*send)(void *ctx, const uint8_t *buf, size_t len); /* all or error */
    int (*recv)(void *ctx, uint8_t *buf, size_t len);       /* >0, 0 closed, <0 error */
    void (*close)(void *ctx);
} spo_http_transport;

typedef struct spo_http_header {
    const char *name;
    spo_span value;
    uint8_t secret; /* shown as [redacted] in traces */
} spo_http_header;

/* A streamed request body: fill buf with up to cap bytes of the body and return how many (> 0),
 * or a negative status to abandon the request (returned unchanged by the exchange). The body is
 * produced through the connection's own buffer, SPO_HTTP_IO_BUF bytes at a time, so a file of any
 * size goes out without being held in memory. Returning 0 before body_len bytes were produced is a
 * caller bug: the exchange stops with SPO_E_ARG (the server would wait for the missing bytes). */
typedef int (*spo_http_body_fn)(void *ctx, uint8_t *buf, size_t cap);

typedef struct spo_http_request {
    const char *method;              /* "GET", "POST" */
    const spo_url *url;              /* host, port, target */
    const spo_http_header *headers;  /* extra headers; Host, Content-Length, User-Agent added */
    size_t nheaders;
    const uint8_t *body;             /* may hold secrets: never traced */
    size_t body_len;                 /* Content-Length, for body and for body_fn alike */
    /* Instead of body (which must then be NULL): body_len bytes produced by body_fn. */
    spo_http_body_fn body_fn;
    /* Optional: start the body again from its first byte (SPO_OK or a negative status). Called
     * before the one resend on a stale keep-alive connection; without it a streamed request is
     * never sent twice, and a stale connection is reported to the caller (who may retry). */
    int (*body_rewind)(void *ctx);
    void *body_ctx;
} spo_http_request;

/* Called after each exchange for --verbose: method, host, target, status (or negative error) and
 * elapsed milliseconds. Never given headers or bodies. */
typedef void (*spo_http_trace_fn)(void *ctx, const char *method, const spo_url *url, int status,
                                  uint32_t ms);

typedef struct spo_http_conn {
    spo_http_transport tr;
    uint64_t (*now_ms)(void *ctx); /* monotonic clock for traces; may be NULL */
    void *now_ctx;
    spo_http_trace_fn trace;
    void *trace_ctx;
    const char *user_agent;
    char host[SPO_HTTP_HOST_MAX];
    uint16_t port;
    uint8_t connected;
    uint8_t reused;      /* at least one exchange already ran on this connection */
    uint8_t leftover;    /* the last answer was followed by unrequested bytes (not reused) */
    size_t rx_len, rx_off;
    /* One buffer serves both ways: a request is written out whole (and the buffer wiped) before
     * any byte of its answer is read, and spo never pipelines. */
    union {
        uint8_t rx[SPO_HTTP_IO_BUF];
        uint8_t tx[SPO_HTTP_IO_BUF];
    };
    spo_http_parser parser;
} spo_http_conn;

/* Prepare a connection object (nothing is opened). */
void spo_http_conn_init(spo_http_conn *c, const spo_http_transport *tr, const char *user_agent);

/* What the connection never does, so that callers can rely on it:
 *  - it adds no Authorization header: a request without one in headers goes out without one
 *    (pre-authenticated upload and download URLs must not see the bearer token);
 *  - it never follows a redirect: a 3xx is returned like any status, its Location reaches
 *    cb->on_header, and the body (if any) is read and discarded unless cb->on_body takes it;
 *  - it keeps at most one connection: a request to another host or port closes the open one.
 * Response headers the caller needs (Location, Content-Range, Content-Length, ETag) arrive
 * through cb->on_header; after cb->on_headers_done, c->parser.framing and
 * c->parser.content_length tell how long the body is. The body reaches cb->on_body in pieces of at
 * most SPO_HTTP_IO_BUF bytes (the sink for downloads), never whole. */

/* Run one exchange: connect (or reuse the open connection if it goes to the same host and port),
 * write the request, and parse the response, calling cb as it arrives. If a reused connection turns
 * out to be closed before any byte of the answer, reconnect and send again once. After the answer,
 * the connection stays open if the server allows keep-alive, else it is closed; bytes after the
 * answer are discarded and the connection is not reused. On any error the connection is closed.
 * The request always carries Host, User-Agent and Accept: application/json (a caller header named
 * User-Agent or Accept replaces the default), and Content-Length when there is a body or the method
 * is POST, PUT or PATCH. Header names must be tokens and values free of CR, LF and other controls;
 * a caller header named Host, Content-Length, Transfer-Encoding or Connection is refused
 * (SPO_E_ARG), as the framing is spo's. tx and rx are zeroed after the exchange: they held the
 * token and the answer. Returns the HTTP status (>= 100) or a negative status. */
int spo_http_conn_exchange(spo_http_conn *c, const spo_http_request *req,
                           const spo_http_callbacks *cb);

/* Parse a Content-Range value of a 206 answer, "bytes FIRST-LAST/TOTAL", TOTAL possibly "*" for
 * an unknown length (RFC 9110 14.4; *total is then UINT64_MAX). FIRST <= LAST < TOTAL is checked.
 * Returns SPO_OK, or SPO_E_HTTP_PARSE for anything else, including the unsatisfied-range form
 * ("bytes", then "*", then "/TOTAL") of a 416. */
int spo_http_content_range(spo_span value, uint64_t *first, uint64_t *last, uint64_t *total);

/* Close the connection if open. */
void spo_http_conn_close(spo_http_conn *c);

#endif
