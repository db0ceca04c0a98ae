/* Fuzz target: the streaming JSON reader and the JSON helpers (src/json_reader.c, src/json_util.c).
 *
 * The input is a JSON document (so JSONTestSuite files are seeds as they are). Properties:
 *  - reader: a collection at {"value"} and eight captures (small buffers, with and without
 *    may_truncate, a duplicate path, the empty path, a 4-key path). Fed whole, byte by byte and in
 *    pseudo-random pieces, the verdict, the error offset, the elements handed out (bytes, tokens,
 *    index) and, on success, every capture are identical; capture buffers are NUL-terminated, within
 *    cap, truncated only when allowed and then cut at a UTF-8 boundary; the second capture of a path
 *    is never filled; element tokens lie inside the element.
 *  - elements: spo_json_elem_string for a few keys, and each string it yields goes through
 *    spo_json_write_string -> spo_json_unescape and must come back byte for byte, and through the
 *    reader (as a document) to the same bytes.
 *  - helpers on the raw input: spo_json_unescape(input) succeeds exactly when the reader accepts
 *    "\"" input "\"", with the same bytes; in place (dst == src) it gives the same result; a smaller
 *    buffer gives the same bytes or SPO_E_TOO_LONG;
 *    spo_json_write_string(input) refuses exactly the invalid UTF-8 (by an independent check here)
 *    and otherwise round-trips. */
#include "fuzz.h"
#include "spo/json.h"

#include <string.h>

/* An independent strict UTF-8 check (RFC 3629), so the harness does not trust the library's own. */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min_cp[4] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ write/unescape round trip */

typedef struct outbuf {
    char *p;
    size_t len, cap;
} outbuf;

