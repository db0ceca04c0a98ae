/* Certificate credentials, loading: the app's certificate and RSA key from one PEM text, the
 * certificate's thumbprints, and the key kept as its PEM block (see the section in spo/auth.h). */
#include "cert_priv.h"

#include "spo/port.h"
#include "spo/tls.h"

#include <mbedtls/pem.h>
#include <mbedtls/pkcs12.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include <string.h>

#define CERT_BEGIN "-----BEGIN CERTIFICATE-----"
#define CERT_END "-----END CERTIFICATE-----"
#define KEY_MIN_BITS 2048 /* Entra refuses smaller keys on upload: no smaller key can be the app's */

/* ------------------------------------------------------------------ problems */

const char *spo_cert_problem_text(int problem)
{
    switch (problem) {
    case SPO_CERT_OK: return "no problem";
    case SPO_CERT_UNREADABLE: return "the certificate file cannot be read";
    case SPO_CERT_TOO_BIG:
        return "the certificate file is too large (more than SPO_CERT_PEM_MAX bytes): keep only the "
               "app's certificate and its private key in it";
    case SPO_CERT_NOT_PEM:
        return "the certificate file is not PEM text (a .pfx must be converted first: openssl pkcs12 "
               "-in app.pfx -out app.pem)";
    case SPO_CERT_NO_CERT:
        return "the file holds no certificate: it needs a -----BEGIN CERTIFICATE----- block beside "
               "the private key";
    case SPO_CERT_BAD_CERT: return "the first certificate in the file is damaged or not X.509";
    case SPO_CERT_NO_KEY:
        return "the file holds no private key: it needs the certificate's key as a PRIVATE KEY block";
    case SPO_CERT_BAD_KEY:
        return "the private key is truncated, damaged or in a format spo does not read (PKCS#8 or "
               "PKCS#1 PEM, possibly encrypted)";
    case SPO_CERT_NOT_RSA:
        return "the certificate or its key is not RSA: Microsoft Entra certificate credentials need an "
               "RSA key";
    case SPO_CERT_KEY_SIZE:
        return "the RSA key is shorter than 2048 bits, which Microsoft Entra does not accept";
    case SPO_CERT_NEED_PASSWORD: return "the private key is encrypted: its password is needed";
    case SPO_CERT_BAD_PASSWORD:
        return "the password does not decrypt the private key (or the encrypted key is damaged)";
    case SPO_CERT_UNSUPPORTED:
#if defined(MBEDTLS_PKCS5_C)
        return "the private key is encrypted with a scheme spo does not read (re-encrypt it: "
               "openssl pkcs8 -topk8 -v2 aes-256-cbc)";
#else
        return "this build of spo reads no encrypted private key (SPO_NO_ENCRYPTED_KEYS): store "
               "the key decrypted (openssl pkey)";
#endif
    case SPO_CERT_MISMATCH:
        return "the private key does not belong to the first certificate in the file";
    case SPO_CERT_CLOCK:
        return "the device clock is not set (before 2020): the assertion would be refused";
    case SPO_CERT_NO_MEMORY: return "mbedTLS's pool ran out (raise SPO_TLS_POOL_SIZE)";
    default: return "unknown certificate problem";
    }
}

int spo_cert_fail(spo_cert_cred *c, int problem, int mbedtls_err, int status)
{
    c->problem = (uint8_t)problem;
    c->mbedtls_err = mbedtls_err;
    return status;
}

size_t spo_cert_pool_failures(void)
{
    spo_tls_pool_stats st;
    spo_tls_pool_get(&st);
    return st.failures;
}

/* mbedTLS reports a key it cannot decrypt, a scheme it lacks and an exhausted allocator in many
 * ways; the person at the device needs to know which of the three it is. */
