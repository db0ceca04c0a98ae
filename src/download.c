/* Downloads: Graph's content redirect, then the pre-authenticated URL on its own host without the
 * token, resumed with Range after a break, checked by size and quickXorHash as the bytes stream. */
#include "spo/drive.h"

#include <string.h>

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

static int dl_status(void *ctx, int status, spo_span reason)
{
    (void)reason;
    ((spo_download *)ctx)->status = status;
    return 0;
}

static int dl_header(void *ctx, spo_span name, spo_span value)
{
    spo_download *dl = ctx;
    if (spo_http_span_ieq(name, "content-range") && dl->status == 206) {
        uint64_t first, last, total;
        if (spo_http_content_range(value, &first, &last, &total) == SPO_OK) {
            dl->range_first = first;
            dl->range_total = total;
            dl->range_ok = 1;
        }
    } else if (spo_http_span_ieq(name, "retry-after")) {
        uint32_t ms;
        if (spo_http_retry_after(value, 0, &ms) == SPO_OK) {
            dl->retry_after_ms = ms;
            dl->has_retry_after = 1;
        }
    }
    return 0;
}

/* The answer's headers are in: decide whether its body is the rest of the file. */
static int dl_headers_done(void *ctx)
{
    spo_download *dl = ctx;
    if (dl->status == 200 && dl->received > 0) {
        /* The server ignored the Range: it sends the whole file again. */
        int rc = dl->sink->restart(dl->sink->ctx);
        if (rc != SPO_OK) {
            dl->sink_rc = rc;
            return rc;
        }
        dl->received = 0;
        spo_qxh_init(&dl->qxh);
    } else if (dl->status == 206) {
        if (!dl->range_ok || dl->range_first != dl->received ||
            (dl->range_total != UINT64_MAX && dl->range_total != dl->meta.size))
            return SPO_E_HTTP_PARSE; /* not the part asked for, or another file's */
    }
    /* A declared length other than the file's (200) or more than what is missing (206; a shorter
     * part is resumed after): another file, or a changed one, refused before a byte of it reaches
     * the sink. */
    uint64_t missing = dl->meta.size - dl->received, cl = dl->conn->parser.content_length;
    if ((dl->status == 200 || dl->status == 206) &&
        dl->conn->parser.framing == SPO_HTTP_FRAMING_LENGTH &&
        (cl > missing || (dl->status == 200 && cl != missing))) {
        dl->too_much = 1;
        return SPO_E_INTEGRITY;
    }
    return 0;
}

static int dl_body(void *ctx, const uint8_t *data, size_t len)
{
    spo_download *dl = ctx;
    if (dl->status != 200 && dl->status != 206)
        return 0; /* an error page */
    if (len > dl->meta.size - dl->received) {
        dl->too_much = 1; /* more than the file has: the size check fails, nothing is written */
        return SPO_E_INTEGRITY;
    }
    spo_qxh_update(&dl->qxh, data, len);
    int rc = dl->sink->write(dl->sink->ctx, data, len);
    if (rc != SPO_OK) {
        dl->sink_rc = rc;
        return rc;
    }
    dl->received += len;
    return 0;
}

static void fail_status(spo_graph *g, int status, const char *msg)
{
    memset(g->diag, 0, sizeof *g->diag);
    g->diag->status = status;
    strncpy(g->diag->message, msg, sizeof g->diag->message - 1);
}

