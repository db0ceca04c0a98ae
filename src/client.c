/* The client: configuration, the TLS transport under HTTP, and the token provider for Graph. */
#include "spo/spo.h"

#include <mbedtls/platform_util.h>
#include <string.h>

#include "client_priv.h"

static const spo_cloud CLOUDS[] = {
    { "public", "https://login.microsoftonline.com", "https://graph.microsoft.com" },
    /* GCC High (L4) and DoD (L5) share the US Government authority; Graph differs. */
    { "usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us" },
    { "usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us" },
    /* 21Vianet; login.chinacloudapi.cn is the older alias of the same service */
    { "china", "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn" },
};

const spo_cloud *spo_cloud_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof CLOUDS / sizeof CLOUDS[0]; i++)
        if (!strcmp(CLOUDS[i].name, name))
            return &CLOUDS[i];
    return NULL;
}

static int tr_connect(void *ctx, const char *host, uint16_t port)
{
    return spo_tls_connect(ctx, host, port);
}
static int tr_send(void *ctx, const uint8_t *buf, size_t len)
{
    return spo_tls_send(ctx, buf, len);
}
static int tr_recv(void *ctx, uint8_t *buf, size_t len)
{
    return spo_tls_recv(ctx, buf, len);
}
static void tr_close(void *ctx)
{
    spo_tls_close(ctx);
}

static uint64_t clock_ms(void *ctx)
{
    const spo_port *p = ctx;
    return p->monotonic_ms(p->ctx);
}
/* Graph's clocks take the client: its wall clock is the corrected one (Retry-After dates). */
static uint64_t graph_ms(void *ctx)
{
    const spo_client *c = ctx;
    return c->port->monotonic_ms(c->port->ctx);
}
static int64_t graph_wall(void *ctx)
{
    return spo_client_wall(ctx);
}
static void graph_sleep(void *ctx, uint32_t ms)
{
    const spo_client *c = ctx;
    if (c->wait_note)
        c->wait_note(c->clock_note_ctx, ms);
    c->port->sleep_ms(c->port->ctx, ms);
}

int64_t spo_client_wall(const spo_client *c)
{
    return c->port->wall_time(c->port->ctx) + c->clock_offset;
}

/* The token endpoint's Date becomes the client's (and mbedTLS's) time. */
static void clock_from_date(spo_client *c, const char *why)
{
    c->clock_offset = c->auth.date - c->port->wall_time(c->port->ctx);
    c->clock_set = 1;
    spo_tls_set_clock_offset(c->clock_offset);
    if (c->clock_note)
        c->clock_note(c->clock_note_ctx, c->clock_offset, why);
}

/* d->message from pieces, cut at its end. Not snprintf: newlib-nano's links malloc and _sbrk into
 * firmware (its string stream can grow, for asprintf), and spo must link without a heap. */
static size_t msg_put(spo_diag *d, size_t at, const char *s)
{
    while (*s && at + 1 < sizeof d->message)
        d->message[at++] = *s++;
    d->message[at] = '\0';
    return at;
}

static size_t msg_put_u(spo_diag *d, size_t at, size_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return msg_put(d, at, tmp + i);
}

static int copy_setting(char *dst, size_t cap, const char *src, const char *what, spo_diag *d)
{
    size_t n = src ? strlen(src) : 0;
    if (n == 0) {
        msg_put(d, msg_put(d, 0, what), " is not set");
        return SPO_E_ARG;
    }
    if (n >= cap) {
        msg_put(d, msg_put_u(d, msg_put(d, msg_put(d, 0, what), " is longer than "), cap - 1), " bytes");
        return SPO_E_TOO_LONG;
    }
    memcpy(dst, src, n + 1);
    return SPO_OK;
}

/* The token endpoint is throttled and fails like any service: the same retry policy as Graph's
 * (Retry-After, else exponential backoff with jitter; at most max_retries). A refusal (4xx other
 * than 429) is final. In delegated mode the request is the refresh grant (into c->user). */