static int key_error(spo_cert_cred *c, int err, size_t failures_before)
{
    int high = -((-err) & 0xFF80);
    if (spo_cert_pool_failures() != failures_before || high == MBEDTLS_ERR_PK_ALLOC_FAILED ||
        high == MBEDTLS_ERR_PEM_ALLOC_FAILED)
        return spo_cert_fail(c, SPO_CERT_NO_MEMORY, err, SPO_E_TLS_POOL);
    switch (high) {
    case MBEDTLS_ERR_PK_PASSWORD_REQUIRED:
    case MBEDTLS_ERR_PEM_PASSWORD_REQUIRED:
        return spo_cert_fail(c, SPO_CERT_NEED_PASSWORD, err, SPO_E_ARG);
    case MBEDTLS_ERR_PK_PASSWORD_MISMATCH:
    case MBEDTLS_ERR_PEM_PASSWORD_MISMATCH:
        return spo_cert_fail(c, SPO_CERT_BAD_PASSWORD, err, SPO_E_ARG);
    case MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE:
    case MBEDTLS_ERR_PEM_FEATURE_UNAVAILABLE:
    case MBEDTLS_ERR_PEM_UNKNOWN_ENC_ALG:
    case MBEDTLS_ERR_PKCS5_FEATURE_UNAVAILABLE:
    case MBEDTLS_ERR_PKCS12_FEATURE_UNAVAILABLE:
        return spo_cert_fail(c, SPO_CERT_UNSUPPORTED, err, SPO_E_ARG);
    default:
        /* A wrong password decrypts to garbage, and the padding check lets garbage through 1 time
         * in 256; the garbage then fails anywhere in the key parser (format, version, algorithm,
         * RSA check). With an encrypted key, a key that does not parse is the password's fault
         * (the message also names a damaged file). */
        if (c->password_len)
            return spo_cert_fail(c, SPO_CERT_BAD_PASSWORD, err, SPO_E_ARG);
        if (high == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG)
            return spo_cert_fail(c, SPO_CERT_NOT_RSA, err, SPO_E_ARG);
        return spo_cert_fail(c, SPO_CERT_BAD_KEY, err, SPO_E_ARG);
    }
}

/* The key block (pem[0..key_len], NUL-terminated) into pk, decrypted with the stored password. */
int spo_cert_parse_key(spo_cert_cred *c, mbedtls_pk_context *pk,
                       int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    size_t failures = spo_cert_pool_failures();
    mbedtls_pk_init(pk);
    int err = mbedtls_pk_parse_key(pk, (const unsigned char *)c->pem, c->key_len + 1,
                                   (const unsigned char *)c->password, c->password_len, f_rng,
                                   p_rng);
    if (err != 0) {
        mbedtls_pk_free(pk);
        return key_error(c, err, failures);
    }
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA) {
        mbedtls_pk_free(pk);
        return spo_cert_fail(c, SPO_CERT_NOT_RSA, 0, SPO_E_ARG);
    }
    return SPO_OK;
}

/* ------------------------------------------------------------------ loading */

void spo_cert_wipe(spo_cert_cred *c)
{
    if (c)
        mbedtls_platform_zeroize(c, sizeof *c);
}

static int fail_wipe(spo_cert_cred *c, int problem, int mbedtls_err, int status)
{
    spo_cert_wipe(c);
    return spo_cert_fail(c, problem, mbedtls_err, status);
}

enum key_kind { KEY_NOT_RSA = -1, KEY_UNKNOWN, KEY_PKCS1, KEY_PKCS8, KEY_PKCS8_ENCRYPTED };

static int label_kind(const char *label, size_t n)
{
    static const struct {
        const char *label;
        int kind;
    } kinds[] = {
        { "RSA PRIVATE KEY", KEY_PKCS1 },
        { "PRIVATE KEY", KEY_PKCS8 },
        { "ENCRYPTED PRIVATE KEY", KEY_PKCS8_ENCRYPTED },
        { "EC PRIVATE KEY", KEY_NOT_RSA },
        { "DSA PRIVATE KEY", KEY_NOT_RSA },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].label) == n && !memcmp(label, kinds[i].label, n))
            return kinds[i].kind;
    return KEY_UNKNOWN; /* OPENSSH, ANY, ... */
}

/* Finds the first "-----BEGIN <label>-----" whose label ends in "PRIVATE KEY" and its END line.
 * Returns the problem: OK with [*from, *to) the whole block, NO_KEY or BAD_KEY (no END line). */
