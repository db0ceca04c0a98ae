/* spo — JSON: a streaming, validating reader for Graph and token responses, with jsmn for elements.
 *
 * Graph answers can be any size; spo never holds one whole. The reader is a push state machine that
 * validates every byte (RFC 8259: it rejects what jsmn's strict mode lets through, such as
 * {"a"::"b"}, trailing commas, leading zeros, bad escapes, control characters in strings, invalid
 * UTF-8) and does two things as the bytes pass:
 *  - captures: for a few key paths from the root (e.g. {"error","code"}), it unescapes the scalar
 *    value into a caller buffer (strings to UTF-8, numbers and literals as their text);
 *  - a collection: each element of the array at one key path (Graph's "value") is copied into a
 *    window of SPO_JSON_WINDOW bytes and, when complete, parsed by jsmn with a fixed array of
 *    SPO_JSON_TOKENS tokens and handed to a callback. An element bigger than the window is
 *    SPO_E_JSON_TOO_BIG, never a truncation.
 * Memory is the reader struct, whatever the size of the document. */
#ifndef SPO_JSON_H
#define SPO_JSON_H

#include "spo/base.h"

#define JSMN_STRICT
#define JSMN_HEADER
#include <jsmn.h>
#undef JSMN_HEADER

#ifndef SPO_JSON_WINDOW
#define SPO_JSON_WINDOW 2048 /* largest single collection element (one site is ~300 bytes) */
#endif
#ifndef SPO_JSON_TOKENS
#define SPO_JSON_TOKENS 64 /* jsmn tokens per element: a site with $select uses ~9, a drive
                           * whose $select was ignored ~45 (owner, quota) */
#endif
#ifndef SPO_JSON_DEPTH_MAX
#define SPO_JSON_DEPTH_MAX 32 /* deepest nesting accepted anywhere in a document */
#endif
#ifndef SPO_JSON_PATH_MAX
#define SPO_JSON_PATH_MAX 4 /* keys in a capture or collection path */
#endif
#ifndef SPO_JSON_MAX_CAPTURES
#define SPO_JSON_MAX_CAPTURES 8 /* at most 31 */
#endif
#ifndef SPO_JSON_KEY_MAX
#define SPO_JSON_KEY_MAX 64 /* longest key that can match a path; longer keys are read, never matched */
#endif

/* One value to capture. path lists object keys from the root, NULL-terminated (at most
 * SPO_JSON_PATH_MAX keys; an empty path names the document itself). Keys match exactly, after
 * unescaping; a key longer than SPO_JSON_KEY_MAX never matches. buf must be non-NULL and cap >= 1
 * (else the reader fails with SPO_E_ARG). If a key repeats, the last value wins; if two captures
 * name the same path, only the first is filled. */
typedef struct spo_json_capture {
    const char *path[SPO_JSON_PATH_MAX + 1];
    char *buf;            /* receives the value + NUL; strings unescaped to UTF-8 */
    size_t cap;           /* size of buf, NUL included */
    uint8_t may_truncate; /* 1: keep the first cap-1 bytes (cut at a UTF-8 boundary) and set
                           * truncated; 0: a longer value is SPO_E_TOO_LONG, reported when the
                           * value ends, so a syntax error inside it is reported instead */
    /* set by the reader: */
    uint8_t found;        /* 1 if the value was seen */
    uint8_t type;         /* SPO_JSON_STRING, SPO_JSON_NUMBER, SPO_JSON_LITERAL (true/false/null),
                           * or SPO_JSON_OBJECT / SPO_JSON_ARRAY (found, but not captured) */
    uint8_t truncated;
    size_t len;           /* bytes written, NUL excluded */
} spo_json_capture;

enum { SPO_JSON_STRING = 1, SPO_JSON_NUMBER, SPO_JSON_LITERAL, SPO_JSON_OBJECT, SPO_JSON_ARRAY };

/* One complete element of the collection, parsed by jsmn. Valid only during the callback. */
typedef struct spo_json_elem {
    const char *js;       /* the element's bytes (in the window) */
    size_t len;
    const jsmntok_t *tok; /* tok[0] is the element itself */
    int ntok;
    uint64_t index;       /* 0-based position in the array */
} spo_json_elem;

/* Return 0 to go on; anything else stops the reader, which returns it. */
typedef int (*spo_json_elem_fn)(void *ctx, const spo_json_elem *e);

