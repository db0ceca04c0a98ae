/* spo — the streaming JSON reader: a push state machine over RFC 8259, byte at a time.
 *
 * Every byte is seen once and may end any call to feed(): the whole parse position lives in the
 * reader (state, container bit stack, pending UTF-8 / \uXXXX / surrogate / literal progress), never
 * in the C stack, so a document split anywhere gives the same result as one fed whole.
 *
 * Choices the RFC leaves open, made here:
 *  - a top-level scalar is a document ("2", "\"x\"", "null");
 *  - a lone UTF-16 surrogate escape (\uD800 alone, \uDC00 first, high + non-low) is rejected, in
 *    every string, captured or not, so acceptance never depends on what the caller asked for;
 *  - a byte order mark is rejected (Graph and Entra never send one; RFC 8259 says not to);
 *  - numbers are checked for grammar only; their magnitude is the caller's business;
 *  - duplicate keys are accepted; a capture keeps the last value seen.
 *
 * jsmn is compiled here, and only here, as a private (static) copy: elements are parsed by it, and
 * nothing outside this file calls it, so spo exports no jsmn symbols to clash with an application's
 * own jsmn. */
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include "spo/json.h"
#include "json_priv.h"

#include <string.h>

#if SPO_JSON_MAX_CAPTURES > 31
#error "SPO_JSON_MAX_CAPTURES must be at most 31 (path masks are 32 bits, one is the collection)"
#endif
#if SPO_JSON_DEPTH_MAX > 65535
#error "SPO_JSON_DEPTH_MAX must fit 16 bits"
#endif

#define COLL_BIT (1u << SPO_JSON_MAX_CAPTURES)
#define CAP_BITS (COLL_BIT - 1u)

enum {
    ST_VALUE,     /* a value must start: the document, after ':', after ',' in an array */
    ST_ARR_FIRST, /* after '[': a value or ']' */
    ST_OBJ_FIRST, /* after '{': a key or '}' */
    ST_KEY,       /* after ',' in an object: a key, so "{\"a\":1,}" fails here */
    ST_COLON,
    ST_NEXT,      /* after a member or element: ',' or the closing bracket */
    ST_END,       /* the document is complete: whitespace only */
    ST_STR,
    ST_UTF8,      /* inside a multi-byte sequence of a string */
    ST_ESC,
    ST_HEX,
    ST_LOW_BS,    /* a high surrogate was decoded: its low half must follow as \uXXXX */
    ST_LOW_U,
    ST_LIT,
    /* numbers last: st >= ST_NUM_MINUS means "in a number", whose bytes flush like a string's */
    ST_NUM_MINUS, /* '-' seen: a digit must follow */
    ST_NUM_ZERO,  /* a leading 0: no further integer digit allowed */
    ST_NUM_INT,
    ST_NUM_DOT,   /* '.' seen: a digit must follow */
    ST_NUM_FRAC,
    ST_NUM_E,     /* 'e' seen: a sign or a digit must follow */
    ST_NUM_ESIGN,
    ST_NUM_EXP
};

enum { SINK_NONE, SINK_KEY, SINK_CAP };

static const char *const lit_text[3] = { "true", "false", "null" };

/* Bytes that stand for themselves inside a string: everything but '"', '\\', controls and
 * non-ASCII (which goes through UTF-8 validation). DEL (0x7F) is a valid string byte in JSON. */
static const uint8_t str_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80.. */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define IS_DIGIT(c) ((unsigned)((c) - '0') < 10u)

static const char *const *path_of(const spo_json_reader *r, unsigned i)
{
    return i == SPO_JSON_MAX_CAPTURES ? r->coll_path : r->caps[i].path;
}

/* Number of keys in a NULL-terminated path, or -1 if it has more than SPO_JSON_PATH_MAX. */
static int path_len(const char *const *path)
{
    int n;

    for (n = 0; n <= SPO_JSON_PATH_MAX; n++)
        if (path[n] == NULL)
            return n;
    return -1;
}

