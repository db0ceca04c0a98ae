/* drive: site and item addressing (encoding tables), drive resolution, listing, mkdir, metadata
 * and the download redirect, over a scripted transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "spo/drive.h"
#include "spo/lists.h"

static fake_transport F;
static spo_http_conn C;
static spo_json_reader R;
static spo_graph G;
static spo_diag D;
static char resp_buf[32][4096];
static int nresp;
static char got[8192];
static size_t got_len;

static int get_token(void *ctx, int force, spo_span *out)
{
    (void)ctx;
    (void)force;
    static const char tok[] = "Bearer test-token";
    out->ptr = tok;
    out->len = sizeof tok - 1;
    return SPO_OK;
}

static void t_sleep(void *ctx, uint32_t ms)
{
    (void)ctx;
    (void)ms;
}

static const char *resp(int status, const char *extra, const char *body)
{
    char *b = resp_buf[nresp++ % 32];
    snprintf(b, sizeof resp_buf[0], "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s", status,
             extra ? extra : "", strlen(body), body);
    return b;
}

static void reset(void)
{
    fake_init(&F, 5);
    spo_http_transport tr = fake_as_transport(&F);
    spo_http_conn_init(&C, &tr, "spo-test");
    assert_int_equal(spo_graph_init(&G, "https://graph.test", &C, &R, &D, get_token, NULL),
                     SPO_OK);
    G.sleep_ms = t_sleep;
    got_len = 0;
    got[0] = '\0';
}

/* The request lines sent, one per line ("GET /x", "POST /y"), for exact comparison. */
static const char *sent_lines(void)
{
    static char out[8192];
    size_t o = 0;
    F.sent[F.sent_len] = '\0';
    for (const char *p = F.sent; (p = strstr(p, " HTTP/1.1\r\n")) != NULL; p += 11) {
        const char *b = p;
        while (b > F.sent && strncmp(b, "GET /", 5) && strncmp(b, "POST /", 6))
            b--; /* a body without a line end may come before the request line */
        o += (size_t)snprintf(out + o, sizeof out - o, "%.*s\n", (int)(p - b), b);
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------ addressing tables */

static void site_paths(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: SPO_E_ARG */
    } cases[] = {
        { "contoso.sharepoint.com,2c6e3a5c-0000-4bd8-9f58-0c6c0bd9f04f,f2c4ad2b-1c5e-4c5b-8d14-d85a6a0b3a33",
          "/sites/contoso.sharepoint.com,2c6e3a5c-0000-4bd8-9f58-0c6c0bd9f04f,f2c4ad2b-1c5e-4c5b-8d14-d85a6a0b3a33" },
        { "contoso.sharepoint.com:/sites/Team Site", "/sites/contoso.sharepoint.com:/sites/Team%20Site" },
        { "contoso.sharepoint.com:/sites/a#b?c%d", "/sites/contoso.sharepoint.com:/sites/a%23b%3Fc%25d" },
        { "https://contoso.sharepoint.com/sites/Team%20Site/", "/sites/contoso.sharepoint.com:/sites/Team%20Site" },
        { "HTTPS://contoso.sharepoint.com//sites//x", "/sites/contoso.sharepoint.com:/sites/x" },
        { "https://contoso.sharepoint.com/sites/caf\xc3\xa9", "/sites/contoso.sharepoint.com:/sites/caf%C3%A9" },
        { "https://contoso.sharepoint.com/sites/a%2Fb", "/sites/contoso.sharepoint.com:/sites/a%2Fb" },
        { "https://contoso.sharepoint.com/", "/sites/contoso.sharepoint.com" },
        { "https://contoso.sharepoint.com", "/sites/contoso.sharepoint.com" },
        { "contoso.sharepoint.com", "/sites/contoso.sharepoint.com" },
        { "contoso.sharepoint.com:/", "/sites/contoso.sharepoint.com" },
        { "https://contoso.sharepoint.com/sites/x?web=1", NULL },
        { "https://contoso.sharepoint.com/sites/x#frag", NULL },
        { "https://contoso.sharepoint.com:8443/sites/x", NULL },
        { "https://user@contoso.sharepoint.com/sites/x", NULL },
        { "https://contoso.sharepoint.com/sites/%zz", NULL },
        { "https://contoso.sharepoint.com/sites/%2", NULL },
        { "https://contoso.sharepoint.com/sites/%2E%2E/x", NULL },
        { "contoso.sharepoint.com:/sites/../x", NULL },
        { "contoso.sharepoint.com:/sites/./x", NULL },
        { "contoso.sharepoint.com:/sites/a\x01", NULL },
        { "contoso.sharepoint.com:/sites/a\\b", NULL },
        { "http://contoso.sharepoint.com/sites/x", NULL },
        { "a,b", NULL },
        { "a,b,c,d", NULL },
        { ",b,c", NULL },
        { "a,,c", NULL },
        { "a,b,", NULL },
        { "a/b,c,d", NULL },
        { "a,b,c?x", NULL },
        { "", NULL },
        { ":/sites/x", NULL },
        { "con toso:/sites/x", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[512] = "X";
        size_t pos = 1;
        int rc = spo_site_path_append(buf, sizeof buf, &pos, cases[i].in);
        if (!cases[i].out) {
            if (rc != SPO_E_ARG || pos != 1 || strcmp(buf, "X"))
                fail_msg("case %zu (%s): rc %d, %s", i, cases[i].in, rc, buf);
            continue;
        }
        if (rc != SPO_OK || strcmp(buf + 1, cases[i].out) || pos != strlen(buf))
            fail_msg("case %zu (%s): rc %d, got %s", i, cases[i].in, rc, buf + 1);
    }
    /* Too long for the buffer: SPO_E_TOO_LONG, and the buffer as it was. */
    char small[24] = "X";
    size_t pos = 1;
    assert_int_equal(spo_site_path_append(small, sizeof small, &pos, "contoso.sharepoint.com:/sites/x"),
                     SPO_E_TOO_LONG);
    assert_int_equal(pos, 1);
    assert_string_equal(small, "X");
}

static void item_paths(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t nseg;
    } cases[] = {
        { "", "", 0 },
        { "/", "", 0 },
        { "///", "", 0 },
        { "a", "a", 1 },
        { "/Reports/2026/", "Reports/2026", 2 },
        { "a//b", "a/b", 2 },
        { "Q1 report #3?.csv", "Q1%20report%20%233%3F.csv", 1 },
        { "100%/x:y", "100%25/x%3Ay", 2 },
        { "d\xc3\xa9j\xc3\xa0 vu", "d%C3%A9j%C3%A0%20vu", 1 },
        { "a+b&c=d;e,f'g\"h", "a%2Bb%26c%3Dd%3Be%2Cf%27g%22h", 1 },
        { "...", "...", 1 },
        { ".hidden", ".hidden", 1 },
        { "a~b_c-d.e", "a~b_c-d.e", 1 },
        { "a/./b", NULL, 0 },
        { "a/../b", NULL, 0 },
        { "..", NULL, 0 },
        { "a\tb", NULL, 0 },
        { "a\x7f", NULL, 0 },
        { "a\\b", NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256] = "P";
        size_t pos = 1, nseg = 99;
        int rc = spo_item_path_append(buf, sizeof buf, &pos, cases[i].in, &nseg);
        if (!cases[i].out) {
            if (rc != SPO_E_ARG || pos != 1 || strcmp(buf, "P"))
                fail_msg("case %zu: rc %d, %s", i, rc, buf);
            continue;
        }
        if (rc != SPO_OK || strcmp(buf + 1, cases[i].out) || nseg != cases[i].nseg)
            fail_msg("case %zu (%s): rc %d, got %s (%zu segments)", i, cases[i].in, rc, buf + 1,
                     nseg);
    }
}

/* ------------------------------------------------------------------ resolution */

#define SITE_ID "contoso.sharepoint.com,2c6e3a5c-0000-4bd8-9f58-0c6c0bd9f04f,f2c4ad2b-1c5e-4c5b-8d14-d85a6a0b3a33"
#define SITE_JSON "{\"id\":\"" SITE_ID "\",\"displayName\":\"T\"}"
#define DRIVE_ID "b!Tm_8UgAAAA-bbbb_ccc"

static void resolve_default_and_named(void **state)
{
    (void)state;
    spo_drive_ref d;
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"id\":\"" DRIVE_ID "\"}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, "https://contoso.sharepoint.com/sites/Team%20A", NULL, &d),
                     SPO_OK);
    assert_string_equal(d.site_id, SITE_ID);
    assert_string_equal(d.drive_id, DRIVE_ID);
    assert_int_equal(d.failed, SPO_PART_NONE);
    assert_string_equal(sent_lines(),
                        "GET /v1.0/sites/contoso.sharepoint.com:/sites/Team%20A\n"
                        "GET /v1.0/sites/" SITE_ID "/drive?$select=id\n");

    /* --drive NAME: every page of /drives is searched; exact name first. */
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL,
                      "{\"value\":[{\"id\":\"b!one\",\"name\":\"Documents\"},{\"id\":\"b!two\","
                      "\"name\":\"reports\"}],\"@odata.nextLink\":"
                      "\"https://graph.test/v1.0/sites/x/drives?$skiptoken=2\"}"),
             0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"b!three\",\"name\":\"Reports\"}]}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, SITE_ID, "Reports", &d), SPO_OK);
    assert_string_equal(d.drive_id, "b!three");
    assert_string_equal(sent_lines(), "GET /v1.0/sites/" SITE_ID "\n"
                                      "GET /v1.0/sites/" SITE_ID "/drives?$select=id,name\n"
                                      "GET /v1.0/sites/x/drives?$skiptoken=2\n");

    /* Only a case-insensitive match: taken. No match: 404 on the drive. */
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"b!two\",\"name\":\"reports\"}]}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, SITE_ID, "Reports", &d), SPO_OK);
    assert_string_equal(d.drive_id, "b!two");
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"b!two\",\"name\":\"Other\"}]}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, SITE_ID, "Reports", &d), SPO_E_GRAPH);
    assert_int_equal(d.failed, SPO_PART_DRIVE);
    assert_int_equal(D.status, 404);
}