static int put(void *ctx, const char *s, size_t n)
{
    outbuf *o = ctx;
    FUZZ_CHECK(n > 0 || s != NULL);
    if (n > o->cap - o->len) {
        size_t cap = (o->cap + n) * 2;
        o->p = realloc(o->p, cap);
        FUZZ_CHECK(o->p != NULL);
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

/* s (valid UTF-8) -> JSON string -> unescape -> s; and the JSON string read as a document -> s. */
static void round_trip(const char *s, size_t n)
{
    outbuf o = { NULL, 0, 0 };
    FUZZ_CHECK(spo_json_write_string(put, &o, s, n) == SPO_OK);
    FUZZ_CHECK(o.len >= 2 && o.p[0] == '"' && o.p[o.len - 1] == '"');
    for (size_t i = 1; i + 1 < o.len; i++) /* nothing raw that JSON forbids */
        FUZZ_CHECK((uint8_t)o.p[i] >= 0x20);

    char *back = malloc(n + 1);
    size_t back_len = 12345;
    FUZZ_CHECK(spo_json_unescape(o.p + 1, o.len - 2, back, n + 1, &back_len) == SPO_OK);
    FUZZ_CHECK(back_len == n && memcmp(back, s, n) == 0 && back[n] == '\0');

    /* The written string is a JSON document of its own; the reader must capture it unchanged. */
    static spo_json_reader rd; /* static: the reader is large for a stack frame used in a callback */
    spo_json_capture cap = { { NULL }, back, n + 1, 0, 0, 0, 0, 0 };
    spo_json_reader_init(&rd, &cap, 1, NULL, NULL, NULL);
    FUZZ_CHECK(spo_json_reader_feed(&rd, (const uint8_t *)o.p, o.len) == SPO_OK);
    FUZZ_CHECK(spo_json_reader_finish(&rd) == SPO_OK);
    FUZZ_CHECK(cap.found && cap.type == SPO_JSON_STRING && !cap.truncated);
    FUZZ_CHECK(cap.len == n && memcmp(back, s, n) == 0);
    free(back);
    free(o.p);
}

/* ------------------------------------------------------------------ reader */

#define NCAPS 8

typedef struct run {
    spo_json_reader r;
    spo_json_capture caps[NCAPS];
    char bufs[NCAPS][64];
    uint64_t elem_hash;
    uint64_t next_index;
    uint64_t stop_at;   /* element index at which on_elem says stop, or UINT64_MAX */
    int rc;
    uint64_t offset;
} run;

static const size_t cap_sizes[NCAPS] = { 8, 16, 48, 24, 4, 32, 8, 1 };
static const uint8_t cap_trunc[NCAPS] = { 1, 0, 0, 1, 1, 0, 1, 1 };

static void check_elem_string(run *rn, const spo_json_elem *e, const char *key, size_t cap)
{
    char *dst = malloc(cap);
    size_t len = 777;
    int rc = spo_json_elem_string(e, key, dst, cap, &len);
    FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_JSON_SHAPE || rc == SPO_E_TOO_LONG ||
               rc == SPO_E_JSON_SYNTAX);
    /* The element was validated by the reader, so its strings cannot be bad JSON. */
    FUZZ_CHECK(rc != SPO_E_JSON_SYNTAX);
    if (rc == SPO_OK) {
        FUZZ_CHECK(len < cap && dst[len] == '\0');
        FUZZ_CHECK(utf8_valid((const uint8_t *)dst, len));
        round_trip(dst, len);
        rn->elem_hash = fuzz_fnv(rn->elem_hash, dst, len);
    } else {
        FUZZ_CHECK(dst[0] == '\0' && len == 0);
    }
    rn->elem_hash = fuzz_fnv(rn->elem_hash, &rc, sizeof rc);
    free(dst);
}

static int on_elem(void *ctx, const spo_json_elem *e)
{
    run *rn = ctx;
    FUZZ_CHECK(e->index == rn->next_index);
    rn->next_index++;
    FUZZ_CHECK(e->len > 0 && e->len <= SPO_JSON_WINDOW);
    FUZZ_CHECK(e->ntok >= 1 && e->ntok <= SPO_JSON_TOKENS);
    fuzz_touch(e->js, e->len);
    for (int i = 0; i < e->ntok; i++) {
        FUZZ_CHECK(e->tok[i].start >= 0 && e->tok[i].start <= e->tok[i].end);
        FUZZ_CHECK((size_t)e->tok[i].end <= e->len);
    }
    rn->elem_hash = fuzz_fnv(rn->elem_hash, &e->index, sizeof e->index);
    rn->elem_hash = fuzz_fnv(rn->elem_hash, e->js, e->len);
    rn->elem_hash = fuzz_fnv(rn->elem_hash, &e->ntok, sizeof e->ntok);

    static const char *const keys[] = { "id", "displayName", "webUrl", "name", "" };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        check_elem_string(rn, e, keys[k], k == 0 ? 4 : 512);
    check_elem_string(rn, e, "id", SPO_JSON_WINDOW + 1);

    return e->index == rn->stop_at ? SPO_E_ABORTED : 0;
}

static void run_init(run *rn, uint64_t stop_at, int doc_trunc)
{
    static const char *const paths[NCAPS][SPO_JSON_PATH_MAX + 1] = {
        { "error", "code", NULL },
        { "error", "message", NULL },
        { "@odata.nextLink", NULL },
        { NULL }, /* the document itself */
        { "value", NULL }, /* same path as the collection */
        { "a", "b", "c", "d", NULL },
        { "error", "code", NULL }, /* a duplicate: never filled */
        { "k", NULL },
    };
    static const char *const coll[] = { "value", NULL };
    memset(rn, 0, sizeof *rn);
    for (int i = 0; i < NCAPS; i++) {
        memcpy(rn->caps[i].path, paths[i], sizeof paths[i]);
        rn->caps[i].buf = rn->bufs[i];
        rn->caps[i].cap = cap_sizes[i];
        rn->caps[i].may_truncate = cap_trunc[i];
        if (i == 3) /* the document capture: both ways, so a top-level value can be too long */
            rn->caps[i].may_truncate = (uint8_t)doc_trunc;
        memset(rn->bufs[i], 0x5a, sizeof rn->bufs[i]); /* so a missing NUL shows */
    }
    rn->elem_hash = FUZZ_FNV_INIT;
    rn->stop_at = stop_at;
    spo_json_reader_init(&rn->r, rn->caps, NCAPS, coll, on_elem, rn);
}

static int number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static void check_caps(const run *rn)
{
    for (int i = 0; i < NCAPS; i++) {
        const spo_json_capture *c = &rn->caps[i];
        /* the buffer beyond cap is never written */
        for (size_t j = c->cap; j < sizeof rn->bufs[i]; j++)
            FUZZ_CHECK(rn->bufs[i][j] == 0x5a);
        if (i == 6)
            FUZZ_CHECK(!c->found);
        if (!c->found)
            continue;
        FUZZ_CHECK(c->len < c->cap && c->buf[c->len] == '\0');
        FUZZ_CHECK(!c->truncated || c->may_truncate);
        switch (c->type) {
        case SPO_JSON_STRING:
            FUZZ_CHECK(utf8_valid((const uint8_t *)c->buf, c->len));
            break;
        case SPO_JSON_NUMBER:
            for (size_t j = 0; j < c->len; j++)
                FUZZ_CHECK(number_char(c->buf[j]));
            break;
        case SPO_JSON_LITERAL:
            FUZZ_CHECK(c->len <= 5);
            if (!c->truncated)
                FUZZ_CHECK(strcmp(c->buf, "true") == 0 || strcmp(c->buf, "false") == 0 ||
                           strcmp(c->buf, "null") == 0);
            break;
        case SPO_JSON_OBJECT:
        case SPO_JSON_ARRAY:
            FUZZ_CHECK(c->len == 0 && c->buf[0] == '\0' && !c->truncated);
            break;
        default:
            FUZZ_CHECK(!"capture type");
        }
    }
}

/* mode 0 whole, 1 byte by byte, 2 pseudo-random pieces. */
static void parse(run *rn, const uint8_t *in, size_t n, int mode, uint32_t seed)
{
    size_t pos = 0;
    int rc = SPO_OK;
    while (pos < n && rc == SPO_OK) {
        size_t piece = n - pos;
        if (mode == 1) {
            piece = 1;
        } else if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + ((seed >> 16) % 61);
            if (want < piece)
                piece = want;
        }
        rc = spo_json_reader_feed(&rn->r, in + pos, piece);
        pos += piece;
    }
    int fin = spo_json_reader_finish(&rn->r);
    /* The error is sticky: finish (and any later feed) reports the first one. */
    if (rc != SPO_OK) {
        FUZZ_CHECK(fin == rc);
        FUZZ_CHECK(spo_json_reader_feed(&rn->r, (const uint8_t *)" ", 1) == rc);
    }
    rn->rc = fin;
    rn->offset = spo_json_reader_offset(&rn->r);
    FUZZ_CHECK(rn->offset <= n);
    FUZZ_CHECK(fin == SPO_OK || fin == SPO_E_JSON_SYNTAX || fin == SPO_E_JSON_TOO_BIG ||
               fin == SPO_E_JSON_DEPTH || fin == SPO_E_TOO_LONG || fin == SPO_E_ABORTED);
    if (fin == SPO_OK)
        check_caps(rn);
}

