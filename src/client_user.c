/* The client in delegated mode: device code sign-in, and tokens from the cache renewed with the
 * refresh token (which rotates: each renewal stores the new one). */
#include <mbedtls/platform_util.h>
#include <string.h>

#include "client_priv.h"

static void say(spo_diag *d, const char *code, const char *message)
{
    size_t n = strlen(code) < sizeof d->code - 1 ? strlen(code) : sizeof d->code - 1;
    memcpy(d->code, code, n);
    d->code[n] = '\0';
    n = strlen(message) < sizeof d->message - 1 ? strlen(message) : sizeof d->message - 1;
    memcpy(d->message, message, n);
    d->message[n] = '\0';
}

/* Does the space-separated list hold word? */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

int spo_client_user_scope(spo_client *c, const char *graph, size_t glen, const char *user_scope)
{
    static const char def[] = "/Sites.Read.All";
    static const char offline[] = "offline_access";
    char *s = c->scope;
    size_t cap = sizeof c->scope, n;
    if (user_scope && *user_scope) {
        n = strlen(user_scope);
        if (n >= cap)
            goto too_long;
        memcpy(s, user_scope, n + 1);
    } else {
        if (glen + sizeof def > cap)
            goto too_long;
        memcpy(s, graph, glen);
        memcpy(s + glen, def, sizeof def);
        n = glen + sizeof def - 1;
    }
    if (has_word(s, offline))
        return SPO_OK;
    if (n + 1 + sizeof offline > cap)
        goto too_long;
    s[n] = ' ';
    memcpy(s + n + 1, offline, sizeof offline);
    return SPO_OK;
too_long:
    s[0] = '\0';
    say(&c->diag, "", "the delegated scope is longer than SPO_CFG_URL_MAX");
    return SPO_E_TOO_LONG;
}

static spo_cache_id user_id(const spo_client *c)
{
    return (spo_cache_id){ SPO_CACHE_USER, c->authority, c->tenant, c->client_id, c->scope };
}

/* The delegated token in u->token becomes the client's; stored with the refresh token. */
static void adopt(spo_client *c)
{
    spo_delegated *u = c->user;
    c->auth.token = u->token;
    mbedtls_platform_zeroize(&u->token, sizeof u->token);
    if (!c->cache.buf)
        return;
    spo_cache_id id = user_id(c);
    int rc = c->cache_ops->store(&c->cache, &id, &c->auth.token, u->refresh, strlen(u->refresh),
                                 spo_client_wall(c));
    if (rc != SPO_OK)
        spo_client_cache_problem(c, rc);
}

int spo_client_user_token(spo_client *c, int force)
{
    const spo_port *p = c->port;
    spo_delegated *u = c->user;
    if (!c->user_loaded && c->cache.buf) {
        c->user_loaded = 1;
        spo_cache_id id = user_id(c);
        int rc = c->cache_ops->load(&c->cache, &id, &c->auth.token, u->refresh, sizeof u->refresh,
                                    spo_client_wall(c), p->monotonic_ms(p->ctx));
        if (rc == SPO_CACHE_FRESH && !force)
            return SPO_OK;
        if (rc != SPO_CACHE_FRESH && rc != SPO_CACHE_STALE && rc != SPO_CACHE_MISS)
            spo_client_cache_problem(c, rc);
    }
    mbedtls_platform_zeroize(&c->auth.token, sizeof c->auth.token);
    if (!u->refresh[0]) {
        say(&c->diag, SPO_LOGIN_REQUIRED, "nobody is signed in (no refresh token in the cache)");
        return SPO_E_AUTH;
    }
    int rc = spo_client_fetch(c); /* the refresh grant, retried as the token endpoint is */
    if (rc != SPO_OK)
        return rc;
    adopt(c);
    return SPO_OK;
}

/* A poll that failed on the way (throttled, server error, network): the next one may work. */
static int transient(int rc, const spo_diag *d)
{
    return spo_graph_transient(rc) || (rc == SPO_E_AUTH && (d->status == 429 || d->status >= 500));
}

int spo_client_login_device(spo_client *c, void (*prompt)(void *ctx, const spo_delegated *d),
                            void *ctx)
{
    const spo_port *p = c->port;
    spo_delegated *u = c->user;
    if (!c->ready || !u)
        return SPO_E_ARG;
    int rc = spo_device_start(u, &c->auth_cfg, &c->http, &c->reader, spo_client_wall(c), &c->diag);
    if (rc != SPO_OK)
        return rc;
    if (prompt)
        prompt(ctx, u);
    uint64_t deadline = p->monotonic_ms(p->ctx) + (uint64_t)u->expires_in * 1000u;
    for (;;) {
        /* RFC 8628 3.5: at least `interval` seconds between polls, the first one included. */
        uint64_t wait = (uint64_t)u->interval * 1000u;
        if (c->diag.retry_after_ms > wait)
            wait = c->diag.retry_after_ms;
        if (p->monotonic_ms(p->ctx) + wait >= deadline) {
            rc = SPO_E_AUTH;
            memset(&c->diag, 0, sizeof c->diag);
            say(&c->diag, "expired_token", "the code expired before the sign-in was finished");
            break;
        }
        p->sleep_ms(p->ctx, (uint32_t)wait);
        rc = spo_device_poll(u, &c->auth_cfg, &c->http, &c->reader, p->monotonic_ms(p->ctx),
                             spo_client_wall(c), &c->diag);
        if (rc == SPO_DEVICE_PENDING || rc == SPO_DEVICE_SLOW_DOWN || transient(rc, &c->diag))
            continue;
        if (rc == SPO_DEVICE_SUCCESS) {
            adopt(c);
            rc = SPO_OK;
        } else if (rc > 0) {
            rc = SPO_E_AUTH; /* declined, expired, bad code: diag->code says which */
        }
        break;
    }
    /* Nothing of the flow stays: the token is the client's now, the refresh token is stored. */
    spo_delegated_wipe(u);
    return rc;
}

/* Delegated mode's table: the client reaches this file (and the device code and refresh grant in
 * auth_device.c) only through it, so only programs that call spo_config_use_user() link them. */
static const spo_user_ops USER_OPS = { spo_client_user_scope, spo_client_user_token,
                                       spo_auth_refresh, spo_delegated_wipe };

void spo_config_use_user(spo_config *cfg, spo_delegated *user, const char *scope)
{
    cfg->user = user;
    cfg->user_scope = scope;
    cfg->user_ops = &USER_OPS;
}