int spo_client_fetch(spo_client *c)
{
    const spo_port *p = c->port;
    int clock_retried = 0;
    c->clock_unknown = 0;
    /* An assertion dated 1970 is refused for sure: learn the time first (spo/spo.h, "The clock"). */
    if (c->use_cert && !c->clock_set && spo_client_wall(c) < SPO_BUILD_TIME) {
        c->probing = 1;
        int rc = spo_auth_clock_probe(&c->auth, &c->auth_cfg, &c->http, &c->reader, &c->diag);
        c->probing = 0;
        if (rc == SPO_E_AUTH) {
            c->clock_unknown = 1;
            memset(&c->diag, 0, sizeof c->diag);
            msg_put(&c->diag, 0, "the device clock is unset and the token endpoint's answer had no "
                                 "Date header to set it from: set the clock (NTP) before sign-in");
            return SPO_E_ARG;
        }
        if (rc != SPO_OK)
            return rc;
        clock_from_date(c, "the device clock is before this build's date");
    }
    for (uint32_t attempt = 0;; attempt++) {
        int rc = c->user ? c->user_ops->refresh(c->user, &c->auth_cfg, &c->http, &c->reader,
                                            p->monotonic_ms(p->ctx), spo_client_wall(c), &c->diag)
                         : spo_auth_client_credentials(&c->auth, &c->auth_cfg, &c->http, &c->reader,
                                                       p->monotonic_ms(p->ctx), spo_client_wall(c),
                                                       &c->diag);
        /* The assertion's time was refused: the service's Date is the truth, once (never loop). */
        if (rc == SPO_E_AUTH && c->use_cert && !clock_retried && c->auth.date &&
            !strcmp(c->diag.aadsts, "AADSTS700024")) {
            clock_retried = 1;
            clock_from_date(c, "AADSTS700024");
            continue;
        }
        /* Graph's retry policy: the same failures, the same waits (spo/graph.h). */
        int again = spo_graph_transient(rc) ||
                    (rc == SPO_E_AUTH && spo_graph_retry_status(c->diag.status));
        if (!again || attempt >= c->graph.max_retries)
            return rc;
        uint32_t wait = c->diag.retry_after_ms;
        graph_sleep(c, wait ? wait : spo_graph_backoff(&c->graph, attempt));
    }
}

/* The cache failing is never the run failing: one warning, then on without it. */
void spo_client_cache_problem(spo_client *c, int rc)
{
    if (c->cache_warned || !c->cache_warn)
        return;
    c->cache_warned = 1;
    c->cache_warn(c->cache_warn_ctx, c->cache.key, rc);
}

static spo_cache_id cache_id(const spo_client *c)
{
    return (spo_cache_id){ SPO_CACHE_APP, c->authority, c->tenant, c->client_id, c->scope };
}

/* A fresh token from the cache into c->auth.token, if there is one. Read once per run: afterwards
 * the token in memory is at least as new as the cached one. */
static void cached_token(spo_client *c)
{
    const spo_port *p = c->port;
    if (!c->cache.buf || c->cache_tried)
        return;
    c->cache_tried = 1;
    spo_cache_id id = cache_id(c);
    int rc = c->cache_ops->load(&c->cache, &id, &c->auth.token, NULL, 0, spo_client_wall(c),
                                p->monotonic_ms(p->ctx));
    if (rc != SPO_CACHE_FRESH && rc != SPO_CACHE_STALE && rc != SPO_CACHE_MISS)
        spo_client_cache_problem(c, rc);
}

static void cache_token(spo_client *c)
{
    if (!c->cache.buf)
        return;
    spo_cache_id id = cache_id(c);
    int rc = c->cache_ops->store(&c->cache, &id, &c->auth.token, NULL, 0, spo_client_wall(c));
    if (rc != SPO_OK)
        spo_client_cache_problem(c, rc);
}

/* Graph's token source. force (Graph answered 401 to this token) skips the cache: the cached
 * token is the one refused. */
static int provide_token(void *ctx, int force, spo_span *out)
{
    spo_client *c = ctx;
    const spo_port *p = c->port;
    int stale = force || !spo_token_fresh(&c->auth.token, p->monotonic_ms(p->ctx));
    if (stale && c->user) {
        int rc = c->user_ops->token(c, force); /* delegated: cache, then the refresh token */
        if (rc != SPO_OK)
            return rc;
    } else if (stale) {
        if (!force)
            cached_token(c);
        if (force || !spo_token_fresh(&c->auth.token, p->monotonic_ms(p->ctx))) {
            c->cache_tried = 1; /* a refused token must not come back from the cache */
            int rc = spo_client_fetch(c);
            if (rc != SPO_OK)
                return rc;
            cache_token(c);
        }
    }
    out->ptr = c->auth.token.bearer;
    out->len = SPO_BEARER_PREFIX_LEN + c->auth.token.len;
    return SPO_OK;
}

