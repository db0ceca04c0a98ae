/* Delegated sign-in: the device code flow (RFC 8628) and the refresh-token grant, against the
 * Microsoft identity platform. See spo/auth.h for the protocol and the memory. */
#include "spo/auth.h"

#include "auth_priv.h"

#include <mbedtls/platform_util.h>
#include <string.h>

#define MAX_SECONDS 86400u /* expires_in / interval of a device code: a day at most */
#define MAX_INTERVAL 3600u /* slow_down never stretches the interval past an hour */

/* ---- one form POST to the identity platform, its JSON answer streamed into captures ---- */

typedef struct exch {
    spo_json_reader *r;
    spo_diag *diag;
    int64_t wall;
    int status;
    int json_err;
} exch;

static int on_status(void *ctx, int status, spo_span reason)
{
    (void)reason;
    ((exch *)ctx)->status = status;
    return 0;
}

static int on_header(void *ctx, spo_span name, spo_span value)
{
    exch *x = ctx;
    uint32_t ms;
    if (spo_http_span_ieq(name, "retry-after") && spo_http_retry_after(value, x->wall, &ms) == SPO_OK)
        x->diag->retry_after_ms = ms;
    return 0;
}

static int on_body(void *ctx, const uint8_t *data, size_t len)
{
    exch *x = ctx;
    if (!x->json_err)
        x->json_err = spo_json_reader_feed(x->r, data, len);
    return 0; /* read to the end, so that an error is reported with its HTTP status */
}

static int put(char *dst, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (cap - *pos <= n)
        return SPO_E_TOO_LONG;
    memcpy(dst + *pos, s, n + 1);
    *pos += n;
    return SPO_OK;
}

/* "name=" + the URL-encoded value, after "&" unless first. */
static int field(spo_delegated *d, size_t *pos, const char *name, const char *value)
{
    int rc = put(d->body, sizeof d->body, pos, *pos ? "&" : "");
    if (rc == SPO_OK)
        rc = put(d->body, sizeof d->body, pos, name);
    if (rc == SPO_OK)
        rc = put(d->body, sizeof d->body, pos, "=");
    if (rc == SPO_OK)
        rc = spo_form_append(d->body, sizeof d->body, pos, value, strlen(value));
    return rc;
}

/* Seconds as the service sends them: a JSON number, or the same digits in a string. */
static int seconds(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return SPO_E_JSON_SHAPE;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > hi)
            return SPO_E_JSON_SHAPE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v < lo || v > hi)
        return SPO_E_JSON_SHAPE;
    *out = (uint32_t)v;
    return SPO_OK;
}

/* A value that goes back to the service (the device code in the poll's form, the access token in
 * an Authorization header, the refresh token in the refresh form and the token cache) must be
 * text: a control character (\u0000 above all, which would cut the C string short of its length)
 * makes the answer malformed rather than a credential that fails later. */
