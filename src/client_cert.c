/* The client's certificate credentials, in a file of their own: a program links the certificate
 * loading and assertion signing code only when it calls spo_config_use_certificate() (spo/spo.h,
 * "Flash"). */
#include "spo/spo.h"

static const spo_cert_ops CERT_OPS = { spo_cert_load_file, spo_cert_problem_text, spo_cert_wipe };

void spo_config_use_certificate(spo_config *cfg, spo_cert_cred *storage, const char *pem_path,
                                const char *password, uint8_t jwt_alg)
{
    cfg->client_certificate_path = pem_path;
    cfg->client_certificate_password = password;
    cfg->cert = storage;
    cfg->jwt_alg = jwt_alg;
    cfg->cert_ops = &CERT_OPS;
}
