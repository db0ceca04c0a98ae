/* Fuzz target: the Content-Range parser of a 206 answer (spo_http_content_range, src/http_conn.c),
 * used by downloads to check that a resumed transfer starts where it should.
 *
 * Input: byte 0 bit 0 chooses the mode:
 *   0: the rest is a Content-Range value, parsed as it is;
 *   1: the next 24 bytes are FIRST, LAST, TOTAL (u64, little-endian; missing bytes are 0), byte 25
 *      picks "bytes"'s case (bit 0), leading zeros (bits 1-3) and TOTAL "*" (bit 4): the value is
 *      written by the reference formatter below and parsed.
 * Properties: the result equals the reference parser's (an independent strict reading of RFC 9110
 * 14.4's "bytes FIRST-LAST/TOTAL" with overflow checks: the same verdict and the same numbers); on
 * SPO_OK FIRST <= LAST < TOTAL, and TOTAL is UINT64_MAX only for "*"; the outputs are untouched on
 * failure; a parsed range written back by the reference formatter parses to the same numbers
 * (round trip); in mode 1 a triple with FIRST <= LAST < TOTAL < UINT64_MAX (or "*" with LAST <
 * UINT64_MAX) is always accepted with its numbers, and any other triple refused. The parser reads
 * only the span (the value is copied to a buffer of exactly its length: ASan sees a read past it).
 *
 * The other range parser, the upload session's nextExpectedRanges ("START-" / "START-END"), is a
 * static callback of src/upload.c (a_range) reachable only through spo_upload_file: the drive
 * target drives it there (a resumed session's status, the fragments' 202 answers). */
#include "fuzz.h"
#include "spo/http.h"

#include <inttypes.h>

/* Digits at s[*i..n): 1 on a number that fits u64. */
static int ref_num(const uint8_t *s, size_t n, size_t *i, uint64_t *out)
{
    unsigned __int128 v = 0;
    size_t j = *i;
    if (j >= n || s[j] < '0' || s[j] > '9')
        return 0;
    for (; j < n && s[j] >= '0' && s[j] <= '9'; j++) {
        v = v * 10 + (s[j] - '0');
        if (v > UINT64_MAX)
            return 0;
    }
    *i = j;
    *out = (uint64_t)v;
    return 1;
}

static int ref_parse(const uint8_t *s, size_t n, uint64_t *a, uint64_t *b, uint64_t *t)
{
    size_t i = 6;
    if (n < 6 || (s[0] | 0x20) != 'b' || (s[1] | 0x20) != 'y' || (s[2] | 0x20) != 't' ||
        (s[3] | 0x20) != 'e' || (s[4] | 0x20) != 's' || s[5] != ' ')
        return 0;
    if (!ref_num(s, n, &i, a) || i >= n || s[i++] != '-' || !ref_num(s, n, &i, b) || i >= n ||
        s[i++] != '/')
        return 0;
    if (i + 1 == n && s[i] == '*') {
        *t = UINT64_MAX;
        i++;
    } else if (!ref_num(s, n, &i, t) || *t == UINT64_MAX) {
        return 0;
    }
    return i == n && *a <= *b && *b < *t;
}

static size_t ref_format(char *out, size_t cap, int upper, unsigned zeros, uint64_t a, uint64_t b,
                         uint64_t t, int star)
{
    char z[8] = "0000000";
    z[zeros & 7] = '\0';
    int n = star ? snprintf(out, cap, "%s %s%" PRIu64 "-%s%" PRIu64 "/*", upper ? "BYTES" : "bytes",
                            z, a, z, b)
                 : snprintf(out, cap, "%s %s%" PRIu64 "-%s%" PRIu64 "/%s%" PRIu64,
                            upper ? "Bytes" : "bytes", z, a, z, b, z, t);
    FUZZ_CHECK(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* Parse s[0, n) from a copy of exactly n bytes; check against the reference. Returns the verdict. */
static int check(const uint8_t *s, size_t n, uint64_t *a, uint64_t *b, uint64_t *t)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    uint64_t ra = 0, rb = 0, rt = 0;
    *a = *b = *t = 0x5a5a5a5a5a5a5a5aull;
    int rc = spo_http_content_range((spo_span){ copy, n }, a, b, t);
    int ref = ref_parse(s, n, &ra, &rb, &rt);
    FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_HTTP_PARSE);
    FUZZ_CHECK((rc == SPO_OK) == ref);
    if (rc == SPO_OK) {
        FUZZ_CHECK(*a == ra && *b == rb && *t == rt);
        FUZZ_CHECK(*a <= *b && *b < *t);
        FUZZ_CHECK(*t != UINT64_MAX || (n >= 2 && s[n - 1] == '*' && s[n - 2] == '/'));
    } else {
        FUZZ_CHECK(*a == 0x5a5a5a5a5a5a5a5aull && *b == *a && *t == *a); /* untouched */
    }
    free(copy);
    return rc == SPO_OK;
}

static uint64_t le64(const uint8_t *p, size_t avail)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < avail; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t a, b, t;
    char buf[128];
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0) {
        if (check(data + 1, size - 1, &a, &b, &t)) {
            /* Round trip: the canonical text of what was parsed parses the same. */
            int star = t == UINT64_MAX;
            size_t n = ref_format(buf, sizeof buf, 0, 0, a, b, t, star);
            uint64_t a2, b2, t2;
            FUZZ_CHECK(check((const uint8_t *)buf, n, &a2, &b2, &t2));
            FUZZ_CHECK(a2 == a && b2 == b && t2 == t);
        }
        return 0;
    }
    const uint8_t *p = data + 1;
    size_t avail = size - 1;
    uint64_t fa = le64(p, avail), fb = le64(p + 8, avail > 8 ? avail - 8 : 0),
             ft = le64(p + 16, avail > 16 ? avail - 16 : 0);
    uint8_t style = avail > 24 ? p[24] : 0;
    int star = (style >> 4) & 1;
    /* Small numbers now and then, so that valid triples are common. */
    if (style & 0x20) {
        fa &= 0xffff;
        fb &= 0xffff;
        ft &= 0xffff;
    }
    size_t n = ref_format(buf, sizeof buf, style & 1, (style >> 1) & 7, fa, fb, ft, star);
    int valid = fa <= fb && (star ? fb < UINT64_MAX : (fb < ft && ft < UINT64_MAX));
    int ok = check((const uint8_t *)buf, n, &a, &b, &t);
    FUZZ_CHECK(ok == valid);
    if (ok)
        FUZZ_CHECK(a == fa && b == fb && t == (star ? UINT64_MAX : ft));
    return 0;
}
