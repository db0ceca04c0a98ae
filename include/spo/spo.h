/* spo — the client: one struct that holds everything (no heap), wiring port → TLS → HTTP → JSON →
 * auth and Graph together. This is the library API most programs need.
 *
 *   static spo_client c;                       // ~21 KB, all of spo's state
 *   spo_config cfg = { .tenant = ..., .client_id = ..., .client_secret = ... };
 *   // or, with a certificate: static spo_cert_cred cred;   (8.6 KB, only where it is used)
 *   //     spo_config_use_certificate(&cfg, &cred, "/etc/app/cert.pem", password, SPO_JWT_PS256);
 *   if (spo_client_init(&c, spo_port_posix(), &cfg) == SPO_OK)
 *       rc = spo_client_sites(&c, NULL, on_site, NULL);
 *   spo_client_cleanup(&c);                     // closes, zeroes secret, key and token
 *
 * Memory: spo_client is static state (see `make memreport` for the split). What only some programs
 * need is the caller's and passed in spo_config, so that a program without it pays nothing: the
 * certificate credential (spo_cert_cred, 8.6 KB: the key's PEM block and its password; not on the
 * stack nor in mbedTLS's pool), the token cache's work buffer, the delegated sign-in state.
 *
 * Flash: the certificate, the token cache, delegated sign-in and the proxy are linked only into
 * programs that use them (as BearSSL does with its vtables): each is switched on by its setter,
 * spo_config_use_certificate(), spo_config_use_token_cache(), spo_config_use_user() and
 * spo_config_use_proxy(), which lives in (or next to) the feature's code and puts a const table of
 * its functions into spo_config. The client calls a feature only through that table, so a program
 * that never calls the setter never references the feature, and the linker leaves it out (a
 * sites-only program with a secret: about 23 KB of spo instead of 41 KB on a Cortex-M4, `make
 * size`). The fields the setters fill are still in spo_config; setting one without its setter is
 * SPO_E_ARG at spo_client_init (the message names the setter), never silently ignored.
 *
 * The clock (devices without an RTC). spo keeps an offset to the port's wall clock: corrected
 * wall = port->wall_time() + offset, and every wall-clock use goes through it: the assertion's
 * iat/nbf/exp, mbedTLS's certificate validity checks (spo_tls_set_clock_offset), Retry-After
 * dates and the displayed expiry. Token freshness stays on the monotonic clock. The offset is 0
 * until one of these, each at most once per token request and never in a loop:
 *   - with a certificate, the corrected wall clock is before SPO_BUILD_TIME (the build's date, set
 *     by the Makefile: it cannot be right): before signing, a GET of the tenant's OpenID
 *     metadata (spo_auth_clock_probe; no sign-in attempt) fetches the service's Date header;
 *   - with a certificate, the token endpoint answers AADSTS700024 (assertion outside its valid
 *     time): the offset is taken from that answer's Date header and the request is sent once
 *     more; a second AADSTS700024 is returned as it is (SPO_E_AUTH).
 * The first TLS handshake runs before any Date is known: while the clock is before the build
 * date, certificates are checked against the build date, and "not valid yet" is not held against
 * them (the true time is unknown but at least the build date); an expiry before the build date
 * is still refused. See spo/tls.h. A secret needs no clock: its sign-in never corrects it.
 * A clock ahead is only corrected while the servers' certificates are still valid by it: spo
 * cannot tell a clock years ahead from an expired certificate without a time it already trusts,
 * so such a handshake fails (SPO_E_TLS_VERIFY, expired) rather than trusting an expired chain. */
#ifndef SPO_SPO_H
#define SPO_SPO_H

#include "spo/auth.h"
#include "spo/graph.h"
#include "spo/proxy.h"
#include "spo/tls.h"

#define SPO_VERSION "0.1.0"

#ifndef SPO_DEFAULT_AUTHORITY
#define SPO_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#endif
#ifndef SPO_DEFAULT_GRAPH
#define SPO_DEFAULT_GRAPH "https://graph.microsoft.com"
#endif
#ifndef SPO_DEFAULT_CA_FILE
#define SPO_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt" /* Debian's system bundle */
#endif
#ifndef SPO_TIMEOUT_MS
#define SPO_TIMEOUT_MS 30000u /* connect and each receive */
#endif
#ifndef SPO_CFG_URL_MAX
#define SPO_CFG_URL_MAX 256 /* authority host URL, scope */
#endif
#ifndef SPO_ID_MAX
#define SPO_ID_MAX 128 /* tenant or client id + NUL */
#endif

