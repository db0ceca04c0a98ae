/* client: certificate sign-in and the clock of a device without an RTC, over a scripted transport.
 * The credential is made with openssl at test time (skipped, loudly, without it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_transport.h"
#include "spo/spo.h"

static fake_transport F;
static spo_client C;
static spo_port P;
static int64_t wall;     /* the device's wall clock */
static int have_pki;
static char dir[] = "/tmp/spo_client_cert_XXXXXX";
static char pem_path[64], pem4096_path[64];
static char resp_buf[8][4096];
static int nresp;
static int notes;
static int64_t note_offset;

#define TENANT "aaaabbbb-0000-cccc-1111-dddd2222eeee"
#define CLIENT_ID "535fb089-9ff3-47b6-9bfb-4f1264799865"
/* The service's time in these tests: a month after the build (a device clock before the build
 * date is "implausible"). */
#define NOW_REAL ((int64_t)SPO_BUILD_TIME + 30 * 86400)

static int64_t fake_wall(void *ctx)
{
    (void)ctx;
    return wall;
}

static void on_note(void *ctx, int64_t offset_s, const char *why)
{
    (void)ctx;
    (void)why;
    notes++;
    note_offset = offset_s;
}

/* An HTTP date for t (the IMF-fixdate format Entra sends). */
static void http_date(int64_t t, char *out, size_t cap)
{
    static const char *wd[] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
    static const char *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int64_t days = t / 86400, sec = t % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[days % 7], (int)d, mon[m - 1],
             (int)y, (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}

static const char *answer(int status, const char *reason, int64_t date, const char *body)
{
    char *b = resp_buf[nresp++ % 8];
    char dh[80] = "";
    if (date) {
        char d[40];
        http_date(date, d, sizeof d);
        snprintf(dh, sizeof dh, "Date: %s\r\n", d);
    }
    snprintf(b, sizeof resp_buf[0],
             "HTTP/1.1 %d %s\r\n%sContent-Type: application/json; charset=utf-8\r\n"
             "Content-Length: %zu\r\n\r\n%s", status, reason, dh, strlen(body), body);
    return b;
}

static const char OK[] = "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"eyJ0.eyJ1.c2ln\"}";
static const char E700024[] =
    "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS700024: Client assertion is not "
    "within its valid time range. Current time: 2026-11-18T08:53:20Z\\r\\nTrace ID: x\","
    "\"error_codes\":[700024],\"trace_id\":\"t-1\"}";

static int sh(const char *cmd)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
    return system(buf);
}

static int group_setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    have_pki = sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 30 "
                  "-subj /CN=spo-test && cat c.pem k.pem > app.pem && "
                  "openssl req -x509 -newkey rsa:4096 -nodes -keyout k4.pem -out c4.pem -days 30 "
                  "-subj /CN=spo-test && cat c4.pem k4.pem > app4096.pem") == 0;
    snprintf(pem_path, sizeof pem_path, "%s/app.pem", dir);
    snprintf(pem4096_path, sizeof pem4096_path, "%s/app4096.pem", dir);
    if (!have_pki)
        fprintf(stderr, "test_client_cert: openssl failed; certificate tests skipped\n");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sh("rm -f k.pem c.pem app.pem k4.pem c4.pem app4096.pem");
    rmdir(dir);
    return 0;
}

#define NEED_PKI()          \
    do {                    \
        if (!have_pki)      \
            skip();         \
    } while (0)

/* A client on the POSIX port with the device clock at device_wall, talking to the fake. */
static void setup_client(int64_t device_wall, const char *path, uint8_t alg)
{
    P = *spo_port_posix();
    P.wall_time = fake_wall;
    wall = device_wall;
    notes = 0;
    note_offset = 0;
    static const uint8_t dummy_ca[] = "-----BEGIN CERTIFICATE-----\n";
    spo_config cfg = { 0 };
    cfg.tenant = TENANT;
    cfg.client_id = CLIENT_ID;
    static spo_cert_cred cred;
    spo_config_use_certificate(&cfg, &cred, path, NULL, alg);
    cfg.client_secret = path ? NULL : "not-a-real-secret";
    cfg.authority_host = "https://login.example.test";
    cfg.graph_url = "https://graph.example.test";
    cfg.ca_pem = dummy_ca;
    cfg.ca_pem_len = sizeof dummy_ca - 1;
    cfg.max_retries = 2;
    cfg.clock_note = on_note;
    assert_int_equal(spo_client_init(&C, &P, &cfg), SPO_OK);
    fake_init(&F, 0);
    spo_http_transport tr = fake_as_transport(&F);
    C.http.tr = tr;
}

