/* Fuzz target: the token request (src/auth.c) end to end over src/http_conn.c and the parsers, with
 * a fake transport whose answer body is the input.
 *
 * Input: byte 0 chooses the answer: bits 0-1 the status (200, 400, 401, 200), bits 2-3 the framing
 * (Content-Length, chunked, close-delimited, Content-Length with the connection dropping half-way),
 * bits 4-7 the recv piece size; the rest is the JSON body.
 * Properties: on SPO_OK the status was 200 and the token is non-empty, at most SPO_TOKEN_MAX - 1
 * bytes, NUL-terminated after "Bearer "; on failure the whole spo_token is zero; an error status
 * always gives SPO_E_AUTH with diag.status set and diag.message one line; the diag strings are
 * NUL-terminated within their arrays; the form body (which held the client secret) and the
 * connection's buffers are zero afterwards and the connection is closed; a dropped connection is
 * SPO_E_HTTP_TRUNCATED, never a token. */
#include "fake_server.h"
#include "spo/auth.h"

static const uint8_t *g_body;
static size_t g_len;
static int g_status, g_framing, g_cut;

static void respond(fake_server *f, unsigned k)
{
    (void)k;
    fake_answer(f, g_status, "Cache-Control: no-store\r\n", g_framing, g_body, g_len);
    if (g_cut)
        f->cut_at = f->resp_len / 2; /* in the headers or the body, depending on the body's size */
}


static int one_line(const char *s)
{
    return strchr(s, '\r') == NULL && strchr(s, '\n') == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[4] = { 200, 400, 401, 200 };
    static const int framings[4] = { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE, FRAME_LENGTH };
    /* 3: Content-Length, cut; the answer is at least 60 bytes, so the cut is always inside it */
    static const size_t pieces[16] = { 1024, 1, 2, 3, 7, 16, 64, 100, 255, 256, 511, 512, 1000,
                                       1023, 4096, 13 };
    /* static: these hold kilobytes of buffers each, as they would in a device's .bss */
    static spo_auth a;
    static spo_http_conn conn;
    static spo_json_reader reader;

    if (size == 0)
        return 0;
    const uint8_t ctl = data[0];
    g_status = statuses[ctl & 3];
    g_framing = framings[(ctl >> 2) & 3];
    g_cut = ((ctl >> 2) & 3) == 3;
    g_len = size - 1;
    uint8_t *body = malloc(g_len ? g_len : 1);
    memcpy(body, data + 1, g_len);
    g_body = body;

    fake_server f;
    memset(&f, 0, sizeof f);
    f.respond = respond;
    f.expect_host = "login.microsoftonline.com";
    f.expect_port = 443;
    f.piece = pieces[ctl >> 4];
    spo_http_transport tr = fake_transport(&f);
    spo_http_conn_init(&conn, &tr, "spo-fuzz/1");

    /* Garbage everywhere first, so anything left unwritten or unwiped shows. */
    memset(&a, 0xa5, sizeof a);
    spo_diag diag;
    memset(&diag, 0xa5, sizeof diag);
    const spo_auth_config cfg = {
        "https://login.microsoftonline.com/", "contoso.onmicrosoft.com",
        "00000000-1111-2222-3333-444444444444", "s3cr~t+/=&%\"\\ \x7f\xc3\xa9",
        "https://graph.microsoft.com/.default", NULL, 0, NULL, NULL,
    };
    int rc = spo_auth_client_credentials(&a, &cfg, &conn, &reader, 5000, 1700000000, &diag);

    FUZZ_CHECK(f.connects == 1 && f.requests == 1 && !f.connected && !conn.connected);
    FUZZ_CHECK(fuzz_all_zero(a.body, sizeof a.body));
    FUZZ_CHECK(fuzz_all_zero(conn.rx, sizeof conn.rx) && fuzz_all_zero(conn.tx, sizeof conn.tx));
    FUZZ_CHECK(fuzz_all_zero(conn.parser.line, sizeof conn.parser.line));

    FUZZ_CHECK(fuzz_terminated(diag.code, sizeof diag.code));
    FUZZ_CHECK(fuzz_terminated(diag.aadsts, sizeof diag.aadsts));
    FUZZ_CHECK(fuzz_terminated(diag.request_id, sizeof diag.request_id));
    FUZZ_CHECK(fuzz_terminated(diag.message, sizeof diag.message));
    FUZZ_CHECK_DIAG_PRINTABLE(diag);
    FUZZ_CHECK(diag.aadsts[0] == '\0' || strncmp(diag.aadsts, "AADSTS", 6) == 0);

    if (g_cut)
        FUZZ_CHECK(rc == SPO_E_HTTP_TRUNCATED && f.cut_done);
    if (rc == SPO_OK) {
        const char *tok = a.token.bearer + SPO_BEARER_PREFIX_LEN;
        FUZZ_CHECK(g_status == 200 && diag.status == 200);
        FUZZ_CHECK(memcmp(a.token.bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN) == 0);
        FUZZ_CHECK(a.token.len > 0 && a.token.len <= SPO_TOKEN_MAX - 1);
        FUZZ_CHECK(tok[a.token.len] == '\0');
        FUZZ_CHECK(a.token.obtained_ms == 5000);
        FUZZ_CHECK(a.token.expires_wall == 1700000000 + (int64_t)a.token.lifetime_s);
        fuzz_touch(a.token.bearer, SPO_BEARER_PREFIX_LEN + a.token.len + 1);
        /* Any lifetime, any clock: no overflow (UBSan), and a token is stale before it is issued. */
        (void)spo_token_fresh(&a.token, 5000 + (uint64_t)a.token.lifetime_s * 1000u);
        FUZZ_CHECK(!spo_token_fresh(&a.token, 4999));
    } else {
        FUZZ_CHECK(fuzz_all_zero(&a.token, sizeof a.token));
        if (g_cut) {
            /* checked above: SPO_E_HTTP_TRUNCATED */
        } else if (g_status != 200) {
            FUZZ_CHECK(rc == SPO_E_AUTH && diag.status == g_status);
            FUZZ_CHECK(one_line(diag.message));
        } else {
            FUZZ_CHECK(rc == SPO_E_JSON_SYNTAX || rc == SPO_E_JSON_DEPTH || rc == SPO_E_TOO_LONG ||
                       rc == SPO_E_JSON_SHAPE);
        }
    }
#ifdef FUZZ_DEBUG /* -DFUZZ_DEBUG: say what each input did, to see the harness reach its paths */
    fprintf(stderr, "status %d framing %d -> rc %d token %zu code '%s' aadsts '%s' msg '%.40s'\n",
            g_status, g_framing, rc, rc == SPO_OK ? a.token.len : 0, diag.code, diag.aadsts,
            diag.message);
#endif
    spo_auth_wipe(&a);
    FUZZ_CHECK(fuzz_all_zero(&a, sizeof a));
    free(f.resp);
    free(body);
    return 0;
}
