/* A scripted server behind a fake spo_http_transport, for the harnesses that drive auth and graph.
 *
 * Each request (one or more send() calls after a connect or after the previous answer was read) gets
 * the answer the harness's respond() builds for its index; recv() serves it in pieces of `piece`
 * bytes and then reports the peer closing. Optionally the first answer breaks after `cut_at` bytes.
 * It also checks how spo uses a transport: no send or recv while closed, no double connect, and every
 * connection goes to the one host and port the harness expects (the bearer token and the client
 * secret must never go anywhere else). Header-only with static functions: each harness that includes
 * it uses all of them. */
#ifndef SPO_FAKE_SERVER_H
#define SPO_FAKE_SERVER_H

#include "fuzz.h"
#include "spo/http.h"

#include <string.h>

typedef struct fake_server {
    void (*respond)(struct fake_server *f, unsigned k); /* fills resp for request k */
    void *user;
    const char *expect_host;
    uint16_t expect_port;
    uint8_t *resp;
    size_t resp_len, resp_cap, off;
    size_t piece;     /* bytes per recv, >= 1 */
    size_t cut_at;    /* > 0: the first answer breaks after this many bytes */
    unsigned requests, connects, closes;
    int connected, need_new, cut_done;
} fake_server;

static void fake_put(fake_server *f, const void *p, size_t n)
{
    if (n > f->resp_cap - f->resp_len) {
        size_t cap = (f->resp_cap + n) * 2 + 64;
        f->resp = realloc(f->resp, cap);
        FUZZ_CHECK(f->resp != NULL);
        f->resp_cap = cap;
    }
    memcpy(f->resp + f->resp_len, p, n);
    f->resp_len += n;
}

static void fake_puts(fake_server *f, const char *s)
{
    fake_put(f, s, strlen(s));
}

enum { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

/* A whole answer: status line, extra header lines (each ending in CRLF, may be ""), framing, body. */
static void fake_answer(fake_server *f, int status, const char *headers, int framing,
                        const uint8_t *body, size_t len)
{
    char line[96];
    f->resp_len = 0;
    snprintf(line, sizeof line, "HTTP/1.1 %d Whatever\r\n", status);
    fake_puts(f, line);
    fake_puts(f, headers);
    if (framing == FRAME_LENGTH) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n\r\n", len);
        fake_puts(f, line);
        fake_put(f, body, len);
    } else if (framing == FRAME_CHUNKED) {
        fake_puts(f, "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0; off < len;) {
            size_t k = len - off < 37 ? len - off : 37; /* odd size: chunks split JSON tokens */
            snprintf(line, sizeof line, "%zx\r\n", k);
            fake_puts(f, line);
            fake_put(f, body + off, k);
            fake_puts(f, "\r\n");
            off += k;
        }
        fake_puts(f, "0\r\n\r\n");
    } else {
        fake_puts(f, "Connection: close\r\n\r\n");
        fake_put(f, body, len);
    }
}

static int fake_connect(void *ctx, const char *host, uint16_t port)
{
    fake_server *f = ctx;
    FUZZ_CHECK(!f->connected);
    FUZZ_CHECK(strcmp(host, f->expect_host) == 0 && port == f->expect_port);
    f->connected = 1;
    f->need_new = 1;
    f->connects++;
    return 0;
}

static int fake_send(void *ctx, const uint8_t *buf, size_t len)
{
    fake_server *f = ctx;
    FUZZ_CHECK(f->connected && (buf != NULL || len == 0));
    fuzz_touch(buf, len);
    if (f->need_new) {
        f->resp_len = 0;
        f->off = 0;
        f->respond(f, f->requests++);
        f->need_new = 0;
    }
    return 0;
}

static int fake_recv(void *ctx, uint8_t *buf, size_t len)
{
    fake_server *f = ctx;
    FUZZ_CHECK(f->connected && buf != NULL && len > 0);
    f->need_new = 1; /* the next send is the next request */
    size_t end = f->resp_len;
    if (f->cut_at && !f->cut_done && f->requests == 1 && f->cut_at < end)
        end = f->cut_at;
    if (f->off >= end) {
        if (end < f->resp_len)
            f->cut_done = 1;
        return 0; /* the peer closed */
    }
    size_t n = end - f->off;
    if (n > len)
        n = len;
    if (n > f->piece)
        n = f->piece;
    memcpy(buf, f->resp + f->off, n);
    f->off += n;
    return (int)n;
}

static void fake_close(void *ctx)
{
    fake_server *f = ctx;
    f->connected = 0;
    f->closes++;
}

static spo_http_transport fake_transport(fake_server *f)
{
    spo_http_transport t = { f, fake_connect, fake_send, fake_recv, fake_close };
    return t;
}

#endif
