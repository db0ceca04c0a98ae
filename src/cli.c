/* spo — the command-line tool, on the library, without heap. */
#include "spo/spo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static spo_client client; /* all of spo's state: sizeof(spo_client) bytes, see `make memreport` */
static char out_buf[512]; /* stdout's buffer: static, so stdio never mallocs one */
static uint8_t cache_buf[SPO_CACHE_MAX]; /* the token cache's work buffer (holds no data between calls) */
static spo_cert_cred cert_cred; /* the certificate credential, when one is used (8.6 KB) */
static spo_delegated user; /* delegated sign-in state (no client secret): device code, refresh token */
static char scope_buf[SPO_CFG_URL_MAX]; /* --scope / SPO_SCOPE with bare names made full URIs */

typedef struct opts {
    const char *cmd;
    const char *search;
    const char *scope;
    int json, raw, verbose, help, device_code;
    spo_config cfg;
    const char *cloud;
    const char *cert_opt; /* --certificate: wins over AZURE_CLIENT_SECRET */
    const char *jwt_alg;
    spo_cli_files files; /* ls, mkdir, get, list-add */
    char **pos;   /* positional arguments after the command (put), compacted into argv */
    int npos;
    const char *drive, *if_exists, *fragment;
} opts;

static const char USAGE[] =
    "usage: spo [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "SharePoint Online from small devices: app-only sign-in (OAuth 2.0 client credentials)\n"
    "and Microsoft Graph, in a fixed memory budget.\n"
    "\n"
    "commands:\n"
    "  token            acquire an app-only token; print that it worked and when it expires\n"
    "  sites            list the tenant's sites, one per line: displayName<TAB>webUrl\n"
    "  ls SITE [PATH]   list a folder of a document library\n"
    "  mkdir SITE PATH  create a folder and its missing parents\n"
    "  get SITE REMOTE_PATH LOCAL\n"
    "                   download a file, checked (size, quickXorHash) before it replaces LOCAL\n"
    "  list-add SITE LIST FIELD=VALUE... [FIELD:=JSON...] [--json-file F]\n"
    "                   add an item to a SharePoint list; prints the new item's id\n"
    "  put SITE LOCAL... REMOTE_PATH\n"
    "                   upload files to a document library, each checked (size, quickXorHash)\n"
    "  login --device-code  sign in as a user (device code flow); later commands without\n"
    "                   AZURE_CLIENT_SECRET act as that user, renewing the token silently\n"
    "  logout           remove the cached tokens (and so the signed-in user)\n"
    "\n"
    "configuration (environment, Azure Identity's names; the options override):\n"
    "  AZURE_TENANT_ID       --tenant ID        Directory (tenant) ID or verified domain\n"
    "  AZURE_CLIENT_ID       --client-id ID     Application (client) ID\n"
    "  AZURE_CLIENT_SECRET                      client secret *value* (environment only, so it\n"
    "                                           never shows in the process list)\n"
    "  AZURE_CLIENT_CERTIFICATE_PATH  --certificate FILE\n"
    "                                           instead of a secret: PEM file with the certificate\n"
    "                                           uploaded to the app registration and its RSA key\n"
    "                                           (PKCS#8 or PKCS#1, possibly encrypted)\n"
    "  AZURE_CLIENT_CERTIFICATE_PASSWORD        the key's password (environment only)\n"
    "  SPO_JWT_ALG           --jwt-alg ALG      ps256 (default: RSA-PSS, x5t#S256) or rs256\n"
    "                                           (PKCS#1 v1.5, SHA-1 x5t: the older form)\n"
    "    With both AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH set, the secret is used,\n"
    "    as Azure Identity's EnvironmentCredential does (one environment, one behaviour); an\n"
    "    explicit --certificate wins over the secret, like every option over the environment.\n"
    "                                           never shows in the process list); without it,\n"
    "                                           the user signed in with 'spo login' is used\n"
    "  AZURE_AUTHORITY_HOST  --authority URL    default https://login.microsoftonline.com\n"
    "  SPO_GRAPH_URL         --graph-url URL    default https://graph.microsoft.com\n"
    "  SPO_CLOUD             --cloud NAME       public (default), usgov, usgov-dod or china: sets\n"
    "                                           the authority and Graph URLs together; explicit\n"
    "                                           URLs still override\n"
    "  SPO_CA_FILE           --ca-file FILE     PEM bundle to trust instead of the system one\n"
    "                                           (" SPO_DEFAULT_CA_FILE ")\n"
    "  https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY (first one set, curl's order)\n"
    "                        HTTP proxy for every connection, as http://[USER:PASSWORD@]HOST[:PORT]\n"
    "                        (port 1080 if none, as in curl); tunnelled with CONNECT, and TLS is\n"
    "                        still verified end to end. https:// and socks proxies are not supported\n"
    "  no_proxy, NO_PROXY    hosts to reach directly: comma-separated names, each matching itself\n"
    "                        and its subdomains (a leading '.' is optional), IP addresses exactly,\n"
    "                        '*' for all; case-insensitive, ports ignored\n"
    "  SPO_TOKEN_CACHE                          where tokens are kept between runs (0600):\n"
    "                                           default $XDG_CONFIG_HOME/spo/tokens (else\n"
    "                                           ~/.config/spo/tokens); an absolute path; or\n"
    "                                           'off' to ask for a new token on every run\n"
    "  SPO_SCOPE             --scope SCOPES     delegated scopes (login and later commands must\n"
    "                                           agree): default Sites.Read.All; bare names are\n"
    "                                           under the Graph URL; offline_access is added\n"
    "\n"
    "options:\n"
    "  --timeout SECONDS   connect/receive timeout (default 30)\n"
    "  --verbose           each request, status and time on stderr (secrets as [redacted])\n"
    "  --version, --help   (also: spo COMMAND --help)\n"
    "\n"
    "exit status: 0 success, 1 failure (one line on stderr says why and what to do), 2 usage.\n";

