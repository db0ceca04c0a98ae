/* Uploads: one PUT for small files, an upload session for large ones, resumed within a run and
 * across restarts; the quickXorHash computed while streaming is checked against the service's. */
#include "drive_priv.h"
#include "spo/drive.h"
#include "spo/graph.h"

#include <assert.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <string.h>

#define RECORD_MAGIC "spo-upload 1"
#define GONE_AT_END 1 /* internal: the session vanished after its last fragment was sent */

int spo_upload_init(spo_upload *u, spo_graph *g, const spo_port *port)
{
    memset(u, 0, sizeof *u);
    if (!g || !port || !port->file_read || !port->file_stat)
        return SPO_E_ARG;
    u->g = g;
    u->port = port;
    u->fragment = SPO_UPLOAD_FRAGMENT;
    u->conflict = SPO_CONFLICT_FAIL;
    return SPO_OK;
}

/* ------------------------------------------------------------------ small text helpers */

static const char *conflict_word(spo_conflict c)
{
    return c == SPO_CONFLICT_REPLACE ? "replace" : c == SPO_CONFLICT_RENAME ? "rename" : "fail";
}

/* Decimal text of v (no snprintf: the library links without newlib's heap-using stdio). */
static int cat_u64(char *dst, size_t cap, size_t *pos, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return spo_drive_cat(dst, cap, pos, tmp + i, sizeof tmp - i);
}

/* Parse decimal digits at *s (at least one, no overflow); advances *s. */
static int parse_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return SPO_E_JSON_SHAPE;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return SPO_E_JSON_SHAPE;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return SPO_OK;
}

static void wipe(void *p, size_t n)
{
    mbedtls_platform_zeroize(p, n);
}

/* uploadUrl and the request URLs built from it carry a tempauth token: longer than SPO_URL_MAX. */
static int upload_url_parse(const char *s, spo_url *out)
{
    return spo_url_parse_max(s, strlen(s), SPO_UPLOAD_URL_MAX, out);
}

/* ------------------------------------------------------------------ the body source */

/* Reads the file's bytes [body_start, body_end) into the connection's buffer as the request goes
 * out. Bytes at h_off extend the hash; bytes sent again after a resync or a resend are already in
 * it (h always covers a prefix of the file, and the file is not expected to change). */
static int src_read(void *ctx, uint8_t *buf, size_t cap)
{
    spo_upload *u = ctx;
    uint64_t left = u->body_end - u->pos;
    if (cap > left)
        cap = (size_t)left;
    int n = u->port->file_read(u->port->ctx, u->local, u->pos, buf, cap);
    if (n <= 0 || (size_t)n > cap)
        return SPO_E_FILE; /* unreadable now, or shorter than when it was measured */
    if (u->pos == u->h_off) {
        spo_qxh_update(&u->h, buf, (size_t)n);
        u->h_off += (uint64_t)n;
    }
    u->pos += (uint64_t)n;
    return n;
}

static int src_rewind(void *ctx)
{
    spo_upload *u = ctx;
    u->pos = u->body_start;
    return SPO_OK;
}

/* Bring the hash up to offset to (reading the file through buf), or restart it if the service
 * wants bytes from before what is hashed... which cannot happen: h covers [0, h_off) and sending
 * from any offset at or below h_off keeps it right. */
static int hash_to(spo_upload *u, uint64_t to)
{
    while (u->h_off < to) {
        uint64_t want = to - u->h_off;
        size_t n = want < sizeof u->buf ? (size_t)want : sizeof u->buf;
        int got = u->port->file_read(u->port->ctx, u->local, u->h_off, (uint8_t *)u->buf, n);
        if (got <= 0 || (size_t)got > n)
            return SPO_E_FILE;
        spo_qxh_update(&u->h, (const uint8_t *)u->buf, (size_t)got);
        u->h_off += (uint64_t)got;
    }
    wipe(u->buf, sizeof u->buf);
    return SPO_OK;
}

/* ------------------------------------------------------------------ one exchange */

enum { K_ITEM, K_SESSION }; /* what a 2xx answer holds: a driveItem / upload status, a session */

