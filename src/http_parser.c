/* spo — the push parser for HTTP/1.1 responses (RFC 9112), strict as llhttp's strict mode is.
 *
 * One byte-driven state machine covers the status line, field lines, the three body framings,
 * and chunked framing with extensions and trailers. Each byte is judged as it arrives, so a bad
 * response fails at its first bad byte even when the line never ends, and the verdict cannot
 * depend on how the input was split. The only buffer is line[]: the reason phrase, or one field's
 * name and value, kept for the callbacks. Body bytes go to on_body straight from the caller's
 * buffer. */
#include "spo/http.h"

#include <limits.h>
#include <string.h>

enum {
    S_START,        /* before the status line; empty lines are skipped */
    S_START_LF,
    S_PROTO,        /* "HTTP/1." */
    S_MINOR,
    S_VERSION_SP,
    S_CODE,
    S_CODE_END,     /* SP before the reason, or CR when there is none */
    S_REASON,
    S_STATUS_LF,
    S_FIELD_START,  /* a field line, or the empty line ending the section */
    S_FIELD_NAME,
    S_FIELD_OWS,
    S_FIELD_VALUE,
    S_FIELD_LF,
    S_FIELDS_LF,
    S_BODY_LENGTH,
    S_BODY_CLOSE,
    S_CHUNK_SIZE,
    S_CHUNK_SIZE_WS,   /* BWS after the size: only a ';' may follow */
    S_EXT_NAME_START,
    S_EXT_NAME,
    S_EXT_NAME_WS,
    S_EXT_VALUE_START,
    S_EXT_TOKEN,
    S_EXT_VALUE_WS,
    S_EXT_QUOTED,
    S_EXT_ESCAPE,
    S_EXT_QUOTE_END,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_CR,
    S_CHUNK_LF,
    S_DONE,
    S_FAILED
};

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static int is_tchar(uint8_t c)
{
    if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return 1;
    default:
        return 0;
    }
}

/* VCHAR or obs-text: what a field value, reason or quoted string may hold besides SP and HTAB. */
static int is_visible(uint8_t c)
{
    return c >= 0x21 && c != 0x7f;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (lower((unsigned char)s[i]) != lit[i])
            return 0;
    return i == n && lit[i] == '\0';
}

/* Counts a byte of the current line; CR and LF are never counted. */
static int count(spo_http_parser *p)
{
    return ++p->line_len > SPO_HTTP_LINE_MAX ? SPO_E_HTTP_LINE : 0;
}

static int count_line(spo_http_parser *p)
{
    return ++p->nheaders > SPO_HTTP_MAX_HEADERS ? SPO_E_HTTP_HEADERS : 0;
}

/* ------------------------------------------------------------------ framing fields */

/* Calls fn for each element of a comma-separated list, OWS trimmed, empty elements skipped as RFC
 * 9110 section 5.6.1 asks. Returns fn's first non-zero result. */
static int each_element(const char *v, size_t n, spo_http_parser *p,
                        int (*fn)(spo_http_parser *p, const char *e, size_t len))
{
    size_t i = 0;
    while (i <= n) {
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (s < e && is_ws((uint8_t)v[s]))
            s++;
        while (e > s && is_ws((uint8_t)v[e - 1]))
            e--;
        if (e > s) {
            int rc = fn(p, v + s, e - s);
            if (rc)
                return rc;
        }
        i++;
    }
    return 0;
}

/* Every element must be the same number: "5, 5" is one length, "5, 6" is a smuggling attempt. */
static int content_length_element(spo_http_parser *p, const char *e, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((uint8_t)e[i]))
            return SPO_E_HTTP_FRAMING;
        unsigned d = (unsigned)(e[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return SPO_E_HTTP_FRAMING;
        v = v * 10 + d;
    }
    if (p->seen_cl && v != p->content_length)
        return SPO_E_HTTP_FRAMING;
    p->seen_cl = 1;
    p->content_length = v;
    return 0;
}

static int content_length(spo_http_parser *p, const char *v, size_t n)
{
    /* An empty element ("5,,5", "5,") is no number at all: refuse rather than skip. */
    for (size_t i = 0; i < n; i++)
        if (v[i] == ',') {
            size_t j = i + 1;
            while (j < n && is_ws((uint8_t)v[j]))
                j++;
            if (j == n || v[j] == ',')
                return SPO_E_HTTP_FRAMING;
        }
    if (n == 0 || v[0] == ',')
        return SPO_E_HTTP_FRAMING;
    return each_element(v, n, p, content_length_element);
}

