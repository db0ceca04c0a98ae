/* spo — mbedTLS's allocator: one static pool, first fit over an address-ordered free list.
 *
 * A handshake makes a few hundred allocations of which only two are large (the record buffers), so a
 * plain first-fit list stays short and fast; address order lets every free coalesce with both
 * neighbours in one pass, which keeps the 16 KB input buffer placeable after a reconnect.
 * Not thread-safe: spo runs one connection at a time. */
#include "spo/tls.h"

#include <mbedtls/platform_util.h>
#include <string.h>

#define POOL_ALIGN 16u
#define HDR_SIZE 16u               /* keeps every payload 16-byte aligned */
#define MIN_BLOCK (HDR_SIZE * 2u)  /* a free block must hold its header and the next link */
#define POOL_BYTES (SPO_TLS_POOL_SIZE / POOL_ALIGN * POOL_ALIGN)
/* The tag mixes in the block's address so that stale payload bytes left where a header used to be
 * are very unlikely to pass for a live header on a double free. */
#define TAG_USED ((uintptr_t)0x5350u << 16 | 0xA11Cu)
#define TAG_FREE ((uintptr_t)0x5350u << 16 | 0xF4EEu)

typedef struct blk {
    size_t size;      /* whole block, header included, multiple of POOL_ALIGN */
    uintptr_t tag;
    struct blk *next; /* free blocks only: lives in the first payload bytes */
} blk;

_Static_assert(sizeof(size_t) + sizeof(uintptr_t) <= HDR_SIZE, "header must fit 16 bytes");
_Static_assert(sizeof(blk) <= MIN_BLOCK, "free block must fit the minimum block");
_Static_assert(POOL_BYTES >= 4u * MIN_BLOCK, "SPO_TLS_POOL_SIZE is too small");

static _Alignas(POOL_ALIGN) uint8_t pool[POOL_BYTES];
static blk *free_head;
static uint8_t ready;
static size_t used, peak, failures, bad_frees;

static void pool_setup(void)
{
    free_head = (blk *)(void *)pool;
    free_head->size = POOL_BYTES;
    free_head->tag = TAG_FREE ^ (uintptr_t)free_head;
    free_head->next = NULL;
    ready = 1;
}

void *spo_tls_pool_calloc(size_t n, size_t size)
{
    if (!ready)
        pool_setup();
    size_t req = n * size;
    /* A zero-byte request still gets a unique block: some callers treat NULL as out of memory. */
    if ((size != 0 && n > SIZE_MAX / size) || req > POOL_BYTES - HDR_SIZE) {
        failures++;
        return NULL;
    }
    size_t need = (req + POOL_ALIGN - 1u) / POOL_ALIGN * POOL_ALIGN + HDR_SIZE;
    if (need < MIN_BLOCK)
        need = MIN_BLOCK;

    blk **link = &free_head;
    while (*link && (*link)->size < need)
        link = &(*link)->next;
    blk *b = *link;
    if (!b) {
        failures++;
        return NULL;
    }
    if (b->size - need >= MIN_BLOCK) {
        blk *rest = (blk *)(void *)((uint8_t *)b + need);
        rest->size = b->size - need;
        rest->tag = TAG_FREE ^ (uintptr_t)rest;
        rest->next = b->next;
        *link = rest;
        b->size = need;
    } else {
        *link = b->next;
    }
    b->tag = TAG_USED ^ (uintptr_t)b;
    used += b->size;
    if (used > peak)
        peak = used;
    uint8_t *p = (uint8_t *)b + HDR_SIZE;
    memset(p, 0, b->size - HDR_SIZE);
    return p;
}

/* A header that is not ours (foreign pointer, double free, overwritten) is left alone: freeing it
 * would corrupt the list, and aborting would take down a device over a leak. */
static blk *live_block(void *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)pool + HDR_SIZE, hi = (uintptr_t)pool + POOL_BYTES;
    if (a < lo || a >= hi || (a - (uintptr_t)pool) % POOL_ALIGN != 0)
        return NULL;
    blk *b = (blk *)(void *)((uint8_t *)p - HDR_SIZE);
    if (b->tag != (TAG_USED ^ (uintptr_t)b) || b->size < MIN_BLOCK || b->size % POOL_ALIGN != 0 ||
        b->size > hi - (uintptr_t)b)
        return NULL;
    return b;
}

void spo_tls_pool_free(void *p)
{
    if (!p)
        return;
    blk *b = ready ? live_block(p) : NULL;
    if (!b) {
        bad_frees++;
        return;
    }
    used -= b->size;
    /* Freed memory may have held keys, decrypted records or the token: it is wiped here whatever
     * mbedTLS did, so nothing secret outlives its owner in the pool. */
    mbedtls_platform_zeroize((uint8_t *)b + HDR_SIZE, b->size - HDR_SIZE);
    b->tag = TAG_FREE ^ (uintptr_t)b;

    blk *prev = NULL, *next = free_head;
    while (next && next < b) {
        prev = next;
        next = next->next;
    }
    if (next && (uint8_t *)b + b->size == (uint8_t *)next) {
        b->size += next->size;
        next->tag = 0;
        next = next->next;
    }
    b->next = next;
    if (prev && (uint8_t *)prev + prev->size == (uint8_t *)b) {
        prev->size += b->size;
        prev->next = next;
        b->tag = 0;
    } else if (prev) {
        prev->next = b;
    } else {
        free_head = b;
    }
}

void spo_tls_pool_get(spo_tls_pool_stats *out)
{
    if (!out)
        return;
    out->size = POOL_BYTES;
    out->used = used;
    out->peak = peak;
    out->failures = failures;
    out->bad_frees = bad_frees;
}

void spo_tls_pool_reset_peak(void)
{
    peak = used;
}

void spo_tls_pool_region(const uint8_t **base, size_t *size)
{
    *base = pool;
    *size = sizeof pool;
}