typedef struct spo_json_reader {
    /* configuration */
    spo_json_capture *caps;
    size_t ncaps;
    const char *coll_path[SPO_JSON_PATH_MAX + 1];
    spo_json_elem_fn on_elem;
    void *ctx;
    /* state (private) */
    int err;                  /* sticky: once non-zero, every call returns it */
    uint8_t state;
    uint8_t str_key;          /* the string being read is an object key */
    uint8_t sink;             /* where string/number bytes go: nowhere, key[], a capture */
    uint8_t sink_over;        /* the sink overflowed (key: cannot match; capture: see may_truncate) */
    uint8_t lit, lit_pos;     /* literal being matched (true/false/null) and bytes seen */
    uint8_t hex_n;            /* hex digits of \uXXXX seen */
    uint8_t u8_need, u8_lo, u8_hi; /* UTF-8 continuation bytes still due, range of the next one */
    uint8_t in_coll, elem_active;
    uint16_t depth, coll_depth;
    uint16_t ucode, uhigh;    /* \uXXXX being decoded; pending high surrogate or 0 */
    int cur_cap;              /* capture being filled, -1 none */
    uint32_t vmask;           /* paths (bit per capture, SPO_JSON_MAX_CAPTURES = collection) the
                               * next value lies on */
    uint32_t endmask[SPO_JSON_PATH_MAX + 1];  /* paths of exactly k keys */
    uint32_t cmask[SPO_JSON_PATH_MAX + 1];    /* paths still alive in the object at depth d */
    uint8_t stack[(SPO_JSON_DEPTH_MAX + 7) / 8]; /* bit per level: 1 object, 0 array */
    size_t key_len;
    char key[SPO_JSON_KEY_MAX]; /* the current key, when it may match a path */
    const uint8_t *elem_from; /* where the current element starts in the chunk being fed */
    const uint8_t *err_at;    /* byte to blame when it is not the one being read */
    size_t win_len;
    uint64_t elem_index;
    uint64_t offset;          /* bytes consumed, or where the error is */
    jsmntok_t tok[SPO_JSON_TOKENS];
    char win[SPO_JSON_WINDOW];
} spo_json_reader;

/* Prepare a reader. caps may be NULL (ncaps 0). coll_path may be NULL (no collection); on_elem is
 * called for each element of the array found at coll_path (if that value is not an array, on_elem is
 * never called: add a capture on the same path to tell). Pointers must outlive the reader. Bad
 * arguments (ncaps > SPO_JSON_MAX_CAPTURES, a path too long, a capture without buffer, coll_path
 * without on_elem) make the first feed/finish return SPO_E_ARG.
 * Strictness: RFC 8259 and UTF-8 exactly; a top-level scalar is a document; a byte order mark, a
 * lone surrogate escape (in any string, captured or not) and nesting deeper than
 * SPO_JSON_DEPTH_MAX are refused. Numbers are checked for grammar, not magnitude. */
void spo_json_reader_init(spo_json_reader *r, spo_json_capture *caps, size_t ncaps,
                          const char *const *coll_path, spo_json_elem_fn on_elem, void *ctx);

/* Feed the next len bytes of the document. Returns SPO_OK, a negative status (SPO_E_JSON_SYNTAX,
 * SPO_E_JSON_TOO_BIG, SPO_E_JSON_DEPTH, SPO_E_TOO_LONG), or what on_elem returned. After an error the
 * reader stays failed. Bytes after the end of the document other than whitespace are an error. */
int spo_json_reader_feed(spo_json_reader *r, const uint8_t *data, size_t len);

/* The document ended. Returns SPO_OK if it was one complete JSON value, SPO_E_JSON_SYNTAX if not
 * (or the error the reader already failed with). */
int spo_json_reader_finish(spo_json_reader *r);

/* Byte offset of the last error, for messages: the byte that broke the syntax, the bracket one level
 * too deep, the first byte of an element beyond the window, the end of a value too long for its
 * capture or of an element the callback stopped at; the same whatever the feed pieces were. Before
 * any error: the bytes consumed. */
uint64_t spo_json_reader_offset(const spo_json_reader *r);

/* Unescape a JSON string body (without the quotes) to UTF-8: \uXXXX with surrogate pairs (a lone
 * surrogate is SPO_E_JSON_SYNTAX, as are a bad escape, a raw '"' or control byte, invalid UTF-8).
 * Writes a NUL. Returns SPO_OK, SPO_E_JSON_SYNTAX or SPO_E_TOO_LONG (if dst cannot hold the result
 * and its NUL); dst is "" on error. out_len may be NULL. dst may be src itself (in place, with
 * cap >= len + 1): the result is never longer than the escaped text. */
