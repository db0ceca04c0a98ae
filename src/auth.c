/* Client-credentials token requests, with a secret or a certificate's assertion. */
#include "spo/auth.h"

#include "auth_priv.h"

#include <mbedtls/platform_util.h>
#include <string.h>

int spo_form_append(char *dst, size_t cap, size_t *pos, const char *s, size_t len)
{
    return spo_url_encode_append(dst, cap, pos, s, len);
}

static int append_raw(char *dst, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (cap - *pos <= n)
        return SPO_E_TOO_LONG;
    memcpy(dst + *pos, s, n + 1);
    *pos += n;
    return SPO_OK;
}

void spo_auth_aadsts(const char *d, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (strncmp(d, "AADSTS", 6) != 0 || cap < 16)
        return;
    while (n < 6 + 9 && (n < 6 || (d[n] >= '0' && d[n] <= '9')))
        n++;
    if (n == 6)
        return;
    memcpy(out, d, n);
    out[n] = '\0';
}

int spo_token_fresh(const spo_token *t, uint64_t now_ms)
{
    if (t->len == 0)
        return 0;
    uint64_t life_ms = (uint64_t)t->lifetime_s * 1000u;
    uint64_t margin = (uint64_t)SPO_TOKEN_REFRESH_MARGIN_S * 1000u;
    /* A short-lived token would never be "fresh" with a fixed margin: keep it half its life. */
    uint64_t usable = life_ms > 2 * margin ? life_ms - margin : life_ms / 2;
    return now_ms >= t->obtained_ms && now_ms - t->obtained_ms < usable;
}

void spo_auth_wipe(spo_auth *a)
{
    mbedtls_platform_zeroize(a, sizeof *a);
}

/* The body is JSON for success and for errors alike; statuses only decide how to read it. */
typedef struct token_read {
    spo_json_reader *r;
    spo_diag *diag;
    int64_t wall;
    int64_t *date;
    int status;
    int json_err;
} token_read;

static int on_status(void *ctx, int status, spo_span reason)
{
    (void)reason;
    ((token_read *)ctx)->status = status;
    return 0;
}

static int on_header(void *ctx, spo_span name, spo_span value)
{
    token_read *t = ctx;
    if (spo_http_span_ieq(name, "date")) {
        int64_t d;
        if (spo_http_date(value, &d) == SPO_OK)
            *t->date = d;
        return 0;
    }
    if (!spo_http_span_ieq(name, "retry-after"))
        return 0;
    uint32_t ms;
    if (spo_http_retry_after(value, t->wall, &ms) == SPO_OK)
        t->diag->retry_after_ms = ms;
    return 0;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    token_read *t = ctx;
    if (t->json_err)
        return 0;
    int rc = spo_json_reader_feed(t->r, data, len);
    if (rc != SPO_OK)
        t->json_err = rc;
    return 0; /* read the rest so the error (if any) is reported with its HTTP status */
}

/* Parse expires_in, which Entra sends as a number and v1-style endpoints as a string. */
static int parse_lifetime(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return SPO_E_JSON_SHAPE;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000u)
            return SPO_E_JSON_SHAPE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = (uint32_t)v;
    return SPO_OK;
}

int spo_auth_token_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* First line only: descriptions end in "\r\nTrace ID: ...". */
static void first_line(char *s)
{
    while (*s && *s != '\r' && *s != '\n')
        s++;
    *s = '\0';
}

