/* URL parsing and origin comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spo/http.h"

static void parse_ok(const char *s, const char *host, uint16_t port, const char *target)
{
    spo_url u;
    int rc = spo_url_parse(s, strlen(s), &u);
    if (rc != SPO_OK)
        fail_msg("%s: rc %d", s, rc);
    assert_int_equal(u.host.len, strlen(host));
    assert_memory_equal(u.host.ptr, host, u.host.len);
    assert_int_equal(u.port, port);
    assert_int_equal(u.target.len, strlen(target));
    assert_memory_equal(u.target.ptr, target, u.target.len);
}

static void parse_bad(const char *s, size_t len)
{
    spo_url u;
    int rc = spo_url_parse(s, len, &u);
    if (rc != SPO_E_URL)
        fail_msg("accepted (rc %d): %.*s", rc, (int)len, s);
}

#define BAD(lit) parse_bad((lit), sizeof(lit) - 1)

static void valid_urls(void **state)
{
    (void)state;
    parse_ok("https://graph.microsoft.com/v1.0/sites?search=contoso", "graph.microsoft.com", 443,
             "/v1.0/sites?search=contoso");
    parse_ok("https://graph.microsoft.com", "graph.microsoft.com", 443, "/");
    parse_ok("https://graph.microsoft.com/", "graph.microsoft.com", 443, "/");
    parse_ok("HTTPS://Contoso.SharePoint.com:8443/a/b", "Contoso.SharePoint.com", 8443, "/a/b");
    parse_ok("https://h:1/x", "h", 1, "/x");
    parse_ok("https://h:65535", "h", 65535, "/");
    parse_ok("https://h:00443/", "h", 443, "/");
    parse_ok("https://h/p?q=1#frag", "h", 443, "/p?q=1");
    parse_ok("https://h#frag", "h", 443, "/");
    parse_ok("https://h/#", "h", 443, "/");
    parse_ok("https://[::1]/x", "::1", 443, "/x");
    parse_ok("https://[2001:db8::a:1]:8443", "2001:db8::a:1", 8443, "/");
    parse_ok("https://[::ffff:192.0.2.1]/", "::ffff:192.0.2.1", 443, "/");
    parse_ok("https://192.0.2.1/", "192.0.2.1", 443, "/");
    parse_ok("https://my_host-1.example/", "my_host-1.example", 443, "/");
    parse_ok("https://graph.microsoft.com/v1.0/sites?$skiptoken=a%3Db&$top=999",
             "graph.microsoft.com", 443, "/v1.0/sites?$skiptoken=a%3Db&$top=999");
    /* A '@' in the path or query is no userinfo. */
    parse_ok("https://h/users/a@b.com?x=@", "h", 443, "/users/a@b.com?x=@");
}

static void invalid_urls(void **state)
{
    (void)state;
    BAD("http://graph.microsoft.com/");
    BAD("ftp://h/");
    BAD("https:/h/");
    BAD("https:h");
    BAD("https://");
    BAD("https:///path");
    BAD("https://:443/");
    BAD("//h/");
    BAD("h/");
    BAD("https://user@h/");
    BAD("https://user:pw@h/");
    BAD("https://good.com@evil.com/");
    BAD("https://h:0/");
    BAD("https://h:65536/");
    BAD("https://h:99999/");
    BAD("https://h:443443/");
    BAD("https://h:/");
    BAD("https://h:x/");
    BAD("https://h:443:1/");
    BAD("https://h /");
    BAD("https://h/a b");
    BAD("https://h/a\tb");
    BAD("https://h/a\r\nHost: evil");
    BAD("https://h/\x7f");
    BAD("https://h/caf\xc3\xa9");
    BAD("https://h\0.evil/");
    BAD("https://h\\evil/");
    BAD("https://h%2e/");
    BAD("https://h..com/");
    BAD("https://.h/");
    BAD("https://h./");
    BAD("https://[::1/");
    BAD("https://[]/");
    BAD("https://[::1]x/");
    BAD("https://[::1]:/");
    BAD("https://[fe80::1%25eth0]/");
    BAD("https://[g::1]/");
    BAD("https://[1.2.3.4]/");
    BAD("https://h?q=1");
    BAD("https://h/#frag ment");
}

