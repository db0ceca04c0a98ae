/* spo — tokens from the Microsoft identity platform (OAuth 2.0 client credentials).
 *
 * POST {authority}/{tenant}/oauth2/v2.0/token, form-encoded, with the secret URL-encoded in the body
 * (as MSAL does). The answer is streamed through the JSON reader straight into the token buffer; a
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
#ifndef SPO_AUTH_BODY_MAX
#define SPO_AUTH_BODY_MAX 512 /* form body: ids, scope and the URL-encoded secret */
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
    const char *secret;    /* client secret value */
    const char *scope;     /* "https://graph.microsoft.com/.default" */
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
} spo_auth;

/* Acquire a token with the client-credentials grant. Uses (and then closes) conn; parses with r.
 * On SPO_E_AUTH, diag holds the HTTP status, the OAuth error, the AADSTS code, the first line of the
 * description and the trace id. now_ms and wall give the token's timing. */
int spo_auth_client_credentials(spo_auth *a, const spo_auth_config *cfg, spo_http_conn *conn,
                                spo_json_reader *r, uint64_t now_ms, int64_t wall,
                                spo_diag *diag);

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

#endif
