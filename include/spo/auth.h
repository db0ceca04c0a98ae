/* spo — tokens from the Microsoft identity platform (OAuth 2.0 client credentials).
 *
 * POST {authority}/{tenant}/oauth2/v2.0/token, form-encoded, with the secret URL-encoded in the body
 * (as MSAL does), or with a client assertion signed by a certificate's key (see "Certificate
 * credentials" below). The answer is streamed through the JSON reader straight into the token buffer; a
 * token longer than SPO_TOKEN_MAX is an error, never cut. The login connection is closed as soon as
 * the answer is read: only one TLS connection is ever open. */
#ifndef SPO_AUTH_H
#define SPO_AUTH_H

#include "spo/http.h"
#include "spo/json.h"

#ifndef SPO_TOKEN_MAX
#define SPO_TOKEN_MAX 4096 /* access token + NUL; Graph tokens are 1.5-2.5 KB */
#endif
#ifndef SPO_SECRET_MAX
#define SPO_SECRET_MAX 256 /* client secret + NUL; Entra secrets are 40 characters */
#endif
#ifndef SPO_ASSERTION_MAX
#define SPO_ASSERTION_MAX 2048 /* signed JWT + NUL: 1.7 KB with RSA-4096 and a 511-byte aud */
#endif
#ifndef SPO_AUTH_BODY_MAX
/* Form body. The largest is the certificate one:
 *     40  "grant_type=client_credentials&client_id="
 *   +  7  "&scope="
 *   +105  "&client_assertion_type=urn%3Aietf...jwt-bearer&client_assertion=" (spo_assertion_form)
 *   +2048 SPO_ASSERTION_MAX: the signed JWT + NUL, room spo_assertion_build asks for (an RSA-4096
 *         assertion with a 511-byte aud is 1.7 KB; the aud is at most SPO_AUTH_URL_MAX - 1)
 *   = 2200, + 360 for the URL-encoded client id and scope (a GUID is 36 bytes, Graph's scope 44
 *   encoded; 360 leaves a 100-byte scope of escaped characters) = 2560. A secret body needs
 *   40 + 7 + 15 + 3 * 255 (the longest secret, all escaped) + the two = at most 1.3 KB.
 *   Measured: RSA-4096 with a 511-byte aud, 1972 bytes (tests/unit/test_client_cert.c). */
#define SPO_AUTH_BODY_MAX (152 + SPO_ASSERTION_MAX + 360)
#endif
#ifndef SPO_AUTH_URL_MAX
#define SPO_AUTH_URL_MAX 512 /* token endpoint URL + NUL */
#endif
#ifndef SPO_TOKEN_REFRESH_MARGIN_S
#define SPO_TOKEN_REFRESH_MARGIN_S 300 /* reuse a token until this many seconds before expiry */
#endif

typedef struct spo_auth_config {
    const char *authority; /* "https://login.microsoftonline.com" */
    const char *tenant;    /* GUID or verified domain */
    const char *client_id; /* Application (client) ID */
    const char *secret;    /* client secret value, or NULL when cert is set */
    const char *scope;     /* "https://graph.microsoft.com/.default" */
    /* Certificate credentials instead of the secret (exactly one of secret and cert, loaded with
     * spo_cert_load_file or spo_cert_load_pem: unloaded is SPO_E_ARG). The assertion
     * is signed with alg (spo_jwt_alg), entropy from entropy(entropy_ctx) (a port's entropy), and
     * the wall time passed to spo_auth_client_credentials as iat/nbf. */
    struct spo_cert_cred *cert;
    uint8_t jwt_alg;
    int (*entropy)(void *ctx, uint8_t *buf, size_t len);
    void *entropy_ctx;
} spo_auth_config;

/* The token is stored after "Bearer " so the Authorization header is sent without a copy. */
#define SPO_BEARER_PREFIX "Bearer "
#define SPO_BEARER_PREFIX_LEN 7
typedef struct spo_token {
    char bearer[SPO_BEARER_PREFIX_LEN + SPO_TOKEN_MAX]; /* "Bearer <token>\0" */
    size_t len;             /* of the token alone; the token is at bearer + SPO_BEARER_PREFIX_LEN */
    uint64_t obtained_ms;   /* port monotonic clock when received */
    uint32_t lifetime_s;    /* expires_in */
    int64_t expires_wall;   /* wall-clock expiry, for display */
} spo_token;

