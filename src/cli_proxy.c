/* The CLI's proxy settings: the environment as curl reads it, --verbose lines, and the messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* curl's order: the lower-case name first (https_proxy, all_proxy, no_proxy), then the upper-case
 * one; the scheme's own variable before ALL_PROXY. http_proxy is not read: spo only speaks https. */
static const char *const PROXY_VARS[] = { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
static const char *proxy_var = "HTTPS_PROXY"; /* the one in use, for messages */

static const char *env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char proxy_scheme[24]; /* " (socks5://)", for messages: the variable is wiped early */

void spo_cli_proxy_env(spo_config *cfg)
{
    for (size_t i = 0; i < sizeof PROXY_VARS / sizeof PROXY_VARS[0] && !cfg->proxy; i++)
        if ((cfg->proxy = env_set(PROXY_VARS[i])) != NULL)
            proxy_var = PROXY_VARS[i];
    /* never the URL itself in a message: it may hold a password. The scheme is safe to name. */
    const char *u = cfg->proxy ? cfg->proxy : "", *sep = strstr(u, "://");
    if (sep && sep > u && (size_t)(sep - u) < sizeof proxy_scheme - 6 &&
        strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") ==
            (size_t)(sep - u))
        snprintf(proxy_scheme, sizeof proxy_scheme, " (%.*s://)", (int)(sep - u), u);
    const char *no_proxy = env_set("no_proxy");
    if (!no_proxy)
        no_proxy = env_set("NO_PROXY");
    /* the trace is added with --verbose, later */
    spo_config_use_proxy(cfg, cfg->proxy, no_proxy, cfg->proxy_trace);
}

void spo_cli_proxy_wipe_env(void)
{
    /* A proxy password must not linger in /proc/PID/environ either (the client has its copy). */
    for (size_t i = 0; i < sizeof PROXY_VARS / sizeof PROXY_VARS[0]; i++) {
        char *v = getenv(PROXY_VARS[i]);
        if (v && strchr(v, '@'))
            spo_cli_wipe(v, strlen(v));
    }
}

static const char *bracket(const char *host, int open)
{
    return strchr(host, ':') ? (open ? "[" : "]") : "";
}

void spo_cli_proxy_trace(void *ctx, const char *host, uint16_t port, const char *proxy_host,
                         uint16_t proxy_port, int status, uint32_t ms)
{
    (void)ctx;
    if (status == 0) {
        fprintf(stderr, "spo: %s%s%s:%u: directly, not through the proxy (no_proxy)\n",
                bracket(host, 1), host, bracket(host, 0), port);
        return;
    }
    fprintf(stderr, "spo: CONNECT %s%s%s:%u via proxy %s%s%s:%u -> ", bracket(host, 1), host,
            bracket(host, 0), port, bracket(proxy_host, 1), proxy_host, bracket(proxy_host, 0),
            proxy_port);
    if (status >= 100)
        fprintf(stderr, "%d in %u ms\n", status, ms);
    else
        fprintf(stderr, "failed (%s) after %u ms\n", spo_strerror(status), ms);
}

const char *spo_cli_proxy_tls_hint(const spo_client *c)
{
    static char hint[SPO_PROXY_HOST_MAX + 160];
    const spo_proxy *p = &c->proxy;
    if (!p->lower || p->status < 200 || p->status > 299)
        return ""; /* no proxy, or this connection did not go through it */
    snprintf(hint, sizeof hint, "; it came through the proxy %s%s%s:%u: if that proxy inspects "
             "TLS, add its CA to the bundle", bracket(p->url.host, 1), p->url.host,
             bracket(p->url.host, 0), p->url.port);
    return hint;
}

int spo_cli_explain_proxy(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                          const char *partial)
{
    (void)cfg;
    const spo_proxy *p = &c->proxy;
    char proxy[SPO_PROXY_HOST_MAX + 16], target[SPO_PROXY_HOST_MAX + 16];
    snprintf(proxy, sizeof proxy, "%s%s%s:%u", bracket(p->url.host, 1), p->url.host,
             bracket(p->url.host, 0), p->url.port);
    snprintf(target, sizeof target, "%s%s%s:%u", bracket(p->target, 1), p->target,
             bracket(p->target, 0), p->target_port);

    switch (rc) {
    case SPO_E_PROXY_URL:
        fprintf(stderr, "spo: configuration: %s is not a proxy URL spo can use%s: only "
                        "http://[user:password@]host[:port] is supported (percent-encode special "
                        "characters in the user and password); fix or unset it\n",
                proxy_var, proxy_scheme);
        return 1;
    case SPO_E_PROXY_CONNECT:
        fprintf(stderr, "spo: %s failed%s: cannot connect to the proxy %s (from %s): check that it "
                        "is running and reachable, or list %s in NO_PROXY to connect directly\n",
                what, partial, proxy, proxy_var, p->target);
        return 1;
    case SPO_E_PROXY_AUTH:
        fprintf(stderr, "spo: %s failed%s: the proxy %s answered CONNECT %s with HTTP %d%s%s "
                        "(proxy authentication failed): %s\n", what, partial, proxy, target,
                p->status, p->reason[0] ? " " : "", p->reason,
                p->url.has_auth ? "it refused the user name and password in the proxy URL: check them"
                                : "put the credentials in the proxy URL: http://USER:PASSWORD@host:port");
        return 1;
    case SPO_E_PROXY_REFUSED:
        fprintf(stderr, "spo: %s failed%s: the proxy %s refused to open a tunnel to %s (HTTP %d%s%s): "
                        "ask its administrator to allow CONNECT to %s, or list %s in NO_PROXY if it "
                        "is reachable directly\n", what, partial, proxy, target, p->status,
                p->reason[0] ? " " : "", p->reason, target, p->target);
        return 1;
    case SPO_E_PROXY_CLOSED:
        fprintf(stderr, "spo: %s failed%s: the proxy %s closed the connection instead of answering "
                        "CONNECT %s: check that %s names an HTTP proxy, and its logs\n",
                what, partial, proxy, target, proxy_var);
        return 1;
    case SPO_E_PROXY_ANSWER:
        fprintf(stderr, "spo: %s failed%s: the proxy %s answered CONNECT %s with something that is "
                        "not HTTP: check that %s names an HTTP proxy (not a SOCKS or HTTPS one)\n",
                what, partial, proxy, target, proxy_var);
        return 1;
    case SPO_E_PROXY_TOO_BIG:
        fprintf(stderr, "spo: %s failed%s: the proxy %s answered CONNECT %s with more than "
                        "SPO_PROXY_ANSWER_MAX (%d) bytes of headers: check the proxy, or rebuild "
                        "with a larger SPO_PROXY_ANSWER_MAX\n",
                what, partial, proxy, target, SPO_PROXY_ANSWER_MAX);
        return 1;
    case SPO_E_NET_TIMEOUT:
        if (!p->in_connect)
            return 0;
        fprintf(stderr, "spo: %s failed%s: the proxy %s did not answer CONNECT %s in time: check the "
                        "proxy, or raise --timeout\n", what, partial, proxy, target);
        return 1;
    default:
        return 0;
    }
}
