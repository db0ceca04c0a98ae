/* Fuzz target: `spo list-add`'s inputs and the JSON writer that turns them into the request body:
 * spo_list_field_parse (src/lists.c, FIELD=VALUE / FIELD:=JSON), spo_json_object_check (the
 * --json-file validation) and spo_json_writer / spo_json_write_string (src/json_writer.c), put
 * together as src/cli_list_add.c does (that file's own functions are static and print; they are
 * not linked here).
 *
 * Input: byte 0 chooses the mode:
 *   even: bit 1 set: the first NUL-separated piece is a --json-file text; every other piece is an
 *         argument. Bits 2-3: the body buffer (SPO_LIST_BODY_MAX, 64, 300, 1500 bytes).
 *   odd:  bits 1-7 / the rest drive the writer directly: op bytes (object, end, key, string, scalar,
 *         members, finish), each string op followed by a length byte and that many bytes.
 * Properties:
 *  - spo_list_field_parse agrees with a reference reading of the syntax (first '=', ':=' for a
 *    scalar, non-empty field, both sides valid UTF-8 by an independent validator, a scalar that
 *    is an RFC 8259 number or true/false/null by an independent checker), and its spans point into
 *    the argument, up to the '=' and from after it to the end;
 *  - spo_json_object_check accepts exactly what the project's validating reader accepts and sees
 *    as an object;
 *  - whatever the writer is asked, its output buffer is NUL-terminated, within its capacity, and
 *    valid UTF-8 (invalid UTF-8 is refused, never emitted); errors are sticky;
 *  - when the writer finishes with SPO_OK, its output is valid JSON for spo_json_reader (an object,
 *    in list-add's mode), and every field written from an argument reads back (captured at
 *    {"fields", FIELD}) as exactly the argument's bytes, with its type (string or scalar);
 *  - spo_json_write_string of any bytes: SPO_E_ARG with nothing written for invalid UTF-8, else
 *    a JSON string that the reader decodes to the same bytes. */
#include "fuzz.h"
#include "spo/json.h"
#include "spo/lists.h"

static spo_json_reader g_reader;

/* ---- references ---- */

static int ref_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int digits(const char *s, size_t n, size_t *i)
{
    size_t j = *i;
    while (j < n && s[j] >= '0' && s[j] <= '9')
        j++;
    if (j == *i)
        return 0;
    *i = j;
    return 1;
}

static int ref_scalar(const char *s, size_t n)
{
    if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5)) ||
        (n == 4 && !memcmp(s, "null", 4)))
        return 1;
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        digits(s, n, &i);
    else
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        if (!digits(s, n, &i))
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!digits(s, n, &i))
            return 0;
    }
    return i == n;
}

/* Read a whole document with the project's reader (captures optional); SPO_OK if valid JSON. */
static int read_doc(const char *s, size_t n, spo_json_capture *caps, size_t ncaps)
{
    spo_json_reader_init(&g_reader, caps, ncaps, NULL, NULL, NULL);
    int rc = spo_json_reader_feed(&g_reader, (const uint8_t *)s, n);
    return rc != SPO_OK ? rc : spo_json_reader_finish(&g_reader);
}

/* ---- the output buffer ---- */

static void check_buf(const spo_json_buf *b)
{
    FUZZ_CHECK(b->len < b->cap && b->buf[b->len] == '\0');
    FUZZ_CHECK(strlen(b->buf) == b->len);
    FUZZ_CHECK(ref_utf8((const uint8_t *)b->buf, b->len));
}

/* ---- list-add mode ---- */

#define MAX_ARGS 64
#define MAX_CHECKED 7 /* captures of argument fields (one of SPO_JSON_MAX_CAPTURES is spare) */