typedef struct spo_auth {
    spo_token token;
    char body[SPO_AUTH_BODY_MAX]; /* the form, zeroed after each request */
    char url[SPO_AUTH_URL_MAX];   /* the token endpoint (here, not on the stack: the TLS
                                   * handshake runs below this frame, where stack is scarce) */
    char expires_in[24];
    char token_type[16];
    int64_t date; /* the Date header of the last token endpoint answer (seconds since the epoch), 0
                   * if it had none or an unreadable one: the clock of a device without an RTC */
} spo_auth;

/* Acquire a token with the client-credentials grant. Uses (and then closes) conn; parses with r.
 * On SPO_E_AUTH, diag holds the HTTP status, the OAuth error, the AADSTS code, the first line of the
 * description and the trace id. now_ms and wall give the token's timing; wall is also the
 * assertion's iat/nbf with a certificate. With a certificate, conn is closed *before* signing: an
 * open TLS connection and an RSA-4096 signature together do not fit SPO_TLS_POOL_SIZE. Signing
 * errors are returned as spo_assertion_form's (cfg->cert->problem says why); nothing is sent then.
 * a->date gets the answer's Date header. */
int spo_auth_client_credentials(spo_auth *a, const spo_auth_config *cfg, spo_http_conn *conn,
                                spo_json_reader *r, uint64_t now_ms, int64_t wall,
                                spo_diag *diag);

/* Ask the identity platform for the time: GET {authority}/{tenant}/v2.0/.well-known/
 * openid-configuration (the tenant's public OpenID metadata), whose answer's Date header goes to
 * a->date. Nothing is signed or sent that needs a clock or a secret, and it is no sign-in attempt
 * (a credential-less token request would be one, and show as a failure in the tenant's sign-in
 * logs). For a device whose clock is unset, before it signs an assertion. Returns SPO_OK when a
 * Date was read (whatever the status: an unknown tenant's 400 still carries the time), SPO_E_AUTH
 * (diag->status set) when the answer had none, or a network/HTTP status. */
int spo_auth_clock_probe(spo_auth *a, const spo_auth_config *cfg, spo_http_conn *conn,
                         spo_json_reader *r, spo_diag *diag);

/* True when the token exists and has more than SPO_TOKEN_REFRESH_MARGIN_S left at now_ms (a token
 * whose whole lifetime is shorter than twice the margin is kept for half its lifetime). */
int spo_token_fresh(const spo_token *t, uint64_t now_ms);

/* Zero the token and every buffer that held a secret. */
void spo_auth_wipe(spo_auth *a);

/* Append s URL-encoded (application/x-www-form-urlencoded: unreserved bytes kept, space as %20,
 * everything else %XX) to dst at *pos. Returns SPO_OK or SPO_E_TOO_LONG. */
int spo_form_append(char *dst, size_t cap, size_t *pos, const char *s, size_t len);

/* "AADSTS7000215" at the start of an error_description, copied to out (cap >= 16); "" if none. */
void spo_auth_aadsts(const char *description, char *out, size_t cap);

/* ---- The token cache: tokens kept across runs in the port's storage ----
 *
 * So that a job started every minute asks the token endpoint once per token lifetime, not once per
 * run, and so that delegated refresh tokens survive (and rotate). The cache is one record in the
 * port's storage (port->store_*; no cache where they are NULL), holding up to SPO_CACHE_ENTRIES
 * entries, each keyed by (kind, authority, tenant, client id, scope) and holding an access token,
 * when it was obtained and for how long (wall clock, seconds since the epoch), and optionally a
 * refresh token.
 *
 * Record format, version 1, all integers little-endian, no padding:
 *   header  "SPOC" | version u8 = 1 | entry count u8 | record length u16 (all bytes, CRC included)
 *   entry   kind u8 | authority, tenant, client id, scope lengths u8 each | obtained i64 |
 *           lifetime u32 | access token length u16 | refresh token length u16 |
 *           authority | tenant | client id | scope | access token | refresh token
 *   trailer CRC-32 (IEEE 802.3) of every byte before it
 * Every byte is covered by the length or the CRC, so any one changed byte or a truncation is seen;
 * then every field is bounds-checked as hostile input (a record with a valid CRC can still be
 * forged): lengths within the record and the compile-time limits, key bytes printable ASCII, token
 * bytes visible ASCII (nothing that could end an HTTP header), lifetime 1..10^8 s. Entries are in
 * the order they were stored; the first (oldest) is evicted when the record is full.
 *
 * Memory: no buffer of its own. Every call reads and rewrites the whole record through the caller's
 * work buffer (spo_cache.buf, SPO_CACHE_MAX bytes to hold a full record), which is zeroed before
 * the call returns and is free between calls; plus under 1 KB of stack. A program without a cache
 * pays nothing.
 *
 * Clock: freshness is judged on the wall clock, because the monotonic clock restarts with the
 * process. The rule is spo_token_fresh()'s (reuse until SPO_TOKEN_REFRESH_MARGIN_S before expiry,
 * half the lifetime for short tokens), measured from the stored "obtained" time: a clock with a
 * constant offset is harmless, a clock that jumped forward makes entries stale (one extra request),
 * and a clock behind the time a token was obtained makes it stale too (it never looks fresher than
 * it is). A device without an RTC must set its clock before relying on the cache. */

