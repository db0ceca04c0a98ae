/* Certificate sign-in through the library API with a device clock that is wrong, against the
 * emulator (configured by the same environment as the CLI, plus AZURE_CLIENT_CERTIFICATE_PATH):
 *   cert_clock SKEW_S    the POSIX port, its wall clock moved by SKEW_S seconds (negative: behind)
 *   cert_clock 1970      the POSIX port, its wall clock counting from 1970-01-01 (no RTC)
 * Runs spo_client_token + spo_client_sites and prints "key value" lines for tests/long/cert_clock.sh:
 * rc, sites, before_build (the client found its clock before its build date and asked the time
 * first, rather than learning it from AADSTS700024), clock_offset (what the
 * client learnt), wall_error (corrected wall - real time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spo/spo.h"

static spo_client client;
static spo_port port;
static int64_t skew;     /* device wall = real + skew */
static int64_t start_1970; /* for "1970": real time at start; device wall = real - this */
static int from_1970;

static int64_t wrong_wall(void *ctx)
{
    (void)ctx;
    int64_t real = (int64_t)time(NULL);
    return from_1970 ? real - start_1970 : real + skew;
}

static int count_site(void *ctx, const spo_site *s)
{
    (void)s;
    (*(unsigned long *)ctx)++;
    return 0;
}

static int before_build; /* the client found the clock before its build date (else: AADSTS700024) */

static void note(void *ctx, int64_t offset_s, const char *why)
{
    (void)ctx;
    before_build = strstr(why, "build") != NULL;
    fprintf(stderr, "cert_clock: clock corrected by %lld s (%s)\n", (long long)offset_s, why);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cert_clock SKEW_S|1970\n");
        return 2;
    }
    if (!strcmp(argv[1], "1970")) {
        from_1970 = 1;
        start_1970 = (int64_t)time(NULL) - 12; /* the device booted 12 s ago, at the epoch */
    } else {
        skew = strtoll(argv[1], NULL, 10);
    }
    port = *spo_port_posix();
    port.wall_time = wrong_wall;
    spo_config cfg = { 0 };
    cfg.tenant = getenv("AZURE_TENANT_ID");
    cfg.client_id = getenv("AZURE_CLIENT_ID");
    static spo_cert_cred cred;
    spo_config_use_certificate(&cfg, &cred, getenv("AZURE_CLIENT_CERTIFICATE_PATH"), NULL,
                               SPO_JWT_PS256);
    cfg.authority_host = getenv("AZURE_AUTHORITY_HOST");
    cfg.graph_url = getenv("SPO_GRAPH_URL");
    cfg.ca_file = getenv("SPO_CA_FILE");
    cfg.clock_note = note;
    unsigned long sites = 0;
    int rc = spo_client_init(&client, &port, &cfg);
    if (rc == SPO_OK)
        rc = spo_client_token(&client, NULL);
    if (rc == SPO_OK)
        rc = spo_client_sites(&client, NULL, count_site, &sites);
    if (rc != SPO_OK)
        fprintf(stderr, "cert_clock: %s (%s %s)\n", spo_strerror(rc), client.diag.aadsts,
                client.diag.message);
    printf("rc %d\nsites %lu\nbefore_build %d\nclock_offset %lld\nwall_error %lld\n", rc, sites,
           before_build,
           (long long)client.clock_offset,
           (long long)(spo_client_wall(&client) - (int64_t)time(NULL)));
    spo_client_cleanup(&client);
    return rc == SPO_OK ? 0 : 1;
}
