/* Response parser: every input is fed whole, in every split into two pieces, and byte by byte, and
 * all three must agree on everything the parser reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spo/http.h"

typedef struct outcome {
    long rc;        /* 0, or the error feed or eof returned */
    long consumed;  /* bytes taken before the message completed (valid when rc == 0) */
    int done, framing, keep_alive;
    int status, on_status_calls, headers_done;
    char reason[SPO_HTTP_LINE_MAX + 1];
    size_t reason_len;
    char headers[16384]; /* "name: value\n" per header, as given to on_header */
    size_t headers_len;
    int nheaders;
    uint8_t body[65536];
    size_t body_len;
    int abort_with; /* test hook: on_headers_done and on_body return this */
} outcome;

static int on_status(void *ctx, int status, spo_span reason)
{
    outcome *o = ctx;
    o->status = status;
    o->on_status_calls++;
    assert_true(reason.len <= SPO_HTTP_LINE_MAX);
    memcpy(o->reason, reason.ptr, reason.len);
    o->reason_len = reason.len;
    return 0;
}

static int on_header(void *ctx, spo_span name, spo_span value)
{
    outcome *o = ctx;
    assert_true(o->headers_len + name.len + value.len + 3 <= sizeof o->headers);
    memcpy(o->headers + o->headers_len, name.ptr, name.len);
    o->headers_len += name.len;
    memcpy(o->headers + o->headers_len, ": ", 2);
    o->headers_len += 2;
    memcpy(o->headers + o->headers_len, value.ptr, value.len);
    o->headers_len += value.len;
    o->headers[o->headers_len++] = '\n';
    o->nheaders++;
    return 0;
}

static int on_headers_done(void *ctx)
{
    outcome *o = ctx;
    o->headers_done++;
    return o->abort_with;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    outcome *o = ctx;
    assert_true(len > 0);
    assert_true(o->body_len + len <= sizeof o->body);
    memcpy(o->body + o->body_len, data, len);
    o->body_len += len;
    return o->abort_with;
}

/* Feeds in[0..len) cut at the given points (sorted, inside (0, len)), then eof if asked. */
static outcome *run(const char *in, size_t len, const size_t *cuts, size_t ncuts, unsigned flags,
                    int eof, int abort_with)
{
    outcome *o = calloc(1, sizeof *o);
    assert_non_null(o);
    o->abort_with = abort_with;
    spo_http_callbacks cb = { o, on_status, on_header, on_headers_done, on_body };
    spo_http_parser *p = malloc(sizeof *p);
    assert_non_null(p);
    spo_http_parser_init(p, &cb, flags);
    size_t start = 0;
    for (size_t k = 0; k <= ncuts && !o->rc && !p->done; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        long r = spo_http_parser_feed(p, (const uint8_t *)in + start, end - start);
        if (p->err) { /* a positive callback value looks like a count: err tells them apart */
            assert_int_equal(r, p->err);
            o->rc = r;
            /* and it stays failed */
            assert_int_equal(spo_http_parser_feed(p, (const uint8_t *)"x", 1), r);
            break;
        }
        o->consumed += r;
        if (!p->done)
            assert_int_equal(r, (long)(end - start));
        start = end;
    }
    if (!o->rc && eof && !p->done)
        o->rc = spo_http_parser_eof(p);
    if (!o->rc && p->done) /* a complete parser takes nothing more */
        assert_int_equal(spo_http_parser_feed(p, (const uint8_t *)"HTTP", 4), 0);
    if (o->rc)
        o->consumed = 0;
    o->done = p->done;
    o->framing = p->framing;
    o->keep_alive = p->keep_alive;
    free(p);
    return o;
}