void spo_json_reader_init(spo_json_reader *r, spo_json_capture *caps, size_t ncaps,
                          const char *const *coll_path, spo_json_elem_fn on_elem, void *ctx)
{
    size_t i;
    int n;

    /* tok[] and win[] are written before they are read; skipping them keeps init cheap */
    memset(r, 0, offsetof(spo_json_reader, tok));
    r->caps = caps;
    r->ncaps = ncaps;
    r->on_elem = on_elem;
    r->ctx = ctx;
    r->cur_cap = -1;
    r->state = ST_VALUE;

    if (ncaps > SPO_JSON_MAX_CAPTURES || (ncaps > 0 && caps == NULL)) {
        r->err = SPO_E_ARG;
        return;
    }
    for (i = 0; i < ncaps; i++) {
        spo_json_capture *c = &caps[i];

        n = path_len(c->path);
        if (n < 0 || c->buf == NULL || c->cap == 0) {
            r->err = SPO_E_ARG;
            return;
        }
        c->found = 0;
        c->type = 0;
        c->truncated = 0;
        c->len = 0;
        c->buf[0] = '\0';
        r->endmask[n] |= 1u << i;
        r->vmask |= 1u << i;
    }
    if (coll_path != NULL) {
        for (n = 0; n <= SPO_JSON_PATH_MAX && coll_path[n] != NULL; n++)
            r->coll_path[n] = coll_path[n];
        if (n > SPO_JSON_PATH_MAX || on_elem == NULL) {
            r->err = SPO_E_ARG;
            return;
        }
        r->endmask[n] |= COLL_BIT;
        r->vmask |= COLL_BIT;
    }
}

uint64_t spo_json_reader_offset(const spo_json_reader *r)
{
    return r->offset;
}

/* Append bytes of a string or number to where they are wanted. Never fails: an overflow is noted
 * and judged when the value ends, so that a bad byte later in the same value wins in every split. */
static void sink_put(spo_json_reader *r, const uint8_t *s, size_t n)
{
    if (r->sink_over)
        return;
    if (r->sink == SINK_KEY) {
        if (n > sizeof r->key - r->key_len) {
            r->sink_over = 1;
            return;
        }
        memcpy(r->key + r->key_len, s, n);
        r->key_len += n;
        return;
    }
    {
        spo_json_capture *c = &r->caps[r->cur_cap];
        size_t room = c->cap - 1 - c->len;

        if (n > room) {
            n = room;
            r->sink_over = 1;
        }
        memcpy(c->buf + c->len, s, n);
        c->len += n;
    }
}

/* A value is starting where the paths in vmask lead: if it is a scalar one capture wants, make that
 * capture the sink. Only the first capture naming a path is filled. */
static void begin_scalar(spo_json_reader *r, uint8_t type)
{
    uint32_t t;
    unsigned i;

    r->sink = SINK_NONE;
    if (r->vmask == 0)
        return; /* also keeps endmask[] in bounds: a live path implies depth <= PATH_MAX */
    t = r->vmask & r->endmask[r->depth] & CAP_BITS;
    r->vmask = 0;
    if (t == 0)
        return;
    for (i = 0; !(t & (1u << i)); i++)
        ;
    {
        spo_json_capture *c = &r->caps[i];

        c->found = 1;
        c->type = type;
        c->truncated = 0;
        c->len = 0;
        c->buf[0] = '\0';
    }
    r->cur_cap = (int)i;
    r->sink = SINK_CAP;
    r->sink_over = 0;
}

/* Cut a truncated capture back to the last whole UTF-8 sequence. The bytes written are a prefix of
 * valid UTF-8, so only the tail can be incomplete. */
static size_t utf8_whole(const char *s, size_t len)
{
    size_t i = len, back = 0;
    unsigned c, need;

    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0u) == 0x80u) {
        i--;
        back++;
    }
    if (i == 0)
        return len;
    c = (unsigned char)s[i - 1];
    if (c < 0xC0u)
        return len; /* ASCII last: whole */
    need = c >= 0xF0u ? 3u : c >= 0xE0u ? 2u : 1u;
    return back >= need ? len : i - 1;
}

static int end_capture(spo_json_reader *r)
{
    spo_json_capture *c = &r->caps[r->cur_cap];

    r->cur_cap = -1;
    r->sink = SINK_NONE;
    if (r->sink_over) {
        r->sink_over = 0;
        if (!c->may_truncate) {
            c->buf[c->len] = '\0';
            return SPO_E_TOO_LONG;
        }
        c->truncated = 1;
        if (c->type == SPO_JSON_STRING)
            c->len = utf8_whole(c->buf, c->len);
    }
    c->buf[c->len] = '\0';
    return SPO_OK;
}

