/* graph: paging, throttling, retries and resumption, over a scripted transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "spo/graph.h"

static fake_transport F;
static spo_http_conn C;
static spo_json_reader R;
static spo_graph G;
static spo_diag D;
static char resp_buf[32][8192];
static int nresp;
static char got[65536];
static size_t got_len;
static int token_calls, forced_calls;
static uint64_t now;
static uint32_t slept[64];
static int nslept;

static uint64_t t_now(void *ctx) { (void)ctx; return now; }
static int64_t t_wall(void *ctx) { (void)ctx; return 1700000000 + (int64_t)(now / 1000); }
static void t_sleep(void *ctx, uint32_t ms) { (void)ctx; if (nslept < 64) slept[nslept++] = ms; now += ms; }

static int get_token(void *ctx, int force, spo_span *out)
{
    (void)ctx;
    token_calls++;
    forced_calls += force;
    static const char tok[] = "Bearer test-token";
    out->ptr = tok;
    out->len = sizeof tok - 1;
    return SPO_OK;
}

static int on_site(void *ctx, const spo_site *s)
{
    (void)ctx;
    got_len += (size_t)snprintf(got + got_len, sizeof got - got_len, "%s|%s|%s\n", s->id,
                                s->display_name, s->web_url);
    return 0;
}

static const char *page_body(int status, const char *body, int chunked, const char *extra)
{
    char *b = resp_buf[nresp++ % 32];
    if (!chunked) {
        snprintf(b, sizeof resp_buf[0],
                 "HTTP/1.1 %d X\r\nContent-Type: application/json;odata.metadata=minimal\r\n"
                 "request-id: rid-%d\r\n%sContent-Length: %zu\r\n\r\n%s",
                 status, nresp, extra ? extra : "", strlen(body), body);
        return b;
    }
    /* chunks of 7 bytes, so elements straddle chunk boundaries */
    int n = snprintf(b, sizeof resp_buf[0],
                     "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\nrequest-id: rid-%d\r\n%s\r\n",
                     status, nresp, extra ? extra : "");
    size_t len = strlen(body);
    for (size_t i = 0; i < len; i += 7) {
        size_t k = len - i < 7 ? len - i : 7;
        n += snprintf(b + n, sizeof resp_buf[0] - (size_t)n, "%zx\r\n%.*s\r\n", k, (int)k, body + i);
    }
    snprintf(b + n, sizeof resp_buf[0] - (size_t)n, "0\r\n\r\n");
    return b;
}

#define SITE(i) "{\"id\":\"h,g" #i ",w\",\"displayName\":\"Site " #i "\",\"webUrl\":\"https://h/sites/s" #i "\"}"
static const char PAGE1[] = "{\"@odata.context\":\"https://graph.test/v1.0/$metadata#sites\",\"value\":["
    SITE(1) "," SITE(2) "," SITE(3) "],\"@odata.nextLink\":\"https://graph.test/v1.0/sites?$select=id,displayName,webUrl&$skiptoken=UGFnZT0y\"}";
static const char PAGE2[] = "{\"value\":[" SITE(4) "," SITE(5) "]}";
static const char WANT12[] = "h,g1,w|Site 1|https://h/sites/s1\nh,g2,w|Site 2|https://h/sites/s2\n"
    "h,g3,w|Site 3|https://h/sites/s3\nh,g4,w|Site 4|https://h/sites/s4\nh,g5,w|Site 5|https://h/sites/s5\n";

static void reset(size_t split)
{
    fake_init(&F, split);
    spo_http_transport tr = fake_as_transport(&F);
    spo_http_conn_init(&C, &tr, "spo-test");
    assert_int_equal(spo_graph_init(&G, "https://graph.test/", &C, &R, &D, get_token, NULL), SPO_OK);
    G.now_ms = t_now;
    G.wall = t_wall;
    G.sleep_ms = t_sleep;
    got_len = 0;
    got[0] = '\0';
    token_calls = forced_calls = nslept = 0;
    now = 0;
}

static void test_two_pages_all_splits(void **state)
{
    (void)state;
    size_t splits[] = { 0, 1, 3, 50 };
    for (int chunked = 0; chunked < 2; chunked++)
        for (size_t i = 0; i < 4; i++) {
            reset(splits[i]);
            fake_add(&F, page_body(200, PAGE1, chunked, NULL), 0, 0);
            fake_add(&F, page_body(200, PAGE2, chunked, NULL), 0, 0);
            assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
            assert_string_equal(got, WANT12);
            assert_int_equal(F.connects, 1); /* kept alive across pages */
            F.sent[F.sent_len] = '\0';
            assert_non_null(strstr(F.sent, "GET /v1.0/sites?$select=id,displayName,webUrl HTTP/1.1\r\n"));
            /* the next link is followed verbatim */
            assert_non_null(strstr(F.sent, "GET /v1.0/sites?$select=id,displayName,webUrl&$skiptoken=UGFnZT0y HTTP/1.1\r\n"));
            assert_int_equal(fake_sent_count(&F, "Authorization: Bearer test-token\r\n"), 2);
        }
}