typedef struct answer {
    spo_upload *u;
    int status;
    int json_err;
    int range_err;
    uint8_t fed;
    uint8_t has_retry_after;
    uint8_t have_next;
    uint32_t retry_after_ms;
    uint64_t next;       /* smallest start in nextExpectedRanges */
    char size_text[24];
} answer;

static int a_status(void *ctx, int status, spo_span reason)
{
    (void)reason;
    ((answer *)ctx)->status = status;
    return 0;
}

static int a_header(void *ctx, spo_span name, spo_span value)
{
    answer *a = ctx;
    spo_graph *g = a->u->g;
    if (spo_http_span_ieq(name, "request-id")) {
        size_t n = value.len < sizeof g->request_id - 1 ? value.len : sizeof g->request_id - 1;
        memcpy(g->request_id, value.ptr, n);
        g->request_id[n] = '\0';
    } else if (spo_http_span_ieq(name, "retry-after")) {
        uint32_t ms;
        int64_t now = g->wall ? g->wall(g->clock_ctx) : 0;
        if (spo_http_retry_after(value, now, &ms) == SPO_OK) {
            a->retry_after_ms = ms;
            a->has_retry_after = 1;
        }
    }
    return 0;
}

static int ok_status(int s)
{
    return s >= 200 && s <= 299;
}

static int a_body(void *ctx, const uint8_t *data, size_t len)
{
    answer *a = ctx;
    if (a->json_err)
        return ok_status(a->status) ? a->json_err : 0;
    a->fed = 1;
    int rc = spo_json_reader_feed(a->u->g->reader, data, len);
    if (rc == SPO_OK)
        return 0;
    a->json_err = rc;
    return ok_status(a->status) ? rc : 0; /* an error body is read out for its status */
}

/* Each element of nextExpectedRanges: "START-" or "START-END"; the smallest START is next. */
static int a_range(void *ctx, const spo_json_elem *e)
{
    answer *a = ctx;
    if (e->tok[0].type != JSMN_STRING) {
        a->range_err = SPO_E_JSON_SHAPE;
        return 0;
    }
    char t[48];
    size_t n = (size_t)(e->tok[0].end - e->tok[0].start);
    if (n >= sizeof t) {
        a->range_err = SPO_E_JSON_SHAPE;
        return 0;
    }
    memcpy(t, e->js + e->tok[0].start, n);
    t[n] = '\0';
    const char *p = t;
    uint64_t start, end;
    if (parse_u64(&p, &start) != SPO_OK || *p++ != '-' ||
        (*p && (parse_u64(&p, &end) != SPO_OK || *p || end < start))) {
        a->range_err = SPO_E_JSON_SHAPE;
        return 0;
    }
    if (!a->have_next || start < a->next)
        a->next = start;
    a->have_next = 1;
    return 0;
}

/* The body of a request: from memory (the session request) or from the file (range). */
typedef struct body {
    const char *mem;
    size_t mem_len;
    int from_file;
    uint64_t start, end;
} body;

/* One request and its answer; returns the HTTP status or a negative status. 2xx answers are parsed
 * per kind: K_SESSION's uploadUrl into u->upload_url, K_ITEM's driveItem into item and its
 * nextExpectedRanges into a->next. Error answers fill g->diag. */