int spo_client_init(spo_client *c, const spo_port *port, const spo_config *cfg)
{
    int rc;
    memset(c, 0, sizeof *c);
    c->port = port;
    spo_diag *d = &c->diag;
    const char *authority = cfg->authority_host ? cfg->authority_host : SPO_DEFAULT_AUTHORITY;
    const char *graph = cfg->graph_url ? cfg->graph_url : SPO_DEFAULT_GRAPH;

    /* A feature's settings without its setter: its code is not linked (spo/spo.h, "Flash"), and
     * ignoring the setting would be a silent surprise. */
    const char *unlinked = NULL;
    if (((cfg->client_certificate_path && *cfg->client_certificate_path) || cfg->cert) &&
        !cfg->cert_ops)
        unlinked = "a certificate is set without spo_config_use_certificate(): call it instead";
    else if (cfg->cache_buf && !cfg->cache_ops)
        unlinked = "a token cache is set without spo_config_use_token_cache(): call it instead";
    else if (cfg->user && !cfg->user_ops)
        unlinked = "a delegated user is set without spo_config_use_user(): call it instead";
    else if (cfg->proxy && *cfg->proxy && !cfg->proxy_ops)
        unlinked = "a proxy is set without spo_config_use_proxy(): call it instead";
    if (unlinked) {
        msg_put(d, 0, unlinked);
        return SPO_E_ARG;
    }

    int use_cert = cfg->client_certificate_path && *cfg->client_certificate_path;
    if (use_cert && cfg->client_secret && *cfg->client_secret) {
        msg_put(d, 0, "both a client secret and a certificate are set: set only the one to use");
        return SPO_E_ARG;
    }
    if (use_cert && !cfg->cert) {
        msg_put(d, 0, "a certificate needs spo_config.cert (storage for the credential)");
        return SPO_E_ARG;
    }
    if (use_cert && cfg->jwt_alg != SPO_JWT_PS256 && cfg->jwt_alg != SPO_JWT_RS256) {
        msg_put(d, 0, "unknown JWT algorithm: use SPO_JWT_PS256 or SPO_JWT_RS256");
        return SPO_E_ARG;
    }
    /* Delegated only without an app credential: a secret or a certificate means app-only. */
    c->user = (cfg->client_secret && *cfg->client_secret) || use_cert ? NULL : cfg->user;
    c->user_ops = c->user ? cfg->user_ops : NULL;
    if ((rc = copy_setting(c->tenant, sizeof c->tenant, cfg->tenant, "tenant id", d)) ||
        (rc = copy_setting(c->client_id, sizeof c->client_id, cfg->client_id, "client id", d)) ||
        (!use_cert && !c->user &&
         (rc = copy_setting(c->secret, sizeof c->secret, cfg->client_secret, "client secret", d))) ||
        (rc = copy_setting(c->authority, sizeof c->authority, authority, "authority host", d)))
        return rc;

    /* The scope is the Graph root + "/.default": the only form client credentials accept. */
    size_t glen = strlen(graph);
    while (glen > 0 && graph[glen - 1] == '/')
        glen--;
    if (glen == 0 || glen + sizeof "/.default" > sizeof c->scope) {
        msg_put(d, 0, "Graph URL is empty or too long");
        return SPO_E_URL;
    }
    memcpy(c->scope, graph, glen);
    memcpy(c->scope + glen, "/.default", sizeof "/.default");
    if (c->user && (rc = c->user_ops->scope(c, graph, glen, cfg->user_scope)) != SPO_OK)
        return rc;

    spo_url probe;
    if (spo_url_parse(c->authority, strlen(c->authority), &probe) != SPO_OK) {
        msg_put(d, 0, "authority host is not an https URL");
        return SPO_E_URL;
    }

    c->auth_cfg = (spo_auth_config){ c->authority, c->tenant, c->client_id, c->secret, c->scope,
                                     NULL, 0, NULL, NULL };
    if (cfg->cache_buf && cfg->cache_cap) {
        c->cache = (spo_cache){ port, cfg->cache_key ? cfg->cache_key : SPO_CACHE_KEY,
                                cfg->cache_buf, cfg->cache_cap };
        c->cache_ops = cfg->cache_ops;
        c->cache_warn = cfg->cache_warn;
        c->cache_warn_ctx = cfg->cache_warn_ctx;
    }

    if ((rc = spo_tls_global_init(port)) != SPO_OK)
        return rc;
    /* A new client starts from the port's clock; what an earlier one learnt is not kept. */
    spo_tls_set_clock_offset(0);
    c->clock_note = cfg->clock_note;
    c->wait_note = cfg->wait_note;
    c->clock_note_ctx = cfg->trace_ctx;
    if (use_cert) {
        /* After spo_tls_global_init: the key is checked in mbedTLS's pool. */
        c->cert = cfg->cert;
        c->cert_ops = cfg->cert_ops;
        rc = c->cert_ops->load_file(c->cert, port, cfg->client_certificate_path,
                                    cfg->client_certificate_password);
        if (rc != SPO_OK) {
            msg_put(d, msg_put(d, 0, "client certificate: "),
                    c->cert_ops->problem_text(c->cert->problem));
            return rc;
        }
        c->use_cert = 1;
        c->auth_cfg.secret = NULL;
        c->auth_cfg.cert = c->cert;
        c->auth_cfg.jwt_alg = cfg->jwt_alg;
        c->auth_cfg.entropy = port->entropy;
        c->auth_cfg.entropy_ctx = port->ctx;
    }
    spo_trust trust = { 0 };
    if (cfg->ca_pem) {
        trust.pem = cfg->ca_pem;
        trust.pem_len = cfg->ca_pem_len;
    } else {
        trust.pem_path = cfg->ca_file ? cfg->ca_file : SPO_DEFAULT_CA_FILE;
    }
    uint32_t timeout = cfg->timeout_ms ? cfg->timeout_ms : SPO_TIMEOUT_MS;
    const spo_port *below_tls = port;
    if (cfg->proxy && *cfg->proxy) {
        /* the proxy is a port wrapper: TLS runs through its tunnels as over TCP */
        if ((rc = cfg->proxy_ops->init(&c->proxy, port, cfg->proxy, cfg->no_proxy)) != SPO_OK) {
            msg_put(d, 0, rc == SPO_E_TOO_LONG
                              ? "the proxy URL's host or credentials are longer than their "
                                "buffers (SPO_PROXY_HOST_MAX, SPO_PROXY_CRED_MAX): rebuild with "
                                "larger ones"
                              : "the proxy URL is not http://[user:password@]host[:port]");
            return rc;
        }
        c->proxy.trace = cfg->proxy_trace;
        c->proxy.trace_ctx = cfg->trace_ctx;
        below_tls = &c->proxy.port;
    }
    if ((rc = spo_tls_init(&c->tls, below_tls, &trust, timeout)) != SPO_OK)
        return rc;

    spo_http_transport tr = { &c->tls, tr_connect, tr_send, tr_recv, tr_close };
    spo_http_conn_init(&c->http, &tr, cfg->user_agent ? cfg->user_agent
                                                      : "NONISV|spo|spo/" SPO_VERSION);
    c->http.now_ms = clock_ms;
    c->http.now_ctx = (void *)(uintptr_t)port;
    c->http.trace = cfg->trace;
    c->http.trace_ctx = cfg->trace_ctx;

    rc = spo_graph_init(&c->graph, graph, &c->http, &c->reader, &c->diag, provide_token, c);
    if (rc != SPO_OK) {
        msg_put(d, 0, "Graph URL is not an https URL");
        return rc;
    }
    c->graph.now_ms = graph_ms;
    c->graph.wall = graph_wall;
    c->graph.sleep_ms = graph_sleep;
    c->graph.clock_ctx = c;
    if (cfg->max_retries)
        c->graph.max_retries = cfg->max_retries;
    uint32_t seed = 0;
    if (port->entropy(port->ctx, (uint8_t *)&seed, sizeof seed) == SPO_OK && seed)
        c->graph.rnd = seed;
    c->ready = 1;
    return SPO_OK;
}

