/* auth_device: the device code flow and the refresh grant, over a scripted transport. Answers are
 * shaped like the captures in shared/fixtures/ms (devicecode-*.json, device-token-success.json,
 * refresh-token-*.json). */
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
static spo_delegated Dg;
static spo_diag D;
static char resp_buf[4][20000];
static int nresp;

static const spo_auth_config CFG = {
    .authority = "https://login.example.test",
    .tenant = "contoso.onmicrosoft.com",
    .client_id = "11111111-2222-3333-4444-555555555555",
    .scope = "https://graph.example.test/Sites.Read.All offline_access" };

#define DEVICE_CODE "FAQABAAEAAAAm-06blBE1TpVMil8KPQ414yBCo3ZKuMDP8Rw0c8_mKXKdJEpKINnjC1jRfwa"
#define ACCESS "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzY3AiOiJTaXRlcy5SZWFkLkFsbCJ9.c2ln"
#define REFRESH_OLD "0.AwABAAAAvPM1KaPlrEqdFSBzjqfTGAMxZGUTdM0t4B4-old~refresh"
#define REFRESH_NEW "0.AwABAAAAvPM1KaPlrEqdFSBzjqfTGAMxZGUTdM0t4B4-new_refresh"

static const char START_OK[] =
    "{\"user_code\":\"FRWQDE7YL\",\"device_code\":\"" DEVICE_CODE "\","
    "\"verification_uri\":\"https://microsoft.com/devicelogin\",\"expires_in\":900,\"interval\":5,"
    "\"message\":\"To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
    "and enter the code FRWQDE7YL to authenticate.\"}";

static const char TOKEN_OK[] =
    "{\"token_type\":\"Bearer\",\"scope\":\"https://graph.example.test/Sites.Read.All\","
    "\"expires_in\":3599,\"ext_expires_in\":3599,\"access_token\":\"" ACCESS "\","
    "\"refresh_token\":\"" REFRESH_NEW "\",\"id_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.\"}";

static const char *http_json(int status, const char *reason, const char *body)
{
    char *b = resp_buf[nresp++ % 4];
    snprintf(b, sizeof resp_buf[0],
             "HTTP/1.1 %d %s\r\nCache-Control: no-store, no-cache\r\nContent-Type: application/json; "
             "charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
             status, reason, strlen(body), body);
    return b;
}

static const char *oauth_error(const char *error, const char *description)
{
    static char body[4][1024];
    char *b = body[nresp % 4];
    snprintf(b, sizeof body[0],
             "{\"error\":\"%s\",\"error_description\":\"%s\\r\\nTrace ID: 5810b037\\r\\nCorrelation "
             "ID: 5439\",\"error_codes\":[70016],\"trace_id\":\"5810b037-trace\","
             "\"correlation_id\":\"5439\"}", error, description);
    return http_json(400, "Bad Request", b);
}

static void setup_conn(size_t split)
{
    fake_init(&F, split);
    spo_http_transport tr = fake_as_transport(&F);
    spo_http_conn_init(&C, &tr, "spo-test");
}

static const char *sent(void)
{
    F.sent[F.sent_len] = '\0';
    return F.sent;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static int start(void)
{
    return spo_device_start(&Dg, &CFG, &C, &R, 1700000000, &D);
}

static int poll_once(void)
{
    return spo_device_poll(&Dg, &CFG, &C, &R, 5000, 1700000100, &D);
}

/* A started flow, as after a successful spo_device_start(). */
static void started(size_t split)
{
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", START_OK), 0, 0);
    assert_int_equal(start(), SPO_OK);
    setup_conn(split);
}

static void test_start_in_every_split(void **state)
{
    (void)state;
    size_t splits[] = { 0, 1, 3, 64 };
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        setup_conn(splits[i]);
        fake_add(&F, http_json(200, "OK", START_OK), 0, 0);
        assert_int_equal(start(), SPO_OK);
        assert_string_equal(Dg.device_code, DEVICE_CODE);
        assert_string_equal(Dg.user_code, "FRWQDE7YL");
        assert_string_equal(Dg.verification_uri, "https://microsoft.com/devicelogin");
        assert_int_equal(Dg.expires_in, 900);
        assert_int_equal(Dg.interval, 5);
        assert_non_null(strstr(Dg.message, "enter the code FRWQDE7YL to authenticate."));
        assert_int_equal(F.connected, 0);
    }
    assert_non_null(strstr(sent(), "POST /contoso.onmicrosoft.com/oauth2/v2.0/devicecode HTTP/1.1\r\n"));
    assert_non_null(strstr(sent(), "Content-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(sent(), "\r\n\r\nclient_id=11111111-2222-3333-4444-555555555555&scope="
                                   "https%3A%2F%2Fgraph.example.test%2FSites.Read.All%20offline_access"));
    assert_null(strstr(sent(), "client_secret"));
    assert_true(all_zero(Dg.body, sizeof Dg.body));
}