/* The element in the window is complete: tokenize it and hand it over. */
static int emit_elem(spo_json_reader *r, const uint8_t *to)
{
    size_t n = (size_t)(to - r->elem_from);
    spo_json_elem e;
    int ntok;

    r->elem_active = 0;
    if (n > SPO_JSON_WINDOW - r->win_len) {
        /* the byte that ended the element was the first not to fit: blame it, as a scan that
         * stopped there would */
        r->err_at = r->elem_from + (SPO_JSON_WINDOW - r->win_len);
        return SPO_E_JSON_TOO_BIG;
    }
    memcpy(r->win + r->win_len, r->elem_from, n);
    r->win_len += n;

    if (r->win[0] == '"' || r->win[0] == '{' || r->win[0] == '[') {
        jsmn_parser jp;

        jsmn_init(&jp);
        ntok = jsmn_parse(&jp, r->win, r->win_len, r->tok, SPO_JSON_TOKENS);
        if (ntok == JSMN_ERROR_NOMEM)
            return SPO_E_JSON_TOO_BIG;
        if (ntok < 1)
            return SPO_E_INTERNAL; /* the bytes were validated, stricter than jsmn */
    } else {
        /* strict jsmn wants a delimiter after a primitive, which a bare element lacks */
        r->tok[0].type = JSMN_PRIMITIVE;
        r->tok[0].start = 0;
        r->tok[0].end = (int)r->win_len;
        r->tok[0].size = 0;
        ntok = 1;
    }
    e.js = r->win;
    e.len = r->win_len;
    e.tok = r->tok;
    e.ntok = ntok;
    e.index = r->elem_index++;
    return r->on_elem(r->ctx, &e);
}

/* A value ended just before `to`: close its capture, emit it if it is a collection element. */
static int value_done(spo_json_reader *r, const uint8_t *to)
{
    int rc;

    if (r->cur_cap >= 0 && (rc = end_capture(r)) != SPO_OK)
        return rc;
    if (r->elem_active && r->depth == r->coll_depth)
        return emit_elem(r, to);
    return SPO_OK;
}

static int open_container(spo_json_reader *r, int is_obj)
{
    uint32_t vm = r->vmask, t;
    unsigned d, i;

    if (r->depth >= SPO_JSON_DEPTH_MAX)
        return SPO_E_JSON_DEPTH;
    d = ++r->depth;
    if (is_obj)
        r->stack[(d - 1) / 8] |= (uint8_t)(1u << ((d - 1) % 8));
    else
        r->stack[(d - 1) / 8] &= (uint8_t)~(1u << ((d - 1) % 8));
    r->vmask = 0;
    if (d <= SPO_JSON_PATH_MAX)
        r->cmask[d] = 0;
    if (vm == 0)
        return SPO_OK;

    t = vm & r->endmask[d - 1];
    for (i = 0; i < r->ncaps; i++) {
        if (t & (1u << i)) {
            spo_json_capture *c = &r->caps[i];

            c->found = 1;
            c->type = is_obj ? SPO_JSON_OBJECT : SPO_JSON_ARRAY;
            c->truncated = 0;
            c->len = 0;
            c->buf[0] = '\0';
        }
    }
    if (is_obj) {
        /* paths only name object keys, so a path survives into objects and dies in arrays */
        if (d <= SPO_JSON_PATH_MAX)
            r->cmask[d] = vm & ~r->endmask[d - 1];
    } else if (t & COLL_BIT) {
        r->in_coll = 1;
        r->coll_depth = (uint16_t)d;
    }
    return SPO_OK;
}

/* A key ended: which paths does its value lie on? */
static uint32_t key_match(const spo_json_reader *r)
{
    unsigned d = r->depth, i;
    uint32_t m = r->cmask[d], out = 0;

    if (r->sink_over)
        return 0;
    for (i = 0; m != 0; i++, m >>= 1) {
        const char *pk;
        size_t j = 0;

        if (!(m & 1u))
            continue;
        pk = path_of(r, i)[d - 1];
        while (j < r->key_len && pk[j] != '\0' && pk[j] == r->key[j])
            j++;
        if (j == r->key_len && pk[j] == '\0')
            out |= 1u << i;
    }
    return out;
}