/* Microsoft's national clouds: the identity platform and Graph roots that belong together (from
 * Microsoft's published endpoints; tokens of one cloud are not valid in another). */
typedef struct spo_cloud {
    const char *name;      /* "public", "usgov", "usgov-dod", "china" */
    const char *authority; /* https://login.microsoftonline.com, ... */
    const char *graph;     /* https://graph.microsoft.com, ... */
} spo_cloud;

/* The cloud called name, or NULL if there is none by that name. */
const spo_cloud *spo_cloud_find(const char *name);

struct spo_client;

/* The optional features' tables (see "Flash" above): filled by their setters only. */
typedef struct spo_cert_ops {
    int (*load_file)(spo_cert_cred *c, const spo_port *port, const char *path,
                     const char *password);
    const char *(*problem_text)(int problem);
    void (*wipe)(spo_cert_cred *c);
} spo_cert_ops;

typedef struct spo_cache_ops {
    int (*load)(const spo_cache *c, const spo_cache_id *id, spo_token *out, char *refresh,
                size_t refresh_cap, int64_t now, uint64_t now_ms);
    int (*store)(const spo_cache *c, const spo_cache_id *id, const spo_token *t,
                 const char *refresh, size_t refresh_len, int64_t now);
} spo_cache_ops;

typedef struct spo_user_ops {
    int (*scope)(struct spo_client *c, const char *graph, size_t glen, const char *user_scope);
    int (*token)(struct spo_client *c, int force);
    int (*refresh)(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                   spo_json_reader *r, uint64_t now_ms, int64_t wall, spo_diag *diag);
    void (*wipe)(spo_delegated *d);
} spo_user_ops;

typedef struct spo_proxy_ops {
    int (*init)(spo_proxy *p, const spo_port *lower, const char *proxy_url, const char *no_proxy);
} spo_proxy_ops;

typedef struct spo_config {
    const char *tenant;         /* AZURE_TENANT_ID */
    const char *client_id;      /* AZURE_CLIENT_ID */
    const char *client_secret;  /* AZURE_CLIENT_SECRET; copied, the caller may wipe its own copy */
    /* Certificate credentials instead of the secret, set with spo_config_use_certificate()
     * (setting both is SPO_E_ARG: a library caller says which one it means):
     * AZURE_CLIENT_CERTIFICATE_PATH, a PEM file with the certificate
     * registered on the app and its RSA key (spo/auth.h), read through port->file_read; the
     * password of an encrypted key (AZURE_CLIENT_CERTIFICATE_PASSWORD; copied, wipe your own). */
    const char *client_certificate_path;
    const char *client_certificate_password;
    spo_cert_cred *cert;        /* where the credential is kept (the caller's, 8.6 KB; needed with
                                 * client_certificate_path; wiped by spo_client_cleanup) */
    uint8_t jwt_alg;            /* spo_jwt_alg: SPO_JWT_PS256 (0, x5t#S256) or SPO_JWT_RS256 (x5t) */
    const spo_cert_ops *cert_ops; /* set by spo_config_use_certificate() only */
    const char *authority_host; /* AZURE_AUTHORITY_HOST, NULL = SPO_DEFAULT_AUTHORITY */
    const char *graph_url;      /* SPO_GRAPH_URL, NULL = SPO_DEFAULT_GRAPH */
    const char *ca_file;        /* SPO_CA_FILE, NULL = SPO_DEFAULT_CA_FILE (unless ca_pem) */
    const uint8_t *ca_pem;      /* an in-memory PEM bundle instead of a file */
    size_t ca_pem_len;
    uint32_t timeout_ms;        /* 0 = SPO_TIMEOUT_MS */
    uint32_t max_retries;       /* 0 = SPO_GRAPH_RETRIES */
    const char *user_agent;     /* NULL = "NONISV|spo|spo/<version>" (SharePoint's decoration) */
    spo_http_trace_fn trace;    /* --verbose: one call per HTTP exchange, never with secrets */
    void *trace_ctx;
    /* Optional, with trace_ctx: called when spo sets its clock from the token endpoint's Date
     * (offset_s: corrected wall - port wall; why: "clock before the build date" or
     * "AADSTS700024"). */
    void (*clock_note)(void *ctx, int64_t offset_s, const char *why);
    /* Optional, with trace_ctx: called before each wait between attempts (a Retry-After or a
     * backoff, token requests and Graph alike), so that a long throttled pause does not look like
     * a hang. */
    void (*wait_note)(void *ctx, uint32_t ms);
    /* Set with spo_config_use_proxy(). An HTTP proxy for every connection (token endpoint and
     * Graph alike), as
     * http://[user:password@]host[:port] (see spo_proxy_url_parse; the credentials are copied and
     * zeroed at cleanup). NULL or "" = connect directly. */
    const char *proxy;
    const char *no_proxy;       /* hosts reached directly despite proxy (see spo_proxy_bypass);
                                 * not copied: it must outlive the client */
    spo_proxy_trace_fn proxy_trace; /* --verbose: one call per connection, with trace_ctx */
    const spo_proxy_ops *proxy_ops; /* set by spo_config_use_proxy() only */
    /* The token cache (spo/auth.h), set with spo_config_use_token_cache(), so that a program started every minute asks the token
     * endpoint once per token lifetime. Off when cache_buf is NULL: a program without a cache pays
     * nothing. The buffer (SPO_CACHE_MAX bytes for any record) is the caller's, used only during
     * a cache call and zeroed after it; it must outlive the client. */
    uint8_t *cache_buf;
    size_t cache_cap;
    const char *cache_key;      /* the record: NULL = SPO_CACHE_KEY; the POSIX port also takes an
                                 * absolute path. Not copied: it must outlive the client. */
    /* Called at most once per client when the cache cannot be used (corrupt, insecure, storage
     * failure: rc is what spo_cache_describe() explains); the run goes on without it. NULL: silent. */
    void (*cache_warn)(void *ctx, const char *key, int rc);
    void *cache_warn_ctx;
    const spo_cache_ops *cache_ops; /* set by spo_config_use_token_cache() only */
    /* Delegated mode (a signed-in user, spo/auth.h's device code flow), set with
     * spo_config_use_user(): user is the caller's spo_delegated (it must outlive the client);
     * leave client_secret NULL. Tokens then come
     * from the cache (kind SPO_CACHE_USER, so a cache is needed past spo_client_login_device()),
     * renewed with the refresh token when stale; the rotated refresh token is stored each time. */
    spo_delegated *user;
    const char *user_scope;     /* delegated scope; NULL = "<Graph root>/Sites.Read.All
                                 * offline_access" */
    const spo_user_ops *user_ops; /* set by spo_config_use_user() only */
} spo_config;

