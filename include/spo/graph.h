/* spo — Microsoft Graph: sites, with paging, throttling and resumption.
 *
 * A listing follows every @odata.nextLink verbatim, and only to the configured Graph origin: the
 * token never leaves its host. Each site is handed to the caller as soon as its element is parsed.
 * A page that fails mid-way (connection lost, 429, 5xx) is asked for again and the sites already
 * delivered from it are skipped, so the caller sees every site exactly once, or an error. */
#ifndef SPO_GRAPH_H
#define SPO_GRAPH_H

#include "spo/http.h"
#include "spo/json.h"

#ifndef SPO_GRAPH_ROOT_MAX
#define SPO_GRAPH_ROOT_MAX 256 /* the Graph root URL + NUL */
#endif
#ifndef SPO_GRAPH_RETRIES
#define SPO_GRAPH_RETRIES 6 /* attempts per request after the first, for 429/5xx/lost connections */
#endif
#ifndef SPO_GRAPH_DEADLINE_MS
#define SPO_GRAPH_DEADLINE_MS (15u * 60u * 1000u) /* waiting for one request gives up after this */
#endif
#ifndef SPO_GRAPH_BACKOFF_MS
#define SPO_GRAPH_BACKOFF_MS 1000u /* first backoff without Retry-After; doubles, with jitter */
#endif
#ifndef SPO_GRAPH_BACKOFF_CAP_MS
#define SPO_GRAPH_BACKOFF_CAP_MS 60000u
#endif

/* One site; strings are unescaped UTF-8, NUL-terminated, valid only during the callback. */
typedef struct spo_site {
    const char *id;
    size_t id_len;
    const char *display_name;
    size_t display_name_len;
    const char *web_url;
    size_t web_url_len;
} spo_site;

/* Return 0 to go on, non-zero to stop (the listing then returns that value). */
typedef int (*spo_site_fn)(void *ctx, const spo_site *site);

/* The graph layer asks its owner for a bearer token: the cached one (force 0) or a new one
 * (force 1, after a 401). Returns SPO_OK and the token, or a negative status. */
typedef int (*spo_token_fn)(void *ctx, int force, spo_span *token);

typedef struct spo_graph {
    spo_url base;            /* parsed graph root (spans into base_str) */
    char base_str[SPO_GRAPH_ROOT_MAX];
    spo_http_conn *conn;
    spo_json_reader *reader;
    spo_diag *diag;
    spo_token_fn get_token;
    void *token_ctx;
    /* clock, sleep and randomness for backoff */
    uint64_t (*now_ms)(void *ctx);
    int64_t (*wall)(void *ctx);
    void (*sleep_ms)(void *ctx, uint32_t ms);
    void *clock_ctx;
    uint32_t rnd;            /* jitter state, seeded by the owner */
    uint32_t max_retries;
    uint32_t deadline_ms;
    uint32_t backoff_ms, backoff_cap_ms;
    uint32_t retries_done;   /* total retries in the last call, for tests and --verbose */
    char url[SPO_URL_MAX];   /* the page being fetched */
    char next[SPO_URL_MAX];  /* @odata.nextLink of that page */
    char request_id[64];
} spo_graph;

/* Prepare g for the Graph root graph_url (https://graph.microsoft.com or a test endpoint).
 * Returns SPO_OK or SPO_E_URL. */
int spo_graph_init(spo_graph *g, const char *graph_url, spo_http_conn *conn, spo_json_reader *r,
                   spo_diag *diag, spo_token_fn get_token, void *token_ctx);

/* One Graph request, run on g->url (which the caller fills: the Graph root, then a path) with the
 * same token handling, retries and backoff as the sites listing: a 401 gets one new token; 429,
 * 5xx and lost connections are retried with Retry-After or backoff. */
typedef struct spo_graph_req {
    const char *method;          /* NULL = GET */
    const char *content_type;    /* Content-Type of body, or NULL */
    const uint8_t *body;         /* may be NULL; body_len bytes */
    size_t body_len;
    /* Values captured from a 2xx body; at most SPO_JSON_MAX_CAPTURES - 3 (the error fields are
     * spo's), - 5 for spo_graph_list (the paging fields too). Copied back on success. */
    spo_json_capture *caps;
    size_t ncaps;
    /* Elements of the array at coll (spo_graph_call) or "value" (spo_graph_list), each handed to
     * on_elem as it is parsed, exactly once even when a page is fetched again after a failure.
     * A non-zero return stops the request, which returns that value. */
    const char *const *coll;
    spo_json_elem_fn on_elem;
    void *elem_ctx;
    /* 1: the request changes something (POST): it is repeated only when it cannot have run (429,
     * 503, or no connection), never after a lost answer. */
    uint8_t not_idempotent;
    /* 1: a 3xx is a success: its Location goes to location (SPO_E_TOO_LONG if it does not fit),
     * and it is never followed here (the token stays with Graph). */
    uint8_t accept_redirect;
    char *location;
    size_t location_cap;
    int status;                  /* out: the HTTP status of the last answer (0 if none) */
} spo_graph_req;

/* Run r on g->url. Returns SPO_OK (any 2xx, or a 3xx with accept_redirect: see r->status),
 * SPO_E_GRAPH (diag has the status, error.code, message and request-id), SPO_E_THROTTLED,
 * SPO_E_URL_HOST (g->url is not on the Graph origin), a JSON/HTTP/network status, or what on_elem
 * returned. */
int spo_graph_call(spo_graph *g, spo_graph_req *r);

/* Like spo_graph_call for a collection: the answer must hold a "value" array, whose elements go to
 * r->on_elem, and every @odata.nextLink is followed (same origin only). */
int spo_graph_list(spo_graph *g, spo_graph_req *r);

/* List sites: GET /v1.0/sites?$select=id,displayName,webUrl, or with search=TEXT when search is
 * not NULL, following every page. Returns SPO_OK, SPO_E_GRAPH (diag has status, code, request-id),
 * SPO_E_THROTTLED, SPO_E_URL_HOST, a JSON/HTTP/network status, or what fn returned. */
int spo_graph_list_sites(spo_graph *g, const char *search, spo_site_fn fn, void *ctx);

#endif
