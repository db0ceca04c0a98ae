/* spo — trusted roots from a PEM bundle, found per verification and never loaded whole.
 *
 * For each certificate mbedTLS needs a parent for, the bundle is streamed once: each PEM block is
 * base64-decoded on the fly into a DER walker that skips to the subject and compares it, byte by
 * byte, with the child's issuer. Nothing is stored for the ~140 roots that do not match; a match is
 * decoded a second time into one pool block that holds both the mbedtls_x509_crt and its DER.
 * Comparing encoded names is enough because RFC 5280 4.1.2.6 requires a CA to encode its subject
 * exactly as it encodes the issuer of every certificate it signs. */
#include "tls_priv.h"

#include <mbedtls/platform.h>

#include <string.h>

#define RD_END (-1)
static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";

/* Random access to the bundle through one window of t->ca_buf: scanning is sequential, and the
 * rare second pass over a matching block simply moves the window. */
typedef struct reader {
    spo_tls *t;
    uint64_t base;
    size_t n;
} reader;

static int rd_at(reader *r, uint64_t pos)
{
    const spo_trust *tr = &r->t->trust;
    if (tr->pem)
        return pos < tr->pem_len ? tr->pem[pos] : RD_END;
    if (pos >= r->base && pos - r->base < r->n)
        return r->t->ca_buf[pos - r->base];
    const spo_port *p = r->t->port;
    if (!p->file_read)
        return SPO_E_TLS_TRUST;
    int got = p->file_read(p->ctx, tr->pem_path, pos, r->t->ca_buf, sizeof r->t->ca_buf);
    if (got < 0 || (size_t)got > sizeof r->t->ca_buf)
        return SPO_E_TLS_TRUST;
    if (got == 0)
        return RD_END;
    r->base = pos;
    r->n = (size_t)got;
    return r->t->ca_buf[0];
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

typedef struct b64 {
    uint32_t acc;
    uint8_t n, pad;
} b64;

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Bytes completed by c into out (0-3), or -1 if c cannot occur here. */
static int b64_feed(b64 *s, int c, uint8_t out[3])
{
    int v;
    if (c == '=') {
        if (s->n < 2)
            return -1;
        v = 0;
        s->pad++;
    } else {
        v = b64_val(c);
        if (v < 0 || s->pad)
            return -1;
    }
    s->acc = s->acc << 6 | (uint32_t)v;
    if (++s->n < 4)
        return 0;
    out[0] = (uint8_t)(s->acc >> 16);
    out[1] = (uint8_t)(s->acc >> 8);
    out[2] = (uint8_t)s->acc;
    s->n = 0;
    s->acc = 0;
    return 3 - s->pad;
}

/* The walk: Certificate SEQ, TBSCertificate SEQ, [0] version (optional), serial INTEGER,
 * signature SEQ, issuer SEQ, validity SEQ, then the subject SEQ, which is compared. */
enum { DW_HDR, DW_SKIP, DW_CMP, DW_MATCH, DW_NOMATCH };
enum { ST_CERT, ST_TBS, ST_VERSION, ST_SERIAL, ST_SIGALG, ST_ISSUER, ST_VALIDITY, ST_SUBJECT };

typedef struct dw {
    const uint8_t *want; /* the child's issuer, DER with tag and length */
    size_t want_len, total, left, at;
    uint8_t state, step, hn, hb[6];
} dw;

static void dw_skip(dw *w, size_t len)
{
    w->left = len;
    w->state = len ? DW_SKIP : DW_HDR;
}

static void dw_element(dw *w, uint8_t tag, size_t hl, size_t len, unsigned *skipped)
{
    uint8_t step = w->step;
    w->hn = 0;
    w->state = DW_NOMATCH;
    if (step == ST_CERT && tag == 0x30) {
        if (len > SPO_TLS_CA_DER_MAX - hl) {
            (*skipped)++;
            return;
        }
        w->total = hl + len;
        w->step = ST_TBS;
        w->state = DW_HDR;
    } else if (step == ST_TBS && tag == 0x30) {
        w->step = ST_VERSION;
        w->state = DW_HDR;
    } else if (step == ST_VERSION && tag == 0xA0) {
        w->step = ST_SERIAL;
        dw_skip(w, len);
    } else if ((step == ST_VERSION || step == ST_SERIAL) && tag == 0x02) {
        w->step = ST_SIGALG;
        dw_skip(w, len);
    } else if (step >= ST_SIGALG && step < ST_SUBJECT && tag == 0x30) {
        w->step++;
        dw_skip(w, len);
    } else if (step == ST_SUBJECT && tag == 0x30 && hl <= w->want_len &&
               len == w->want_len - hl && memcmp(w->hb, w->want, hl) == 0) {
        w->at = hl;
        w->state = w->at == w->want_len ? DW_MATCH : DW_CMP;
    }
}

static void dw_feed(dw *w, uint8_t byte, unsigned *skipped)
{
    if (w->state == DW_SKIP) {
        if (--w->left == 0)
            w->state = DW_HDR;
        return;
    }
    if (w->state == DW_CMP) {
        if (byte != w->want[w->at++])
            w->state = DW_NOMATCH;
        else if (w->at == w->want_len)
            w->state = DW_MATCH;
        return;
    }
    if (w->state != DW_HDR)
        return;
    w->hb[w->hn++] = byte;
    if (w->hn < 2)
        return;
    size_t nlen = (w->hb[1] & 0x80) ? (size_t)(w->hb[1] & 0x7f) : 0;
    if (w->hb[1] == 0x80 || nlen > 4) { /* indefinite length is not DER; > 4 GB is not a cert */
        w->state = DW_NOMATCH;
        return;
    }
    if (w->hn < 2 + nlen)
        return;
    size_t len = nlen ? 0 : w->hb[1];
    for (size_t i = 0; i < nlen; i++)
        len = len << 8 | w->hb[2 + i];
    dw_element(w, w->hb[0], 2 + nlen, len, skipped);
}

/* Decode the block whose base64 starts at body into a new pool block and append it to *tail. */
static int take(spo_tls *t, reader *rd, uint64_t body, size_t total, mbedtls_x509_crt ***tail)
{
    spo_tls_pool_stats st;
    spo_tls_pool_get(&st);
    size_t fails = st.failures;
    mbedtls_x509_crt *crt = mbedtls_calloc(1, sizeof *crt + total);
    if (!crt)
        return SPO_E_TLS_POOL;
    mbedtls_x509_crt_init(crt);
    uint8_t *der = (uint8_t *)(crt + 1);
    b64 b = { 0, 0, 0 };
    size_t got = 0;
    for (uint64_t pos = body; got < total; pos++) {
        int c = rd_at(rd, pos), n;
        uint8_t out[3];
        if (c < RD_END) {
            mbedtls_free(crt);
            return c;
        }
        if (c == RD_END || c == '-')
            break;
        if (is_space(c))
            continue;
        if ((n = b64_feed(&b, c, out)) < 0)
            break;
        for (int i = 0; i < n && got < total; i++)
            der[got++] = out[i];
    }
    /* nocopy: the DER lives in the same block, so mbedTLS's own free of the chain entry (or of the
     * list head by the verifier) releases both together. */
    if (got != total || mbedtls_x509_crt_parse_der_nocopy(crt, der, total) != 0) {
        mbedtls_x509_crt_free(crt);
        mbedtls_free(crt);
        spo_tls_pool_get(&st);
        if (st.failures != fails)
            return SPO_E_TLS_POOL;
        t->ca_skipped++;
        return SPO_OK;
    }
    **tail = crt;
    *tail = &crt->next;
    return SPO_OK;
}

/* With child == NULL, only checks that the bundle is readable and has a certificate. */
static int scan(spo_tls *t, const mbedtls_x509_crt *child, mbedtls_x509_crt ***tail)
{
    enum { OUT, HEADLINE, BODY } phase = OUT;
    reader rd = { t, 0, 0 };
    size_t mi = 0;
    int skipline = 0;
    uint64_t body = 0;
    b64 b = { 0, 0, 0 };
    dw w;
    memset(&w, 0, sizeof w);
    for (uint64_t pos = 0;; pos++) {
        int c = rd_at(&rd, pos);
        if (c == RD_END)
            return child ? SPO_OK : SPO_E_TLS_TRUST;
        if (c < 0)
            return c;
        if (phase == OUT) {
            if (c == '\n') {
                mi = 0;
                skipline = 0;
            } else if (!skipline && c == pem_begin[mi]) {
                if (++mi == sizeof pem_begin - 1) {
                    if (!child)
                        return SPO_OK;
                    phase = HEADLINE;
                }
            } else {
                skipline = 1;
            }
        } else if (phase == HEADLINE) {
            if (c == '\n') {
                phase = BODY;
                body = pos + 1;
                memset(&b, 0, sizeof b);
                memset(&w, 0, sizeof w);
                w.want = child->issuer_raw.p;
                w.want_len = child->issuer_raw.len;
            }
        } else if (c == '-') { /* the END line: base64 has no '-' */
            if (w.state == DW_MATCH) {
                int rc = take(t, &rd, body, w.total, tail);
                if (rc != SPO_OK)
                    return rc;
            }
            phase = OUT;
            skipline = 1;
        } else if (!is_space(c) && (w.state == DW_HDR || w.state == DW_SKIP || w.state == DW_CMP)) {
            uint8_t out[3];
            int n = b64_feed(&b, c, out);
            if (n < 0) {
                w.state = DW_NOMATCH;
                t->ca_skipped++;
            }
            for (int i = 0; i < n; i++)
                dw_feed(&w, out[i], &t->ca_skipped);
        }
    }
}

int spo_tls_trust_check(spo_tls *t)
{
    return scan(t, NULL, NULL);
}

int spo_tls_trust_ca_cb(void *p_ctx, const mbedtls_x509_crt *child, mbedtls_x509_crt **candidates)
{
    spo_tls *t = p_ctx;
    mbedtls_x509_crt *head = NULL, **tail = &head;
    *candidates = NULL;
    int rc = scan(t, child, &tail);
    if (rc != SPO_OK) {
        if (rc == SPO_E_TLS_TRUST)
            t->trust_err = 1;
        mbedtls_x509_crt_free(head);
        mbedtls_free(head);
        return MBEDTLS_ERR_X509_FATAL_ERROR;
    }
    *candidates = head;
    return 0;
}