#ifndef SPO_CACHE_MAX
#define SPO_CACHE_MAX 12288 /* largest record, bytes: four 2.5 KB app tokens, or two with refresh */
#endif
#ifndef SPO_CACHE_ENTRIES
#define SPO_CACHE_ENTRIES 8 /* entries in one record (at most 255) */
#endif
#ifndef SPO_REFRESH_MAX
#define SPO_REFRESH_MAX 4096 /* refresh token + NUL */
#endif
#define SPO_CACHE_KEY "tokens" /* the record's name in the port's storage */

/* What the cache answers (>= 0). Negative returns are spo_status (SPO_E_ARG, SPO_E_TOO_LONG) or
 * spo_store_status (SPO_STORE_IO, ...) values. */
enum spo_cache_result {
    SPO_CACHE_FRESH = 0,   /* the entry's access token is fresh: it is in *out */
    SPO_CACHE_STALE = 1,   /* there is an entry, but its access token is (nearly) expired; its
                            * refresh token, if any, is in refresh */
    SPO_CACHE_MISS = 2,    /* no record, no entry for this key, or no storage in the port */
    SPO_CACHE_CORRUPT = 3, /* the record fails a check: ignored; the next store replaces it */
    SPO_CACHE_INSECURE = 4 /* the port refused the record (on POSIX: a symlink, not a regular
                            * file, not owned by the user, or group/other permissions): ignored;
                            * the next store replaces it */
};

/* Kinds of token: an app-only and a delegated token for the same app and scope are different. */
enum spo_cache_kind {
    SPO_CACHE_APP = 0,  /* client credentials */
    SPO_CACHE_USER = 1  /* delegated (device code), usually with a refresh token */
};

typedef struct spo_cache {
    const struct spo_port *port; /* its store_read/store_write/store_remove (spo/port.h) */
    const char *key;      /* the record: SPO_CACHE_KEY, or (POSIX port) an absolute file path */
    uint8_t *buf;         /* work buffer, apart from every token buffer passed in or out;
                           * records never grow past min(cap, SPO_CACHE_MAX) */
    size_t cap;
} spo_cache;

/* One entry's key. All strings non-empty, printable ASCII, at most 255 bytes; compared byte for
 * byte (trailing '/' of the authority excepted). */
typedef struct spo_cache_id {
    uint8_t kind;          /* spo_cache_kind */
    const char *authority; /* "https://login.microsoftonline.com" */
    const char *tenant;
    const char *client_id;
    const char *scope;
} spo_cache_id;

/* Look the entry for id up at wall time now (now_ms: the port's monotonic clock, so that
 * spo_token_fresh() keeps working on *out in this process). Returns an spo_cache_result: on FRESH
 * *out is a complete token (bearer, len, lifetime_s, obtained_ms, expires_wall); otherwise out->len
 * is 0. refresh (may be NULL, cap 0) receives the entry's refresh token NUL-terminated on FRESH and
 * STALE, "" otherwise; SPO_E_TOO_LONG if it does not fit refresh_cap (SPO_REFRESH_MAX always does).
 * A storage failure is returned as is (negative). */
int spo_cache_load(const spo_cache *c, const spo_cache_id *id, spo_token *out, char *refresh,
                   size_t refresh_cap, int64_t now, uint64_t now_ms);