static void test_start_defaults_and_string_numbers(void **state)
{
    (void)state;
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"device_code\":\"dc\",\"user_code\":\"U\","
                                      "\"verification_uri\":\"https://v\"}"), 0, 0);
    assert_int_equal(start(), SPO_OK);
    assert_int_equal(Dg.expires_in, 900);
    assert_int_equal(Dg.interval, 5);
    assert_string_equal(Dg.message, "");
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":"
                                      "\"https://v\",\"expires_in\":\"1800\",\"interval\":\"1\"}"), 0, 0);
    assert_int_equal(start(), SPO_OK);
    assert_int_equal(Dg.expires_in, 1800);
    assert_int_equal(Dg.interval, 1);
}

static void test_start_bad_shapes(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{\"user_code\":\"U\",\"verification_uri\":\"https://v\"}",                      /* no device_code */
        "{\"device_code\":\"dc\",\"verification_uri\":\"https://v\"}",                   /* no user_code */
        "{\"device_code\":\"dc\",\"user_code\":\"U\"}",                                  /* no uri */
        "{\"device_code\":\"\",\"user_code\":\"U\",\"verification_uri\":\"https://v\"}", /* empty */
        "{\"device_code\":7,\"user_code\":\"U\",\"verification_uri\":\"https://v\"}",    /* a number */
        "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://v\",\"interval\":0}",
        "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://v\",\"interval\":-5}",
        "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://v\",\"expires_in\":99999999999}",
        "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://v\",\"interval\":\"soon\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        setup_conn(0);
        fake_add(&F, http_json(200, "OK", bodies[i]), 0, 0);
        assert_int_equal(start(), SPO_E_JSON_SHAPE);
        assert_true(all_zero(Dg.device_code, sizeof Dg.device_code));
    }
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"device_code\":\"dc\",\"user_code\":"), 0, 0);
    assert_int_equal(start(), SPO_E_JSON_SYNTAX);
}

/* One field one byte longer than its buffer (with the NUL): a clear error, nothing kept. */
static void oversized(const char *name, size_t cap, const char *macro)
{
    static char body[4 * 4096 + 128];
    static char big[4096];
    assert_true(cap < sizeof big);
    memset(big, 'A', cap);
    big[cap] = '\0';
    snprintf(body, sizeof body, "{\"device_code\":\"%s\",\"user_code\":\"%s\",\"verification_uri\":"
             "\"%s\",\"message\":\"%s\"}",
             !strcmp(name, "device_code") ? big : "dc", !strcmp(name, "user_code") ? big : "U",
             !strcmp(name, "verification_uri") ? big : "https://v",
             !strcmp(name, "message") ? big : "m");
    setup_conn(7);
    fake_add(&F, http_json(200, "OK", body), 0, 0);
    assert_int_equal(start(), SPO_E_TOO_LONG);
    assert_non_null(strstr(D.message, macro));
    assert_true(all_zero(Dg.device_code, sizeof Dg.device_code));
    /* one byte shorter fits */
    big[cap - 1] = '\0';
    snprintf(body, sizeof body, "{\"device_code\":\"%s\",\"user_code\":\"%s\",\"verification_uri\":"
             "\"%s\",\"message\":\"%s\"}",
             !strcmp(name, "device_code") ? big : "dc", !strcmp(name, "user_code") ? big : "U",
             !strcmp(name, "verification_uri") ? big : "https://v",
             !strcmp(name, "message") ? big : "m");
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", body), 0, 0);
    assert_int_equal(start(), SPO_OK);
}