static void same_outcome(const outcome *a, const outcome *b, const char *how, size_t at)
{
    char what[64];
    snprintf(what, sizeof what, "%s at %zu", how, at);
    if (a->rc != b->rc || a->consumed != b->consumed || a->done != b->done ||
        a->framing != b->framing || a->keep_alive != b->keep_alive || a->status != b->status ||
        a->on_status_calls != b->on_status_calls || a->headers_done != b->headers_done ||
        a->reason_len != b->reason_len || memcmp(a->reason, b->reason, a->reason_len) ||
        a->headers_len != b->headers_len || memcmp(a->headers, b->headers, a->headers_len) ||
        a->body_len != b->body_len || memcmp(a->body, b->body, a->body_len))
        fail_msg("outcome differs from whole input when fed %s (rc %ld vs %ld, body %zu vs %zu)",
                 what, b->rc, a->rc, b->body_len, a->body_len);
}

/* The whole-input outcome, after checking every split and byte-by-byte feeding agree with it. */
static outcome *parse_opts(const char *in, size_t len, unsigned flags, int eof, int abort_with)
{
    outcome *whole = run(in, len, NULL, 0, flags, eof, abort_with);
    for (size_t cut = 1; cut < len; cut++) {
        outcome *o = run(in, len, &cut, 1, flags, eof, abort_with);
        same_outcome(whole, o, "two pieces", cut);
        free(o);
    }
    if (len > 1) {
        size_t *cuts = malloc((len - 1) * sizeof *cuts);
        assert_non_null(cuts);
        for (size_t i = 0; i < len - 1; i++)
            cuts[i] = i + 1;
        outcome *o = run(in, len, cuts, len - 1, flags, eof, abort_with);
        same_outcome(whole, o, "byte by byte", 0);
        free(o);
        free(cuts);
    }
    return whole;
}

#define PARSE(lit) parse_opts((lit), sizeof(lit) - 1, 0, 0, 0)
#define PARSE_EOF(lit) parse_opts((lit), sizeof(lit) - 1, 0, 1, 0)
#define PARSE_HEAD(lit) parse_opts((lit), sizeof(lit) - 1, SPO_HTTP_REQ_HEAD, 0, 0)

static void assert_body(const outcome *o, const char *want)
{
    assert_int_equal(o->body_len, strlen(want));
    assert_memory_equal(o->body, want, o->body_len);
}

static void assert_headers(const outcome *o, const char *want)
{
    assert_int_equal(o->headers_len, strlen(want));
    assert_memory_equal(o->headers, want, o->headers_len);
}

/* ------------------------------------------------------------------ framing */

static void content_length_body(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length:  5 \r\n\r\nhello");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->status, 200);
    assert_int_equal(o->reason_len, 2);
    assert_memory_equal(o->reason, "OK", 2);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_LENGTH);
    assert_true(o->keep_alive);
    assert_int_equal(o->headers_done, 1);
    assert_headers(o, "Content-Type: application/json\nContent-Length: 5\n");
    assert_body(o, "hello");
    free(o);
}

static void content_length_stops_at_message_end(void **state)
{
    (void)state;
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
                             "abcHTTP/1.1 500 X\r\n\r\n";
    outcome *o = PARSE(in);
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->consumed, (long)(strstr(in, "abc") - in) + 3);
    assert_body(o, "abc");
    free(o);
}

static void content_length_zero(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_LENGTH);
    assert_int_equal(o->body_len, 0);
    free(o);
}

static void content_length_duplicates(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok");
    assert_int_equal(o->rc, 0);
    assert_body(o, "ok");
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2, 2,2\r\n\r\nok");
    assert_int_equal(o->rc, 0);
    assert_body(o, "ok");
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    assert_int_equal(o->headers_done, 0);
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok!");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2,\r\n\r\nok");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    free(o);
}

static void content_length_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", /* 2^64 */
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        outcome *o = parse_opts(bad[i], strlen(bad[i]), 0, 0, 0);
        assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
        free(o);
    }
    /* 2^64 - 1 is representable: accepted, and the body is then simply incomplete. */
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nab");
    assert_int_equal(o->rc, 0);
    assert_false(o->done);
    assert_body(o, "ab");
    free(o);
}

static void chunked_extensions_and_trailers(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5;name=value\r\nhello\r\n"
                       "1 ; a = \"q;\\\"x\" ; b\r\n \r\n"
                       "A;ext=\"with spaces\"\r\n0123456789\r\n"
                       "0;last\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CHUNKED);
    assert_true(o->keep_alive);
    assert_body(o, "hello 0123456789");
    assert_headers(o, "Transfer-Encoding: chunked\nX-Checksum: abc\nServer-Timing: db;dur=5\n");
    free(o);
}

