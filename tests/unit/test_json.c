/* Tests for the JSON layer: every document is fed whole, in every split into two pieces, and byte by
 * byte (larger ones in fixed-size pieces), and every way must give the same outcome: status, error
 * offset, captures, and the exact sequence of collection elements. Realistic payloads come from the
 * Microsoft fixtures ($SPO_FIXTURES, default ../shared/fixtures/ms). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spo/json.h"

/* ---------------------------------------------------------------- harness */

typedef struct cap_spec {
    const char *path[SPO_JSON_PATH_MAX + 1];
    size_t cap;
    uint8_t may_truncate;
} cap_spec;

typedef struct spec {
    const cap_spec *caps;
    size_t ncaps;
    const char *const *coll;   /* NULL: no collection */
    const char *const *keys;   /* members logged from each element (NULL-terminated), or NULL */
    long stop_at;              /* the callback returns 7 at this index; -1 never */
} spec;

typedef struct outcome {
    int rc;
    uint64_t offset;
    spo_json_capture caps[SPO_JSON_MAX_CAPTURES];
    char *log;                 /* one line per element */
    size_t log_len, log_cap;
    uint64_t nelem;
} outcome;

typedef struct cb_ctx {
    const spec *sp;
    outcome *out;
} cb_ctx;

static void log_add(outcome *o, const char *s, size_t n)
{
    if (o->log_len + n + 1 > o->log_cap) {
        size_t nc = (o->log_cap ? o->log_cap * 2 : 4096);

        while (nc < o->log_len + n + 1)
            nc *= 2;
        o->log = realloc(o->log, nc);
        assert_non_null(o->log);
        o->log_cap = nc;
    }
    memcpy(o->log + o->log_len, s, n);
    o->log_len += n;
    o->log[o->log_len] = '\0';
}

static void log_str(outcome *o, const char *s)
{
    log_add(o, s, strlen(s));
}

static int log_elem(void *ctx, const spo_json_elem *e)
{
    cb_ctx *c = ctx;
    char line[128];
    size_t i;

    assert_int_equal(e->index, c->out->nelem);
    assert_true(e->ntok >= 1);
    assert_true(e->len <= SPO_JSON_WINDOW);
    /* jsmn's string tokens leave the quotes out */
    assert_int_equal(e->tok[0].start, e->js[0] == '"');
    assert_int_equal(e->tok[0].end, (int)e->len - (e->js[0] == '"'));
    c->out->nelem++;
    snprintf(line, sizeof line, "#%llu len=%zu ntok=%d raw=", (unsigned long long)e->index, e->len,
             e->ntok);
    log_str(c->out, line);
    log_add(c->out, e->js, e->len);
    for (i = 0; c->sp->keys != NULL && c->sp->keys[i] != NULL; i++) {
        char v[1024];
        size_t vlen = 99;
        int rc = spo_json_elem_string(e, c->sp->keys[i], v, sizeof v, &vlen);

        log_str(c->out, "|");
        log_str(c->out, c->sp->keys[i]);
        if (rc == SPO_OK) {
            assert_int_equal(vlen, strlen(v) /* fixtures hold no \u0000 */);
            log_str(c->out, "=");
            log_add(c->out, v, vlen);
        } else {
            snprintf(line, sizeof line, "!%d", rc);
            log_str(c->out, line);
            assert_int_equal(vlen, 0);
            assert_string_equal(v, "");
        }
    }
    log_str(c->out, "\n");
    if (c->sp->stop_at >= 0 && (long)e->index == c->sp->stop_at)
        return 7;
    return 0;
}

static void outcome_free(outcome *o)
{
    size_t i;

    for (i = 0; i < SPO_JSON_MAX_CAPTURES; i++)
        free(o->caps[i].buf);
    free(o->log);
    memset(o, 0, sizeof *o);
}

/* Feed doc in pieces ending at cuts[0..ncuts-1] (the last piece ends at len), then finish. step>0
 * instead feeds fixed pieces of step bytes. */
static void run(const spec *sp, const uint8_t *doc, size_t len, const size_t *cuts, size_t ncuts,
                size_t step, outcome *o)
{
    static spo_json_reader r; /* static: large windows would not fit small test stacks */
    cb_ctx cc = { sp, o };
    size_t i, pos = 0;
    int rc = SPO_OK;

    memset(o, 0, sizeof *o);
    for (i = 0; i < sp->ncaps; i++) {
        memcpy(o->caps[i].path, sp->caps[i].path, sizeof o->caps[i].path);
        o->caps[i].cap = sp->caps[i].cap;
        o->caps[i].buf = malloc(sp->caps[i].cap ? sp->caps[i].cap : 1);
        assert_non_null(o->caps[i].buf);
        memset(o->caps[i].buf, 0x5A, sp->caps[i].cap);
        o->caps[i].may_truncate = sp->caps[i].may_truncate;
    }
    log_str(o, "");
    spo_json_reader_init(&r, o->caps, sp->ncaps, sp->coll, log_elem, &cc);
    for (i = 0; rc == SPO_OK && pos < len; i++) {
        size_t next;

        if (step > 0)
            next = len - pos > step ? pos + step : len;
        else
            next = i < ncuts ? cuts[i] : len;
        rc = spo_json_reader_feed(&r, doc + pos, next - pos);
        pos = next;
    }
    if (rc == SPO_OK)
        rc = spo_json_reader_finish(&r);
    o->rc = rc;
    o->offset = spo_json_reader_offset(&r);
    if (rc != SPO_OK) {
        /* a failed reader stays failed, whatever it is given */
        assert_int_equal(spo_json_reader_feed(&r, (const uint8_t *)" ", 1), rc);
        assert_int_equal(spo_json_reader_finish(&r), rc);
    }
}

static void assert_same(const outcome *a, const outcome *b, size_t ncaps, const char *how)
{
    size_t i;

    if (a->rc != b->rc || a->offset != b->offset || a->log_len != b->log_len ||
        memcmp(a->log, b->log, a->log_len) != 0)
        fail_msg("%s: rc %d/%d offset %llu/%llu elements %llu/%llu", how, a->rc, b->rc,
                 (unsigned long long)a->offset, (unsigned long long)b->offset,
                 (unsigned long long)a->nelem, (unsigned long long)b->nelem);
    if (a->rc != SPO_OK)
        return; /* after an error a capture may hold whatever had been flushed */
    for (i = 0; i < ncaps; i++) {
        const spo_json_capture *x = &a->caps[i], *y = &b->caps[i];

        if (x->found != y->found || x->type != y->type || x->truncated != y->truncated ||
            x->len != y->len || memcmp(x->buf, y->buf, x->len + 1) != 0)
            fail_msg("%s: capture %zu differs", how, i);
    }
}

/* Feed doc whole (result in *ref), then in every two-piece split (or, for a large doc, a sample of
 * them), byte by byte and in 1 KiB pieces, and insist on identical outcomes. */
static void check_all(const spec *sp, const void *docv, size_t len, outcome *ref)
{
    const uint8_t *doc = docv;
    outcome o;
    size_t k, every = len > 20000 ? len / 97 + 1 : 1;
    char how[64];

    run(sp, doc, len, NULL, 0, 0, ref);
    for (k = 0; k <= len; k += every) {
        run(sp, doc, len, &k, 1, 0, &o);
        snprintf(how, sizeof how, "split at %zu", k);
        assert_same(ref, &o, sp->ncaps, how);
        outcome_free(&o);
    }
    run(sp, doc, len, NULL, 0, 1, &o);
    assert_same(ref, &o, sp->ncaps, "byte by byte");
    outcome_free(&o);
    run(sp, doc, len, NULL, 0, 1024, &o);
    assert_same(ref, &o, sp->ncaps, "1 KiB pieces");
    outcome_free(&o);
    run(sp, doc, len, NULL, 0, 7, &o);
    assert_same(ref, &o, sp->ncaps, "7-byte pieces");
    outcome_free(&o);
}

