/* Fuzz target: chunked transfer coding in the HTTP response parser (src/http_parser.c).
 *
 * Two properties per input:
 *  1. The input is the body of "HTTP/1.1 200 OK / Transfer-Encoding: chunked": parsed whole, byte by
 *     byte and in pseudo-random pieces, the verdict, bytes consumed, trailers and decoded body must be
 *     identical, the decoded body never longer than the input, every body piece inside the caller's
 *     buffer.
 *  2. Round trip: the input taken as payload, cut into chunks whose sizes come from the input itself
 *     (with upper/lower-case hex, leading zeros, extensions and a trailer chosen the same way), must
 *     parse with SPO_OK and give back exactly the payload. This reaches the valid paths the random
 *     bytes of (1) rarely complete. */
#include "fuzz.h"
#include "spo/http.h"

#include <string.h>

static const char HEAD[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

typedef struct run {
    const uint8_t *in; /* the buffer being fed (header + body) */
    size_t in_len;
    uint8_t *body;
    size_t body_len, body_cap;
    uint64_t trailer_hash;
    int headers_done;
    long rc;
    size_t consumed;
} run;

static int on_header(void *ctx, spo_span name, spo_span value)
{
    run *r = ctx;
    FUZZ_CHECK(name.len > 0);
    if (r->headers_done) {
        r->trailer_hash = fuzz_fnv(r->trailer_hash, name.ptr, name.len);
        r->trailer_hash = fuzz_fnv(r->trailer_hash, ":", 1);
        r->trailer_hash = fuzz_fnv(r->trailer_hash, value.ptr, value.len);
    }
    fuzz_touch(value.ptr, value.len);
    return 0;
}

static int on_headers_done(void *ctx)
{
    ((run *)ctx)->headers_done = 1;
    return 0;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    run *r = ctx;
    FUZZ_CHECK(r->headers_done);
    FUZZ_CHECK(data >= r->in && len <= r->in_len && (size_t)(data - r->in) <= r->in_len - len);
    FUZZ_CHECK(len <= r->body_cap - r->body_len);
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    return 0;
}

/* mode 0: whole; 1: byte by byte; 2: pseudo-random pieces of 1..97 bytes seeded by seed. */
static void parse(run *r, int mode, uint32_t seed)
{
    const spo_http_callbacks cb = { r, NULL, on_header, on_headers_done, on_body };
    spo_http_parser p;
    size_t pos = 0;

    spo_http_parser_init(&p, &cb, 0);
    r->rc = 0;
    while (pos < r->in_len && !p.done) {
        size_t piece = r->in_len - pos;
        if (mode == 1) {
            piece = 1;
        } else if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + ((seed >> 16) % 97);
            if (want < piece)
                piece = want;
        }
        long got = spo_http_parser_feed(&p, r->in + pos, piece);
        if (got < 0) {
            r->rc = got;
            break;
        }
        FUZZ_CHECK((size_t)got == piece || p.done);
        pos += (size_t)got;
    }
    if (r->rc == 0 && !p.done)
        r->rc = spo_http_parser_eof(&p);
    if (r->rc == 0) {
        FUZZ_CHECK(p.done && p.framing == SPO_HTTP_FRAMING_CHUNKED && p.status == 200);
        /* After the last chunk nothing of the body is left pending. */
        FUZZ_CHECK(p.remaining == 0);
    } else {
        FUZZ_CHECK(p.err == r->rc);
    }
    r->consumed = r->rc == 0 ? pos : 0;
}

static void run_init(run *r, const uint8_t *in, size_t len, size_t body_cap)
{
    memset(r, 0, sizeof *r);
    r->in = in;
    r->in_len = len;
    r->body_cap = body_cap;
    r->body = malloc(body_cap ? body_cap : 1);
    r->trailer_hash = FUZZ_FNV_INIT;
}

static void same(const run *a, const run *b)
{
    FUZZ_CHECK(a->rc == b->rc);
    FUZZ_CHECK(a->consumed == b->consumed);
    FUZZ_CHECK(a->trailer_hash == b->trailer_hash);
    FUZZ_CHECK(a->body_len == b->body_len);
    FUZZ_CHECK(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

/* Property 1: the input as a chunked body, any split. */
static void as_body(const uint8_t *data, size_t size)
{
    size_t hl = sizeof HEAD - 1, n = hl + size;
    uint8_t *in = malloc(n);
    memcpy(in, HEAD, hl);
    memcpy(in + hl, data, size);

    run r[3];
    uint32_t seed = (uint32_t)fuzz_fnv(FUZZ_FNV_INIT, data, size);
    for (int mode = 0; mode < 3; mode++) {
        run_init(&r[mode], in, n, size); /* decoded body <= the chunked bytes */
        parse(&r[mode], mode, seed);
    }
    same(&r[0], &r[1]);
    same(&r[0], &r[2]);
    for (int mode = 0; mode < 3; mode++)
        free(r[mode].body);
    free(in);
}

/* Property 2: encode the input as chunks, parse, get the input back. */
static void round_trip(const uint8_t *data, size_t size)
{
    /* Worst case per chunk: 8 hex digits + 2 zeros, an extension, CRLF, data, CRLF. */
    size_t cap = sizeof HEAD + size * 48 + 256;
    uint8_t *enc = malloc(cap);
    size_t n = sizeof HEAD - 1, off = 0, i = 0;
    memcpy(enc, HEAD, n);
    while (off < size) {
        uint8_t k = data[i++ % size];
        size_t len = 1 + (k % 23u);
        if (len > size - off)
            len = size - off;
        n += (size_t)snprintf((char *)enc + n, cap - n, (k & 0x20) ? "%s%zX" : "%s%zx",
                              (k & 0x40) ? "00" : "", len);
        if (k & 0x80)
            n += (size_t)snprintf((char *)enc + n, cap - n, (k & 1) ? " ; a=\"b\\\"c\"" : ";ext");
        memcpy(enc + n, "\r\n", 2);
        n += 2;
        memcpy(enc + n, data + off, len);
        n += len;
        memcpy(enc + n, "\r\n", 2);
        n += 2;
        off += len;
    }
    const char *last = (size && (data[0] & 1)) ? "0\r\nX-Trailer: t\r\n\r\n" : "0\r\n\r\n";
    memcpy(enc + n, last, strlen(last));
    n += strlen(last);

    run r;
    run_init(&r, enc, n, size);
    parse(&r, size > 512 ? 0 : 1, 0);
    FUZZ_CHECK(r.rc == 0);
    FUZZ_CHECK(r.consumed == n);
    FUZZ_CHECK(r.body_len == size);
    FUZZ_CHECK(size == 0 || memcmp(r.body, data, size) == 0);
    free(r.body);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_body(data, size);
    round_trip(data, size);
    return 0;
}
