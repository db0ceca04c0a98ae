/* A program built only from what `make install` put in place, with nothing but
 * `pkg-config --cflags --libs spo`: lists the sites of the configured tenant (the same environment
 * as the CLI) as "displayName<TAB>webUrl" lines, so that tests/install/run.sh can compare it with
 * the installed spo's own output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spo/spo.h>

static spo_client client;

static int print_site(void *ctx, const spo_site *s)
{
    (void)ctx;
    printf("%.*s\t%.*s\n", (int)s->display_name_len, s->display_name, (int)s->web_url_len,
           s->web_url);
    return 0;
}

int main(void)
{
    spo_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const struct {
        const char **field;
        const char *name;
    } env[] = {{&cfg.tenant, "AZURE_TENANT_ID"},          {&cfg.client_id, "AZURE_CLIENT_ID"},
               {&cfg.client_secret, "AZURE_CLIENT_SECRET"}, {&cfg.authority_host, "AZURE_AUTHORITY_HOST"},
               {&cfg.graph_url, "SPO_GRAPH_URL"},           {&cfg.ca_file, "SPO_CA_FILE"}};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        *env[i].field = getenv(env[i].name);
    int rc = spo_client_init(&client, spo_port_posix(), &cfg);
    if (rc == SPO_OK)
        rc = spo_client_sites(&client, NULL, print_site, NULL);
    if (rc != SPO_OK)
        fprintf(stderr, "consumer: %s (%s)\n", spo_strerror(rc), client.diag.message);
    spo_client_cleanup(&client);
    return rc == SPO_OK ? 0 : 1;
}