static void chunked_uppercase_hex_and_leading_zeros(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
                       "0000b\r\nhello world\r\n00\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CHUNKED);
    assert_body(o, "hello world");
    free(o);
}

static void chunked_bad_syntax(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2\r\nokX\n0\r\n\r\n",   /* no CRLF after the data */
        "2\r\nok\r0\r\n\r\n",
        "2\nok\r\n0\r\n\r\n",    /* bare LF after the size */
        "2 \r\nok\r\n0\r\n\r\n", /* BWS not followed by ';' */
        "2 x\r\nok\r\n0\r\n\r\n",
        "2;\r\nok\r\n0\r\n\r\n", /* empty extension */
        "2;a=\r\nok\r\n0\r\n\r\n",
        "2;a=\"x\r\nok\r\n0\r\n\r\n",
        "2;a b\r\nok\r\n0\r\n\r\n",
        "g\r\nok\r\n0\r\n\r\n",
        "\r\nok\r\n0\r\n\r\n",
        "-2\r\nok\r\n0\r\n\r\n",
        "0x2\r\nok\r\n0\r\n\r\n",
        "2\r\nok\r\n0\r\n\n", /* bare LF ending the trailers */
        "2\r\nok\r\n0\r\n X: 1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char in[256];
        int n = snprintf(in, sizeof in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                         bad[i]);
        outcome *o = parse_opts(in, (size_t)n, 0, 0, 0);
        if (o->rc != SPO_E_HTTP_PARSE)
            fail_msg("case %zu: rc %ld", i, o->rc);
        free(o);
    }
}

static void chunk_size_overflow(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "10000000000000000\r\n"); /* 2^64 */
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab");
    assert_int_equal(o->rc, 0);
    assert_false(o->done);
    assert_body(o, "ab");
    free(o);
}

static void close_delimited(void **state)
{
    (void)state;
    outcome *o = PARSE_EOF("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CLOSE);
    assert_false(o->keep_alive);
    assert_body(o, "until the end");
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\n\r\nsome");
    assert_int_equal(o->rc, 0);
    assert_false(o->done); /* only the close ends it */
    free(o);
}

static void transfer_encoding_not_chunked_last(void **state)
{
    (void)state;
    outcome *o = PARSE_EOF("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nok");
    assert_int_equal(o->rc, 0);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CLOSE);
    assert_false(o->keep_alive);
    assert_body(o, "2\r\nok");
    free(o);
    o = PARSE_EOF("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"
                  "\r\nraw");
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CLOSE);
    assert_body(o, "raw");
    free(o);
    o = PARSE_EOF("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedchunked\r\n\r\nraw");
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CLOSE);
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked gzip\r\n\r\n");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    free(o);
}

static void cl_and_te_conflict(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nok\r\n0\r\n\r\n");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    assert_int_equal(o->headers_done, 0);
    assert_int_equal(o->body_len, 0);
    free(o);
    o = PARSE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n");
    assert_int_equal(o->rc, SPO_E_HTTP_FRAMING);
    free(o);
}