/* Insert or replace the entry for id with token t (obtained at t->expires_wall - t->lifetime_s) and
 * refresh (NULL or refresh_len 0: none). The other entries are kept, except those expired at wall
 * time now without a refresh token; the oldest go when SPO_CACHE_ENTRIES or the size limit would
 * be exceeded. An unreadable, corrupt or insecure record is replaced. Returns SPO_OK, SPO_E_ARG
 * (also: the port has no storage), SPO_E_TOO_LONG (the entry alone does not fit the buffer) or
 * SPO_STORE_IO. */
int spo_cache_store(const spo_cache *c, const spo_cache_id *id, const spo_token *t,
                    const char *refresh, size_t refresh_len, int64_t now);

/* Delete the entry for id, or the whole record when id is NULL (logout). A record that cannot be
 * read (corrupt, insecure, too big) is deleted whole: it is useless and may hold secrets. Returns
 * the number of entries deleted (a whole record counts as 1), or a negative status. */
int spo_cache_remove(const spo_cache *c, const spo_cache_id *id);

/* A short English explanation of a spo_cache_result or a storage status, for warnings
 * ("ignoring the token cache: <this>"). Never NULL. */
const char *spo_cache_describe(int rc);

/* ---- Delegated sign-in: the device code flow (RFC 8628) and refresh tokens ----
 *
 * For a device with no browser, signed in by a person elsewhere (Microsoft's "device code flow";
 * the app registration must allow public client flows, and no client secret is sent):
 *   1. spo_device_start(): POST {authority}/{tenant}/oauth2/v2.0/devicecode, form client_id and
 *      scope (add "offline_access" to get a refresh token). The answer's message (or user_code
 *      and verification_uri) is shown to the person.
 *   2. spo_device_poll() every `interval` seconds (plus 5 s after each slow_down, as RFC 8628 3.5
 *      says), until an outcome other than PENDING or SLOW_DOWN, or `expires_in` has passed:
 *      POST .../token, grant_type=urn:ietf:params:oauth:grant-type:device_code, client_id,
 *      device_code. On success the access token, the refresh token and the granted scope are kept.
 *   3. Later, spo_auth_refresh(): POST .../token, grant_type=refresh_token, client_id,
 *      refresh_token, scope. The service answers with a new refresh token, which replaces the old
 *      one in d->refresh every time (the old one must then be discarded).
 *
 * Memory: everything in spo_delegated (17,280 bytes on x86-64 with the defaults, two thirds of it
 * the access token, the refresh token and the body that carries one); the answer is streamed
 * through the caller's JSON reader into fixed buffers, and a field longer than its buffer is
 * SPO_E_TOO_LONG (diag->message names the limit), never cut. Secrets (the device code, the tokens,
 * the refresh token) are never put in diag, and the form body that carried them is zeroed after
 * each request. The connection is closed after each answer. */

#ifndef SPO_DEVICE_CODE_MAX
#define SPO_DEVICE_CODE_MAX 1024 /* device_code + NUL; Entra's are about 200 bytes */
#endif
#ifndef SPO_USER_CODE_MAX
#define SPO_USER_CODE_MAX 32 /* user_code + NUL; Entra's are 9 characters */
#endif
#ifndef SPO_VERIFY_URI_MAX
#define SPO_VERIFY_URI_MAX 256 /* verification_uri + NUL ("https://microsoft.com/devicelogin") */
#endif
#ifndef SPO_DEVICE_MESSAGE_MAX
#define SPO_DEVICE_MESSAGE_MAX 1024 /* message + NUL: one localised sentence, ~150 bytes in English */
#endif
#ifndef SPO_GRANTED_SCOPE_MAX
#define SPO_GRANTED_SCOPE_MAX 1024 /* the scope a delegated token was granted + NUL */
#endif
#ifndef SPO_DELEGATED_BODY_MAX
#define SPO_DELEGATED_BODY_MAX (SPO_REFRESH_MAX + 1024) /* form body: the refresh token (URL-safe
                                                         * in practice), ids and scope */
#endif
#define SPO_DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define SPO_DEVICE_SLOW_DOWN_S 5 /* seconds added to the interval after each slow_down */