static void list_add(const uint8_t *data, size_t size, int has_file, size_t cap)
{
    static char *args[MAX_ARGS];
    static spo_list_field fields[MAX_ARGS];
    size_t nargs = 0;
    const char *file = NULL;
    size_t flen = 0;

    /* NUL-separated pieces, each copied to its own allocation (ASan sees reads past them). */
    char *all = malloc(size + 1);
    memcpy(all, data, size);
    all[size] = '\0';
    for (size_t off = 0; off <= size && nargs < MAX_ARGS;) {
        size_t n = strlen(all + off);
        char *piece = malloc(n + 1);
        memcpy(piece, all + off, n + 1);
        if (has_file && !file) {
            file = piece;
            flen = n;
            args[nargs++] = piece; /* freed with them; not an argument */
        } else {
            args[nargs++] = piece;
        }
        off += n + 1;
    }

    int file_ok = 0;
    if (file) {
        int rc = spo_json_object_check(&g_reader, file, flen);
        int ref = read_doc(file, flen, NULL, 0);
        size_t i = 0;
        while (i < flen && (file[i] == ' ' || file[i] == '\t' || file[i] == '\n' || file[i] == '\r'))
            i++;
        int is_obj = i < flen && file[i] == '{';
        FUZZ_CHECK((rc == SPO_OK) == (ref == SPO_OK && is_obj));
        if (ref == SPO_OK && !is_obj)
            FUZZ_CHECK(rc == SPO_E_JSON_SHAPE);
        file_ok = rc == SPO_OK;
    }

    /* Parse each argument; compare with the reference. */
    int valid[MAX_ARGS] = { 0 };
    for (size_t a = file ? 1 : 0; a < nargs; a++) {
        const char *arg = args[a];
        spo_list_field *f = &fields[a];
        int rc = spo_list_field_parse(arg, f);
        const char *eq = strchr(arg, '=');
        int ref = eq && eq != arg;
        size_t klen = ref ? (size_t)(eq - arg) : 0;
        int scalar = ref && eq[-1] == ':';
        if (scalar)
            klen--;
        ref = ref && klen > 0 && ref_utf8((const uint8_t *)arg, klen) &&
              ref_utf8((const uint8_t *)eq + 1, strlen(eq + 1)) &&
              (!scalar || ref_scalar(eq + 1, strlen(eq + 1)));
        FUZZ_CHECK(rc == SPO_OK || rc == SPO_E_ARG);
        FUZZ_CHECK((rc == SPO_OK) == ref);
        if (rc == SPO_OK) {
            FUZZ_CHECK(f->key == arg && f->key_len == klen && f->scalar == scalar);
            FUZZ_CHECK(f->value == eq + 1 && f->value_len == strlen(eq + 1));
            valid[a] = 1;
            for (size_t b = file ? 1 : 0; b < a; b++) /* list-add refuses a field given twice */
                if (valid[b] && fields[b].key_len == klen && !memcmp(fields[b].key, arg, klen))
                    valid[a] = 0;
        }
    }

    /* The body, as list-add writes it. */
    char *out = malloc(cap);
    memset(out, 0xa5, cap);
    spo_json_buf buf = { out, cap, 0 };
    out[0] = '\0';
    spo_json_writer w;
    spo_json_writer_init(&w, spo_json_buf_put, &buf);
    int rc = spo_json_writer_object(&w);
    if (rc == SPO_OK)
        rc = spo_json_writer_key(&w, "fields", 6);
    if (rc == SPO_OK)
        rc = spo_json_writer_object(&w);
    if (rc == SPO_OK && file_ok)
        rc = spo_json_writer_members(&w, file, flen);
    int sticky = rc;
    for (size_t a = file ? 1 : 0; a < nargs; a++) {
        if (!valid[a])
            continue;
        int r1 = spo_json_writer_key(&w, fields[a].key, fields[a].key_len);
        int r2 = fields[a].scalar ? spo_json_writer_scalar(&w, fields[a].value, fields[a].value_len)
                                  : spo_json_writer_string(&w, fields[a].value, fields[a].value_len);
        if (sticky != SPO_OK)
            FUZZ_CHECK(r1 == sticky && r2 == sticky);
        else if (r1 != SPO_OK)
            sticky = r1;
        else
            sticky = r2;
        check_buf(&buf);
    }
    spo_json_writer_end(&w);
    spo_json_writer_end(&w);
    rc = spo_json_writer_finish(&w);
    check_buf(&buf);
    if (sticky != SPO_OK)
        FUZZ_CHECK(rc == sticky);
    if (rc == SPO_OK) {
        /* Valid JSON, an object, and the argument fields read back byte for byte. */
        static spo_json_capture caps[MAX_CHECKED];
        static char vals[MAX_CHECKED][SPO_LIST_BODY_MAX];
        static char keys[MAX_CHECKED][SPO_JSON_KEY_MAX + 1];
        size_t idx[MAX_CHECKED], nc = 0;
        for (size_t a = file ? 1 : 0; a < nargs && nc < MAX_CHECKED; a++) {
            if (!valid[a] || fields[a].key_len >= SPO_JSON_KEY_MAX)
                continue;
            memcpy(keys[nc], fields[a].key, fields[a].key_len);
            keys[nc][fields[a].key_len] = '\0';
            if (strlen(keys[nc]) != fields[a].key_len)
                continue;
            caps[nc] = (spo_json_capture){ { "fields", keys[nc], NULL }, vals[nc], sizeof vals[nc],
                                           0, 0, 0, 0, 0 };
            idx[nc++] = a;
        }
        FUZZ_CHECK(buf.len > 0 && buf.buf[0] == '{');
        FUZZ_CHECK(read_doc(buf.buf, buf.len, caps, nc) == SPO_OK);
        for (size_t c = 0; c < nc; c++) {
            const spo_list_field *f = &fields[idx[c]];
            FUZZ_CHECK(caps[c].found && !caps[c].truncated);
            FUZZ_CHECK(f->scalar ? caps[c].type == SPO_JSON_NUMBER || caps[c].type == SPO_JSON_LITERAL
                                 : caps[c].type == SPO_JSON_STRING);
            FUZZ_CHECK(caps[c].len == f->value_len && !memcmp(vals[c], f->value, f->value_len));
        }
    }
    free(out);
    for (size_t a = 0; a < nargs; a++)
        free(args[a]);
    free(all);
}

