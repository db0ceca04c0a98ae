/* Certificate credentials, signing: the client assertion, an RFC 7523 JWT signed with the app's
 * key, and the form fields that carry it (see the section in spo/auth.h). */
#include "cert_priv.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include <string.h>

#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z: keeps now + lifetime far from overflow */

/* ------------------------------------------------------------------ base64url (RFC 4648 §5) */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* When dst may overlap src: see cert_priv.h; sign() encodes the signature in place. */
size_t spo_b64url(char *dst, const uint8_t *src, size_t n)
{
    size_t o = 0;
    for (; n >= 3; n -= 3, src += 3) {
        uint32_t v = (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
        dst[o++] = B64URL[v >> 18];
        dst[o++] = B64URL[v >> 12 & 63];
        dst[o++] = B64URL[v >> 6 & 63];
        dst[o++] = B64URL[v & 63];
    }
    if (n) {
        uint32_t v = (uint32_t)src[0] << 16 | (n == 2 ? (uint32_t)src[1] << 8 : 0);
        dst[o++] = B64URL[v >> 18];
        dst[o++] = B64URL[v >> 12 & 63];
        if (n == 2)
            dst[o++] = B64URL[v >> 6 & 63];
    }
    return o;
}

/* A JWT segment written as it is produced: JSON in, base64url out, no JSON buffer. cap excludes
 * the NUL the caller keeps room for. */
typedef struct seg {
    char *out;
    size_t cap, pos;
    uint8_t pend[3];
    uint8_t npend;
} seg;

static int seg_put(void *ctx, const char *s, size_t n)
{
    seg *w = ctx;
    for (; n; n--) {
        w->pend[w->npend++] = (uint8_t)*s++;
        if (w->npend == 3) {
            if (w->cap - w->pos < 4)
                return SPO_E_TOO_LONG;
            w->pos += spo_b64url(w->out + w->pos, w->pend, 3);
            w->npend = 0;
        }
    }
    return SPO_OK;
}

static int seg_str(seg *w, const char *z)
{
    return seg_put(w, z, strlen(z));
}

static int seg_json(seg *w, const char *z)
{
    return spo_json_write_string(seg_put, w, z, strlen(z));
}

static int seg_num(seg *w, int64_t v) /* v >= 0 */
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return seg_put(w, d + i, sizeof d - i);
}

/* Ends the segment; with dot, starts the next one. */
static int seg_end(seg *w, int dot)
{
    if (w->npend) {
        if (w->cap - w->pos < (size_t)w->npend + 1u)
            return SPO_E_TOO_LONG;
        w->pos += spo_b64url(w->out + w->pos, w->pend, w->npend);
        w->npend = 0;
    }
    if (dot) {
        if (w->cap - w->pos < 1)
            return SPO_E_TOO_LONG;
        w->out[w->pos++] = '.';
    }
    return SPO_OK;
}

/* ------------------------------------------------------------------ the assertion */

typedef struct entropy_src {
    int (*fn)(void *ctx, uint8_t *buf, size_t len);
    void *ctx;
} entropy_src;

static int entropy_poll(void *p, unsigned char *buf, size_t len)
{
    const entropy_src *e = p;
    return e->fn(e->ctx, buf, len) == SPO_OK ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

/* RFC 9562 version 4: 122 random bits, lowercase 8-4-4-4-12. */
static int make_jti(mbedtls_ctr_drbg_context *drbg, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t u[16];
    if (mbedtls_ctr_drbg_random(drbg, u, sizeof u) != 0)
        return SPO_E_ENTROPY;
    u[6] = (uint8_t)((u[6] & 0x0F) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3F) | 0x80);
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = '\0';
    return SPO_OK;
}