static void resolve_failures_name_the_part(void **state)
{
    (void)state;
    spo_drive_ref d;
    reset();
    fake_add(&F, resp(404, NULL, "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"Requested site could not be found\"}}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, "contoso.sharepoint.com:/sites/nope", NULL, &d),
                     SPO_E_GRAPH);
    assert_int_equal(d.failed, SPO_PART_SITE);
    assert_int_equal(D.status, 404);
    assert_string_equal(D.code, "itemNotFound");

    /* A malformed SITE never reaches the network. */
    reset();
    assert_int_equal(spo_drive_resolve(&G, "https://x/sites/a?b", NULL, &d), SPO_E_ARG);
    assert_int_equal(d.failed, SPO_PART_SITE);
    assert_int_equal(F.connects, 0);

    /* A hostile id (a '/' or '?' would change the next request's path) is refused. */
    reset();
    fake_add(&F, resp(200, NULL, "{\"id\":\"h,a/../b,c\"}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, "h:/sites/x", NULL, &d), SPO_E_JSON_SHAPE);
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"id\":\"b!x?y\"}"), 0, 0);
    assert_int_equal(spo_drive_resolve(&G, "h:/sites/x", NULL, &d), SPO_E_JSON_SHAPE);
    assert_int_equal(d.failed, SPO_PART_DRIVE);
}

/* ------------------------------------------------------------------ listing, mkdir, metadata */

static int on_item(void *ctx, const spo_item *it)
{
    (void)ctx;
    got_len += (size_t)snprintf(got + got_len, sizeof got - got_len, "%s|%s|%llu%s|%s|%s\n",
                                it->id, it->name, (unsigned long long)it->size,
                                it->has_size ? "" : "?", it->modified, it->folder ? "dir" : "file");
    return 0;
}

static void fixed_drive(spo_drive_ref *d)
{
    memset(d, 0, sizeof *d);
    strcpy(d->site_id, SITE_ID);
    strcpy(d->drive_id, DRIVE_ID);
}

static void list_children(void **state)
{
    (void)state;
    spo_drive_ref d;
    reset();
    fixed_drive(&d);
    fake_add(&F, resp(200, NULL,
                      "{\"value\":[{\"id\":\"01A\",\"name\":\"a \\\"q\\\"\\ttab.txt\",\"size\":12,"
                      "\"lastModifiedDateTime\":\"2026-01-02T03:04:05Z\",\"file\":{}},"
                      "{\"id\":\"01B\",\"name\":\"Sub\",\"size\":0,\"folder\":{\"childCount\":3},"
                      "\"lastModifiedDateTime\":\"2026-01-02T03:04:06Z\"}],"
                      "\"@odata.nextLink\":\"https://graph.test/v1.0/next?$skiptoken=p2\"}"),
             0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"01C\",\"name\":\"nosize\"}]}"), 0, 0);
    assert_int_equal(spo_drive_list(&G, &d, "/Reports/Q1 #2/", on_item, NULL), SPO_OK);
    assert_string_equal(got, "01A|a \"q\"\ttab.txt|12|2026-01-02T03:04:05Z|file\n"
                             "01B|Sub|0|2026-01-02T03:04:06Z|dir\n"
                             "01C|nosize|0?||file\n");
    assert_string_equal(sent_lines(),
                        "GET /v1.0/drives/" DRIVE_ID "/root:/Reports/Q1%20%232:/children"
                        "?$select=id,name,size,lastModifiedDateTime,folder\n"
                        "GET /v1.0/next?$skiptoken=p2\n");

    /* The root, and bad sizes. */
    static const char *const bad[] = { "-1", "1.5", "1e3", "\"12\"", "18446744073709551616" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reset();
        char body[256];
        snprintf(body, sizeof body, "{\"value\":[{\"id\":\"1\",\"name\":\"n\",\"size\":%s}]}",
                 bad[i]);
        fake_add(&F, resp(200, NULL, body), 0, 0);
        if (spo_drive_list(&G, &d, "", on_item, NULL) != SPO_E_JSON_SHAPE)
            fail_msg("size %s accepted", bad[i]);
        assert_string_equal(sent_lines(), "GET /v1.0/drives/" DRIVE_ID
                                          "/root/children?$select=id,name,size,"
                                          "lastModifiedDateTime,folder\n");
    }
    reset();
    fake_add(&F, resp(404, NULL, "{\"error\":{\"code\":\"itemNotFound\",\"message\":\"x\"}}"), 0, 0);
    assert_int_equal(spo_drive_list(&G, &d, "nope", on_item, NULL), SPO_E_GRAPH);
    assert_int_equal(d.failed, SPO_PART_ITEM);
}