/* The n-th (0-based) request body sent, NUL-terminated in a static buffer. */
static const char *body_of(int n)
{
    static char out[8192];
    F.sent[F.sent_len] = '\0';
    const char *p = F.sent;
    for (int i = 0; i <= n; i++) {
        p = strstr(p, "\r\n\r\n");
        assert_non_null(p);
        p += 4;
    }
    const char *end = strstr(p, "POST /");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    assert_true(len < sizeof out);
    memcpy(out, p, len);
    out[len] = '\0';
    return out;
}

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '-') return 62;
    if (ch == '_') return 63;
    return -1;
}

/* The claims of the assertion in body, decoded, and its header. */
static void claims_of(const char *body, char *header, char *claims, size_t cap)
{
    const char *a = strstr(body, "client_assertion=");
    assert_non_null(a);
    a += strlen("client_assertion=");
    for (int part = 0; part < 2; part++) {
        char *out = part ? claims : header;
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;
        for (; *a && *a != '.'; a++) {
            int v = b64val(*a);
            assert_true(v >= 0);
            acc = acc << 6 | (uint32_t)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                assert_true(o + 1 < cap);
                out[o++] = (char)(acc >> bits & 0xff);
            }
        }
        out[o] = '\0';
        assert_int_equal(*a, '.');
        a++;
    }
}

static int64_t claim_num(const char *claims, const char *name)
{
    char key[16];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(claims, key);
    assert_non_null(p);
    return strtoll(p + strlen(key), NULL, 10);
}

static int count_requests(void)
{
    return fake_sent_count(&F, "POST /" TENANT "/oauth2/v2.0/token HTTP/1.1");
}

static void test_token_request_carries_assertion(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(NOW_REAL, pem_path, SPO_JWT_PS256);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    const spo_token *t;
    assert_int_equal(spo_client_token(&C, &t), SPO_OK);
    assert_int_equal(count_requests(), 1);
    const char *b = body_of(0);
    assert_non_null(strstr(b, "grant_type=client_credentials&client_id=" CLIENT_ID "&scope="));
    assert_non_null(strstr(b, "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
                              "assertion-type%3Ajwt-bearer&client_assertion=eyJ"));
    assert_null(strstr(b, "client_secret"));
    char h[512], cl[1024];
    claims_of(b, h, cl, sizeof cl);
    assert_non_null(strstr(h, "\"alg\":\"PS256\""));
    assert_non_null(strstr(h, "\"x5t#S256\":"));
    assert_non_null(strstr(cl, "\"aud\":\"https://login.example.test/" TENANT "/oauth2/v2.0/token\""));
    assert_int_equal(claim_num(cl, "iat"), NOW_REAL);
    assert_int_equal(claim_num(cl, "exp"), NOW_REAL + SPO_ASSERTION_LIFETIME_S);
    /* a good clock is never touched */
    assert_int_equal(notes, 0);
    assert_int_equal(C.clock_offset, 0);
    assert_int_equal(t->expires_wall, NOW_REAL + 3599);
    spo_client_cleanup(&C);
}

/* The credential's storage is the caller's: a certificate without it (or without its setter) is
 * refused at init, with a message, before anything is read or sent; cleanup wipes the caller's
 * credential. */