int spo_client_token(spo_client *c, const spo_token **out)
{
    if (!c->ready)
        return SPO_E_ARG;
    spo_span s;
    int rc = provide_token(c, 0, &s);
    if (rc == SPO_OK && out)
        *out = &c->auth.token;
    return rc;
}

int spo_client_sites(spo_client *c, const char *search, spo_site_fn fn, void *ctx)
{
    if (!c->ready)
        return SPO_E_ARG;
    if (c->user && !search)
        search = "*"; /* a delegated GET /sites answers an empty list; search=* lists them all */
    return spo_graph_list_sites(&c->graph, search, fn, ctx);
}

const spo_diag *spo_client_diag(const spo_client *c)
{
    return &c->diag;
}

void spo_client_cleanup(spo_client *c)
{
    spo_http_conn_close(&c->http);
    spo_tls_free(&c->tls);
    if (c->clock_set)
        spo_tls_set_clock_offset(0);
    if (c->user && c->user_ops)
        c->user_ops->wipe(c->user); /* the refresh token kept for this run */
    if (c->cert && c->cert_ops)
        c->cert_ops->wipe(c->cert); /* the key and its password */
    /* Everything that held the secret or the token: the secret copy, the certificate's key and
     * password, the form body and token, the HTTP buffers that carried them, and the JSON window. */
    mbedtls_platform_zeroize(c, sizeof *c);
}