/* One GET of the download URL from dl->received on. Returns the HTTP status or a negative one. */
static int transfer(spo_graph *g, spo_download *dl)
{
    spo_url url;
    int rc = spo_url_parse_max(dl->url, strlen(dl->url), sizeof dl->url, &url);
    if (rc != SPO_OK)
        return rc;
    char range[48] = "bytes=";
    size_t n = 6;
    char digits[24];
    size_t k = sizeof digits;
    uint64_t v = dl->received;
    do {
        digits[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(range + n, digits + k, sizeof digits - k);
    n += sizeof digits - k;
    range[n++] = '-';
    range[n] = '\0';
    /* No Authorization: the URL is pre-authenticated, and the bearer token is for Graph only. */
    spo_http_header h[2] = { { "Accept", SPO_SPAN_LIT("*/*"), 0 }, { "Range", { range, n }, 0 } };
    spo_http_request req = { "GET", &url, h, dl->received ? 2 : 1, NULL, 0, NULL, NULL, NULL };
    spo_http_callbacks cb = { dl, dl_status, dl_header, dl_headers_done, dl_body };
    dl->status = 0;
    dl->range_ok = 0;
    dl->has_retry_after = 0;
    dl->transfers++;
    return spo_http_conn_exchange(g->conn, &req, &cb);
}

static int download(spo_graph *g, spo_drive_ref *d, spo_download *dl)
{
    uint32_t waits = 0;
    for (;;) {
        if (!dl->url[0]) {
            if (dl->redirects > SPO_DOWNLOAD_REDIRECTS)
                return SPO_E_GRAPH; /* diag: the last download URL's refusal */
            dl->redirects++;
            int rc = spo_drive_content_url(g, d, dl->meta.id, dl->url, sizeof dl->url);
            if (rc != SPO_OK)
                return rc;
            d->failed = SPO_PART_ITEM; /* the download host's errors are the item's too */
        }
        int rc = transfer(g, dl);
        if (dl->sink_rc)
            return dl->sink_rc;
        if (dl->too_much)
            return SPO_E_INTEGRITY;
        if ((rc == 200 || rc == 206) && dl->received == dl->meta.size)
            return SPO_OK;
        if (rc == 200 || rc == 206)
            rc = SPO_E_HTTP_TRUNCATED; /* a complete answer that ended short: resume it */
        if (rc == 401 || rc == 403 || rc == 404 || rc == 410) {
            /* The URL expired, or the file was replaced: a new one from Graph. */
            fail_status(g, rc, "the download URL was refused");
            wipe(dl->url, sizeof dl->url);
            continue;
        }
        int again =
            spo_graph_transient(rc) || rc == SPO_E_HTTP_PARSE || spo_graph_retry_status(rc);
        if (!again) {
            if (rc > 0)
                fail_status(g, rc, "the download host refused the request");
            return rc > 0 ? SPO_E_GRAPH : rc;
        }
        if (dl->transfers >= SPO_DOWNLOAD_ATTEMPTS) {
            if (rc > 0)
                fail_status(g, rc, "the download host kept failing");
            return rc > 0 ? SPO_E_GRAPH : rc;
        }
        uint32_t wait = dl->has_retry_after ? dl->retry_after_ms
                      : rc > 0 ? spo_graph_backoff(g, waits++) : 0;
        /* A broken connection is resumed at once: the bytes so far are kept. */
        if (wait && g->sleep_ms)
            g->sleep_ms(g->clock_ctx, wait);
    }
}

int spo_drive_download(spo_graph *g, spo_drive_ref *d, spo_download *dl,
                       const spo_download_sink *sink)
{
    if (!g || !d || !dl || !sink || !sink->write || !sink->restart || !dl->meta.id[0] ||
        dl->meta.folder)
        return SPO_E_ARG;
    dl->url[0] = '\0';
    dl->received = 0;
    dl->transfers = dl->redirects = 0;
    dl->hash_checked = 0;
    dl->hash[0] = '\0';
    dl->sink = sink;
    dl->conn = g->conn;
    dl->sink_rc = 0;
    dl->too_much = 0;
    spo_qxh_init(&dl->qxh);
    d->failed = SPO_PART_ITEM;
    int rc = download(g, d, dl);
    wipe(dl->url, sizeof dl->url);
    if (rc != SPO_OK)
        return rc;
    spo_qxh_final(&dl->qxh, dl->hash);
    if (dl->received != dl->meta.size)
        return SPO_E_INTEGRITY;
    if (dl->meta.qxh[0]) {
        if (strcmp(dl->hash, dl->meta.qxh) != 0)
            return SPO_E_INTEGRITY;
        dl->hash_checked = 1;
    }
    d->failed = SPO_PART_NONE;
    return SPO_OK;
}
