/* Upload engine against a small in-process server: it parses each request as it is sent (through
 * the connection's buffer), keeps the bytes of the session, checks Content-Range, the total and the
 * absence of Authorization on the upload host, answers like Graph, and injects faults: a connection
 * dropped mid-fragment, an answer lost after the bytes arrived, 404, 416, 429 + Retry-After, a
 * wrong hash, a device that dies between fragments. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spo/graph.h"

#define GRAPH_HOST "graph.example.test"
#define UP_HOST "up.example.test"
#define DRIVE "/v1.0/drives/b!drive"
#define FILE_MAX (6u * 1024u * 1024u)
#define FRAG (3u * SPO_UPLOAD_FRAGMENT_UNIT)

/* ---------------------------------------------------------------- the local file and storage */

static uint8_t file_data[FILE_MAX];
static uint64_t file_size;
static int64_t file_mtime = 1000;

static int p_read(void *ctx, const char *path, uint64_t off, uint8_t *buf, size_t len)
{
    (void)ctx;
    assert_string_equal(path, "/data/report.bin");
    if (off >= file_size)
        return 0;
    if (len > file_size - off)
        len = (size_t)(file_size - off);
    memcpy(buf, file_data + off, len);
    return (int)len;
}

static int p_stat(void *ctx, const char *path, uint64_t *size, int64_t *mtime)
{
    (void)ctx;
    (void)path;
    *size = file_size;
    *mtime = file_mtime;
    return SPO_OK;
}

static char rec_key[80];
static uint8_t rec[8192];
static int rec_len = -1; /* -1: no record */
static int rec_writes;

static int p_sread(void *ctx, const char *key, uint8_t *buf, size_t cap)
{
    (void)ctx;
    if (rec_len < 0 || strcmp(key, rec_key))
        return SPO_STORE_ABSENT;
    if ((size_t)rec_len > cap)
        return SPO_STORE_TOO_BIG;
    memcpy(buf, rec, (size_t)rec_len);
    return rec_len;
}
static int p_swrite(void *ctx, const char *key, const uint8_t *d, size_t n)
{
    (void)ctx;
    assert_true(n <= sizeof rec);
    assert_true(strlen(key) <= SPO_STORE_KEY_MAX);
    for (const char *k = key; *k; k++) /* the port's key alphabet */
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789-", *k));
    strcpy(rec_key, key);
    memcpy(rec, d, n);
    rec_len = (int)n;
    rec_writes++;
    return SPO_OK;
}
static int p_sremove(void *ctx, const char *key)
{
    (void)ctx;
    if (rec_len < 0 || strcmp(key, rec_key))
        return SPO_STORE_ABSENT;
    rec_len = -1;
    return SPO_OK;
}

static spo_port PORT = { .file_read = p_read, .file_stat = p_stat, .store_read = p_sread,
                         .store_write = p_swrite, .store_remove = p_sremove };

/* ---------------------------------------------------------------- the server */

typedef struct server {
    /* the request being received */
    char hdr[16384];
    size_t hdr_len;
    int in_body;
    uint64_t body_left, body_seen;
    char method[8], target[8192];
    char body[256];      /* the start of a request body that is not a fragment */
    int has_auth;
    uint64_t cl, r_first, r_last, r_total;
    int has_range;
    char host[64];
    int connected;
    /* the answer */
    char resp[8192];
    size_t resp_len, resp_off;
    int resp_ready;
    /* the session */
    int session;         /* 0 none, else its number */
    uint64_t got;        /* next expected byte */
    uint8_t stored[FILE_MAX];
    uint64_t stored_len; /* of a finished file */
    char conflict[16];
    /* faults, each for the request they count down to */
    uint64_t drop_from;  /* fragments starting at or after this offset are dropped after 1000 */
    int drop_left;       /* of their bytes, this many times (the HTTP layer resends once itself) */
    int lose_answer;     /* n-th fragment is kept but its answer is lost */
    int gone_frag;       /* n-th fragment: 404 (the session expired) */
    int gone_always;     /* every first fragment of a session: 404 */
    int range_frag;      /* n-th fragment: 416 without taking it */
    int throttle_frag;   /* n-th fragment: 429 Retry-After: 2 */
    int die_after;       /* after n fragments every connect fails (the device lost power) */
    int bad_hash;
    int exists;          /* the remote file exists (after a completed upload) */
    int stuck;           /* every fragment is answered 202 "0-": the session never moves */
    size_t tempauth_len; /* length of the uploadUrl's tempauth token (default 11) */
    int lose_put_answer; /* the simple PUT is stored but its answer is lost */
    int status_create;   /* createUploadSession answers this error status */
    /* what was seen */
    int item_gets, drops, frags, creates, gets, puts_graph, auth_on_up, bad_total, connects;
    uint64_t body_bytes;
} server;

