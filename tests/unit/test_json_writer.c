/* The JSON writer: escaping table, UTF-8 kept or refused, structure, scalars, sticky errors;
 * list-add's FIELD=VALUE / FIELD:=JSON syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spo/lists.h"

static char out[4096];
static spo_json_buf B;
static spo_json_writer W;

static void start(void)
{
    B = (spo_json_buf){ out, sizeof out, 0 };
    out[0] = '\0';
    spo_json_writer_init(&W, spo_json_buf_put, &B);
}

static void escaping_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        { "plain", 5, "\"plain\"" },
        { "", 0, "\"\"" },
        { "q\"b\\s/", 6, "\"q\\\"b\\\\s/\"" },
        { "\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"" },
        { "\x01\x1f", 2, "\"\\u0001\\u001f\"" },
        { "nul\0in", 6, "\"nul\\u0000in\"" },
        { "del\x7f", 4, "\"del\x7f\"" }, /* DEL is not a JSON control character */
        { "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80\"" },
        { "\xe2\x80\xa8", 3, "\"\xe2\x80\xa8\"" }, /* U+2028 is valid JSON as it is */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        start();
        assert_int_equal(spo_json_writer_string(&W, cases[i].in, cases[i].len), SPO_OK);
        assert_int_equal(spo_json_writer_finish(&W), SPO_OK);
        if (strcmp(out, cases[i].want))
            fail_msg("case %zu: got %s", i, out);
    }
}

static void invalid_utf8_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xff", "\xc3", "\xc3(", "\xc0\xaf" /* overlong '/' */, "\xe0\x80\xaf",
        "\xed\xa0\x80" /* surrogate */, "\xf4\x90\x80\x80" /* > U+10FFFF */, "ok\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        start();
        assert_int_equal(spo_json_writer_object(&W), SPO_OK);
        assert_int_equal(spo_json_writer_key(&W, "k", 1), SPO_OK);
        size_t before = B.len;
        if (spo_json_writer_string(&W, bad[i], strlen(bad[i])) != SPO_E_ARG)
            fail_msg("case %zu accepted", i);
        assert_int_equal(B.len, before); /* nothing of it was written */
        /* sticky: the document can never be finished */
        assert_int_equal(spo_json_writer_end(&W), SPO_E_ARG);
        assert_int_equal(spo_json_writer_finish(&W), SPO_E_ARG);
        assert_false(spo_json_utf8_valid(bad[i], strlen(bad[i])));
    }
    start();
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "\xff", 1), SPO_E_ARG); /* keys too */
}

static void structure(void **state)
{
    (void)state;
    start();
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "fields", 6), SPO_OK);
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "Title", 5), SPO_OK);
    assert_int_equal(spo_json_writer_string(&W, "a\"b", 3), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "T", 1), SPO_OK);
    assert_int_equal(spo_json_writer_scalar(&W, "-1.5e3", 6), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "Ok", 2), SPO_OK);
    assert_int_equal(spo_json_writer_scalar(&W, "true", 4), SPO_OK);
    assert_int_equal(spo_json_writer_end(&W), SPO_OK);
    assert_int_equal(spo_json_writer_finish(&W), SPO_E_ARG); /* the outer object is open */
    assert_int_equal(spo_json_writer_end(&W), SPO_OK);
    assert_int_equal(spo_json_writer_finish(&W), SPO_OK);
    assert_string_equal(out, "{\"fields\":{\"Title\":\"a\\\"b\",\"T\":-1.5e3,\"Ok\":true}}");

    /* Misuse is SPO_E_ARG, and sticky. */
    start();
    assert_int_equal(spo_json_writer_key(&W, "k", 1), SPO_E_ARG); /* no object open */
    assert_int_equal(spo_json_writer_object(&W), SPO_E_ARG);
    start();
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_string(&W, "v", 1), SPO_E_ARG); /* a value where a key is due */
    start();
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "k", 1), SPO_OK);
    assert_int_equal(spo_json_writer_end(&W), SPO_E_ARG); /* a key without its value */
    start();
    assert_int_equal(spo_json_writer_string(&W, "one", 3), SPO_OK);
    assert_int_equal(spo_json_writer_string(&W, "two", 3), SPO_E_ARG); /* one document only */
    start();
    assert_int_equal(spo_json_writer_end(&W), SPO_E_ARG);
    start();
    for (int i = 0; i < SPO_JSON_DEPTH_MAX; i++) {
        assert_int_equal(spo_json_writer_object(&W), SPO_OK);
        assert_int_equal(spo_json_writer_key(&W, "k", 1), SPO_OK);
    }
    assert_int_equal(spo_json_writer_object(&W), SPO_E_ARG);

    /* The buffer running out: SPO_E_TOO_LONG, sticky, the text still terminated. */
    char small[12];
    spo_json_buf sb = { small, sizeof small, 0 };
    spo_json_writer_init(&W, spo_json_buf_put, &sb);
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "key", 3), SPO_OK);
    assert_int_equal(spo_json_writer_string(&W, "too long", 8), SPO_E_TOO_LONG);
    assert_int_equal(spo_json_writer_end(&W), SPO_E_TOO_LONG);
    assert_int_equal(spo_json_writer_finish(&W), SPO_E_TOO_LONG);
    assert_true(strlen(small) < sizeof small);
}