static void no_body_statuses(void **state)
{
    (void)state;
#define NO_CONTENT "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
    outcome *o = PARSE(NO_CONTENT "HTTP/1.1 200 OK\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_NONE);
    assert_int_equal(o->consumed, (long)(sizeof NO_CONTENT - 1));
    assert_int_equal(o->body_len, 0);
    assert_true(o->keep_alive);
    free(o);
    o = PARSE("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_NONE);
    free(o);
    o = PARSE_HEAD("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_NONE);
    assert_int_equal(o->headers_done, 1);
    assert_true(o->keep_alive);
    free(o);
}

static void interim_responses_skipped(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 100 Continue\r\n\r\n"
                       "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                       "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->status, 201);
    assert_int_equal(o->on_status_calls, 1);
    assert_int_equal(o->headers_done, 1);
    assert_headers(o, "Content-Length: 2\n");
    assert_body(o, "{}");
    free(o);
    /* An interim response's framing fields mean nothing for the final one. */
    o = PARSE("HTTP/1.1 100 Continue\r\nContent-Length: 7\r\n\r\n\r\n"
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CHUNKED);
    free(o);
}

static void switching_protocols_refused(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n");
    assert_int_equal(o->rc, SPO_E_HTTP_PARSE);
    assert_int_equal(o->on_status_calls, 0);
    free(o);
}

/* ------------------------------------------------------------------ keep-alive */

static void keep_alive_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int keep;
    } cases[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1 },
        { "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", 1 },
        { "HTTP/1.1 200 OK\r\nConnection: ,close,\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.0 200 OK\r\nProxy-Connection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 1 },
        { "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 0 },  /* close-delimited */
        { "HTTP/1.1 200 OK\r\n\r\n", 0 },                             /* close-delimited */
        { "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n", 0 },
        { "HTTP/1.1 204 No Content\r\n\r\n", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        outcome *o = parse_opts(cases[i].in, strlen(cases[i].in), 0, 0, 0);
        assert_int_equal(o->rc, 0);
        if (o->keep_alive != cases[i].keep)
            fail_msg("case %zu: keep_alive %d", i, o->keep_alive);
        free(o);
    }
}

/* ------------------------------------------------------------------ strictness and limits */

static void status_line_forms(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 301\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_int_equal(o->status, 301);
    assert_int_equal(o->reason_len, 0);
    free(o);
    o = PARSE("HTTP/1.1 200 \r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_int_equal(o->reason_len, 0);
    free(o);
    o = PARSE("HTTP/1.0 500 Ori\xc3\xabntatie\tprobleem \r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_int_equal(o->status, 500);
    assert_int_equal(o->reason_len, strlen("Ori\xc3\xabntatie\tprobleem "));
    free(o);
    o = PARSE("\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    free(o);

    static const char *const bad[] = {
        "HTTP/1.2 200 OK\r\n\r\n", "HTTP/2.0 200 OK\r\n\r\n", "HTTP/0.9 200 OK\r\n\r\n",
        "HTTP/1.01 200 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1\t200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\rX: y\r\n\r\n", "RTSP/1.0 200 OK\r\n\r\n", " HTTP/1.1 200 OK\r\n\r\n",
        "\nHTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 O\x7fK\r\n\r\n", "HTTP/1.1 200\tOK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1 200 OK\r\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = parse_opts(bad[i], strlen(bad[i]), 0, 0, 0);
        if (o->rc != SPO_E_HTTP_PARSE)
            fail_msg("case %zu: rc %ld", i, o->rc);
        free(o);
    }
}

static void bare_lf_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
        "HTTP/1.1 200 OK\r\nA: b\r\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        outcome *o = parse_opts(bad[i], strlen(bad[i]), 0, 0, 0);
        if (o->rc != SPO_E_HTTP_PARSE)
            fail_msg("case %zu: rc %ld", i, o->rc);
        free(o);
    }
}

static void field_syntax(void **state)
{
    (void)state;
    outcome *o = PARSE("HTTP/1.1 200 OK\r\nX-$Odd_Name~: \t a  b \t\r\nEmpty:\r\n"
                       "Obs: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(o->rc, 0);
    assert_headers(o, "X-$Odd_Name~: a  b\nEmpty: \nObs: caf\xc3\xa9\nContent-Length: 0\n");
    free(o);
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nA: 1\r\n  folded\r\n\r\n",          /* obs-fold */
        "HTTP/1.1 200 OK\r\n\tA: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\n A: 1",                            /* fails before the line ends */
        "HTTP/1.1 200 OK\r\nA : 1\r\n\r\n",                    /* space before colon */
        "HTTP/1.1 200 OK\r\nA\t: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: 1\r\n\r\n",                      /* empty name */
        "HTTP/1.1 200 OK\r\nA(b): 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: x\x01y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: x\x7fy\r\n\r\n",
        "HTTP/1.1 200 OK\r\nFoo: 1\rBar: 2\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = parse_opts(bad[i], strlen(bad[i]), 0, 0, 0);
        if (o->rc != SPO_E_HTTP_PARSE)
            fail_msg("case %zu: rc %ld", i, o->rc);
        free(o);
    }
    /* A NUL inside a value is a control character like any other. */
    o = PARSE("HTTP/1.1 200 OK\r\nA: x\0y\r\n\r\n");
    assert_int_equal(o->rc, SPO_E_HTTP_PARSE);
    free(o);
}

static char *long_line_response(size_t value_len)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nX: ";
    static const char tail[] = "\r\nContent-Length: 0\r\n\r\n";
    char *in = malloc(sizeof head + value_len + sizeof tail);
    assert_non_null(in);
    memcpy(in, head, sizeof head - 1);
    memset(in + sizeof head - 1, 'v', value_len);
    memcpy(in + sizeof head - 1 + value_len, tail, sizeof tail);
    return in;
}

static void oversized_line(void **state)
{
    (void)state;
    /* "X: " is 3 bytes of the line, so SPO_HTTP_LINE_MAX - 3 value bytes is the longest line. */
    char *in = long_line_response(SPO_HTTP_LINE_MAX - 3);
    outcome *o = parse_opts(in, strlen(in), 0, 0, 0);
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->headers_len, SPO_HTTP_LINE_MAX + 1 + strlen("Content-Length: 0\n"));
    free(o);
    free(in);
    in = long_line_response(SPO_HTTP_LINE_MAX - 2);
    o = parse_opts(in, strlen(in), 0, 0, 0);
    assert_int_equal(o->rc, SPO_E_HTTP_LINE);
    free(o);
    free(in);

    /* Status and chunk-size lines have the same limit. */
    size_t n = SPO_HTTP_LINE_MAX + 64;
    in = malloc(n + 1);
    assert_non_null(in);
    memcpy(in, "HTTP/1.1 200 ", 13);
    memset(in + 13, 'r', n - 13);
    o = parse_opts(in, n, 0, 0, 0);
    assert_int_equal(o->rc, SPO_E_HTTP_LINE);
    free(o);
    static const char chunk_head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=";
    memcpy(in, chunk_head, sizeof chunk_head - 1);
    memset(in + sizeof chunk_head - 1, 'e', n - (sizeof chunk_head - 1));
    o = parse_opts(in, n, 0, 0, 0);
    assert_int_equal(o->rc, SPO_E_HTTP_LINE);
    free(o);
    free(in);
}

static char *many_headers(int count, int trailers)
{
    char *in = malloc(64 + (size_t)(count + trailers) * 16);
    assert_non_null(in);
    size_t n = (size_t)sprintf(in, "HTTP/1.1 200 OK\r\n%s",
                               trailers ? "Transfer-Encoding: chunked\r\n" : "");
    for (int i = 0; i < count - (trailers ? 1 : 0); i++)
        n += (size_t)sprintf(in + n, "H%d: v\r\n", i);
    n += (size_t)sprintf(in + n, "\r\n%s", trailers ? "0\r\n" : "");
    for (int i = 0; i < trailers; i++)
        n += (size_t)sprintf(in + n, "T%d: v\r\n", i);
    sprintf(in + n, "%s", trailers ? "\r\n" : "");
    return in;
}

static void header_flood(void **state)
{
    (void)state;
    char *in = many_headers(SPO_HTTP_MAX_HEADERS, 0);
    outcome *o = parse_opts(in, strlen(in), 0, 0, 0);
    assert_int_equal(o->rc, 0);
    assert_int_equal(o->nheaders, SPO_HTTP_MAX_HEADERS);
    free(o);
    free(in);
    in = many_headers(SPO_HTTP_MAX_HEADERS + 1, 0);
    o = parse_opts(in, strlen(in), 0, 0, 0);
    assert_int_equal(o->rc, SPO_E_HTTP_HEADERS);
    free(o);
    free(in);
    /* Trailers count toward the same limit. */
    in = many_headers(SPO_HTTP_MAX_HEADERS - 4, 4);
    o = parse_opts(in, strlen(in), 0, 0, 0);
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    free(o);
    free(in);
    in = many_headers(SPO_HTTP_MAX_HEADERS - 4, 5);
    o = parse_opts(in, strlen(in), 0, 0, 0);
    assert_int_equal(o->rc, SPO_E_HTTP_HEADERS);
    free(o);
    free(in);
    /* So do endless interim responses. */
    size_t n = 0;
    in = malloc(40 * (SPO_HTTP_MAX_HEADERS + 2));
    assert_non_null(in);
    for (int i = 0; i <= SPO_HTTP_MAX_HEADERS; i++)
        n += (size_t)sprintf(in + n, "HTTP/1.1 100 Continue\r\n\r\n");
    o = parse_opts(in, n, 0, 0, 0);
    assert_int_equal(o->rc, SPO_E_HTTP_HEADERS);
    free(o);
    free(in);
}

static void truncated_at_eof(void **state)
{
    (void)state;
    static const char *const cut[] = {
        "",
        "HTTP/1.1 200 OK\r\nContent-Le",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        outcome *o = parse_opts(cut[i], strlen(cut[i]), 0, 1, 0);
        if (o->rc != SPO_E_HTTP_TRUNCATED)
            fail_msg("case %zu: rc %ld", i, o->rc);
        free(o);
    }
    outcome *o = PARSE_EOF("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    assert_body(o, "short"); /* what arrived was still delivered */
    free(o);
}

static void callback_stops_parser(void **state)
{
    (void)state;
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    outcome *o = parse_opts(in, sizeof in - 1, 0, 0, SPO_E_ABORTED);
    assert_int_equal(o->rc, SPO_E_ABORTED);
    assert_int_equal(o->headers_done, 1);
    assert_int_equal(o->body_len, 0);
    assert_false(o->done);
    free(o);
    /* A positive value comes back unchanged too. */
    o = parse_opts(in, sizeof in - 1, 0, 0, 7);
    assert_int_equal(o->rc, 7);
    free(o);
}

/* ------------------------------------------------------------------ a real Graph answer */

static void graph_chunked_response(void **state)
{
    (void)state;
    static const char head[] =
        "HTTP/1.1 200 OK\r\n"
        "Cache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Content-Type: application/json;odata.metadata=minimal;odata.streaming=true;"
        "IEEE754Compatible=false;charset=utf-8\r\n"
        "Vary: Accept-Encoding\r\n"
        "Strict-Transport-Security: max-age=31536000\r\n"
        "request-id: 0d3c2f6e-5a4b-4c8d-9e1f-2a3b4c5d6e7f\r\n"
        "client-request-id: 9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\r\n"
        "x-ms-ags-diagnostic: {\"ServerInfo\":{\"DataCenter\":\"West Europe\",\"Slice\":\"E\","
        "\"Ring\":\"5\",\"ScaleUnit\":\"003\",\"RoleInstance\":\"AM2PEPF0000C2A1\"}}\r\n"
        "x-ms-resource-unit: 2\r\n"
        "OData-Version: 4.0\r\n"
        "Date: Fri, 07 Jun 2024 09:30:00 GMT\r\n"
        "\r\n";
    static const char *const pieces[] = {
        "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#sites\",\"value\":[",
        ("{\"id\":\"contoso.sharepoint.com,1,2\",\"name\":\"Team\",\"webUrl\":"
         "\"https://contoso.sharepoint.com/sites/Team\"}"),
        ("],\"@odata.nextLink\":"
         "\"https://graph.microsoft.com/v1.0/sites?search=contoso&$skiptoken=X\"}"),
    };
    char in[4096], body[1024];
    size_t n = strlen(head), b = 0;
    memcpy(in, head, n);
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(pieces[i]);
        n += (size_t)sprintf(in + n, "%zx\r\n%s\r\n", len, pieces[i]);
        memcpy(body + b, pieces[i], len);
        b += len;
    }
    body[b] = '\0';
    n += (size_t)sprintf(in + n, "0\r\n\r\n");

    outcome *o = parse_opts(in, n, 0, 0, 0);
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->consumed, (long)n);
    assert_int_equal(o->status, 200);
    assert_int_equal(o->framing, SPO_HTTP_FRAMING_CHUNKED);
    assert_true(o->keep_alive);
    assert_int_equal(o->nheaders, 11);
    assert_non_null(strstr(o->headers, "\nrequest-id: 0d3c2f6e-5a4b-4c8d-9e1f-2a3b4c5d6e7f\n"));
    assert_non_null(strstr(o->headers, "\nx-ms-ags-diagnostic: {\"ServerInfo\":{\"DataCenter\":"
                                       "\"West Europe\",\"Slice\":\"E\",\"Ring\":\"5\","));
    assert_body(o, body);
    free(o);
}

