/* Fuzz target: the HTTP/1.1 response parser (src/http_parser.c).
 *
 * Input: byte 0 picks how the rest is fed (bit 7: the request was HEAD; bit 6: pseudo-random piece
 * sizes; bits 0-5: piece size - 1), bytes 1.. are the server's bytes. Up to MAX_MSG responses are
 * parsed back to back, as a keep-alive connection would.
 *
 * Properties checked (abort on failure):
 *  - callbacks come in order (status, headers, headers-done, body, trailers only when chunked), with a
 *    final status in 200..999 (1xx are parsed, not reported) and field names/values as the contract
 *    says: names are tokens, values trimmed and free of CR, LF and other controls;
 *  - every body piece points into the caller's buffer, and the body never exceeds the input;
 *  - a Content-Length message delivers exactly that many bytes;
 *  - the parser stays failed after an error and a callback's error comes back unchanged;
 *  - differential: fed whole and fed in pieces, the verdict, status, framing, keep-alive, bytes
 *    consumed per message, header sequence and body bytes are identical. */
#include "fuzz.h"
#include "spo/http.h"

#include <string.h>

#define MAX_MSG 4

typedef struct msg_result {
    long rc;          /* 0 or the error the message ended with */
    int status;
    int framing, keep_alive, done;
    size_t consumed;  /* bytes of the input this message used (only when rc == 0) */
} msg_result;

typedef struct run {
    const uint8_t *in;
    size_t in_len;
    uint8_t *body;       /* all body bytes, every message; capacity in_len */
    size_t body_len;
    size_t msg_body;     /* body bytes of the current message */
    uint64_t hdr_hash;   /* names and values of every header and trailer, in order */
    int nstatus, nheaders_done;
    spo_http_parser *p;
    msg_result msg[MAX_MSG];
    int nmsg;
} run;