/* ---- the writer driven directly ---- */

static void ops(const uint8_t *data, size_t size, size_t cap)
{
    char *out = malloc(cap);
    spo_json_buf buf = { out, cap, 0 };
    out[0] = '\0';
    spo_json_writer w;
    spo_json_writer_init(&w, spo_json_buf_put, &buf);
    int sticky = SPO_OK;
    for (size_t i = 0; i < size;) {
        uint8_t op = data[i++] % 7;
        const char *s = NULL;
        size_t n = 0;
        char *copy = NULL;
        if (op >= 2 && op <= 5) {
            n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            copy = malloc(n ? n : 1); /* exactly n bytes: no reading past */
            memcpy(copy, data + i, n);
            s = copy;
            i += n;
        }
        int rc;
        switch (op) {
        case 0: rc = spo_json_writer_object(&w); break;
        case 1: rc = spo_json_writer_end(&w); break;
        case 2: rc = spo_json_writer_key(&w, s, n); break;
        case 3: rc = spo_json_writer_string(&w, s, n); break;
        case 4: rc = spo_json_writer_scalar(&w, s, n); break;
        case 5:
            /* members only from a text the check accepted, as the header asks */
            if (spo_json_object_check(&g_reader, s, n) != SPO_OK) {
                free(copy);
                continue;
            }
            rc = spo_json_writer_members(&w, s, n);
            break;
        default: rc = spo_json_writer_finish(&w); break;
        }
        free(copy);
        if (sticky != SPO_OK)
            FUZZ_CHECK(rc == sticky);
        else if (op != 6)
            sticky = rc;
        check_buf(&buf);
    }
    int rc = spo_json_writer_finish(&w);
    if (sticky != SPO_OK)
        FUZZ_CHECK(rc == sticky);
    check_buf(&buf);
    if (rc == SPO_OK)
        FUZZ_CHECK(read_doc(buf.buf, buf.len, NULL, 0) == SPO_OK);
    free(out);

    /* spo_json_write_string of the whole input. */
    size_t big = 2 + 6 * size + 1;
    char *sout = malloc(big);
    spo_json_buf sb = { sout, big, 0 };
    sout[0] = '\0';
    rc = spo_json_write_string(spo_json_buf_put, &sb, (const char *)data, size);
    if (!ref_utf8(data, size)) {
        FUZZ_CHECK(rc == SPO_E_ARG && sb.len == 0);
    } else {
        FUZZ_CHECK(rc == SPO_OK);
        check_buf(&sb);
        char *dec = malloc(size + 1);
        spo_json_capture cap1 = { { NULL }, dec, size + 1, 0, 0, 0, 0, 0 };
        FUZZ_CHECK(read_doc(sb.buf, sb.len, &cap1, 1) == SPO_OK);
        FUZZ_CHECK(cap1.found && cap1.type == SPO_JSON_STRING && cap1.len == size);
        FUZZ_CHECK(memcmp(dec, data, size) == 0);
        free(dec);
    }
    free(sout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[4] = { SPO_LIST_BODY_MAX, 64, 300, 1500 };
    if (size == 0)
        return 0;
    if (data[0] & 1)
        ops(data + 1, size - 1, caps[(data[0] >> 1) & 3]);
    else
        list_add(data + 1, size - 1, (data[0] >> 1) & 1, caps[(data[0] >> 2) & 3]);
    return 0;
}
