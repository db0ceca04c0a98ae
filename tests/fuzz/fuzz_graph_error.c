/* Fuzz target: the Graph sites listing (src/graph.c) end to end over src/http_conn.c and the
 * parsers, with a fake transport and a fake clock (sleeps only move the clock).
 *
 * Input: byte 0 chooses the answer: bits 0-2 the status (200, 200, 403, 429, 500, 401, 503, 404),
 * bit 3 chunked instead of Content-Length, bit 4 a Retry-After header, bit 5 a request-id header,
 * bits 6-7 the recv piece size; the rest is the JSON body of every answer. After MAX_ANSWERS
 * answers the server says 200 {"value":[]}, which ends any paging loop (a page may link to itself).
 * Properties: connections only ever go to the configured Graph host and port, even when the body's
 * @odata.nextLink points elsewhere; the diag strings are NUL-terminated within their arrays; sites are
 * only delivered from 200 answers, each with a non-empty id and NUL-terminated strings; a Graph error
 * status ends as SPO_E_GRAPH / SPO_E_THROTTLED with diag.status set; when the site callback says stop
 * (now and then, at a site chosen by the input's hash) no site follows and its value comes back.
 * Differential (status 200): the same listing with the first answer cut off part-way (the
 * connection drops) must deliver exactly the same sites, in order, with the same result: a page that
 * breaks is fetched again and the sites already delivered are skipped. */
#include "fake_server.h"
#include "spo/graph.h"

#define MAX_ANSWERS 5

static const uint8_t *g_body;
static size_t g_len;
static int g_status, g_framing;
static char g_headers[128];

static const char EMPTY_PAGE[] = "{\"value\":[]}";

static void respond(fake_server *f, unsigned k)
{
    /* The answer cut off is fetched again: it does not count, so both runs see the same pages. */
    if (k - (unsigned)f->cut_done >= MAX_ANSWERS)
        fake_answer(f, 200, "", FRAME_LENGTH, (const uint8_t *)EMPTY_PAGE, sizeof EMPTY_PAGE - 1);
    else
        fake_answer(f, g_status, g_headers, g_framing, g_body, g_len);
}

typedef struct clock_state {
    uint64_t ms;
} clock_state;

static uint64_t now_ms(void *ctx)
{
    return ((clock_state *)ctx)->ms;
}

static int64_t wall(void *ctx)
{
    return 1700000000 + (int64_t)(((clock_state *)ctx)->ms / 1000);
}

static void sleep_ms(void *ctx, uint32_t ms)
{
    FUZZ_CHECK(ms <= SPO_GRAPH_BACKOFF_CAP_MS || ms <= SPO_RETRY_AFTER_CAP_MS);
    FUZZ_CHECK(ms > 0);
    ((clock_state *)ctx)->ms += ms;
}

static char g_bearer[] = "Bearer eyJ0eXAiOiJKV1QifQ.fuzz";

static int get_token(void *ctx, int force, spo_span *token)
{
    (void)force;
    (*(unsigned *)ctx)++;
    token->ptr = g_bearer;
    token->len = sizeof g_bearer - 1;
    return SPO_OK;
}

typedef struct sites {
    unsigned n;
    unsigned stop_at; /* the callback asks to stop at this site (1-based), 0 never */
    int stopped;
    uint64_t hash;
} sites;

static int on_site(void *ctx, const spo_site *s)
{
    sites *st = ctx;
    FUZZ_CHECK(g_status == 200);
    FUZZ_CHECK(!st->stopped); /* nothing after the callback said stop */
    FUZZ_CHECK(s->id && s->display_name && s->web_url);
    FUZZ_CHECK(s->id_len > 0);
    FUZZ_CHECK(s->id[s->id_len] == '\0' && s->display_name[s->display_name_len] == '\0' &&
               s->web_url[s->web_url_len] == '\0');
    st->n++;
    st->hash = fuzz_fnv(st->hash, s->id, s->id_len + 1);
    st->hash = fuzz_fnv(st->hash, s->display_name, s->display_name_len + 1);
    st->hash = fuzz_fnv(st->hash, s->web_url, s->web_url_len + 1);
    if (st->n == st->stop_at) {
        st->stopped = 1;
        return SPO_E_ABORTED;
    }
    return 0;
}

typedef struct outcome {
    int rc;
    sites s;
    fake_server f;
} outcome;