static void compare(const run *a, const run *b)
{
    FUZZ_CHECK(a->rc == b->rc);
    FUZZ_CHECK(a->offset == b->offset);
    FUZZ_CHECK(a->next_index == b->next_index);
    FUZZ_CHECK(a->elem_hash == b->elem_hash);
    if (a->rc != SPO_OK)
        return;
    for (int i = 0; i < NCAPS; i++) {
        const spo_json_capture *x = &a->caps[i], *y = &b->caps[i];
        FUZZ_CHECK(x->found == y->found && x->type == y->type && x->truncated == y->truncated);
        FUZZ_CHECK(x->len == y->len && memcmp(x->buf, y->buf, x->len) == 0);
    }
}

/* ------------------------------------------------------------------ the raw input as a string body */

static void string_body(const uint8_t *data, size_t size)
{
    char *full = malloc(size + 1), *small = malloc(size / 2 + 1);
    size_t full_len = 999, small_len = 999;
    int rc = spo_json_unescape((const char *)data, size, full, size + 1, &full_len);
    int rs = spo_json_unescape((const char *)data, size, small, size / 2 + 1, &small_len);
    FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_JSON_SYNTAX); /* unescaping never grows the text */

    /* In place (dst == src, as graph.c does in the element window) gives the same result. */
    char *inplace = malloc(size + 1);
    memcpy(inplace, data, size);
    size_t in_len = 999;
    int ri = spo_json_unescape(inplace, size, inplace, size + 1, &in_len);
    FUZZ_CHECK(ri == rc && in_len == (rc == SPO_OK ? full_len : 0));
    FUZZ_CHECK(rc != SPO_OK ? inplace[0] == '\0' : memcmp(inplace, full, full_len + 1) == 0);
    free(inplace);
    if (rc == SPO_OK) {
        FUZZ_CHECK(full_len <= size && full[full_len] == '\0');
        FUZZ_CHECK(utf8_valid((const uint8_t *)full, full_len));
        if (full_len < size / 2 + 1) {
            FUZZ_CHECK(rs == SPO_OK && small_len == full_len &&
                       memcmp(small, full, full_len + 1) == 0);
        } else {
            FUZZ_CHECK(rs == SPO_E_TOO_LONG && small[0] == '\0' && small_len == 0);
        }
        round_trip(full, full_len);
    } else {
        FUZZ_CHECK(full[0] == '\0' && full_len == 0);
        FUZZ_CHECK(rs != SPO_OK && small[0] == '\0');
    }

    /* Differential against the reader: "\"" + input + "\"" as a document. */
    static spo_json_reader rd;
    char *got = malloc(size + 1);
    spo_json_capture cap = { { NULL }, got, size + 1, 0, 0, 0, 0, 0 };
    spo_json_reader_init(&rd, &cap, 1, NULL, NULL, NULL);
    int r1 = spo_json_reader_feed(&rd, (const uint8_t *)"\"", 1);
    int r2 = r1 ? r1 : spo_json_reader_feed(&rd, data, size);
    int r3 = r2 ? r2 : spo_json_reader_feed(&rd, (const uint8_t *)"\"", 1);
    int r4 = spo_json_reader_finish(&rd);
    (void)r3;
    FUZZ_CHECK((rc == SPO_OK) == (r4 == SPO_OK));
    if (rc == SPO_OK)
        FUZZ_CHECK(cap.found && cap.type == SPO_JSON_STRING && cap.len == full_len &&
                   memcmp(got, full, full_len) == 0);
    free(got);

    /* write_string refuses exactly the invalid UTF-8, and round-trips the rest. */
    int valid = utf8_valid(data, size);
    outbuf o = { NULL, 0, 0 };
    int rw = spo_json_write_string(put, &o, (const char *)data, size);
    FUZZ_CHECK(rw == (valid ? SPO_OK : SPO_E_ARG));
    if (!valid)
        FUZZ_CHECK(o.len == 0); /* nothing written for a refused string */
    free(o.p);
    if (valid)
        round_trip((const char *)data, size);

    free(full);
    free(small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static run runs[3]; /* static: each holds a reader with its window */
    uint64_t h = fuzz_fnv(FUZZ_FNV_INIT, data, size);
    /* Now and then the callback stops the reader at some element: the offset must not move. */
    uint64_t stop_at = (h & 0x300) == 0x300 ? (h >> 12) % 4 : UINT64_MAX;
    uint8_t *in = malloc(size ? size : 1); /* exact-size copy so ASan sees reads past the end */
    memcpy(in, data, size);

    for (int mode = 0; mode < 3; mode++) {
        run_init(&runs[mode], stop_at, (int)(h >> 40) & 1);
        parse(&runs[mode], in, size, mode, (uint32_t)h);
    }
    compare(&runs[0], &runs[1]);
    compare(&runs[0], &runs[2]);

    string_body(in, size);
    free(in);
    return 0;
}
