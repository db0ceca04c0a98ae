/* spo's response parser against llhttp's own response tests (../shared/conformance/llhttp-response,
 * or $SPO_CONFORMANCE_DIR/llhttp-response), read at run time.
 *
 * For each section the ```log block is turned into llhttp's verdict: the final (non-1xx) messages
 * it reported, each with status, framing, keep-alive, body bytes and whether it completed, and
 * whether it ended in an error. spo parses the same bytes, whole and byte by byte, the way
 * spo_http_conn would: after a complete message the rest is parsed as the next response only when
 * the message allows keep-alive (llhttp's tests pipeline responses); otherwise it is dropped. spo
 * skips 1xx responses by design, so llhttp's 1xx messages are left out of its verdict. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spo/http.h"

/* Where spo and llhttp's strict mode part ways, on purpose. */
static const struct known {
    const char *section;
    const char *reason;
} k_strict_differences[] = {
    { "RTSP response",
      "llhttp also parses RTSP/1.x status lines; spo is an HTTP client and takes only HTTP/1.x" },
    { "ICE response", "as for RTSP: ICE/1.x is not HTTP, spo refuses it" },
    { "HTTP version 0.9",
      "HTTP/0.9 had no status line, so \"HTTP/0.9 200 OK\" is bogus; spo takes 1.0 and 1.1 only" },
    { "HTTP/1.1 with keep-alive disabled and 204 status",
      "bytes after a complete Connection: close answer: llhttp's strict mode reports an error, spo "
      "keeps the valid answer and drops the connection with the excess (what llhttp's lenient "
      "data-after-close mode does); there is nothing unsafe in an answer that is already whole" },
    { "HTTP/1.1 with keep-alive disabled, content-length",
      "as above: the excess after a Connection: close answer is dropped, not an error" },
};

/* Lenient sections: spo is strict, so the strict outcome (an error) is expected, except here. */
static const struct known k_lenient_exceptions[] = {
    { "HTTP/1.1 with keep-alive disabled, content-length (lenient)",
      "spo drops data after a Connection: close answer, which is what this lenient mode does" },
    { "HTTP/1.1 with keep-alive disabled and 204 status (lenient)",
      "spo drops data after a Connection: close answer instead of failing (see the strict twin); "
      "it does not parse it as llhttp's lenient keep-alive mode does" },
};

#define MAX_MSGS 8

typedef struct msg {
    int status, framing, keep_alive, complete;
    uint8_t *body;
    size_t body_len;
} msg;

typedef struct verdict {
    int error;
    size_t nmsgs;
    msg m[MAX_MSGS];
} verdict;

typedef struct section {
    const char *file;
    char name[256];
    char type[64];
    int skip_body;
    uint8_t *in; /* decoded http block */
    size_t len;
} section;

/* ------------------------------------------------------------------ reading the markdown */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The README's recipe: drop the final newline, join lines ending in a backslash, make every line
 * break CRLF, then replace \r \n \t \f \xHH \NNN. */
static uint8_t *decode_http(const char *raw, size_t n, size_t *out_len)
{
    if (n && raw[n - 1] == '\n')
        n--;
    char *tmp = malloc(2 * n + 1);
    uint8_t *out = malloc(2 * n + 1);
    assert_non_null(tmp);
    assert_non_null(out);
    size_t t = 0, o = 0;
    for (size_t i = 0; i < n;) {
        if (raw[i] == '\\' && i + 1 < n && raw[i + 1] == '\n') {
            i += 2;
        } else if (raw[i] == '\n') {
            tmp[t++] = '\r';
            tmp[t++] = '\n';
            i++;
        } else {
            tmp[t++] = raw[i++];
        }
    }
    for (size_t i = 0; i < t;) {
        char c = i + 1 < t && tmp[i] == '\\' ? tmp[i + 1] : 0;
        if (c == 'r' || c == 'n' || c == 't' || c == 'f') {
            out[o++] = c == 'r' ? '\r' : c == 'n' ? '\n' : c == 't' ? '\t' : '\f';
            i += 2;
        } else if (c == 'x' && i + 3 < t && hexval(tmp[i + 2]) >= 0 && hexval(tmp[i + 3]) >= 0) {
            out[o++] = (uint8_t)(hexval(tmp[i + 2]) * 16 + hexval(tmp[i + 3]));
            i += 4;
        } else if (c >= '0' && c <= '7' && i + 3 < t && tmp[i + 2] >= '0' && tmp[i + 2] <= '7' &&
                   tmp[i + 3] >= '0' && tmp[i + 3] <= '7') {
            out[o++] = (uint8_t)((c - '0') * 64 + (tmp[i + 2] - '0') * 8 + (tmp[i + 3] - '0'));
            i += 4;
        } else {
            out[o++] = (uint8_t)tmp[i++];
        }
    }
    free(tmp);
    *out_len = o;
    return out;
}

