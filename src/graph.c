/* Graph sites listing: paging, throttling, retries and resumption. */
#include "spo/graph.h"

#include <assert.h>
#include <string.h>

static const char SITES_PATH[] = "/v1.0/sites?$select=id,displayName,webUrl";

int spo_graph_init(spo_graph *g, const char *graph_url, spo_http_conn *conn, spo_json_reader *r,
                   spo_diag *diag, spo_token_fn get_token, void *token_ctx)
{
    memset(g, 0, sizeof *g);
    size_t n = strlen(graph_url);
    while (n > 0 && graph_url[n - 1] == '/') /* "https://graph.microsoft.com/" is the same root */
        n--;
    if (n + 1 > sizeof g->base_str)
        return SPO_E_URL;
    memcpy(g->base_str, graph_url, n);
    g->base_str[n] = '\0';
    int rc = spo_url_parse(g->base_str, n, &g->base);
    if (rc != SPO_OK)
        return rc;
    g->conn = conn;
    g->reader = r;
    g->diag = diag;
    g->get_token = get_token;
    g->token_ctx = token_ctx;
    g->max_retries = SPO_GRAPH_RETRIES;
    g->deadline_ms = SPO_GRAPH_DEADLINE_MS;
    g->backoff_ms = SPO_GRAPH_BACKOFF_MS;
    g->backoff_cap_ms = SPO_GRAPH_BACKOFF_CAP_MS;
    g->rnd = 0x9e3779b9u;
    return SPO_OK;
}

/* ------------------------------------------------------------------ one request */

typedef struct call {
    spo_graph *g;
    spo_graph_req *r;
    int status;
    int json_err;
    int elem_rc;           /* what the caller's element callback stopped with, if anything */
    int too_long;          /* a Location did not fit */
    uint64_t skip;         /* elements already delivered by an earlier attempt */
    uint64_t *delivered;   /* elements delivered so far (all attempts) */
    uint32_t retry_after_ms;
    uint8_t has_retry_after;
} call;

static int is_2xx(int s)
{
    return s >= 200 && s < 300;
}

static int on_status(void *ctx, int status, spo_span reason)
{
    (void)reason;
    ((call *)ctx)->status = status;
    return 0;
}

static int on_header(void *ctx, spo_span name, spo_span value)
{
    call *p = ctx;
    if (spo_http_span_ieq(name, "request-id")) {
        size_t n = value.len < sizeof p->g->request_id - 1 ? value.len : sizeof p->g->request_id - 1;
        memcpy(p->g->request_id, value.ptr, n);
        p->g->request_id[n] = '\0';
    } else if (spo_http_span_ieq(name, "retry-after")) {
        uint32_t ms;
        int64_t now = p->g->wall ? p->g->wall(p->g->clock_ctx) : 0;
        if (spo_http_retry_after(value, now, &ms) == SPO_OK) {
            p->retry_after_ms = ms;
            p->has_retry_after = 1;
        }
    } else if (spo_http_span_ieq(name, "location") && p->r->location && p->status >= 300 &&
               p->status < 400) {
        if (value.len >= p->r->location_cap) {
            p->too_long = 1;
            p->r->location[0] = '\0';
        } else {
            memcpy(p->r->location, value.ptr, value.len);
            p->r->location[value.len] = '\0';
        }
    }
    return 0;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    call *p = ctx;
    /* A redirect's body is for browsers; success and error bodies are JSON. */
    if (p->status < 200 || (p->status >= 300 && p->status < 400))
        return 0;
    if (p->json_err)
        return is_2xx(p->status) ? p->json_err : 0;
    int rc = spo_json_reader_feed(p->g->reader, data, len);
    if (rc == SPO_OK)
        return 0;
    p->json_err = rc;
    /* A broken success body stops the exchange; an error body is read out for its status. */
    return is_2xx(p->status) ? rc : 0;
}

static int on_elem(void *ctx, const spo_json_elem *e)
{
    call *p = ctx;
    if (!is_2xx(p->status))
        return 0;
    if (e->index < p->skip)
        return 0; /* delivered before the connection broke */
    (*p->delivered)++;
    int rc = p->r->on_elem(p->r->elem_ctx, e);
    if (rc)
        p->elem_rc = rc;
    return rc;
}