typedef struct spo_delegated {
    /* from spo_device_start() */
    char device_code[SPO_DEVICE_CODE_MAX]; /* secret: zeroed once the flow ends */
    char user_code[SPO_USER_CODE_MAX];
    char verification_uri[SPO_VERIFY_URI_MAX];
    char message[SPO_DEVICE_MESSAGE_MAX];  /* what to show the person, as the service wrote it */
    uint32_t expires_in;                   /* seconds the device code is valid (900 if absent) */
    uint32_t interval;                     /* seconds between polls (5 if absent) */
    /* from a successful poll or refresh */
    spo_token token;                       /* the delegated access token */
    char refresh[SPO_REFRESH_MAX];         /* the refresh token now valid ("" if none) */
    char scope[SPO_GRANTED_SCOPE_MAX];     /* the scope granted ("" if the answer had none) */
    /* work buffers */
    char body[SPO_DELEGATED_BODY_MAX];
    char url[SPO_AUTH_URL_MAX];
    char num[2][24];                       /* expires_in / interval as received */
} spo_delegated;

/* Outcomes of a poll (>= 0; negative returns are spo_status values). */
enum spo_device_outcome {
    SPO_DEVICE_SUCCESS = 0,  /* signed in: d->token, d->refresh, d->scope are set */
    SPO_DEVICE_PENDING = 1,  /* authorization_pending: the person has not finished; poll again */
    SPO_DEVICE_SLOW_DOWN = 2,/* slow_down: d->interval has been raised by SPO_DEVICE_SLOW_DOWN_S */
    SPO_DEVICE_DECLINED = 3, /* authorization_declined: the person refused */
    SPO_DEVICE_EXPIRED = 4,  /* expired_token: the code expired; start again */
    SPO_DEVICE_BAD_CODE = 5  /* bad_verification_code: the service does not know the code */
};

/* Ask for a device code for cfg->client_id and cfg->scope (cfg->secret is not used). Returns SPO_OK
 * with d's first block set; SPO_E_AUTH (the service refused: diag, e.g. AADSTS7000218 when public
 * client flows are off, or AADSTS700016 for an unknown app); SPO_E_TOO_LONG (the scope does not
 * fit the body, or a field is longer than its SPO_*_MAX: diag->message names it);
 * SPO_E_JSON_SHAPE (device_code, user_code or verification_uri missing, or expires_in/interval
 * not a number of seconds in 1..86400); or a transport status. d's results are zeroed first. */
int spo_device_start(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                     spo_json_reader *r, int64_t wall, spo_diag *diag);

/* Poll once with d->device_code. Returns an spo_device_outcome; or SPO_E_AUTH for any other
 * refusal (diag: e.g. AADSTS7000218, or a 429/5xx the caller may retry after the interval);
 * SPO_E_TOO_LONG (a token longer than SPO_TOKEN_MAX / SPO_REFRESH_MAX, or the scope than
 * SPO_GRANTED_SCOPE_MAX); SPO_E_JSON_SHAPE; or a transport status. On SUCCESS, DECLINED, EXPIRED
 * and BAD_CODE the device code is zeroed (the flow is over); on a failure the token and refresh
 * token are zeroed. now_ms and wall give the token's timing. */
int spo_device_poll(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                    spo_json_reader *r, uint64_t now_ms, int64_t wall, spo_diag *diag);

/* Renew the access token with the refresh token in d->refresh, for cfg->scope. On SPO_OK d->token
 * is new and d->refresh holds the new refresh token (the old one if, unusually, the answer had
 * none). On failure d->token is zeroed and d->refresh still holds the old refresh token, so that
 * the caller can retry a 429, a 5xx or a transport failure: SPO_E_ARG (no refresh token),
 * SPO_E_AUTH (diag; AADSTS700082: the refresh token expired through inactivity, sign in again),
 * SPO_E_TOO_LONG, SPO_E_JSON_SHAPE, or a transport status. */
int spo_auth_refresh(spo_delegated *d, const spo_auth_config *cfg, spo_http_conn *conn,
                     spo_json_reader *r, uint64_t now_ms, int64_t wall, spo_diag *diag);

/* Zero d entirely (device code, tokens, refresh token, body). */
void spo_delegated_wipe(spo_delegated *d);