static server S;

static void respond(int status, const char *body)
{
    S.resp_len = (size_t)snprintf(S.resp, sizeof S.resp,
                                  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%s"
                                  "request-id: rid-1\r\nContent-Length: %zu\r\n\r\n%s",
                                  status, status == 429 ? "Retry-After: 2\r\n" : "",
                                  strlen(body), body);
    S.resp_off = 0;
    S.resp_ready = 1;
}

static void respond_item(int status)
{
    spo_qxh h;
    char q[SPO_QXH_B64];
    spo_qxh_init(&h);
    spo_qxh_update(&h, S.stored, (size_t)S.stored_len);
    spo_qxh_final(&h, q);
    if (S.bad_hash)
        q[0] = q[0] == 'A' ? 'B' : 'A';
    char b[512];
    snprintf(b, sizeof b,
             "{\"id\":\"01ITEM\",\"name\":\"report.bin\",\"size\":%llu,\"webUrl\":\"https://x/y\","
             "\"file\":{\"mimeType\":\"application/octet-stream\",\"hashes\":{\"quickXorHash\":\"%s\"}}}",
             (unsigned long long)S.stored_len, q);
    respond(status, b);
}

static const char *header(const char *name)
{
    static char v[256];
    size_t n = strlen(name);
    for (const char *p = strstr(S.hdr, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, n) && p[2 + n] == ':') {
            const char *s = p + 3 + n;
            while (*s == ' ')
                s++;
            size_t l = strcspn(s, "\r");
            assert_true(l < sizeof v);
            memcpy(v, s, l);
            v[l] = '\0';
            return v;
        }
    }
    return NULL;
}

static void start_request(void)
{
    S.hdr[S.hdr_len] = '\0';
    assert_int_equal(sscanf(S.hdr, "%7s %8191s", S.method, S.target), 2);
    const char *cl = header("Content-Length");
    S.cl = cl ? strtoull(cl, NULL, 10) : 0;
    S.has_auth = header("Authorization") != NULL;
    const char *cr = header("Content-Range");
    S.has_range = cr != NULL;
    if (cr) {
        unsigned long long a, b, t;
        assert_int_equal(sscanf(cr, "bytes %llu-%llu/%llu", &a, &b, &t), 3);
        S.r_first = a;
        S.r_last = b;
        S.r_total = t;
    }
    S.body_left = S.cl;
    S.body_seen = 0;
    S.in_body = 1;
}

static int on_upload_host(void)
{
    return !strcmp(S.host, UP_HOST);
}