static int find_key(const char *s, const char **from, const char **to, int *kind)
{
    static const char tail[] = "PRIVATE KEY-----";
    for (const char *b = strstr(s, "-----BEGIN "); b; b = strstr(b + 1, "-----BEGIN ")) {
        const char *label = b + 11, *eol = label;
        while (*eol && *eol != '\n' && *eol != '\r')
            eol++;
        const char *dash = strstr(label, "-----");
        if (!dash || dash > eol || (size_t)(dash + 5 - label) < sizeof tail - 1 ||
            memcmp(dash + 5 - (sizeof tail - 1), tail, sizeof tail - 1) != 0)
            continue;
        size_t llen = (size_t)(dash - label);
        const char *e = eol;
        while ((e = strstr(e, "-----END ")) != NULL &&
               (strncmp(e + 9, label, llen) != 0 || strncmp(e + 9 + llen, "-----", 5) != 0))
            e += 9;
        if (!e)
            return SPO_CERT_BAD_KEY; /* truncated */
        *from = b;
        *to = e + 9 + llen + 5;
        *kind = label_kind(label, llen);
        return SPO_CERT_OK;
    }
    return SPO_CERT_NO_KEY;
}

/* The first certificate: thumbprints, and parsed into crt (which points into pem->buf). */
static int load_cert(spo_cert_cred *c, mbedtls_pem_context *pem, mbedtls_x509_crt *crt)
{
    uint8_t h[32];
    size_t used = 0, failures = spo_cert_pool_failures();
    if (!strstr(c->pem, CERT_BEGIN))
        return spo_cert_fail(c, SPO_CERT_NO_CERT, 0, SPO_E_ARG);
    int err = mbedtls_pem_read_buffer(pem, CERT_BEGIN, CERT_END, (const unsigned char *)c->pem,
                                      NULL, 0, &used);
    size_t dlen = 0;
    const unsigned char *der = err == 0 ? mbedtls_pem_get_buffer(pem, &dlen) : NULL;
    if (err == 0)
        err = der ? mbedtls_x509_crt_parse_der_nocopy(crt, der, dlen) : MBEDTLS_ERR_PEM_BAD_INPUT_DATA;
    if (err != 0) {
        if (spo_cert_pool_failures() != failures)
            return spo_cert_fail(c, SPO_CERT_NO_MEMORY, err, SPO_E_TLS_POOL);
        return spo_cert_fail(c, SPO_CERT_BAD_CERT, err, SPO_E_ARG);
    }
    if (mbedtls_pk_get_type(&crt->pk) != MBEDTLS_PK_RSA)
        return spo_cert_fail(c, SPO_CERT_NOT_RSA, 0, SPO_E_ARG);
    if (mbedtls_sha256(der, dlen, h, 0) != 0)
        return spo_cert_fail(c, SPO_CERT_OK, 0, SPO_E_INTERNAL);
    c->x5t_s256[spo_b64url(c->x5t_s256, h, 32)] = '\0';
    if (mbedtls_sha1(der, dlen, h) != 0)
        return spo_cert_fail(c, SPO_CERT_OK, 0, SPO_E_INTERNAL);
    c->x5t[spo_b64url(c->x5t, h, 20)] = '\0';
    return SPO_OK;
}

/* Keeps only the key block at the start of pem (NUL-terminated, the rest zeroed) and the password
 * if the key is encrypted. */
static int keep_key(spo_cert_cred *c, size_t len, const char *password)
{
    const char *from = NULL, *to = NULL;
    int kind = KEY_UNKNOWN;
    int problem = find_key(c->pem, &from, &to, &kind);
    if (problem != SPO_CERT_OK)
        return spo_cert_fail(c, problem, 0, SPO_E_ARG);
    if (kind == KEY_NOT_RSA)
        return spo_cert_fail(c, SPO_CERT_NOT_RSA, 0, SPO_E_ARG);
    if (kind == KEY_UNKNOWN)
        return spo_cert_fail(c, SPO_CERT_BAD_KEY, 0, SPO_E_ARG);
    size_t klen = (size_t)(to - from);
    int encrypted = kind == KEY_PKCS8_ENCRYPTED;
    if (kind == KEY_PKCS1) {
        const char *proc = strstr(from, "Proc-Type: 4,ENCRYPTED");
        encrypted = proc && proc < to;
    }
#if !defined(MBEDTLS_PKCS5_C) && !defined(MBEDTLS_PKCS12_C)
    if (kind == KEY_PKCS8_ENCRYPTED) /* else mbedTLS would try it as DER and blame the password */
        return spo_cert_fail(c, SPO_CERT_UNSUPPORTED, 0, SPO_E_ARG);
#endif
#if !defined(MBEDTLS_MD5_C) || !defined(MBEDTLS_CIPHER_MODE_CBC)
    if (kind == KEY_PKCS1 && encrypted)
        return spo_cert_fail(c, SPO_CERT_UNSUPPORTED, 0, SPO_E_ARG);
#endif
    memmove(c->pem, from, klen);
    mbedtls_platform_zeroize(c->pem + klen, len + 1 - klen);
    c->key_len = klen;
    if (encrypted) {
        size_t plen = password ? strlen(password) : 0;
        if (plen == 0)
            return spo_cert_fail(c, SPO_CERT_NEED_PASSWORD, 0, SPO_E_ARG);
        if (plen >= sizeof c->password)
            return spo_cert_fail(c, SPO_CERT_BAD_PASSWORD, 0, SPO_E_TOO_LONG);
        memcpy(c->password, password, plen);
        c->password_len = plen;
    }
    return SPO_OK;
}

