/* auth: the client-credentials request and the token response, over a scripted transport. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "spo/auth.h"

static fake_transport F;
static spo_http_conn C;
static spo_json_reader R;
static spo_auth A;
static spo_diag D;
static char resp_buf[8][16384];
static int nresp;

static const spo_auth_config CFG = { "https://login.example.test", "contoso.onmicrosoft.com",
                                     "11111111-2222-3333-4444-555555555555",
                                     "a~b.c_d-e+f/g=h%i j", "https://graph.example.test/.default",
                                     NULL, 0, NULL, NULL };

static const char *http_json(int status, const char *reason, const char *body)
{
    char *b = resp_buf[nresp++ % 8];
    snprintf(b, sizeof resp_buf[0],
             "HTTP/1.1 %d %s\r\nCache-Control: no-store, no-cache\r\nContent-Type: application/json; "
             "charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
             status, reason, strlen(body), body);
    return b;
}

static void setup_conn(size_t split)
{
    fake_init(&F, split);
    spo_http_transport tr = fake_as_transport(&F);
    spo_http_conn_init(&C, &tr, "spo-test");
    memset(&A, 0, sizeof A);
}

static int run(void)
{
    return spo_auth_client_credentials(&A, &CFG, &C, &R, 1000, 1700000000, &D);
}

static const char OK_BODY[] =
    "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
    "\"access_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2ln\"}";

static void test_success_in_every_split(void **state)
{
    (void)state;
    size_t splits[] = { 0, 1, 2, 7, 64 };
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        setup_conn(splits[i]);
        fake_add(&F, http_json(200, "OK", OK_BODY), 0, 0);
        assert_int_equal(run(), SPO_OK);
        assert_string_equal(A.token.bearer,
                            "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2ln");
        assert_int_equal(A.token.len, strlen(A.token.bearer) - 7);
        assert_int_equal(A.token.lifetime_s, 3599);
        assert_int_equal(A.token.expires_wall, 1700000000 + 3599);
        /* the login connection is closed once the token is in hand */
        assert_int_equal(F.connected, 0);
    }
}

static void test_request_is_form_encoded(void **state)
{
    (void)state;
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", OK_BODY), 0, 0);
    assert_int_equal(run(), SPO_OK);
    F.sent[F.sent_len] = '\0';
    assert_non_null(strstr(F.sent, "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\n"));
    assert_non_null(strstr(F.sent, "Host: login.example.test\r\n"));
    assert_non_null(strstr(F.sent, "Content-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(F.sent, "grant_type=client_credentials"));
    assert_non_null(strstr(F.sent, "client_id=11111111-2222-3333-4444-555555555555"));
    assert_non_null(strstr(F.sent, "scope=https%3A%2F%2Fgraph.example.test%2F.default"));
    /* every byte a form decoder would alter is escaped; ~ . _ - are unreserved */
    assert_non_null(strstr(F.sent, "client_secret=a~b.c_d-e%2Bf%2Fg%3Dh%25i%20j"));
    /* the form buffer that held the secret is zero again */
    for (size_t i = 0; i < sizeof A.body; i++)
        assert_int_equal(A.body[i], 0);
}

static void test_expires_in_as_string(void **state)
{
    (void)state;
    setup_conn(3);
    fake_add(&F, http_json(200, "OK", "{\"token_type\":\"Bearer\",\"expires_in\":\"86399\",\"access_token\":\"abc\"}"), 0, 0);
    assert_int_equal(run(), SPO_OK);
    assert_int_equal(A.token.lifetime_s, 86399);
    assert_string_equal(A.token.bearer + 7, "abc");
}

static void test_wrong_secret_names_aadsts(void **state)
{
    (void)state;
    setup_conn(5);
    fake_add(&F, http_json(401, "Unauthorized",
        "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided. "
        "Ensure the secret being sent in the request is the client secret value, not the client secret ID, "
        "for a secret added to app '1111'.\\r\\nTrace ID: 0b5c\\r\\nCorrelation ID: 6f2d\\r\\nTimestamp: "
        "2024-05-01 10:00:00Z\",\"error_codes\":[7000215],\"timestamp\":\"2024-05-01 10:00:00Z\","
        "\"trace_id\":\"0b5c-trace\",\"correlation_id\":\"6f2d\",\"error_uri\":\"https://login.microsoftonline.com/error?code=7000215\"}"),
        0, 0);
    assert_int_equal(run(), SPO_E_AUTH);
    assert_int_equal(D.status, 401);
    assert_string_equal(D.code, "invalid_client");
    assert_string_equal(D.aadsts, "AADSTS7000215");
    assert_string_equal(D.request_id, "0b5c-trace");
    assert_null(strchr(D.message, '\r')); /* first line only */
    assert_non_null(strstr(D.message, "Invalid client secret provided"));
    assert_int_equal(A.token.len, 0);
}

static void test_token_longer_than_buffer(void **state)
{
    (void)state;
    static char body[SPO_TOKEN_MAX + 200];
    int n = snprintf(body, sizeof body, "{\"expires_in\":3599,\"access_token\":\"");
    memset(body + n, 'x', SPO_TOKEN_MAX); /* one byte too many with its NUL */
    snprintf(body + n + SPO_TOKEN_MAX, sizeof body - (size_t)n - SPO_TOKEN_MAX, "\"}");
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", body), 0, 0);
    assert_int_equal(run(), SPO_E_TOO_LONG);
    assert_int_equal(A.token.len, 0);
    for (size_t i = 0; i < sizeof A.token.bearer; i++)
        assert_int_equal(A.token.bearer[i], 0);
}

static void test_malformed_and_missing(void **state)
{
    (void)state;
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"access_token\":\"abc\",\"expires_in\":3599"), 0, 0);
    assert_int_equal(run(), SPO_E_JSON_SYNTAX);
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"token_type\":\"Bearer\",\"expires_in\":3599}"), 0, 0);
    assert_int_equal(run(), SPO_E_JSON_SHAPE);
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"access_token\":\"abc\",\"expires_in\":\"soon\"}"), 0, 0);
    assert_int_equal(run(), SPO_E_JSON_SHAPE);
    /* a token that could not go into an Authorization header (or the cache) as it is: a NUL that
     * would cut it short, a CR LF, a space, a non-ASCII byte */
    static const char *const bad[] = { "ab\\u0000cd", "ab\\r\\nX-Injected: 1", "ab cd", "ab\\u00e9cd" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"expires_in\":3599}", bad[i]);
        setup_conn(0);
        fake_add(&F, http_json(200, "OK", body), 0, 0);
        assert_int_equal(run(), SPO_E_JSON_SHAPE);
    }
    setup_conn(0);
    fake_add(&F, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"access_token\":", 1, 0);
    assert_true(run() < 0);
    assert_int_equal(A.token.len, 0);
}

