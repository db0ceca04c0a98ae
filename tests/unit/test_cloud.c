/* National clouds: each name gives the identity platform and Graph roots that belong together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "spo/spo.h"

static void test_clouds(void **state)
{
    (void)state;
    const spo_cloud *c = spo_cloud_find("public");
    assert_non_null(c);
    assert_string_equal(c->authority, SPO_DEFAULT_AUTHORITY);
    assert_string_equal(c->graph, SPO_DEFAULT_GRAPH);
    c = spo_cloud_find("usgov");
    assert_string_equal(c->authority, "https://login.microsoftonline.us");
    assert_string_equal(c->graph, "https://graph.microsoft.us");
    c = spo_cloud_find("usgov-dod");
    assert_string_equal(c->authority, "https://login.microsoftonline.us");
    assert_string_equal(c->graph, "https://dod-graph.microsoft.us");
    c = spo_cloud_find("china");
    assert_string_equal(c->authority, "https://login.partner.microsoftonline.cn");
    assert_string_equal(c->graph, "https://microsoftgraph.chinacloudapi.cn");
    assert_null(spo_cloud_find("germany")); /* retired in 2021 */
    assert_null(spo_cloud_find(""));
    assert_null(spo_cloud_find(NULL));
    /* every root is a valid https URL, so the scope derived from it is too */
    const char *names[] = { "public", "usgov", "usgov-dod", "china" };
    for (size_t i = 0; i < 4; i++) {
        spo_url u;
        c = spo_cloud_find(names[i]);
        assert_int_equal(spo_url_parse(c->authority, strlen(c->authority), &u), SPO_OK);
        assert_int_equal(spo_url_parse(c->graph, strlen(c->graph), &u), SPO_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_clouds) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