static int exchange(spo_upload *u, const char *method, const char *url, int auth, int kind,
                    const body *b, const spo_http_header *extra, size_t nextra, answer *a,
                    spo_upload_item *item)
{
    spo_graph *g = u->g;
    memset(a, 0, sizeof *a); /* the caller reads it whatever happens */
    a->u = u;
    spo_url pu;
    int rc = upload_url_parse(url, &pu);
    if (rc != SPO_OK)
        return rc;
    if (auth && !spo_url_same_origin(&pu, &g->base))
        return SPO_E_URL_HOST; /* the bearer token only ever goes to the configured origin */

    spo_http_header hdr[4];
    size_t nh = 0;
    if (auth) {
        spo_span tok;
        rc = g->get_token(g->token_ctx, 0, &tok);
        if (rc != SPO_OK)
            return rc;
        hdr[nh++] = (spo_http_header){ "Authorization", tok, 1 };
    }
    for (size_t i = 0; i < nextra && nh < sizeof hdr / sizeof hdr[0]; i++)
        hdr[nh++] = extra[i];

    spo_http_request req = { .method = method, .url = &pu, .headers = hdr, .nheaders = nh };
    if (b && b->from_file) {
        u->body_start = u->pos = b->start;
        u->body_end = b->end;
        req.body_len = (size_t)(b->end - b->start);
        req.body_fn = src_read;
        req.body_rewind = src_rewind;
        req.body_ctx = u;
    } else if (b) {
        req.body = (const uint8_t *)b->mem;
        req.body_len = b->mem_len;
    }

    memset(g->diag, 0, sizeof *g->diag);
    g->request_id[0] = '\0';
    if (item)
        memset(item, 0, sizeof *item);
    spo_json_capture *caps = u->caps; /* in u, not on the stack: the stack peak stays the listing's */
    size_t nc = 0;
    static const char *const ranges[] = { "nextExpectedRanges", NULL };
    if (kind == K_SESSION) {
        caps[nc++] = (spo_json_capture){ { "uploadUrl", NULL }, u->upload_url,
                                         sizeof u->upload_url, 0, 0, 0, 0, 0 };
    } else {
        caps[nc++] = (spo_json_capture){ { "id", NULL }, item->id, sizeof item->id, 0, 0, 0, 0, 0 };
        caps[nc++] = (spo_json_capture){ { "name", NULL }, item->name, sizeof item->name, 0, 0, 0, 0, 0 };
        caps[nc++] = (spo_json_capture){ { "size", NULL }, a->size_text, sizeof a->size_text, 0, 0, 0, 0, 0 };
        caps[nc++] = (spo_json_capture){ { "file", "hashes", "quickXorHash", NULL }, item->qxh,
                                         sizeof item->qxh, 0, 0, 0, 0, 0 };
    }
    caps[nc++] = (spo_json_capture){ { "error", "code", NULL }, g->diag->code, sizeof g->diag->code,
                                     1, 0, 0, 0, 0 };
    caps[nc++] = (spo_json_capture){ { "error", "message", NULL }, g->diag->message,
                                     sizeof g->diag->message, 1, 0, 0, 0, 0 };
    caps[nc++] = (spo_json_capture){ { "error", "innerError", "request-id", NULL },
                                     g->diag->request_id, sizeof g->diag->request_id, 1, 0, 0, 0, 0 };
    static_assert(sizeof u->caps / sizeof u->caps[0] <= SPO_JSON_MAX_CAPTURES, "captures");
    assert(nc <= sizeof u->caps / sizeof u->caps[0]);
    spo_json_reader_init(g->reader, caps, nc, kind == K_ITEM ? ranges : NULL,
                         kind == K_ITEM ? a_range : NULL, a);
    spo_http_callbacks cb = { a, a_status, a_header, NULL, a_body };

    rc = spo_http_conn_exchange(g->conn, &req, &cb);
    if (ok_status(rc)) {
        if (a->json_err)
            return a->json_err;
        if (a->fed && (rc = spo_json_reader_finish(g->reader)) != SPO_OK)
            return rc;
        if (a->range_err)
            return a->range_err;
        rc = a->status;
        if (kind == K_SESSION && (!caps[0].found || caps[0].type != SPO_JSON_STRING))
            return SPO_E_JSON_SHAPE; /* a session without its uploadUrl */
        if (kind == K_ITEM && caps[2].found) {
            const char *p = a->size_text;
            if (caps[2].type != SPO_JSON_NUMBER || parse_u64(&p, &item->size) != SPO_OK || *p)
                return SPO_E_JSON_SHAPE;
        }
        return rc;
    }
    if (rc < 0 && a->json_err && ok_status(a->status))
        return a->json_err;
    if (rc > 0) {
        if (!g->diag->request_id[0]) {
            size_t n = strlen(g->request_id);
            memcpy(g->diag->request_id, g->request_id, n + 1);
        }
        spo_diag_clean(g->diag);
        g->diag->status = rc;
    }
    return rc;
}