static void test_start_oversized_fields(void **state)
{
    (void)state;
    oversized("device_code", SPO_DEVICE_CODE_MAX, "SPO_DEVICE_CODE_MAX");
    oversized("user_code", SPO_USER_CODE_MAX, "SPO_USER_CODE_MAX");
    oversized("verification_uri", SPO_VERIFY_URI_MAX, "SPO_VERIFY_URI_MAX");
    oversized("message", SPO_DEVICE_MESSAGE_MAX, "SPO_DEVICE_MESSAGE_MAX");
}

static void test_start_terminal_escapes_made_safe(void **state)
{
    (void)state;
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"device_code\":\"dc\",\"user_code\":\"U\\u001b]0;x\\u0007\","
                                      "\"verification_uri\":\"https://v\\u009b2J\x7f\",\"message\":\"go\\u001b[2J\\r\\nnow\"}"),
             0, 0);
    assert_int_equal(start(), SPO_OK);
    assert_string_equal(Dg.user_code, "U?]0;x?");
    assert_string_equal(Dg.verification_uri, "https://v??2J?"); /* C1 CSI (2 bytes) and DEL */
    assert_string_equal(Dg.message, "go?[2J??now");
}

static void test_start_public_flows_disabled(void **state)
{
    (void)state;
    setup_conn(0);
    fake_add(&F, http_json(401, "Unauthorized",
        "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000218: The request body must "
        "contain the following parameter: 'client_assertion' or 'client_secret'.\\r\\nTrace ID: t\","
        "\"error_codes\":[7000218],\"trace_id\":\"t-1\"}"), 0, 0);
    assert_int_equal(start(), SPO_E_AUTH);
    assert_int_equal(D.status, 401);
    assert_string_equal(D.code, "invalid_client");
    assert_string_equal(D.aadsts, "AADSTS7000218");
    assert_null(strchr(D.message, '\r'));
}

