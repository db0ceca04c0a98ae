/* spo — what src/tls*.c share with each other and nothing else. */
#ifndef SPO_TLS_PRIV_H
#define SPO_TLS_PRIV_H

#include "spo/tls.h"

#include <mbedtls/x509_crt.h>

/* tls_platform.c: the port behind mbedTLS's clock and entropy (mbedTLS's hooks take no context). */
void spo_tls_platform_set_port(const spo_port *port);
const spo_port *spo_tls_platform_port(void);
/* True while spo_tls_wall() is before SPO_BUILD_TIME (see spo_tls_set_clock_offset). */
int spo_tls_clock_unknown(void);

/* mbedTLS calls this with MBEDTLS_ENTROPY_HARDWARE_ALT; its prototype lives in a private header. */
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);

/* tls_trust.c */
/* SPO_OK when the bundle can be read and holds at least one certificate, else SPO_E_TLS_TRUST. */
int spo_tls_trust_check(spo_tls *t);
/* mbedtls_x509_crt_ca_cb_t over t's bundle (p_ctx is the spo_tls). */
int spo_tls_trust_ca_cb(void *p_ctx, const mbedtls_x509_crt *child, mbedtls_x509_crt **candidates);

#endif