/* Index of the value of member key in the object element, or -1. Without jsmn's parent links, a
 * value's subtree is skipped by counting the children still owed. */
static int find_member(const spo_json_elem *e, const char *key)
{
    if (e->ntok < 1 || e->tok[0].type != JSMN_OBJECT)
        return -1;
    size_t klen = strlen(key);
    int i = 1;
    for (int m = 0; m < e->tok[0].size && i + 1 < e->ntok; m++) {
        const jsmntok_t *k = &e->tok[i];
        int hit = k->type == JSMN_STRING && (size_t)(k->end - k->start) == klen &&
                  memcmp(e->js + k->start, key, klen) == 0;
        int v = i + 1;
        if (hit)
            return v;
        int owed = 1;
        i = v;
        while (owed > 0 && i < e->ntok) {
            owed += e->tok[i].size - 1;
            i++;
        }
    }
    return -1;
}

/* Unescape a string member in place: the result is never longer than the escaped text, and the
 * closing quote's byte takes the NUL. The element is not needed in raw form afterwards. */
static int take_string(const spo_json_elem *e, const char *key, const char **out, size_t *len)
{
    int v = find_member(e, key);
    if (v < 0 || e->tok[v].type != JSMN_STRING) {
        *out = "";
        *len = 0;
        return v < 0 ? SPO_OK : SPO_E_JSON_SHAPE; /* Graph omits empty fields: absent is fine */
    }
    char *s = (char *)(uintptr_t)(e->js + e->tok[v].start);
    size_t n = (size_t)(e->tok[v].end - e->tok[v].start);
    int rc = spo_json_unescape(s, n, s, n + 1, len);
    *out = s;
    return rc;
}

int spo_graph_transient(int rc)
{
    return rc == SPO_E_NET_CONNECT || rc == SPO_E_NET_TIMEOUT || rc == SPO_E_NET_CLOSED ||
           rc == SPO_E_NET_IO || rc == SPO_E_HTTP_TRUNCATED;
}