/* How far the reader may scan in this chunk: with an element open, one byte past the window's
 * room, so an oversized element fails at the same byte whatever the split (that byte may still
 * legitimately end a number element without belonging to it). */
static const uint8_t *scan_limit(const spo_json_reader *r, const uint8_t *p, const uint8_t *end)
{
    size_t room = SPO_JSON_WINDOW - r->win_len - (size_t)(p - r->elem_from);

    if (!r->elem_active || (size_t)(end - p) <= room)
        return end;
    return p + room + 1;
}

int spo_json_reader_feed(spo_json_reader *r, const uint8_t *data, size_t len)
{
    const uint8_t *p, *end, *lim, *run;
    unsigned st, c;
    int rc;

    if (r->err != 0)
        return r->err;
    if (len == 0)
        return SPO_OK;
    if (data == NULL) {
        r->err = SPO_E_ARG;
        return r->err;
    }
    p = run = data;
    end = data + len;
    st = r->state;
    r->elem_from = data;
    r->err_at = NULL;
    lim = scan_limit(r, p, end);

#define FLUSH()                                                                                   \
    do {                                                                                          \
        if (r->sink != SINK_NONE && p > run)                                                      \
            sink_put(r, run, (size_t)(p - run));                                                  \
    } while (0)
#define VALUE_DONE()                                                                              \
    do {                                                                                          \
        if ((rc = value_done(r, p)) != SPO_OK) {                                                  \
            if (r->err_at != NULL)                                                                \
                p = r->err_at;                                                                    \
            goto fail;                                                                            \
        }                                                                                         \
        if (!r->elem_active)                                                                      \
            lim = end;                                                                            \
        st = r->depth ? ST_NEXT : ST_END;                                                         \
    } while (0)

    while (p < lim) {
        c = *p;
        switch (st) {
        case ST_STR:
            while (str_plain[c]) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            if (c == '"') {
                FLUSH();
                p++;
                if (r->str_key) {
                    r->vmask = r->sink == SINK_KEY ? key_match(r) : 0;
                    r->sink = SINK_NONE;
                    r->sink_over = 0;
                    st = ST_COLON;
                } else {
                    VALUE_DONE();
                }
                continue;
            }
            if (c == '\\') {
                FLUSH();
                p++;
                st = ST_ESC;
                continue;
            }
            /* a lead byte fixes how many continuation bytes follow and, for the first, the range
             * that excludes overlongs (E0, F0), UTF-16 surrogates (ED) and > U+10FFFF (F4) */
            if (c < 0xC2u || c > 0xF4u)
                goto syntax; /* controls, stray continuation bytes, C0/C1 overlongs, F5.. */
            r->u8_lo = 0x80;
            r->u8_hi = 0xBF;
            if (c < 0xE0u) {
                r->u8_need = 1;
            } else if (c < 0xF0u) {
                r->u8_need = 2;
                if (c == 0xE0u)
                    r->u8_lo = 0xA0;
                else if (c == 0xEDu)
                    r->u8_hi = 0x9F;
            } else {
                r->u8_need = 3;
                if (c == 0xF0u)
                    r->u8_lo = 0x90;
                else if (c == 0xF4u)
                    r->u8_hi = 0x8F;
            }
            st = ST_UTF8;
            p++;
            continue;

        case ST_UTF8:
            if (c < r->u8_lo || c > r->u8_hi)
                goto syntax;
            r->u8_lo = 0x80;
            r->u8_hi = 0xBF;
            p++;
            if (--r->u8_need == 0)
                st = ST_STR;
            continue;

        case ST_ESC: {
            uint8_t b;

            switch (c) {
            case '"': case '\\': case '/': b = (uint8_t)c; break;
            case 'b': b = '\b'; break;
            case 'f': b = '\f'; break;
            case 'n': b = '\n'; break;
            case 'r': b = '\r'; break;
            case 't': b = '\t'; break;
            case 'u':
                r->hex_n = 0;
                r->ucode = 0;
                st = ST_HEX;
                p++;
                continue;
            default:
                goto syntax;
            }
            if (r->sink != SINK_NONE)
                sink_put(r, &b, 1);
            p++;
            run = p;
            st = ST_STR;
            continue;
        }

        case ST_HEX: {
            int h = spo_json_hexval(c);
            uint32_t u;

            if (h < 0)
                goto syntax;
            r->ucode = (uint16_t)(r->ucode << 4 | (unsigned)h);
            p++;
            if (++r->hex_n < 4)
                continue;
            u = r->ucode;
            if (r->uhigh != 0) {
                if (u < 0xDC00u || u > 0xDFFFu)
                    goto syntax;
                u = 0x10000u + ((uint32_t)(r->uhigh - 0xD800u) << 10) + (u - 0xDC00u);
                r->uhigh = 0;
            } else if (u >= 0xD800u && u <= 0xDBFFu) {
                r->uhigh = (uint16_t)u;
                st = ST_LOW_BS;
                continue;
            } else if (u >= 0xDC00u && u <= 0xDFFFu) {
                goto syntax;
            }
            if (r->sink != SINK_NONE) {
                uint8_t o[4];

                sink_put(r, o, spo_json_utf8_put(u, o));
            }
            run = p;
            st = ST_STR;
            continue;
        }

        case ST_LOW_BS:
            if (c != '\\')
                goto syntax;
            p++;
            st = ST_LOW_U;
            continue;

        case ST_LOW_U:
            if (c != 'u')
                goto syntax;
            p++;
            r->hex_n = 0;
            r->ucode = 0;
            st = ST_HEX;
            continue;

        case ST_VALUE:
        case ST_ARR_FIRST:
            while (IS_WS(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            if (c == ']' && st == ST_ARR_FIRST)
                goto close_container;
            if (r->in_coll && r->depth == r->coll_depth) {
                r->elem_active = 1;
                r->elem_from = p;
                r->win_len = 0;
                lim = scan_limit(r, p, end);
            }
            switch (c) {
            case '"':
                begin_scalar(r, SPO_JSON_STRING);
                r->str_key = 0;
                st = ST_STR;
                p++;
                run = p;
                continue;
            case '{':
            case '[':
                if ((rc = open_container(r, c == '{')) != SPO_OK)
                    goto fail;
                st = c == '{' ? ST_OBJ_FIRST : ST_ARR_FIRST;
                p++;
                continue;
            case '-':
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                begin_scalar(r, SPO_JSON_NUMBER);
                st = c == '-' ? ST_NUM_MINUS : c == '0' ? ST_NUM_ZERO : ST_NUM_INT;
                run = p;
                p++;
                continue;
            case 't':
            case 'f':
            case 'n':
                begin_scalar(r, SPO_JSON_LITERAL);
                r->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
                r->lit_pos = 1;
                st = ST_LIT;
                p++;
                continue;
            default:
                goto syntax;
            }

        case ST_OBJ_FIRST:
        case ST_KEY:
            while (IS_WS(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            if (c == '"') {
                r->str_key = 1;
                r->sink = SINK_NONE;
                r->sink_over = 0;
                if (r->depth <= SPO_JSON_PATH_MAX && r->cmask[r->depth] != 0) {
                    r->sink = SINK_KEY;
                    r->key_len = 0;
                }
                st = ST_STR;
                p++;
                run = p;
                continue;
            }
            if (c == '}' && st == ST_OBJ_FIRST)
                goto close_container;
            goto syntax;

        case ST_COLON:
            while (IS_WS(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            if (c != ':')
                goto syntax;
            p++;
            st = ST_VALUE;
            continue;

        case ST_NEXT:
            while (IS_WS(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            if (c == ',') {
                p++;
                /* no path leads into an array element: vmask is already 0 here */
                st = (r->stack[(r->depth - 1) / 8] >> ((r->depth - 1) % 8)) & 1u ? ST_KEY : ST_VALUE;
                continue;
            }
            if (c == '}' || c == ']') {
                unsigned is_obj = (r->stack[(r->depth - 1) / 8] >> ((r->depth - 1) % 8)) & 1u;

                if (is_obj != (c == '}'))
                    goto syntax;
                goto close_container;
            }
            goto syntax;

        case ST_END:
            while (IS_WS(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            goto syntax;

        case ST_LIT:
            if (c != (unsigned char)lit_text[r->lit][r->lit_pos])
                goto syntax;
            p++;
            if (lit_text[r->lit][++r->lit_pos] != '\0')
                continue;
            if (r->cur_cap >= 0)
                sink_put(r, (const uint8_t *)lit_text[r->lit], r->lit_pos);
            VALUE_DONE();
            continue;

        case ST_NUM_MINUS:
            if (c == '0') {
                st = ST_NUM_ZERO;
            } else if (c - '1' < 9u) {
                st = ST_NUM_INT;
            } else {
                goto syntax;
            }
            p++;
            continue;

        case ST_NUM_INT:
            while (IS_DIGIT(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            /* fallthrough */
        case ST_NUM_ZERO:
            if (c == '.') {
                st = ST_NUM_DOT;
                p++;
                continue;
            }
            if (c == 'e' || c == 'E') {
                st = ST_NUM_E;
                p++;
                continue;
            }
            goto num_end;

        case ST_NUM_DOT:
            if (!IS_DIGIT(c))
                goto syntax;
            st = ST_NUM_FRAC;
            p++;
            continue;

        case ST_NUM_FRAC:
            while (IS_DIGIT(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            if (c == 'e' || c == 'E') {
                st = ST_NUM_E;
                p++;
                continue;
            }
            goto num_end;

        case ST_NUM_E:
            if (c == '+' || c == '-') {
                st = ST_NUM_ESIGN;
                p++;
                continue;
            }
            /* fallthrough */
        case ST_NUM_ESIGN:
            if (!IS_DIGIT(c))
                goto syntax;
            st = ST_NUM_EXP;
            p++;
            continue;

        case ST_NUM_EXP:
            while (IS_DIGIT(c)) {
                if (++p == lim)
                    goto chunk_end;
                c = *p;
            }
            goto num_end;

        default:
            rc = SPO_E_INTERNAL;
            goto fail;
        }

    num_end:
        /* the byte at p is not part of the number: it is read again as what follows a value */
        FLUSH();
        VALUE_DONE();
        continue;

    close_container:
        r->depth--;
        if (r->in_coll && r->depth < r->coll_depth)
            r->in_coll = 0;
        p++;
        VALUE_DONE();
        /* cppcheck-suppress redundantContinue ; every labelled block of this loop ends in continue: none falls into the next */
        continue;
    }

chunk_end:
    if (st == ST_STR || st == ST_UTF8 || st >= ST_NUM_MINUS)
        FLUSH();
    if (r->elem_active) {
        size_t n = (size_t)(p - r->elem_from);

        if (n > SPO_JSON_WINDOW - r->win_len) {
            /* report the first byte that does not fit, wherever the chunks were cut */
            p = r->elem_from + (SPO_JSON_WINDOW - r->win_len);
            rc = SPO_E_JSON_TOO_BIG;
            goto fail;
        }
        memcpy(r->win + r->win_len, r->elem_from, n);
        r->win_len += n;
    }
    if (p != end) {
        rc = SPO_E_INTERNAL;
        goto fail;
    }
    r->state = (uint8_t)st;
    r->offset += len;
    return SPO_OK;

syntax:
    rc = SPO_E_JSON_SYNTAX;
fail:
    r->err = rc;
    r->state = (uint8_t)st;
    r->offset += (uint64_t)(p - data);
    return rc;
#undef FLUSH
#undef VALUE_DONE
}

int spo_json_reader_finish(spo_json_reader *r)
{
    if (r->err != 0)
        return r->err;
    switch (r->state) {
    case ST_END:
        return SPO_OK;
    case ST_NUM_ZERO:
    case ST_NUM_INT:
    case ST_NUM_FRAC:
    case ST_NUM_EXP:
        /* only a top-level number has no byte after it to end it */
        if (r->depth == 0) {
            int rc;

            if (r->cur_cap >= 0 && (rc = end_capture(r)) != SPO_OK) {
                r->err = rc;
                return rc;
            }
            r->state = ST_END;
            return SPO_OK;
        }
        break;
    default:
        break;
    }
    r->err = SPO_E_JSON_SYNTAX;
    return r->err;
}