/* "header.claims" into w (a JSON writer error, SPO_E_ARG, means invalid UTF-8 in an argument). */
static int write_signing_input(seg *w, const spo_cert_cred *c, const spo_assertion_params *p,
                               const char *jti)
{
    int rc;
    if ((rc = seg_str(w, p->alg == SPO_JWT_PS256 ? "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t#S256\":\""
                                                 : "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"")) ||
        (rc = seg_str(w, p->alg == SPO_JWT_PS256 ? c->x5t_s256 : c->x5t)) ||
        (rc = seg_str(w, "\"}")) || (rc = seg_end(w, 1)) ||
        (rc = seg_str(w, "{\"aud\":")) || (rc = seg_json(w, p->aud)) ||
        (rc = seg_str(w, ",\"iss\":")) || (rc = seg_json(w, p->client_id)) ||
        (rc = seg_str(w, ",\"sub\":")) || (rc = seg_json(w, p->client_id)) ||
        (rc = seg_str(w, ",\"jti\":\"")) || (rc = seg_str(w, jti)) ||
        (rc = seg_str(w, "\",\"nbf\":")) || (rc = seg_num(w, p->now)) ||
        (rc = seg_str(w, ",\"iat\":")) || (rc = seg_num(w, p->now)) ||
        (rc = seg_str(w, ",\"exp\":")) || (rc = seg_num(w, p->now + SPO_ASSERTION_LIFETIME_S)) ||
        (rc = seg_str(w, "}")) || (rc = seg_end(w, 0)))
        return rc;
    return SPO_OK;
}

/* Signs out[0..n) with the key and appends ".<signature>" and the NUL. The raw signature is
 * written at the very end of out and encoded forward into place (see spo_b64url), so no signature
 * buffer is needed: out[n + 1 + b64url_len(klen)] is the NUL, and klen + (klen + 2) / 3 ==
 * b64url_len(klen), so the room check below is also the in-place condition. */
static int sign(spo_cert_cred *c, const spo_assertion_params *p, mbedtls_ctr_drbg_context *drbg,
                char *out, size_t cap, size_t n, size_t *total)
{
    mbedtls_pk_context pk;
    uint8_t hash[32];
    int rc = spo_cert_parse_key(c, &pk, mbedtls_ctr_drbg_random, drbg);
    if (rc != SPO_OK)
        return rc;
    size_t klen = mbedtls_pk_get_len(&pk);
    if (cap - n < 1 + b64url_len(klen) + 1) {
        mbedtls_pk_free(&pk);
        return SPO_E_TOO_LONG;
    }
    uint8_t *sig = (uint8_t *)out + cap - klen;
    mbedtls_rsa_context *rsa = mbedtls_pk_rsa(pk);
    size_t failures = spo_cert_pool_failures();
    int err = mbedtls_sha256((const unsigned char *)out, n, hash, 0);
    if (err == 0 && p->alg == SPO_JWT_PS256) {
        err = mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA256);
        if (err == 0)
            err = mbedtls_rsa_rsassa_pss_sign_ext(rsa, mbedtls_ctr_drbg_random, drbg,
                                                  MBEDTLS_MD_SHA256, sizeof hash, hash, 32, sig);
    } else if (err == 0) {
        err = mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V15, MBEDTLS_MD_NONE);
        if (err == 0)
            err = mbedtls_rsa_rsassa_pkcs1_v15_sign(rsa, mbedtls_ctr_drbg_random, drbg,
                                                    MBEDTLS_MD_SHA256, sizeof hash, hash, sig);
    }
    mbedtls_pk_free(&pk);
    mbedtls_platform_zeroize(hash, sizeof hash);
    if (err != 0) {
        if (spo_cert_pool_failures() != failures)
            return spo_cert_fail(c, SPO_CERT_NO_MEMORY, err, SPO_E_TLS_POOL);
        c->mbedtls_err = err;
        return -((-err) & 0xFF80) == MBEDTLS_ERR_RSA_RNG_FAILED ? SPO_E_ENTROPY : SPO_E_INTERNAL;
    }
    out[n] = '.';
    size_t end = n + 1 + spo_b64url(out + n + 1, sig, klen);
    mbedtls_platform_zeroize(out + end, cap - end); /* the raw signature's leftovers; NUL too */
    *total = end;
    return SPO_OK;
}

int spo_assertion_build(spo_cert_cred *c, const spo_assertion_params *p, char *out, size_t cap,
                        size_t *out_len)
{
    if (!out)
        return SPO_E_ARG;
    if (cap == 0)
        return SPO_E_TOO_LONG;
    mbedtls_platform_zeroize(out, cap);
    if (out_len)
        *out_len = 0;
    if (!c || !p)
        return SPO_E_ARG;
    c->mbedtls_err = 0;
    if (!c->loaded)
        return spo_cert_fail(c, SPO_CERT_NO_KEY, 0, SPO_E_ARG);
    c->problem = SPO_CERT_OK;
    if (!p->aud || !*p->aud || !p->client_id || !*p->client_id || !p->entropy ||
        (p->alg != SPO_JWT_PS256 && p->alg != SPO_JWT_RS256))
        return SPO_E_ARG;
    if (p->now < SPO_ASSERTION_MIN_TIME || p->now > TIME_MAX)
        return spo_cert_fail(c, SPO_CERT_CLOCK, 0, SPO_E_ARG);

    entropy_src src = { p->entropy, p->entropy_ctx };
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ctr_drbg_init(&drbg);
    static const char pers[] = "spo client assertion";
    char jti[37];
    int rc = SPO_OK;
    if (mbedtls_ctr_drbg_seed(&drbg, entropy_poll, &src, (const unsigned char *)pers,
                              sizeof pers - 1) != 0)
        rc = SPO_E_ENTROPY;
    if (rc == SPO_OK)
        rc = make_jti(&drbg, jti);
    seg w = { out, cap - 1, 0, { 0 }, 0 };
    if (rc == SPO_OK)
        rc = write_signing_input(&w, c, p, jti);
    size_t total = 0;
    if (rc == SPO_OK)
        rc = sign(c, p, &drbg, out, cap, w.pos, &total);
    mbedtls_ctr_drbg_free(&drbg);
    if (rc != SPO_OK) {
        mbedtls_platform_zeroize(out, cap);
        return rc;
    }
    if (out_len)
        *out_len = total;
    return SPO_OK;
}

static int append_raw(char *dst, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (cap - *pos <= n)
        return SPO_E_TOO_LONG;
    memcpy(dst + *pos, s, n + 1);
    *pos += n;
    return SPO_OK;
}

int spo_assertion_form(spo_cert_cred *c, const spo_assertion_params *p, char *dst, size_t cap,
                       size_t *pos)
{
    static const char type[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    if (!dst || !pos || *pos >= cap)
        return SPO_E_TOO_LONG;
    size_t start = *pos, q = start, n = 0;
    int rc = append_raw(dst, cap, &q, start ? "&client_assertion_type=" : "client_assertion_type=");
    if (rc == SPO_OK)
        rc = spo_form_append(dst, cap, &q, type, sizeof type - 1);
    if (rc == SPO_OK)
        rc = append_raw(dst, cap, &q, "&client_assertion=");
    if (rc == SPO_OK)
        rc = spo_assertion_build(c, p, dst + q, cap - q, &n);
    if (rc != SPO_OK) {
        mbedtls_platform_zeroize(dst + start, cap - start);
        return rc;
    }
    *pos = q + n;
    return SPO_OK;
}