static void test_cert_storage_is_the_callers(void **state)
{
    (void)state;
    NEED_PKI();
    static const uint8_t dummy_ca[] = "-----BEGIN CERTIFICATE-----\n";
    spo_config cfg = { 0 };
    cfg.tenant = TENANT;
    cfg.client_id = CLIENT_ID;
    cfg.client_certificate_path = pem_path;
    cfg.authority_host = "https://login.example.test";
    cfg.graph_url = "https://graph.example.test";
    cfg.ca_pem = dummy_ca;
    cfg.ca_pem_len = sizeof dummy_ca - 1;
    /* the path alone, without the setter: the certificate code may not be linked */
    assert_int_equal(spo_client_init(&C, spo_port_posix(), &cfg), SPO_E_ARG);
    assert_non_null(strstr(spo_client_diag(&C)->message, "spo_config_use_certificate()"));
    spo_client_cleanup(&C);
    spo_config_use_certificate(&cfg, NULL, pem_path, NULL, SPO_JWT_PS256);
    assert_int_equal(spo_client_init(&C, spo_port_posix(), &cfg), SPO_E_ARG);
    assert_non_null(strstr(spo_client_diag(&C)->message, "spo_config.cert"));
    spo_client_cleanup(&C);
    static spo_cert_cred cred;
    spo_config_use_certificate(&cfg, &cred, pem_path, NULL, SPO_JWT_PS256);
    assert_int_equal(spo_client_init(&C, spo_port_posix(), &cfg), SPO_OK);
    assert_int_equal(cred.loaded, 1);
    spo_client_cleanup(&C);
    assert_int_equal(cred.loaded, 0);
    assert_int_equal(cred.key_len, 0);
}

static void test_rs256_option(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(NOW_REAL, pem_path, SPO_JWT_RS256);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    assert_int_equal(spo_client_token(&C, NULL), SPO_OK);
    char h[512], cl[1024];
    claims_of(body_of(0), h, cl, sizeof cl);
    assert_non_null(strstr(h, "\"alg\":\"RS256\""));
    assert_non_null(strstr(h, "\"x5t\":"));
    assert_null(strstr(h, "x5t#S256"));
    spo_client_cleanup(&C);
}

/* A day behind: Entra says AADSTS700024; the Date of that answer sets the clock; one retry. */
static void test_700024_corrected_once(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(NOW_REAL - 86400, pem_path, SPO_JWT_PS256);
    fake_add(&F, answer(401, "Unauthorized", NOW_REAL, E700024), 0, 0);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    const spo_token *t;
    assert_int_equal(spo_client_token(&C, &t), SPO_OK);
    assert_int_equal(count_requests(), 2);
    char h[512], cl[1024];
    claims_of(body_of(0), h, cl, sizeof cl);
    assert_int_equal(claim_num(cl, "iat"), NOW_REAL - 86400);
    claims_of(body_of(1), h, cl, sizeof cl);
    assert_int_equal(claim_num(cl, "iat"), NOW_REAL);
    assert_int_equal(claim_num(cl, "nbf"), NOW_REAL);
    assert_int_equal(C.clock_offset, 86400);
    assert_int_equal(spo_client_wall(&C), NOW_REAL);
    assert_int_equal(spo_tls_wall(), NOW_REAL); /* mbedTLS's certificate checks, too */
    assert_int_equal(notes, 1);
    assert_int_equal(note_offset, 86400);
    assert_int_equal(t->expires_wall, NOW_REAL + 3599);
    /* the bookkeeping stays monotonic: the token is fresh whatever the wall clock says */
    wall += 10 * 365 * 86400LL;
    assert_int_equal(spo_client_token(&C, NULL), SPO_OK);
    assert_int_equal(count_requests(), 2);
    spo_client_cleanup(&C);
    assert_int_equal(spo_tls_wall(), wall); /* cleanup hands the port's clock back */
}

/* Still refused after the correction: a clear error, and never a third request. */
static void test_second_700024_is_an_error(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(NOW_REAL + 3 * 365 * 86400LL, pem_path, SPO_JWT_PS256);
    fake_add(&F, answer(401, "Unauthorized", NOW_REAL, E700024), 0, 0);
    fake_add(&F, answer(401, "Unauthorized", NOW_REAL, E700024), 0, 0);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    assert_int_equal(spo_client_token(&C, NULL), SPO_E_AUTH);
    assert_int_equal(count_requests(), 2);
    assert_string_equal(spo_client_diag(&C)->aadsts, "AADSTS700024");
    assert_int_equal(C.clock_offset, -3 * 365 * 86400LL);
    assert_int_equal(C.clock_set, 1);
    assert_int_equal(notes, 1);
    assert_int_equal(C.auth.token.len, 0);
    spo_client_cleanup(&C);
}

