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

void spo_memreport_end(const spo_client *c)
{
    if (!enabled)
        return;
    (void)c;
    spo_tls_pool_stats st;
    spo_tls_pool_get(&st);
    size_t put = spo_cli_put_static();
    /* the CLI's own static buffers: stdout, the token cache's work buffer, the delegated state */
    size_t cli = 512 + SPO_CACHE_MAX + sizeof(spo_delegated) + SPO_CFG_URL_MAX;
    size_t stat = sizeof(spo_client) + cli + put;
    size_t stack = stack_used();
    if (put)
        fprintf(stderr, "memreport: put state %zu bytes (upload %zu)\n", put, sizeof(spo_upload));
    fprintf(stderr,
            "memreport: static %zu bytes (spo_client %zu: tls %zu, http %zu, json %zu, auth %zu, "
            "graph %zu, certificate %zu; CLI buffers %zu: stdout 512, token cache %d, delegated "
            "sign-in %zu)\n"
            "memreport: mbedTLS pool peak %zu of %zu bytes (%zu failed allocations)\n"
            "memreport: stack high-water %zu bytes\n"
            "memreport: total %zu bytes\n",
            stat, sizeof(spo_client), sizeof c->tls, sizeof c->http, sizeof c->reader,
            sizeof c->auth, sizeof c->graph, sizeof c->cert, cli, SPO_CACHE_MAX,
            sizeof(spo_delegated) + SPO_CFG_URL_MAX, st.peak, st.size, st.failures, stack,
            stat + st.peak + stack);
    fprintf(stderr, "memreport: files buffers %zu bytes (static, beside the total: spo get's "
                    "download state and temporary path, spo list-add's body and --json-file)\n",
            spo_cli_files_static());
}
