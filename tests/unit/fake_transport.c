#include "fake_transport.h"

#include <string.h>

void fake_init(fake_transport *f, size_t split)
{
    memset(f, 0, sizeof *f);
    f->split = split;
}

void fake_add(fake_transport *f, const char *resp, int close_after, size_t drop_at)
{
    if (f->nsteps < FAKE_MAX_STEPS)
        f->steps[f->nsteps++] = (fake_step){ resp, strlen(resp), close_after, drop_at };
}

static int f_connect(void *ctx, const char *host, uint16_t port)
{
    fake_transport *f = ctx;
    (void)port;
    if (f->fail_connect)
        return SPO_E_NET_CONNECT;
    strncpy(f->host, host, sizeof f->host - 1);
    f->connected = 1;
    f->connects++;
    return SPO_OK;
}

static int f_send(void *ctx, const uint8_t *buf, size_t len)
{
    fake_transport *f = ctx;
    if (!f->connected)
        return SPO_E_NET_CLOSED;
    if (f->served) { /* a new request: the previous step is finished */
        f->cur++;
        f->off = 0;
        f->served = 0;
    }
    if (f->sent_len + len <= sizeof f->sent) {
        memcpy(f->sent + f->sent_len, buf, len);
        f->sent_len += len;
    }
    return SPO_OK;
}

static int f_recv(void *ctx, uint8_t *buf, size_t len)
{
    fake_transport *f = ctx;
    if (!f->connected)
        return SPO_E_NET_CLOSED;
    if (f->cur >= f->nsteps)
        return 0;
    fake_step *s = &f->steps[f->cur];
    size_t end = s->drop_at ? s->drop_at : s->len;
    if (f->off >= end) {
        if (s->drop_at) {
            f->connected = 0;
            f->cur++;
            f->off = 0;
            f->served = 0;
            return SPO_E_NET_CLOSED;
        }
        if (s->close_after) {
            f->connected = 0;
            f->cur++;
            f->off = 0;
            f->served = 0;
            return 0;
        }
        return SPO_E_NET_TIMEOUT;
    }
    size_t n = end - f->off;
    if (f->split && n > f->split)
        n = f->split;
    if (n > len)
        n = len;
    memcpy(buf, s->resp + f->off, n);
    f->off += n;
    f->served = 1;
    return (int)n;
}

static void f_close(void *ctx)
{
    fake_transport *f = ctx;
    if (f->connected && f->served) {
        f->cur++;
        f->off = 0;
        f->served = 0;
    }
    f->connected = 0;
}

spo_http_transport fake_as_transport(fake_transport *f)
{
    return (spo_http_transport){ f, f_connect, f_send, f_recv, f_close };
}

int fake_sent_count(const fake_transport *f, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= f->sent_len; i++)
        if (memcmp(f->sent + i, needle, nl) == 0)
            n++;
    return n;
}