/* AADSTS700024 without a Date header: nothing to correct from, no retry. */
static void test_700024_without_date(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(NOW_REAL - 86400, pem_path, SPO_JWT_PS256);
    fake_add(&F, answer(401, "Unauthorized", 0, E700024), 0, 0);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    assert_int_equal(spo_client_token(&C, NULL), SPO_E_AUTH);
    assert_int_equal(count_requests(), 1);
    assert_int_equal(C.clock_set, 0);
    spo_client_cleanup(&C);
}

/* 1970: the time is asked for (no credential sent) before the first assertion is signed. */
static void test_implausible_clock_corrected_first(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(12, pem_path, SPO_JWT_PS256);
    fake_add(&F, answer(200, "OK", NOW_REAL, "{\"issuer\":\"x\"}"), 0, 0);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    const spo_token *t;
    assert_int_equal(spo_client_token(&C, &t), SPO_OK);
    /* the time comes from the tenant's public metadata: no sign-in attempt, nothing signed */
    assert_int_equal(fake_sent_count(&F, "GET /" TENANT "/v2.0/.well-known/openid-configuration "
                                         "HTTP/1.1\r\n"), 1);
    assert_int_equal(strncmp(F.sent, "GET /", 5), 0);
    assert_int_equal(count_requests(), 1);
    assert_int_equal(strlen(body_of(0)), 0);
    char h[512], cl[1024];
    claims_of(body_of(1), h, cl, sizeof cl);
    assert_int_equal(claim_num(cl, "iat"), NOW_REAL);
    assert_int_equal(C.clock_offset, NOW_REAL - 12);
    assert_int_equal(notes, 1);
    assert_int_equal(t->expires_wall, NOW_REAL + 3599);
    spo_client_cleanup(&C);
}

/* 1970 and no Date anywhere: a clear error, no assertion signed or sent. */
static void test_implausible_clock_without_date(void **state)
{
    (void)state;
    NEED_PKI();
    setup_client(12, pem_path, SPO_JWT_PS256);
    fake_add(&F, answer(200, "OK", 0, "{\"issuer\":\"x\"}"), 0, 0);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    assert_int_equal(spo_client_token(&C, NULL), SPO_E_ARG);
    assert_int_equal(count_requests(), 0); /* the probe alone: nothing signed without a time */
    assert_int_equal(C.clock_unknown, 1);
    assert_non_null(strstr(spo_client_diag(&C)->message, "clock"));
    assert_int_equal(fake_sent_count(&F, "client_assertion"), 0);
    spo_client_cleanup(&C);
}

/* A connection left open to the login host (keep-alive) is reused by a secret's request, but
 * closed before an assertion is signed: signing and a TLS connection do not fit the pool at once. */
static int connects_for_token_after_keepalive(const char *path)
{
    setup_client(NOW_REAL, path, SPO_JWT_PS256);
    spo_url u;
    static const char ping[] = "https://login.example.test/ping";
    assert_int_equal(spo_url_parse(ping, sizeof ping - 1, &u), SPO_OK);
    fake_add(&F, answer(200, "OK", 0, "{}"), 0, 0);
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    spo_http_request req = { .method = "GET", .url = &u };
    spo_http_callbacks cb = { 0 };
    assert_int_equal(spo_http_conn_exchange(&C.http, &req, &cb), 200);
    assert_true(C.http.connected);
    assert_int_equal(spo_client_token(&C, NULL), SPO_OK);
    int n = F.connects;
    spo_client_cleanup(&C);
    return n;
}

static void test_signs_with_no_connection_open(void **state)
{
    (void)state;
    NEED_PKI();
    assert_int_equal(connects_for_token_after_keepalive(NULL), 1);
    assert_int_equal(connects_for_token_after_keepalive(pem_path), 2);
}