static int clean_value(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static void say(spo_diag *diag, const char *text)
{
    size_t n = strlen(text);
    if (n >= sizeof diag->message)
        n = sizeof diag->message - 1;
    memcpy(diag->message, text, n);
    diag->message[n] = '\0';
}

/* The captures every answer starts with, so that errors are read the same way. The device code
 * answer has no room for trace_id (SPO_JSON_MAX_CAPTURES): ERROR_CAPTURES only there. */
#define ERROR_CAPTURES(diag)                                                                       \
    { { "error", NULL }, (diag)->code, sizeof (diag)->code, 1, 0, 0, 0, 0 },                       \
    { { "error_description", NULL }, (diag)->message, sizeof (diag)->message, 1, 0, 0, 0, 0 }
#define TRACE_CAPTURE(diag)                                                                        \
    { { "trace_id", NULL }, (diag)->request_id, sizeof (diag)->request_id, 1, 0, 0, 0, 0 }

/* POST d->body[0, len) to {authority}/{tenant}/oauth2/v2.0/{endpoint} and stream the answer into
 * caps (the first two are ERROR_CAPTURES). Returns the HTTP status, or a negative status. The
 * body is left to the caller to zero; the connection is closed. *json_err gets the reader's
 * verdict (SPO_OK or an error). */
static int post_form(spo_delegated *d, const spo_auth_config *cfg, const char *endpoint, size_t len,
                     spo_http_conn *conn, spo_json_reader *r, spo_json_capture *caps, size_t ncaps,
                     int64_t wall, spo_diag *diag, int *json_err)
{
    spo_url url;
    size_t alen = strlen(cfg->authority), tlen = strlen(cfg->tenant), elen = strlen(endpoint);
    static const char mid[] = "/oauth2/v2.0/";
    while (alen > 0 && cfg->authority[alen - 1] == '/')
        alen--;
    if (alen + 1 + tlen + (sizeof mid - 1) + elen + 1 > sizeof d->url)
        return SPO_E_TOO_LONG;
    char *u = d->url;
    memcpy(u, cfg->authority, alen);
    u[alen] = '/';
    memcpy(u + alen + 1, cfg->tenant, tlen);
    memcpy(u + alen + 1 + tlen, mid, sizeof mid - 1);
    memcpy(u + alen + 1 + tlen + sizeof mid - 1, endpoint, elen + 1);
    int rc = spo_url_parse(u, strlen(u), &url);
    if (rc != SPO_OK)
        return rc;

    static const spo_http_header hdr[] = {
        { "Content-Type", SPO_SPAN_LIT("application/x-www-form-urlencoded"), 0 },
    };
    spo_http_request req = { .method = "POST", .url = &url, .headers = hdr, .nheaders = 1,
                             .body = (const uint8_t *)d->body, .body_len = len };
    spo_json_reader_init(r, caps, ncaps, NULL, NULL, NULL);
    exch x = { r, diag, wall, 0, 0 };
    spo_http_callbacks cb = { &x, on_status, on_header, NULL, on_body };
    rc = spo_http_conn_exchange(conn, &req, &cb);
    if (caps[1].found) {
        /* First line only: descriptions end in "\r\nTrace ID: ...". */
        char *m = diag->message;
        while (*m && *m != '\r' && *m != '\n')
            m++;
        *m = '\0';
        spo_auth_aadsts(diag->message, diag->aadsts, sizeof diag->aadsts);
    }
    spo_diag_clean(diag);
    spo_http_conn_close(conn); /* one TLS connection at a time */
    if (rc < 0)
        return rc;
    *json_err = x.json_err ? x.json_err : spo_json_reader_finish(r);
    diag->status = rc;
    return rc;
}

static int config_ok(const spo_auth_config *cfg)
{
    return cfg && cfg->authority && cfg->tenant && cfg->client_id && cfg->scope &&
           cfg->client_id[0] && cfg->scope[0];
}

/* ---- the device code ---- */

int spo_device_start(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                     spo_json_reader *r, int64_t wall, spo_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    spo_delegated_wipe(d);
    if (!config_ok(cfg))
        return SPO_E_ARG;
    size_t pos = 0;
    int rc = field(d, &pos, "client_id", cfg->client_id);
    if (rc == SPO_OK)
        rc = field(d, &pos, "scope", cfg->scope);
    if (rc != SPO_OK) {
        say(diag, "the scope is longer than the request body (SPO_DELEGATED_BODY_MAX)");
        spo_delegated_wipe(d);
        return rc;
    }
    spo_json_capture caps[] = {
        ERROR_CAPTURES(diag),
        { { "device_code", NULL }, d->device_code, sizeof d->device_code, 0, 0, 0, 0, 0 },
        { { "user_code", NULL }, d->user_code, sizeof d->user_code, 0, 0, 0, 0, 0 },
        { { "verification_uri", NULL }, d->verification_uri, sizeof d->verification_uri, 0, 0, 0, 0, 0 },
        { { "message", NULL }, d->message, sizeof d->message, 0, 0, 0, 0, 0 },
        { { "expires_in", NULL }, d->num[0], sizeof d->num[0], 0, 0, 0, 0, 0 },
        { { "interval", NULL }, d->num[1], sizeof d->num[1], 0, 0, 0, 0, 0 },
    };
    int json_err = SPO_OK;
    rc = post_form(d, cfg, "devicecode", pos, conn, r, caps, sizeof caps / sizeof caps[0], wall,
                   diag, &json_err);
    mbedtls_platform_zeroize(d->body, sizeof d->body);
    if (rc >= 0 && rc != 200)
        rc = SPO_E_AUTH;
    else if (rc == 200 && json_err == SPO_E_TOO_LONG) {
        say(diag, "a field of the device code answer is longer than its buffer (SPO_DEVICE_CODE_MAX, "
                  "SPO_USER_CODE_MAX, SPO_VERIFY_URI_MAX or SPO_DEVICE_MESSAGE_MAX)");
        rc = SPO_E_TOO_LONG;
    } else if (rc == 200 && json_err != SPO_OK)
        rc = json_err;
    else if (rc == 200) {
        d->expires_in = 900; /* Entra's documented defaults, for an answer without them */
        d->interval = 5;
        int shape = caps[2].found && caps[2].type == SPO_JSON_STRING && caps[2].len &&
                    caps[3].found && caps[3].type == SPO_JSON_STRING && caps[3].len &&
                    caps[4].found && caps[4].type == SPO_JSON_STRING && caps[4].len &&
                    clean_value(d->device_code, caps[2].len) &&
                    strlen(d->user_code) == caps[3].len && strlen(d->verification_uri) == caps[4].len &&
                    (!caps[5].found || caps[5].type == SPO_JSON_STRING) &&
                    (!caps[6].found || seconds(d->num[0], 1, MAX_SECONDS, &d->expires_in) == SPO_OK) &&
                    (!caps[7].found || seconds(d->num[1], 1, MAX_SECONDS, &d->interval) == SPO_OK);
        rc = shape ? SPO_OK : SPO_E_JSON_SHAPE;
    }
    if (rc != SPO_OK) {
        spo_diag saved = *diag;
        spo_delegated_wipe(d);
        *diag = saved;
        return rc;
    }
    spo_text_clean(d->user_code, 0); /* shown to the person: from the network */
    spo_text_clean(d->verification_uri, 0);
    spo_text_clean(d->message, 0);
    return SPO_OK;
}

/* ---- the token answer (poll success, refresh) ---- */

/* Read a token answer into d->token, d->refresh and d->scope. Returns the HTTP status (200 means
 * parsed and checked), or a negative status; on anything but 200 the tokens are zeroed. */
static int token_request(spo_delegated *d, const spo_auth_config *cfg, size_t len,
                         spo_http_conn *conn, spo_json_reader *r, uint64_t now_ms, int64_t wall,
                         spo_diag *diag, int *refresh_found)
{
    spo_token *t = &d->token;
    mbedtls_platform_zeroize(t, sizeof *t);
    mbedtls_platform_zeroize(d->refresh, sizeof d->refresh);
    d->scope[0] = '\0';
    spo_json_capture caps[] = {
        ERROR_CAPTURES(diag),
        TRACE_CAPTURE(diag),
        { { "access_token", NULL }, t->bearer + SPO_BEARER_PREFIX_LEN, SPO_TOKEN_MAX, 0, 0, 0, 0, 0 },
        { { "refresh_token", NULL }, d->refresh, sizeof d->refresh, 0, 0, 0, 0, 0 },
        { { "scope", NULL }, d->scope, sizeof d->scope, 0, 0, 0, 0, 0 },
        { { "expires_in", NULL }, d->num[0], sizeof d->num[0], 0, 0, 0, 0, 0 },
    };
    int json_err = SPO_OK;
    int rc = post_form(d, cfg, "token", len, conn, r, caps, sizeof caps / sizeof caps[0], wall, diag,
                       &json_err);
    uint32_t life = 0;
    if (rc == 200 && json_err == SPO_E_TOO_LONG) {
        say(diag, "the token answer holds a token or scope longer than its buffer (SPO_TOKEN_MAX, "
                  "SPO_REFRESH_MAX or SPO_GRANTED_SCOPE_MAX)");
        rc = SPO_E_TOO_LONG;
    } else if (rc == 200 && json_err != SPO_OK) {
        rc = json_err;
    } else if (rc == 200 &&
               (!caps[3].found || caps[3].type != SPO_JSON_STRING || caps[3].len == 0 ||
                !caps[6].found || seconds(d->num[0], 1, 100000000u, &life) != SPO_OK ||
                (caps[4].found && caps[4].type != SPO_JSON_STRING) ||
                !spo_auth_token_text(t->bearer + SPO_BEARER_PREFIX_LEN, caps[3].len) ||
                (caps[4].found && !spo_auth_token_text(d->refresh, caps[4].len)) ||
                (caps[5].found && caps[5].type != SPO_JSON_STRING))) {
        rc = SPO_E_JSON_SHAPE;
    }
    if (rc != 200) {
        mbedtls_platform_zeroize(t, sizeof *t);
        mbedtls_platform_zeroize(d->refresh, sizeof d->refresh);
        d->scope[0] = '\0';
        return rc;
    }
    memcpy(t->bearer, SPO_BEARER_PREFIX, SPO_BEARER_PREFIX_LEN);
    t->len = caps[3].len;
    t->lifetime_s = life;
    t->obtained_ms = now_ms;
    t->expires_wall = wall + (int64_t)life;
    spo_text_clean(d->scope, 0);
    *refresh_found = caps[4].found && caps[4].len > 0;
    return 200;
}

static const struct {
    const char *error;
    int outcome;
} POLL_ERRORS[] = {
    { "authorization_pending", SPO_DEVICE_PENDING },
    { "slow_down", SPO_DEVICE_SLOW_DOWN },
    { "authorization_declined", SPO_DEVICE_DECLINED },
    { "expired_token", SPO_DEVICE_EXPIRED },
    { "bad_verification_code", SPO_DEVICE_BAD_CODE },
};

int spo_device_poll(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                    spo_json_reader *r, uint64_t now_ms, int64_t wall, spo_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    if (!config_ok(cfg) || !d->device_code[0])
        return SPO_E_ARG;
    size_t pos = 0;
    int rc = field(d, &pos, "grant_type", SPO_DEVICE_GRANT);
    if (rc == SPO_OK)
        rc = field(d, &pos, "client_id", cfg->client_id);
    if (rc == SPO_OK)
        rc = field(d, &pos, "device_code", d->device_code);
    int found = 0;
    if (rc == SPO_OK)
        rc = token_request(d, cfg, pos, conn, r, now_ms, wall, diag, &found);
    mbedtls_platform_zeroize(d->body, sizeof d->body);
    int outcome = rc == 200 ? SPO_DEVICE_SUCCESS : rc < 0 ? rc : SPO_E_AUTH;
    for (size_t i = 0; rc >= 400 && rc < 500 && i < sizeof POLL_ERRORS / sizeof POLL_ERRORS[0]; i++)
        if (!strcmp(diag->code, POLL_ERRORS[i].error))
            outcome = POLL_ERRORS[i].outcome;
    if (outcome == SPO_DEVICE_SLOW_DOWN)
        d->interval = d->interval + SPO_DEVICE_SLOW_DOWN_S > MAX_INTERVAL
                          ? MAX_INTERVAL : d->interval + SPO_DEVICE_SLOW_DOWN_S;
    /* The flow is over: the device code is worth nothing but to an attacker. */
    if (outcome == SPO_DEVICE_SUCCESS || outcome == SPO_DEVICE_DECLINED ||
        outcome == SPO_DEVICE_EXPIRED || outcome == SPO_DEVICE_BAD_CODE)
        mbedtls_platform_zeroize(d->device_code, sizeof d->device_code);
    return outcome;
}

/* ---- the refresh grant ---- */

/* Decode the form value body[from, to) into out (cap > to - from always suffices). */
static void form_decode(const char *body, size_t from, size_t to, char *out)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        int hi = i + 2 < to ? spo_url_hexval((unsigned char)body[i + 1]) : -1;
        int lo = i + 2 < to ? spo_url_hexval((unsigned char)body[i + 2]) : -1;
        if (body[i] == '%' && hi >= 0 && lo >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = body[i];
        }
    }
    out[n] = '\0';
}

