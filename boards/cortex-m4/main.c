/* Sample firmware: list the tenant's SharePoint sites once, with all of spo's state in .bss.
 * The hooks it relies on (network, entropy, clocks) are in app.c; a product replaces that file. */
#include "cortex_m4.h"

#include "spo/port_board.h"
#include "spo/spo.h"

/* Provisioned at manufacture in a real device (a protected flash page, a secure element): spo
 * copies the secret into its own state, so this copy may be wiped after spo_client_init. */
#ifndef APP_TENANT
#define APP_TENANT "00000000-0000-0000-0000-000000000000"
#endif
#ifndef APP_CLIENT_ID
#define APP_CLIENT_ID "00000000-0000-0000-0000-000000000000"
#endif
#ifndef APP_CLIENT_SECRET
#define APP_CLIENT_SECRET "provisioned-at-manufacture"
#endif

static spo_client client;

static int on_site(void *ctx, const spo_site *site)
{
    unsigned *count = ctx;
    (*count)++;
    (void)site; /* a product would act on site->web_url here */
    return 0;
}

int main(void)
{
    board_init();
    const spo_config cfg = {
        .tenant = APP_TENANT,
        .client_id = APP_CLIENT_ID,
        .client_secret = APP_CLIENT_SECRET,
        .ca_pem = board_ca_pem,
        .ca_pem_len = board_ca_pem_len,
    };
    unsigned count = 0;
    int rc = spo_client_init(&client, spo_port_board(), &cfg);
    if (rc == SPO_OK)
        rc = spo_client_sites(&client, NULL, on_site, &count);
    spo_client_cleanup(&client);
    board_log(rc == SPO_OK ? "spo: sites listed\n" : "spo: ");
    if (rc != SPO_OK) {
        board_log(spo_strerror(rc));
        board_log("\n");
    }
    board_exit(rc == SPO_OK ? 0 : 1);
    return 0;
}