static const char USAGE_TOKEN[] =
    "usage: spo token [--raw]\n"
    "\n"
    "Acquire an app-only token for Microsoft Graph with the client-credentials grant and print\n"
    "that it worked and when it expires. The token itself is printed only with --raw (alone on\n"
    "one line, for scripts); treat that output as a password.\n";

static const char USAGE_SITES[] =
    "usage: spo sites [--search TEXT] [--json]\n"
    "\n"
    "List every site of the tenant (GET /v1.0/sites, following each @odata.nextLink), or those\n"
    "matching TEXT. Sites are printed as they arrive: displayName<TAB>webUrl, or with --json one\n"
    "object per line: {\"id\":...,\"displayName\":...,\"webUrl\":...}, strings byte for byte as\n"
    "Graph sent them. Needs the Application permission Sites.Read.All with admin consent.\n"
    "As a signed-in user (spo login, no AZURE_CLIENT_SECRET) the sites come from a search\n"
    "(GET /v1.0/sites?search=*, or TEXT), because Graph lists no sites to a delegated /sites;\n"
    "a search finds the sites the user can see, and may lag behind new sites.\n"
    "If the listing fails part-way the exit status is 1: a partial list never exits 0.\n";

static const char USAGE_PUT[] =
    "usage: spo put SITE LOCAL... REMOTE_PATH [--drive NAME] [--if-exists fail|replace|rename]\n"
    "               [--fragment-size BYTES] [--json]\n"
    "\n"
    "Upload LOCAL to REMOTE_PATH in the site's default document library (or the library called\n"
    "NAME). With several LOCAL files, or a REMOTE_PATH ending in '/', REMOTE_PATH is a folder and\n"
    "each file keeps its name; missing folders are created. SITE is a site id, host:/sites/path\n"
    "or the site's URL. Files up to 4 MiB go in one request; larger ones by an upload session in\n"
    "fragments of BYTES (a multiple of 327680; default 3276800), which survives lost connections\n"
    "and, when run again for the same unchanged file, a restart or power loss. One line per file\n"
    "on stdout, name<TAB>size<TAB>id (--json: one object per line), printed only once the\n"
    "service's copy has the same size and quickXorHash as the local file. --if-exists: fail\n"
    "(default), replace (a new version) or rename (keep both). Needs the Application permission\n"
    "Sites.ReadWrite.All. Exit status 1 if any file failed; stderr names each.\n";