/* ------------------------------------------------------------------ llhttp's verdict */

enum { F_KEEP_ALIVE = 0x1, F_CLOSE = 0x2, F_CHUNKED = 0x8, F_CONTENT_LENGTH = 0x20,
       F_TRANSFER_ENCODING = 0x200 };

/* llhttp_message_needs_eof() and llhttp_should_keep_alive() for a response, from the logged
 * flags. */
static void llhttp_framing(const section *s, int status, int major, int minor, unsigned flags,
                           msg *m)
{
    int needs_eof;
    if (s->skip_body || status / 100 == 1 || status == 204 || status == 304) {
        m->framing = SPO_HTTP_FRAMING_NONE;
        needs_eof = 0;
    } else if (flags & F_CHUNKED) {
        m->framing = SPO_HTTP_FRAMING_CHUNKED;
        needs_eof = 0;
    } else if (flags & F_TRANSFER_ENCODING) {
        m->framing = SPO_HTTP_FRAMING_CLOSE;
        needs_eof = 1;
    } else if (flags & F_CONTENT_LENGTH) {
        m->framing = SPO_HTTP_FRAMING_LENGTH;
        needs_eof = 0;
    } else {
        m->framing = SPO_HTTP_FRAMING_CLOSE;
        needs_eof = 1;
    }
    if (major > 0 && minor > 0)
        m->keep_alive = !(flags & F_CLOSE) && !needs_eof;
    else
        m->keep_alive = (flags & F_KEEP_ALIVE) && !needs_eof;
}

static void append(msg *m, const uint8_t *p, size_t n)
{
    m->body = realloc(m->body, m->body_len + n + 1);
    assert_non_null(m->body);
    memcpy(m->body + m->body_len, p, n);
    m->body_len += n;
}

static void llhttp_verdict(const section *s, const char *log, verdict *v)
{
    memset(v, 0, sizeof *v);
    msg *cur = NULL;
    msg ignored; /* a 1xx message: parsed, not reported */
    for (const char *line = log; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        if (!strncmp(line, "off=", 4)) {
            const char *r = strchr(line, ' ');
            unsigned long off = strtoul(line + 4, NULL, 10);
            if (r && r < end) {
                r++;
                int status, major, minor;
                unsigned flags;
                if (sscanf(r, "headers complete status=%d v=%d/%d flags=%x", &status, &major,
                           &minor, &flags) == 4) {
                    if (status / 100 == 1) {
                        cur = &ignored;
                        memset(cur, 0, sizeof *cur);
                    } else {
                        assert_true(v->nmsgs < MAX_MSGS);
                        cur = &v->m[v->nmsgs++];
                        cur->status = status;
                    }
                    llhttp_framing(s, status, major, minor, flags, cur);
                } else if (!strncmp(r, "len=", 4)) {
                    char *after;
                    unsigned long len = strtoul(r + 4, &after, 10);
                    if (!strncmp(after, " span[body]=", 12)) {
                        assert_non_null(cur);
                        assert_true(off + len <= s->len);
                        append(cur, s->in + off, len);
                    }
                } else if (!strncmp(r, "message complete", 16)) {
                    if (cur)
                        cur->complete = 1;
                } else if (!strncmp(r, "error code=", 11)) {
                    v->error = 1;
                }
            }
        }
        line = *end ? end + 1 : end;
    }
    if (cur == &ignored)
        free(ignored.body);
}

/* ------------------------------------------------------------------ spo's verdict */

typedef struct run_ctx {
    verdict *v;
    spo_http_parser *p;
} run_ctx;

static int r_headers_done(void *ctx)
{
    run_ctx *r = ctx;
    assert_true(r->v->nmsgs < MAX_MSGS);
    msg *m = &r->v->m[r->v->nmsgs++];
    m->status = r->p->status;
    m->framing = r->p->framing;
    m->keep_alive = r->p->keep_alive;
    return 0;
}

static int r_body(void *ctx, const uint8_t *data, size_t len)
{
    run_ctx *r = ctx;
    assert_true(r->v->nmsgs > 0);
    append(&r->v->m[r->v->nmsgs - 1], data, len);
    return 0;
}