static void finish_request(void)
{
    static char body_json[256];
    if (!on_upload_host()) {
        assert_true(S.has_auth);
        if (!strcmp(S.method, "POST")) {
            assert_non_null(strstr(S.target, ":/createUploadSession"));
            S.creates++;
            if (S.exists && strstr(S.body, "\"fail\"")) {
                respond(409, "{\"error\":{\"code\":\"nameAlreadyExists\",\"message\":\"exists\"}}");
                return;
            }
            if (S.status_create) {
                respond(S.status_create, "{\"error\":{\"code\":\"nameAlreadyExists\",\"message\":\"exists\"}}");
                return;
            }
            S.session++;
            S.got = 0;
            static char b[8192], tok[6000];
            size_t tl = S.tempauth_len ? S.tempauth_len : 11;
            assert_true(tl < sizeof tok);
            memcpy(tok, "SECRETTOKEN", 11);
            for (size_t i = 11; i < tl; i++)
                tok[i] = (char)('a' + i % 26);
            tok[tl] = '\0';
            snprintf(b, sizeof b, "{\"uploadUrl\":\"https://" UP_HOST "/up/s%d?guid='g'&tempauth=%s\","
                                  "\"expirationDateTime\":\"2030-01-01T00:00:00Z\",\"nextExpectedRanges\":[\"0-\"]}",
                     S.session, tok);
            respond(200, b);
            return;
        }
        if (!strcmp(S.method, "GET")) {
            S.item_gets++;
            assert_non_null(strstr(S.target, "?$select=id,name,size,file"));
            if (S.exists)
                respond_item(200);
            else
                respond(404, "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"no\"}}");
            return;
        }
        assert_string_equal(S.method, "PUT");
        S.puts_graph++;
        if (S.exists && strstr(S.target, "conflictBehavior=fail")) {
            respond(409, "{\"error\":{\"code\":\"nameAlreadyExists\",\"message\":\"exists\"}}");
            return;
        }
        S.stored_len = S.cl;
        S.exists = 1;
        respond_item(201);
        if (S.lose_put_answer) {
            S.lose_put_answer = 0;
            S.resp_ready = 0;
            S.connected = 0;
        }
        return;
    }
    if (S.has_auth)
        S.auth_on_up++;
    int sess = 0;
    assert_int_equal(sscanf(S.target, "/up/s%d", &sess), 1);
    if (!strcmp(S.method, "GET")) {
        S.gets++;
        if (sess != S.session) {
            respond(404, "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"gone\"}}");
            return;
        }
        snprintf(body_json, sizeof body_json,
                 "{\"expirationDateTime\":\"2030-01-01T00:00:00Z\",\"nextExpectedRanges\":[\"%llu-\"]}",
                 (unsigned long long)S.got);
        respond(200, body_json);
        return;
    }
    assert_string_equal(S.method, "PUT");
    S.frags++;
    if (sess != S.session || S.gone_frag == S.frags || (S.gone_always && S.r_first == 0)) {
        S.session = sess == S.session ? 0 : S.session;
        respond(404, "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"gone\"}}");
        return;
    }
    if (S.stuck) {
        respond(202, "{\"nextExpectedRanges\":[\"0-\"]}");
        return;
    }
    if (S.throttle_frag == S.frags) {
        respond(429, "{\"error\":{\"code\":\"activityLimitReached\",\"message\":\"throttled\"}}");
        return;
    }
    if (S.range_frag == S.frags || S.r_first != S.got) {
        respond(416, "{\"error\":{\"code\":\"invalidRange\",\"message\":\"overlap\"}}");
        return;
    }
    if (S.r_total != file_size)
        S.bad_total++;
    uint64_t n = S.r_last - S.r_first + 1;
    assert_int_equal(n, S.cl);
    if (S.r_last + 1 < S.r_total)
        assert_int_equal(n % SPO_UPLOAD_FRAGMENT_UNIT, 0);
    S.got = S.r_last + 1;
    if (S.got == S.r_total) {
        S.stored_len = S.got;
        S.exists = 1;
        S.session = 0; /* a completed session is gone */
        respond_item(201);
    } else {
        snprintf(body_json, sizeof body_json,
                 "{\"expirationDateTime\":\"2030-01-01T00:00:00Z\",\"nextExpectedRanges\":[\"%llu-\"]}",
                 (unsigned long long)S.got);
        respond(202, body_json);
    }
    if (S.lose_answer == S.frags) {
        S.resp_ready = 0;
        S.connected = 0; /* the bytes are in, the answer never comes */
    }
}

