/* JSON writer for request bodies: structure bookkeeping over spo_json_write_string. */
#include "spo/json.h"

#include <string.h>

void spo_json_writer_init(spo_json_writer *w, spo_json_put_fn put, void *ctx)
{
    memset(w, 0, sizeof *w);
    w->put = put;
    w->ctx = ctx;
    if (!put)
        w->err = SPO_E_ARG;
}

static int fail(spo_json_writer *w, int rc)
{
    if (!w->err)
        w->err = rc;
    return w->err;
}

static int out(spo_json_writer *w, const char *s, size_t n)
{
    int rc = w->put(w->ctx, s, n);
    return rc == SPO_OK ? SPO_OK : fail(w, rc);
}

static int bit(const spo_json_writer *w)
{
    return (w->has_member[(w->depth - 1) / 8] >> ((w->depth - 1) % 8)) & 1;
}

static void set_bit(spo_json_writer *w, int on)
{
    uint8_t m = (uint8_t)(1u << ((w->depth - 1) % 8));
    if (on)
        w->has_member[(w->depth - 1) / 8] |= m;
    else
        w->has_member[(w->depth - 1) / 8] &= (uint8_t)~m;
}

/* A value may come now: at the top (once), or after a key. */
static int value_ok(spo_json_writer *w)
{
    if (w->err)
        return w->err;
    if (w->done || (w->depth > 0 && w->key_due))
        return fail(w, SPO_E_ARG);
    return SPO_OK;
}

/* After a complete value: the object it was in wants a key next; at the top the document ends. */
static void value_written(spo_json_writer *w)
{
    if (w->depth == 0)
        w->done = 1;
    else
        w->key_due = 1;
}

int spo_json_writer_object(spo_json_writer *w)
{
    int rc = value_ok(w);
    if (rc != SPO_OK)
        return rc;
    if (w->depth >= SPO_JSON_DEPTH_MAX)
        return fail(w, SPO_E_ARG);
    if ((rc = out(w, "{", 1)) != SPO_OK)
        return rc;
    w->depth++;
    set_bit(w, 0);
    w->key_due = 1;
    return SPO_OK;
}

int spo_json_writer_end(spo_json_writer *w)
{
    if (w->err)
        return w->err;
    if (w->depth == 0 || !w->key_due)
        return fail(w, SPO_E_ARG); /* nothing open, or a key without its value */
    int rc = out(w, "}", 1);
    if (rc != SPO_OK)
        return rc;
    w->depth--;
    value_written(w);
    return SPO_OK;
}

int spo_json_writer_key(spo_json_writer *w, const char *k, size_t len)
{
    if (w->err)
        return w->err;
    if (w->depth == 0 || !w->key_due)
        return fail(w, SPO_E_ARG);
    int rc;
    if (bit(w) && (rc = out(w, ",", 1)) != SPO_OK)
        return rc;
    rc = spo_json_write_string(w->put, w->ctx, k, len);
    if (rc != SPO_OK || (rc = out(w, ":", 1)) != SPO_OK)
        return fail(w, rc);
    set_bit(w, 1);
    w->key_due = 0;
    return SPO_OK;
}

int spo_json_writer_string(spo_json_writer *w, const char *s, size_t len)
{
    int rc = value_ok(w);
    if (rc != SPO_OK)
        return rc;
    rc = spo_json_write_string(w->put, w->ctx, s, len);
    if (rc != SPO_OK)
        return fail(w, rc);
    value_written(w);
    return SPO_OK;
}

int spo_json_writer_scalar(spo_json_writer *w, const char *s, size_t len)
{
    int rc = value_ok(w);
    if (rc != SPO_OK)
        return rc;
    if (spo_json_scalar_check(s, len) != SPO_OK)
        return fail(w, SPO_E_ARG);
    if ((rc = out(w, s, len)) != SPO_OK)
        return rc;
    value_written(w);
    return SPO_OK;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int spo_json_writer_members(spo_json_writer *w, const char *obj, size_t len)
{
    if (w->err)
        return w->err;
    if (w->depth == 0 || !w->key_due || !obj)
        return fail(w, SPO_E_ARG);
    /* The text was checked to be one object: its members lie between the outer braces. */
    size_t a = 0, b = len;
    while (a < b && is_ws(obj[a]))
        a++;
    while (b > a && is_ws(obj[b - 1]))
        b--;
    if (len < 2 || b <= a + 1 || obj[a] != '{' || obj[b - 1] != '}')
        return fail(w, SPO_E_ARG);
    a++;
    b--;
    while (a < b && is_ws(obj[a]))
        a++;
    while (b > a && is_ws(obj[b - 1]))
        b--;
    if (a == b)
        return SPO_OK; /* {} */
    int rc;
    if (bit(w) && (rc = out(w, ",", 1)) != SPO_OK)
        return rc;
    if ((rc = out(w, obj + a, b - a)) != SPO_OK)
        return rc;
    set_bit(w, 1);
    return SPO_OK;
}

int spo_json_writer_finish(spo_json_writer *w)
{
    if (w->err)
        return w->err;
    return w->done && w->depth == 0 ? SPO_OK : SPO_E_ARG;
}

static int digits(const char *s, size_t len, size_t *i)
{
    size_t start = *i;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9')
        (*i)++;
    return *i > start;
}

int spo_json_scalar_check(const char *s, size_t len)
{
    if (!s)
        return SPO_E_ARG;
    if ((len == 4 && !memcmp(s, "true", 4)) || (len == 5 && !memcmp(s, "false", 5)) ||
        (len == 4 && !memcmp(s, "null", 4)))
        return SPO_OK;
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i < len && s[i] == '0')
        i++;
    else if (!(i < len && s[i] >= '1' && s[i] <= '9') || !digits(s, len, &i))
        return SPO_E_ARG;
    if (i < len && s[i] == '.') {
        i++;
        if (!digits(s, len, &i))
            return SPO_E_ARG;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!digits(s, len, &i))
            return SPO_E_ARG;
    }
    return i == len ? SPO_OK : SPO_E_ARG;
}

int spo_json_object_check(spo_json_reader *r, const char *s, size_t len)
{
    char probe[2];
    spo_json_capture cap = { { NULL }, probe, sizeof probe, 1, 0, 0, 0, 0 };
    if (!r || (!s && len))
        return SPO_E_ARG;
    spo_json_reader_init(r, &cap, 1, NULL, NULL, NULL);
    int rc = spo_json_reader_feed(r, (const uint8_t *)s, len);
    if (rc == SPO_OK)
        rc = spo_json_reader_finish(r);
    if (rc != SPO_OK)
        return rc;
    return cap.found && cap.type == SPO_JSON_OBJECT ? SPO_OK : SPO_E_JSON_SHAPE;
}

int spo_json_buf_put(void *ctx, const char *s, size_t n)
{
    spo_json_buf *b = ctx;
    if (!b || !b->buf || b->cap == 0 || b->len >= b->cap || n >= b->cap - b->len)
        return SPO_E_TOO_LONG;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return SPO_OK;
}