static void limits(void **state)
{
    (void)state;
    char *s = malloc(SPO_URL_MAX + 1);
    assert_non_null(s);
    memcpy(s, "https://h/", 10);
    memset(s + 10, 'a', SPO_URL_MAX - 10);
    spo_url u;
    assert_int_equal(spo_url_parse(s, SPO_URL_MAX - 1, &u), SPO_OK);
    assert_int_equal(u.target.len, SPO_URL_MAX - 1 - 9);
    assert_int_equal(spo_url_parse(s, SPO_URL_MAX, &u), SPO_E_URL);

    /* The longest host is SPO_HTTP_HOST_MAX - 1 bytes, so it fits a NUL-terminated copy. */
    memcpy(s, "https://", 8);
    memset(s + 8, 'h', SPO_HTTP_HOST_MAX - 1);
    assert_int_equal(spo_url_parse(s, 8 + SPO_HTTP_HOST_MAX - 1, &u), SPO_OK);
    assert_int_equal(u.host.len, SPO_HTTP_HOST_MAX - 1);
    memset(s + 8, 'h', SPO_HTTP_HOST_MAX);
    assert_int_equal(spo_url_parse(s, 8 + SPO_HTTP_HOST_MAX, &u), SPO_E_URL);
    free(s);

    assert_int_equal(spo_url_parse("https://h/", 10, NULL), SPO_E_ARG);
    assert_int_equal(spo_url_parse(NULL, 10, &u), SPO_E_URL);
    /* Only len bytes are read: a longer string is cut where the caller says. */
    assert_int_equal(spo_url_parse("https://h/a b", 10, &u), SPO_OK);
    assert_int_equal(u.target.len, 1);
}

static int origin(const char *a, const char *b)
{
    spo_url ua, ub;
    assert_int_equal(spo_url_parse(a, strlen(a), &ua), SPO_OK);
    assert_int_equal(spo_url_parse(b, strlen(b), &ub), SPO_OK);
    return spo_url_same_origin(&ua, &ub);
}

static void same_origin(void **state)
{
    (void)state;
    assert_true(origin("https://graph.microsoft.com/v1.0", "https://GRAPH.microsoft.com/x?y"));
    assert_true(origin("https://graph.microsoft.com/", "https://graph.microsoft.com:443/"));
    assert_false(origin("https://graph.microsoft.com/", "https://graph.microsoft.com:8443/"));
    assert_false(origin("https://graph.microsoft.com/", "https://graph.microsoft.co/"));
    assert_false(origin("https://graph.microsoft.com/", "https://graph.microsoft.com.evil.com/"));
    assert_false(origin("https://graph.microsoft.com/", "https://evil.com/graph.microsoft.com"));
    assert_true(origin("https://[::1]/", "https://[::1]:443/a"));
    spo_url u;
    assert_int_equal(spo_url_parse("https://h/", 10, &u), SPO_OK);
    assert_false(spo_url_same_origin(&u, NULL));
    assert_false(spo_url_same_origin(NULL, &u));
}

/* Every byte value: exactly the 22 hex digits have a value, and it is theirs. */
static void hexval(void **state)
{
    (void)state;
    int digits = 0;
    for (int c = -128; c < 256; c++) {
        int v = spo_url_hexval(c);
        const char *p = c > 0 ? strchr("0123456789abcdef", c >= 'A' && c <= 'F' ? c + 32 : c) : NULL;
        if (p && *p) {
            assert_int_equal(v, (int)(p - "0123456789abcdef"));
            digits++;
        } else {
            assert_int_equal(v, -1);
        }
    }
    assert_int_equal(digits, 22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_urls),
        cmocka_unit_test(invalid_urls),
        cmocka_unit_test(limits),
        cmocka_unit_test(same_origin),
        cmocka_unit_test(hexval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