/* RSA-4096 and the longest token endpoint the client accepts: the body fits SPO_AUTH_BODY_MAX. */
static void test_rsa4096_long_aud_fits(void **state)
{
    (void)state;
    NEED_PKI();
    static spo_cert_cred cred;
    static spo_auth a;
    static spo_http_conn conn;
    static spo_json_reader r;
    spo_diag d;
    assert_int_equal(spo_cert_load_file(&cred, spo_port_posix(), pem4096_path, NULL), SPO_OK);
    assert_int_equal(cred.key_bits, 4096);
    static char authority[SPO_AUTH_URL_MAX];
    static char tenant[SPO_ID_MAX];
    /* authority + "/" + tenant + "/oauth2/v2.0/token" = SPO_AUTH_URL_MAX - 1 bytes */
    size_t tlen = SPO_ID_MAX - 1;
    memset(tenant, 't', tlen);
    size_t alen = SPO_AUTH_URL_MAX - 1 - 1 - tlen - strlen("/oauth2/v2.0/token");
    /* an authority may carry a path (ADFS-style); a host name is at most 255 bytes */
    static const char host[] = "https://login.microsoftonline.com/";
    memcpy(authority, host, sizeof host - 1);
    memset(authority + sizeof host - 1, 'a', alen - (sizeof host - 1));
    spo_auth_config cfg = { authority, tenant, CLIENT_ID, NULL,
                            "https://graph.microsoft.com/.default", &cred, SPO_JWT_PS256,
                            spo_port_posix()->entropy, NULL };
    fake_init(&F, 0);
    spo_http_transport tr = fake_as_transport(&F);
    spo_http_conn_init(&conn, &tr, "spo-test");
    fake_add(&F, answer(200, "OK", NOW_REAL, OK), 0, 0);
    assert_int_equal(spo_auth_client_credentials(&a, &cfg, &conn, &r, 1, NOW_REAL, &d), SPO_OK);
    size_t len = strlen(body_of(0));
    print_message("RSA-4096 body with a %zu-byte aud: %zu of %d bytes\n",
                  (size_t)SPO_AUTH_URL_MAX - 1, len, SPO_AUTH_BODY_MAX);
    assert_true(len > 1900 && len < SPO_AUTH_BODY_MAX);
    spo_cert_wipe(&cred);
}

/* The token cache, delegated mode and the proxy are linked only through their setters: their
 * fields set without them are refused at init with a message naming the setter (never ignored),
 * and with the setter the same settings are accepted. */
static void test_features_need_their_setters(void **state)
{
    (void)state;
    static const uint8_t dummy_ca[] = "-----BEGIN CERTIFICATE-----\n";
    static uint8_t buf[64];
    static spo_delegated user;
    for (int i = 0; i < 3; i++) {
        spo_config cfg = { 0 };
        cfg.tenant = TENANT;
        cfg.client_id = CLIENT_ID;
        cfg.client_secret = i == 1 ? NULL : "not-a-real-secret";
        cfg.graph_url = "https://graph.example.test";
        cfg.ca_pem = dummy_ca;
        cfg.ca_pem_len = sizeof dummy_ca - 1;
        const char *setter = i == 0 ? "spo_config_use_token_cache()"
                           : i == 1 ? "spo_config_use_user()" : "spo_config_use_proxy()";
        if (i == 0) {
            cfg.cache_buf = buf;
            cfg.cache_cap = sizeof buf;
        } else if (i == 1) {
            cfg.user = &user;
        } else {
            cfg.proxy = "http://proxy.example.test:3128";
        }
        assert_int_equal(spo_client_init(&C, spo_port_posix(), &cfg), SPO_E_ARG);
        assert_non_null(strstr(spo_client_diag(&C)->message, setter));
        spo_client_cleanup(&C);
        if (i == 0)
            spo_config_use_token_cache(&cfg, buf, sizeof buf, NULL, NULL, NULL);
        else if (i == 1)
            spo_config_use_user(&cfg, &user, NULL);
        else
            spo_config_use_proxy(&cfg, cfg.proxy, NULL, NULL);
        assert_int_equal(spo_client_init(&C, spo_port_posix(), &cfg), SPO_OK);
        spo_client_cleanup(&C);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_request_carries_assertion),
        cmocka_unit_test(test_cert_storage_is_the_callers),
        cmocka_unit_test(test_features_need_their_setters),
        cmocka_unit_test(test_rs256_option),
        cmocka_unit_test(test_700024_corrected_once),
        cmocka_unit_test(test_second_700024_is_an_error),
        cmocka_unit_test(test_700024_without_date),
        cmocka_unit_test(test_implausible_clock_corrected_first),
        cmocka_unit_test(test_implausible_clock_without_date),
        cmocka_unit_test(test_signs_with_no_connection_open),
        cmocka_unit_test(test_rsa4096_long_aud_fits),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
