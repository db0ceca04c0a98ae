/* Long runs through the library API, against the emulator (configured by the same environment as
 * the CLI):
 *   long_run sites            one listing; prints sites, pool peak, max RSS
 *   long_run cycles N         N times: init, token, sites, cleanup; fails on any growth of open file
 *                             descriptors, pool bytes in use, pool peak, or RSS after the first 10.
 * Output lines are "key value" for the script that compares runs. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "spo/spo.h"

static spo_client client;

static int count_site(void *ctx, const spo_site *s)
{
    (void)s;
    (*(unsigned long long *)ctx)++;
    return 0;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own descriptor */
}

static long rss_kib(void)
{
    /* current resident set, not the peak: growth shows here first */
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * 4;
}

static int one(const spo_config *cfg, unsigned long long *sites)
{
    int rc = spo_client_init(&client, spo_port_posix(), cfg);
    const spo_token *t;
    if (rc == SPO_OK)
        rc = spo_client_token(&client, &t);
    if (rc == SPO_OK)
        rc = spo_client_sites(&client, NULL, count_site, sites);
    if (rc != SPO_OK)
        fprintf(stderr, "long_run: %s (%s)\n", spo_strerror(rc), client.diag.message);
    spo_client_cleanup(&client);
    return rc;
}

int main(int argc, char **argv)
{
    spo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.tenant = getenv("AZURE_TENANT_ID");
    cfg.client_id = getenv("AZURE_CLIENT_ID");
    cfg.client_secret = getenv("AZURE_CLIENT_SECRET");
    cfg.authority_host = getenv("AZURE_AUTHORITY_HOST");
    cfg.graph_url = getenv("SPO_GRAPH_URL");
    cfg.ca_file = getenv("SPO_CA_FILE");
    if (argc >= 2 && !strcmp(argv[1], "sites")) {
        unsigned long long n = 0;
        int rc = one(&cfg, &n);
        spo_tls_pool_stats st;
        spo_tls_pool_get(&st);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("sites %llu\npool_peak %zu\npool_in_use %zu\nclient_bytes %zu\nmax_rss_kib %ld\n", n,
               st.peak, st.used, sizeof client, ru.ru_maxrss);
        return rc == SPO_OK ? 0 : 1;
    }
    if (argc >= 3 && !strcmp(argv[1], "cycles")) {
        long cycles = atol(argv[2]);
        int fds0 = -1;
        long rss0 = 0;
        size_t peak0 = 0;
        for (long i = 0; i < cycles; i++) {
            unsigned long long n = 0;
            if (one(&cfg, &n) != SPO_OK || n == 0) {
                printf("cycle %ld failed\n", i);
                return 1;
            }
            spo_tls_pool_stats st;
            spo_tls_pool_get(&st);
            int fds = open_fds();
            long rss = rss_kib();
            /* PSA crypto keeps a little process-wide state in the pool after the first
             * handshake (psa_crypto_init is once per process); it must never grow. */
            static size_t used0;
            if (i == 0)
                used0 = st.used;
            if (st.used != used0 || used0 > 1024) {
                printf("cycle %ld: %zu pool bytes in use after cleanup (first cycle: %zu)\n", i,
                       st.used, used0);
                return 1;
            }
            if (i == 9) { /* let glibc's resolver and stdio settle before taking the baseline */
                fds0 = fds;
                rss0 = rss;
                peak0 = st.peak;
            } else if (i > 9 && (fds != fds0 || rss > rss0 + 64 || st.peak != peak0)) {
                printf("cycle %ld: growth: fds %d (was %d), rss %ld KiB (was %ld), pool peak %zu (was %zu)\n",
                       i, fds, fds0, rss, rss0, st.peak, peak0);
                return 1;
            }
        }
        spo_tls_pool_stats st;
        spo_tls_pool_get(&st);
        printf("cycles %ld\nfds %d\nrss_kib %ld\npool_peak %zu\npool_in_use_between %zu\n", cycles,
               fds0, rss0, peak0, st.used);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "hygiene")) {
        /* After cleanup, nothing that held the secret or the token may still hold it: the client
         * struct is all zero, and neither string is anywhere in the TLS pool (which held the
         * plaintext records that carried them). */
        unsigned long long n = 0;
        static char token[SPO_TOKEN_MAX];
        int rc = spo_client_init(&client, spo_port_posix(), &cfg);
        const spo_token *t = NULL;
        if (rc == SPO_OK)
            rc = spo_client_token(&client, &t);
        if (rc == SPO_OK) {
            memcpy(token, t->bearer + SPO_BEARER_PREFIX_LEN, t->len + 1);
            rc = spo_client_sites(&client, NULL, count_site, &n);
        }
        spo_client_cleanup(&client);
        if (rc != SPO_OK || !token[0]) {
            printf("hygiene: run failed: %s\n", spo_strerror(rc));
            return 1;
        }
        const uint8_t *c = (const uint8_t *)&client;
        for (size_t i = 0; i < sizeof client; i++)
            if (c[i]) {
                printf("hygiene: client byte %zu is not zero after cleanup\n", i);
                return 1;
            }
        const uint8_t *base;
        size_t size;
        spo_tls_pool_region(&base, &size);
        /* Positive control: the scan finds the secret while a pool block holds it, and the pool
         * wipes the block when it is freed (as it does for every mbedTLS buffer). */
        size_t slen = strlen(cfg.client_secret);
        char *blk = spo_tls_pool_calloc(1, slen + 64);
        memcpy(blk + 32, cfg.client_secret, slen); /* past the free-list link a freed block gets */
        int seen = 0;
        for (size_t i = 0; i + slen <= size; i++)
            seen |= !memcmp(base + i, cfg.client_secret, slen);
        spo_tls_pool_free(blk);
        if (!seen) {
            printf("hygiene: the scan does not see a secret placed in the pool\n");
            return 1;
        }
        const char *needles[] = { cfg.client_secret, token, "client_secret=", "Bearer " };
        for (size_t k = 0; k < 4; k++) {
            size_t len = strlen(needles[k]) < 24 ? strlen(needles[k]) : 24; /* a prefix suffices */
            for (size_t i = 0; i + len <= size; i++)
                if (!memcmp(base + i, needles[k], len)) {
                    printf("hygiene: %s found in the TLS pool at offset %zu after cleanup\n",
                           k == 0 ? "the client secret" : k == 1 ? "the token" : needles[k], i);
                    return 1;
                }
        }
        printf("hygiene %zu client bytes and %zu pool bytes clean after %llu sites\n",
               sizeof client, size, n);
        return 0;
    }
    fprintf(stderr, "usage: long_run sites | long_run cycles N | long_run hygiene\n");
    return 2;
}