static const char USAGE_LOGIN[] =
    "usage: spo login --device-code [--scope SCOPES]\n"
    "\n"
    "Sign in as a user with the device code flow: the service's instruction (a web address and\n"
    "a code to enter there, on any device with a browser) is printed on stderr, and spo waits\n"
    "until the sign-in is finished, refused or expired (15 minutes). The access and refresh\n"
    "tokens are kept in the token cache (SPO_TOKEN_CACHE); later commands run without\n"
    "AZURE_CLIENT_SECRET use them, renewing the access token with the refresh token.\n"
    "Default scope: <Graph URL>/Sites.Read.All offline_access. The app registration needs\n"
    "'Allow public client flows' = Yes (Authentication page) and the delegated permission.\n";

static const char USAGE_LOGOUT[] =
    "usage: spo logout\n"
    "\n"
    "Remove the token cache (SPO_TOKEN_CACHE, default $XDG_CONFIG_HOME/spo/tokens): the\n"
    "signed-in user's tokens and any cached app-only token.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "spo: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see spo --help)\n");
    return 2;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* ------------------------------------------------------------------ output */

static int put_stdout(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    return fwrite(s, 1, n, stdout) == n ? 0 : SPO_E_ABORTED;
}

typedef struct sites_out {
    int json;
    int tty;
    uint64_t count;
} sites_out;

/* Text mode is one site per line: control characters (never seen in real names) become spaces
 * so that a line is always a site and a name cannot drive the terminal: C0, DEL and the C1 range
 * in UTF-8 (U+0080..U+009F: NEL ends a line, CSI starts an escape on some terminals). --json
 * keeps every byte. */
void spo_cli_text(const char *s, size_t n)
{
    size_t run = 0; /* bytes since the last control character, written in one call */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t w = ch < 0x20 || ch == 0x7f ? 1
                   : ch == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                           (unsigned char)s[i + 1] <= 0x9f
                       ? 2
                       : 0;
        if (w) {
            fwrite(s + run, 1, i - run, stdout);
            putchar(' ');
            i += w - 1;
            run = i + 1;
        }
    }
    fwrite(s + run, 1, n - run, stdout);
}

static int on_site(void *ctx, const spo_site *s)
{
    sites_out *o = ctx;
    if (o->json) {
        fputs("{\"id\":", stdout);
        spo_json_write_string(put_stdout, NULL, s->id, s->id_len);
        fputs(",\"displayName\":", stdout);
        spo_json_write_string(put_stdout, NULL, s->display_name, s->display_name_len);
        fputs(",\"webUrl\":", stdout);
        spo_json_write_string(put_stdout, NULL, s->web_url, s->web_url_len);
        fputs("}\n", stdout);
    } else {
        spo_cli_text(s->display_name, s->display_name_len);
        putchar('\t');
        spo_cli_text(s->web_url, s->web_url_len);
        putchar('\n');
    }
    o->count++;
    if (o->tty)
        fflush(stdout);
    if (ferror(stdout))
        return SPO_E_ABORTED; /* a closed pipe: stop asking Graph for more */
    return 0;
}

/* ------------------------------------------------------------------ verbose trace */

static void clock_note(void *ctx, int64_t offset_s, const char *why)
{
    (void)ctx;
    fprintf(stderr, "spo: device clock corrected by %+lld s from the token endpoint's Date header "
                    "(%s); now %s\n", (long long)offset_s, why, spo_cli_utc(spo_client_wall(&client)));
}

static void wait_note(void *ctx, uint32_t ms)
{
    (void)ctx;
    fprintf(stderr, "spo: waiting %u.%u s before trying again\n", ms / 1000, ms % 1000 / 100);
}