static int t_connect(void *ctx, const char *host, uint16_t port)
{
    (void)ctx;
    (void)port;
    if (S.die_after && S.frags >= S.die_after)
        return SPO_E_NET_CONNECT;
    snprintf(S.host, sizeof S.host, "%s", host);
    S.connected = 1;
    S.connects++;
    S.hdr_len = 0;
    S.in_body = 0;
    S.resp_ready = 0;
    return SPO_OK;
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (S.die_after && S.frags >= S.die_after)
        S.connected = 0; /* the device lost power: nothing gets through any more */
    if (!S.connected)
        return SPO_E_NET_CLOSED;
    while (len) {
        if (!S.in_body) {
            assert_true(S.hdr_len + 1 < sizeof S.hdr);
            S.hdr[S.hdr_len++] = (char)*buf++;
            len--;
            if (S.hdr_len >= 4 && !memcmp(S.hdr + S.hdr_len - 4, "\r\n\r\n", 4)) {
                start_request();
                if (S.body_left == 0) {
                    S.in_body = 0;
                    S.hdr_len = 0;
                    finish_request();
                }
            }
            continue;
        }
        size_t k = len < S.body_left ? len : (size_t)S.body_left;
        if (S.has_range && on_upload_host()) {
            if (S.r_first == S.got && S.r_first + S.body_seen + k <= FILE_MAX)
                memcpy(S.stored + S.r_first + S.body_seen, buf, k);
        } else if (!strcmp(S.method, "POST")) {
            if (S.body_seen + k < sizeof S.body) {
                memcpy(S.body + S.body_seen, buf, k);
                S.body[S.body_seen + k] = '\0';
            }
        } else if (S.body_seen + k <= FILE_MAX && !strcmp(S.method, "PUT")) {
            memcpy(S.stored + S.body_seen, buf, k);
        }
        S.body_seen += k;
        S.body_bytes += k;
        S.body_left -= k;
        buf += k;
        len -= k;
        if (S.drop_left && S.has_range && S.r_first >= S.drop_from && S.body_seen >= 1000) {
            S.drop_left--;
            S.drops++;
            S.connected = 0;
            return SPO_E_NET_CLOSED;
        }
        if (S.body_left == 0) {
            S.in_body = 0;
            S.hdr_len = 0;
            finish_request();
        }
    }
    return SPO_OK;
}

static int t_recv(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!S.connected)
        return SPO_E_NET_CLOSED;
    if (!S.resp_ready)
        return SPO_E_NET_TIMEOUT;
    size_t n = S.resp_len - S.resp_off;
    if (n > len)
        n = len;
    if (n > 333)
        n = 333; /* answers arrive in pieces */
    memcpy(buf, S.resp + S.resp_off, n);
    S.resp_off += n;
    if (S.resp_off == S.resp_len)
        S.resp_ready = 0;
    return (int)n;
}

static void t_close(void *ctx)
{
    (void)ctx;
    S.connected = 0;
    S.hdr_len = 0;
    S.in_body = 0;
}

/* ---------------------------------------------------------------- the client */

static spo_http_conn C;
static spo_json_reader R;
static spo_graph G;
static spo_diag D;
static spo_upload U;
static spo_upload_item ITEM;
static uint64_t now;
static uint32_t slept_total;

static uint64_t c_now(void *ctx) { (void)ctx; return now; }
static int64_t c_wall(void *ctx) { (void)ctx; return 1700000000; }
static void c_sleep(void *ctx, uint32_t ms) { (void)ctx; slept_total += ms; now += ms; }

static int get_token(void *ctx, int force, spo_span *out)
{
    (void)ctx;
    (void)force;
    static const char tok[] = "Bearer test-token";
    *out = (spo_span){ tok, sizeof tok - 1 };
    return SPO_OK;
}

static void make_file(uint64_t n)
{
    uint32_t x = (uint32_t)n * 2654435761u + 1;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        file_data[i] = (uint8_t)x;
    }
    file_size = n;
}

static void client_new(void)
{
    spo_http_transport tr = { NULL, t_connect, t_send, t_recv, t_close };
    spo_http_conn_init(&C, &tr, "test");
    assert_int_equal(spo_graph_init(&G, "https://" GRAPH_HOST, &C, &R, &D, get_token, NULL), SPO_OK);
    G.now_ms = c_now;
    G.wall = c_wall;
    G.sleep_ms = c_sleep;
    assert_int_equal(spo_upload_init(&U, &G, &PORT), SPO_OK);
    U.fragment = FRAG;
}

