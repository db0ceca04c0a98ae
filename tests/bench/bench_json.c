/* Throughput of the JSON layer on a Graph-like site list of 10+ MB, beside jsmn.
 *
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude tests/bench/bench_json.c \
 *      tests/bench/bench_jsmn_whole.c src/json_reader.c src/json_util.c -o build/bench_json
 *   build/bench_json [MB]
 *
 * Rows: spo validating only; spo with the "value" collection, pulling displayName + webUrl out of
 * each site through the callback, fed in 1 KiB pieces (what spo sites does) and whole; jsmn strict
 * tokenizing the whole buffer at once with parent links (no UTF-8 or number validation, no
 * unescaping, and it needs the whole document and a token per value in memory). Best of 9 runs. */
#include "spo/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int bench_jsmn_whole(const char *js, size_t len, long *ntok_out);

typedef struct sums {
    uint64_t n, bytes;
    int bad;
} sums;

static int on_site(void *ctx, const spo_json_elem *e)
{
    sums *s = ctx;
    char name[256], url[512];
    size_t nl, ul;

    if (spo_json_elem_string(e, "displayName", name, sizeof name, &nl) != SPO_OK ||
        spo_json_elem_string(e, "webUrl", url, sizeof url, &ul) != SPO_OK)
        s->bad++;
    s->n++;
    s->bytes += nl + ul;
    return 0;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *make_doc(size_t min_bytes, size_t *len_out, uint64_t *nsites)
{
    size_t cap = min_bytes + 4096, len = 0;
    char *d = malloc(cap);
    uint64_t i = 0;

    if (d == NULL)
        return NULL;
    len += (size_t)sprintf(d, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#sites\",\"value\":[");
    while (len < min_bytes) {
        if (cap - len < 1024) {
            cap *= 2;
            d = realloc(d, cap);
            if (d == NULL)
                return NULL;
        }
        i++;
        len += (size_t)sprintf(d + len,
                               "%s{\"id\":\"contoso.sharepoint.com,%08llx-d508-4946-a439-b2a6154fc1d9,"
                               "65a04b8b-1f44-442b-a1fc-%012llx\",\"displayName\":\"Site %llu with "
                               "\\\"quotes\\\" and \xc3\xa9 and \xf0\x9f\x98\x80\",\"webUrl\":"
                               "\"https://contoso.sharepoint.com/sites/s%llu\"}",
                               i > 1 ? "," : "", (unsigned long long)i, (unsigned long long)i * 7919,
                               (unsigned long long)i, (unsigned long long)i);
    }
    len += (size_t)sprintf(d + len, "],\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/sites?"
                                    "$skiptoken=UGFnZWQ9VFJVRSZwX0ZpbGVMZWFmUmVmPVNpdGVC\"}");
    *len_out = len;
    *nsites = i;
    return d;
}

static spo_json_reader rd;

/* One pass of the spo reader; returns seconds, or -1 on a wrong result. */
static double spo_pass(const char *doc, size_t len, size_t piece, int collect, uint64_t nsites)
{
    static const char *const coll[] = { "value", NULL };
    char next[512];
    spo_json_capture cap[1] = { { { "@odata.nextLink" }, next, sizeof next, 0, 0, 0, 0, 0 } };
    sums s = { 0, 0, 0 };
    size_t pos = 0;
    double t0 = now();

    if (collect)
        spo_json_reader_init(&rd, cap, 1, coll, on_site, &s);
    else
        spo_json_reader_init(&rd, NULL, 0, NULL, NULL, NULL);
    while (pos < len) {
        size_t n = len - pos < piece ? len - pos : piece;

        if (spo_json_reader_feed(&rd, (const uint8_t *)doc + pos, n) != SPO_OK)
            return -1;
        pos += n;
    }
    if (spo_json_reader_finish(&rd) != SPO_OK)
        return -1;
    t0 = now() - t0;
    if (collect && (s.n != nsites || s.bad != 0 || cap[0].found != 1))
        return -1;
    return t0;
}

int main(int argc, char **argv)
{
    double mb = argc > 1 ? atof(argv[1]) : 10.0;
    size_t len;
    uint64_t nsites;
    char *doc = make_doc((size_t)(mb * 1024 * 1024), &len, &nsites);
    struct {
        const char *name;
        size_t piece;
        int collect;
    } rows[] = {
        { "spo reader, validate only, 1 KiB pieces", 1024, 0 },
        { "spo reader, validate only, whole buffer", 0, 0 },
        { "spo reader + collection + displayName/webUrl, 1 KiB", 1024, 1 },
        { "spo reader + collection + displayName/webUrl, whole", 0, 1 },
    };
    size_t i;
    int run;

    if (doc == NULL)
        return 1;
    printf("document: %.2f MB (%zu bytes), %llu sites; reader struct %zu bytes\n\n",
           (double)len / 1e6, len, (unsigned long long)nsites, sizeof(spo_json_reader));
    printf("%-56s %10s %10s\n", "", "MB/s", "ms");
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double best = 1e30;

        for (run = 0; run < 9; run++) {
            double t = spo_pass(doc, len, rows[i].piece ? rows[i].piece : len, rows[i].collect, nsites);

            if (t < 0) {
                printf("%s: WRONG RESULT\n", rows[i].name);
                return 1;
            }
            if (t < best)
                best = t;
        }
        printf("%-56s %10.1f %10.2f\n", rows[i].name, (double)len / 1e6 / best, best * 1e3);
    }
    {
        double best = 1e30;
        long ntok = 0;

        for (run = 0; run < 9; run++) {
            double t0 = now();
            int n = bench_jsmn_whole(doc, len, &ntok);

            t0 = now() - t0;
            if (n < 0) {
                printf("jsmn: error %d\n", n);
                return 1;
            }
            if (run > 0 && t0 < best) /* run 0 counts tokens and allocates */
                best = t0;
        }
        printf("%-56s %10.1f %10.2f\n", "jsmn strict + parent links, whole buffer (tokens only)",
               (double)len / 1e6 / best, best * 1e3);
        printf("\njsmn needed %ld tokens (%zu bytes) and the whole document in memory.\n", ntok,
               (size_t)ntok * 5 * sizeof(int));
    }
    free(doc);
    return 0;
}