static void test_poll_outcomes(void **state)
{
    (void)state;
    static const struct {
        const char *error, *desc;
        int outcome, keeps_code;
    } cases[] = {
        { "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending.",
          SPO_DEVICE_PENDING, 1 },
        { "slow_down", "polling too frequently", SPO_DEVICE_SLOW_DOWN, 1 },
        { "authorization_declined", "The end user denied the authorization request.",
          SPO_DEVICE_DECLINED, 0 },
        { "expired_token", "AADSTS70020: This device code has expired.", SPO_DEVICE_EXPIRED, 0 },
        { "bad_verification_code", "The device_code sent to the /token endpoint wasn't recognized.",
          SPO_DEVICE_BAD_CODE, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        started(i * 3);
        fake_add(&F, oauth_error(cases[i].error, cases[i].desc), 0, 0);
        assert_int_equal(poll_once(), cases[i].outcome);
        assert_int_equal(D.status, 400);
        assert_string_equal(D.code, cases[i].error);
        assert_int_equal(Dg.token.len, 0);
        assert_int_equal(Dg.refresh[0], '\0');
        if (cases[i].keeps_code)
            assert_string_equal(Dg.device_code, DEVICE_CODE);
        else
            assert_true(all_zero(Dg.device_code, sizeof Dg.device_code));
        assert_int_equal(Dg.interval, cases[i].outcome == SPO_DEVICE_SLOW_DOWN ? 10 : 5);
        assert_true(all_zero(Dg.body, sizeof Dg.body));
        assert_int_equal(F.connected, 0);
    }
    assert_non_null(strstr(sent(), "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\n"));
    assert_non_null(strstr(sent(), "\r\n\r\ngrant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
                                   "&client_id=11111111-2222-3333-4444-555555555555&device_code=" DEVICE_CODE));
    assert_null(strstr(sent(), "client_secret"));
}

static void test_poll_slow_down_accumulates(void **state)
{
    (void)state;
    started(0);
    for (int i = 0; i < 3; i++)
        fake_add(&F, oauth_error("slow_down", "slow down"), 0, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(poll_once(), SPO_DEVICE_SLOW_DOWN);
    assert_int_equal(Dg.interval, 5 + 3 * SPO_DEVICE_SLOW_DOWN_S);
}

static void test_poll_success(void **state)
{
    (void)state;
    started(5);
    fake_add(&F, oauth_error("authorization_pending", "AADSTS70016: pending"), 0, 0);
    fake_add(&F, http_json(200, "OK", TOKEN_OK), 0, 0);
    assert_int_equal(poll_once(), SPO_DEVICE_PENDING);
    assert_int_equal(poll_once(), SPO_DEVICE_SUCCESS);
    assert_string_equal(Dg.token.bearer, "Bearer " ACCESS);
    assert_int_equal(Dg.token.len, strlen(ACCESS));
    assert_int_equal(Dg.token.lifetime_s, 3599);
    assert_int_equal(Dg.token.obtained_ms, 5000);
    assert_int_equal(Dg.token.expires_wall, 1700000100 + 3599);
    assert_string_equal(Dg.refresh, REFRESH_NEW);
    assert_string_equal(Dg.scope, "https://graph.example.test/Sites.Read.All");
    assert_true(all_zero(Dg.device_code, sizeof Dg.device_code));
    assert_true(all_zero(Dg.body, sizeof Dg.body));
    /* the flow is over: a further poll is a caller's mistake */
    assert_int_equal(poll_once(), SPO_E_ARG);
}

/* Found by fuzzing (tests/fuzz/corpus/device/crash-token-nul): a token with \u0000 in it was a
 * success whose C string is shorter than its length; a control character in a value that goes back
 * to the service (token, refresh token, device code) makes the answer malformed. */
static void test_control_characters_in_credentials(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"access_token\":\"ab\\u0000cd\",\"expires_in\":3599}",
        "{\"access_token\":\"ab\\ncd\",\"expires_in\":3599}",
        "{\"access_token\":\"abcd\",\"refresh_token\":\"r\\u0000x\",\"expires_in\":3599}",
        "{\"access_token\":\"abcd\",\"refresh_token\":\"r\\u007f\",\"expires_in\":3599}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        started(0);
        fake_add(&F, http_json(200, "OK", bad[i]), 0, 0);
        assert_int_equal(poll_once(), SPO_E_JSON_SHAPE);
        assert_true(all_zero(&Dg.token, sizeof Dg.token));
        assert_true(all_zero(Dg.refresh, sizeof Dg.refresh));
    }
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"device_code\":\"d\\u0001c\",\"user_code\":\"U\","
                                      "\"verification_uri\":\"https://v\"}"), 0, 0);
    assert_int_equal(start(), SPO_E_JSON_SHAPE);
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"device_code\":\"dc\",\"user_code\":\"\\u0000U\","
                                      "\"verification_uri\":\"https://v\"}"), 0, 0);
    assert_int_equal(start(), SPO_E_JSON_SHAPE);
}

static void test_poll_other_refusals(void **state)
{
    (void)state;
    started(0);
    fake_add(&F, http_json(401, "Unauthorized",
        "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000218: The request body must "
        "contain the following parameter: 'client_assertion' or 'client_secret'.\"}"), 0, 0);
    assert_int_equal(poll_once(), SPO_E_AUTH);
    assert_string_equal(D.aadsts, "AADSTS7000218");
    assert_string_equal(Dg.device_code, DEVICE_CODE); /* not an outcome of the flow: kept */
    started(0);
    fake_add(&F, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}", 0, 0);
    assert_int_equal(poll_once(), SPO_E_AUTH);
    assert_int_equal(D.status, 503);
    assert_int_equal(D.retry_after_ms, 7000);
    /* a 200 without an access token */
    started(0);
    fake_add(&F, http_json(200, "OK", "{\"token_type\":\"Bearer\",\"expires_in\":3599}"), 0, 0);
    assert_int_equal(poll_once(), SPO_E_JSON_SHAPE);
    assert_int_equal(Dg.token.len, 0);
}