/* Only the last coding decides the framing, so each element overwrites te_chunked_last; a header
 * with no element at all is refused. Parameters (";q=...") are allowed and ignored. */
static int transfer_coding(spo_http_parser *p, const char *e, size_t n)
{
    size_t k = 0;
    while (k < n && is_tchar((uint8_t)e[k]))
        k++;
    size_t j = k;
    while (j < n && is_ws((uint8_t)e[j]))
        j++;
    if (k == 0 || (j < n && e[j] != ';'))
        return SPO_E_HTTP_FRAMING;
    p->te_chunked_last = (uint8_t)ieq(e, k, "chunked");
    p->seen_te = 2; /* 2: an element was seen in this header */
    return 0;
}

static int transfer_encoding(spo_http_parser *p, const char *v, size_t n)
{
    p->seen_te = 0;
    int rc = each_element(v, n, p, transfer_coding);
    if (rc)
        return rc;
    if (p->seen_te != 2)
        return SPO_E_HTTP_FRAMING;
    p->seen_te = 1;
    return 0;
}

static int connection_option(spo_http_parser *p, const char *e, size_t n)
{
    if (ieq(e, n, "close"))
        p->conn_close = 1;
    else if (ieq(e, n, "keep-alive"))
        p->conn_keep = 1;
    return 0;
}

/* Proxy-Connection is not standard, but old proxies still send it. Closing is always safe, so its
 * "close" is honoured (as llhttp does); its "keep-alive" is not, since only the real Connection
 * header can promise the server keeps the connection open. */
static int proxy_connection_option(spo_http_parser *p, const char *e, size_t n)
{
    if (ieq(e, n, "close"))
        p->conn_close = 1;
    return 0;
}

static int field_done(spo_http_parser *p)
{
    const char *name = p->line, *value = p->line + p->name_len;
    size_t nlen = p->name_len, vlen = p->value_end;
    int rc = 0;

    if (p->interim)
        return 0;
    if (!p->trailer) {
        if (ieq(name, nlen, "content-length"))
            rc = content_length(p, value, vlen);
        else if (ieq(name, nlen, "transfer-encoding"))
            rc = transfer_encoding(p, value, vlen);
        else if (ieq(name, nlen, "connection"))
            rc = each_element(value, vlen, p, connection_option);
        else if (ieq(name, nlen, "proxy-connection"))
            rc = each_element(value, vlen, p, proxy_connection_option);
        if (rc)
            return rc;
    }
    if (p->cb.on_header)
        rc = p->cb.on_header(p->cb.ctx, (spo_span){ name, nlen }, (spo_span){ value, vlen });
    return rc;
}

/* ------------------------------------------------------------------ message boundaries */

static void finish(spo_http_parser *p)
{
    p->done = 1;
    p->state = S_DONE;
}

static int status_done(spo_http_parser *p)
{
    if (p->status == 101)
        return SPO_E_HTTP_PARSE; /* spo never asks to upgrade, so a switch is a protocol error */
    if (p->status < 200) {
        p->interim = 1;
        return count_line(p);
    }
    if (p->cb.on_status)
        return p->cb.on_status(p->cb.ctx, p->status, (spo_span){ p->line, p->value_len });
    return 0;
}

/* An interim response is over: what follows is another status line. Line counts carry over. */
static void interim_done(spo_http_parser *p)
{
    p->interim = 0;
    p->status = 0;
    p->http10 = 0;
    p->state = S_START;
}

