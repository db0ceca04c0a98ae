/* Fuzz target: the document library and list answers (src/drive.c, src/lists.c, src/upload.c) end
 * to end over src/graph.c, src/http_conn.c and the parsers, with a fake transport and a fake clock.
 *
 * Input: byte 0: bits 0-2 the entry point:
 *   0 spo_drive_resolve by library name (the site answer, then the drives list: id, name, paging)
 *   1 spo_drive_resolve of the default drive (the site answer, then the drive's id)
 *   2 spo_drive_list (children pages: id, name, size, folder, lastModifiedDateTime, nextLink)
 *   3 spo_drive_item (a driveItem: id, size, file.hashes.quickXorHash, folder)
 *   4 spo_list_resolve by display name, then spo_list_add_item (the new item's id) into a 16-byte
 *     (bit 3) or SPO_ITEM_ID_MAX buffer
 *   5 spo_upload_file of a 1000-byte file (simple PUT: the driveItem answer)
 *   6 spo_upload_file of a file one byte over SPO_UPLOAD_SIMPLE_MAX, resuming a stored session
 *     (GET uploadUrl: nextExpectedRanges), then fragments (202: nextExpectedRanges; 200/201: the
 *     driveItem), or a new createUploadSession (uploadUrl)
 *   7 as 6 without a stored session;
 * bit 3: in 4 the id buffer (above), in 6 and 7 the fragment (SPO_UPLOAD_FRAGMENT, else 7 x 320 KiB);
 * bits 4-5 the recv piece size; bit 6 chunked framing; bit 7 a Retry-After header. The rest is the
 * server's answers, separated by 0xFF bytes (never in UTF-8 JSON): each begins with a status byte
 * (200, 200, 201, 202, 404, 429, 500, 503, 409, 416, 403, 401, 200, 202, 302, 400), then the body.
 * After the last one (or MAX_ANSWERS) the server answers 200 {"value":[]} to Graph GETs (which ends
 * any paging loop) and 404 to everything else.
 * Properties: no connection goes anywhere but the Graph host, except the upload session's
 * uploadUrl, which never receives the bearer token; no sanitizer finding (overflow); diag strings
 * NUL-terminated within their arrays and printable; results within the documented buffers
 * (site id < SPO_SITE_ID_MAX, drive id < SPO_DRIVE_ID_MAX, item id < SPO_ITEM_ID_MAX, quickXorHash <
 * SPO_QXH_TEXT_MAX, a list item's id within the caller's cap), non-empty on success; the listing's
 * callback gets a non-empty id and name, NUL-terminated at their lengths, lying inside the JSON
 * reader's window (so never longer than SPO_JSON_WINDOW), nothing after it says stop, and its stop
 * value comes back; an upload succeeds only with the file's size and quickXorHash; a failing call
 * names the part that failed (d->failed). */
#define _GNU_SOURCE /* memmem */
#include "fake_server.h"
#include "spo/lists.h"

#define MAX_ANSWERS 10
#define GRAPH_HOST "graph.microsoft.com"

static const uint8_t *g_data;
static size_t g_size;
static int g_mode, g_framing, g_retry_after;
static const char *g_seg[MAX_ANSWERS];
static size_t g_seg_len[MAX_ANSWERS], g_nseg;
static char g_host[300];
static unsigned g_foreign_requests;
static uint16_t g_port;

static int on_graph(void)
{
    return strcmp(g_host, GRAPH_HOST) == 0 && g_port == 443;
}


static const char EMPTY_PAGE[] = "{\"value\":[]}";
static const char NOT_FOUND[] = "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"gone\"}}";
static char g_bearer[] = "Bearer eyJ0eXAiOiJKV1QifQ.fuzzdrive";

static void respond(fake_server *f, unsigned k)
{
    static const int statuses[16] = { 200, 200, 201, 202, 404, 429, 500, 503,
                                      409, 416, 403, 401, 200, 202, 302, 400 };
    char headers[160];
    if (k >= g_nseg) {
        /* The last request's method is unknown here; a GET of a page ends on the empty page, and
         * anything else on a 404 (which is also what ends an upload session). */
        if (on_graph() && g_mode <= 4)
            fake_answer(f, 200, "", FRAME_LENGTH, (const uint8_t *)EMPTY_PAGE, sizeof EMPTY_PAGE - 1);
        else
            fake_answer(f, 404, "", FRAME_LENGTH, (const uint8_t *)NOT_FOUND, sizeof NOT_FOUND - 1);
        return;
    }
    const uint8_t *s = (const uint8_t *)g_seg[k];
    size_t n = g_seg_len[k];
    int status = n ? statuses[s[0] & 15] : 200;
    snprintf(headers, sizeof headers, "%s%sContent-Type: application/json\r\n",
             g_retry_after ? "Retry-After: 1\r\n" : "",
             status == 302 ? "Location: https://contoso.sharepoint.com/_layouts/15/download.aspx?x=1\r\n" : "");
    fake_answer(f, status, headers, g_framing, n ? s + 1 : s, n ? n - 1 : 0);
}

