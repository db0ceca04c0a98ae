/* Fuzz target: the delegated sign-in (src/auth_device.c): the device code answer, the token poll's
 * answers (success, authorization_pending, slow_down, authorization_declined, expired_token,
 * bad_verification_code, anything else) and the refresh grant's answer, end to end over
 * src/http_conn.c and the parsers, with a fake transport whose answer body is the input.
 *
 * Input: byte 0: bits 0-1 the call (0 spo_device_start, 1 and 3 spo_device_poll, 2
 * spo_auth_refresh), bits 2-4 the status (200, 400, 401, 200, 429, 500, 400, 503), bits 5-6 the
 * framing (Content-Length, chunked, close-delimited, Content-Length with the connection dropping
 * half-way), bit 7 a Retry-After header; byte 1: bits 0-3 the recv piece size, bits 4-5 the refresh
 * token held before spo_auth_refresh (plain, with every kind of byte form encoding escapes, long,
 * too long to fit the form body), bits 6-7 the interval held before a poll; the rest is the body.
 * Properties:
 *  - every call: the login connection is closed, the form body (which held the device code or the
 *    refresh token) is zero; diag's strings are NUL-terminated within their arrays and printable
 *    (no C0, DEL or UTF-8-encoded C1), diag.aadsts "" or "AADSTS..."; a dropped connection is
 *    SPO_E_HTTP_TRUNCATED, never a success;
 *  - start: SPO_OK only from a 200, with device_code, user_code and verification_uri non-empty and
 *    NUL-terminated within their arrays, user_code, verification_uri and message printable,
 *    expires_in and interval in 1..86400; on failure the whole spo_delegated is zero;
 *  - poll: SUCCESS only from a 200, with a token of 1..SPO_TOKEN_MAX-1 bytes after "Bearer ",
 *    NUL-terminated, the refresh token and scope NUL-terminated, the scope printable, the device
 *    code zeroed; PENDING / SLOW_DOWN / DECLINED / EXPIRED / BAD_CODE only from a 4xx with that
 *    error code; PENDING and SLOW_DOWN keep the device code, the others zero it; SLOW_DOWN raises
 *    the interval by 5 s up to an hour, nothing else changes it; any outcome but SUCCESS leaves the
 *    token and the refresh token zero;
 *  - refresh (include/spo/auth.h's contract): SPO_OK only from a 200, with a valid token and a
 *    non-empty refresh token (the answer's, or the old one when the answer had none); on any
 *    failure the token is zero and the refresh token is exactly the old one. */
#include "fake_server.h"
#include "spo/auth.h"

static const uint8_t *g_body;
static size_t g_len;
static int g_status, g_framing, g_cut, g_retry_after;

static void respond(fake_server *f, unsigned k)
{
    (void)k;
    fake_answer(f, g_status, g_retry_after ? "Cache-Control: no-store\r\nRetry-After: 7\r\n"
                                           : "Cache-Control: no-store\r\n",
                g_framing, g_body, g_len);
    if (g_cut)
        f->cut_at = f->resp_len / 2;
}

/* No C0, DEL, or C1 written in UTF-8 (C2 80..C2 9F): safe on a terminal. */
static int safe_text(const char *s)
{
    if (!fuzz_printable(s))
        return 0;
    for (; *s; s++)
        if ((uint8_t)s[0] == 0xc2 && (uint8_t)s[1] >= 0x80 && (uint8_t)s[1] <= 0x9f)
            return 0;
    return 1;
}

static void check_token(const spo_token *t)
{
    const char *tok = t->bearer + SPO_BEARER_PREFIX_LEN;
    FUZZ_CHECK(memcmp(t->bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN) == 0);
    FUZZ_CHECK(t->len > 0 && t->len <= SPO_TOKEN_MAX - 1);
    FUZZ_CHECK(strlen(tok) == t->len); /* NUL right after, none inside */
    FUZZ_CHECK(t->obtained_ms == 5000 && t->lifetime_s > 0);
    FUZZ_CHECK(t->expires_wall == 1700000000 + (int64_t)t->lifetime_s);
}

static char g_old_refresh[SPO_REFRESH_MAX];

