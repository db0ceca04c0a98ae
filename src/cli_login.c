/* The CLI's sign-in commands: login's prompt and scope, logout. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

void spo_cli_prompt(void *ctx, const spo_delegated *d)
{
    (void)ctx;
    /* The service's own sentence (localised, with the address and the code); its parts if the
     * answer had none. Never the device code: that one is secret. */
    if (d->message[0])
        fprintf(stderr, "%s\n", d->message);
    else
        fprintf(stderr, "To sign in, open %s in a browser and enter the code %s\n",
                d->verification_uri, d->user_code);
    fprintf(stderr, "spo: waiting for the sign-in (the code expires in %u minutes)...\n",
            (unsigned)((d->expires_in + 59) / 60));
    fflush(stderr);
}

static int is_plain(const char *w, size_t n)
{
    static const char *const oidc[] = { "openid", "profile", "email", "offline_access" };
    for (size_t i = 0; i < sizeof oidc / sizeof oidc[0]; i++)
        if (strlen(oidc[i]) == n && !memcmp(oidc[i], w, n))
            return 1;
    return 0;
}

const char *spo_cli_scope(char *buf, size_t cap, const char *scope, const char *graph)
{
    if (!scope)
        return NULL;
    if (!graph)
        graph = SPO_DEFAULT_GRAPH;
    size_t glen = strlen(graph), pos = 0;
    while (glen && graph[glen - 1] == '/')
        glen--;
    for (const char *p = scope; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (!n)
            break;
        /* "Sites.Read.All" is Graph's: Entra needs the resource, so it gets the Graph root. */
        int bare = !memchr(p, ':', n) && !is_plain(p, n);
        size_t need = (pos ? 1 : 0) + (bare ? glen + 1 : 0) + n;
        if (pos + need + 1 > cap)
            return NULL;
        if (pos)
            buf[pos++] = ' ';
        if (bare) {
            memcpy(buf + pos, graph, glen);
            pos += glen;
            buf[pos++] = '/';
        }
        memcpy(buf + pos, p, n);
        pos += n;
        p += n;
    }
    buf[pos] = '\0';
    return pos ? buf : NULL;
}

int spo_cli_logout(const spo_config *cfg)
{
    char path[SPO_STORE_PATH_MAX];
    const char *key = cfg->cache_key ? cfg->cache_key : SPO_CACHE_KEY;
    if (!cfg->cache_buf) {
        fprintf(stderr, "spo: nothing to remove: SPO_TOKEN_CACHE is off, so no token was kept\n");
        return 0;
    }
    if (spo_port_posix_store_path(key, path, sizeof path) < 0) {
        fprintf(stderr, "spo: logout: no token cache location (neither XDG_CONFIG_HOME nor HOME is "
                        "an absolute path): set SPO_TOKEN_CACHE to the cache's path\n");
        return 1;
    }
    spo_cache c = { spo_port_posix(), key, cfg->cache_buf, cfg->cache_cap };
    int rc = spo_cache_remove(&c, NULL);
    if (rc < 0) {
        fprintf(stderr, "spo: logout: could not remove %s (%s): delete the file by hand\n", path,
                spo_cache_describe(rc));
        return 1;
    }
    if (rc == 0)
        printf("no cached tokens: %s does not exist\n", path);
    else
        printf("removed the cached tokens (signed-in user and app-only): %s\n", path);
    return 0;
}
