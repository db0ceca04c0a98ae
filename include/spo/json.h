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
#define SPO_JSON_TOKENS 64 /* jsmn tokens per element (a site with $select uses ~9) */
#endif
#ifndef SPO_JSON_DEPTH_MAX
#define SPO_JSON_DEPTH_MAX 32 /* deepest nesting accepted anywhere in a document */
#endif
#ifndef SPO_JSON_PATH_MAX
#define SPO_JSON_PATH_MAX 4 /* keys in a capture or collection path */
#endif
#ifndef SPO_JSON_MAX_CAPTURES
#define SPO_JSON_MAX_CAPTURES 8
#endif

/* One value to capture. path lists object keys from the root, NULL-terminated (at most
 * SPO_JSON_PATH_MAX keys). Keys match exactly, after unescaping. */
typedef struct spo_json_capture {
    const char *path[SPO_JSON_PATH_MAX + 1];
    char *buf;            /* receives the value + NUL; strings unescaped to UTF-8 */
    size_t cap;           /* size of buf, NUL included */
    uint8_t may_truncate; /* 1: keep the first cap-1 bytes (cut at a UTF-8 boundary) and set
                           * truncated; 0: a longer value is SPO_E_TOO_LONG */
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
    uint8_t state, esc_state, lit_state, flags;
    uint16_t depth;
    uint8_t stack[(SPO_JSON_DEPTH_MAX + 7) / 8]; /* bit per level: 1 object, 0 array */
    uint32_t path_match;      /* bit d: levels 0..d match some path so far */
    uint32_t ucode;           /* \uXXXX being decoded, pending high surrogate */
    uint8_t utf8_need, utf8_seen;
    uint8_t key_pos_ok;
    size_t key_len;
    char key[48];             /* the current key, when it may match a path */
    int cur_cap;              /* capture being filled, -1 none */
    size_t win_len;
    uint64_t elem_index;
    uint64_t offset;          /* bytes consumed, for error messages */
    uint8_t done;
    jsmntok_t tok[SPO_JSON_TOKENS];
    char win[SPO_JSON_WINDOW];
} spo_json_reader;

/* Prepare a reader. caps may be NULL (ncaps 0). coll_path may be NULL (no collection); on_elem is
 * called for each element of the array found at coll_path. Pointers must outlive the reader. */
void spo_json_reader_init(spo_json_reader *r, spo_json_capture *caps, size_t ncaps,
                          const char *const *coll_path, spo_json_elem_fn on_elem, void *ctx);

/* Feed the next len bytes of the document. Returns SPO_OK, a negative status (SPO_E_JSON_SYNTAX,
 * SPO_E_JSON_TOO_BIG, SPO_E_JSON_DEPTH, SPO_E_TOO_LONG), or what on_elem returned. After an error the
 * reader stays failed. Bytes after the end of the document other than whitespace are an error. */
int spo_json_reader_feed(spo_json_reader *r, const uint8_t *data, size_t len);

/* The document ended. Returns SPO_OK if it was one complete JSON value, SPO_E_JSON_SYNTAX if not. */
int spo_json_reader_finish(spo_json_reader *r);

/* Byte offset of the last error, for messages. */
uint64_t spo_json_reader_offset(const spo_json_reader *r);

/* Unescape a JSON string body (without the quotes) to UTF-8: \uXXXX with surrogate pairs (a lone
 * surrogate is SPO_E_JSON_SYNTAX). Writes a NUL. Returns SPO_OK, SPO_E_JSON_SYNTAX or SPO_E_TOO_LONG
 * (if dst cannot hold the result and its NUL). */
int spo_json_unescape(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* In an element that is an object, find the member key (compared after unescaping) and unescape its
 * string value into dst. Returns SPO_OK, SPO_E_JSON_SHAPE (absent, or not a string) or
 * SPO_E_TOO_LONG. */
int spo_json_elem_string(const spo_json_elem *e, const char *key, char *dst, size_t cap,
                         size_t *out_len);

/* Write s (UTF-8, len bytes) as a JSON string with quotes, escaping ", \ and control characters
 * (as \n, \t, ... or \u00XX); other bytes pass through unchanged so UTF-8 survives byte for byte.
 * Output goes through put, in pieces. Returns SPO_OK or what put returned. */
int spo_json_write_string(int (*put)(void *ctx, const char *s, size_t n), void *ctx, const char *s,
                          size_t len);

#endif
