/* The client's proxy switch, in a file of its own: a program links the proxy (proxy.c,
 * proxy_url.c) only when it calls spo_config_use_proxy() (spo/spo.h, "Flash"). */
#include "spo/spo.h"

static const spo_proxy_ops PROXY_OPS = { spo_proxy_init };

void spo_config_use_proxy(spo_config *cfg, const char *proxy_url, const char *no_proxy,
                          spo_proxy_trace_fn trace)
{
    cfg->proxy = proxy_url;
    cfg->no_proxy = no_proxy;
    cfg->proxy_trace = trace;
    cfg->proxy_ops = &PROXY_OPS;
}