/* ---- a transport that lets uploads reach their uploadUrl's host, without the token ---- */

static int t_connect(void *ctx, const char *host, uint16_t port)
{
    fake_server *f = ctx;
    FUZZ_CHECK(strlen(host) < sizeof g_host);
    strcpy(g_host, host);
    g_port = port;
    /* Only uploads go anywhere else (their uploadUrl); never a nextLink. */
    FUZZ_CHECK(g_mode >= 5 || on_graph());
    f->expect_host = g_host;
    f->expect_port = port;
    return fake_connect(ctx, host, port);
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
    fake_server *f = ctx;
    if (!on_graph()) {
        /* The bearer token only ever goes to Graph. (As a header: after CRLF, or after a space,
         * which an uploadUrl cannot hold; the URL itself may spell anything else.) */
        FUZZ_CHECK(!memmem(buf, len, g_bearer + 6, sizeof g_bearer - 7));
        FUZZ_CHECK(!memmem(buf, len, "\r\nAuthorization:", 16));
        if (f->need_new)
            g_foreign_requests++;
        else {
            /* The rest of a fragment (megabytes of the file): checked for the token above, not
             * touched byte by byte, which would make the upload modes too slow to fuzz. */
            FUZZ_CHECK(f->connected && buf != NULL);
            return 0;
        }
    }
    return fake_send(ctx, buf, len);
}

/* ---- clock, token ---- */

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
    FUZZ_CHECK(ms > 0 && (ms <= SPO_GRAPH_BACKOFF_CAP_MS || ms <= SPO_RETRY_AFTER_CAP_MS));
    ((clock_state *)ctx)->ms += ms;
}

static int get_token(void *ctx, int force, spo_span *token)
{
    (void)force;
    (void)ctx;
    token->ptr = g_bearer;
    token->len = sizeof g_bearer - 1;
    return SPO_OK;
}

/* ---- the local file and the record store of uploads ---- */

#define SMALL_SIZE 1000u
static uint64_t g_file_size;
static int g_has_record;
static char g_record[256];

static uint8_t small_byte(uint64_t off)
{
    return (uint8_t)(off * 31u + 7u);
}

static int p_file_read(void *ctx, const char *path, uint64_t off, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)path;
    FUZZ_CHECK(off <= g_file_size);
    size_t n = g_file_size - off < len ? (size_t)(g_file_size - off) : len;
    if (g_file_size == SMALL_SIZE)
        for (size_t i = 0; i < n; i++)
            buf[i] = small_byte(off + i);
    else
        memset(buf, 0, n);
    return (int)n;
}

static int p_file_stat(void *ctx, const char *path, uint64_t *size, int64_t *mtime)
{
    (void)ctx;
    (void)path;
    *size = g_file_size;
    *mtime = 1234;
    return SPO_OK;
}

static int p_store_read(void *ctx, const char *key, uint8_t *buf, size_t cap)
{
    (void)ctx;
    (void)key;
    if (!g_has_record)
        return SPO_STORE_ABSENT;
    size_t n = strlen(g_record);
    FUZZ_CHECK(n <= cap);
    memcpy(buf, g_record, n);
    return (int)n;
}

static int p_store_write(void *ctx, const char *key, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)key;
    FUZZ_CHECK(!memmem(data, len, g_bearer + 6, sizeof g_bearer - 7)); /* never the token */
    FUZZ_CHECK(len >= 12 && memcmp(data, "spo-upload 1", 12) == 0);
    return SPO_OK;
}

static int p_store_remove(void *ctx, const char *key)
{
    (void)ctx;
    (void)key;
    return SPO_OK;
}

/* ---- the listing callback ---- */

static spo_json_reader g_reader;

typedef struct items {
    unsigned n, stop_at;
    int stopped;
} items;

static int inside_window(const char *p, size_t n)
{
    const char *w = g_reader.win;
    return p >= w && p + n < w + sizeof g_reader.win;
}