static int headers_done(spo_http_parser *p)
{
    if (p->seen_cl && p->seen_te)
        return SPO_E_HTTP_FRAMING;
    if ((p->flags & SPO_HTTP_REQ_HEAD) || p->status == 204 || p->status == 304)
        p->framing = SPO_HTTP_FRAMING_NONE;
    else if (p->seen_te)
        p->framing = p->te_chunked_last ? SPO_HTTP_FRAMING_CHUNKED : SPO_HTTP_FRAMING_CLOSE;
    else if (p->seen_cl)
        p->framing = SPO_HTTP_FRAMING_LENGTH;
    else
        p->framing = SPO_HTTP_FRAMING_CLOSE;

    p->keep_alive = p->http10 ? (p->conn_keep && !p->conn_close) : !p->conn_close;
    /* RFC 9112 section 6.1: Transfer-Encoding in HTTP/1.0 means the framing cannot be trusted. */
    if (p->framing == SPO_HTTP_FRAMING_CLOSE || (p->http10 && p->seen_te))
        p->keep_alive = 0;

    if (p->cb.on_headers_done) {
        int rc = p->cb.on_headers_done(p->cb.ctx);
        if (rc)
            return rc;
    }
    p->line_len = 0;
    p->remaining = 0;
    p->sub = 0;
    switch (p->framing) {
    case SPO_HTTP_FRAMING_NONE:
        finish(p);
        break;
    case SPO_HTTP_FRAMING_LENGTH:
        p->remaining = p->content_length;
        if (p->remaining == 0)
            finish(p);
        else
            p->state = S_BODY_LENGTH;
        break;
    case SPO_HTTP_FRAMING_CHUNKED:
        p->state = S_CHUNK_SIZE;
        break;
    default:
        p->state = S_BODY_CLOSE;
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ one byte */

static int status_byte(spo_http_parser *p, uint8_t c)
{
    static const char proto[] = "HTTP/1.";
    int rc = count(p);
    if (rc)
        return rc;
    switch (p->state) {
    case S_PROTO:
        if (c != (uint8_t)proto[p->sub])
            return SPO_E_HTTP_PARSE;
        if (++p->sub == sizeof proto - 1)
            p->state = S_MINOR;
        return 0;
    case S_MINOR:
        if (c != '0' && c != '1')
            return SPO_E_HTTP_PARSE; /* 1.2+ does not exist; 0.9 had no status line */
        p->http10 = c == '0';
        p->state = S_VERSION_SP;
        return 0;
    case S_VERSION_SP:
        if (c != ' ')
            return SPO_E_HTTP_PARSE;
        p->state = S_CODE;
        p->sub = 0;
        p->status = 0;
        return 0;
    case S_CODE:
        if (!is_digit(c) || (p->sub == 0 && c == '0'))
            return SPO_E_HTTP_PARSE;
        p->status = p->status * 10 + (c - '0');
        if (++p->sub == 3)
            p->state = S_CODE_END;
        return 0;
    case S_CODE_END:
        if (c != ' ')
            return SPO_E_HTTP_PARSE;
        p->value_len = 0;
        p->state = S_REASON;
        return 0;
    default: /* S_REASON */
        if (!is_ws(c) && !is_visible(c))
            return SPO_E_HTTP_PARSE;
        p->line[p->value_len++] = (char)c; /* value_len < line_len <= SPO_HTTP_LINE_MAX */
        return 0;
    }
}

static int field_byte(spo_http_parser *p, uint8_t c)
{
    int rc;
    switch (p->state) {
    case S_FIELD_START:
        if (c == '\r') {
            p->state = S_FIELDS_LF;
            return 0;
        }
        /* Whitespace here is obs-fold or a space before the first field: both refused. */
        if (!is_tchar(c))
            return SPO_E_HTTP_PARSE;
        if ((rc = count_line(p)) != 0 || (rc = count(p)) != 0)
            return rc;
        p->line[0] = (char)c;
        p->name_len = 1;
        p->state = S_FIELD_NAME;
        return 0;
    case S_FIELD_NAME:
        if ((rc = count(p)) != 0)
            return rc;
        if (c == ':') {
            p->value_len = p->value_end = 0;
            p->state = S_FIELD_OWS;
        } else if (is_tchar(c)) {
            p->line[p->name_len++] = (char)c;
        } else {
            return SPO_E_HTTP_PARSE; /* includes whitespace before the colon */
        }
        return 0;
    case S_FIELD_OWS:
    case S_FIELD_VALUE:
        if (c == '\r') {
            p->state = S_FIELD_LF;
            return 0;
        }
        if (!is_ws(c) && !is_visible(c))
            return SPO_E_HTTP_PARSE;
        if ((rc = count(p)) != 0)
            return rc;
        if (p->state == S_FIELD_OWS && is_ws(c))
            return 0;
        p->state = S_FIELD_VALUE;
        /* name_len + value_len < line_len: the colon was counted but not stored */
        p->line[p->name_len + p->value_len++] = (char)c;
        if (!is_ws(c))
            p->value_end = p->value_len;
        return 0;
    case S_FIELD_LF:
        if (c != '\n')
            return SPO_E_HTTP_PARSE;
        p->line_len = 0;
        p->state = S_FIELD_START;
        return field_done(p);
    default: /* S_FIELDS_LF */
        if (c != '\n')
            return SPO_E_HTTP_PARSE;
        p->line_len = 0;
        if (p->trailer) {
            finish(p);
            return 0;
        }
        if (p->interim) {
            interim_done(p);
            return 0;
        }
        return headers_done(p);
    }
}

/* The chunk-size line: size, then extensions, each name [= token or quoted-string], with BWS
 * around ';' and '=' as RFC 9112 section 7.1.1 allows. Extensions are checked and dropped. */
static int chunk_line_byte(spo_http_parser *p, uint8_t c)
{
    int rc;
    if (p->state == S_CHUNK_SIZE_LF) {
        if (c != '\n')
            return SPO_E_HTTP_PARSE;
        p->line_len = 0;
        if (p->remaining == 0) {
            p->trailer = 1;
            p->state = S_FIELD_START;
        } else {
            p->state = S_CHUNK_DATA;
        }
        return 0;
    }
    if (c == '\r') {
        /* Anywhere else the line is unfinished: trailing BWS, "2;", "a=", an open quote. */
        if ((p->state == S_CHUNK_SIZE && p->sub) || p->state == S_EXT_NAME ||
            p->state == S_EXT_TOKEN || p->state == S_EXT_QUOTE_END) {
            p->state = S_CHUNK_SIZE_LF;
            return 0;
        }
        return SPO_E_HTTP_PARSE;
    }
    if ((rc = count(p)) != 0)
        return rc;
    switch (p->state) {
    case S_CHUNK_SIZE: {
        int h = spo_url_hexval(c);
        if (h >= 0) {
            if (p->remaining > (UINT64_MAX >> 4))
                return SPO_E_HTTP_FRAMING;
            p->remaining = (p->remaining << 4) | (uint64_t)h;
            p->sub = 1;
            return 0;
        }
        if (!p->sub)
            return SPO_E_HTTP_PARSE;
        if (c == ';')
            p->state = S_EXT_NAME_START;
        else if (is_ws(c))
            p->state = S_CHUNK_SIZE_WS;
        else
            return SPO_E_HTTP_PARSE;
        return 0;
    }
    case S_CHUNK_SIZE_WS:
    case S_EXT_VALUE_WS:
        if (c == ';')
            p->state = S_EXT_NAME_START;
        else if (!is_ws(c))
            return SPO_E_HTTP_PARSE;
        return 0;
    case S_EXT_NAME_START:
        if (is_tchar(c))
            p->state = S_EXT_NAME;
        else if (!is_ws(c))
            return SPO_E_HTTP_PARSE;
        return 0;
    case S_EXT_NAME:
    case S_EXT_NAME_WS:
        if (c == '=')
            p->state = S_EXT_VALUE_START;
        else if (c == ';')
            p->state = S_EXT_NAME_START;
        else if (is_ws(c))
            p->state = S_EXT_NAME_WS;
        else if (!(p->state == S_EXT_NAME && is_tchar(c)))
            return SPO_E_HTTP_PARSE;
        return 0;
    case S_EXT_VALUE_START:
        if (c == '"')
            p->state = S_EXT_QUOTED;
        else if (is_tchar(c))
            p->state = S_EXT_TOKEN;
        else if (!is_ws(c))
            return SPO_E_HTTP_PARSE;
        return 0;
    case S_EXT_TOKEN:
    case S_EXT_QUOTE_END:
        if (c == ';')
            p->state = S_EXT_NAME_START;
        else if (is_ws(c))
            p->state = S_EXT_VALUE_WS;
        else if (!(p->state == S_EXT_TOKEN && is_tchar(c)))
            return SPO_E_HTTP_PARSE;
        return 0;
    case S_EXT_QUOTED:
        if (c == '"')
            p->state = S_EXT_QUOTE_END;
        else if (c == '\\')
            p->state = S_EXT_ESCAPE;
        else if (!is_ws(c) && !is_visible(c))
            return SPO_E_HTTP_PARSE;
        return 0;
    default: /* S_EXT_ESCAPE */
        if (!is_ws(c) && !is_visible(c))
            return SPO_E_HTTP_PARSE;
        p->state = S_EXT_QUOTED;
        return 0;
    }
}

static int step(spo_http_parser *p, uint8_t c)
{
    switch (p->state) {
    case S_START:
        if (c == '\r') {
            p->state = S_START_LF;
            return 0;
        }
        if (c != 'H')
            return SPO_E_HTTP_PARSE;
        p->line_len = 0;
        p->sub = 1;
        p->state = S_PROTO;
        return count(p);
    case S_START_LF:
        if (c != '\n')
            return SPO_E_HTTP_PARSE;
        p->state = S_START;
        return count_line(p);
    case S_PROTO:
    case S_MINOR:
    case S_VERSION_SP:
    case S_CODE:
        return status_byte(p, c);
    case S_CODE_END:
    case S_REASON:
        if (c == '\r') {
            if (p->state == S_CODE_END)
                p->value_len = 0; /* "HTTP/1.1 200" CRLF: no reason, and no SP either */
            p->state = S_STATUS_LF;
            return 0;
        }
        return status_byte(p, c);
    case S_STATUS_LF:
        if (c != '\n')
            return SPO_E_HTTP_PARSE;
        p->line_len = 0;
        p->state = S_FIELD_START;
        return status_done(p);
    case S_FIELD_START:
    case S_FIELD_NAME:
    case S_FIELD_OWS:
    case S_FIELD_VALUE:
    case S_FIELD_LF:
    case S_FIELDS_LF:
        return field_byte(p, c);
    case S_CHUNK_CR:
        if (c != '\r')
            return SPO_E_HTTP_PARSE;
        p->state = S_CHUNK_LF;
        return 0;
    case S_CHUNK_LF:
        if (c != '\n')
            return SPO_E_HTTP_PARSE;
        p->state = S_CHUNK_SIZE;
        p->sub = 0;
        p->remaining = 0;
        return 0;
    default:
        return chunk_line_byte(p, c);
    }
}

/* ------------------------------------------------------------------ public */

void spo_http_parser_init(spo_http_parser *p, const spo_http_callbacks *cb, unsigned flags)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    if (cb)
        p->cb = *cb;
    p->flags = flags;
    p->state = S_START;
}

static long fail(spo_http_parser *p, int rc)
{
    p->err = rc;
    p->state = S_FAILED;
    return rc;
}

long spo_http_parser_feed(spo_http_parser *p, const uint8_t *data, size_t len)
{
    size_t i = 0;
    if (!p || (!data && len) || len > (size_t)LONG_MAX)
        return SPO_E_ARG;
    if (p->state == S_FAILED)
        return p->err;

    while (i < len && p->state != S_DONE) {
        int rc;
        if (p->state == S_BODY_CLOSE || p->state == S_BODY_LENGTH || p->state == S_CHUNK_DATA) {
            size_t n = len - i;
            if (p->state != S_BODY_CLOSE && n > p->remaining)
                n = (size_t)p->remaining;
            rc = p->cb.on_body ? p->cb.on_body(p->cb.ctx, data + i, n) : 0;
            i += n;
            if (p->state != S_BODY_CLOSE) {
                p->remaining -= n;
                if (p->remaining == 0) {
                    if (p->state == S_BODY_LENGTH)
                        finish(p);
                    else
                        p->state = S_CHUNK_CR;
                }
            }
        } else {
            rc = step(p, data[i++]);
        }
        if (rc)
            return fail(p, rc);
    }
    return (long)i;
}

int spo_http_parser_eof(spo_http_parser *p)
{
    if (!p)
        return SPO_E_ARG;
    if (p->state == S_FAILED)
        return p->err;
    if (p->state == S_BODY_CLOSE)
        finish(p);
    if (p->state == S_DONE)
        return SPO_OK;
    return (int)fail(p, SPO_E_HTTP_TRUNCATED);
}