int spo_graph_retry_status(int status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static uint32_t next_rand(spo_graph *g)
{
    uint32_t x = g->rnd; /* xorshift32: jitter only, not security */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    g->rnd = x ? x : 1;
    return g->rnd;
}

uint32_t spo_graph_backoff(spo_graph *g, uint32_t attempt)
{
    uint64_t b = g->backoff_ms;
    for (uint32_t i = 0; i < attempt && b < g->backoff_cap_ms; i++)
        b *= 2;
    if (b > g->backoff_cap_ms)
        b = g->backoff_cap_ms;
    /* "equal jitter": half fixed, half random, so clients that failed together spread out */
    uint32_t half = (uint32_t)(b / 2);
    return half + (half ? next_rand(g) % (half + 1) : 0);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Errors the caller can act on need the service's words: error.code, error.message and the
 * request-id, which go to diag. Paths are fixed; spo_graph_req's own captures come first. */
enum { ERR_CAPS = 3, LIST_CAPS = 2 };

static int call_once(spo_graph *g, spo_graph_req *r, int listing, uint64_t *delivered, call *p,
                     const spo_url *url)
{
    spo_span tok;
    int rc = g->get_token(g->token_ctx, 0, &tok);
    if (rc != SPO_OK)
        return rc;
    /* tok is "Bearer <token>", kept that way by the owner so it is never copied. */
    spo_http_header hdr[3] = { { "Authorization", tok, 1 } };
    size_t nh = 1;
    if (r->content_type)
        hdr[nh++] = (spo_http_header){ "Content-Type",
                                       { r->content_type, strlen(r->content_type) }, 0 };
    spo_http_request req = { r->method ? r->method : "GET", url, hdr, nh, r->body, r->body_len,
                             NULL, NULL, NULL };

    memset(g->diag, 0, sizeof *g->diag);
    g->next[0] = '\0';
    g->request_id[0] = '\0';
    if (r->location && r->location_cap)
        r->location[0] = '\0';
    char value_probe[2];
    spo_json_capture caps[SPO_JSON_MAX_CAPTURES];
    size_t n = 0;
    for (; n < r->ncaps; n++) {
        caps[n] = r->caps[n];
        caps[n].found = caps[n].truncated = 0;
        caps[n].type = 0;
        caps[n].len = 0;
    }
    const spo_json_capture fixed[ERR_CAPS + LIST_CAPS] = {
        { { "error", "code", NULL }, g->diag->code, sizeof g->diag->code, 1, 0, 0, 0, 0 },
        { { "error", "message", NULL }, g->diag->message, sizeof g->diag->message, 1, 0, 0, 0, 0 },
        { { "error", "innerError", "request-id", NULL }, g->diag->request_id,
          sizeof g->diag->request_id, 1, 0, 0, 0, 0 },
        { { "@odata.nextLink", NULL }, g->next, sizeof g->next, 0, 0, 0, 0, 0 },
        /* Only to learn that "value" is there and is an array: a page without it is not a
         * page, and must not end the listing as if it were the last one. */
        { { "value", NULL }, value_probe, sizeof value_probe, 1, 0, 0, 0, 0 },
    };
    for (size_t i = 0; i < ERR_CAPS + (listing ? LIST_CAPS : 0); i++)
        caps[n++] = fixed[i];
    static const char *const value[] = { "value", NULL };
    *p = (call){ g, r, 0, 0, 0, 0, *delivered, delivered, 0, 0 };
    spo_json_reader_init(g->reader, caps, n, r->on_elem ? (listing ? value : r->coll) : NULL,
                         r->on_elem ? on_elem : NULL, p);
    spo_http_callbacks cb = { p, on_status, on_header, NULL, on_body };

    rc = spo_http_conn_exchange(g->conn, &req, &cb);
    if (p->elem_rc)
        return p->elem_rc;
    if (rc > 0 && is_2xx(rc) && !p->json_err) {
        if (rc == 204)
            return rc; /* No Content: there is no document to finish */
        int jrc = spo_json_reader_finish(g->reader);
        const spo_json_capture *next = &caps[n - 2], *val = &caps[n - 1];
        if (jrc == SPO_OK && listing &&
            (!val->found || val->type != SPO_JSON_ARRAY ||
             (next->found && next->type != SPO_JSON_STRING)))
            jrc = SPO_E_JSON_SHAPE;
        if (jrc != SPO_OK)
            return jrc;
        for (size_t i = 0; i < r->ncaps; i++)
            r->caps[i] = caps[i];
    } else if ((rc > 0 && is_2xx(rc)) || (rc < 0 && p->json_err && is_2xx(p->status))) {
        return p->json_err;
    } else if (rc >= 300 && rc < 400 && r->location && p->too_long) {
        return SPO_E_TOO_LONG;
    }
    return rc;
}

/* Run g->url until it succeeds or fails for good. */
static int run_call_inner(spo_graph *g, spo_graph_req *r, int listing)
{
    uint64_t delivered = 0;
    uint32_t attempt = 0;
    int refreshed = 0;
    uint64_t start = g->now_ms ? g->now_ms(g->clock_ctx) : 0;

    if (r->ncaps > SPO_JSON_MAX_CAPTURES - ERR_CAPS - (listing ? LIST_CAPS : 0) ||
        (r->ncaps && !r->caps))
        return SPO_E_ARG;
    for (;;) {
        spo_url url;
        int rc = spo_url_parse(g->url, strlen(g->url), &url);
        if (rc != SPO_OK)
            return rc;
        if (!spo_url_same_origin(&url, &g->base))
            return SPO_E_URL_HOST; /* the bearer token only ever goes to the configured origin */

        call p;
        memset(&p, 0, sizeof p); /* call_once may fail before it sets p up */
        rc = call_once(g, r, listing, &delivered, &p, &url);
        r->status = rc > 0 && !p.elem_rc ? rc : p.status;
        if (p.elem_rc)
            return p.elem_rc; /* the caller's callback stopped: its value, whatever its sign */
        if (rc > 0 && (is_2xx(rc) || (r->accept_redirect && rc >= 300 && rc < 400)))
            return SPO_OK;
        if (rc < 0 && ((p.json_err && is_2xx(p.status)) || rc == SPO_E_TOO_LONG))
            return rc;

        if (!g->diag->request_id[0])
            copy_text(g->diag->request_id, sizeof g->diag->request_id, g->request_id);
        spo_diag_clean(g->diag);
        g->diag->status = rc > 0 ? rc : 0;
        if (rc == 401 && !refreshed) {
            refreshed = 1; /* an expired or revoked token: one new token, then give up */
            spo_span fresh;
            int trc = g->get_token(g->token_ctx, 1, &fresh);
            if (trc != SPO_OK)
                return trc;
            continue;
        }
        /* A request that changes something is repeated only when it cannot have run: refused
         * for throttling (429, 503) or never sent (no connection). */
        int again = rc > 0 ? spo_graph_retry_status(rc) : spo_graph_transient(rc);
        if (r->not_idempotent)
            again = rc == 429 || rc == 503 || rc == SPO_E_NET_CONNECT;
        if (!again)
            return rc > 0 ? SPO_E_GRAPH : rc;
        if (attempt >= g->max_retries)
            return rc > 0 ? (rc == 429 || rc == 503 ? SPO_E_THROTTLED : SPO_E_GRAPH) : rc;

        uint32_t wait = p.has_retry_after ? p.retry_after_ms : spo_graph_backoff(g, attempt);
        g->diag->retry_after_ms = p.has_retry_after ? p.retry_after_ms : 0;
        if (g->now_ms) {
            uint64_t spent = g->now_ms(g->clock_ctx) - start;
            if (spent + wait > g->deadline_ms)
                return SPO_E_DEADLINE;
        }
        attempt++;
        g->retries_done++;
        if (wait && g->sleep_ms)
            g->sleep_ms(g->clock_ctx, wait);
    }
}

/* Every way out cleans the diag: a 2xx answer can carry an "error" object and then break, and
 * what it captured on the way is the server's text, printed as it stands by the caller. */
static int run_call(spo_graph *g, spo_graph_req *r, int listing)
{
    int rc = run_call_inner(g, r, listing);
    spo_diag_clean(g->diag);
    return rc;
}

int spo_graph_call(spo_graph *g, spo_graph_req *r)
{
    if (!g || !r || (r->on_elem && !r->coll))
        return SPO_E_ARG;
    return run_call(g, r, 0);
}

int spo_graph_list(spo_graph *g, spo_graph_req *r)
{
    if (!g || !r || !r->on_elem)
        return SPO_E_ARG;
    g->retries_done = 0;
    for (;;) {
        int rc = run_call(g, r, 1);
        if (rc != SPO_OK)
            return rc;
        if (!g->next[0])
            return SPO_OK;
        /* Followed verbatim: the link already carries every query option and its skiptoken. */
        memcpy(g->url, g->next, sizeof g->url);
    }
}

/* ------------------------------------------------------------------ sites */

typedef struct sites_ctx {
    spo_site_fn fn;
    void *ctx;
} sites_ctx;

static int site_elem(void *ctx, const spo_json_elem *e)
{
    sites_ctx *sc = ctx;
    spo_site s;
    int rc;
    if ((rc = take_string(e, "id", &s.id, &s.id_len)) ||
        (rc = take_string(e, "displayName", &s.display_name, &s.display_name_len)) ||
        (rc = take_string(e, "webUrl", &s.web_url, &s.web_url_len)))
        return rc;
    if (s.id_len == 0)
        return SPO_E_JSON_SHAPE; /* every site has an id; without one the list cannot be trusted */
    return sc->fn(sc->ctx, &s);
}

int spo_graph_list_sites(spo_graph *g, const char *search, spo_site_fn fn, void *ctx)
{
    size_t pos = strlen(g->base_str);
    if (pos + sizeof SITES_PATH > sizeof g->url)
        return SPO_E_TOO_LONG;
    memcpy(g->url, g->base_str, pos);
    memcpy(g->url + pos, SITES_PATH, sizeof SITES_PATH);
    pos += sizeof SITES_PATH - 1;
    if (search) {
        static const char key[] = "&search=";
        if (pos + sizeof key > sizeof g->url)
            return SPO_E_TOO_LONG;
        memcpy(g->url + pos, key, sizeof key);
        pos += sizeof key - 1;
        int rc = spo_url_encode_append(g->url, sizeof g->url, &pos, search, strlen(search));
        if (rc != SPO_OK)
            return rc;
    }
    sites_ctx sc = { fn, ctx };
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.on_elem = site_elem;
    r.elem_ctx = &sc;
    return spo_graph_list(g, &r);
}