int spo_json_unescape(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* In an element that is an object, find the member key (compared after unescaping) among its direct
 * members (the last one if it repeats) and unescape its string value into dst. Returns SPO_OK,
 * SPO_E_JSON_SHAPE (not an object, absent, or not a string) or SPO_E_TOO_LONG. dst is "" on error. */
int spo_json_elem_string(const spo_json_elem *e, const char *key, char *dst, size_t cap,
                         size_t *out_len);

/* In an element that is an object, the index in e->tok of the value of member key (compared after
 * unescaping; the last one if it repeats), so that its type and text can be examined. Returns the
 * index (>= 1), SPO_E_JSON_SHAPE (not an object, or no such member) or SPO_E_ARG. */
int spo_json_elem_member(const spo_json_elem *e, const char *key);

/* True if s (len bytes) is valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF). */
int spo_json_utf8_valid(const char *s, size_t len);

/* Write s (UTF-8, len bytes) as a JSON string with quotes, escaping ", \ and control characters
 * (as \n, \t, ... or \u00XX); other bytes pass through unchanged so UTF-8 survives byte for byte.
 * Output goes through put, in pieces. Returns SPO_OK, SPO_E_ARG if s is not valid UTF-8 (checked
 * before anything is written), or what put returned. */
int spo_json_write_string(int (*put)(void *ctx, const char *s, size_t n), void *ctx, const char *s,
                          size_t len);

/* ---------------------------------------------------------------- writer */

/* Where written JSON goes, in pieces: SPO_OK or a negative status (which stops the writer). */
typedef int (*spo_json_put_fn)(void *ctx, const char *s, size_t n);

/* A JSON writer for request bodies: objects, keys, strings, and checked scalars, in order, with
 * the commas and colons put in for the caller. Strings are escaped (quote, backslash and control
 * characters; valid UTF-8 passes byte for byte) and invalid UTF-8 is refused before any of it is
 * written. Any misuse (a value where a key is due, closing what is not open, nesting deeper than
 * SPO_JSON_DEPTH_MAX) is SPO_E_ARG. Errors are sticky: once one call failed, every later call and
 * spo_json_writer_finish return that status, so a half-written body is never sent as complete. */
typedef struct spo_json_writer {
    spo_json_put_fn put;
    void *ctx;
    int err;
    uint16_t depth;
    uint8_t key_due;    /* inside an object, a key (or the end) comes next */
    uint8_t has_member[(SPO_JSON_DEPTH_MAX + 7) / 8]; /* bit per level: a comma before the next */
    uint8_t done;       /* the top-level value is complete */
} spo_json_writer;

/* Start a document written through put. */
void spo_json_writer_init(spo_json_writer *w, spo_json_put_fn put, void *ctx);
/* Open an object (the document itself, or the value of the last key). */
int spo_json_writer_object(spo_json_writer *w);
/* Close the innermost object. */
int spo_json_writer_end(spo_json_writer *w);
/* A member's key (len bytes of UTF-8). */
int spo_json_writer_key(spo_json_writer *w, const char *k, size_t len);
/* A string value (len bytes of UTF-8). */
int spo_json_writer_string(spo_json_writer *w, const char *s, size_t len);
/* A number, true, false or null given as text: checked with spo_json_scalar_check first. */
int spo_json_writer_scalar(spo_json_writer *w, const char *s, size_t len);
/* Members of an object from a JSON text that spo_json_object_check accepted ({...}): copied as they
 * are, inside the innermost open object, after the members written so far. */
int spo_json_writer_members(spo_json_writer *w, const char *obj, size_t len);
/* SPO_OK if the document is complete (every object closed), else the sticky error or SPO_E_ARG. */
int spo_json_writer_finish(spo_json_writer *w);

/* SPO_OK if s is exactly a JSON number (RFC 8259 grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?
 * [0-9]+)?) or true, false or null; SPO_E_ARG otherwise (also for leading or trailing spaces). */
int spo_json_scalar_check(const char *s, size_t len);

/* SPO_OK if s (len bytes) is one complete, valid JSON object (whitespace around it allowed), checked
 * with a reader r (its state is overwritten); SPO_E_JSON_SHAPE if it is valid JSON but not an
 * object, or the reader's status (SPO_E_JSON_SYNTAX, SPO_E_JSON_DEPTH). */
int spo_json_object_check(spo_json_reader *r, const char *s, size_t len);

/* A fixed buffer as a spo_json_put_fn target: the text stays NUL-terminated; SPO_E_TOO_LONG when
 * it would not fit (nothing of that piece is written). */
typedef struct spo_json_buf {
    char *buf;
    size_t cap;   /* bytes of buf, NUL included */
    size_t len;
} spo_json_buf;
int spo_json_buf_put(void *ctx, const char *s, size_t n);

#endif