int spo_auth_refresh(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                     spo_json_reader *r, uint64_t now_ms, int64_t wall, spo_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    if (!config_ok(cfg) || !d->refresh[0]) {
        mbedtls_platform_zeroize(&d->token, sizeof d->token);
        mbedtls_platform_zeroize(d->refresh, sizeof d->refresh);
        return SPO_E_ARG;
    }
    size_t pos = 0, from, to = 0;
    int rc = field(d, &pos, "grant_type", "refresh_token");
    if (rc == SPO_OK)
        rc = field(d, &pos, "client_id", cfg->client_id);
    if (rc == SPO_OK)
        rc = field(d, &pos, "scope", cfg->scope);
    from = pos + sizeof "&refresh_token=" - 1;
    if (rc == SPO_OK)
        rc = field(d, &pos, "refresh_token", d->refresh); /* last: its value ends the body */
    int found = 0;
    if (rc == SPO_OK) {
        to = pos;
        rc = token_request(d, cfg, pos, conn, r, now_ms, wall, diag, &found);
    } else {
        say(diag, "the refresh token does not fit the request body (SPO_DELEGATED_BODY_MAX)");
    }
    /* The new refresh token replaces the old one. An answer without one, or a failure (the
     * caller may retry a 429, a 5xx or a broken connection), keeps the old one: it is still in
     * the body, which is ours alone. */
    if (to > from && (rc != 200 || !found))
        form_decode(d->body, from, to, d->refresh);
    mbedtls_platform_zeroize(d->body, sizeof d->body);
    if (rc != 200)
        mbedtls_platform_zeroize(&d->token, sizeof d->token);
    return rc == 200 ? SPO_OK : rc < 0 ? rc : SPO_E_AUTH;
}

void spo_delegated_wipe(spo_delegated *d)
{
    mbedtls_platform_zeroize(d, sizeof *d);
}