static int setup(void **state)
{
    (void)state;
    memset(&S, 0, sizeof S);
    rec_len = -1;
    rec_writes = 0;
    file_mtime = 1000;
    slept_total = 0;
    client_new();
    return 0;
}

static int up(const char *remote)
{
    return spo_upload_file(&U, "/data/report.bin", DRIVE, remote, &ITEM);
}

static void assert_stored_equal(void)
{
    assert_int_equal(S.stored_len, file_size);
    assert_memory_equal(S.stored, file_data, (size_t)file_size);
    char q[SPO_QXH_B64];
    spo_qxh h;
    spo_qxh_init(&h);
    spo_qxh_update(&h, file_data, (size_t)file_size);
    spo_qxh_final(&h, q);
    assert_string_equal(ITEM.qxh, q);
    assert_int_equal(ITEM.size, file_size);
    assert_string_equal(ITEM.id, "01ITEM");
    assert_string_equal(ITEM.name, "report.bin");
}

/* ---------------------------------------------------------------- small files */

static void test_small_put(void **state)
{
    (void)state;
    make_file(1843);
    U.conflict = SPO_CONFLICT_RENAME;
    assert_int_equal(up("reports/day 1/r#1+ü.json"), SPO_OK);
    assert_string_equal(S.method, "PUT");
    assert_string_equal(S.target, DRIVE "/root:/reports/day%201/r%231%2B%C3%BC.json:/content"
                                        "?@microsoft.graph.conflictBehavior=rename");
    assert_string_equal(header("Content-Length"), "1843");
    assert_int_equal(S.puts_graph, 1);
    assert_int_equal(S.creates, 0);
    assert_stored_equal();
    assert_int_equal(rec_writes, 0);
}

static void test_empty_and_one_byte_and_4mib(void **state)
{
    (void)state;
    static const uint64_t sizes[] = { 0, 1, SPO_UPLOAD_SIMPLE_MAX };
    U.conflict = SPO_CONFLICT_REPLACE;
    for (size_t i = 0; i < 3; i++) {
        make_file(sizes[i]);
        S.stored_len = 12345;
        assert_int_equal(up("a.bin"), SPO_OK);
        assert_stored_equal();
    }
    assert_int_equal(S.puts_graph, 3);
    assert_int_equal(S.creates, 0);
    make_file(0);
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_string_equal(ITEM.qxh, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}

static void test_small_bad_hash(void **state)
{
    (void)state;
    make_file(100);
    S.bad_hash = 1;
    assert_int_equal(up("a.bin"), SPO_E_INTEGRITY);
    assert_non_null(strstr(D.message, "quickXorHash differs"));
}

static void test_bad_args(void **state)
{
    (void)state;
    make_file(10);
    assert_int_equal(up(""), SPO_E_ARG);
    assert_int_equal(up("/"), SPO_E_ARG);
    assert_int_equal(up("a/./b"), SPO_E_ARG);
    assert_int_equal(up("a/../b"), SPO_E_ARG);
    assert_int_equal(spo_upload_file(&U, "/data/report.bin", "v1.0/drive", "a", &ITEM), SPO_E_ARG);
    U.fragment = SPO_UPLOAD_FRAGMENT_UNIT + 1;
    assert_int_equal(up("a"), SPO_E_ARG);
    assert_int_equal(S.connects, 0);
}

/* ---------------------------------------------------------------- sessions */

#define BIG (SPO_UPLOAD_SIMPLE_MAX + 1)

static void test_session_plain(void **state)
{
    (void)state;
    make_file(BIG + 123456);
    U.conflict = SPO_CONFLICT_REPLACE;
    assert_int_equal(up("big/report.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.creates, 1);
    assert_int_equal(S.frags, (int)((file_size + FRAG - 1) / FRAG));
    assert_int_equal(S.auth_on_up, 0);
    assert_int_equal(S.bad_total, 0);
    assert_int_equal(S.body_bytes, file_size + strlen("{\"item\":{\"@microsoft.graph.conflictBehavior\":\"replace\"}}"));
    assert_int_equal(U.sessions, 1);
    assert_int_equal(U.resyncs, 0);
    assert_int_equal(rec_len, -1); /* removed once done */
    assert_int_equal(rec_writes, 1 + (int)(file_size / FRAG)); /* created, then each 202 */
    static const char zero[SPO_UPLOAD_URL_MAX + 128];
    assert_memory_equal(U.upload_url, zero, sizeof U.upload_url); /* secrets wiped after use */
    assert_memory_equal(U.buf, zero, sizeof U.buf);
}

static void test_session_4mib_plus_1(void **state)
{
    (void)state;
    make_file(BIG);
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.creates, 1);
    assert_int_equal(S.puts_graph, 0);
}

static void test_session_drops(void **state)
{
    (void)state;
    make_file(BIG + 777);
    S.drop_from = FRAG; /* the second fragment, and its resend on a new connection */
    S.drop_left = 2;
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.drops, 2);
    assert_int_equal(U.resyncs, 1);
    assert_int_equal(S.gets, 1);
    assert_int_equal(S.creates, 1);
    /* drops further on, and an answer lost after the bytes arrived */
    setup(NULL);
    make_file(BIG + 777);
    S.drop_from = 4 * FRAG;
    S.drop_left = 3;
    S.lose_answer = 1;
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.drops, 3);
    assert_int_equal(U.resyncs, 2);
    assert_int_equal(S.creates, 1);
}