static void scalars(void **state)
{
    (void)state;
    static const char *const good[] = { "0", "-0", "1", "-12", "1.5", "0.25", "1e9", "1E+9",
                                        "2.5e-3", "true", "false", "null", "123456789012345678901234" };
    static const char *const bad[] = { "", "01", "+1", "1.", ".5", "1e", "1e+", "--1", "0x10",
                                       "NaN", "Infinity", "-", " 1", "1 ", "True", "nul", "nulll",
                                       "\"1\"", "1,5", "1.5.5" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (spo_json_scalar_check(good[i], strlen(good[i])) != SPO_OK)
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (spo_json_scalar_check(bad[i], strlen(bad[i])) != SPO_E_ARG)
            fail_msg("accepted '%s'", bad[i]);
}

static spo_json_reader R;

static void objects_and_members(void **state)
{
    (void)state;
    static const char obj[] = " { \"A\" : 1 , \"B\":{\"c\":[1,2]} }\n";
    assert_int_equal(spo_json_object_check(&R, obj, strlen(obj)), SPO_OK);
    assert_int_equal(spo_json_object_check(&R, "[1]", 3), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_object_check(&R, "\"s\"", 3), SPO_E_JSON_SHAPE);
    assert_int_equal(spo_json_object_check(&R, "{\"a\":1,}", 8), SPO_E_JSON_SYNTAX);
    assert_int_equal(spo_json_object_check(&R, "{\"a\":1}{}", 9), SPO_E_JSON_SYNTAX);
    assert_int_equal(spo_json_object_check(&R, "{\"a\":\"\xff\"}", 8), SPO_E_JSON_SYNTAX);
    assert_int_equal(spo_json_object_check(&R, "", 0), SPO_E_JSON_SYNTAX);

    start();
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_members(&W, obj, strlen(obj)), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "Z", 1), SPO_OK);
    assert_int_equal(spo_json_writer_string(&W, "z", 1), SPO_OK);
    assert_int_equal(spo_json_writer_end(&W), SPO_OK);
    assert_int_equal(spo_json_writer_finish(&W), SPO_OK);
    assert_string_equal(out, "{\"A\" : 1 , \"B\":{\"c\":[1,2]},\"Z\":\"z\"}");
    start();
    assert_int_equal(spo_json_writer_object(&W), SPO_OK);
    assert_int_equal(spo_json_writer_members(&W, " {  } ", 6), SPO_OK);
    assert_int_equal(spo_json_writer_key(&W, "Z", 1), SPO_OK);
    assert_int_equal(spo_json_writer_scalar(&W, "null", 4), SPO_OK);
    assert_int_equal(spo_json_writer_end(&W), SPO_OK);
    assert_string_equal(out, "{\"Z\":null}");
}

static void list_field_args(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        int ok;
        const char *key, *value;
        int scalar;
    } cases[] = {
        { "Title=Hello", 1, "Title", "Hello", 0 },
        { "Title=", 1, "Title", "", 0 },
        { "Note=a=b", 1, "Note", "a=b", 0 },
        { "Note=x:=y", 1, "Note", "x:=y", 0 },
        { "Temperature:=21.5", 1, "Temperature", "21.5", 1 },
        { "Temperature:=-3", 1, "Temperature", "-3", 1 },
        { "Ok:=true", 1, "Ok", "true", 1 },
        { "Ok:=null", 1, "Ok", "null", 1 },
        { "Title=\"quoted\" \\ \t\n caf\xc3\xa9", 1, "Title", "\"quoted\" \\ \t\n caf\xc3\xa9", 0 },
        { "Temperature:=abc", 0, NULL, NULL, 0 },
        { "Temperature:=\"21\"", 0, NULL, NULL, 0 },
        { "Temperature:=", 0, NULL, NULL, 0 },
        { "Ok:=True", 0, NULL, NULL, 0 },
        { "Ok:={}", 0, NULL, NULL, 0 },
        { "Title", 0, NULL, NULL, 0 },
        { "=x", 0, NULL, NULL, 0 },
        { ":=1", 0, NULL, NULL, 0 },
        { "Title=\xff", 0, NULL, NULL, 0 },
        { "T\xc3=x", 0, NULL, NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spo_list_field f;
        int rc = spo_list_field_parse(cases[i].arg, &f);
        if (rc != (cases[i].ok ? SPO_OK : SPO_E_ARG))
            fail_msg("case %zu (%s): rc %d", i, cases[i].arg, rc);
        if (!cases[i].ok)
            continue;
        if (f.key_len != strlen(cases[i].key) || memcmp(f.key, cases[i].key, f.key_len) ||
            f.value_len != strlen(cases[i].value) || memcmp(f.value, cases[i].value, f.value_len) ||
            f.scalar != cases[i].scalar)
            fail_msg("case %zu (%s): wrong split", i, cases[i].arg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escaping_table),
        cmocka_unit_test(invalid_utf8_refused),
        cmocka_unit_test(structure),
        cmocka_unit_test(scalars),
        cmocka_unit_test(objects_and_members),
        cmocka_unit_test(list_field_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
