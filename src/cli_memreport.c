/* `make memreport`: the three numbers of the memory budget, measured in the real CLI run.
 *  - static: spo's own state (the client struct and the CLI's buffers), known at compile time;
 *  - pool peak: the most mbedTLS held at once in its static pool;
 *  - stack: the deepest the stack went, found by painting a region at start and looking for the
 *    lowest byte that changed at exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PAINT_BYTES (64 * 1024)
#define PAINT 0xA5

static int enabled;
static uintptr_t paint_lo;          /* lowest painted address (kept as a number: the frame is gone) */
static uintptr_t stack_top;         /* an address in main's frame: usage is measured from here */

/* noinline: its frame is where the deeper calls will later run. */
__attribute__((noinline)) static void paint(void)
{
    volatile uint8_t area[PAINT_BYTES];
    for (size_t i = 0; i < sizeof area; i++)
        area[i] = PAINT;
    paint_lo = (uintptr_t)area;
}

__attribute__((noinline)) void spo_memreport_begin(void)
{
    const char *e = getenv("SPO_MEMREPORT");
    enabled = e && *e == '1';
    if (!enabled)
        return;
    volatile uint8_t here = 0;
    stack_top = (uintptr_t)&here;
    paint();
}

/* Reads stack memory below the live frame on purpose; only in memreport runs. */
__attribute__((no_sanitize("address"))) static size_t stack_used(void)
{
    size_t i = 0;
    const volatile uint8_t *lo = (const volatile uint8_t *)paint_lo;
    while (i < PAINT_BYTES && lo[i] == PAINT)
        i++;
    if (i == PAINT_BYTES)
        return 0;
    return (size_t)(stack_top - (paint_lo + i));
}

void spo_memreport_end(const spo_client *c, const char *cmd)
{
    if (!enabled)
        return;
    spo_tls_pool_stats st;
    spo_tls_pool_get(&st);
    /* Static state is counted for what this command used, as a program doing the same job would
     * hold it: the client, stdout's buffer, and the CLI buffers of the features that ran. The
     * others sit in the binary's .bss too and are reported on their own line. */
    int get = cmd && !strcmp(cmd, "get"), add = cmd && !strcmp(cmd, "list-add");
    size_t cert = c->use_cert ? sizeof(spo_cert_cred) : 0;
    size_t cache = c->cache.buf ? SPO_CACHE_MAX : 0;
    size_t user = c->user ? sizeof(spo_delegated) + SPO_CFG_URL_MAX : 0;
    size_t put = spo_cli_put_static();
    size_t files = (get ? spo_cli_get_static() : 0) + (add ? spo_cli_list_add_static() : 0);
    size_t stat = sizeof(spo_client) + 512 + cert + cache + user + put + files;
    size_t all = sizeof(spo_cert_cred) + SPO_CACHE_MAX + sizeof(spo_delegated) + SPO_CFG_URL_MAX +
                 spo_cli_put_size() + spo_cli_get_static() + spo_cli_list_add_static();
    size_t stack = stack_used();
    fprintf(stderr,
            "memreport: static %zu bytes (spo_client %zu: tls %zu, http %zu, json %zu, auth %zu, "
            "graph %zu; stdout buffer 512; this command's CLI buffers: certificate %zu, token "
            "cache %zu, delegated sign-in %zu, put %zu, get/list-add %zu)\n"
            "memreport: mbedTLS pool peak %zu of %zu bytes (%zu failed allocations)\n"
            "memreport: stack high-water %zu bytes\n"
            "memreport: total %zu bytes\n"
            "memreport: CLI buffers of features this command did not use: %zu bytes (in .bss, "
            "not in the total)\n",
            stat, sizeof(spo_client), sizeof c->tls, sizeof c->http, sizeof c->reader,
            sizeof c->auth, sizeof c->graph, cert, cache, user, put, files, st.peak, st.size,
            st.failures, stack, stat + st.peak + stack,
            all - cert - cache - user - put - files);
}