/* Sign in with a certificate instead of a secret: the credential in pem_path (a PEM file with the
 * certificate and its RSA key, read through port->file_read at spo_client_init), kept in storage
 * (the caller's, 8.6 KB, wiped by spo_client_cleanup), the key's password (NULL: unencrypted;
 * copied) and jwt_alg (spo_jwt_alg). Fills client_certificate_path, client_certificate_password,
 * cert, jwt_alg and cert_ops; links the certificate and assertion code into the program. */
void spo_config_use_certificate(spo_config *cfg, spo_cert_cred *storage, const char *pem_path,
                                const char *password, uint8_t jwt_alg);

/* Keep tokens in the token cache: buf (cap bytes; SPO_CACHE_MAX holds any record) is its work
 * buffer, key the record (NULL: SPO_CACHE_KEY), warn (may be NULL) called with warn_ctx at most
 * once when the cache cannot be used. buf and key must outlive the client. Fills cache_buf,
 * cache_cap, cache_key, cache_warn, cache_warn_ctx and cache_ops; links the cache code. */
void spo_config_use_token_cache(spo_config *cfg, uint8_t *buf, size_t cap, const char *key,
                                void (*warn)(void *ctx, const char *key, int rc), void *warn_ctx);

/* Delegated mode: tokens of the user signed in with spo_client_login_device(), kept in user (the
 * caller's; it must outlive the client) and the token cache. scope NULL: "<Graph root>/Sites.Read.All
 * offline_access". Delegated mode is used only without a secret or certificate. Fills user,
 * user_scope and user_ops; links the device code and refresh token code. */
void spo_config_use_user(spo_config *cfg, spo_delegated *user, const char *scope);

/* Connect through an HTTP proxy: proxy_url as http://[user:password@]host[:port] (NULL or "":
 * directly), no_proxy the hosts reached directly (not copied: it must outlive the client), trace
 * (may be NULL) called with trace_ctx once per connection. Fills proxy, no_proxy, proxy_trace and
 * proxy_ops; links the proxy code. */
void spo_config_use_proxy(spo_config *cfg, const char *proxy_url, const char *no_proxy,
                          spo_proxy_trace_fn trace);

