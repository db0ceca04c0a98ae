/* Errors a user can meet, each with what to do about it. */
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

void spo_cli_wipe(char *p, size_t n)
{
    mbedtls_platform_zeroize(p, n);
}

const char *spo_cli_utc(int64_t t)
{
    static char buf[64];
    int64_t days = t / 86400, sec = t % 86400;
    if (sec < 0) {
        sec += 86400;
        days--;
    }
    /* civil-from-days (Howard Hinnant's algorithm, public domain arithmetic) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y + (m <= 2),
             (long long)m, (long long)d, (long long)(sec / 3600), (long long)(sec / 60 % 60),
             (long long)(sec % 60));
    return buf;
}

void spo_cli_cache_warn(void *ctx, const char *key, int rc)
{
    (void)ctx;
    char path[SPO_STORE_PATH_MAX];
    if (spo_port_posix_store_path(key, path, sizeof path) < 0) {
        fprintf(stderr, "spo: warning: ignoring the token cache: no place for it (neither "
                        "XDG_CONFIG_HOME nor HOME is an absolute path): set SPO_TOKEN_CACHE to an "
                        "absolute path, or to 'off'\n");
        return;
    }
    const char *todo = rc == SPO_CACHE_CORRUPT || rc == SPO_STORE_TOO_BIG ||
                       rc == SPO_CACHE_INSECURE || rc == SPO_STORE_INSECURE
                           ? "a new token is requested instead"
                           : "check that the folder is writable, or set SPO_TOKEN_CACHE to "
                             "another absolute path or to 'off'";
    fprintf(stderr, "spo: warning: ignoring the token cache %s: %s; %s\n", path,
            spo_cache_describe(rc), todo);
}

typedef struct remedy {
    const char *code;
    const char *text;
} remedy;

/* The AADSTS codes a device owner meets, and the setting each one points at. */
static const remedy AADSTS[] = {
    { "AADSTS7000215", "the client secret is wrong: AZURE_CLIENT_SECRET must be the secret's Value "
                       "(shown once, when it was created), not its Secret ID" },
    { "AADSTS7000222", "the client secret has expired: create a new one under App registrations > "
                       "Certificates & secrets and update AZURE_CLIENT_SECRET" },
    { "AADSTS700016", "no application with this AZURE_CLIENT_ID in the tenant: use the Application "
                      "(client) ID, not the Object ID, and check AZURE_TENANT_ID" },
    { "AADSTS90002", "tenant not found: check AZURE_TENANT_ID (the Directory (tenant) ID or a "
                     "verified domain) and that AZURE_AUTHORITY_HOST is your cloud's" },
    { "AADSTS1002012", "the scope must be '<Graph URL>/.default' for app-only sign-in: check "
                       "SPO_GRAPH_URL" },
    { "AADSTS70011", "the scope is not valid: SPO_GRAPH_URL must be the Graph root, e.g. "
                     "https://graph.microsoft.com" },
    { "AADSTS500011", "the resource is not in this tenant: SPO_GRAPH_URL is wrong or belongs to "
                      "another cloud" },
    { "AADSTS7000218", "no client credential reached the service: set AZURE_CLIENT_SECRET or "
                       "AZURE_CLIENT_CERTIFICATE_PATH" },
    { "AADSTS700024", "the client assertion's time was refused: the device clock is wrong; set it "
                      "(NTP) and retry" },
    /* Certificate credentials (client assertions). */
    { "AADSTS700027", "the certificate is not registered on the app registration, or the key in "
                      "the file is not that certificate's: upload the certificate (.cer/.pem, "
                      "public part only) under App registrations > Certificates & secrets, and "
                      "keep the certificate and its own key together in "
                      "AZURE_CLIENT_CERTIFICATE_PATH" },
    { "AADSTS700021", "the client assertion names another application: AZURE_CLIENT_ID must be the "
                      "Application (client) ID the certificate is registered on" },
    { "AADSTS50027", "the client assertion is not a valid JWT: check --jwt-alg (ps256 or rs256) and "
                     "quote the trace id if it persists" },
    { "AADSTS50012", "the client assertion was refused (audience, issuer or signature): check "
                     "AZURE_AUTHORITY_HOST, AZURE_TENANT_ID and AZURE_CLIENT_ID" },
    { "AADSTS700023", "the client assertion's audience is not this token endpoint: check "
                      "AZURE_AUTHORITY_HOST and AZURE_TENANT_ID" },
    { "AADSTS700028", "the client assertion was used before (spo signs a new one per request): "
                      "something between this device and the service replays requests" },
    { "AADSTS7000216", "the request carried both a client secret and an assertion: a proxy in "
                       "between is adding one" },
    { "AADSTS900144", "a required parameter is missing from the token request: a proxy in between "
                      "may be rewriting it; quote the trace id if it persists" },
    { "AADSTS7000112", "the application is disabled: an administrator must enable it" },
    { "AADSTS50059", "use the tenant's ID or domain in AZURE_TENANT_ID, not 'common'" },
    { "AADSTS90019", "use the tenant's ID or domain in AZURE_TENANT_ID, not 'common'" },
    { "AADSTS50196", "too many token requests in a short time: wait a minute" },
};

static const char *aadsts_remedy(const char *code)
{
    for (size_t i = 0; i < sizeof AADSTS / sizeof AADSTS[0]; i++)
        if (!strcmp(AADSTS[i].code, code))
            return AADSTS[i].text;
    return NULL;
}

static const char *graph_remedy(int status, const char *code)
{
    if (status == 403)
        return "the app needs the *Application* permission Sites.Read.All (Microsoft Graph > "
               "Application permissions) with admin consent granted; delegated permissions do "
               "not apply to app-only sign-in";
    if (status == 401)
        return "Graph refused a fresh token: check that SPO_GRAPH_URL is the Graph root the token "
               "was issued for";
    if (status == 404)
        return "not found: check SPO_GRAPH_URL";
    if (status == 429 || status == 503 || status == 504)
        return "the service is throttling this app: try again later, less often";
    (void)code;
    return "retry later; if it persists, quote the request-id to Microsoft support";
}

static void host_of(const spo_client *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s", c->http.host[0] ? c->http.host : "the server");
}

/* What the user does about each spo_cert_problem, in the CLI's terms (environment names). */
static const char *cert_action(int problem)
{
    switch (problem) {
    case SPO_CERT_UNREADABLE:
        return "check AZURE_CLIENT_CERTIFICATE_PATH (or --certificate): the file must exist and be "
               "readable by this user";
    case SPO_CERT_NEED_PASSWORD:
        return "set AZURE_CLIENT_CERTIFICATE_PASSWORD to the key's password";
    case SPO_CERT_BAD_PASSWORD:
        return "check AZURE_CLIENT_CERTIFICATE_PASSWORD";
    case SPO_CERT_NO_CERT:
    case SPO_CERT_NO_KEY:
    case SPO_CERT_MISMATCH:
        return "put the certificate registered on the app and its own private key in one PEM file";
    case SPO_CERT_NO_MEMORY:
        return "rebuild with a larger SPO_TLS_POOL_SIZE";
    default:
        return "create a new one with: openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem "
               "-out cert.pem -days 365 -subj /CN=spo && cat cert.pem key.pem > app.pem, and upload "
               "cert.pem to the app registration";
    }
}

void spo_cli_explain_cert(const spo_client *c, const char *path)
{
    fprintf(stderr, "spo: cannot use the certificate file %s: %s: %s\n", path,
            spo_cert_problem_text(c->cert ? c->cert->problem : SPO_CERT_UNREADABLE),
            cert_action(c->cert ? c->cert->problem : SPO_CERT_UNREADABLE));
}

/* Delegated sign-in (spo login, or a command run as the signed-in user): refusals that have their
 * own remedy. Returns 1 when it printed the line. */
static int explain_user(const spo_diag *d, const char *what, const char *host)
{
    const char *again = "run 'spo login --device-code' again";
    if (!strcmp(d->code, SPO_LOGIN_REQUIRED)) {
        fprintf(stderr, "spo: %s: not signed in and AZURE_CLIENT_SECRET is not set: run 'spo login "
                        "--device-code' to sign in as a user, or set AZURE_CLIENT_SECRET for "
                        "app-only access\n", what);
    } else if (!strcmp(d->aadsts, "AADSTS700082")) {
        fprintf(stderr, "spo: %s: the sign-in has expired (AADSTS700082: the refresh token was not "
                        "used for too long): %s\n", what, again);
    } else if (!strcmp(d->aadsts, "AADSTS7000218")) {
        fprintf(stderr, "spo: %s refused by %s (AADSTS7000218): the app registration does not allow "
                        "public client flows: in the Azure portal, App registrations > your app > "
                        "Authentication, set \"Allow public client flows\" to Yes, then %s\n",
                what, host, !strcmp(what, "login") ? "retry" : again);
    } else if (!strcmp(d->code, "authorization_declined")) {
        fprintf(stderr, "spo: %s: the sign-in was declined in the browser: %s to retry\n", what, again);
    } else if (!strcmp(d->code, "expired_token")) {
        fprintf(stderr, "spo: %s: the code expired before the sign-in was finished: %s and enter the "
                        "code within the time shown\n", what, again);
    } else if (!strcmp(d->code, "bad_verification_code")) {
        fprintf(stderr, "spo: %s: %s did not recognise the device code (bad_verification_code): %s; "
                        "if it persists, check AZURE_AUTHORITY_HOST and AZURE_TENANT_ID\n",
                what, host, again);
    } else if (!strcmp(d->code, "invalid_grant")) {
        fprintf(stderr, "spo: %s: the stored sign-in was refused (%s: %s): %s\n", what,
                d->aadsts[0] ? d->aadsts : "invalid_grant", d->message[0] ? d->message : "no reason given",
                again);
    } else {
        return 0;
    }
    return 1;
}

void spo_cli_explain(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                     uint64_t delivered)
{
    const spo_diag *d = &c->diag;
    char host[SPO_HTTP_HOST_MAX];
    host_of(c, host, sizeof host);
    char partial[96] = "";
    if (delivered)
        snprintf(partial, sizeof partial, " (after %llu sites; the list is incomplete)",
                 (unsigned long long)delivered);
    const char *ca = cfg->ca_pem ? "the built-in bundle"
                     : cfg->ca_file ? cfg->ca_file : SPO_DEFAULT_CA_FILE;
    if (spo_cli_explain_proxy(c, cfg, what, rc, partial))
        return;

    if (c->clock_unknown) {
        fprintf(stderr, "spo: %s failed: %s\n", what, d->message);
        return;
    }
    /* Signing errors: nothing was sent. */
    if (c->use_cert && c->cert->problem != SPO_CERT_OK) {
        fprintf(stderr, "spo: %s failed: cannot sign the client assertion: %s: %s\n", what,
                spo_cert_problem_text(c->cert->problem), cert_action(c->cert->problem));
        return;
    }
    switch (rc) {
    case SPO_E_AUTH: {
        if (cfg->user && explain_user(d, what, host))
            return;
        const char *r = d->aadsts[0] ? aadsts_remedy(d->aadsts) : NULL;
        if (c->clock_set && !strcmp(d->aadsts, "AADSTS700024")) {
            fprintf(stderr, "spo: sign-in refused by %s: AADSTS700024 (%s, HTTP %d): the client "
                            "assertion's time was refused even after spo set its clock from the "
                            "service's own Date header (%+lld s): make sure nothing changes the "
                            "device clock during sign-in, and quote the trace id %s to support\n",
                    host, d->code[0] ? d->code : "no error code", d->status,
                    (long long)c->clock_offset, d->request_id[0] ? d->request_id : "(none)");
            return;
        }
        fprintf(stderr, "spo: sign-in refused by %s: %s (%s, HTTP %d): %s%s\n", host,
                d->aadsts[0] ? d->aadsts : "no AADSTS code", d->code[0] ? d->code : "no error code",
                d->status, r ? r : "the service said: ",
                r ? "" : d->message[0] ? d->message : "(nothing)");
        return;
    }
    case SPO_E_GRAPH:
    case SPO_E_THROTTLED:
        fprintf(stderr, "spo: %s failed%s: Graph answered HTTP %d %s (request-id %s): %s%s%s%s\n",
                what, partial, d->status, d->code[0] ? d->code : "-",
                d->request_id[0] ? d->request_id : "none",
                rc == SPO_E_THROTTLED ? "still throttled after every retry; " : "",
                cfg->user && d->status == 403
                    ? "the signed-in user, or the app's delegated permissions, do not allow this: "
                      "the app needs the *Delegated* permission Sites.Read.All (consented)"
                    : graph_remedy(d->status, d->code), d->message[0] ? ". Graph said: " : "",
                d->message);
        return;
    case SPO_E_TLS_VERIFY: {
        unsigned why = spo_tls_verify_reason(&c->tls);
        const char *r = why & SPO_TLS_BAD_HOST ? "the certificate does not name this host (wrong URL, or something is intercepting the connection)"
                      : why & SPO_TLS_BAD_EXPIRED ? "the certificate has expired, or the device clock is wrong: check the date"
                      : why & SPO_TLS_BAD_FUTURE ? "the certificate is not valid yet: the device clock is probably wrong"
                      : why & SPO_TLS_BAD_UNTRUSTED ? "it is not signed by a CA in the trusted bundle: set SPO_CA_FILE to the right PEM bundle"
                      : "it was refused (revoked, wrong key usage or weak signature)";
        fprintf(stderr, "spo: %s failed%s: the TLS certificate of %s was refused: %s (trusted bundle: %s)%s\n",
                what, partial, host, r, ca, spo_cli_proxy_tls_hint(c));
        return;
    }
    case SPO_E_TLS_POOL:
        fprintf(stderr, "spo: %s failed%s: the TLS memory pool (%u bytes) ran out during the handshake "
                        "with %s: rebuild with a larger SPO_TLS_POOL_SIZE\n",
                what, partial, (unsigned)SPO_TLS_POOL_SIZE, host);
        return;
    case SPO_E_TLS_TRUST:
        fprintf(stderr, "spo: %s failed: cannot read a certificate from %s: install ca-certificates "
                        "or point SPO_CA_FILE at a PEM bundle\n", what, ca);
        return;
    case SPO_E_TLS:
        fprintf(stderr, "spo: %s failed%s: TLS with %s failed (mbedTLS -0x%04x): is it an HTTPS "
                        "server? check the URL and any proxy in between\n",
                what, partial, host, (unsigned)-c->tls.last_mbedtls_err);
        return;
    case SPO_E_NET_CONNECT:
        fprintf(stderr, "spo: %s failed%s: cannot connect to %s: check the URL, DNS and the network\n",
                what, partial, host);
        return;
    case SPO_E_NET_TIMEOUT:
        fprintf(stderr, "spo: %s failed%s: %s did not answer in time: check the network, or raise "
                        "--timeout\n", what, partial, host);
        return;
    case SPO_E_NET_CLOSED:
    case SPO_E_NET_IO:
    case SPO_E_HTTP_TRUNCATED:
        fprintf(stderr, "spo: %s failed%s: the connection to %s kept breaking (%s) after every "
                        "retry: check the network\n", what, partial, host, spo_strerror(rc));
        return;
    case SPO_E_HTTP_PARSE:
    case SPO_E_HTTP_FRAMING:
        fprintf(stderr, "spo: %s failed%s: %s sent a malformed HTTP response (%s): a proxy in "
                        "between may be at fault\n", what, partial, host, spo_strerror(rc));
        return;
    case SPO_E_HTTP_LINE:
    case SPO_E_HTTP_HEADERS:
        fprintf(stderr, "spo: %s failed%s: %s sent %s (limits SPO_HTTP_LINE_MAX=%d, "
                        "SPO_HTTP_MAX_HEADERS=%d): rebuild with larger limits if this server is "
                        "legitimate\n", what, partial, host, rc == SPO_E_HTTP_LINE ? "a header line that is too long" : "too many headers",
                SPO_HTTP_LINE_MAX, SPO_HTTP_MAX_HEADERS);
        return;
    case SPO_E_JSON_SYNTAX:
    case SPO_E_JSON_SHAPE:
    case SPO_E_JSON_DEPTH:
        /* A failed token request leaves no token (auth.c wipes it): then the answer was the
         * identity platform's, not Graph's. */
        if (c->auth.token.len == 0)
            fprintf(stderr, "spo: %s failed%s: %s sent a token answer that is not the JSON the "
                            "identity platform documents (%s): check AZURE_AUTHORITY_HOST and any "
                            "proxy or captive portal in between\n", what, partial, host, spo_strerror(rc));
        else
            fprintf(stderr, "spo: %s failed%s: %s sent an answer that is not the JSON Graph documents (%s)\n",
                    what, partial, host, spo_strerror(rc));
        return;
    case SPO_E_JSON_TOO_BIG:
        fprintf(stderr, "spo: %s failed%s: one record from %s is larger than SPO_JSON_WINDOW (%d "
                        "bytes) or SPO_JSON_TOKENS (%d): rebuild with a larger window\n",
                what, partial, host, SPO_JSON_WINDOW, SPO_JSON_TOKENS);
        return;
    case SPO_E_TOO_LONG:
        if (!strcmp(what, "setup"))
            fprintf(stderr, "spo: configuration: %s\n", d->message[0] ? d->message : spo_strerror(rc));
        else if (!strcmp(what, "token") || c->auth.token.len == 0)
            fprintf(stderr, "spo: %s failed: the access token from %s is longer than SPO_TOKEN_MAX "
                            "(%d bytes): rebuild with a larger SPO_TOKEN_MAX\n", what, host, SPO_TOKEN_MAX);
        else
            fprintf(stderr, "spo: %s failed%s: a value from %s (a next-page link?) is longer than "
                            "its buffer (SPO_URL_MAX=%d)\n", what, partial, host, SPO_URL_MAX);
        return;
    case SPO_E_URL_HOST:
        fprintf(stderr, "spo: %s failed%s: Graph sent a next-page link to another host; refused so "
                        "that the token is never sent elsewhere\n", what, partial);
        return;
    case SPO_E_DEADLINE:
        fprintf(stderr, "spo: %s failed%s: the service asked to wait longer than the deadline "
                        "(%u s): try again later\n", what, partial, (unsigned)(SPO_GRAPH_DEADLINE_MS / 1000));
        return;
    case SPO_E_ARG:
    case SPO_E_URL:
        fprintf(stderr, "spo: configuration: %s\n", d->message[0] ? d->message : spo_strerror(rc));
        return;
    case SPO_E_ABORTED:
        fprintf(stderr, "spo: %s stopped: could not write the output\n", what);
        return;
    default:
        fprintf(stderr, "spo: %s failed%s: %s\n", what, partial, spo_strerror(rc));
    }
}