static void test_poll_oversized_tokens(void **state)
{
    (void)state;
    static char body[2 * SPO_REFRESH_MAX + SPO_TOKEN_MAX];
    /* access token one byte too long */
    int n = snprintf(body, sizeof body, "{\"expires_in\":3599,\"refresh_token\":\"r\",\"access_token\":\"");
    memset(body + n, 'x', SPO_TOKEN_MAX);
    strcpy(body + n + SPO_TOKEN_MAX, "\"}");
    static char resp[sizeof body + 256];
    /* http_json's buffers are too small for these bodies: build the response here */
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    setup_conn(0);
    fake_add(&F, resp, 0, 0);
    strcpy(Dg.device_code, DEVICE_CODE);
    assert_int_equal(poll_once(), SPO_E_TOO_LONG);
    assert_non_null(strstr(D.message, "SPO_TOKEN_MAX"));
    assert_true(all_zero(&Dg.token, sizeof Dg.token));
    assert_true(all_zero(Dg.refresh, sizeof Dg.refresh));
    /* refresh token one byte too long */
    n = snprintf(body, sizeof body, "{\"expires_in\":3599,\"access_token\":\"a\",\"refresh_token\":\"");
    memset(body + n, 'r', SPO_REFRESH_MAX);
    strcpy(body + n + SPO_REFRESH_MAX, "\"}");
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    setup_conn(0);
    fake_add(&F, resp, 0, 0);
    strcpy(Dg.device_code, DEVICE_CODE);
    assert_int_equal(poll_once(), SPO_E_TOO_LONG);
    assert_true(all_zero(&Dg.token, sizeof Dg.token));
    assert_true(all_zero(Dg.refresh, sizeof Dg.refresh));
    /* scope one byte too long */
    n = snprintf(body, sizeof body, "{\"expires_in\":3599,\"access_token\":\"a\",\"scope\":\"");
    memset(body + n, 's', SPO_GRANTED_SCOPE_MAX);
    strcpy(body + n + SPO_GRANTED_SCOPE_MAX, "\"}");
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    setup_conn(0);
    fake_add(&F, resp, 0, 0);
    strcpy(Dg.device_code, DEVICE_CODE);
    assert_int_equal(poll_once(), SPO_E_TOO_LONG);
    assert_int_equal(Dg.token.len, 0);
}

static int refresh(void)
{
    return spo_auth_refresh(&Dg, &CFG, &C, &R, 9000, 1700001000, &D);
}

static void test_refresh_rotates(void **state)
{
    (void)state;
    spo_delegated_wipe(&Dg);
    strcpy(Dg.refresh, REFRESH_OLD);
    setup_conn(2);
    fake_add(&F, http_json(200, "OK", TOKEN_OK), 0, 0);
    assert_int_equal(refresh(), SPO_OK);
    assert_string_equal(Dg.refresh, REFRESH_NEW); /* the new one replaces the old */
    assert_string_equal(Dg.token.bearer, "Bearer " ACCESS);
    assert_int_equal(Dg.token.expires_wall, 1700001000 + 3599);
    assert_non_null(strstr(sent(), "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\n"));
    assert_non_null(strstr(sent(), "\r\n\r\ngrant_type=refresh_token&client_id=11111111-2222-3333-4444-"
                                   "555555555555&scope=https%3A%2F%2Fgraph.example.test%2FSites.Read.All"
                                   "%20offline_access&refresh_token=" REFRESH_OLD));
    assert_null(strstr(sent(), "client_secret"));
    assert_true(all_zero(Dg.body, sizeof Dg.body));
}

static void test_refresh_answer_without_refresh_token_keeps_old(void **state)
{
    (void)state;
    spo_delegated_wipe(&Dg);
    strcpy(Dg.refresh, "old+/=%x");  /* bytes the form encodes: decoded back exactly */
    setup_conn(0);
    fake_add(&F, http_json(200, "OK", "{\"expires_in\":3599,\"access_token\":\"" ACCESS "\"}"), 0, 0);
    assert_int_equal(refresh(), SPO_OK);
    assert_non_null(strstr(sent(), "&refresh_token=old%2B%2F%3D%25x"));
    assert_string_equal(Dg.refresh, "old+/=%x");
}