static void test_search_is_encoded(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, "café & co", on_site, NULL), SPO_OK);
    F.sent[F.sent_len] = '\0';
    assert_non_null(strstr(F.sent, "GET /v1.0/sites?$select=id,displayName,webUrl&search=caf%C3%A9%20%26%20co HTTP/1.1\r\n"));
}

static void test_escapes_unescaped(void **state)
{
    (void)state;
    reset(1);
    fake_add(&F, page_body(200, "{\"value\":[{\"id\":\"a\",\"displayName\":\"Q \\\"x\\\" \\\\ \\u00e9 \\ud83d\\ude00 caf\xc3\xa9\","
                                 "\"webUrl\":\"https:\\/\\/h\\/s\"}]}", 1, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
    assert_string_equal(got, "a|Q \"x\" \\ \xc3\xa9 \xf0\x9f\x98\x80 caf\xc3\xa9|https://h/s\n");
}

/* Found by fuzzing (tests/fuzz/corpus/drive/crash-list-stop-positive): a callback that stopped
 * with a positive value got SPO_E_GRAPH (its value taken for an HTTP status), or SPO_OK for a value
 * in 200..299, and a value like 503 had the page fetched again. */
static int stop_with(void *ctx, const spo_site *s)
{
    (void)s;
    return *(const int *)ctx;
}

static void test_callback_stop_value_comes_back(void **state)
{
    (void)state;
    static const int values[] = { 1, 200, 503, 12345, SPO_E_ABORTED };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        reset(1);
        fake_add(&F, page_body(200, "{\"value\":[{\"id\":\"a\"},{\"id\":\"b\"}]}", 0, NULL), 0, 0);
        assert_int_equal(spo_graph_list_sites(&G, NULL, stop_with, (void *)&values[i]), values[i]);
        assert_int_equal(G.retries_done, 0);
    }
}

static void test_next_link_to_other_host_refused(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(200, "{\"value\":[" SITE(1) "],\"@odata.nextLink\":\"https://evil.test/v1.0/sites?$skiptoken=x\"}", 0, NULL), 0, 0);
    fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_URL_HOST);
    assert_int_equal(fake_sent_count(&F, "Authorization:"), 1);
    assert_int_equal(fake_sent_count(&F, "evil"), 0);
    assert_string_equal(F.host, "graph.test");
}

static void test_throttled_then_ok(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow\"}}", 0, "Retry-After: 2\r\n"), 0, 0);
    fake_add(&F, page_body(503, "{\"error\":{\"code\":\"serviceNotAvailable\",\"message\":\"busy\"}}", 0, "Retry-After: 0.5\r\n"), 0, 0);
    fake_add(&F, page_body(200, PAGE1, 1, NULL), 0, 0);
    fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
    assert_string_equal(got, WANT12);
    assert_int_equal(nslept, 2);
    assert_int_equal(slept[0], 2000);
    assert_int_equal(slept[1], 500);
}

static void test_throttle_storm_gives_up(void **state)
{
    (void)state;
    reset(0);
    for (int i = 0; i < 20; i++)
        fake_add(&F, page_body(429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow\"}}", 0, "Retry-After: 1\r\n"), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_THROTTLED);
    assert_int_equal(nslept, SPO_GRAPH_RETRIES);
    assert_int_equal(D.status, 429);
    assert_string_equal(D.code, "TooManyRequests");
    assert_string_equal(got, "");
}

static void test_backoff_without_retry_after(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(504, "gateway", 0, NULL), 0, 0);
    fake_add(&F, page_body(502, "gateway", 0, NULL), 0, 0);
    fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
    assert_int_equal(nslept, 2);
    assert_in_range(slept[0], SPO_GRAPH_BACKOFF_MS / 2, SPO_GRAPH_BACKOFF_MS);
    assert_in_range(slept[1], SPO_GRAPH_BACKOFF_MS, SPO_GRAPH_BACKOFF_MS * 2);
}