static void spo_verdict(const section *s, size_t piece, verdict *v)
{
    memset(v, 0, sizeof *v);
    spo_http_parser *p = malloc(sizeof *p);
    assert_non_null(p);
    run_ctx rc = { v, p };
    spo_http_callbacks cb = { &rc, NULL, NULL, r_headers_done, r_body };
    size_t pos = 0;
    for (;;) {
        spo_http_parser_init(p, &cb, s->skip_body ? SPO_HTTP_REQ_HEAD : 0);
        while (pos < s->len && !p->done) {
            size_t n = s->len - pos < piece ? s->len - pos : piece;
            long used = spo_http_parser_feed(p, s->in + pos, n);
            if (used < 0) {
                v->error = 1;
                free(p);
                return;
            }
            pos += (size_t)used;
        }
        if (!p->done)
            break;
        v->m[v->nmsgs - 1].complete = 1;
        if (pos == s->len || !p->keep_alive)
            break; /* spo_http_conn drops what follows an answer that closes the connection */
    }
    free(p);
}

static void free_verdict(verdict *v)
{
    for (size_t i = 0; i < v->nmsgs; i++)
        free(v->m[i].body);
}

/* An empty string when a and b agree, else what differs. */
static void compare(const verdict *a, const verdict *b, char *why, size_t cap)
{
    why[0] = '\0';
    if (a->error != b->error) {
        snprintf(why, cap, "llhttp %s, spo %s", a->error ? "fails" : "accepts",
                 b->error ? "fails" : "accepts");
        return;
    }
    if (a->nmsgs != b->nmsgs) {
        snprintf(why, cap, "%zu vs %zu messages", a->nmsgs, b->nmsgs);
        return;
    }
    for (size_t i = 0; i < a->nmsgs; i++) {
        const msg *x = &a->m[i], *y = &b->m[i];
        if (x->status != y->status || x->framing != y->framing || x->keep_alive != y->keep_alive ||
            x->complete != y->complete || x->body_len != y->body_len ||
            (x->body_len && memcmp(x->body, y->body, x->body_len))) {
            snprintf(why, cap,
                     "message %zu: status %d/%d framing %d/%d keep-alive %d/%d complete %d/%d "
                     "body %zu/%zu bytes",
                     i, x->status, y->status, x->framing, y->framing, x->keep_alive, y->keep_alive,
                     x->complete, y->complete, x->body_len, y->body_len);
            return;
        }
    }
}

/* ------------------------------------------------------------------ walking the corpus */

typedef struct tally {
    int strict, strict_agree, strict_known, lenient, lenient_strict, lenient_known, failures;
    unsigned known_seen, lenient_seen; /* bit i: table entry i matched a section */
} tally;

static int find_known(const struct known *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].section, name))
            return (int)i;
    return -1;
}

#define NKNOWN (sizeof k_strict_differences / sizeof k_strict_differences[0])
#define NLENIENT (sizeof k_lenient_exceptions / sizeof k_lenient_exceptions[0])

static void check_section(const section *s, const char *log, tally *t)
{
    int strict = !strcmp(s->type, "response");
    int lenient = !strncmp(s->type, "response-lenient-", 17);
    if (!strict && !lenient)
        return; /* response-finish: about llhttp_finish()'s return codes */

    verdict whole, bytes, theirs;
    spo_verdict(s, s->len ? s->len : 1, &whole);
    spo_verdict(s, 1, &bytes);
    char why[256];
    compare(&whole, &bytes, why, sizeof why);
    if (why[0]) {
        printf("FAIL %s: \"%s\": whole and byte-by-byte differ: %s\n", s->file, s->name, why);
        t->failures++;
    }

    if (strict) {
        t->strict++;
        llhttp_verdict(s, log, &theirs);
        compare(&theirs, &whole, why, sizeof why);
        if (getenv("SPO_CONFORMANCE_VERBOSE")) {
            printf("%-58.58s %s", s->name, theirs.error ? "error" : "ok   ");
            for (size_t i = 0; i < theirs.nmsgs; i++)
                printf(" [%d f%d k%d c%d %zuB]", theirs.m[i].status, theirs.m[i].framing,
                       theirs.m[i].keep_alive, theirs.m[i].complete, theirs.m[i].body_len);
            printf("\n");
        }
        int k = find_known(k_strict_differences, NKNOWN, s->name);
        if (!why[0] && k < 0) {
            t->strict_agree++;
        } else if (why[0] && k >= 0) {
            t->strict_known++;
            t->known_seen |= 1u << k;
            printf("llhttp: listed difference \"%s\": %s\n", s->name, why);
        } else if (why[0]) {
            printf("FAIL %s: \"%s\": %s\n", s->file, s->name, why);
            t->failures++;
        } else {
            printf("FAIL %s: \"%s\" is listed as a difference but now agrees\n", s->file, s->name);
            t->known_seen |= 1u << k;
            t->failures++;
        }
        free_verdict(&theirs);
    } else {
        t->lenient++;
        int k = find_known(k_lenient_exceptions, NLENIENT, s->name);
        if (whole.error && k < 0) {
            t->lenient_strict++;
        } else if (!whole.error && k >= 0) {
            t->lenient_known++;
            t->lenient_seen |= 1u << k;
        } else {
            printf("FAIL %s: \"%s\" (%s): spo %s\n", s->file, s->name, s->type,
                   whole.error ? "fails, but is listed as accepting" : "accepts");
            t->failures++;
        }
    }
    free_verdict(&whole);
    free_verdict(&bytes);
}