static void trace(void *ctx, const char *method, const spo_url *url, int status, uint32_t ms)
{
    const spo_client *c = ctx;
    int delegated = c->user != NULL; /* the token endpoint gets a device code or refresh token */
    spo_span host = url->host, target = url->target;
    char port[8] = "";
    if (url->port != 443)
        snprintf(port, sizeof port, ":%u", url->port);
    int is_token = target.len >= 6 && memcmp(target.ptr + target.len - 6, "/token", 6) == 0;
    int is_device = target.len >= 11 && memcmp(target.ptr + target.len - 11, "/devicecode", 11) == 0;
    int v6 = memchr(host.ptr, ':', host.len) != NULL;
    /* Pre-authenticated URLs (downloads, upload sessions) carry their credential in the query. */
    const char *ta = NULL;
    for (size_t i = 0; !ta && i + 9 <= target.len; i++)
        if (memcmp(target.ptr + i, "tempauth=", 9) == 0)
            ta = target.ptr + i;
    size_t cut = ta ? (size_t)(ta - target.ptr) + 9 : target.len, rest = cut;
    while (ta && rest < target.len && target.ptr[rest] != '&')
        rest++;
    const char *cred = is_device ? "client_id, scope"
                     : c->probing ? "no credential: asking the time"
                     : is_token && delegated ? "device_code/refresh_token=[redacted]"
                     : is_token && c->use_cert ? "client_assertion=[redacted]"
                     : is_token ? "client_secret=[redacted]"
                     : ta ? "pre-authenticated, no Authorization" : "Authorization: Bearer [redacted]";
    fprintf(stderr, "spo: %s https://%s%.*s%s%s%.*s%s%.*s [%s] -> ", method, v6 ? "[" : "",
            (int)host.len, host.ptr, v6 ? "]" : "", port, (int)cut, target.ptr,
            ta ? "[redacted]" : "", (int)(target.len - rest), target.ptr + rest, cred);
    if (status >= 100)
        fprintf(stderr, "%d in %u ms\n", status, ms);
    else
        fprintf(stderr, "failed (%s) after %u ms\n", spo_strerror(status), ms);
}

/* ------------------------------------------------------------------ main */

static int parse_args(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(field)                                                  \
    do {                                                             \
        if (!next)                                                   \
            return usage_error("option %s needs a value", a);        \
        (field) = next;                                              \
        i++;                                                         \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) o->help = 1;
        else if (!strcmp(a, "--version")) { printf("spo %s (mbedTLS 3.6, jsmn 1.1)\n", SPO_VERSION); exit(0); }
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) o->verbose = 1;
        else if (!strcmp(a, "--json") && o->cmd && (!strcmp(o->cmd, "sites") || !strcmp(o->cmd, "put"))) o->json = 1;
        else if (!strcmp(a, "--json") && o->cmd && !strcmp(o->cmd, "ls")) o->files.json = 1;
        else if (!strcmp(a, "--drive") && o->cmd && !strcmp(o->cmd, "put")) TAKE(o->drive);
        else if (!strcmp(a, "--drive") && o->cmd && spo_cli_files_cmd(o->cmd)) TAKE(o->files.drive);
        else if (!strcmp(a, "--json-file") && o->cmd && !strcmp(o->cmd, "list-add"))
            TAKE(o->files.json_file);
        else if (!strcmp(a, "--if-exists") && o->cmd && !strcmp(o->cmd, "put")) TAKE(o->if_exists);
        else if (!strcmp(a, "--fragment-size") && o->cmd && !strcmp(o->cmd, "put")) TAKE(o->fragment);
        else if (!strcmp(a, "--raw") && o->cmd && !strcmp(o->cmd, "token")) o->raw = 1;
        else if (!strcmp(a, "--search") && o->cmd && !strcmp(o->cmd, "sites")) TAKE(o->search);
        else if (!strcmp(a, "--device-code") && o->cmd && !strcmp(o->cmd, "login")) o->device_code = 1;
        else if (!strcmp(a, "--scope")) TAKE(o->scope);
        else if (!strcmp(a, "--tenant")) TAKE(o->cfg.tenant);
        else if (!strcmp(a, "--client-id")) TAKE(o->cfg.client_id);
        else if (!strcmp(a, "--authority")) TAKE(o->cfg.authority_host);
        else if (!strcmp(a, "--graph-url")) TAKE(o->cfg.graph_url);
        else if (!strcmp(a, "--ca-file")) TAKE(o->cfg.ca_file);
        else if (!strcmp(a, "--cloud")) TAKE(o->cloud);
        else if (!strcmp(a, "--certificate")) TAKE(o->cert_opt);
        else if (!strcmp(a, "--jwt-alg")) TAKE(o->jwt_alg);
        else if (!strcmp(a, "--timeout")) {
            const char *v;
            TAKE(v);
            char *end;
            long s = strtol(v, &end, 10);
            if (*end || s < 1 || s > 3600)
                return usage_error("--timeout takes seconds from 1 to 3600, not '%s'", v);
            o->cfg.timeout_ms = (uint32_t)s * 1000u;
        } else if (a[0] == '-' && a[1] != '\0') return usage_error("unknown option '%s'", a);
        else if (!o->cmd) {
            if (strcmp(a, "token") != 0 && strcmp(a, "sites") != 0 && strcmp(a, "put") != 0 &&
                strcmp(a, "login") != 0 && strcmp(a, "logout") != 0 && !spo_cli_files_cmd(a))
                return usage_error("unknown command '%s'", a);
            o->cmd = a;
            o->pos = argv + i + 1;
        } else if (!strcmp(o->cmd, "put")) o->pos[o->npos++] = argv[i]; /* never ahead of i */
        else if (spo_cli_files_cmd(o->cmd)) {
            if (o->files.nargs == SPO_CLI_ARGS_MAX)
                return usage_error("too many arguments, from '%s' on", a);
            o->files.args[o->files.nargs++] = a;
        } else return usage_error("unexpected argument '%s'", a);