static void mkdir_with_parents(void **state)
{
    (void)state;
    spo_drive_ref d;
    unsigned made = 99;
    reset();
    fixed_drive(&d);
    /* "a" exists as a folder (409, then the GET shows the folder facet); "b c" and "d" are new. */
    fake_add(&F, resp(409, NULL, "{\"error\":{\"code\":\"nameAlreadyExists\",\"message\":\"x\"}}"), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"id\":\"01A\",\"size\":0,\"folder\":{\"childCount\":0}}"), 0, 0);
    fake_add(&F, resp(201, NULL, "{\"id\":\"01B\",\"name\":\"b c\",\"folder\":{}}"), 0, 0);
    fake_add(&F, resp(201, NULL, "{\"id\":\"01C\",\"name\":\"d\\\"\",\"folder\":{}}"), 0, 0);
    assert_int_equal(spo_drive_mkdir(&G, &d, "a/b c/d\"", &made), SPO_OK);
    assert_int_equal(made, 2);
    assert_string_equal(sent_lines(),
                        "POST /v1.0/drives/" DRIVE_ID "/root/children\n"
                        "GET /v1.0/drives/" DRIVE_ID "/root:/a?$select=id,size,file,folder\n"
                        "POST /v1.0/drives/" DRIVE_ID "/root:/a:/children\n"
                        "POST /v1.0/drives/" DRIVE_ID "/root:/a/b%20c:/children\n");
    assert_non_null(strstr(F.sent, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(F.sent, "\r\n\r\n{\"name\":\"d\\\"\",\"folder\":{},"
                                   "\"@microsoft.graph.conflictBehavior\":\"fail\"}"));

    /* A file in the way: 409 from the check, nothing further sent. */
    reset();
    fake_add(&F, resp(409, NULL, "{\"error\":{\"code\":\"nameAlreadyExists\",\"message\":\"x\"}}"), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"id\":\"01A\",\"size\":5,\"file\":{}}"), 0, 0);
    assert_int_equal(spo_drive_mkdir(&G, &d, "f/g", &made), SPO_E_GRAPH);
    assert_int_equal(D.status, 409);
    assert_int_equal(made, 0);
    assert_string_equal(sent_lines(),
                        "POST /v1.0/drives/" DRIVE_ID "/root/children\n"
                        "GET /v1.0/drives/" DRIVE_ID "/root:/f?$select=id,size,file,folder\n");

    /* A bad last segment: nothing is created at all. Invalid UTF-8: refused by the writer. */
    reset();
    assert_int_equal(spo_drive_mkdir(&G, &d, "a/b/..", &made), SPO_E_ARG);
    assert_int_equal(spo_drive_mkdir(&G, &d, "/", &made), SPO_E_ARG);
    assert_int_equal(spo_drive_mkdir(&G, &d, "bad\xff", &made), SPO_E_ARG);
    assert_int_equal(F.connects, 0);
}