/* Sections start at any heading; each has a meta comment, an http block and a log block. */
static void check_file(const char *dir, const char *name, tally *t)
{
    char path[2048];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        fail_msg("path too long: %s/%s", dir, name);
    size_t n = 0;
    char *text = read_file(path, &n);
    if (!text)
        fail_msg("cannot read %s", path);

    section s;
    memset(&s, 0, sizeof s);
    s.file = name;
    char *http = NULL, *log = NULL;
    size_t http_len = 0, log_len = 0;
    char **block = NULL;
    size_t *block_len = NULL;

    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *next = end ? end + 1 : line + len;
        if (block) {
            if (len == 3 && !strncmp(line, "```", 3)) {
                if (block == &log && s.in && s.type[0]) {
                    (*block)[*block_len] = '\0';
                    check_section(&s, log, t);
                }
                block = NULL;
            } else {
                memcpy(*block + *block_len, line, len);
                *block_len += len;
                (*block)[(*block_len)++] = '\n';
            }
        } else if (line[0] == '#') {
            size_t h = 0;
            while (h < len && line[h] == '#')
                h++;
            while (h < len && line[h] == ' ')
                h++;
            snprintf(s.name, sizeof s.name, "%.*s", (int)(len - h), line + h);
            s.type[0] = '\0';
            s.skip_body = 0;
            free(s.in);
            s.in = NULL;
        } else if (!strncmp(line, "<!-- meta=", 10)) {
            const char *ty = strstr(line, "\"type\": \"");
            if (ty && ty < line + len) {
                ty += 9;
                const char *q = strchr(ty, '"');
                snprintf(s.type, sizeof s.type, "%.*s", (int)(q - ty), ty);
            }
            const char *sb = strstr(line, "\"skipBody\": true");
            s.skip_body = sb && sb < line + len;
        } else if (len >= 7 && !strncmp(line, "```http", 7)) {
            free(http);
            http = malloc(n + 1);
            assert_non_null(http);
            http_len = 0;
            block = &http;
            block_len = &http_len;
        } else if (len >= 6 && !strncmp(line, "```log", 6)) {
            if (http) {
                free(s.in);
                s.in = decode_http(http, http_len, &s.len);
                free(http);
                http = NULL;
            }
            free(log);
            log = malloc(n + 1);
            assert_non_null(log);
            log_len = 0;
            block = &log;
            block_len = &log_len;
        }
        line = next;
    }
    free(s.in);
    free(http);
    free(log);
    free(text);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void llhttp_response_corpus(void **state)
{
    (void)state;
    const char *root = getenv("SPO_CONFORMANCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/llhttp-response", root && *root ? root : "../shared/conformance");
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s (run from the project root or set SPO_CONFORMANCE_DIR)", dir);
    char *names[64];
    size_t nnames = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 3 && !strcmp(e->d_name + l - 3, ".md")) {
            assert_true(nnames < 64);
            names[nnames] = malloc(l + 1);
            assert_non_null(names[nnames]);
            memcpy(names[nnames++], e->d_name, l + 1);
        }
    }
    closedir(d);
    qsort(names, nnames, sizeof names[0], by_name);

    tally t;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < nnames; i++) {
        check_file(dir, names[i], &t);
        free(names[i]);
    }
    for (size_t k = 0; k < NKNOWN; k++)
        if (!(t.known_seen & (1u << k))) {
            printf("FAIL listed difference \"%s\" matches no section\n",
                   k_strict_differences[k].section);
            t.failures++;
        }
    for (size_t k = 0; k < NLENIENT; k++)
        if (!(t.lenient_seen & (1u << k))) {
            printf("FAIL lenient exception \"%s\" matches no section\n",
                   k_lenient_exceptions[k].section);
            t.failures++;
        }
    printf("llhttp: %d/%d strict response sections agree (whole and byte by byte), %d listed "
           "differences, %d unexplained\n",
           t.strict_agree, t.strict, t.strict_known, t.strict - t.strict_agree - t.strict_known);
    printf("llhttp: %d/%d lenient sections get the strict outcome (refused), %d listed "
           "exceptions\n",
           t.lenient_strict, t.lenient, t.lenient_known);
    assert_true(t.strict >= 60); /* the corpus was found and read */
    assert_int_equal(t.failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(llhttp_response_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