static void token_response_content_length(void **state)
{
    (void)state;
    static const char body[] =
        "{\"token_type\":\"Bearer\",\"expires_in\":86399,\"ext_expires_in\":86399,"
        "\"access_token\":\"access_token\"}";
    char in[1024];
    int n = snprintf(
        in, sizeof in,
        "HTTP/1.1 200 OK\r\nCache-Control: no-store, no-cache\r\nPragma: no-cache\r\n"
        "Content-Length: %zu\r\nContent-Type: application/json; charset=utf-8\r\nExpires: -1\r\n"
        "Set-Cookie: fpc=AsaaPmMomjBDsg; expires=Thu, 03-Jun-2021 20:42:40 GMT; path=/; secure; "
        "HttpOnly; SameSite=None\r\nx-ms-request-id: 745f8f68-271b-40e0-a3d6-0fee95a00600\r\n"
        "Date: Tue, 04 May 2021 20:42:39 GMT\r\n\r\n%s",
        sizeof body - 1, body);
    outcome *o = parse_opts(in, (size_t)n, 0, 0, 0);
    assert_int_equal(o->rc, 0);
    assert_true(o->done);
    assert_int_equal(o->consumed, n);
    assert_body(o, body);
    assert_int_equal(o->nheaders, 8);
    free(o);
}