static int token_request(spo_auth *a, const spo_auth_config *cfg, spo_http_conn *conn,
                         spo_json_reader *r, uint64_t now_ms, int64_t wall, spo_diag *diag)
{
    int rc;
    size_t pos = 0;
    char *b = a->body;
    const size_t cap = sizeof a->body;
    char *target = a->url;
    spo_url url;

    memset(diag, 0, sizeof *diag);
    a->date = 0;
    if (!cfg->authority || !cfg->tenant || !cfg->client_id || !cfg->scope ||
        !cfg->secret == !cfg->cert ||
        (cfg->cert && (!cfg->entropy || !cfg->cert->assertion_form)))
        return SPO_E_ARG;

    /* {authority}/{tenant}/oauth2/v2.0/token; the authority may carry a path (ADFS-style hosts). */
    size_t alen = strlen(cfg->authority);
    while (alen > 0 && cfg->authority[alen - 1] == '/')
        alen--;
    size_t tlen = strlen(cfg->tenant);
    static const char tail[] = "/oauth2/v2.0/token";
    if (alen + 1 + tlen + sizeof tail > sizeof a->url)
        return SPO_E_TOO_LONG;
    memcpy(target, cfg->authority, alen);
    target[alen] = '/';
    memcpy(target + alen + 1, cfg->tenant, tlen);
    memcpy(target + alen + 1 + tlen, tail, sizeof tail);
    rc = spo_url_parse(target, strlen(target), &url);
    if (rc != SPO_OK)
        return rc;

    if ((rc = append_raw(b, cap, &pos, "grant_type=client_credentials&client_id=")) ||
        (rc = spo_form_append(b, cap, &pos, cfg->client_id, strlen(cfg->client_id))) ||
        (rc = append_raw(b, cap, &pos, "&scope=")) ||
        (rc = spo_form_append(b, cap, &pos, cfg->scope, strlen(cfg->scope)))) {
        mbedtls_platform_zeroize(a->body, sizeof a->body);
        return rc;
    }
    if (cfg->cert) {
        /* Sign with no TLS connection open: a connection to a Microsoft-shaped chain holds 35-38 KB
         * of the pool and RSA-4096 signing 16 KB more; together they do not fit. The login host
         * may be the one still open (or Graph's): either way it is reopened after signing. */
        spo_http_conn_close(conn);
        spo_assertion_params ap = { target, cfg->client_id, wall, cfg->jwt_alg, cfg->entropy,
                                    cfg->entropy_ctx };
        rc = cfg->cert->assertion_form(cfg->cert, &ap, b, cap, &pos); /* linked by the load */
    } else {
        if ((rc = append_raw(b, cap, &pos, "&client_secret=")) == SPO_OK)
            rc = spo_form_append(b, cap, &pos, cfg->secret, strlen(cfg->secret));
    }
    if (rc != SPO_OK) {
        mbedtls_platform_zeroize(a->body, sizeof a->body);
        return rc;
    }

    static const spo_http_header hdr[] = {
        { "Content-Type", SPO_SPAN_LIT("application/x-www-form-urlencoded"), 0 },
    };
    spo_http_request req = { "POST", &url, hdr, 1, (const uint8_t *)b, pos, NULL, NULL, NULL };

    spo_token *t = &a->token;
    mbedtls_platform_zeroize(t, sizeof *t);
    spo_json_capture caps[] = {
        { { "access_token", NULL }, t->bearer + SPO_BEARER_PREFIX_LEN, SPO_TOKEN_MAX, 0, 0, 0, 0, 0 },
        { { "expires_in", NULL }, a->expires_in, sizeof a->expires_in, 1, 0, 0, 0, 0 },
        { { "token_type", NULL }, a->token_type, sizeof a->token_type, 1, 0, 0, 0, 0 },
        { { "error", NULL }, diag->code, sizeof diag->code, 1, 0, 0, 0, 0 },
        { { "error_description", NULL }, diag->message, sizeof diag->message, 1, 0, 0, 0, 0 },
        { { "trace_id", NULL }, diag->request_id, sizeof diag->request_id, 1, 0, 0, 0, 0 },
    };
    spo_json_reader_init(r, caps, sizeof caps / sizeof caps[0], NULL, NULL, NULL);
    token_read tr = { r, diag, wall, &a->date, 0, 0 };
    spo_http_callbacks cb = { &tr, on_status, on_header, NULL, on_body };

    rc = spo_http_conn_exchange(conn, &req, &cb);
    mbedtls_platform_zeroize(a->body, sizeof a->body);
    if (caps[4].found) {
        first_line(diag->message);
        spo_auth_aadsts(diag->message, diag->aadsts, sizeof diag->aadsts);
    }
    /* Whatever happens next, the texts captured from the server are safe to print. */
    spo_diag_clean(diag);
    /* One TLS connection at a time: the login host is done with once the token is in hand. */
    spo_http_conn_close(conn);
    if (rc < 0) {
        mbedtls_platform_zeroize(t, sizeof *t);
        /* The token alone can overflow its buffer; say so rather than "malformed". */
        return rc;
    }
    if (!tr.json_err)
        tr.json_err = spo_json_reader_finish(r);
    diag->status = rc;

    if (rc != 200) {
        mbedtls_platform_zeroize(t, sizeof *t);
        return SPO_E_AUTH;
    }
    if (tr.json_err) {
        mbedtls_platform_zeroize(t, sizeof *t);
        return tr.json_err;
    }
    uint32_t life = 0;
    if (!caps[0].found || caps[0].type != SPO_JSON_STRING || caps[0].len == 0 || !caps[1].found ||
        !spo_auth_token_text(t->bearer + SPO_BEARER_PREFIX_LEN, caps[0].len) ||
        parse_lifetime(a->expires_in, &life) != SPO_OK) {
        mbedtls_platform_zeroize(t, sizeof *t);
        return SPO_E_JSON_SHAPE;
    }
    memcpy(t->bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN);
    t->len = caps[0].len;
    t->lifetime_s = life;
    t->obtained_ms = now_ms;
    t->expires_wall = wall + (int64_t)life;
    return SPO_OK;
}

int spo_auth_client_credentials(spo_auth *a, const spo_auth_config *cfg, spo_http_conn *conn,
                                spo_json_reader *r, uint64_t now_ms, int64_t wall,
                                spo_diag *diag)
{
    return token_request(a, cfg, conn, r, now_ms, wall, diag);
}

int spo_auth_clock_probe(spo_auth *a, const spo_auth_config *cfg, spo_http_conn *conn,
                         spo_json_reader *r, spo_diag *diag)
{
    (void)r;
    memset(diag, 0, sizeof *diag);
    a->date = 0;
    if (!cfg->authority || !cfg->tenant)
        return SPO_E_ARG;
    size_t alen = strlen(cfg->authority);
    while (alen > 0 && cfg->authority[alen - 1] == '/')
        alen--;
    size_t tlen = strlen(cfg->tenant);
    static const char tail[] = "/v2.0/.well-known/openid-configuration";
    if (alen + 1 + tlen + sizeof tail > sizeof a->url)
        return SPO_E_TOO_LONG;
    memcpy(a->url, cfg->authority, alen);
    a->url[alen] = '/';
    memcpy(a->url + alen + 1, cfg->tenant, tlen);
    memcpy(a->url + alen + 1 + tlen, tail, sizeof tail);
    spo_url url;
    int rc = spo_url_parse(a->url, strlen(a->url), &url);
    if (rc != SPO_OK)
        return rc;
    spo_http_request req = { .method = "GET", .url = &url };
    token_read tr = { r, diag, 0, &a->date, 0, 0 };
    /* only the Date header and the status: the metadata itself is not needed */
    spo_http_callbacks cb = { &tr, on_status, on_header, NULL, NULL };
    rc = spo_http_conn_exchange(conn, &req, &cb);
    spo_http_conn_close(conn);
    if (rc < 0)
        return rc;
    diag->status = rc;
    return a->date ? SPO_OK : SPO_E_AUTH;
}