/* After a failed attempt: wait (Retry-After, else backoff) and return SPO_OK to try again, or the
 * status to give up with. */
static int wait_retry(spo_upload *u, int rc, const answer *a, uint32_t *attempt, uint64_t start)
{
    spo_graph *g = u->g;
    if (!(rc > 0 ? spo_graph_retry_status(rc) : spo_graph_transient(rc)))
        return rc > 0 ? SPO_E_GRAPH : rc;
    if (*attempt >= g->max_retries)
        return rc > 0 ? (rc == 429 || rc == 503 ? SPO_E_THROTTLED : SPO_E_GRAPH) : rc;
    uint32_t wait = a->has_retry_after ? a->retry_after_ms : spo_graph_backoff(g, *attempt);
    g->diag->retry_after_ms = a->has_retry_after ? a->retry_after_ms : 0;
    if (g->now_ms && g->now_ms(g->clock_ctx) - start + wait > g->deadline_ms)
        return SPO_E_DEADLINE;
    (*attempt)++;
    g->retries_done++;
    if (wait && g->sleep_ms)
        g->sleep_ms(g->clock_ctx, wait);
    return SPO_OK;
}

/* A request to u->buf on Graph (bearer token) with the listing's retry policy; returns the 2xx
 * status or a negative status (SPO_E_GRAPH with g->diag for an error answer). */
static int graph_call(spo_upload *u, const char *method, int kind, const body *b,
                      const spo_http_header *extra, size_t nextra, spo_upload_item *item)
{
    spo_graph *g = u->g;
    uint32_t attempt = 0;
    int refreshed = 0;
    uint64_t start = g->now_ms ? g->now_ms(g->clock_ctx) : 0;
    for (;;) {
        answer a;
        int rc = exchange(u, method, u->buf, 1, kind, b, extra, nextra, &a, item);
        if (ok_status(rc))
            return rc;
        if (rc == 401 && !refreshed) {
            refreshed = 1; /* an expired or revoked token: one new token, then give up */
            spo_span fresh;
            int trc = g->get_token(g->token_ctx, 1, &fresh);
            if (trc != SPO_OK)
                return trc;
            continue;
        }
        int unsure = rc < 0 || rc >= 500; /* the request may have run, its answer lost */
        if ((rc = wait_retry(u, rc, &a, &attempt, start)) != SPO_OK)
            return rc;
        u->unsure |= (uint8_t)unsure;
    }
}

/* GET uploadUrl: where the service wants the upload to go on. Returns SPO_OK and *next, 404 when
 * the session is gone (expired, cancelled, or completed), or a negative status. */
static int session_status(spo_upload *u, uint64_t *next, spo_upload_item *scratch)
{
    spo_graph *g = u->g;
    uint32_t attempt = 0;
    uint64_t start = g->now_ms ? g->now_ms(g->clock_ctx) : 0;
    u->resyncs++;
    for (;;) {
        answer a;
        int rc = exchange(u, "GET", u->upload_url, 0, K_ITEM, NULL, NULL, 0, &a, scratch);
        if (rc == 200) {
            if (!a.have_next)
                return SPO_E_JSON_SHAPE;
            *next = a.next;
            return SPO_OK;
        }
        if (rc == 404)
            return 404;
        if ((rc = wait_retry(u, rc, &a, &attempt, start)) != SPO_OK)
            return rc;
    }
}

/* ------------------------------------------------------------------ paths and the record */

/* u->buf = Graph root + drive + "/root:/" + remote percent-encoded per segment + suffix. */
static int item_url(spo_upload *u, const char *drive, const char *remote, const char *suffix)
{
    spo_graph *g = u->g;
    size_t pos = 0, cap = sizeof u->buf;
    u->buf[0] = '\0';
    int rc;
    if ((rc = spo_drive_catz(u->buf, cap, &pos, g->base_str)) ||
        (rc = spo_drive_catz(u->buf, cap, &pos, drive)) ||
        (rc = spo_drive_catz(u->buf, cap, &pos, "/root:/")))
        return rc;
    size_t segments = 0;
    if ((rc = spo_item_path_append(u->buf, cap, &pos, remote, &segments)))
        return rc;
    if (segments == 0)
        return SPO_E_ARG; /* the root is a folder, not a file */
    return spo_drive_catz(u->buf, cap, &pos, suffix);
}

