/* Shared bits of the libFuzzer harnesses in tests/fuzz/.
 *
 * Each harness defines LLVMFuzzerTestOneInput and checks properties of one parser; a property that
 * fails calls FUZZ_CHECK, which prints what broke and aborts so libFuzzer (or replay_main) records the
 * input as a crash. Harnesses may use malloc: only the library is heap-free. */
#ifndef SPO_FUZZ_H
#define SPO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() rather than assert(): the checks must hold in every build, NDEBUG or not. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* FNV-1a, to compare sequences of callback data between two runs without storing them. */
static inline uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FUZZ_FNV_INIT 0xcbf29ce484222325ull

/* Touch every byte of a span: ASan then reports a span that points outside its buffer even when the
 * harness would not otherwise read it. The empty asm consumes the result, so the loop cannot be
 * optimised out. */
static inline void fuzz_touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    __asm__ volatile("" : : "r"(x));
}

/* Property: p is NUL-terminated within its array of cap bytes. (libc calls, not loops: the
 * harness's own loops get comparison tracing too, which made the big buffers' checks dominate.) */
static inline int fuzz_terminated(const char *p, size_t cap)
{
    return memchr(p, '\0', cap) != NULL;
}

/* Property: n bytes at p are all zero (a wiped buffer). */
static inline int fuzz_all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    return n == 0 || (b[0] == 0 && memcmp(b, b + 1, n - 1) == 0);
}

/* Property: no C0 control and no DEL in the NUL-terminated s, so it is safe to print on a terminal.
 * The diag strings come from the server; spo prints them, after spo_diag_clean(). */
static inline int fuzz_printable(const char *s)
{
    for (; *s; s++)
        if ((uint8_t)*s < 0x20 || (uint8_t)*s == 0x7f)
            return 0;
    return 1;
}
#define FUZZ_CHECK_DIAG_PRINTABLE(d)                                                               \
    FUZZ_CHECK(fuzz_printable((d).code) && fuzz_printable((d).aadsts) &&                         \
               fuzz_printable((d).request_id) && fuzz_printable((d).message))

#endif