/* ---- Certificate credentials: the client assertion ----
 *
 * Instead of client_secret, the token request may carry a JWT signed with the private key of a
 * certificate registered on the app (RFC 7523; Microsoft's "certificate credentials"):
 *   client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer
 *   client_assertion=<base64url(header)>.<base64url(claims)>.<base64url(signature)>
 * header {"alg":"PS256","typ":"JWT","x5t#S256":<SHA-256 thumbprint>} (RSASSA-PSS, SHA-256, MGF1
 * SHA-256, 32-byte salt), or {"alg":"RS256","typ":"JWT","x5t":<SHA-1 thumbprint>} (PKCS#1 v1.5,
 * SHA-256) as MSAL sends for a PEM key with a SHA-1 thumbprint; claims aud (the token endpoint),
 * iss = sub = client id, jti (a random UUIDv4), nbf = iat = now, exp = now + 600 s.
 *
 * The credential is one PEM text, as Azure Identity's AZURE_CLIENT_CERTIFICATE_PATH: the first
 * CERTIFICATE block is the app's certificate, and the file holds its RSA private key as PKCS#8
 * ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY"), encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY": PBES2
 * with AES or 3DES, or PKCS#12 PBE) or legacy encrypted PKCS#1 ("Proc-Type: 4,ENCRYPTED"), the
 * last two with a password (AZURE_CLIENT_CERTIFICATE_PASSWORD). PKCS#12 (.pfx) files are not read.
 *
 * Memory: spo_cert_cred (8.6 KB) holds the file while loading, then only the key's PEM block
 * (encrypted as it came) and the password. The key is parsed into mbedTLS's pool only while it is
 * checked or used, and freed (zeroed) right after: pool peak 4.8 / 8.4 KB to load an RSA-2048 /
 * RSA-4096 credential, 8.6 / 16.1 KB to sign (x86-64). Sign with no TLS connection open: one
 * to Microsoft holds 35-38 KB of the pool on 64-bit hosts, and with RSA-4096 both do not fit
 * SPO_TLS_POOL_SIZE (it is then SPO_E_TLS_POOL, cleanly). Stack: about 4.4 KB to load and 2.5 KB
 * to sign, mbedTLS included (x86-64).
 * Nothing here prints; the key, the password and every assertion buffer are zeroed after use. */

#ifndef SPO_CERT_PEM_MAX
#define SPO_CERT_PEM_MAX 8192 /* largest credential file; a certificate chain + RSA-4096 key fits */
#endif
#ifndef SPO_CERT_PASSWORD_MAX
#define SPO_CERT_PASSWORD_MAX 256 /* key password + NUL */
#endif
#ifndef SPO_ASSERTION_LIFETIME_S
#define SPO_ASSERTION_LIFETIME_S 600 /* exp - iat: MSAL's value; Entra wants 5 to 10 minutes */
#endif
/* nbf/iat before this (2020-01-01) means an unset clock: Entra would refuse with AADSTS700024. */
#define SPO_ASSERTION_MIN_TIME 1577836800

enum spo_jwt_alg {
    SPO_JWT_PS256 = 0, /* RSASSA-PSS + x5t#S256: what Microsoft documents today */
    SPO_JWT_RS256 = 1  /* PKCS#1 v1.5 + x5t (SHA-1): the older form, still accepted */
};

/* Why a load or a build failed (spo_cert_cred.problem), beyond the status. */
enum spo_cert_problem {
    SPO_CERT_OK = 0,
    SPO_CERT_UNREADABLE,    /* the file cannot be opened or read (or the port has no file_read) */
    SPO_CERT_TOO_BIG,       /* the file is larger than SPO_CERT_PEM_MAX */
    SPO_CERT_NOT_PEM,       /* no PEM block at all, or binary data (a .pfx or DER file) */
    SPO_CERT_NO_CERT,       /* no CERTIFICATE block */
    SPO_CERT_BAD_CERT,      /* the first CERTIFICATE block is damaged or not X.509 */
    SPO_CERT_NO_KEY,        /* no private key block */
    SPO_CERT_BAD_KEY,       /* the key block is truncated, damaged or in an unknown format */
    SPO_CERT_NOT_RSA,       /* the certificate or the key is not RSA (EC, DSA, Ed25519, ...) */
    SPO_CERT_KEY_SIZE,      /* an RSA key under 2048 bits (Entra accepts none) */
    SPO_CERT_NEED_PASSWORD, /* the key is encrypted and no password was given */
    SPO_CERT_BAD_PASSWORD,  /* the password does not decrypt the key */
    SPO_CERT_UNSUPPORTED,   /* an encryption scheme mbedTLS lacks (or SPO_NO_ENCRYPTED_KEYS) */
    SPO_CERT_MISMATCH,      /* the key is not the certificate's */
    SPO_CERT_CLOCK,         /* the wall clock is before SPO_ASSERTION_MIN_TIME */
    SPO_CERT_NO_MEMORY      /* mbedTLS's pool ran out (status SPO_E_TLS_POOL) */
};