static int load(spo_cert_cred *c, size_t len, const char *password)
{
    c->pem[len] = '\0';
    while (len && c->pem[len - 1] == '\0') /* a NUL-terminated buffer passed with its NUL */
        len--;
    if (memchr(c->pem, '\0', len) || !strstr(c->pem, "-----BEGIN "))
        return fail_wipe(c, SPO_CERT_NOT_PEM, 0, SPO_E_ARG);

    mbedtls_pem_context pem;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    mbedtls_pem_init(&pem);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&pk);
    int rc = load_cert(c, &pem, &crt);
    if (rc == SPO_OK)
        rc = keep_key(c, len, password);
    if (rc == SPO_OK)
        rc = spo_cert_parse_key(c, &pk, NULL, NULL);
    if (rc == SPO_OK) {
        int err = mbedtls_rsa_check_pub_priv(mbedtls_pk_rsa(crt.pk), mbedtls_pk_rsa(pk));
        if (err != 0)
            rc = spo_cert_fail(c, SPO_CERT_MISMATCH, err, SPO_E_ARG);
        else if (mbedtls_pk_get_bitlen(&pk) < KEY_MIN_BITS)
            rc = spo_cert_fail(c, SPO_CERT_KEY_SIZE, 0, SPO_E_ARG);
        else
            c->key_bits = (uint32_t)mbedtls_pk_get_bitlen(&pk);
    }
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    mbedtls_pem_free(&pem);
    if (rc != SPO_OK)
        return fail_wipe(c, c->problem, c->mbedtls_err, rc);
    c->loaded = 1;
    c->assertion_form = spo_assertion_form; /* auth.c signs through this (see spo_cert_cred) */
    return spo_cert_fail(c, SPO_CERT_OK, 0, SPO_OK);
}

int spo_cert_load_pem(spo_cert_cred *c, const char *pem, size_t len, const char *password)
{
    if (!c)
        return SPO_E_ARG;
    spo_cert_wipe(c);
    if (!pem)
        return spo_cert_fail(c, SPO_CERT_NOT_PEM, 0, SPO_E_ARG);
    if (len > SPO_CERT_PEM_MAX)
        return spo_cert_fail(c, SPO_CERT_TOO_BIG, 0, SPO_E_TOO_LONG);
    memcpy(c->pem, pem, len);
    return load(c, len, password);
}

int spo_cert_load_file(spo_cert_cred *c, const spo_port *port, const char *path,
                       const char *password)
{
    if (!c)
        return SPO_E_ARG;
    spo_cert_wipe(c);
    if (!port || !port->file_read || !path || !*path)
        return spo_cert_fail(c, SPO_CERT_UNREADABLE, 0, SPO_E_ARG);
    size_t len = 0;
    for (;;) {
        size_t room = SPO_CERT_PEM_MAX - len;
        uint8_t probe;
        /* A full buffer is only an error if the file goes on: read one byte more to know. */
        int n = port->file_read(port->ctx, path, len, room ? (uint8_t *)c->pem + len : &probe,
                                room ? room : 1);
        if (n < 0)
            return fail_wipe(c, SPO_CERT_UNREADABLE, 0, SPO_E_ARG);
        if (n == 0)
            break;
        if (room == 0) {
            mbedtls_platform_zeroize(&probe, sizeof probe);
            return fail_wipe(c, SPO_CERT_TOO_BIG, 0, SPO_E_TOO_LONG);
        }
        if ((size_t)n > room)
            return fail_wipe(c, SPO_CERT_OK, 0, SPO_E_INTERNAL); /* the port overran the buffer */
        len += (size_t)n;
    }
    return load(c, len, password);
}