/* The drive is the caller's (e.g. "/v1.0/drives/" + a resolved id); the remote path is checked by
 * building its URL once before anything is sent. */
static int check_paths(spo_upload *u, const char *drive, const char *remote)
{
    if (!drive || drive[0] != '/' || !remote)
        return SPO_E_ARG;
    for (const char *p = drive; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#')
            return SPO_E_ARG;
    return item_url(u, drive, remote, "");
}

/* The record's key: "upload-" + 32 hex digits of SHA-256(local NUL drive NUL remote). */
static int make_key(spo_upload *u, const char *local, const char *drive, const char *remote)
{
    mbedtls_sha256_context c;
    uint8_t d[32];
    mbedtls_sha256_init(&c);
    int rc = mbedtls_sha256_starts(&c, 0);
    if (!rc)
        rc = mbedtls_sha256_update(&c, (const uint8_t *)local, strlen(local) + 1);
    if (!rc)
        rc = mbedtls_sha256_update(&c, (const uint8_t *)drive, strlen(drive) + 1);
    if (!rc)
        rc = mbedtls_sha256_update(&c, (const uint8_t *)remote, strlen(remote));
    if (!rc)
        rc = mbedtls_sha256_finish(&c, d);
    mbedtls_sha256_free(&c);
    if (rc)
        return SPO_E_INTERNAL;
    static const char hex[] = "0123456789abcdef";
    memcpy(u->key, "upload-", 7);
    for (int i = 0; i < 16; i++) {
        u->key[7 + 2 * i] = hex[d[i] >> 4];
        u->key[8 + 2 * i] = hex[d[i] & 15];
    }
    u->key[39] = '\0';
    return SPO_OK;
}

static int has_store(const spo_upload *u)
{
    return u->port->store_read && u->port->store_write && u->port->store_remove;
}

/* Record: "spo-upload 1 SIZE MTIME OFFSET\nUPLOADURL\n". Written after the session is created and
 * after each acknowledged fragment; a failure to write it only costs resumability. */
static void record_save(spo_upload *u, uint64_t offset)
{
    if (!has_store(u))
        return;
    size_t pos = 0, cap = sizeof u->buf;
    int rc = spo_drive_catz(u->buf, cap, &pos, RECORD_MAGIC " ");
    if (!rc)
        rc = cat_u64(u->buf, cap, &pos, u->size);
    if (!rc)
        rc = spo_drive_cat(u->buf, cap, &pos, " ", 1);
    if (!rc) /* mtime as its two's complement: a negative time is legal */
        rc = cat_u64(u->buf, cap, &pos, (uint64_t)u->mtime);
    if (!rc)
        rc = spo_drive_cat(u->buf, cap, &pos, " ", 1);
    if (!rc)
        rc = cat_u64(u->buf, cap, &pos, offset);
    if (!rc)
        rc = spo_drive_cat(u->buf, cap, &pos, "\n", 1);
    if (!rc)
        rc = spo_drive_catz(u->buf, cap, &pos, u->upload_url);
    if (!rc)
        rc = spo_drive_cat(u->buf, cap, &pos, "\n", 1);
    if (!rc)
        rc = u->port->store_write(u->port->ctx, u->key, (const uint8_t *)u->buf, pos);
    if (rc)
        u->record_warning = 1;
    wipe(u->buf, sizeof u->buf);
}

static void record_remove(spo_upload *u)
{
    if (has_store(u))
        (void)u->port->store_remove(u->port->ctx, u->key);
}

/* Load a record for this file as it is now into u->upload_url: SPO_OK, or not (absent, another
 * version of the file, unreadable, malformed: the caller starts over). */
static int record_load(spo_upload *u)
{
    if (!has_store(u))
        return SPO_STORE_ABSENT;
    int n = u->port->store_read(u->port->ctx, u->key, (uint8_t *)u->buf, sizeof u->buf - 1);
    if (n < 0)
        return n;
    u->buf[n] = '\0';
    int rc = SPO_E_JSON_SHAPE;
    const char *p = u->buf;
    uint64_t size, mtime, off;
    size_t ml = sizeof RECORD_MAGIC - 1;
    if (!strncmp(p, RECORD_MAGIC " ", ml + 1)) {
        p += ml + 1;
        if (!parse_u64(&p, &size) && *p++ == ' ' && !parse_u64(&p, &mtime) && *p++ == ' ' &&
            !parse_u64(&p, &off) && *p++ == '\n') {
            const char *e = strchr(p, '\n');
            size_t ul = e ? (size_t)(e - p) : 0;
            if (e && !e[1] && ul > 0 && ul < sizeof u->upload_url && size == u->size &&
                (int64_t)mtime == u->mtime && off <= size) {
                memcpy(u->upload_url, p, ul);
                u->upload_url[ul] = '\0';
                spo_url pu;
                rc = upload_url_parse(u->upload_url, &pu) == SPO_OK ? SPO_OK : SPO_E_JSON_SHAPE;
            }
        }
    }
    wipe(u->buf, sizeof u->buf);
    return rc;
}

/* ------------------------------------------------------------------ the two ways up */

/* The final driveItem against what was sent. */
static int check_item(spo_upload *u, const spo_upload_item *item)
{
    char mine[SPO_QXH_B64];
    if (u->h_off != u->size)
        return SPO_E_INTERNAL;
    spo_qxh_final(&u->h, mine);
    if (!item->id[0])
        return SPO_E_JSON_SHAPE;
    spo_diag *d = u->g->diag;
    memset(d, 0, sizeof *d);
    if (!item->qxh[0] || strcmp(item->qxh, mine) != 0 || item->size != u->size) {
        /* What differs, for the message; the hashes are not secrets. */
        size_t pos = 0;
        spo_drive_catz(d->message, sizeof d->message, &pos,
             !item->qxh[0] ? "the service reported no quickXorHash for the file"
             : item->size != u->size ? "the service stored a different number of bytes"
                                     : "quickXorHash differs: local ");
        if (item->qxh[0] && item->size == u->size) {
            spo_drive_catz(d->message, sizeof d->message, &pos, mine);
            spo_drive_catz(d->message, sizeof d->message, &pos, ", service ");
            spo_drive_catz(d->message, sizeof d->message, &pos, item->qxh);
        }
        spo_diag_clean(d);
        return SPO_E_INTEGRITY;
    }
    return SPO_OK;
}

/* After a request whose answer was lost, the service may hold the file already: a repeated PUT
 * with conflictBehavior=fail then gets 409, and a session whose last fragment arrived is gone (404).
 * If the item at the path has this file's size and quickXorHash, it is this upload: success. Else
 * rc stands, with its diagnostic. */
static int verify_remote(spo_upload *u, const char *drive, const char *remote, int rc,
                         spo_upload_item *out)
{
    u->kept = *u->g->diag;
    if (hash_to(u, u->size) == SPO_OK &&
        item_url(u, drive, remote, "?$select=id,name,size,file") == SPO_OK &&
        graph_call(u, "GET", K_ITEM, NULL, NULL, 0, out) == 200 && check_item(u, out) == SPO_OK)
        return SPO_OK;
    *u->g->diag = u->kept;
    memset(out, 0, sizeof *out);
    return rc;
}

static int simple_put(spo_upload *u, const char *drive, const char *remote, spo_upload_item *out)
{
    size_t pos;
    int rc = item_url(u, drive, remote, ":/content?@microsoft.graph.conflictBehavior=");
    if (rc)
        return rc;
    pos = strlen(u->buf);
    if ((rc = spo_drive_catz(u->buf, sizeof u->buf, &pos, conflict_word(u->conflict))))
        return rc;
    static const spo_http_header ct = { "Content-Type", SPO_SPAN_LIT("application/octet-stream"), 0 };
    body b = { NULL, 0, 1, 0, u->size };
    rc = graph_call(u, "PUT", K_ITEM, &b, &ct, 1, out);
    if (rc == SPO_E_GRAPH && u->g->diag->status == 409 && u->unsure)
        return verify_remote(u, drive, remote, rc, out);
    if (rc < 0)
        return rc;
    if (u->progress)
        u->progress(u->progress_ctx, u->size, u->size);
    return check_item(u, out);
}

static int create_session(spo_upload *u, const char *drive, const char *remote)
{
    int rc = item_url(u, drive, remote, ":/createUploadSession");
    if (rc)
        return rc;
    char json[80];
    size_t pos = 0;
    spo_drive_catz(json, sizeof json, &pos, "{\"item\":{\"@microsoft.graph.conflictBehavior\":\"");
    spo_drive_catz(json, sizeof json, &pos, conflict_word(u->conflict));
    spo_drive_catz(json, sizeof json, &pos, "\"}}");
    static const spo_http_header ct = { "Content-Type", SPO_SPAN_LIT("application/json"), 0 };
    body b = { json, pos, 0, 0, 0 };
    rc = graph_call(u, "POST", K_SESSION, &b, &ct, 1, NULL);
    if (rc < 0) {
        wipe(u->upload_url, sizeof u->upload_url);
        return rc;
    }
    spo_url pu; /* checked now, not at the first fragment, so the record never holds junk */
    if (upload_url_parse(u->upload_url, &pu) != SPO_OK) {
        wipe(u->upload_url, sizeof u->upload_url);
        return SPO_E_JSON_SHAPE;
    }
    u->sessions++;
    record_save(u, 0);
    return SPO_OK;
}

/* Send fragments from offset next until the service returns the driveItem. Returns SPO_OK with
 * *out, 404 if the session vanished (the caller starts a new one), or an error. */
static int send_fragments(spo_upload *u, uint64_t next, spo_upload_item *out)
{
    spo_graph *g = u->g;
    uint32_t attempt = 0;
    uint64_t start = g->now_ms ? g->now_ms(g->clock_ctx) : 0;
    for (;;) {
        if (next > u->size)
            return SPO_E_JSON_SHAPE; /* the service wants bytes beyond the end */
        int rc = hash_to(u, next);
        if (rc)
            return rc;
        uint64_t end = next + u->fragment;
        if (end > u->size)
            end = u->size;
        if (end == next)
            return SPO_E_JSON_SHAPE; /* all bytes are there but the service did not finish */
        char range[80];
        size_t pos = 0;
        spo_drive_catz(range, sizeof range, &pos, "bytes ");
        cat_u64(range, sizeof range, &pos, next);
        spo_drive_catz(range, sizeof range, &pos, "-");
        cat_u64(range, sizeof range, &pos, end - 1);
        spo_drive_catz(range, sizeof range, &pos, "/");
        cat_u64(range, sizeof range, &pos, u->size); /* the same total every time */
        spo_http_header h = { "Content-Range", { range, pos }, 0 };
        body b = { NULL, 0, 1, next, end };
        answer a;
        rc = exchange(u, "PUT", u->upload_url, 0, K_ITEM, &b, &h, 1, &a, out);
        if (rc == 200 || rc == 201) {
            if (end != u->size)
                return SPO_E_JSON_SHAPE; /* finished before the last byte was sent */
            if (u->progress)
                u->progress(u->progress_ctx, u->size, u->size);
            return check_item(u, out);
        }
        if (rc == 202) {
            uint64_t was = next;
            next = a.have_next ? a.next : end;
            if (next > was) {
                attempt = 0;
                start = g->now_ms ? g->now_ms(g->clock_ctx) : 0;
                record_save(u, next);
                if (u->progress)
                    u->progress(u->progress_ctx, next, u->size);
            } else if (attempt++ >= g->max_retries) {
                return SPO_E_JSON_SHAPE; /* taken, yet never any further: not a service to trust */
            }
            continue;
        }
        if (rc == 404) /* after the last fragment, it may be gone because it completed */
            return end == u->size ? GONE_AT_END : 404;
        if (rc == SPO_E_FILE || rc == SPO_E_URL)
            return rc;
        if (rc == 429 || rc == 503) {
            /* throttled: the fragment was not taken; wait as told and send it again */
            if ((rc = wait_retry(u, rc, &a, &attempt, start)) != SPO_OK)
                return rc;
            continue;
        }
        /* Lost connection, 5xx, 416: which bytes arrived is unknown; ask, then go on from there. */
        if (rc != 416) {
            if ((rc = wait_retry(u, rc, &a, &attempt, start)) != SPO_OK)
                return rc;
        } else if (attempt++ >= g->max_retries) {
            return SPO_E_GRAPH;
        }
        rc = session_status(u, &next, out);
        if (rc == 404 && end == u->size)
            return GONE_AT_END; /* it may have completed: the answer to the last one was lost */
        if (rc)
            return rc;
    }
}

static int session_upload(spo_upload *u, const char *drive, const char *remote,
                          spo_upload_item *out)
{
    uint64_t next = 0;
    int rc;
    if (record_load(u) == SPO_OK) {
        rc = session_status(u, &next, out);
        if (rc == SPO_OK)
            u->resumed = 1;
        else if (rc == 404) {
            record_remove(u); /* expired, or completed by the earlier run after all */
            if (verify_remote(u, drive, remote, 404, out) == SPO_OK) {
                wipe(u->upload_url, sizeof u->upload_url);
                return SPO_OK;
            }
        }
        else if (spo_graph_transient(rc) || rc == SPO_E_THROTTLED || rc == SPO_E_DEADLINE ||
                 (rc == SPO_E_GRAPH && u->g->diag->status >= 500)) {
            wipe(u->upload_url, sizeof u->upload_url);
            return rc; /* keep the record: the next run may reach the service */
        } else {
            record_remove(u); /* the session answers nonsense or refuses: start over */
        }
    } else {
        record_remove(u); /* another version of the file, or junk */
    }
    for (uint32_t restarts = 0;; restarts++) {
        if (!u->resumed || restarts > 0) {
            if (restarts > SPO_UPLOAD_RESTARTS) {
                rc = SPO_E_GRAPH; /* diag: the last 404 */
                break;
            }
            if ((rc = create_session(u, drive, remote)) != SPO_OK)
                break;
            next = 0;
        }
        rc = send_fragments(u, next, out);
        if (rc == GONE_AT_END) {
            rc = verify_remote(u, drive, remote, 404, out);
            if (rc == SPO_OK)
                break;
            rc = 404;
        }
        if (rc != 404)
            break;
        record_remove(u); /* the service forgot the session: a new one, from the first byte */
        u->resumed = 0;
    }
    int status = u->g->diag->status;
    if (rc == SPO_OK || rc == SPO_E_INTEGRITY ||
        (rc == SPO_E_GRAPH && status >= 400 && status < 500 && status != 429))
        record_remove(u); /* done, or refused for good: the session is of no further use */
    wipe(u->upload_url, sizeof u->upload_url);
    return rc;
}

int spo_upload_file(spo_upload *u, const char *local, const char *drive, const char *remote,
                    spo_upload_item *out)
{
    if (!u || !u->g || !local || !out)
        return SPO_E_ARG;
    memset(out, 0, sizeof *out);
    int rc = check_paths(u, drive, remote);
    if (rc)
        return rc;
    if (u->fragment == 0 || u->fragment % SPO_UPLOAD_FRAGMENT_UNIT ||
        u->fragment > SPO_UPLOAD_FRAGMENT_MAX)
        return SPO_E_ARG;
    u->local = local;
    u->sessions = u->resyncs = 0;
    u->resumed = u->record_warning = u->unsure = 0;
    u->g->retries_done = 0;
    spo_qxh_init(&u->h);
    u->h_off = 0;
    if (u->port->file_stat(u->port->ctx, local, &u->size, &u->mtime) != SPO_OK)
        return SPO_E_FILE;
    if (u->size <= SPO_UPLOAD_SIMPLE_MAX)
        return simple_put(u, drive, remote, out);
    if ((rc = make_key(u, local, drive, remote)) != SPO_OK)
        return rc;
    return session_upload(u, drive, remote, out);
}