static void test_session_gone_restarts(void **state)
{
    (void)state;
    make_file(BIG + 5);
    S.gone_frag = 3;
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.creates, 2);
    assert_int_equal(U.sessions, 2);
}

static void test_session_416_and_429(void **state)
{
    (void)state;
    make_file(BIG + 5);
    S.range_frag = 2;
    S.throttle_frag = 4;
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(U.resyncs, 1);
    assert_int_equal(slept_total, 2000); /* Retry-After: 2, once */
    assert_int_equal(S.creates, 1);
}

static void test_session_bad_hash(void **state)
{
    (void)state;
    make_file(BIG);
    S.bad_hash = 1;
    assert_int_equal(up("a.bin"), SPO_E_INTEGRITY);
    assert_int_equal(rec_len, -1);
}

static void test_session_409(void **state)
{
    (void)state;
    make_file(BIG);
    S.status_create = 409;
    assert_int_equal(up("a.bin"), SPO_E_GRAPH);
    assert_int_equal(D.status, 409);
    assert_string_equal(D.code, "nameAlreadyExists");
    assert_int_equal(S.frags, 0);
}

/* ---------------------------------------------------------------- across restarts */

static void test_resume_after_power_loss(void **state)
{
    (void)state;
    make_file(BIG + 99999);
    S.die_after = 2;
    G.max_retries = 1;
    int rc = up("a.bin");
    assert_true(rc == SPO_E_NET_CONNECT);
    assert_true(rec_len > 0); /* the session is recorded, with its uploadUrl */
    assert_non_null(memmem(rec, (size_t)rec_len, "tempauth=SECRETTOKEN", 20));
    assert_non_null(memmem(rec, (size_t)rec_len, " 1966080\n", 9)); /* 2 fragments acknowledged */
    /* a new process: fresh client state, same store and server */
    S.die_after = 0;
    uint64_t before = S.body_bytes;
    memset(&U, 0xA5, sizeof U);
    client_new();
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(U.resumed, 1);
    assert_int_equal(U.sessions, 0);
    assert_int_equal(S.creates, 1);
    assert_int_equal(S.body_bytes - before, file_size - 2 * FRAG); /* only the rest was sent */
    assert_int_equal(rec_len, -1);
}