static void test_drop_mid_page_resumes_without_dup(void **state)
{
    (void)state;
    for (size_t cut = 60; cut < 400; cut += 37) {
        reset(5);
        const char *p1 = page_body(200, PAGE1, 1, NULL);
        fake_add(&F, p1, 0, cut); /* dies after `cut` bytes */
        fake_add(&F, p1, 0, 0);
        fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
        assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
        assert_string_equal(got, WANT12);
        assert_int_equal(F.connects, 2);
    }
}

static void test_401_refreshes_once(void **state)
{
    (void)state;
    static const char E401[] = "{\"error\":{\"code\":\"InvalidAuthenticationToken\",\"message\":\"Access token has expired.\",\"innerError\":{\"request-id\":\"r-401\"}}}";
    reset(0);
    fake_add(&F, page_body(401, E401, 0, NULL), 0, 0);
    fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
    assert_int_equal(forced_calls, 1);
    reset(0);
    fake_add(&F, page_body(401, E401, 0, NULL), 0, 0);
    fake_add(&F, page_body(401, E401, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_GRAPH);
    assert_int_equal(forced_calls, 1);
    assert_int_equal(D.status, 401);
    assert_string_equal(D.code, "InvalidAuthenticationToken");
    assert_string_equal(D.request_id, "r-401");
}

static void test_403_and_malformed(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(403, "{\"error\":{\"code\":\"accessDenied\",\"message\":\"Either scp or roles claim need to be present in the token.\"}}", 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_GRAPH);
    assert_int_equal(D.status, 403);
    assert_string_equal(D.code, "accessDenied");
    assert_non_null(strstr(D.request_id, "rid-"));
    reset(0);
    fake_add(&F, page_body(200, "{\"value\":[" SITE(1) ",{\"id\":}]}", 1, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_JSON_SYNTAX);
    reset(0);
    fake_add(&F, page_body(200, "{\"value\":[" SITE(1) "]", 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_JSON_SYNTAX);
    /* valid JSON of the wrong shape must not pass for an empty last page */
    const char *bad[] = { "{\"value\":{}}", "{}", "[]", "{\"value\":[],\"@odata.nextLink\":3}", "{\"value\":\"x\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reset(0);
        fake_add(&F, page_body(200, bad[i], 0, NULL), 0, 0);
        assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_JSON_SHAPE);
    }
}

static void test_error_text_is_made_safe(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(403, "{\"error\":{\"code\":\"x\\u001b[2J\",\"message\":\"a\\u001b]0;pwned\\u0007 \\u0085\\r\\nsecond line\"}}", 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_GRAPH);
    assert_string_equal(D.code, "x?[2J");
    assert_string_equal(D.message, "a?]0;pwned? ??");
}

/* A 200 answer can carry an "error" object too; when its JSON then breaks, what was captured on
 * the way must be as safe to print as a real error's text (found by fuzz_graph_error). */
static void test_error_text_in_broken_200_is_made_safe(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(200, "{\"error\":{\"code\":\"x\\u000b\",\"message\":\"a\\b\\f\"}, !", 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_E_JSON_SYNTAX);
    assert_string_equal(D.code, "x?");
    assert_string_equal(D.message, "a??");
}

static void test_empty_page_with_next(void **state)
{
    (void)state;
    reset(0);
    fake_add(&F, page_body(200, "{\"value\":[],\"@odata.nextLink\":\"https://graph.test/v1.0/sites?$skiptoken=2\"}", 0, NULL), 0, 0);
    fake_add(&F, page_body(200, PAGE2, 0, NULL), 0, 0);
    assert_int_equal(spo_graph_list_sites(&G, NULL, on_site, NULL), SPO_OK);
    assert_string_equal(got, "h,g4,w|Site 4|https://h/sites/s4\nh,g5,w|Site 5|https://h/sites/s5\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_pages_all_splits),
        cmocka_unit_test(test_search_is_encoded),
        cmocka_unit_test(test_escapes_unescaped),
        cmocka_unit_test(test_callback_stop_value_comes_back),
        cmocka_unit_test(test_next_link_to_other_host_refused),
        cmocka_unit_test(test_throttled_then_ok),
        cmocka_unit_test(test_throttle_storm_gives_up),
        cmocka_unit_test(test_backoff_without_retry_after),
        cmocka_unit_test(test_drop_mid_page_resumes_without_dup),
        cmocka_unit_test(test_401_refreshes_once),
        cmocka_unit_test(test_403_and_malformed),
        cmocka_unit_test(test_empty_page_with_next),
        cmocka_unit_test(test_error_text_is_made_safe),
        cmocka_unit_test(test_error_text_in_broken_200_is_made_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