#undef TAKE
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
    spo_memreport_begin();
    opts o;
    memset(&o, 0, sizeof o);
    o.cfg.tenant = env("AZURE_TENANT_ID");
    o.cfg.client_id = env("AZURE_CLIENT_ID");
    o.cfg.authority_host = env("AZURE_AUTHORITY_HOST");
    o.cfg.graph_url = env("SPO_GRAPH_URL");
    o.cfg.ca_file = env("SPO_CA_FILE");
    o.cloud = env("SPO_CLOUD");
    o.jwt_alg = env("SPO_JWT_ALG");
    spo_cli_proxy_env(&o.cfg);
    const char *cache = env("SPO_TOKEN_CACHE");
    o.scope = env("SPO_SCOPE");
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (o.jwt_alg) {
        if (!strcmp(o.jwt_alg, "ps256") || !strcmp(o.jwt_alg, "PS256"))
            o.cfg.jwt_alg = SPO_JWT_PS256;
        else if (!strcmp(o.jwt_alg, "rs256") || !strcmp(o.jwt_alg, "RS256"))
            o.cfg.jwt_alg = SPO_JWT_RS256;
        else
            return usage_error("unknown JWT algorithm '%s': use ps256 or rs256", o.jwt_alg);
    }
    if (o.cloud) {
        const spo_cloud *cl = spo_cloud_find(o.cloud);
        if (!cl)
            return usage_error("unknown cloud '%s': use public, usgov, usgov-dod or china", o.cloud);
        if (!o.cfg.authority_host)
            o.cfg.authority_host = cl->authority;
        if (!o.cfg.graph_url)
            o.cfg.graph_url = cl->graph;
    }
    if (o.help || !o.cmd) {
        fputs(!o.cmd ? USAGE : !strcmp(o.cmd, "token") ? USAGE_TOKEN
              : !strcmp(o.cmd, "sites") ? USAGE_SITES
              : !strcmp(o.cmd, "put") ? USAGE_PUT
              : !strcmp(o.cmd, "login") ? USAGE_LOGIN
              : !strcmp(o.cmd, "logout") ? USAGE_LOGOUT : spo_cli_files_usage(o.cmd),
              o.cmd || o.help ? stdout : stderr);
        return o.help ? 0 : 2;
    }
    if (spo_cli_files_cmd(o.cmd) && (rc = spo_cli_files_check(o.cmd, &o.files)) != 0)
        return rc;
    o.files.tty = isatty(1);
    spo_cli_put_opts po;
    memset(&po, 0, sizeof po);
    if (!strcmp(o.cmd, "put")) {
        if (o.npos < 3)
            return usage_error("%s", "put needs SITE, at least one LOCAL file and REMOTE_PATH");
        po.site = o.pos[0];
        po.local = o.pos + 1;
        po.nlocal = o.npos - 2;
        po.remote = o.pos[o.npos - 1];
        po.drive = o.drive;
        po.json = o.json;
        const char *ie = o.if_exists ? o.if_exists : "fail";
        if (!strcmp(ie, "fail")) po.conflict = SPO_CONFLICT_FAIL;
        else if (!strcmp(ie, "replace")) po.conflict = SPO_CONFLICT_REPLACE;
        else if (!strcmp(ie, "rename")) po.conflict = SPO_CONFLICT_RENAME;
        else return usage_error("--if-exists takes fail, replace or rename, not '%s'", ie);
        if (o.fragment) {
            char *end;
            unsigned long long f = strtoull(o.fragment, &end, 10);
            if (*end || f == 0 || f % SPO_UPLOAD_FRAGMENT_UNIT || f > SPO_UPLOAD_FRAGMENT_MAX)
                return usage_error("--fragment-size takes a multiple of 327680 up to 62586880 "
                                   "bytes, not '%s'", o.fragment);
            po.fragment = (uint32_t)f;
        }
    }

    /* The secret is copied into the client; the environment's copy is wiped so that it does not
     * linger in /proc/PID/environ for the rest of the run. */
    char *secret = getenv("AZURE_CLIENT_SECRET");
    char *password = getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD");
    /* Which credential (see USAGE): an explicit --certificate, else the secret, else the
     * environment's certificate, as Azure Identity's EnvironmentCredential orders them. The
     * library refuses both at once, so exactly one is passed on. */
    const char *cert = o.cert_opt;
    if (!cert && !(secret && *secret))
        cert = env("AZURE_CLIENT_CERTIFICATE_PATH");
    if (cert) {
        spo_config_use_certificate(&o.cfg, &cert_cred, cert, password, o.cfg.jwt_alg);
    } else {
        o.cfg.client_secret = secret;
    }
    if (o.verbose) {
        o.cfg.trace = trace;
        o.cfg.trace_ctx = &client;
        o.cfg.clock_note = clock_note;
        o.cfg.wait_note = wait_note;
        o.cfg.proxy_trace = spo_cli_proxy_trace;
    }
    if (cache && cache[0] != '/' && strcmp(cache, "off") != 0)
        return usage_error("SPO_TOKEN_CACHE must be an absolute path or 'off', not '%s'", cache);
    if (!cache || cache[0] == '/') {
        spo_config_use_token_cache(&o.cfg, cache_buf, sizeof cache_buf, cache, spo_cli_cache_warn,
                                   NULL);
    }
    if (!strcmp(o.cmd, "logout"))
        return spo_cli_logout(&o.cfg);
    int login = !strcmp(o.cmd, "login");
    if (login && !o.device_code)
        return usage_error("%s needs --device-code (the only sign-in spo offers)", "spo login");
    if (login && !o.cfg.cache_buf) {
        fprintf(stderr, "spo: login keeps the tokens in the token cache, which SPO_TOKEN_CACHE=off "
                        "turns off: unset it or set it to an absolute path\n");
        return 2;
    }
    if (login || (!cert && (!secret || !*secret))) {
        /* Delegated: the signed-in user's tokens (a secret in the environment is not used by
         * login, which must not be confused by it). */
        o.cfg.client_certificate_path = NULL; /* login is a public client's: no app credential */
        o.cfg.cert = NULL;
        o.cfg.client_certificate_password = NULL;
        cert = NULL;
        spo_config_use_user(&o.cfg, &user,
                            spo_cli_scope(scope_buf, sizeof scope_buf, o.scope, o.cfg.graph_url));
        if (o.scope && !o.cfg.user_scope)
            return usage_error("--scope / SPO_SCOPE is longer than %s", "SPO_CFG_URL_MAX");
    }

    if (o.verbose && !login)
        fprintf(stderr, "spo: signing in %s%s\n",
                o.cfg.user ? "as the user signed in with 'spo login'"
                : cert ? "with the certificate in " : "with the client secret",
                o.cfg.user || !cert ? "" : cert);

    const char *missing = !o.cfg.tenant ? "AZURE_TENANT_ID (or --tenant)"
                        : !o.cfg.client_id ? "AZURE_CLIENT_ID (or --client-id)"
                        : !cert && !o.cfg.user && (!secret || !*secret)
                            ? "AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH)" : NULL;
    if (missing) {
        fprintf(stderr, "spo: %s is not set: see 'spo --help' and the README's \"Use it with your "
                        "tenant\" for the app registration it comes from\n", missing);
        return 2;
    }

    o.cfg.client_secret = o.cfg.user || cert ? NULL : secret;
    rc = spo_client_init(&client, spo_port_posix(), &o.cfg);
    if (secret)
        spo_cli_wipe(secret, strlen(secret));
    if (password)
        spo_cli_wipe(password, strlen(password));
    spo_cli_proxy_wipe_env();
    int status = 0;
    if (rc != SPO_OK && cert && cert_cred.problem != SPO_CERT_OK) {
        spo_cli_explain_cert(&client, cert);
        status = 1;
    } else if (rc != SPO_OK) {
        spo_cli_explain(&client, &o.cfg, "setup", rc, 0);
        status = 1;
    } else if (login) {
        rc = spo_client_login_device(&client, spo_cli_prompt, NULL);
        if (rc != SPO_OK) {
            spo_cli_explain(&client, &o.cfg, "login", rc, 0);
            status = 1;
        } else {
            char path[SPO_STORE_PATH_MAX];
            if (spo_port_posix_store_path(cache ? cache : SPO_CACHE_KEY, path, sizeof path) < 0)
                snprintf(path, sizeof path, "the token cache");
            printf("signed in; tokens kept in %s (the access token expires %s, then it is renewed "
                   "with the refresh token)\n", path, spo_cli_utc(client.auth.token.expires_wall));
        }
    } else if (!strcmp(o.cmd, "token")) {
        const spo_token *t;
        rc = spo_client_token(&client, &t);
        if (rc != SPO_OK) {
            spo_cli_explain(&client, &o.cfg, "token", rc, 0);
            status = 1;
        } else if (o.raw) {
            fwrite(t->bearer + SPO_BEARER_PREFIX_LEN, 1, t->len, stdout);
            putchar('\n');
        } else {
            printf("token acquired: %zu bytes, valid for %u s, expires %s\n", t->len,
                   t->lifetime_s, spo_cli_utc(t->expires_wall));
        }
    } else if (spo_cli_files_cmd(o.cmd)) {
        status = spo_cli_files_run(&client, &o.cfg, o.cmd, &o.files);
    } else if (!strcmp(o.cmd, "put")) {
        status = spo_cli_put(&client, &o.cfg, &po);
    } else {
        sites_out so = { o.json, isatty(1), 0 };
        rc = spo_client_sites(&client, o.search, on_site, &so);
        fflush(stdout);
        if (rc != SPO_OK) {
            spo_cli_explain(&client, &o.cfg, "sites", rc, so.count);
            status = 1;
        } else if (so.count == 0) {
            fprintf(stderr, "spo: no sites%s. If the tenant has sites, the app may lack the "
                            "Application permission Sites.Read.All (or use Sites.Selected without "
                            "grants)\n", o.search ? " match" : "");
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!status)
            fprintf(stderr, "spo: could not write the output\n");
        status = 1;
    }
    spo_memreport_end(&client, o.cmd);
    spo_client_cleanup(&client);
    return status;
}