static void item_meta_and_content_url(void **state)
{
    (void)state;
    spo_drive_ref d;
    spo_item_meta m;
    reset();
    fixed_drive(&d);
    fake_add(&F, resp(200, NULL,
                      "{\"id\":\"01F\",\"size\":4194304,\"file\":{\"mimeType\":\"x\",\"hashes\":"
                      "{\"quickXorHash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}}"),
             0, 0);
    fake_add(&F, resp(302, "Location: https://dl.test:8444/download.aspx?tempauth=T\r\n", ""), 0, 0);
    assert_int_equal(spo_drive_item(&G, &d, "r/x.bin", &m), SPO_OK);
    assert_string_equal(m.id, "01F");
    assert_int_equal(m.size, 4194304);
    assert_string_equal(m.qxh, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_false(m.folder);
    char url[SPO_URL_MAX];
    assert_int_equal(spo_drive_content_url(&G, &d, m.id, url, sizeof url), SPO_OK);
    assert_string_equal(url, "https://dl.test:8444/download.aspx?tempauth=T");
    assert_string_equal(sent_lines(),
                        "GET /v1.0/drives/" DRIVE_ID "/root:/r/x.bin?$select=id,size,file,folder\n"
                        "GET /v1.0/drives/" DRIVE_ID "/items/01F/content\n");
    assert_int_equal(F.connects, 1); /* nothing followed: only Graph was contacted */

    /* A Location too long for the buffer. */
    reset();
    fake_add(&F, resp(302, "Location: https://dl.test/0123456789\r\n", ""), 0, 0);
    char small[16];
    assert_int_equal(spo_drive_content_url(&G, &d, "01F", small, sizeof small), SPO_E_TOO_LONG);
    /* A hostile item id is never put into a path. */
    assert_int_equal(spo_drive_content_url(&G, &d, "../x", url, sizeof url), SPO_E_ARG);
}


/* ------------------------------------------------------------------ downloads */

typedef struct mem_sink {
    char buf[256];
    size_t len;
    int restarts;
} mem_sink;

static int ms_write(void *ctx, const uint8_t *data, size_t len)
{
    mem_sink *m = ctx;
    assert_true(m->len + len <= sizeof m->buf);
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    return SPO_OK;
}

static int ms_restart(void *ctx)
{
    mem_sink *m = ctx;
    m->len = 0;
    m->restarts++;
    return SPO_OK;
}

static spo_download DL;

static void dl_setup(spo_drive_ref *d, const char *content)
{
    fixed_drive(d);
    memset(&DL, 0, sizeof DL);
    strcpy(DL.meta.id, "01F");
    DL.meta.size = strlen(content);
    spo_qxh h;
    spo_qxh_init(&h);
    spo_qxh_update(&h, (const uint8_t *)content, strlen(content));
    spo_qxh_final(&h, DL.meta.qxh);
}

#define REDIRECT "Location: https://dl.test:8444/x?tempauth=SECRETTEMP\r\n"

static void download_resumes_without_token(void **state)
{
    (void)state;
    spo_drive_ref d;
    mem_sink m = { { 0 }, 0, 0 };
    spo_download_sink sink = { &m, ms_write, ms_restart };
    reset();
    dl_setup(&d, "0123456789");
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    const char *full = resp(200, NULL, "0123456789");
    fake_add(&F, full, 0, strlen(full) - 6); /* cut after "0123" */
    fake_add(&F, resp(206, "Content-Range: bytes 4-9/10\r\n", "456789"), 0, 0);
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_OK);
    assert_int_equal(m.len, 10);
    assert_memory_equal(m.buf, "0123456789", 10);
    assert_int_equal(DL.transfers, 2);
    assert_int_equal(DL.redirects, 1);
    assert_true(DL.hash_checked);
    assert_string_equal(DL.hash, DL.meta.qxh);
    for (size_t i = 0; i < sizeof DL.url; i++)
        assert_int_equal(DL.url[i], 0); /* the tempauth URL is wiped */
    F.sent[F.sent_len] = '\0';
    const char *dl1 = strstr(F.sent, "GET /x?tempauth=SECRETTEMP HTTP/1.1\r\nHost: dl.test:8444\r\n");
    assert_non_null(dl1);
    assert_null(strstr(dl1, "Authorization")); /* nothing of the token past Graph */
    assert_non_null(strstr(dl1, "\r\nRange: bytes=4-\r\n"));
    assert_null(strstr(F.sent, "Range: bytes=0-"));
    assert_string_equal(sent_lines(), "GET /v1.0/drives/" DRIVE_ID "/items/01F/content\n"
                                      "GET /x?tempauth=SECRETTEMP\n"
                                      "GET /x?tempauth=SECRETTEMP\n");
}