static int is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int on_status(void *ctx, int status, spo_span reason)
{
    run *r = ctx;
    FUZZ_CHECK(r->nstatus == 0 && r->nheaders_done == 0);
    FUZZ_CHECK(status >= 200 && status <= 999);
    FUZZ_CHECK(reason.len <= SPO_HTTP_LINE_MAX);
    for (size_t i = 0; i < reason.len; i++) {
        uint8_t c = (uint8_t)reason.ptr[i];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    r->nstatus++;
    r->hdr_hash = fuzz_fnv(r->hdr_hash, &status, sizeof status);
    r->hdr_hash = fuzz_fnv(r->hdr_hash, reason.ptr, reason.len);
    return 0;
}

static int on_header(void *ctx, spo_span name, spo_span value)
{
    run *r = ctx;
    FUZZ_CHECK(r->nstatus == 1);
    /* After the headers, only a chunked body has field lines (its trailers). */
    FUZZ_CHECK(r->nheaders_done == 0 || r->p->framing == SPO_HTTP_FRAMING_CHUNKED);
    FUZZ_CHECK(name.len > 0 && name.len + value.len <= SPO_HTTP_LINE_MAX);
    for (size_t i = 0; i < name.len; i++)
        FUZZ_CHECK(is_tchar((uint8_t)name.ptr[i]));
    for (size_t i = 0; i < value.len; i++) {
        uint8_t c = (uint8_t)value.ptr[i];
        FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    if (value.len) {
        FUZZ_CHECK(value.ptr[0] != ' ' && value.ptr[0] != '\t');
        FUZZ_CHECK(value.ptr[value.len - 1] != ' ' && value.ptr[value.len - 1] != '\t');
    }
    r->hdr_hash = fuzz_fnv(r->hdr_hash, name.ptr, name.len);
    r->hdr_hash = fuzz_fnv(r->hdr_hash, ":", 1);
    r->hdr_hash = fuzz_fnv(r->hdr_hash, value.ptr, value.len);
    /* A callback's error must come back from feed unchanged: exercise it on a marker header. */
    if (name.len == 6 && memcmp(name.ptr, "X-Stop", 6) == 0)
        return SPO_E_ABORTED;
    return 0;
}

static int on_headers_done(void *ctx)
{
    run *r = ctx;
    FUZZ_CHECK(r->nstatus == 1 && r->nheaders_done == 0);
    r->nheaders_done++;
    return 0;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    run *r = ctx;
    FUZZ_CHECK(r->nheaders_done == 1);
    FUZZ_CHECK(r->p->framing != SPO_HTTP_FRAMING_NONE);
    /* Body bytes are handed out from the caller's buffer, never copied. */
    FUZZ_CHECK(data >= r->in && len <= r->in_len && (size_t)(data - r->in) <= r->in_len - len);
    FUZZ_CHECK(len <= r->in_len - r->body_len);
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->msg_body += len;
    return 0;
}

/* Piece sizes: fixed, or a small LCG so splits land everywhere. */
typedef struct splitter {
    unsigned mode, fixed;
    uint32_t state;
} splitter;

static size_t next_piece(splitter *s)
{
    if (s->mode == 0)
        return (size_t)-1; /* whole: everything left */
    if (s->mode == 1)
        return s->fixed;
    s->state = s->state * 1103515245u + 12345u;
    return 1 + ((s->state >> 16) % 97);
}

static void parse(run *r, unsigned flags, splitter sp)
{
    const spo_http_callbacks cb = { r, on_status, on_header, on_headers_done, on_body };
    spo_http_parser p;
    size_t off = 0;

    r->p = &p;
    for (int m = 0; m < MAX_MSG && (m == 0 || off < r->in_len); m++) {
        msg_result *res = &r->msg[r->nmsg++];
        long rc = 0;
        size_t pos = off;

        spo_http_parser_init(&p, &cb, flags);
        r->nstatus = r->nheaders_done = 0;
        r->msg_body = 0;
        while (pos < r->in_len && !p.done) {
            size_t piece = next_piece(&sp);
            if (piece > r->in_len - pos)
                piece = r->in_len - pos;
            long got = spo_http_parser_feed(&p, r->in + pos, piece);
            if (got < 0) {
                rc = got;
                break;
            }
            FUZZ_CHECK((size_t)got <= piece);
            FUZZ_CHECK((size_t)got == piece || p.done); /* short only when the message ended */
            pos += (size_t)got;
        }
        if (rc == 0 && !p.done)
            rc = spo_http_parser_eof(&p);
        if (rc < 0) {
            /* Failed for good: more bytes or an EOF report the same error. */
            FUZZ_CHECK(p.err == rc);
            FUZZ_CHECK(spo_http_parser_feed(&p, (const uint8_t *)"H", 1) == rc);
            FUZZ_CHECK(spo_http_parser_eof(&p) == rc);
        } else {
            FUZZ_CHECK(p.done && r->nstatus == 1 && r->nheaders_done == 1);
            FUZZ_CHECK(p.status >= 200 && p.status <= 999);
            if (p.framing == SPO_HTTP_FRAMING_LENGTH)
                FUZZ_CHECK(r->msg_body == p.content_length);
            if (p.framing == SPO_HTTP_FRAMING_NONE)
                FUZZ_CHECK(r->msg_body == 0);
            /* Close-delimited framing can never leave the connection reusable. */
            if (p.framing == SPO_HTTP_FRAMING_CLOSE)
                FUZZ_CHECK(!p.keep_alive);
        }
        res->rc = rc;
        res->status = rc == 0 ? p.status : 0;
        res->framing = rc == 0 ? p.framing : -1;
        res->keep_alive = rc == 0 ? p.keep_alive : -1;
        res->done = p.done;
        res->consumed = rc == 0 ? pos - off : 0;
        if (rc < 0)
            break;
        off = pos;
    }
}

static void compare(const run *a, const run *b)
{
    FUZZ_CHECK(a->nmsg == b->nmsg);
    for (int i = 0; i < a->nmsg; i++) {
        FUZZ_CHECK(a->msg[i].rc == b->msg[i].rc);
        FUZZ_CHECK(a->msg[i].status == b->msg[i].status);
        FUZZ_CHECK(a->msg[i].framing == b->msg[i].framing);
        FUZZ_CHECK(a->msg[i].keep_alive == b->msg[i].keep_alive);
        FUZZ_CHECK(a->msg[i].consumed == b->msg[i].consumed);
    }
    FUZZ_CHECK(a->hdr_hash == b->hdr_hash);
    FUZZ_CHECK(a->body_len == b->body_len);
    FUZZ_CHECK(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t ctl = data[0];
    const unsigned flags = (ctl & 0x80) ? SPO_HTTP_REQ_HEAD : 0;
    /* A heap copy of exactly the input: ASan then catches a read one byte past the end. */
    size_t n = size - 1;
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, data + 1, n);

    run whole = { in, n, malloc(n ? n : 1), 0, 0, FUZZ_FNV_INIT, 0, 0, NULL, { { 0 } }, 0 };
    run piece = whole;
    piece.body = malloc(n ? n : 1);

    parse(&whole, flags, (splitter){ 0, 0, 0 });
    splitter sp = (ctl & 0x40) ? (splitter){ 2, 0, ctl } : (splitter){ 1, 1u + (ctl & 0x3f), 0 };
    parse(&piece, flags, sp);
    compare(&whole, &piece);

    free(whole.body);
    free(piece.body);
    free(in);
    return 0;
}