static void test_resume_not_for_changed_file(void **state)
{
    (void)state;
    make_file(BIG + 99999);
    S.die_after = 1;
    G.max_retries = 0;
    assert_int_equal(up("a.bin"), SPO_E_NET_CONNECT);
    assert_true(rec_len > 0);
    S.die_after = 0;
    file_mtime++;
    client_new();
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_int_equal(U.resumed, 0);
    assert_int_equal(S.creates, 2);
    assert_stored_equal();
    /* another destination is another record: no resume either */
    U.conflict = SPO_CONFLICT_REPLACE;
    S.die_after = S.frags + 1;
    assert_int_equal(up("b.bin"), SPO_E_NET_CONNECT);
    S.die_after = 0;
    client_new();
    U.conflict = SPO_CONFLICT_REPLACE;
    assert_int_equal(up("c.bin"), SPO_OK);
    assert_int_equal(U.resumed, 0);
}

static void test_resume_expired_session(void **state)
{
    (void)state;
    make_file(BIG + 99999);
    S.die_after = 1;
    G.max_retries = 0;
    assert_int_equal(up("a.bin"), SPO_E_NET_CONNECT);
    S.die_after = 0;
    S.session = 99; /* the recorded session expired */
    client_new();
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_int_equal(U.resumed, 0);
    assert_int_equal(S.gets, 1);
    assert_int_equal(S.creates, 2);
    assert_stored_equal();
}

/* ---------------------------------------------------------------- answers lost after success */

static void test_small_answer_lost(void **state)
{
    (void)state;
    make_file(5000);
    S.lose_put_answer = 1;
    assert_int_equal(up("a.bin"), SPO_OK); /* the resend gets 409; the file there is this one */
    assert_stored_equal();
    assert_int_equal(S.puts_graph, 2);
    assert_int_equal(S.item_gets, 1);
    /* a different file of that name is still a 409 */
    make_file(5001);
    assert_int_equal(up("a.bin"), SPO_E_GRAPH);
    assert_int_equal(D.status, 409);
    assert_int_equal(S.item_gets, 1); /* no doubt about this answer: nothing to check */
}

static void test_session_last_answer_lost(void **state)
{
    (void)state;
    make_file(BIG + 10);
    S.lose_answer = (int)((file_size + FRAG - 1) / FRAG); /* the last fragment */
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.creates, 1); /* not a second session: the file is there */
    assert_int_equal(S.item_gets, 1);
    assert_int_equal(rec_len, -1);
}

static void test_resume_finds_it_done(void **state)
{
    (void)state;
    make_file(BIG + 10);
    S.lose_answer = (int)((file_size + FRAG - 1) / FRAG);
    S.die_after = S.lose_answer; /* and the device dies right then */
    G.max_retries = 0;
    assert_true(up("a.bin") < 0);
    assert_true(rec_len > 0);
    S.die_after = 0;
    client_new();
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_int_equal(S.creates, 1);
    assert_int_equal(S.item_gets, 1);
    assert_int_equal(rec_len, -1);
}

/* ---------------------------------------------------------------- hostile answers and records */

static void test_session_never_moves(void **state)
{
    (void)state;
    make_file(BIG);
    S.stuck = 1;
    assert_int_equal(up("a.bin"), SPO_E_JSON_SHAPE); /* an error, not a loop */
    assert_int_equal(S.frags, 1 + (int)G.max_retries);
}