static void null_arguments(void **state)
{
    (void)state;
    spo_http_parser p;
    spo_http_parser_init(&p, NULL, 0);
    assert_int_equal(spo_http_parser_feed(NULL, (const uint8_t *)"x", 1), SPO_E_ARG);
    assert_int_equal(spo_http_parser_feed(&p, NULL, 1), SPO_E_ARG);
    assert_int_equal(spo_http_parser_feed(&p, NULL, 0), 0);
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_int_equal(spo_http_parser_feed(&p, (const uint8_t *)in, sizeof in - 1), sizeof in - 1);
    assert_true(p.done);
    assert_int_equal(spo_http_parser_eof(&p), SPO_OK);
    assert_int_equal(spo_http_parser_eof(NULL), SPO_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length_body),
        cmocka_unit_test(content_length_stops_at_message_end),
        cmocka_unit_test(content_length_zero),
        cmocka_unit_test(content_length_duplicates),
        cmocka_unit_test(content_length_invalid),
        cmocka_unit_test(chunked_extensions_and_trailers),
        cmocka_unit_test(chunked_uppercase_hex_and_leading_zeros),
        cmocka_unit_test(chunked_bad_syntax),
        cmocka_unit_test(chunk_size_overflow),
        cmocka_unit_test(close_delimited),
        cmocka_unit_test(transfer_encoding_not_chunked_last),
        cmocka_unit_test(cl_and_te_conflict),
        cmocka_unit_test(no_body_statuses),
        cmocka_unit_test(interim_responses_skipped),
        cmocka_unit_test(switching_protocols_refused),
        cmocka_unit_test(keep_alive_rules),
        cmocka_unit_test(status_line_forms),
        cmocka_unit_test(bare_lf_refused),
        cmocka_unit_test(field_syntax),
        cmocka_unit_test(oversized_line),
        cmocka_unit_test(header_flood),
        cmocka_unit_test(truncated_at_eof),
        cmocka_unit_test(callback_stops_parser),
        cmocka_unit_test(graph_chunked_response),
        cmocka_unit_test(token_response_content_length),
        cmocka_unit_test(null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
