/* The client's token cache switch, in a file of its own: a program links the cache
 * (token_cache.c) only when it calls spo_config_use_token_cache() (spo/spo.h, "Flash"). */
#include "spo/spo.h"

static const spo_cache_ops CACHE_OPS = { spo_cache_load, spo_cache_store };

void spo_config_use_token_cache(spo_config *cfg, uint8_t *buf, size_t cap, const char *key,
                                void (*warn)(void *ctx, const char *key, int rc), void *warn_ctx)
{
    cfg->cache_buf = buf;
    cfg->cache_cap = cap;
    cfg->cache_key = key;
    cfg->cache_warn = warn;
    cfg->cache_warn_ctx = warn_ctx;
    cfg->cache_ops = &CACHE_OPS;
}