static void download_checks(void **state)
{
    (void)state;
    spo_drive_ref d;
    mem_sink m = { { 0 }, 0, 0 };
    spo_download_sink sink = { &m, ms_write, ms_restart };

    /* A server that ignores Range: the sink starts again from nothing. */
    reset();
    dl_setup(&d, "abcdef");
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    const char *full = resp(200, NULL, "abcdef");
    fake_add(&F, full, 0, strlen(full) - 3);
    fake_add(&F, resp(200, NULL, "abcdef"), 0, 0);
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_OK);
    assert_int_equal(m.restarts, 1);
    assert_int_equal(m.len, 6);
    assert_memory_equal(m.buf, "abcdef", 6);

    /* Another hash than the service's: SPO_E_INTEGRITY. */
    reset();
    m.len = 0;
    dl_setup(&d, "abcdef");
    DL.meta.qxh[0] ^= 1;
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    fake_add(&F, resp(200, NULL, "abcdef"), 0, 0);
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_E_INTEGRITY);
    assert_false(DL.hash_checked);

    /* More bytes than the file has: refused before they reach the sink. */
    reset();
    m.len = 0;
    dl_setup(&d, "abc");
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    fake_add(&F, resp(200, NULL, "abcdef"), 0, 0);
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_E_INTEGRITY);
    assert_int_equal(m.len, 0);
    /* Fewer (a file that changed under its metadata): the same. */
    reset();
    dl_setup(&d, "abcdef");
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    fake_add(&F, resp(200, NULL, "abc"), 0, 0);
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_E_INTEGRITY);
    assert_int_equal(m.len, 0);
    assert_int_equal(DL.transfers, 1);

    /* A 206 that does not start where asked is not appended; an expired URL is asked again. */
    reset();
    m.len = 0;
    dl_setup(&d, "abcdef");
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    full = resp(200, NULL, "abcdef");
    fake_add(&F, full, 0, strlen(full) - 4); /* "ab" */
    fake_add(&F, resp(206, "Content-Range: bytes 0-5/6\r\n", "abcdef"), 0, 0);
    fake_add(&F, resp(404, NULL, "{}"), 0, 0);
    fake_add(&F, resp(302, REDIRECT, ""), 0, 0);
    fake_add(&F, resp(206, "Content-Range: bytes 2-5/6\r\n", "cdef"), 0, 0);
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_OK);
    assert_int_equal(m.len, 6);
    assert_memory_equal(m.buf, "abcdef", 6);
    assert_int_equal(DL.redirects, 2);

    /* A folder is not downloaded. */
    DL.meta.folder = 1;
    assert_int_equal(spo_drive_download(&G, &d, &DL, &sink), SPO_E_ARG);
}