static void list(outcome *o, size_t piece, size_t cut_at, unsigned stop_at)
{
    /* static: these hold kilobytes of buffers each, as they would in a device's .bss */
    static spo_http_conn conn;
    static spo_json_reader reader;
    static spo_graph g;
    spo_diag diag;
    clock_state clk = { 0 };
    unsigned tokens = 0;

    memset(o, 0, sizeof *o);
    o->s.hash = FUZZ_FNV_INIT;
    o->s.stop_at = stop_at;
    o->f.respond = respond;
    o->f.expect_host = "graph.microsoft.com";
    o->f.expect_port = 443;
    o->f.piece = piece;
    o->f.cut_at = cut_at;
    spo_http_transport tr = fake_transport(&o->f);
    spo_http_conn_init(&conn, &tr, NULL);
    memset(&diag, 0xa5, sizeof diag);
    FUZZ_CHECK(spo_graph_init(&g, "https://graph.microsoft.com/", &conn, &reader, &diag, get_token,
                              &tokens) == SPO_OK);
    g.now_ms = now_ms;
    g.wall = wall;
    g.sleep_ms = sleep_ms;
    g.clock_ctx = &clk;
    g.max_retries = 2; /* enough to reach every retry path; keeps each run short */

    o->rc = spo_graph_list_sites(&g, (g_len & 1) ? "contoso team" : NULL, on_site, &o->s);

    FUZZ_CHECK(fuzz_terminated(diag.code, sizeof diag.code));
    FUZZ_CHECK(fuzz_terminated(diag.aadsts, sizeof diag.aadsts));
    FUZZ_CHECK(fuzz_terminated(diag.request_id, sizeof diag.request_id));
    FUZZ_CHECK(fuzz_terminated(diag.message, sizeof diag.message));
    FUZZ_CHECK_DIAG_PRINTABLE(diag);
    FUZZ_CHECK(fuzz_terminated(g.url, sizeof g.url) && fuzz_terminated(g.next, sizeof g.next));
    FUZZ_CHECK(o->rc <= 0);
    FUZZ_CHECK(o->s.stopped == (o->rc == SPO_E_ABORTED)); /* the callback's value comes back */
    FUZZ_CHECK(o->f.requests <= MAX_ANSWERS + 64);
    if (o->rc == SPO_E_GRAPH || o->rc == SPO_E_THROTTLED)
        FUZZ_CHECK(diag.status == g_status);
    if (g_status != 200)
        FUZZ_CHECK(o->s.n == 0);
    if (o->rc == SPO_E_THROTTLED)
        FUZZ_CHECK(g_status == 429 || g_status == 503);
#ifdef FUZZ_DEBUG /* -DFUZZ_DEBUG: say what each input did, to see the harness reach its paths */
    fprintf(stderr, "status %d cut %zu -> rc %d sites %u requests %u retries %u diag %d '%s' '%s' '%.30s'\n",
            g_status, cut_at, o->rc, o->s.n, o->f.requests, g.retries_done, diag.status, diag.code,
            diag.request_id, diag.message);
#endif
    spo_http_conn_close(&conn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[8] = { 200, 200, 403, 429, 500, 401, 503, 404 };
    static const size_t pieces[4] = { 1024, 1, 17, 300 };
    static outcome clean, cut;

    if (size == 0)
        return 0;
    const uint8_t ctl = data[0];
    g_status = statuses[ctl & 7];
    g_framing = (ctl & 8) ? FRAME_CHUNKED : FRAME_LENGTH;
    snprintf(g_headers, sizeof g_headers, "%s%sContent-Type: application/json\r\n",
             (ctl & 16) ? "Retry-After: 2.5\r\n" : "",
             (ctl & 32) ? "request-id: 0f0e0d0c-0b0a-0908-0706-050403020100\r\n" : "");
    g_len = size - 1;
    uint8_t *body = malloc(g_len ? g_len : 1);
    memcpy(body, data + 1, g_len);
    g_body = body;

    /* Now and then the callback stops the listing at some site. */
    uint64_t h = fuzz_fnv(FUZZ_FNV_INIT, data, size);
    unsigned stop_at = (h & 0xf) == 0 ? 1 + (unsigned)((h >> 4) % 8) : 0;
    list(&clean, pieces[ctl >> 6], 0, stop_at);
    if (g_status == 200 && clean.f.resp_len > 1) {
        /* Cut the first answer somewhere inside it (chosen by the input's hash). */
        size_t at = 1 + (size_t)((h >> 16) % (clean.f.resp_len - 1));
        list(&cut, pieces[ctl >> 6], at, stop_at);
        /* A failure that a retry could not have caused is the same failure; and a listing that
         * worked must give the same sites after the break. */
        if (cut.f.cut_done && (clean.rc == SPO_OK || clean.rc == SPO_E_ABORTED)) {
            FUZZ_CHECK(cut.rc == clean.rc);
            FUZZ_CHECK(cut.s.n == clean.s.n && cut.s.hash == clean.s.hash);
        }
        free(cut.f.resp);
    }
    free(clean.f.resp);
    free(body);
    return 0;
}
