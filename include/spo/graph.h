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

/* List sites: GET /v1.0/sites?$select=id,displayName,webUrl, or with search=TEXT when search is
 * not NULL, following every page. Returns SPO_OK, SPO_E_GRAPH (diag has status, code, request-id),
 * SPO_E_THROTTLED, SPO_E_URL_HOST, a JSON/HTTP/network status, or what fn returned. */
int spo_graph_list_sites(spo_graph *g, const char *search, spo_site_fn fn, void *ctx);

/* ---------------------------------------------------------------- quickXorHash */

/* quickXorHash, the hash SharePoint reports for every file (file.hashes.quickXorHash), computed
 * as the bytes stream by: no buffer beyond the 20-byte state, any split of the input gives the
 * same result. Used to check an upload (and a download) end to end. */
#define SPO_QXH_LEN 20 /* bytes of the hash */
#define SPO_QXH_B64 29 /* its base64 text (28 characters, padded) + NUL */

typedef struct spo_qxh {
    uint8_t state[SPO_QXH_LEN];
    uint32_t bit;    /* where the next input byte goes: (11 * length) mod 160 */
    uint64_t length; /* bytes hashed so far */
} spo_qxh;

/* Start a new hash. */
void spo_qxh_init(spo_qxh *h);

/* Hash len more bytes (data may be NULL when len is 0). */
void spo_qxh_update(spo_qxh *h, const uint8_t *data, size_t len);

/* Write the base64 text of the hash of everything fed so far (as Graph shows it, e.g.
 * "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" for no bytes). h is not changed: more may be fed after. */
void spo_qxh_final(const spo_qxh *h, char out[SPO_QXH_B64]);

#endif