static int on_item(void *ctx, const spo_item *it)
{
    items *st = ctx;
    FUZZ_CHECK(!st->stopped);
    FUZZ_CHECK(it->id && it->name && it->modified);
    FUZZ_CHECK(it->id_len > 0 && it->name_len > 0);
    FUZZ_CHECK(it->id[it->id_len] == '\0' && it->name[it->name_len] == '\0' &&
               it->modified[it->modified_len] == '\0');
    FUZZ_CHECK(inside_window(it->id, it->id_len) && inside_window(it->name, it->name_len));
    FUZZ_CHECK(it->modified_len == 0 || inside_window(it->modified, it->modified_len));
    FUZZ_CHECK(it->has_size || it->size == 0);
    FUZZ_CHECK(it->folder <= 1 && it->has_size <= 1);
    fuzz_touch(it->id, it->id_len + 1);
    fuzz_touch(it->name, it->name_len + 1);
    if (++st->n == st->stop_at) {
        st->stopped = 1;
        return 12345;
    }
    return 0;
}

static void check_id(const char *id, size_t cap)
{
    FUZZ_CHECK(fuzz_terminated(id, cap));
    FUZZ_CHECK(id[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[4] = { 1024, 1, 17, 300 };
    static spo_http_conn conn;
    static spo_graph g;
    static spo_upload u;
    static spo_drive_ref d;
    static spo_list_ref l;
    static spo_item_meta meta;
    static spo_upload_item up;
    static char list_item_id[SPO_ITEM_ID_MAX];

    if (size == 0)
        return 0;
    const uint8_t ctl = data[0];
    g_mode = ctl & 7;
    g_framing = (ctl & 0x40) ? FRAME_CHUNKED : FRAME_LENGTH;
    g_retry_after = ctl >> 7;
    g_data = data + 1;
    g_size = size - 1;
    /* The answers: copies, each of exactly its length. */
    g_nseg = 0;
    for (size_t off = 0; g_nseg < MAX_ANSWERS && off <= g_size && g_size > 0;) {
        const uint8_t *e = memchr(g_data + off, 0xff, g_size - off);
        size_t n = e ? (size_t)(e - (g_data + off)) : g_size - off;
        char *seg = malloc(n ? n : 1);
        memcpy(seg, g_data + off, n);
        g_seg[g_nseg] = seg;
        g_seg_len[g_nseg++] = n;
        off += n + 1;
        if (!e)
            break;
    }
    g_host[0] = '\0';
    g_foreign_requests = 0;

    fake_server f;
    memset(&f, 0, sizeof f);
    f.respond = respond;
    f.expect_host = GRAPH_HOST;
    f.expect_port = 443;
    f.piece = pieces[(ctl >> 4) & 3];
    spo_http_transport tr = fake_transport(&f);
    tr.connect = t_connect;
    tr.send = t_send;
    spo_http_conn_init(&conn, &tr, NULL);
    spo_diag diag;
    memset(&diag, 0xa5, sizeof diag);
    clock_state clk = { 0 };
    FUZZ_CHECK(spo_graph_init(&g, "https://" GRAPH_HOST "/", &conn, &g_reader, &diag, get_token,
                              NULL) == SPO_OK);
    g.now_ms = now_ms;
    g.wall = wall;
    g.sleep_ms = sleep_ms;
    g.clock_ctx = &clk;
    g.max_retries = 2;

    uint64_t h = fuzz_fnv(FUZZ_FNV_INIT, data, size);
    static const char SITE[] = "contoso.sharepoint.com:/sites/team";
    int rc = 0;
    items st = { 0, (h & 7) == 0 ? 1 + (unsigned)((h >> 3) % 6) : 0, 0 };
    memset(&d, 0xa5, sizeof d);
    switch (g_mode) {
    case 0:
    case 1:
        rc = spo_drive_resolve(&g, SITE, g_mode == 0 ? ((h >> 8) & 1 ? "Documents" : "Shared Documents")
                                                     : NULL,
                               &d);
        if (rc == SPO_OK) {
            check_id(d.site_id, sizeof d.site_id);
            check_id(d.drive_id, sizeof d.drive_id);
            FUZZ_CHECK(d.failed == SPO_PART_NONE);
        } else {
            FUZZ_CHECK(d.failed == SPO_PART_SITE || d.failed == SPO_PART_DRIVE);
        }
        break;
    case 2:
    case 3:
        memset(&d, 0, sizeof d);
        strcpy(d.site_id, "contoso.sharepoint.com,11111111-2222-3333-4444-555555555555,66666666-7777-8888-9999-000000000000");
        strcpy(d.drive_id, "b!AbCdEf0123456789-_");
        if (g_mode == 2) {
            rc = spo_drive_list(&g, &d, (h >> 8) & 1 ? "Shared/Folder a" : "", on_item, &st);
            FUZZ_CHECK(st.stopped == (rc == 12345));
        } else {
            memset(&meta, 0xa5, sizeof meta);
            rc = spo_drive_item(&g, &d, "Shared/report 1.pdf", &meta);
            FUZZ_CHECK(fuzz_terminated(meta.qxh, sizeof meta.qxh));
            if (rc == SPO_OK)
                check_id(meta.id, sizeof meta.id);
        }
        FUZZ_CHECK(d.failed == (rc == SPO_OK ? SPO_PART_NONE : SPO_PART_ITEM));
        break;
    case 4: {
        size_t cap = (ctl & 8) ? 16 : sizeof list_item_id;
        memset(&l, 0xa5, sizeof l);
        memset(list_item_id, 0xa5, sizeof list_item_id);
        rc = spo_list_resolve(&g, SITE, (h >> 8) & 1 ? "Sensor Readings" : "Tasks", &l);
        if (rc == SPO_OK) {
            check_id(l.site_id, sizeof l.site_id);
            check_id(l.list_id, sizeof l.list_id);
            static const char body[] = "{\"fields\":{\"Title\":\"x\"}}";
            rc = spo_list_add_item(&g, &l, body, sizeof body - 1, list_item_id, cap);
            if (rc == SPO_OK)
                check_id(list_item_id, cap);
            if (cap < sizeof list_item_id) /* nothing written past the cap */
                FUZZ_CHECK((uint8_t)list_item_id[cap] == 0xa5);
        }
        break;
    }
    default: {
        static const spo_port port = { .file_read = p_file_read, .file_stat = p_file_stat,
                                       .store_read = p_store_read, .store_write = p_store_write,
                                       .store_remove = p_store_remove };
        g_file_size = g_mode == 5 ? SMALL_SIZE : SPO_UPLOAD_SIMPLE_MAX + 1;
        g_has_record = g_mode == 6;
        snprintf(g_record, sizeof g_record,
                 "spo-upload 1 %llu 1234 0\nhttps://contoso.sharepoint.com/_api/v2.0/drives/b!x/items/y/uploadSession?guid=1&tempauth=z\n",
                 (unsigned long long)g_file_size);
        FUZZ_CHECK(spo_upload_init(&u, &g, &port) == SPO_OK);
        u.fragment = (ctl & 8) ? SPO_UPLOAD_FRAGMENT : 7 * SPO_UPLOAD_FRAGMENT_UNIT;
        rc = spo_upload_file(&u, "/tmp/data.json", "/v1.0/drives/b!AbCdEf", "logs/day 1.json", &up);
        FUZZ_CHECK(fuzz_terminated(up.id, sizeof up.id) && fuzz_terminated(up.name, sizeof up.name) &&
                   fuzz_terminated(up.qxh, sizeof up.qxh));
        if (rc == SPO_OK) {
            static char want_small[SPO_QXH_B64], want_big[SPO_QXH_B64];
            char *want = g_mode == 5 ? want_small : want_big;
            if (!want[0]) {
                spo_qxh q;
                uint8_t buf[4096];
                spo_qxh_init(&q);
                for (uint64_t off = 0; off < g_file_size;) {
                    int n = p_file_read(NULL, NULL, off, buf, sizeof buf);
                    spo_qxh_update(&q, buf, (size_t)n);
                    off += (uint64_t)n;
                }
                spo_qxh_final(&q, want);
            }
            check_id(up.id, sizeof up.id);
            FUZZ_CHECK(up.size == g_file_size && strcmp(up.qxh, want) == 0);
        }
        break;
    }
    }

    FUZZ_CHECK(fuzz_terminated(diag.code, sizeof diag.code));
    FUZZ_CHECK(fuzz_terminated(diag.aadsts, sizeof diag.aadsts));
    FUZZ_CHECK(fuzz_terminated(diag.request_id, sizeof diag.request_id));
    FUZZ_CHECK(fuzz_terminated(diag.message, sizeof diag.message));
    if (rc == SPO_E_GRAPH || rc == SPO_E_THROTTLED || rc == SPO_E_INTEGRITY)
        FUZZ_CHECK_DIAG_PRINTABLE(diag);
    FUZZ_CHECK(f.requests <= 4 * MAX_ANSWERS + 64);
#ifdef FUZZ_DEBUG
    fprintf(stderr, "mode %d answers %zu -> rc %d requests %u foreign %u diag %d '%s' '%.40s'\n",
            g_mode, g_nseg, rc, f.requests, g_foreign_requests, diag.status, diag.code, diag.message);
#endif
    spo_http_conn_close(&conn);
    free(f.resp);
    for (size_t i = 0; i < g_nseg; i++)
        free((void *)g_seg[i]);
    return 0;
}
