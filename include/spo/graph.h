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
#include "spo/port.h"

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

/* ---------------------------------------------------------------- uploads */

/* One local file to one path of a document library, through the connection's fixed buffer: the
 * file is read SPO_HTTP_IO_BUF bytes at a time (port->file_read) as the request goes out, whatever
 * its size. Files up to SPO_UPLOAD_SIMPLE_MAX go by one PUT .../content; larger ones by an upload
 * session (createUploadSession, then fragments PUT to its pre-authenticated uploadUrl, which never
 * sees the Authorization header). The quickXorHash of the bytes is computed as they stream and
 * compared with the one in the final driveItem: nothing is reported uploaded before that check.
 *
 * Within one call: 429/503 (with Retry-After) and 5xx are retried like the sites listing; a
 * fragment cut off by a lost connection, a 5xx or a 416 is followed by GET uploadUrl, and the upload
 * continues from its nextExpectedRanges; a 404 on the session starts a new one. Across calls (a
 * restart, a power loss): the session is kept in a record of the port's storage (the key is
 * "upload-" and 32 hex digits of SHA-256 over local path, drive and remote path), holding the
 * uploadUrl, the file's size and mtime and the offset the service acknowledged. The next call for
 * the same, unchanged file continues that session if GET uploadUrl still knows it. The record is
 * removed when the upload completes, or when it no longer applies. */

#ifndef SPO_UPLOAD_SIMPLE_MAX
#define SPO_UPLOAD_SIMPLE_MAX (4u * 1024u * 1024u) /* largest file sent by one PUT .../content */
#endif
#define SPO_UPLOAD_FRAGMENT_UNIT (320u * 1024u) /* fragments are multiples of this (Graph's rule) */
/* Default fragment: 10 x 320 KiB = 3.125 MiB. A fragment costs no memory (it is streamed), but a
 * connection lost during one re-sends up to that much, which a device on a slow or metered link
 * pays for; and each fragment is one request against SharePoint's throttling budget, so it should
 * not be small either: 50 MiB is 16 requests. Microsoft suggests 5-10 MiB for good links. */
#ifndef SPO_UPLOAD_FRAGMENT
#define SPO_UPLOAD_FRAGMENT (10u * SPO_UPLOAD_FRAGMENT_UNIT)
#endif
#define SPO_UPLOAD_FRAGMENT_MAX (191u * SPO_UPLOAD_FRAGMENT_UNIT) /* largest multiple under 60 MiB */
#ifndef SPO_UPLOAD_URL_MAX
#define SPO_UPLOAD_URL_MAX 4096 /* uploadUrl and request URLs + NUL: SharePoint's uploadUrl carries a
                                 * tempauth token, which makes it longer than SPO_URL_MAX allows */
#endif
#ifndef SPO_UPLOAD_ID_MAX
#define SPO_UPLOAD_ID_MAX 128 /* driveItem id + NUL (SharePoint's are 34 characters) */
#endif
#ifndef SPO_UPLOAD_NAME_MAX
#define SPO_UPLOAD_NAME_MAX 1208 /* driveItem name + NUL: 400 UTF-16 units are at most 1200 bytes */
#endif
#ifndef SPO_UPLOAD_RESTARTS
#define SPO_UPLOAD_RESTARTS 3 /* new sessions in one call after the service forgot one (404) */
#endif

typedef enum spo_conflict {
    SPO_CONFLICT_FAIL = 0, /* 409 nameAlreadyExists if the path is taken */
    SPO_CONFLICT_REPLACE,  /* a new version of the existing file */
    SPO_CONFLICT_RENAME    /* the service picks a free name ("name 1.json"): see item.name */
} spo_conflict;

/* The uploaded file as the service describes it, after the checks. */
typedef struct spo_upload_item {
    char id[SPO_UPLOAD_ID_MAX];
    char name[SPO_UPLOAD_NAME_MAX];
    char qxh[SPO_QXH_B64]; /* quickXorHash, equal to the local file's */
    uint64_t size;         /* equal to the local file's */
} spo_upload_item;

/* Progress: done bytes of total acknowledged by the service (for a progress line). */
typedef void (*spo_upload_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct spo_upload {
    spo_graph *g;              /* connection, token, diag, clock and retry policy */
    const spo_port *port;      /* file_read and file_stat (required); store_* (for resuming) */
    uint32_t fragment;         /* bytes per fragment, a multiple of SPO_UPLOAD_FRAGMENT_UNIT */
    spo_conflict conflict;
    spo_upload_progress_fn progress;
    void *progress_ctx;
    /* what the last call did, for tests and --verbose */
    uint32_t sessions;         /* sessions created */
    uint32_t resyncs;          /* GET uploadUrl to learn where to continue */
    uint8_t resumed;           /* continued a session recorded by an earlier call */
    uint8_t record_warning;    /* a record could not be written: the upload goes on, unresumable */
    /* private: the file being sent */
    const char *local;
    uint64_t size;
    int64_t mtime;
    uint64_t pos, body_start, body_end; /* the body source: next byte, and the request's range */
    uint64_t h_off;            /* h covers the file's bytes [0, h_off) */
    uint8_t unsure;            /* a retried request may have run: its answer was lost */
    spo_qxh h;
    char key[SPO_STORE_KEY_MAX + 1];
    spo_json_capture caps[7]; /* the answer being read (here rather than on the stack) */
    spo_diag kept;            /* an error kept while a lost answer is checked */
    char upload_url[SPO_UPLOAD_URL_MAX]; /* a secret (it grants write access): zeroed after use */
    char buf[SPO_UPLOAD_URL_MAX + 128];  /* request URLs, the record, file reads for the hash */
} spo_upload;

/* Prepare u for uploads over g (set up by its owner, e.g. spo_client's graph) and port. Defaults:
 * SPO_UPLOAD_FRAGMENT, SPO_CONFLICT_FAIL, no progress callback. Returns SPO_OK or SPO_E_ARG (no
 * port->file_read or port->file_stat). */
int spo_upload_init(spo_upload *u, spo_graph *g, const spo_port *port);

/* Upload the file local to remote ("folder/name.json", encoded per segment by
 * spo_item_path_append: no "." or ".." segment, not the root) in the drive drive (a path under the Graph root naming a drive, such as
 * "/v1.0/sites/{site-id}/drive" or "/v1.0/drives/{drive-id}"). On SPO_OK, *out describes the
 * file, whose size and quickXorHash were checked. Errors: SPO_E_ARG (bad path or fragment size),
 * SPO_E_FILE (local file unreadable, or shorter than it was), SPO_E_INTEGRITY (the service's hash
 * or size differs), SPO_E_GRAPH (g->diag: status, code, message, request-id: 403, 409, 413, 507,
 * ...), SPO_E_THROTTLED, SPO_E_DEADLINE, and network, TLS, HTTP and JSON statuses. */
int spo_upload_file(spo_upload *u, const char *local, const char *drive, const char *remote,
                    spo_upload_item *out);

/* The backoff before retry number attempt (0-based) without Retry-After: SPO_GRAPH_BACKOFF_MS
 * doubling up to the cap, half of it random ("equal jitter"). Shared by listing and uploads. */
uint32_t spo_graph_backoff(spo_graph *g, uint32_t attempt);

/* True for a failure worth another attempt: the connection broke or timed out (a negative rc). */
int spo_graph_transient(int rc);
/* True for an HTTP status worth another attempt: 429 and the 5xx a busy service answers. */
int spo_graph_retry_status(int status);

#endif