static void test_junk_records_start_over(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "", "spo-upload 1", "spo-upload 1 x 1 0\nhttps://" UP_HOST "/up/s1\n",
        "spo-upload 1 SIZE 1000 0\nhttp://" UP_HOST "/up/s1\n",
        "spo-upload 1 SIZE 1000 0\nhttps://" UP_HOST "/up/s1 x\n",
        "spo-upload 1 SIZE 1000 0\nhttps://" UP_HOST "/up/s1\nmore\n",
        "spo-upload 1 SIZE 1000 99999999\nhttps://" UP_HOST "/up/s1\n",
        "spo-upload 1 SIZE 1000 0\n\n",
    };
    make_file(BIG + 3);
    U.conflict = SPO_CONFLICT_REPLACE;
    /* learn the key with a first, complete upload that dies after one fragment */
    S.die_after = 1;
    G.max_retries = 0;
    assert_int_equal(up("a.bin"), SPO_E_NET_CONNECT);
    assert_true(rec_len > 0);
    S.die_after = 0;
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char text[256], size[24];
        snprintf(size, sizeof size, "%llu", (unsigned long long)file_size);
        const char *at = strstr(junk[i], "SIZE");
        if (at)
            snprintf(text, sizeof text, "%.*s%s%s", (int)(at - junk[i]), junk[i], size, at + 4);
        else
            snprintf(text, sizeof text, "%s", junk[i]);
        memcpy(rec, text, strlen(text));
        rec_len = (int)strlen(text);
        int creates = S.creates, gets = S.gets;
        client_new();
        U.conflict = SPO_CONFLICT_REPLACE;
        assert_int_equal(up("a.bin"), SPO_OK);
        assert_int_equal(U.resumed, 0);
        assert_int_equal(S.creates, creates + 1);
        assert_int_equal(S.gets, gets); /* nothing was asked of a junk URL */
        assert_stored_equal();
        assert_int_equal(rec_len, -1);
    }
}

static void test_sessions_keep_vanishing(void **state)
{
    (void)state;
    make_file(BIG + 1);
    S.gone_always = 1;
    assert_int_equal(up("a.bin"), SPO_E_GRAPH);
    assert_int_equal(D.status, 404);
    assert_int_equal(S.creates, SPO_UPLOAD_RESTARTS + 1);
    assert_int_equal(rec_len, -1);
    static const char zero[SPO_UPLOAD_URL_MAX];
    assert_memory_equal(U.upload_url, zero, sizeof zero); /* the secret is gone from memory */
}

/* SharePoint's uploadUrl carries a tempauth JWT: longer than SPO_URL_MAX, within
 * SPO_UPLOAD_URL_MAX it works, beyond it is SPO_E_TOO_LONG before any fragment. */
static void test_long_upload_url(void **state)
{
    (void)state;
    make_file(BIG + 1);
    S.tempauth_len = 2500;
    assert_true(2500 > SPO_URL_MAX);
    assert_int_equal(up("a.bin"), SPO_OK);
    assert_stored_equal();
    assert_true(strlen(S.target) > 2500); /* the fragments went to the whole URL */
    setup(NULL);
    make_file(BIG + 1);
    S.tempauth_len = SPO_UPLOAD_URL_MAX;
    assert_int_equal(up("a.bin"), SPO_E_TOO_LONG);
    assert_int_equal(S.frags, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_small_put, setup),
        cmocka_unit_test_setup(test_empty_and_one_byte_and_4mib, setup),
        cmocka_unit_test_setup(test_small_bad_hash, setup),
        cmocka_unit_test_setup(test_bad_args, setup),
        cmocka_unit_test_setup(test_session_plain, setup),
        cmocka_unit_test_setup(test_session_4mib_plus_1, setup),
        cmocka_unit_test_setup(test_session_drops, setup),
        cmocka_unit_test_setup(test_session_gone_restarts, setup),
        cmocka_unit_test_setup(test_session_416_and_429, setup),
        cmocka_unit_test_setup(test_session_bad_hash, setup),
        cmocka_unit_test_setup(test_session_409, setup),
        cmocka_unit_test_setup(test_resume_after_power_loss, setup),
        cmocka_unit_test_setup(test_resume_not_for_changed_file, setup),
        cmocka_unit_test_setup(test_resume_expired_session, setup),
        cmocka_unit_test_setup(test_small_answer_lost, setup),
        cmocka_unit_test_setup(test_session_last_answer_lost, setup),
        cmocka_unit_test_setup(test_resume_finds_it_done, setup),
        cmocka_unit_test_setup(test_session_never_moves, setup),
        cmocka_unit_test_setup(test_junk_records_start_over, setup),
        cmocka_unit_test_setup(test_long_upload_url, setup),
        cmocka_unit_test_setup(test_sessions_keep_vanishing, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