static void test_refresh_expired(void **state)
{
    (void)state;
    spo_delegated_wipe(&Dg);
    strcpy(Dg.refresh, REFRESH_OLD);
    setup_conn(0);
    fake_add(&F, http_json(400, "Bad Request",
        "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS700082: The refresh token has expired "
        "due to inactivity. The token was issued on 2022-03-02T03:54:33.8043551Z and was inactive for "
        "90.00:00:00.\\r\\nTrace ID: af03a572\",\"error_codes\":[700082],\"trace_id\":\"af03a572\"}"),
        0, 0);
    assert_int_equal(refresh(), SPO_E_AUTH);
    assert_string_equal(D.code, "invalid_grant");
    assert_string_equal(D.aadsts, "AADSTS700082");
    assert_null(strstr(D.message, REFRESH_OLD));
    assert_string_equal(Dg.refresh, REFRESH_OLD); /* the caller decides what to do with it */
    assert_true(all_zero(&Dg.token, sizeof Dg.token));
    assert_true(all_zero(Dg.body, sizeof Dg.body));
}

static void test_refresh_failures_keep_the_old_token_for_a_retry(void **state)
{
    (void)state;
    spo_delegated_wipe(&Dg);
    strcpy(Dg.refresh, "old+/=%x");
    setup_conn(0);
    fake_add(&F, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 2\r\n\r\n{}", 0, 0);
    fake_add(&F, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"refresh_token\":\"half", 1, 0);
    fake_add(&F, http_json(200, "OK", TOKEN_OK), 0, 0);
    assert_int_equal(refresh(), SPO_E_AUTH);
    assert_int_equal(D.status, 503);
    assert_int_equal(D.retry_after_ms, 2000);
    assert_string_equal(Dg.refresh, "old+/=%x");
    assert_true(refresh() < 0); /* cut off inside the new refresh token */
    assert_string_equal(Dg.refresh, "old+/=%x");
    assert_int_equal(Dg.token.len, 0);
    assert_int_equal(refresh(), SPO_OK);
    assert_string_equal(Dg.refresh, REFRESH_NEW);
    assert_int_equal(fake_sent_count(&F, "&refresh_token=old%2B%2F%3D%25x"), 3);
}

static void test_refresh_needs_a_token_and_fitting_body(void **state)
{
    (void)state;
    spo_delegated_wipe(&Dg);
    setup_conn(0);
    assert_int_equal(refresh(), SPO_E_ARG);
    assert_int_equal(F.requests, 0);
    /* a refresh token of SPO_REFRESH_MAX - 1 bytes that all need %XX: does not fit the body */
    memset(Dg.refresh, '+', SPO_REFRESH_MAX - 1);
    Dg.refresh[SPO_REFRESH_MAX - 1] = '\0';
    assert_int_equal(refresh(), SPO_E_TOO_LONG);
    assert_non_null(strstr(D.message, "SPO_DELEGATED_BODY_MAX"));
    assert_int_equal(F.requests, 0);
    assert_true(all_zero(Dg.body, sizeof Dg.body));
    assert_int_equal(Dg.refresh[0], '+'); /* not sent, kept */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_in_every_split),
        cmocka_unit_test(test_start_defaults_and_string_numbers),
        cmocka_unit_test(test_start_bad_shapes),
        cmocka_unit_test(test_start_oversized_fields),
        cmocka_unit_test(test_start_terminal_escapes_made_safe),
        cmocka_unit_test(test_start_public_flows_disabled),
        cmocka_unit_test(test_poll_outcomes),
        cmocka_unit_test(test_poll_slow_down_accumulates),
        cmocka_unit_test(test_poll_success),
        cmocka_unit_test(test_poll_other_refusals),
        cmocka_unit_test(test_control_characters_in_credentials),
        cmocka_unit_test(test_poll_oversized_tokens),
        cmocka_unit_test(test_refresh_rotates),
        cmocka_unit_test(test_refresh_answer_without_refresh_token_keeps_old),
        cmocka_unit_test(test_refresh_expired),
        cmocka_unit_test(test_refresh_failures_keep_the_old_token_for_a_retry),
        cmocka_unit_test(test_refresh_needs_a_token_and_fitting_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
