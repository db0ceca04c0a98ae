/* spo — the client: one struct that holds everything (no heap), wiring port → TLS → HTTP → JSON →
 * auth and Graph together. This is the library API most programs need.
 *
 *   static spo_client c;                       // ~21 KB, all of spo's state
 *   spo_config cfg = { .tenant = ..., .client_id = ..., .client_secret = ... };
 *   // or, with a certificate: static spo_cert_cred cred;   (8.6 KB, only where it is used)
 *   //     .client_certificate_path = "/etc/app/cert.pem", .cert = &cred (+ .client_certificate_password)
 *   if (spo_client_init(&c, spo_port_posix(), &cfg) == SPO_OK)
 *       rc = spo_client_sites(&c, NULL, on_site, NULL);
 *   spo_client_cleanup(&c);                     // closes, zeroes secret, key and token
 *
 * Memory: spo_client is static state (see `make memreport` for the split). What only some programs
 * need is the caller's and passed in spo_config, so that a program without it pays nothing: the
 * certificate credential (spo_cert_cred, 8.6 KB: the key's PEM block and its password; not on the
 * stack nor in mbedTLS's pool), the token cache's work buffer, the delegated sign-in state.
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

typedef struct spo_config {
    const char *tenant;         /* AZURE_TENANT_ID */
    const char *client_id;      /* AZURE_CLIENT_ID */
    const char *client_secret;  /* AZURE_CLIENT_SECRET; copied, the caller may wipe its own copy */
    /* Certificate credentials instead of the secret (setting both is SPO_E_ARG: a library caller
     * says which one it means): AZURE_CLIENT_CERTIFICATE_PATH, a PEM file with the certificate
     * registered on the app and its RSA key (spo/auth.h), read through port->file_read; the
     * password of an encrypted key (AZURE_CLIENT_CERTIFICATE_PASSWORD; copied, wipe your own). */
    const char *client_certificate_path;
    const char *client_certificate_password;
    spo_cert_cred *cert;        /* where the credential is kept (the caller's, 8.6 KB; needed with
                                 * client_certificate_path; wiped by spo_client_cleanup) */
    uint8_t jwt_alg;            /* spo_jwt_alg: SPO_JWT_PS256 (0, x5t#S256) or SPO_JWT_RS256 (x5t) */
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
    /* An HTTP proxy for every connection (token endpoint and Graph alike), as
     * http://[user:password@]host[:port] (see spo_proxy_url_parse; the credentials are copied and
     * zeroed at cleanup). NULL or "" = connect directly. */
    const char *proxy;
    const char *no_proxy;       /* hosts reached directly despite proxy (see spo_proxy_bypass);
                                 * not copied: it must outlive the client */
    spo_proxy_trace_fn proxy_trace; /* --verbose: one call per connection, with trace_ctx */
    /* The token cache (spo/auth.h), so that a program started every minute asks the token
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
    /* Delegated mode (a signed-in user, spo/auth.h's device code flow): set user to the caller's
     * spo_delegated (it must outlive the client) and leave client_secret NULL. Tokens then come
     * from the cache (kind SPO_CACHE_USER, so a cache is needed past spo_client_login_device()),
     * renewed with the refresh token when stale; the rotated refresh token is stored each time. */
    spo_delegated *user;
    const char *user_scope;     /* delegated scope; NULL = "<Graph root>/Sites.Read.All
                                 * offline_access" */
} spo_config;

typedef struct spo_client {
    const spo_port *port;
    char tenant[SPO_ID_MAX];
    char client_id[SPO_ID_MAX];
    char secret[SPO_SECRET_MAX];
    spo_cert_cred *cert;        /* spo_config.cert, loaded when a certificate is used (use_cert) */
    uint8_t use_cert;
    uint8_t clock_set;          /* clock_offset came from a Date header */
    uint8_t clock_unknown;      /* the clock is unset and no Date could be had: sign-in impossible */
    uint8_t probing;            /* a spo_auth_clock_probe request is under way (for traces) */
    int64_t clock_offset;       /* seconds: corrected wall = port wall + clock_offset */
    void (*clock_note)(void *ctx, int64_t offset_s, const char *why);
    void *clock_note_ctx;
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