struct spo_assertion_params;
typedef struct spo_cert_cred {
    char x5t_s256[44];      /* base64url(SHA-256(certificate DER)), unpadded, NUL-terminated */
    char x5t[28];           /* base64url(SHA-1(certificate DER)), unpadded, NUL-terminated */
    uint32_t key_bits;      /* RSA modulus size */
    uint8_t loaded;         /* 1 after a successful load */
    uint8_t problem;        /* spo_cert_problem of the last call */
    int mbedtls_err;        /* raw mbedTLS error behind problem (for --verbose), 0 if none */
    size_t key_len;         /* the key's PEM block in pem, NUL excluded */
    size_t password_len;    /* 0 when the key is not encrypted */
    /* spo_assertion_form, set by a successful load: spo_auth_client_credentials signs through it
     * so that the token request itself does not link the signing code into secret-only programs
     * (only loading a certificate does). */
    int (*assertion_form)(struct spo_cert_cred *c, const struct spo_assertion_params *p, char *dst,
                          size_t cap, size_t *pos);
    char password[SPO_CERT_PASSWORD_MAX];
    char pem[SPO_CERT_PEM_MAX + 1]; /* the file while loading; then the key block alone */
} spo_cert_cred;

/* Load the credential from the file at path, read through port->file_read, or from pem[0..len).
 * password may be NULL or "" for an unencrypted key (it is then ignored). The certificate's
 * thumbprints are computed, the key is decrypted and checked against the certificate once, and
 * freed again. Returns SPO_OK; SPO_E_ARG with c->problem saying what is wrong with the file;
 * SPO_E_TOO_LONG (file > SPO_CERT_PEM_MAX, or password >= SPO_CERT_PASSWORD_MAX); SPO_E_TLS_POOL.
 * On failure c is wiped except problem and mbedtls_err. */
struct spo_port;
int spo_cert_load_file(spo_cert_cred *c, const struct spo_port *port, const char *path,
                       const char *password);
int spo_cert_load_pem(spo_cert_cred *c, const char *pem, size_t len, const char *password);

/* What to do about a spo_cert_problem, one English sentence. Never NULL. */
const char *spo_cert_problem_text(int problem);

/* Zero the key, the password and everything else in c. */
void spo_cert_wipe(spo_cert_cred *c);

typedef struct spo_assertion_params {
    const char *aud;       /* the token endpoint URL: {authority}/{tenant}/oauth2/v2.0/token */
    const char *client_id; /* iss and sub */
    int64_t now;           /* wall clock, seconds since the epoch: nbf = iat; exp = now + lifetime */
    uint8_t alg;           /* spo_jwt_alg */
    /* True entropy (a port's entropy and ctx): seeds a CTR_DRBG, used for jti, the PSS salt and
     * RSA blinding. Returns SPO_OK or an error. */
    int (*entropy)(void *ctx, uint8_t *buf, size_t len);
    void *entropy_ctx;
} spo_assertion_params;

/* Sign a new assertion into out (cap bytes; SPO_ASSERTION_MAX always suffices for aud up to
 * SPO_AUTH_URL_MAX and RSA-4096), NUL-terminated; *out_len gets its length. Returns SPO_OK,
 * SPO_E_TOO_LONG (cap too small), SPO_E_ARG (no credential, empty aud or client id, invalid UTF-8,
 * unknown alg, clock: c->problem), SPO_E_ENTROPY, SPO_E_TLS_POOL or SPO_E_INTERNAL. On failure
 * out holds "" and the rest of it is zero. */
int spo_assertion_build(spo_cert_cred *c, const spo_assertion_params *p, char *out, size_t cap,
                        size_t *out_len);

/* Append the two form fields to the body dst at *pos ("&" first unless *pos is 0), the assertion
 * signed straight into dst (base64url needs no URL-encoding). Same returns as spo_assertion_build;
 * on failure dst is cut back to *pos, unchanged, and what was written after it is zeroed. Needs
 * 105 bytes + the assertion + the NUL of room: SPO_AUTH_BODY_MAX must grow for it. */
int spo_assertion_form(spo_cert_cred *c, const spo_assertion_params *p, char *dst, size_t cap,
                       size_t *pos);

#endif
