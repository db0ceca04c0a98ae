/* JSONTestSuite (Nicolas Seriot, test_parsing/, 318 files) against the reader.
 *
 * Every file is fed whole, in every split into two pieces, and byte by byte, under two
 * configurations: plain validation (no captures, no collection), and a busy one where the document
 * itself is the collection (each element of a top-level array is copied to the window and parsed by
 * jsmn) and captured (path {NULL}). The verdict and error offset must not depend on the split;
 * y_ files must be accepted (busy: unless an element is larger than the window), n_ files rejected,
 * i_ files may go either way but the same way each time. Nothing may crash or trip a sanitizer.
 *
 * Directory: $SPO_CONFORMANCE_DIR/jsontestsuite/test_parsing (default ../shared/conformance). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spo/json.h"

/* n_ files the reader accepts, each with the reason. Empty: none is accepted. A file showing up
 * accepted and not listed here fails the test. */
static const struct {
    const char *name, *reason;
} n_accepted_known[] = {
    { NULL, NULL },
};

typedef struct verdict {
    int rc;
    uint64_t offset;
    uint64_t nelem;
} verdict;

static int count_elem(void *ctx, const spo_json_elem *e)
{
    verdict *v = ctx;

    /* the window holds a complete value jsmn agrees with: its first token spans it all */
    assert_true(e->ntok >= 1 && e->len >= 1 && e->len <= SPO_JSON_WINDOW);
    assert_true(e->tok[0].end <= (int)e->len);
    assert_int_equal(e->index, v->nelem);
    v->nelem++;
    return 0;
}

static spo_json_reader rd; /* static: one reader, reinitialised for every run */

static verdict run(const uint8_t *doc, size_t len, size_t cut, size_t step, int busy)
{
    static const char *const coll_root[] = { NULL };
    static char buf[64];
    spo_json_capture cap[1] = { { { NULL }, buf, sizeof buf, 1, 0, 0, 0, 0 } };
    verdict v = { 0, 0, 0 };
    size_t pos = 0;
    int rc = SPO_OK;

    if (busy)
        spo_json_reader_init(&rd, cap, 1, coll_root, count_elem, &v);
    else
        spo_json_reader_init(&rd, NULL, 0, NULL, NULL, NULL);
    if (step > 0) {
        while (rc == SPO_OK && pos < len) {
            size_t n = len - pos < step ? len - pos : step;

            rc = spo_json_reader_feed(&rd, doc + pos, n);
            pos += n;
        }
    } else {
        rc = spo_json_reader_feed(&rd, doc, cut);
        if (rc == SPO_OK)
            rc = spo_json_reader_feed(&rd, doc + cut, len - cut);
    }
    if (rc == SPO_OK)
        rc = spo_json_reader_finish(&rd);
    v.rc = rc;
    v.offset = spo_json_reader_offset(&rd);
    return v;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* One file, one configuration: the verdict, after checking that every way of feeding agrees. */
static verdict judge(const char *name, const uint8_t *doc, size_t len, int busy)
{
    verdict ref = run(doc, len, len, 0, busy), v;
    size_t k;

    for (k = 0; k <= len + 1; k++) {
        v = k <= len ? run(doc, len, k, 0, busy) : run(doc, len, 0, 1, busy);
        if (v.rc != ref.rc || v.offset != ref.offset || v.nelem != ref.nelem)
            fail_msg("%s (%s): whole gives rc %d at %llu (%llu elements), %s %zu gives rc %d at %llu (%llu)",
                     name, busy ? "busy" : "plain", ref.rc, (unsigned long long)ref.offset,
                     (unsigned long long)ref.nelem, k <= len ? "split at" : "byte by byte", k, v.rc,
                     (unsigned long long)v.offset, (unsigned long long)v.nelem);
    }
    /* no error beyond those the API names; SPO_E_INTERNAL would mean jsmn refused what we passed */
    if (ref.rc != SPO_OK && ref.rc != SPO_E_JSON_SYNTAX && ref.rc != SPO_E_JSON_DEPTH &&
        ref.rc != SPO_E_JSON_TOO_BIG)
        fail_msg("%s (%s): unexpected status %d", name, busy ? "busy" : "plain", ref.rc);
    if (!busy && ref.rc == SPO_E_JSON_TOO_BIG)
        fail_msg("%s: TOO_BIG without a collection", name);
    return ref;
}

static void test_jsontestsuite(void **state)
{
    const char *root = getenv("SPO_CONFORMANCE_DIR");
    char dir[1024], path[1400];
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t nnames = 0, i, j;
    unsigned y = 0, y_ok = 0, n = 0, n_rej = 0, ni = 0, i_acc = 0, i_rej = 0, too_big = 0;
    int unlisted = 0;

    (void)state;
    if (root == NULL || *root == '\0')
        root = "../shared/conformance";
    snprintf(dir, sizeof dir, "%s/jsontestsuite/test_parsing", root);
    d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s (set SPO_CONFORMANCE_DIR)", dir);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        names = realloc(names, (nnames + 1) * sizeof *names);
        assert_non_null(names);
        names[nnames] = strdup(de->d_name);
        assert_non_null(names[nnames]);
        nnames++;
    }
    closedir(d);
    qsort(names, nnames, sizeof *names, name_cmp);
    assert_int_equal(nnames, 318);

    for (i = 0; i < nnames; i++) {
        const char *nm = names[i];
        size_t len;
        uint8_t *doc;
        verdict plain, busy;

        snprintf(path, sizeof path, "%s/%s", dir, nm);
        doc = slurp(path, &len);
        plain = judge(nm, doc, len, 0);
        busy = judge(nm, doc, len, 1);
        /* a collection and a capture change nothing about validity, only the window may refuse */
        if (busy.rc == SPO_E_JSON_TOO_BIG) {
            too_big++;
        } else if ((busy.rc == SPO_OK) != (plain.rc == SPO_OK)) {
            fail_msg("%s: plain rc %d, busy rc %d", nm, plain.rc, busy.rc);
        }
        if (nm[0] == 'y') {
            y++;
            if (plain.rc == SPO_OK)
                y_ok++;
            else
                print_error("y_ rejected: %s (rc %d at byte %llu)\n", nm, plain.rc,
                            (unsigned long long)plain.offset);
        } else if (nm[0] == 'n') {
            n++;
            if (plain.rc != SPO_OK) {
                n_rej++;
            } else {
                int listed = 0;

                for (j = 0; n_accepted_known[j].name != NULL; j++)
                    if (strcmp(n_accepted_known[j].name, nm) == 0)
                        listed = 1;
                print_error("n_ accepted: %s%s\n", nm, listed ? " (known, listed)" : " (NOT LISTED)");
                if (!listed)
                    unlisted++;
            }
        } else {
            ni++;
            if (plain.rc == SPO_OK)
                i_acc++;
            else
                i_rej++;
            print_message("  %-48s %s\n", nm, plain.rc == SPO_OK ? "accepted" : "rejected");
        }
        free(doc);
        free(names[i]);
    }
    free(names);
    print_message("jsontestsuite: y %u/%u accepted, n %u/%u rejected, i %u: %u accepted %u rejected"
                  " (busy configuration: %u refused as larger than the window)\n",
                  y_ok, y, n_rej, n, ni, i_acc, i_rej, too_big);
    assert_int_equal(y_ok, y);
    assert_int_equal(unlisted, 0);
    assert_int_equal(y + n + ni, 318);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsontestsuite),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
