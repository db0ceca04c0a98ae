/* spo list-add: FIELD=VALUE / FIELD:=JSON arguments and --json-file into {"fields":{...}}. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "spo/lists.h"

static char body[SPO_LIST_BODY_MAX];      /* the request body */
static char file_text[SPO_LIST_BODY_MAX]; /* --json-file's object */

size_t spo_cli_list_add_static(void)
{
    return sizeof body + sizeof file_text;
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "spo list-add: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see spo list-add --help)\n");
    return 2;
}

int spo_cli_list_add_check(const spo_cli_files *f)
{
    spo_list_field a, b;
    if (f->nargs < 3 && !f->json_file)
        return usage("%s", "no field to set: give FIELD=VALUE arguments or --json-file");
    for (int i = 2; i < f->nargs; i++) {
        if (spo_list_field_parse(f->args[i], &a) != SPO_OK) {
            const char *eq = strchr(f->args[i], '=');
            if (!eq || eq == f->args[i] || (eq == f->args[i] + 1 && f->args[i][0] == ':'))
                return usage("'%s' is not FIELD=VALUE or FIELD:=JSON", f->args[i]);
            if (eq[-1] == ':')
                return usage("'%s': after := comes a number, true, false or null (for a text, "
                             "use FIELD=VALUE)", f->args[i]);
            return usage("'%s' is not valid UTF-8", f->args[i]);
        }
        for (int j = 2; j < i; j++) {
            spo_list_field_parse(f->args[j], &b);
            if (a.key_len == b.key_len && !memcmp(a.key, b.key, a.key_len))
                return usage("the field in '%s' is given twice", f->args[i]);
        }
    }
    return 0;
}

/* Read --json-file whole into file_text: it must fit, and be one JSON object. */
static int read_json_file(spo_client *c, const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "spo list-add: cannot open --json-file '%s' (%s)\n", path, strerror(errno));
        return 2;
    }
    size_t n = fread(file_text, 1, sizeof file_text, fp);
    int bad = ferror(fp);
    (void)fclose(fp); /* read-only: nothing to lose on close */
    if (bad) {
        fprintf(stderr, "spo list-add: cannot read --json-file '%s'\n", path);
        return 2;
    }
    if (n == sizeof file_text) {
        fprintf(stderr, "spo list-add: --json-file '%s' is larger than the %u bytes a request body "
                        "may have here (SPO_LIST_BODY_MAX)\n", path, (unsigned)SPO_LIST_BODY_MAX);
        return 2;
    }
    int rc = spo_json_object_check(&c->reader, file_text, n);
    if (rc != SPO_OK) {
        if (rc == SPO_E_JSON_SHAPE)
            fprintf(stderr, "spo list-add: --json-file '%s' must hold one JSON object of fields, "
                            "like {\"Title\":\"x\",\"Temperature\":21.5}\n", path);
        else
            fprintf(stderr, "spo list-add: --json-file '%s' is not valid JSON (%s at byte %llu)\n",
                    path, spo_strerror(rc),
                    (unsigned long long)spo_json_reader_offset(&c->reader));
        return 2;
    }
    *len = n;
    return 0;
}

/* Is key (unescaped) a member name at the top level of the checked object text? A small scan: the
 * text is valid JSON, so strings and nesting can be followed without a full parser. */
static int file_has_key(const char *t, size_t n, const char *key, size_t klen)
{
    int depth = 0, expect_key = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch == '"') {
            size_t s = ++i;
            while (i < n && t[i] != '"')
                i += t[i] == '\\' ? 2 : 1;
            if (depth == 1 && expect_key) {
                char k[SPO_JSON_KEY_MAX + 1];
                size_t kl;
                if (spo_json_unescape(t + s, i - s, k, sizeof k, &kl) == SPO_OK && kl == klen &&
                    !memcmp(k, key, klen))
                    return 1;
                expect_key = 0;
            }
        } else if (ch == '{' || ch == '[') {
            depth++;
            expect_key = ch == '{' && depth == 1;
        } else if (ch == '}' || ch == ']') {
            depth--;
        } else if (ch == ',' && depth == 1) {
            expect_key = 1;
        }
    }
    return 0;
}

int spo_cli_list_add_run(spo_client *c, const spo_config *cfg, const spo_cli_files *f)
{
    size_t flen = 0;
    int rc;
    if (f->json_file && (rc = read_json_file(c, f->json_file, &flen)) != 0)
        return rc;
    spo_json_buf out = { body, sizeof body, 0 };
    spo_json_writer w;
    spo_json_writer_init(&w, spo_json_buf_put, &out);
    spo_json_writer_object(&w);
    spo_json_writer_key(&w, "fields", 6);
    spo_json_writer_object(&w);
    if (flen)
        spo_json_writer_members(&w, file_text, flen);
    for (int i = 2; i < f->nargs; i++) {
        spo_list_field a;
        spo_list_field_parse(f->args[i], &a); /* checked before */
        if (flen && file_has_key(file_text, flen, a.key, a.key_len))
            return usage("the field in '%s' is also in --json-file", f->args[i]);
        spo_json_writer_key(&w, a.key, a.key_len);
        if (a.scalar)
            spo_json_writer_scalar(&w, a.value, a.value_len);
        else
            spo_json_writer_string(&w, a.value, a.value_len);
    }
    spo_json_writer_end(&w);
    spo_json_writer_end(&w);
    rc = spo_json_writer_finish(&w);
    if (rc == SPO_E_TOO_LONG) {
        fprintf(stderr, "spo list-add: the fields make a request body larger than %u bytes "
                        "(SPO_LIST_BODY_MAX): send fewer or shorter values\n",
                (unsigned)SPO_LIST_BODY_MAX);
        return 2;
    }
    if (rc != SPO_OK) {
        fprintf(stderr, "spo list-add: cannot write the request body (%s)\n", spo_strerror(rc));
        return 1;
    }

    spo_list_ref l;
    char id[SPO_ITEM_ID_MAX];
    rc = spo_list_resolve(&c->graph, f->args[0], f->args[1], &l);
    if (rc == SPO_OK)
        rc = spo_list_add_item(&c->graph, &l, body, out.len, id, sizeof id);
    if (rc != SPO_OK) {
        spo_cli_files_explain(c, cfg, "list-add", l.failed,
                              l.failed == SPO_PART_SITE ? f->args[0] : f->args[1], rc, 0);
        return 1;
    }
    printf("%s\n", id);
    return 0;
}