static void check_str(const spec *sp, const char *doc, outcome *ref)
{
    check_all(sp, doc, strlen(doc), ref);
}

static char *fixture(const char *name, size_t *len)
{
    const char *dir = getenv("SPO_FIXTURES");
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    if (dir == NULL || *dir == '\0')
        dir = "../shared/fixtures/ms";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open fixture %s (set SPO_FIXTURES)", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const char *const coll_value[] = { "value", NULL };
static const char *const site_keys[] = { "id", "displayName", "name", "webUrl", NULL };

static void assert_cap(const spo_json_capture *c, int type, const char *want)
{
    assert_int_equal(c->found, 1);
    assert_int_equal(c->type, type);
    assert_int_equal(c->len, strlen(want));
    assert_memory_equal(c->buf, want, c->len + 1);
}

/* ---------------------------------------------------------------- Graph site lists */

static const cap_spec site_caps[] = {
    { { "@odata.nextLink" }, 512, 0 },
    { { "@odata.context" }, 128, 0 },
    { { "value" }, 8, 0 },
};

static void test_sites_list_page(void **state)
{
    spec sp = { site_caps, 3, coll_value, site_keys, -1 };
    outcome o;
    size_t len;
    char *doc = fixture("sites-list-page.json", &len);

    (void)state;
    check_all(&sp, doc, len, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 3);
    assert_cap(&o.caps[0], SPO_JSON_STRING,
               "https://graph.microsoft.com/v1.0/sites?$skiptoken=UGFnZWQ9VFJVRSZwX0ZpbGVMZWFmUmVmPVNpdGVC");
    assert_cap(&o.caps[1], SPO_JSON_STRING, "https://graph.microsoft.com/v1.0/$metadata#sites");
    assert_cap(&o.caps[2], SPO_JSON_ARRAY, "");
    /* this page's sites have no displayName: the lookup says so rather than inventing one */
    assert_non_null(strstr(o.log, "|id=contoso.sharepoint.com,bf6fb551-d508-4946-a439-b2a6154fc1d9,"
                                  "65a04b8b-1f44-442b-a1fc-9e5852fb946c|displayName!-19|name=Root Site"
                                  "|webUrl=https://contoso.sharepoint.com\n"));
    assert_non_null(strstr(o.log, "|id=contoso.sharepoint.com,d9ecf079-9b13-4376-ac5d-f242dda55626,"
                                  "746dbcc1-fa2b-4120-b657-2670bae5bb6f|displayName!-19|name=Site A"
                                  "|webUrl=https://contoso.sharepoint.com/sites/siteA\n"));
    assert_non_null(strstr(o.log, "|id=contoso.sharepoint.com,fd1a778f-263e-4c43-acdf-d5c2519d80eb,"
                                  "c06016db-dfec-4f79-83a1-09c6dbfd7022|displayName!-19|name=Site B"
                                  "|webUrl=https://contoso.sharepoint.com/sites/siteB\n"));
    /* the nested siteCollection.hostname / root {} are skipped, not mistaken for members */
    assert_non_null(strstr(o.log, "#0 len="));
    assert_non_null(strstr(o.log, "raw={\n      \"id\": \"contoso.sharepoint.com,bf6f"));
    outcome_free(&o);
    free(doc);
}

static void test_sites_list_last_page(void **state)
{
    spec sp = { site_caps, 3, coll_value, site_keys, -1 };
    outcome o;
    size_t len;
    char *doc = fixture("sites-list-last-page.json", &len);

    (void)state;
    check_all(&sp, doc, len, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 1);
    assert_int_equal(o.caps[0].found, 0); /* the last page has no nextLink */
    assert_int_equal(o.caps[0].len, 0);
    assert_string_equal(o.caps[0].buf, "");
    assert_non_null(strstr(o.log, "|id=contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fda80a,"
                                  "2d2244c3-251a-49ea-93a8-39e1c3a060fe|displayName=OneDrive Team Site"
                                  "|name=1drvteam|webUrl=https://contoso.sharepoint.com/teams/1drvteam\n"));
    outcome_free(&o);
    free(doc);
}

static void test_sites_empty(void **state)
{
    spec sp = { site_caps, 3, coll_value, site_keys, -1 };
    outcome o;
    size_t len;
    char *doc = fixture("sites-empty.json", &len);

    (void)state;
    check_all(&sp, doc, len, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 0);
    assert_string_equal(o.log, "");
    assert_int_equal(o.caps[0].found, 0);
    assert_cap(&o.caps[2], SPO_JSON_ARRAY, "");
    outcome_free(&o);
    free(doc);
}

static void test_sites_search(void **state)
{
    static const char *const keys[] = { "name", "description", "webUrl", "createdDateTime", NULL };
    spec sp = { site_caps, 3, coll_value, keys, -1 };
    outcome o;
    size_t len;
    char *doc = fixture("sites-search.json", &len);

    (void)state;
    check_all(&sp, doc, len, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 2);
    assert_non_null(strstr(o.log, "|name=Team A Site|description=|webUrl=https://contoso.sharepoint.com/"
                                  "sites/siteA|createdDateTime=2016-10-18T03:05:59Z\n"));
    assert_non_null(strstr(o.log, "|name=Team B Site|description=|webUrl=https://contoso.sharepoint.com/"
                                  "sites/siteB|createdDateTime=2016-10-18T03:05:59Z\n"));
    outcome_free(&o);
    free(doc);
}

/* ---------------------------------------------------------------- token endpoint */

static const cap_spec token_caps[] = {
    { { "access_token" }, 4096, 0 },
    { { "expires_in" }, 16, 0 },
    { { "token_type" }, 16, 0 },
    { { "error" }, 64, 0 },
    { { "error_description" }, 1024, 0 },
    { { "error_codes" }, 8, 0 },
    { { "trace_id" }, 64, 0 },
};

static void test_token_success(void **state)
{
    spec sp = { token_caps, 7, NULL, NULL, -1 };
    outcome o;
    size_t len;
    char *doc = fixture("token-success-realistic.json", &len);
    const char *tok = strstr(doc, "\"access_token\": \"");
    size_t tlen;

    (void)state;
    assert_non_null(tok);
    tok += strlen("\"access_token\": \"");
    tlen = (size_t)(strchr(tok, '"') - tok);
    assert_int_equal(tlen, 1702);
    check_all(&sp, doc, len, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.caps[0].found, 1);
    assert_int_equal(o.caps[0].type, SPO_JSON_STRING);
    assert_int_equal(o.caps[0].len, tlen);
    assert_memory_equal(o.caps[0].buf, tok, tlen);
    assert_int_equal(o.caps[0].buf[tlen], '\0');
    assert_cap(&o.caps[1], SPO_JSON_NUMBER, "3599");
    assert_cap(&o.caps[2], SPO_JSON_STRING, "Bearer");
    assert_int_equal(o.caps[3].found, 0);
    outcome_free(&o);
    free(doc);
}

/* Some token services send expires_in as a string; the capture reports which it was. */
static void test_token_expires_in_string(void **state)
{
    spec sp = { token_caps, 7, NULL, NULL, -1 };
    outcome o;

    (void)state;
    check_str(&sp, "{\"token_type\":\"Bearer\",\"expires_in\":\"3599\",\"ext_expires_in\":\"3599\","
                   "\"access_token\":\"eyJ0.e30.sig\"}", &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_cap(&o.caps[1], SPO_JSON_STRING, "3599");
    assert_cap(&o.caps[0], SPO_JSON_STRING, "eyJ0.e30.sig");
    outcome_free(&o);
    check_str(&sp, "{\"expires_in\":3.6e3}", &o);
    assert_cap(&o.caps[1], SPO_JSON_NUMBER, "3.6e3");
    outcome_free(&o);
}

static void test_token_errors(void **state)
{
    static const struct {
        const char *file, *error, *desc_head, *trace, *code;
    } t[] = {
        { "token-error-app-not-found.json", "unauthorized_client", "AADSTS700016: Application with identifier '5005c556",
          "9d86f824-52c1-45a8-b24f-c81473122d00", "700016" },
        { "token-error-assertion-expired.json", "invalid_client", "AADSTS700024: Client assertion is not within",
          "7a84b74b-1889-494f-b408-66e8b36c7400", "700024" },
        { "token-error-cert-not-registered.json", "invalid_client", "AADSTS700027: Client assertion contains an invalid signature. [Reason",
          "1f3c5e7a-9b2d-4c6e-8f01-a3b5c7d9e100", "700027" },
        { "token-error-invalid-client.json", "invalid_client", "AADSTS7000215: Invalid client secret provided.",
          "3ce379e4-441f-4eae-9730-fc0220183001", "7000215" },
        { "token-error-invalid-scope.json", "invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope'",
          "255d1aef-8c98-452f-ac51-23d051240864", "70011" },
        { "token-error-public-client-flows-disabled.json", "invalid_client", "AADSTS7000218: The request body must contain",
          "beccd714-f79a-4886-96e7-e1ad0ca33f00", "7000218" },
        { "token-error-scope-not-default.json", "invalid_scope", "AADSTS1002012: The provided value for scope https://graph.microsoft.com/Sites.Read.All",
          "79168b0f-cc19-4f7f-8859-623628460a00", "1002012" },
        { "token-error-secret-expired.json", "invalid_client", "AADSTS7000222: The provided client secret keys for app 'ccc25fb8",
          "de577a4f-a611-44e8-94e6-5ca7955a3800", "7000222" },
        { "token-error-tenant-not-found.json", "invalid_request", "AADSTS90002: Tenant 'a1b2c3d4-e5f6-7890-abcd-ef1234567890' not found.",
          "dcf34502-9b8b-4601-b5ec-3d33437b9d00", "90002" },
    };
    /* error_codes is an array of numbers: read it as a collection of scalar elements */
    static const char *const coll_codes[] = { "error_codes", NULL };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        spec sp = { token_caps, 7, coll_codes, NULL, -1 };
        outcome o;
        size_t len;
        char *doc = fixture(t[i].file, &len);
        char want[256], trace_line[128];

        check_all(&sp, doc, len, &o);
        assert_int_equal(o.rc, SPO_OK);
        assert_cap(&o.caps[3], SPO_JSON_STRING, t[i].error);
        assert_int_equal(o.caps[4].found, 1);
        assert_int_equal(strncmp(o.caps[4].buf, t[i].desc_head, strlen(t[i].desc_head)), 0);
        /* \r\n escapes arrive as the real bytes */
        snprintf(trace_line, sizeof trace_line, "\r\nTrace ID: %s\r\nCorrelation ID: ", t[i].trace);
        assert_non_null(strstr(o.caps[4].buf, trace_line));
        assert_null(strchr(o.caps[4].buf, '\\'));
        assert_cap(&o.caps[5], SPO_JSON_ARRAY, "");
        assert_cap(&o.caps[6], SPO_JSON_STRING, t[i].trace);
        assert_int_equal(o.caps[0].found, 0);
        assert_int_equal(o.nelem, 1);
        snprintf(want, sizeof want, "#0 len=%zu ntok=1 raw=%s\n", strlen(t[i].code), t[i].code);
        assert_string_equal(o.log, want);
        outcome_free(&o);
        free(doc);
    }
}

/* ---------------------------------------------------------------- Graph errors */

static void test_graph_errors(void **state)
{
    static const struct {
        const char *file, *code, *request_id, *inner_code, *message;
    } t[] = {
        { "graph-error-401-expired-token.json", "InvalidAuthenticationToken", "c1f0e2d3-4b5a-4c6d-8e7f-90a1b2c3d4e5", NULL,
          "Access token has expired or is not yet valid." },
        { "graph-error-403-no-roles.json", "AccessDenied", "0e8f7d6c-5b4a-4392-8170-6f5e4d3c2b1a", NULL,
          "Either scp or roles claim need to be present in the token." },
        { "graph-error-403.json", "accessDenied", "4691767c-6b09-4134-902c-9ba04ad89926", NULL, "Access denied" },
        { "graph-error-404-item.json", "itemNotFound", "7b9d1f3a-5c7e-4a9b-8d0f-2a4c6e8b0d1f", NULL,
          "The resource could not be found." },
        { "graph-error-404.json", "itemNotFound", "4e054f93-0eba-4743-be47-ce36b5f91120", NULL,
          "Requested site could not be found" },
        { "graph-error-409-name-exists.json", "nameAlreadyExists", NULL, NULL,
          "Another file exists with the same name as the uploaded session. You can redirect the upload session to use a new filename by calling PUT with the new metadata and @microsoft.graph.sourceUrl attribute." },
        { "graph-error-416-invalid-range.json", "invalidRange", "request-id", NULL,
          "Uploaded fragment overlaps with existing data." },
        { "graph-error-429-sharepoint.json", "activityLimitReached", "01c3bdb8-fbb1-4613-96ad-be961ba99e11", "throttledRequest",
          "The request has been throttled" },
        /* innerError.message comes first in this one: the path picks error.message */
        { "graph-error-429.json", "TooManyRequests", "94fb3b52-452a-4535-a601-69e0a90e3aa2", "429", "Please retry again later." },
        { "graph-error-503.json", "serviceNotAvailable", "2f4e6d8c-0b1a-4c3e-9d5f-7a9b1c3d5e7f", NULL,
          "SYNTHETIC: The service is not available. Try the request again after a delay. There may be a Retry-After header." },
    };
    static const cap_spec caps[] = {
        { { "error", "code" }, 64, 0 },
        { { "error", "innerError", "request-id" }, 64, 0 },
        { { "error", "innerError", "code" }, 64, 0 },
        /* a short buffer that may cut: what spo_diag does with long messages */
        { { "error", "message" }, 24, 1 },
        { { "error" }, 4, 0 },
        /* four keys deep: only the nested SharePoint throttling answer has it */
        { { "error", "innerError", "innerError", "code" }, 16, 0 },
        { { "error", "message" }, 256, 0 }, /* same path again: only the first capture is filled */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        spec sp = { caps, 7, NULL, NULL, -1 };
        outcome o;
        size_t len, ml = strlen(t[i].message);
        char *doc = fixture(t[i].file, &len);

        check_all(&sp, doc, len, &o);
        assert_int_equal(o.rc, SPO_OK);
        assert_cap(&o.caps[0], SPO_JSON_STRING, t[i].code);
        if (t[i].request_id != NULL)
            assert_cap(&o.caps[1], SPO_JSON_STRING, t[i].request_id);
        else
            assert_int_equal(o.caps[1].found, 0);
        if (t[i].inner_code != NULL)
            assert_cap(&o.caps[2], SPO_JSON_STRING, t[i].inner_code);
        else
            assert_int_equal(o.caps[2].found, 0);
        assert_int_equal(o.caps[3].found, 1);
        assert_int_equal(o.caps[3].len, ml < 23 ? ml : 23);
        assert_memory_equal(o.caps[3].buf, t[i].message, o.caps[3].len);
        assert_int_equal(o.caps[3].buf[o.caps[3].len], '\0');
        assert_int_equal(o.caps[3].truncated, ml > 23);
        assert_cap(&o.caps[4], SPO_JSON_OBJECT, "");
        if (i == 7)
            assert_cap(&o.caps[5], SPO_JSON_STRING, "quota");
        else
            assert_int_equal(o.caps[5].found, 0);
        assert_int_equal(o.caps[6].found, 0);
        outcome_free(&o);
        free(doc);
    }
}

/* ---------------------------------------------------------------- strings */

static int put_buf(void *ctx, const char *s, size_t n)
{
    outcome *o = ctx;

    log_add(o, s, n);
    return 0;
}

/* unescape -> write_string -> read back -> unescape: the bytes survive every step */
static void round_trip(const char *body, const char *want, size_t want_len)
{
    char a[512], b[512];
    size_t alen, blen;
    outcome w = { 0 }, o;
    static const cap_spec root[] = { { { NULL }, 512, 0 } };
    spec sp = { root, 1, NULL, NULL, -1 };

    assert_int_equal(spo_json_unescape(body, strlen(body), a, sizeof a, &alen), SPO_OK);
    assert_int_equal(alen, want_len);
    assert_memory_equal(a, want, want_len);
    log_str(&w, "");
    assert_int_equal(spo_json_write_string(put_buf, &w, a, alen), SPO_OK);
    /* the written form is a JSON document on its own: the reader captures it back */
    check_all(&sp, w.log, w.log_len, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.caps[0].type, SPO_JSON_STRING);
    assert_int_equal(o.caps[0].len, want_len);
    assert_memory_equal(o.caps[0].buf, want, want_len);
    assert_int_equal(spo_json_unescape(w.log + 1, w.log_len - 2, b, sizeof b, &blen), SPO_OK);
    assert_int_equal(blen, want_len);
    assert_memory_equal(b, want, want_len);
    outcome_free(&o);
    free(w.log);
}

static void test_strings_round_trip(void **state)
{
    (void)state;
#define RT(body, want) round_trip(body, want, sizeof(want) - 1)
    RT("Caf\\u00e9 \\\"quoted\\\" back\\\\slash \\ud83d\\ude00 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
       "Caf\xc3\xa9 \"quoted\" back\\slash \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
    RT("\\b\\f\\n\\r\\t\\/\\u0001\\u001f\x7f", "\b\f\n\r\t/\x01\x1f\x7f");
    RT("nul:\\u0000:end", "nul:\0:end");
    RT("\\uDBFF\\uDFFF \\uD800\\uDC00 \\uFFFF \\u0800 \\u07FF \\u0080",
       "\xf4\x8f\xbf\xbf \xf0\x90\x80\x80 \xef\xbf\xbf \xe0\xa0\x80 \xdf\xbf \xc2\x80");
    RT("", "");
#undef RT
}

static void test_capture_non_ascii(void **state)
{
    static const cap_spec caps[] = {
        { { "value" }, 4, 0 },
        { { "d\xc3\xa9j\xc3\xa0", "v" }, 128, 0 },   /* a key with UTF-8, written escaped in the doc */
        { { "a\"b\\c" }, 16, 0 },
        { { "t" }, 8, 0 },
        { { "f" }, 8, 0 },
        { { "n" }, 8, 0 },
        { { "num" }, 32, 0 },
    };
    static const char *const keys[] = { "displayName", NULL };
    spec sp = { caps, 7, coll_value, keys, -1 };
    outcome o;

    (void)state;
    check_str(&sp,
              "{\"value\":[{\"displayName\":\"Site 1 with \\\"quotes\\\" and \xc3\xa9 and \\ud83d\\ude00\"},"
              "{\"display\\u004eame\":\"\\u65e5\\u672c\\u8a9e \xf0\x9f\x98\x80\"}],"
              "\"d\\u00e9j\xc3\xa0\":{\"v\":\"\\u00e9\\\\\\\"\"},\"a\\\"b\\\\c\":\"ok\","
              "\"t\":true,\"f\":false,\"n\":null,\"num\":-0.5E+10}",
              &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 2);
    assert_non_null(strstr(o.log, "|displayName=Site 1 with \"quotes\" and \xc3\xa9 and \xf0\x9f\x98\x80\n"));
    assert_non_null(strstr(o.log, "|displayName=\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80\n"));
    assert_cap(&o.caps[1], SPO_JSON_STRING, "\xc3\xa9\\\"");
    assert_cap(&o.caps[2], SPO_JSON_STRING, "ok");
    assert_cap(&o.caps[3], SPO_JSON_LITERAL, "true");
    assert_cap(&o.caps[4], SPO_JSON_LITERAL, "false");
    assert_cap(&o.caps[5], SPO_JSON_LITERAL, "null");
    assert_cap(&o.caps[6], SPO_JSON_NUMBER, "-0.5E+10");
    outcome_free(&o);
}

/* The document itself can be the captured value or the collection. */
static void test_root_paths(void **state)
{
    static const cap_spec root[] = { { { NULL }, 32, 0 } };
    static const char *const coll_root[] = { NULL };
    spec sp = { root, 1, NULL, NULL, -1 };
    spec sc = { NULL, 0, coll_root, NULL, -1 };
    outcome o;

    (void)state;
    check_str(&sp, " 12345 ", &o);
    assert_cap(&o.caps[0], SPO_JSON_NUMBER, "12345");
    outcome_free(&o);
    check_str(&sp, "-0", &o); /* ends at the end of input: finish() completes it */
    assert_int_equal(o.rc, SPO_OK);
    assert_cap(&o.caps[0], SPO_JSON_NUMBER, "-0");
    outcome_free(&o);
    check_str(&sp, "\"x\\ty\"", &o);
    assert_cap(&o.caps[0], SPO_JSON_STRING, "x\ty");
    outcome_free(&o);
    check_str(&sp, "\nnull\n", &o);
    assert_cap(&o.caps[0], SPO_JSON_LITERAL, "null");
    outcome_free(&o);
    check_str(&sp, "{}", &o);
    assert_cap(&o.caps[0], SPO_JSON_OBJECT, "");
    outcome_free(&o);
    check_str(&sc, "[1,\"two\",[3],{\"f\":4},true,null,-5e-1]", &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_string_equal(o.log, "#0 len=1 ntok=1 raw=1\n#1 len=5 ntok=1 raw=\"two\"\n#2 len=3 ntok=2 raw=[3]\n"
                               "#3 len=7 ntok=3 raw={\"f\":4}\n#4 len=4 ntok=1 raw=true\n"
                               "#5 len=4 ntok=1 raw=null\n#6 len=5 ntok=1 raw=-5e-1\n");
    outcome_free(&o);
    /* not an array at the collection path: no elements, no error */
    check_str(&sc, "{\"value\":[1]}", &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 0);
    outcome_free(&o);
}

/* A path matches only along objects, at the right depth, with the whole key. */
static void test_path_matching(void **state)
{
    static const cap_spec caps[] = {
        { { "a", "b" }, 16, 0 },
        { { "k" }, 16, 0 },
        { { "0123456789012345678901234567890123456789012345678901234567890123456789" }, 16, 0 },
        { { "abc" }, 16, 0 },
    };
    spec sp = { caps, 4, coll_value, NULL, -1 };
    outcome o;

    (void)state;
    check_str(&sp, "{\"x\":{\"a\":{\"b\":\"deep\"}},\"b\":\"top\",\"ab\":1,\"a\":[{\"b\":\"in array\"}],"
                   "\"k\\u0000\":\"nul key\",\"kk\":2,\"value\":{\"value\":[1]},"
                   "\"0123456789012345678901234567890123456789012345678901234567890123456789\":\"long\","
                   "\"ab\":\"prefix\",\"abcd\":\"longer\",\"\":\"empty\"}",
              &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.caps[0].found, 0); /* "a" was an array: paths do not go through arrays */
    assert_int_equal(o.caps[1].found, 0);
    assert_int_equal(o.caps[2].found, 0); /* longer than SPO_JSON_KEY_MAX: never matches */
    assert_int_equal(o.caps[3].found, 0);
    assert_int_equal(o.nelem, 0);
    outcome_free(&o);
    /* an object that is not on the path, at the depth where one was: its keys match nothing */
    check_str(&sp, "{\"a\":{\"x\":1},\"c\":{\"b\":\"wrong\"},\"d\":[{\"b\":\"wrong\"}]}", &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.caps[0].found, 0);
    outcome_free(&o);
    /* duplicate keys: the last value wins */
    check_str(&sp, "{\"a\":{\"b\":\"first\"},\"a\":{\"b\":\"second\"},\"k\":1,\"k\":\"two\"}", &o);
    assert_cap(&o.caps[0], SPO_JSON_STRING, "second");
    assert_cap(&o.caps[1], SPO_JSON_STRING, "two");
    outcome_free(&o);
}

/* ---------------------------------------------------------------- limits */

static void test_element_too_big(void **state)
{
    static const char *const coll_root[] = { NULL };
    spec sp = { NULL, 0, coll_root, NULL, -1 };
    size_t n = SPO_JSON_WINDOW, i;
    char *doc = malloc(n + 16);
    outcome o;

    (void)state;
    assert_non_null(doc);
    /* a string element of exactly the window fits */
    doc[0] = '[';
    doc[1] = '"';
    memset(doc + 2, 'x', n - 2);
    memcpy(doc + n, "\"]", 3);
    check_all(&sp, doc, n + 2, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 1);
    outcome_free(&o);
    /* one byte more does not, and the blame is on the first byte past the window */
    doc[0] = '[';
    doc[1] = '"';
    memset(doc + 2, 'x', n - 1);
    memcpy(doc + n + 1, "\"]", 3);
    check_all(&sp, doc, n + 3, &o);
    assert_int_equal(o.rc, SPO_E_JSON_TOO_BIG);
    assert_int_equal(o.offset, 1 + n);
    outcome_free(&o);
    /* a number element of exactly the window: the byte after it is not part of it */
    doc[0] = '[';
    memset(doc + 1, '7', n);
    memcpy(doc + 1 + n, "]", 2);
    check_all(&sp, doc, n + 2, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 1);
    outcome_free(&o);
    memcpy(doc + 1 + n, "7]", 3);
    check_all(&sp, doc, n + 3, &o);
    assert_int_equal(o.rc, SPO_E_JSON_TOO_BIG);
    assert_int_equal(o.offset, 1 + n);
    outcome_free(&o);
    /* the oversize element with a syntax error later in it: same verdict in every split */
    doc[0] = '[';
    doc[1] = '"';
    memset(doc + 2, 'x', n + 2);
    memcpy(doc + n + 4, "\x01\"]", 4);
    check_all(&sp, doc, n + 7, &o);
    assert_int_equal(o.rc, SPO_E_JSON_TOO_BIG);
    outcome_free(&o);
    /* an object closed by the first byte that does not fit */
    doc[0] = '[';
    doc[1] = '{';
    doc[2] = '"';
    memset(doc + 3, 'k', n - 5);
    memcpy(doc + n - 2, "\":1}]", 6);
    check_all(&sp, doc, n + 3, &o);
    assert_int_equal(o.rc, SPO_E_JSON_TOO_BIG);
    assert_int_equal(o.offset, 1 + n);
    outcome_free(&o);
    memcpy(doc + n - 3, "\":1}]", 6); /* one k fewer: exactly the window */
    check_all(&sp, doc, n + 2, &o);
    assert_int_equal(o.rc, SPO_OK);
    assert_int_equal(o.nelem, 1);
    outcome_free(&o);
    /* small in bytes, too many jsmn tokens */
    {
        char toks[4 * SPO_JSON_TOKENS + 16];
        size_t k = 0;

        toks[k++] = '[';
        toks[k++] = '[';
        for (i = 0; i < SPO_JSON_TOKENS; i++) {
            toks[k++] = '0';
            toks[k++] = ',';
        }
        toks[k - 1] = ']';
        toks[k++] = ']';
        toks[k] = '\0';
        check_str(&sp, toks, &o);
        assert_int_equal(o.rc, SPO_E_JSON_TOO_BIG);
        assert_int_equal(o.offset, k - 1);
        outcome_free(&o);
        toks[k - 4] = ']'; /* one number fewer: exactly SPO_JSON_TOKENS tokens */
        toks[k - 3] = ']';
        toks[k - 2] = '\0';
        check_str(&sp, toks, &o);
        assert_int_equal(o.rc, SPO_OK);
        outcome_free(&o);
    }
    free(doc);
}

static void test_too_deep(void **state)
{
    static const cap_spec caps[] = { { { "a" }, 8, 0 } };
    spec sp = { caps, 1, coll_value, NULL, -1 };
    char doc[2 * SPO_JSON_DEPTH_MAX + 8];
    size_t i;
    outcome o;

    (void)state;
    for (i = 0; i < SPO_JSON_DEPTH_MAX; i++) {
        doc[i] = '[';
        doc[SPO_JSON_DEPTH_MAX + i] = ']';
    }
    doc[2 * SPO_JSON_DEPTH_MAX] = '\0';
    check_str(&sp, doc, &o);
    assert_int_equal(o.rc, SPO_OK);
    outcome_free(&o);
    memmove(doc + 1, doc, 2 * SPO_JSON_DEPTH_MAX + 1);
    doc[0] = '[';
    check_str(&sp, doc, &o);
    assert_int_equal(o.rc, SPO_E_JSON_DEPTH);
    assert_int_equal(o.offset, SPO_JSON_DEPTH_MAX);
    outcome_free(&o);
    /* objects count the same, inside a collection too */
    {
        char d2[16 * SPO_JSON_DEPTH_MAX];
        size_t k = 0;

        k += (size_t)sprintf(d2 + k, "{\"value\":[");
        for (i = 0; i < SPO_JSON_DEPTH_MAX - 1; i++)
            k += (size_t)sprintf(d2 + k, "{\"a\":");
        k += (size_t)sprintf(d2 + k, "1");
        check_str(&sp, d2, &o);
        assert_int_equal(o.rc, SPO_E_JSON_DEPTH);
        assert_int_equal(o.offset, 10 + 5 * (SPO_JSON_DEPTH_MAX - 2));
        outcome_free(&o);
    }
}

static void test_capture_too_long(void **state)
{
    static const cap_spec strict[] = { { { "s" }, 8, 0 } };
    static const cap_spec cut[] = { { { "s" }, 6, 1 } };
    spec ss = { strict, 1, NULL, NULL, -1 };
    spec sc = { cut, 1, NULL, NULL, -1 };
    outcome o;

    (void)state;
    check_str(&ss, "{\"s\":\"1234567\"}", &o); /* 7 bytes + NUL: fits */
    assert_cap(&o.caps[0], SPO_JSON_STRING, "1234567");
    outcome_free(&o);
    check_str(&ss, "{\"s\":\"12345678\"}", &o);
    assert_int_equal(o.rc, SPO_E_TOO_LONG);
    assert_int_equal(o.offset, 15); /* reported where the value ends */
    outcome_free(&o);
    check_str(&ss, "{\"s\":\"123456\\u00e9\"}", &o); /* an escape that grows past the end */
    assert_int_equal(o.rc, SPO_E_TOO_LONG);
    outcome_free(&o);
    check_str(&ss, "{\"s\":123456789}", &o);
    assert_int_equal(o.rc, SPO_E_TOO_LONG);
    outcome_free(&o);
    check_str(&ss, "{\"s\":12345678901234567890\n", &o); /* a bad document still reports its first fault */
    assert_int_equal(o.rc, SPO_E_TOO_LONG);
    outcome_free(&o);
    check_str(&ss, "{\"s\":\"12345678\x01\"}", &o); /* a bad byte later in the value wins in every split */
    assert_int_equal(o.rc, SPO_E_JSON_SYNTAX);
    assert_int_equal(o.offset, 14);
    outcome_free(&o);
    check_str(&ss, "{\"s\":false}", &o);
    assert_cap(&o.caps[0], SPO_JSON_LITERAL, "false");
    outcome_free(&o);
    /* may_truncate: cut at a UTF-8 boundary */
    check_str(&sc, "{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}", &o);
    assert_cap(&o.caps[0], SPO_JSON_STRING, "\xc3\xa9\xc3\xa9");
    assert_int_equal(o.caps[0].truncated, 1);
    outcome_free(&o);
    check_str(&sc, "{\"s\":\"ab\\ud83d\\ude00cd\"}", &o);
    assert_cap(&o.caps[0], SPO_JSON_STRING, "ab");
    assert_int_equal(o.caps[0].truncated, 1);
    outcome_free(&o);
    check_str(&sc, "{\"s\":\"a\xe6\x97\xa5\xe6\x9c\xac\"}", &o);
    assert_cap(&o.caps[0], SPO_JSON_STRING, "a\xe6\x97\xa5");
    outcome_free(&o);
    check_str(&sc, "{\"s\":\"abcde\"}", &o); /* exactly full: not truncated */
    assert_cap(&o.caps[0], SPO_JSON_STRING, "abcde");
    assert_int_equal(o.caps[0].truncated, 0);
    outcome_free(&o);
    check_str(&sc, "{\"s\":-1234567.5e3}", &o);
    assert_cap(&o.caps[0], SPO_JSON_NUMBER, "-1234");
    assert_int_equal(o.caps[0].truncated, 1);
    outcome_free(&o);
    check_str(&sc, "[1,2]", &o); /* found nowhere: untouched, "" */
    assert_int_equal(o.caps[0].found, 0);
    assert_string_equal(o.caps[0].buf, "");
    outcome_free(&o);
}

/* 100k generated sites, fed whole, in 1 KiB pieces, byte by byte and in odd pieces: the reader
 * struct is the only memory (the heap does not move while it runs), every element arrives intact. */
typedef struct big_ctx {
    uint64_t n;
    uint64_t sum;
    int bad;
} big_ctx;

static int big_elem(void *ctx, const spo_json_elem *e)
{
    big_ctx *b = ctx;
    char name[128], url[128], want[128];
    size_t nl, ul;

    if (e->index != b->n ||
        spo_json_elem_string(e, "displayName", name, sizeof name, &nl) != SPO_OK ||
        spo_json_elem_string(e, "webUrl", url, sizeof url, &ul) != SPO_OK) {
        b->bad++;
        return 0;
    }
    snprintf(want, sizeof want, "Site %llu \"q\" \xc3\xa9 \xf0\x9f\x98\x80", (unsigned long long)e->index);
    if (strcmp(name, want) != 0)
        b->bad++;
    snprintf(want, sizeof want, "https://contoso.sharepoint.com/sites/s%llu", (unsigned long long)e->index);
    if (strcmp(url, want) != 0)
        b->bad++;
    b->n++;
    b->sum += nl + ul;
    return 0;
}

static void test_long_array(void **state)
{
    enum { N = 100000 };
    static const char *const coll[] = { "value", NULL };
    char nl[256];
    spo_json_capture cap[1] = { { { "@odata.nextLink" }, nl, sizeof nl, 0, 0, 0, 0, 0 } };
    size_t cap_bytes = (size_t)N * 256 + 1024, len = 0, i, steps[] = { 0, 1024, 1, 4093 };
    char *doc = malloc(cap_bytes);
    spo_json_reader *r = malloc(sizeof *r);
    uint64_t want_sum = 0;

    (void)state;
    assert_non_null(doc);
    assert_non_null(r);
    len += (size_t)sprintf(doc + len, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#sites\",\"value\":[");
    for (i = 0; i < N; i++) {
        char name[96], url[96];
        int a = snprintf(name, sizeof name, "Site %zu \"q\" \xc3\xa9 \xf0\x9f\x98\x80", i);
        int b = snprintf(url, sizeof url, "https://contoso.sharepoint.com/sites/s%zu", i);

        want_sum += (uint64_t)a + (uint64_t)b;
        len += (size_t)sprintf(doc + len,
                               "%s{\"id\":\"contoso.sharepoint.com,%08zx-d508-4946-a439-b2a6154fc1d9,65a04b8b-1f44-442b-a1fc-9e5852fb946c\","
                               "\"displayName\":\"Site %zu \\\"q\\\" \\u00e9 \\ud83d\\ude00\",\"webUrl\":\"%s\"}",
                               i ? "," : "", i, i, url);
    }
    len += (size_t)sprintf(doc + len, "],\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/sites?$skiptoken=X\"}");
    assert_true(len < cap_bytes);

    for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        big_ctx b = { 0, 0, 0 };
        size_t pos = 0, step = steps[i] ? steps[i] : len;
        struct mallinfo2 before, after;

        spo_json_reader_init(r, cap, 1, coll, big_elem, &b);
        before = mallinfo2();
        while (pos < len) {
            size_t n = len - pos < step ? len - pos : step;

            assert_int_equal(spo_json_reader_feed(r, (const uint8_t *)doc + pos, n), SPO_OK);
            pos += n;
        }
        assert_int_equal(spo_json_reader_finish(r), SPO_OK);
        after = mallinfo2();
        assert_int_equal(before.uordblks, after.uordblks);
        assert_int_equal(before.hblkhd, after.hblkhd);
        assert_int_equal(b.bad, 0);
        assert_int_equal(b.n, N);
        assert_int_equal(b.sum, want_sum);
        assert_string_equal(nl, "https://graph.microsoft.com/v1.0/sites?$skiptoken=X");
        assert_int_equal(spo_json_reader_offset(r), len);
    }
    print_message("long array: %d elements, %zu bytes, reader struct %zu bytes\n", N, len, sizeof *r);
    free(r);
    free(doc);
}

/* ---------------------------------------------------------------- syntax */

static void test_syntax(void **state)
{
    static const char *const bad[] = {
        "", " ", "[1,]", "{\"a\":1,}", "[,1]", "[1,,2]", "{,}", "01", "-01", "[01]", "-", "[-]", "1.",
        "[1.]", ".5", "[.5]", "1e", "1e+", "1E-", "[1e]", "+1", "0x1", "1.5.2", "- 1", "--1", "\"\\x\"",
        "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"", "\"\\'\"", "\"a\tb\"", "\"a\nb\"", "\"\x1f\"",
        "\"\x7f\x80\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xf0\x80\x80\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xff\"", "\"\xc3\"", "\"\xe6\x97\"", "\"\xf0\x9f\x98\"", "\"\xc3\x28\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"\\ud800\\ud800\"", "\"\\ude00\\ud83d\"",
        "{\"a\"::\"b\"}", "{\"a\" \"b\"}", "{\"a\":}", "{\"a\"}", "{:1}", "{1:2}", "{a:1}", "[1 2]",
        "{\"a\":1 \"b\":2}", "[1]x", "{} {}", "[1]]", "[1}", "{\"a\":1]", "]", "}", "[", "{", "\"abc",
        "tru", "truex", "nul", "nulL", "True", "NaN", "Infinity", "-Infinity", "[1,2", "\xef\xbb\xbf{}",
        "[\f]", "[\v]", "1 2", "[1 ", "[\"a\"", "{\"a\":1 ", "[[]", "{\"a\":{}", "[1,", "{\"a\":1,",
        "{\"a\"", "{\"a\":", "\"\\", "\"\\u00", "\"\\ud800", "\"\\ud800\\", "\"\xc3", "-", "1e+", "0.", "\"a\"\"b\"", "[\"a\",]", "{\"a\":[}", "'a'", "/*c*/1",
    };
    static const char *const good[] = {
        "0", "-0", "0.0", "-0.0e-0", "1E+2", "123456789012345678901234567890", "1e999", "\"\"",
        "true", "false", "null", " [ ] ", "{ }", "[[],{}]", "{\"\":\"\"}", "\"\\u0000\"",
        "\"\\ud83d\\ude00\"", "\"\xf4\x8f\xbf\xbf\"", "\"\xef\xbf\xbf\"", "\"\x7f\"", "\t\r\n 1 \t\r\n",
        "{\"a\":[1,{\"b\":null}],\"c\":-1.5e-3}", "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
    };
    static const cap_spec caps[] = { { { "a" }, 64, 0 } };
    spec plain = { NULL, 0, NULL, NULL, -1 };
    spec busy = { caps, 1, coll_value, site_keys, -1 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        outcome o;
        size_t len = strlen(bad[i]);

        check_all(&plain, bad[i], len, &o);
        if (o.rc != SPO_E_JSON_SYNTAX)
            fail_msg("accepted or wrong error %d: \"%s\"", o.rc, bad[i]);
        outcome_free(&o);
        /* captures and a collection change nothing about what is valid */
        check_all(&busy, bad[i], len, &o);
        assert_int_equal(o.rc, SPO_E_JSON_SYNTAX);
        outcome_free(&o);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        outcome o;

        check_str(&plain, good[i], &o);
        if (o.rc != SPO_OK)
            fail_msg("rejected (%d at %llu): \"%s\"", o.rc, (unsigned long long)o.offset, good[i]);
        outcome_free(&o);
    }
    {
        outcome o;

        /* a NUL byte is a control character, in a string or out of one */
        check_all(&plain, "[1\0]", 4, &o);
        assert_int_equal(o.rc, SPO_E_JSON_SYNTAX);
        assert_int_equal(o.offset, 2);
        outcome_free(&o);
        check_all(&plain, "\"a\0\"", 4, &o);
        assert_int_equal(o.rc, SPO_E_JSON_SYNTAX);
        assert_int_equal(o.offset, 2);
        outcome_free(&o);
        check_str(&plain, "[1,2,]", &o);
        assert_int_equal(o.offset, 5); /* the byte that broke it */
        outcome_free(&o);
        check_str(&plain, "[1,2", &o);
        assert_int_equal(o.offset, 4); /* finish: the end of the input */
        outcome_free(&o);
    }
}

/* on_elem's non-zero return stops the reader, which stays stopped. */
static void test_callback_stops(void **state)
{
    spec sp = { NULL, 0, coll_value, NULL, 1 };
    outcome o;

    (void)state;
    check_str(&sp, "{\"value\":[{\"a\":1},\"two\",3]}", &o);
    assert_int_equal(o.rc, 7);
    assert_int_equal(o.nelem, 2);
    assert_int_equal(o.offset, 23);
    outcome_free(&o);
}

static void test_bad_arguments(void **state)
{
    spo_json_reader r;
    char buf[4];
    spo_json_capture c = { { "a", "b", "c", "d", "e" }, buf, sizeof buf, 0, 0, 0, 0, 0 };
    spo_json_capture nobuf = { { "a" }, NULL, 4, 0, 0, 0, 0, 0 };
    static const char *const long_path[] = { "a", "b", "c", "d", "e", NULL };

    (void)state;
    spo_json_reader_init(&r, &c, 1, NULL, NULL, NULL); /* path of 5 keys */
    assert_int_equal(spo_json_reader_feed(&r, (const uint8_t *)"1", 1), SPO_E_ARG);
    spo_json_reader_init(&r, &nobuf, 1, NULL, NULL, NULL);
    assert_int_equal(spo_json_reader_finish(&r), SPO_E_ARG);
    spo_json_reader_init(&r, NULL, 0, long_path, log_elem, NULL);
    assert_int_equal(spo_json_reader_finish(&r), SPO_E_ARG);
    spo_json_reader_init(&r, NULL, 0, coll_value, NULL, NULL); /* a collection needs a callback */
    assert_int_equal(spo_json_reader_finish(&r), SPO_E_ARG);
    spo_json_reader_init(&r, NULL, SPO_JSON_MAX_CAPTURES + 1, NULL, NULL, NULL);
    assert_int_equal(spo_json_reader_finish(&r), SPO_E_ARG);
    spo_json_reader_init(&r, NULL, 0, NULL, NULL, NULL);
    assert_int_equal(spo_json_reader_feed(&r, NULL, 0), SPO_OK);
    assert_int_equal(spo_json_reader_finish(&r), SPO_E_JSON_SYNTAX); /* empty document */
}

/* ---------------------------------------------------------------- helpers */

static int put_fail_after(void *ctx, const char *s, size_t n)
{
    int *left = ctx;

    (void)s;
    (void)n;
    return (*left)-- > 0 ? 0 : -99;
}

static void test_unescape(void **state)
{
    char d[8];
    size_t n = 99;

    (void)state;
    assert_int_equal(spo_json_unescape("abc", 3, d, sizeof d, &n), SPO_OK);
    assert_string_equal(d, "abc");
    assert_int_equal(n, 3);
    assert_int_equal(spo_json_unescape("1234567", 7, d, 8, &n), SPO_OK); /* exactly fits with NUL */
    assert_int_equal(spo_json_unescape("12345678", 8, d, 8, &n), SPO_E_TOO_LONG);
    assert_string_equal(d, "");
    assert_int_equal(n, 0);
    assert_int_equal(spo_json_unescape("12345\\u00e9", 11, d, 8, &n), SPO_OK);
    assert_int_equal(n, 7);
    assert_int_equal(spo_json_unescape("123456\\u00e9", 12, d, 8, &n), SPO_E_TOO_LONG);
    assert_int_equal(spo_json_unescape("1234\\u00e9", 10, d, 8, &n), SPO_OK);
    assert_int_equal(n, 6);
    assert_int_equal(spo_json_unescape("", 0, d, 1, &n), SPO_OK);
    assert_int_equal(spo_json_unescape(NULL, 0, d, 1, NULL), SPO_OK);
    assert_int_equal(spo_json_unescape("a", 1, d, 0, &n), SPO_E_ARG);
    {
        /* in place, as graph.c does with the window: literal runs move left over themselves */
        char in[] = "ab\\ncd\\u00e9ef\\ud83d\\ude00gh\\\"ij";
        size_t il = strlen(in);

        assert_int_equal(spo_json_unescape(in, il, in, il + 1, &n), SPO_OK);
        assert_int_equal(n, 18);
        assert_string_equal(in, "ab\ncd\xc3\xa9" "ef\xf0\x9f\x98\x80gh\"ij");
    }
    {
        /* a sequence cut by the length, with its continuation right behind: never read past len */
        char *cut = malloc(4);

        assert_non_null(cut);
        memcpy(cut, "\xc3\xa9\xe6\x97", 4);
        assert_int_equal(spo_json_unescape(cut, 1, d, sizeof d, &n), SPO_E_JSON_SYNTAX);
        assert_int_equal(spo_json_unescape(cut + 2, 2, d, sizeof d, &n), SPO_E_JSON_SYNTAX);
        assert_int_equal(spo_json_unescape(cut, 2, d, sizeof d, &n), SPO_OK);
        assert_int_equal(spo_json_write_string(put_fail_after, &(int){ 0 }, cut, 1), SPO_E_ARG);
        free(cut);
    }
    static const char *const bad[] = {
        "\\", "\\x", "\\u12", "\\u12g4", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\ud800\\n",
        "\\ud800\\ud800", "\\udbff\\ue000", "\\ud800\\udc0", "\\ud800\\", "\\ud800\\u",
        "a\"b", "a\nb", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (spo_json_unescape(bad[i], strlen(bad[i]), d, sizeof d, &n) != SPO_E_JSON_SYNTAX)
            fail_msg("unescape accepted \"%s\"", bad[i]);
        assert_string_equal(d, "");
    }
}

static int elem_copy(void *ctx, const spo_json_elem *e)
{
    /* keep the last element's text and tokens for lookups after the reader is done */
    static char js[SPO_JSON_WINDOW];
    static jsmntok_t tok[SPO_JSON_TOKENS];
    spo_json_elem *out = ctx;

    memcpy(js, e->js, e->len);
    memcpy(tok, e->tok, sizeof(jsmntok_t) * (size_t)e->ntok);
    *out = *e;
    out->js = js;
    out->tok = tok;
    return 0;
}

static void test_elem_string(void **state)
{
    static const char *const coll_root[] = { NULL };
    static const char doc[] =
        "[{\"x\":{\"displayName\":\"inner\",\"y\":[{\"displayName\":\"deeper\"}]},"
        "\"list\":[\"displayName\",\"not a key\"],\"n\":5,\"b\":true,\"o\":{},"
        "\"display\\u004eame\":\"outer \\u00e9\",\"webUrl\":\"first\",\"webUrl\":\"last\"}]";
    spo_json_reader r;
    spo_json_elem e;
    char v[32];
    size_t n;

    (void)state;
    spo_json_reader_init(&r, NULL, 0, coll_root, elem_copy, &e);
    assert_int_equal(spo_json_reader_feed(&r, (const uint8_t *)doc, sizeof doc - 1), SPO_OK);
    assert_int_equal(spo_json_reader_finish(&r), SPO_OK);
    assert_int_equal(spo_json_elem_string(&e, "displayName", v, sizeof v, &n), SPO_OK);
    assert_string_equal(v, "outer \xc3\xa9");
    assert_int_equal(n, 8);
    assert_int_equal(spo_json_elem_string(&e, "webUrl", v, sizeof v, &n), SPO_OK);
    assert_string_equal(v, "last");
    assert_int_equal(spo_json_elem_string(&e, "y", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "n", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "b", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "o", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "x", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "not a key", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "displayName", v, 9, &n), SPO_OK);
    assert_int_equal(spo_json_elem_string(&e, "displayName", v, 8, &n), SPO_E_TOO_LONG);
    assert_int_equal(spo_json_elem_string(&e, "displayNam", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "displayNameX", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(&e, "", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    /* an element that is not an object */
    spo_json_reader_init(&r, NULL, 0, coll_root, elem_copy, &e);
    assert_int_equal(spo_json_reader_feed(&r, (const uint8_t *)"[\"s\"]", 5), SPO_OK);
    assert_int_equal(spo_json_elem_string(&e, "s", v, sizeof v, &n), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_elem_string(NULL, "s", v, sizeof v, &n), SPO_E_ARG);
}

static void test_write_string(void **state)
{
    static const char in[] = "a\"b\\c\x01\x1f\x7f\n\t\r\b\f/\xc3\xa9";
    outcome w = { 0 };
    int left;

    (void)state;
    log_str(&w, "");
    assert_int_equal(spo_json_write_string(put_buf, &w, in, sizeof in - 1), SPO_OK);
    assert_string_equal(w.log, "\"a\\\"b\\\\c\\u0001\\u001f\x7f\\n\\t\\r\\b\\f/\xc3\xa9\"");
    w.log_len = 0;
    assert_int_equal(spo_json_write_string(put_buf, &w, "\0x", 2), SPO_OK);
    assert_memory_equal(w.log, "\"\\u0000x\"", 10);
    w.log_len = 0;
    w.log[0] = '\0';
    /* invalid UTF-8 would make invalid JSON: refused before a byte is written */
    assert_int_equal(spo_json_write_string(put_buf, &w, "ok\xc3", 3), SPO_E_ARG);
    assert_int_equal(spo_json_write_string(put_buf, &w, "\xed\xa0\x80", 3), SPO_E_ARG);
    assert_int_equal(w.log_len, 0);
    /* put's failure is returned at whatever step */
    for (left = 0; left < 4; left++) {
        int l = left;

        assert_int_equal(spo_json_write_string(put_fail_after, &l, "ab\ncd", 5), -99);
    }
    left = 5;
    assert_int_equal(spo_json_write_string(put_fail_after, &left, "ab\ncd", 5), SPO_OK);
    free(w.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sites_list_page),
        cmocka_unit_test(test_sites_list_last_page),
        cmocka_unit_test(test_sites_empty),
        cmocka_unit_test(test_sites_search),
        cmocka_unit_test(test_token_success),
        cmocka_unit_test(test_token_expires_in_string),
        cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_strings_round_trip),
        cmocka_unit_test(test_capture_non_ascii),
        cmocka_unit_test(test_root_paths),
        cmocka_unit_test(test_path_matching),
        cmocka_unit_test(test_element_too_big),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_capture_too_long),
        cmocka_unit_test(test_long_array),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_elem_string),
        cmocka_unit_test(test_write_string),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