typedef struct spo_client {
    const spo_port *port;
    char tenant[SPO_ID_MAX];
    char client_id[SPO_ID_MAX];
    char secret[SPO_SECRET_MAX];
    spo_cert_cred *cert;        /* spo_config.cert, loaded when a certificate is used (use_cert) */
    const spo_cert_ops *cert_ops; /* the features' tables from spo_config (NULL: not linked) */
    const spo_cache_ops *cache_ops;
    const spo_user_ops *user_ops;
    uint8_t use_cert;
    uint8_t clock_set;          /* clock_offset came from a Date header */
    uint8_t clock_unknown;      /* the clock is unset and no Date could be had: sign-in impossible */
    uint8_t probing;            /* a spo_auth_clock_probe request is under way (for traces) */
    int64_t clock_offset;       /* seconds: corrected wall = port wall + clock_offset */
    void (*clock_note)(void *ctx, int64_t offset_s, const char *why);
    void (*wait_note)(void *ctx, uint32_t ms);
    void *clock_note_ctx;       /* for clock_note and wait_note */
    char authority[SPO_CFG_URL_MAX];
    char scope[SPO_CFG_URL_MAX];
    spo_auth_config auth_cfg;
    spo_diag diag;
    spo_proxy proxy;            /* the port under TLS when a proxy is configured */
    spo_tls tls;
    spo_http_conn http;
    spo_json_reader reader;
    spo_auth auth;
    spo_graph graph;
    spo_cache cache;            /* cache.buf NULL: no cache */
    void (*cache_warn)(void *ctx, const char *key, int rc);
    void *cache_warn_ctx;
    uint8_t cache_tried;        /* the cache was read once this run (later, the token in memory
                                 * is newer than any cached one) */
    uint8_t cache_warned;
    spo_delegated *user;        /* delegated mode when set; scope then holds the delegated scope */
    uint8_t user_loaded;        /* the user's cache entry was read this run */
    uint8_t ready;
} spo_client;

/* Check and copy the configuration, set up TLS, load the certificate credential if there is one
 * (nothing is sent yet). Returns SPO_OK, SPO_E_ARG (a required setting is missing or too long, or
 * the certificate file is unusable: see spo_client_diag()->message and, for the certificate,
 * c->cert.problem), SPO_E_TOO_LONG, SPO_E_URL, SPO_E_PROXY_URL, or a TLS status. Call
 * spo_client_cleanup() in every case. */
int spo_client_init(spo_client *c, const spo_port *port, const spo_config *cfg);

/* The current token, acquired or reused (fresh until 5 minutes before expiry): with a cache, a
 * fresh cached token is used without any request, and a token fetched is stored. */
int spo_client_token(spo_client *c, const spo_token **out);

/* Delegated mode: sign in with the device code flow. prompt is called once with d->message (and
 * d->user_code, d->verification_uri) to show the person; then the token endpoint is polled every
 * d->interval seconds (+5 s after each slow_down) until the person finishes, refuses, or the code
 * expires (d->expires_in; a 429, 5xx or network failure of a poll is retried at the next interval).
 * On success the token and its refresh token are stored in the cache (kind SPO_CACHE_USER) and
 * the token is current. Failures are SPO_E_AUTH with spo_client_diag()->code "authorization_declined",
 * "expired_token", "bad_verification_code" or the service's refusal (e.g. AADSTS7000218 when the
 * app does not allow public client flows), or a transport/parse status. The device code is
 * zeroed in every case. SPO_E_ARG when the client is not in delegated mode. */
int spo_client_login_device(spo_client *c, void (*prompt)(void *ctx, const spo_delegated *d),
                            void *ctx);

/* Delegated mode: why spo_client_token() failed when nobody is signed in: diag code. */
#define SPO_LOGIN_REQUIRED "login_required"

/* List sites (all of them, or those matching search), calling fn for each as it is parsed. In
 * delegated mode a NULL search is "*": Graph's /sites lists nothing to a delegated token. */
int spo_client_sites(spo_client *c, const char *search, spo_site_fn fn, void *ctx);

/* The corrected wall clock: port->wall_time() + the offset learnt from the token endpoint. */
int64_t spo_client_wall(const spo_client *c);

/* What went wrong last, for messages. */
const spo_diag *spo_client_diag(const spo_client *c);

/* Close the connection and zero the secret, the token and every buffer that held them. */
void spo_client_cleanup(spo_client *c);

#endif