static void test_html_error_page(void **state)
{
    (void)state;
    setup_conn(0);
    fake_add(&F, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 13\r\n\r\n<html>x</html>", 0, 0);
    assert_int_equal(run(), SPO_E_AUTH);
    assert_int_equal(D.status, 502);
    assert_string_equal(D.aadsts, "");
}

static void test_throttled_keeps_retry_after(void **state)
{
    (void)state;
    setup_conn(4);
    fake_add(&F, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 2\r\n\r\n{}", 0, 0);
    assert_int_equal(run(), SPO_E_AUTH);
    assert_int_equal(D.status, 429);
    assert_int_equal(D.retry_after_ms, 3000);
}

static void test_helpers(void **state)
{
    (void)state;
    char buf[16];
    size_t pos = 0;
    assert_int_equal(spo_form_append(buf, sizeof buf, &pos, "a b", 3), SPO_OK);
    assert_string_equal(buf, "a%20b");
    assert_int_equal(spo_form_append(buf, sizeof buf, &pos, "++++", 4), SPO_E_TOO_LONG);
    char code[16];
    spo_auth_aadsts("AADSTS90002: Tenant not found", code, sizeof code);
    assert_string_equal(code, "AADSTS90002");
    spo_auth_aadsts("nothing here", code, sizeof code);
    assert_string_equal(code, "");

    spo_token t;
    memset(&t, 0, sizeof t);
    assert_false(spo_token_fresh(&t, 0));
    t.len = 3;
    t.obtained_ms = 1000;
    t.lifetime_s = 3600;
    assert_true(spo_token_fresh(&t, 1000 + 3299 * 1000));
    assert_false(spo_token_fresh(&t, 1000 + 3300 * 1000));
    t.lifetime_s = 60; /* shorter than twice the margin: half its life */
    assert_true(spo_token_fresh(&t, 1000 + 29 * 1000));
    assert_false(spo_token_fresh(&t, 1000 + 30 * 1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_in_every_split),
        cmocka_unit_test(test_request_is_form_encoded),
        cmocka_unit_test(test_expires_in_as_string),
        cmocka_unit_test(test_wrong_secret_names_aadsts),
        cmocka_unit_test(test_token_longer_than_buffer),
        cmocka_unit_test(test_malformed_and_missing),
        cmocka_unit_test(test_html_error_page),
        cmocka_unit_test(test_throttled_keeps_retry_after),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
