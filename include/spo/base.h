/* spo — base types shared by every layer: the one result type, spans, and the diagnostic record.
 *
 * Every function that can fail returns an int: SPO_OK (0) or a negative spo_status. Functions that
 * move bytes return the count (>= 0) or a negative spo_status. */
#ifndef SPO_BASE_H
#define SPO_BASE_H

#include <stddef.h>
#include <stdint.h>

typedef enum spo_status {
    SPO_OK = 0,
    SPO_E_ARG = -1,            /* a caller passed something invalid (NULL, empty, out of range) */
    SPO_E_TOO_LONG = -2,       /* a value does not fit the compile-time buffer meant for it */
    SPO_E_NET_CONNECT = -3,    /* name resolution or TCP connect failed */
    SPO_E_NET_TIMEOUT = -4,    /* no progress within the configured timeout */
    SPO_E_NET_CLOSED = -5,     /* the peer closed the connection */
    SPO_E_NET_IO = -6,         /* any other socket error */
    SPO_E_TLS = -7,            /* handshake or record failure other than the ones below */
    SPO_E_TLS_VERIFY = -8,     /* the server certificate was refused; see spo_tls_verify_reason() */
    SPO_E_TLS_POOL = -9,       /* mbedTLS's static pool ran out (raise SPO_TLS_POOL_SIZE) */
    SPO_E_TLS_TRUST = -10,     /* the CA bundle could not be read or holds no certificate */
    SPO_E_HTTP_PARSE = -11,    /* the response violates HTTP/1.1 */
    SPO_E_HTTP_LINE = -12,     /* a status or header line exceeds SPO_HTTP_LINE_MAX */
    SPO_E_HTTP_HEADERS = -13,  /* more than SPO_HTTP_MAX_HEADERS header lines */
    SPO_E_HTTP_FRAMING = -14,  /* conflicting or invalid body framing (Content-Length vs chunked) */
    SPO_E_HTTP_TRUNCATED = -15,/* the connection ended before the message did */
    SPO_E_JSON_SYNTAX = -16,   /* the body is not valid JSON */
    SPO_E_JSON_TOO_BIG = -17,  /* one element does not fit SPO_JSON_WINDOW, or too many tokens */
    SPO_E_JSON_DEPTH = -18,    /* nesting deeper than SPO_JSON_DEPTH_MAX */
    SPO_E_JSON_SHAPE = -19,    /* valid JSON, but not the shape the API documents */
    SPO_E_URL = -20,           /* a URL is malformed or not https */
    SPO_E_URL_HOST = -21,      /* a link points at another host than the one configured */
    SPO_E_AUTH = -22,          /* the token endpoint refused; details in spo_diag */
    SPO_E_GRAPH = -23,         /* Graph answered an error status; details in spo_diag */
    SPO_E_THROTTLED = -24,     /* retries exhausted (429/503/504) */
    SPO_E_DEADLINE = -25,      /* the overall deadline passed */
    SPO_E_ENTROPY = -26,       /* the port could not provide random bytes */
    SPO_E_ABORTED = -27,       /* a callback asked to stop */
    SPO_E_INTERNAL = -28,      /* a bug in spo: please report */
    SPO_E_INTEGRITY = -29,     /* the service's copy differs from what was sent (hash or size) */
    SPO_E_FILE = -30,          /* a local file cannot be read, or changed while it was read */
    SPO_E_PROXY_URL = -40,     /* the proxy URL is malformed or not http:// */
    SPO_E_PROXY_CONNECT = -41, /* the proxy could not be reached */
    SPO_E_PROXY_AUTH = -42,    /* the proxy answered CONNECT with 407 (or 401): credentials missing or wrong */
    SPO_E_PROXY_REFUSED = -43, /* the proxy answered CONNECT with another non-2xx status */
    SPO_E_PROXY_CLOSED = -44,  /* the proxy closed the connection before answering CONNECT */
    SPO_E_PROXY_ANSWER = -45,  /* the proxy's answer to CONNECT is not HTTP */
    SPO_E_PROXY_TOO_BIG = -46  /* the proxy's answer to CONNECT exceeds SPO_PROXY_ANSWER_MAX */
} spo_status;

/* A run of bytes that is not NUL-terminated. */
typedef struct spo_span {
    const char *ptr;
    size_t len;
} spo_span;

#define SPO_SPAN_LIT(s) ((spo_span){ (s), sizeof(s) - 1 })

/* What the last failure was, in a form a person can act on. Filled by auth and graph; never holds a
 * secret. Strings are NUL-terminated and cut (with "...") if the service sent more. */
#ifndef SPO_DIAG_TEXT
#define SPO_DIAG_TEXT 256 /* bytes of the service's error message kept for the user */
#endif
typedef struct spo_diag {
    int status;               /* HTTP status of the failing answer, 0 if none */
    char code[64];            /* OAuth "error" or Graph "error.code" */
    char aadsts[16];          /* "AADSTS7000215" or "" */
    char request_id[64];      /* Graph request-id (header or innerError), or token trace_id */
    char message[SPO_DIAG_TEXT]; /* error_description / error.message, first line */
    uint32_t retry_after_ms;  /* last Retry-After seen, 0 if none */
} spo_diag;

/* Make the diagnostic safe to print: the message is cut at its first line break, and in every
 * field control characters (C0, DEL and UTF-8-encoded C1) become '?', so a hostile server cannot
 * move the cursor or retitle the user's terminal through an error text. */
void spo_diag_clean(spo_diag *d);

/* Make one NUL-terminated text from the network safe to print, in place: C0 controls, DEL and
 * UTF-8-encoded C1 controls (U+0080..U+009F, which some terminals obey as escapes) become '?';
 * with first_line set, the text is cut at its first CR or LF. What spo_diag_clean() does to each
 * field. */
void spo_text_clean(char *s, int first_line);

/* A short English name for a status ("TLS pool exhausted", ...). Never NULL. */
const char *spo_strerror(int status);

#endif