static void old_refresh(unsigned which)
{
    memset(g_old_refresh, 0, sizeof g_old_refresh);
    switch (which) {
    case 0:
        strcpy(g_old_refresh, "0.ARoAv4j5cvGGr0GRqy180BHbR-plain_refresh~token.x");
        break;
    case 1: /* everything a form encoder escapes, and things that look like escapes already */
        strcpy(g_old_refresh, "a b+c%41%zz%4&=?#/\\\"'\x01\x7f\xc3\xa9\xff%%2B%");
        break;
    case 2:
        memset(g_old_refresh, 'R', 3000);
        memcpy(g_old_refresh + 1000, "%2F+ ", 5);
        break;
    default: /* escaped, it is longer than SPO_DELEGATED_BODY_MAX */
        memset(g_old_refresh, '/', SPO_REFRESH_MAX - 1);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[8] = { 200, 400, 401, 200, 429, 500, 400, 503 };
    static const int framings[4] = { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE, FRAME_LENGTH };
    static const size_t pieces[16] = { 1024, 1, 2, 3, 7, 16, 64, 100, 255, 256, 511, 512, 1000,
                                       1023, 4096, 13 };
    static const uint32_t intervals[4] = { 5, 1, 3596, 86400 };
    /* static: these hold kilobytes of buffers each, as they would in a device's .bss */
    static spo_delegated d;
    static spo_http_conn conn;
    static spo_json_reader reader;
    static char old_code[SPO_DEVICE_CODE_MAX];

    if (size < 2)
        return 0;
    const uint8_t ctl = data[0], ctl2 = data[1];
    const int call = ctl & 3;
    g_status = statuses[(ctl >> 2) & 7];
    g_framing = framings[(ctl >> 5) & 3];
    g_cut = ((ctl >> 5) & 3) == 3;
    g_retry_after = ctl >> 7;
    g_len = size - 2;
    uint8_t *body = malloc(g_len ? g_len : 1);
    memcpy(body, data + 2, g_len);
    g_body = body;

    fake_server f;
    memset(&f, 0, sizeof f);
    f.respond = respond;
    f.expect_host = "login.microsoftonline.com";
    f.expect_port = 443;
    f.piece = pieces[ctl2 & 15];
    spo_http_transport tr = fake_transport(&f);
    spo_http_conn_init(&conn, &tr, "spo-fuzz/1");

    const spo_auth_config cfg = {
        "https://login.microsoftonline.com/", "common", "00000000-1111-2222-3333-444444444444",
        NULL, "offline_access https://graph.microsoft.com/.default", NULL, 0, NULL, NULL,
    };
    spo_diag diag;
    memset(&diag, 0xa5, sizeof diag);
    uint32_t interval = intervals[ctl2 >> 6];
    int rc;
    if (call == 0) {
        memset(&d, 0xa5, sizeof d); /* garbage: start must zero what it does not set */
        rc = spo_device_start(&d, &cfg, &conn, &reader, 1700000000, &diag);
    } else {
        spo_delegated_wipe(&d);
        memset(&d.token, 0xa5, sizeof d.token); /* a poll or refresh must replace or zero these */
        memset(d.scope, 0xa5, sizeof d.scope); /* an earlier answer's scope: a string */
        d.scope[sizeof d.scope - 1] = '\0';
        d.expires_in = 900;
        d.interval = interval;
        if (call == 2) {
            old_refresh((ctl2 >> 4) & 3);
            memcpy(d.refresh, g_old_refresh, sizeof d.refresh);
            rc = spo_auth_refresh(&d, &cfg, &conn, &reader, 5000, 1700000000, &diag);
        } else {
            memset(d.refresh, 0xa5, sizeof d.refresh);
            d.refresh[sizeof d.refresh - 1] = '\0';
            snprintf(d.device_code, sizeof d.device_code, "DAQABAAEAAAD--DLA3VO7QrddgJg7Wevr%02x", ctl);
            memcpy(old_code, d.device_code, sizeof old_code);
            rc = spo_device_poll(&d, &cfg, &conn, &reader, 5000, 1700000000, &diag);
        }
    }

    /* every call */
    FUZZ_CHECK(!f.connected && !conn.connected);
    FUZZ_CHECK(fuzz_all_zero(d.body, sizeof d.body));
    FUZZ_CHECK(fuzz_all_zero(conn.rx, sizeof conn.rx) && fuzz_all_zero(conn.tx, sizeof conn.tx));
    FUZZ_CHECK(fuzz_terminated(diag.code, sizeof diag.code));
    FUZZ_CHECK(fuzz_terminated(diag.aadsts, sizeof diag.aadsts));
    FUZZ_CHECK(fuzz_terminated(diag.request_id, sizeof diag.request_id));
    FUZZ_CHECK(fuzz_terminated(diag.message, sizeof diag.message));
    FUZZ_CHECK(safe_text(diag.code) && safe_text(diag.aadsts) && safe_text(diag.request_id) &&
               safe_text(diag.message));
    FUZZ_CHECK(diag.aadsts[0] == '\0' || strncmp(diag.aadsts, "AADSTS", 6) == 0);
    FUZZ_CHECK(fuzz_terminated(d.device_code, sizeof d.device_code));
    FUZZ_CHECK(fuzz_terminated(d.user_code, sizeof d.user_code));
    FUZZ_CHECK(fuzz_terminated(d.verification_uri, sizeof d.verification_uri));
    FUZZ_CHECK(fuzz_terminated(d.message, sizeof d.message));
    FUZZ_CHECK(fuzz_terminated(d.refresh, sizeof d.refresh));
    FUZZ_CHECK(fuzz_terminated(d.scope, sizeof d.scope));
    if (g_cut && f.requests > 0) /* (a refresh token too long for the form sends nothing) */
        FUZZ_CHECK(rc == SPO_E_HTTP_TRUNCATED && f.cut_done);
    if (rc == SPO_OK) /* SPO_DEVICE_SUCCESS too */
        FUZZ_CHECK(g_status == 200 && diag.status == 200 && f.requests == 1);

    if (call == 0) {
        if (rc == SPO_OK) {
            FUZZ_CHECK(d.device_code[0] && d.user_code[0] && d.verification_uri[0]);
            FUZZ_CHECK(safe_text(d.user_code) && safe_text(d.verification_uri) &&
                       safe_text(d.message));
            FUZZ_CHECK(d.expires_in >= 1 && d.expires_in <= 86400);
            FUZZ_CHECK(d.interval >= 1 && d.interval <= 86400);
            fuzz_touch(&d, sizeof d);
        } else {
            FUZZ_CHECK(rc < 0);
            FUZZ_CHECK(fuzz_all_zero(&d, sizeof d));
        }
    } else if (call == 2) {
        if (rc == SPO_OK) {
            check_token(&d.token);
            FUZZ_CHECK(d.refresh[0] != '\0');
            FUZZ_CHECK(safe_text(d.scope));
        } else {
            FUZZ_CHECK(rc < 0);
            FUZZ_CHECK(fuzz_all_zero(&d.token, sizeof d.token));
            FUZZ_CHECK(strcmp(d.refresh, g_old_refresh) == 0); /* the old one, to retry with */
        }
    } else {
        FUZZ_CHECK(rc <= SPO_DEVICE_BAD_CODE);
        if (rc == SPO_DEVICE_SUCCESS) {
            check_token(&d.token);
            FUZZ_CHECK(safe_text(d.scope));
        } else {
            FUZZ_CHECK(fuzz_all_zero(&d.token, sizeof d.token));
            FUZZ_CHECK(fuzz_all_zero(d.refresh, sizeof d.refresh));
        }
        if (rc > 0)
            FUZZ_CHECK(g_status >= 400 && g_status < 500 && diag.status == g_status);
        static const char *const codes[6] = { NULL, "authorization_pending", "slow_down",
                                              "authorization_declined", "expired_token",
                                              "bad_verification_code" };
        if (rc > 0)
            FUZZ_CHECK(strcmp(diag.code, codes[rc]) == 0);
        if (rc == SPO_DEVICE_PENDING || rc == SPO_DEVICE_SLOW_DOWN || rc < 0)
            FUZZ_CHECK(memcmp(d.device_code, old_code, sizeof old_code) == 0);
        else
            FUZZ_CHECK(fuzz_all_zero(d.device_code, sizeof d.device_code));
        if (rc == SPO_DEVICE_SLOW_DOWN)
            FUZZ_CHECK(d.interval == (interval + 5 > 3600 ? (interval > 3600 ? 3600 : interval + 5)
                                                          : interval + 5) ||
                       d.interval == 3600);
        else
            FUZZ_CHECK(d.interval == interval);
    }
#ifdef FUZZ_DEBUG
    fprintf(stderr, "call %d status %d framing %d -> rc %d code '%s' msg '%.40s'\n", call, g_status,
            g_framing, rc, diag.code, diag.message);
#endif
    spo_delegated_wipe(&d);
    free(f.resp);
    free(body);
    return 0;
}