/* ------------------------------------------------------------------ lists */

#define LIST_GUID "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

static void list_resolve_and_add(void **state)
{
    (void)state;
    spo_list_ref l;
    char id[SPO_ITEM_ID_MAX];
    static const char body[] = "{\"fields\":{\"Title\":\"x\"}}";

    /* By display name (paged), then a POST that is throttled once (repeated) and succeeds. */
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"11111111-0000-0000-0000-000000000000\","
                                 "\"displayName\":\"Other\",\"name\":\"Other\"}],\"@odata.nextLink\":"
                                 "\"https://graph.test/v1.0/sites/x/lists?$skiptoken=2\"}"),
             0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"" LIST_GUID "\",\"displayName\":\"Device "
                                 "Events\",\"name\":\"DeviceEvents\"}]}"),
             0, 0);
    fake_add(&F, resp(503, "Retry-After: 0\r\n", "{\"error\":{\"code\":\"serviceNotAvailable\"}}"), 0, 0);
    fake_add(&F, resp(201, NULL, "{\"id\":\"42\",\"fields\":{\"Title\":\"x\"}}"), 0, 0);
    assert_int_equal(spo_list_resolve(&G, SITE_ID, "Device Events", &l), SPO_OK);
    assert_string_equal(l.list_id, LIST_GUID);
    assert_int_equal(spo_list_add_item(&G, &l, body, sizeof body - 1, id, sizeof id), SPO_OK);
    assert_string_equal(id, "42");
    assert_string_equal(sent_lines(), "GET /v1.0/sites/" SITE_ID "\n"
                                      "GET /v1.0/sites/" SITE_ID "/lists?$select=id,displayName,name\n"
                                      "GET /v1.0/sites/x/lists?$skiptoken=2\n"
                                      "POST /v1.0/sites/" SITE_ID "/lists/" LIST_GUID "/items\n"
                                      "POST /v1.0/sites/" SITE_ID "/lists/" LIST_GUID "/items\n");
    assert_non_null(strstr(F.sent, "Content-Type: application/json\r\nContent-Length: 24\r\n\r\n"
                                   "{\"fields\":{\"Title\":\"x\"}}"));

    /* By URL name; and an id is taken as it is, without a lookup. */
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[{\"id\":\"" LIST_GUID "\",\"displayName\":\"Device "
                                 "Events\",\"name\":\"DeviceEvents\"}]}"),
             0, 0);
    assert_int_equal(spo_list_resolve(&G, SITE_ID, "DeviceEvents", &l), SPO_OK);
    assert_string_equal(l.list_id, LIST_GUID);
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    assert_int_equal(spo_list_resolve(&G, SITE_ID, LIST_GUID, &l), SPO_OK);
    assert_string_equal(sent_lines(), "GET /v1.0/sites/" SITE_ID "\n");
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    fake_add(&F, resp(200, NULL, "{\"value\":[]}"), 0, 0);
    assert_int_equal(spo_list_resolve(&G, SITE_ID, "Nope", &l), SPO_E_GRAPH);
    assert_int_equal(l.failed, SPO_PART_LIST);
    assert_int_equal(D.status, 404);

    /* A lost answer to the POST is not repeated: the item may exist already. */
    reset();
    strcpy(l.site_id, SITE_ID);
    strcpy(l.list_id, LIST_GUID);
    const char *created = resp(201, NULL, "{\"id\":\"43\"}");
    fake_add(&F, created, 0, 20);
    fake_add(&F, created, 0, 0);
    assert_true(spo_list_add_item(&G, &l, body, sizeof body - 1, id, sizeof id) < 0);
    assert_string_equal(sent_lines(), "POST /v1.0/sites/" SITE_ID "/lists/" LIST_GUID "/items\n");
    /* ... while a GET (or an idempotent request) is: the same loss, then success. */
    reset();
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 20);
    fake_add(&F, resp(200, NULL, SITE_JSON), 0, 0);
    char sid[SPO_SITE_ID_MAX];
    assert_int_equal(spo_site_resolve(&G, SITE_ID, sid, sizeof sid), SPO_OK);
    assert_string_equal(sid, SITE_ID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(site_paths),
        cmocka_unit_test(item_paths),
        cmocka_unit_test(resolve_default_and_named),
        cmocka_unit_test(resolve_failures_name_the_part),
        cmocka_unit_test(list_children),
        cmocka_unit_test(mkdir_with_parents),
        cmocka_unit_test(item_meta_and_content_url),
        cmocka_unit_test(download_resumes_without_token),
        cmocka_unit_test(download_checks),
        cmocka_unit_test(list_resolve_and_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
