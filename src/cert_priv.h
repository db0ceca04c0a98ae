/* spo — what the two halves of certificate credentials share (auth_cert.c loads, auth_assertion.c
 * signs). Not a public API. */
#ifndef SPO_CERT_PRIV_H
#define SPO_CERT_PRIV_H

#include "spo/auth.h"

#include <mbedtls/pk.h>

/* Unpadded base64url of src[0..n) into dst; returns the length written (no NUL). Each 3-byte group
 * is read before its 4 characters are written, so dst may overlap src from below when
 * dst + (n + 2) / 3 <= src. */
size_t spo_b64url(char *dst, const uint8_t *src, size_t n);

/* Sets c->problem and c->mbedtls_err; returns status. */
int spo_cert_fail(spo_cert_cred *c, int problem, int mbedtls_err, int status);

/* mbedTLS pool allocations refused so far (to tell an exhausted pool from a bad key). */
size_t spo_cert_pool_failures(void);

/* The stored key block, decrypted with the stored password, into pk (RSA only). On failure pk is
 * freed and c->problem says why. */
int spo_cert_parse_key(spo_cert_cred *c, mbedtls_pk_context *pk,
                       int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

#endif
