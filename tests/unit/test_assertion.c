/* Certificate credentials and the client assertion, checked against openssl: keys and certificates
 * are generated at test time in every PEM form Azure tooling writes, spo's signatures are verified
 * with `openssl dgst`, its thumbprints compared with `openssl x509 -fingerprint`. The pool figures
 * of loading and signing are printed, alone and with a TLS connection open (Python's ssl module
 * serving the Microsoft-shaped chain of tests/pki.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mbedtls/pk.h>

#include "spo/auth.h"
#include "spo/tls.h"

#define PASS "Tr0ub4dor&3" /* '&' on purpose: it must reach mbedTLS unchanged */
#define AUD "https://login.microsoftonline.com/aaaabbbb-0000-cccc-1111-dddd2222eeee/oauth2/v2.0/token"
#define CLIENT "535fb089-9ff3-47b6-9bfb-4f1264799865"
#define NOW 1795000000LL

static const spo_port *posix;
static int have_tools, have_pki, made_dir;
static char dir[] = "/tmp/spo_assertion_test_XXXXXX";
static spo_cert_cred cred; /* 8.5 KB: static, as a program would keep it */

static const char gen_sh[] =
    "set -e\n"
    "cd \"$1\"\n"
    "g() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$2 -out \"$1\" 2>/dev/null; }\n"
    "c() { openssl req -x509 -new -key \"$1\" -subj '/CN=spo test app' -days 30 -sha256 "
    "-out \"$2\" 2>/dev/null; }\n"
    "e() { k=$1; shift; openssl pkcs8 -topk8 -in \"$k\" -passout pass:'" PASS "' \"$@\"; }\n"
    "for b in 2048 4096; do\n"
    "  g k$b.pem $b; c k$b.pem c$b.pem; openssl pkey -in k$b.pem -pubout -out pub$b.pem\n"
    "  openssl x509 -in c$b.pem -noout -fingerprint -sha256 > fp$b-256.txt\n"
    "  openssl x509 -in c$b.pem -noout -fingerprint -sha1 > fp$b-1.txt\n"
    "  openssl x509 -in c$b.pem -outform DER -out c$b.der\n"
    "  openssl rsa -in k$b.pem -traditional -outform DER -out k$b.der 2>/dev/null\n"
    "  e k$b.pem -v2 aes-256-cbc -out k$b-p8aes.pem\n"
    "done\n"
    "openssl rsa -in k2048.pem -traditional -out k2048-p1.pem 2>/dev/null\n"
    "openssl rsa -in k2048.pem -traditional -aes256 -passout pass:'" PASS "' -out k2048-p1aes.pem "
    "2>/dev/null\n"
    "openssl rsa -in k2048.pem -traditional -des3 -passout pass:'" PASS "' -out k2048-p1des.pem "
    "2>/dev/null\n"
    "e k2048.pem -v2 des3 -out k2048-p8des.pem\n"
    "e k2048.pem -v1 PBE-SHA1-3DES -out k2048-pbe.pem\n"
    "e k2048.pem -v2 aes-128-cbc -v2prf hmacWithSHA1 -out k2048-p8sha1.pem\n"
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem; c ec.pem cec.pem\n"
    "g other.pem 2048; g k1024.pem 1024; c k1024.pem c1024.pem\n"
    /* what a wrong password can decrypt to: well padded, a SEQUENCE, but PKCS#8 version 7, which
     * mbedTLS calls "invalid version", not "password mismatch" (PBES2, PBKDF2-SHA256, AES-256) */
    "k=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:'" PASS "' "
    "-kdfopt hexsalt:0011223344556677 -kdfopt iter:2048 PBKDF2 | tr -d :)\n"
    "iv=00112233445566778899aabbccddeeff\n"
    "ct=$(printf '\\060\\003\\002\\001\\007' | openssl enc -aes-256-cbc -K $k -iv $iv | od -An -tx1 "
    "| tr -d ' \\n')\n"
    "printf '%s\\n' 'asn1=SEQUENCE:epki' '[epki]' 'alg=SEQUENCE:alg' "
    "\"data=FORMAT:HEX,OCTETSTRING:$ct\" '[alg]' 'oid=OID:1.2.840.113549.1.5.13' "
    "'p=SEQUENCE:pbes2' '[pbes2]' 'kdf=SEQUENCE:kdf' 'enc=SEQUENCE:enc' '[kdf]' "
    "'oid=OID:1.2.840.113549.1.5.12' 'p=SEQUENCE:kdfp' '[kdfp]' "
    "'salt=FORMAT:HEX,OCTETSTRING:0011223344556677' 'iter=INTEGER:2048' 'prf=SEQUENCE:prf' "
    "'[prf]' 'oid=OID:1.2.840.113549.2.9' 'n=NULL' '[enc]' 'oid=OID:2.16.840.1.101.3.4.1.42' "
    "\"iv=FORMAT:HEX,OCTETSTRING:$iv\" > badver.cnf\n"
    "openssl asn1parse -genconf badver.cnf -out badver.der -noout\n"
    "{ echo '-----BEGIN ENCRYPTED PRIVATE KEY-----'; openssl base64 -in badver.der\n"
    "  echo '-----END ENCRYPTED PRIVATE KEY-----'; } > k-badver.pem\n"
    "grep -q 'Proc-Type: 4,ENCRYPTED' k2048-p1aes.pem\n"
    "grep -q 'DES-EDE3-CBC' k2048-p1des.pem\n"
    "grep -q 'BEGIN ENCRYPTED PRIVATE KEY' k2048-pbe.pem\n";

/* ------------------------------------------------------------------ helpers */

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static char *slurp(const char *name, size_t *len)
{
    FILE *f = fopen(path_of(name), "rb");
    assert_non_null(f);
    char *b = malloc(65536);
    assert_non_null(b);
    size_t n = fread(b, 1, 65535, f);
    fclose(f);
    b[n] = '\0';
    if (len)
        *len = n;
    return b;
}

static char *cat2(const char *a, const char *b)
{
    char *x = slurp(a, NULL), *y = slurp(b, NULL);
    char *r = malloc(strlen(x) + strlen(y) + 1);
    assert_non_null(r);
    strcpy(r, x);
    strcat(r, y);
    free(x);
    free(y);
    return r;
}

static void put_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(path_of(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int b64val(int ch)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = ch ? strchr(a, ch) : NULL;
    return p ? (int)(p - a) : -1;
}

/* Strict unpadded base64url decoding (the test's own, not spo's). Returns the length or -1. */
static long b64url_decode(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits && (acc & ((1u << bits) - 1)))
        return -1; /* non-canonical trailing bits */
    return (long)o;
}

static void b64url_encode(const uint8_t *in, size_t n, char *out)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

typedef struct jwt {
    char header[512];
    char claims[2048];
    uint8_t sig[1024];
    size_t sig_len;
    size_t signed_len; /* header.claims, as sent */
} jwt;

static void split(const char *a, jwt *j)
{
    const char *d1 = strchr(a, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    long n = b64url_decode(a, (size_t)(d1 - a), (uint8_t *)j->header);
    assert_true(n > 0 && (size_t)n < sizeof j->header);
    j->header[n] = '\0';
    n = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)j->claims);
    assert_true(n > 0 && (size_t)n < sizeof j->claims);
    j->claims[n] = '\0';
    n = b64url_decode(d2 + 1, strlen(d2 + 1), j->sig);
    assert_true(n > 0);
    j->sig_len = (size_t)n;
    j->signed_len = (size_t)(d2 - a);
}

/* Verify with openssl; pss_salt 0 = PKCS#1 v1.5. Returns openssl's exit status. */
static int openssl_verify(const char *assertion, const char *pub, int pss_salt)
{
    jwt j;
    split(assertion, &j);
    put_file("data.txt", assertion, j.signed_len);
    put_file("sig.bin", j.sig, j.sig_len);
    if (pss_salt)
        return sh("openssl dgst -sha256 -verify %s -sigopt rsa_padding_mode:pss "
                  "-sigopt rsa_pss_saltlen:%d -sigopt rsa_mgf1_md:sha256 -signature %s %s "
                  ">/dev/null 2>&1",
                  path_of(pub), pss_salt, path_of("sig.bin"), path_of("data.txt"));
    return sh("openssl dgst -sha256 -verify %s -signature %s %s >/dev/null 2>&1", path_of(pub),
              path_of("sig.bin"), path_of("data.txt"));
}

/* openssl's "sha256 Fingerprint=AB:CD:..." as unpadded base64url. */
static void fingerprint_b64(const char *name, char *out)
{
    char *t = slurp(name, NULL);
    char *p = strchr(t, '=');
    assert_non_null(p);
    uint8_t h[64];
    size_t n = 0;
    for (p++; p[0] && p[1] && p[0] != '\n'; p += 3) {
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        h[n++] = (uint8_t)v;
    }
    free(t);
    b64url_encode(h, n, out);
}

/* Deterministic entropy for reproducibility checks; fails when *ctx is 0. */
static int fake_entropy(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *s = ctx;
    if (*s == 0)
        return SPO_E_ENTROPY;
    for (size_t i = 0; i < len; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        buf[i] = (uint8_t)*s;
    }
    return SPO_OK;
}

static spo_assertion_params params(uint8_t alg)
{
    spo_assertion_params p = { AUD, CLIENT, NOW, alg, posix->entropy, posix->ctx };
    return p;
}

static spo_tls_pool_stats pool(void)
{
    spo_tls_pool_stats st;
    spo_tls_pool_get(&st);
    return st;
}

static void load_ok(const char *cert, const char *key, const char *password, unsigned bits)
{
    char *pem = cat2(cert, key);
    int rc = spo_cert_load_pem(&cred, pem, strlen(pem), password);
    if (rc != SPO_OK)
        print_message("%s + %s: %s (mbedTLS -0x%04x)\n", cert, key,
                      spo_cert_problem_text(cred.problem), (unsigned)-cred.mbedtls_err);
    free(pem);
    assert_int_equal(rc, SPO_OK);
    assert_int_equal(cred.problem, SPO_CERT_OK);
    assert_int_equal(cred.key_bits, bits);
}

static void check_failed(int rc, int status, int problem)
{
    if (rc != status || cred.problem != problem)
        print_message("got %d / %s (mbedTLS -0x%04x)\n", rc, spo_cert_problem_text(cred.problem),
                      (unsigned)-cred.mbedtls_err);
    assert_int_equal(rc, status);
    assert_int_equal(cred.problem, problem);
    /* nothing of a failed credential stays */
    assert_int_equal(cred.loaded, 0);
    assert_int_equal(cred.key_len, 0);
    assert_int_equal(cred.password_len, 0);
    for (size_t i = 0; i < sizeof cred.pem; i++)
        assert_int_equal(cred.pem[i], 0);
    assert_string_equal(cred.x5t_s256, "");
}

static void load_fails(const char *pem, size_t len, const char *password, int status, int problem)
{
    int rc = spo_cert_load_pem(&cred, pem, len, password);
    check_failed(rc, status, problem);
}

static void load_pair_fails(const char *cert, const char *key, const char *password, int status,
                            int problem)
{
    char *pem = cat2(cert, key);
    int rc = spo_cert_load_pem(&cred, pem, strlen(pem), password);
    free(pem);
    check_failed(rc, status, problem);
}

#define NEED_TOOLS()                                                                               \
    do {                                                                                           \
        if (!have_tools)                                                                           \
            skip();                                                                                \
    } while (0)

/* ------------------------------------------------------------------ setup */

static int group_setup(void **state)
{
    (void)state;
    posix = spo_port_posix();
    if (spo_tls_global_init(posix) != SPO_OK)
        return -1;
    if (system("openssl version >/dev/null 2>&1") != 0) {
        print_message("openssl missing: assertion tests skipped\n");
        return 0;
    }
    if (!mkdtemp(dir))
        return -1;
    made_dir = 1;
    put_file("gen.sh", gen_sh, strlen(gen_sh));
    if (sh("sh %s %s", path_of("gen.sh"), dir) != 0) {
        (void)sh("rm -rf %s", dir); /* cmocka skips the teardown when the setup fails */
        return -1;
    }
    have_tools = 1;
    have_pki = access("/usr/bin/python3", X_OK) == 0 && access("tests/pki.sh", R_OK) == 0 &&
               sh("bash tests/pki.sh %s >/dev/null 2>&1", path_of("pki")) == 0;
    if (!have_pki)
        print_message("python3 or tests/pki.sh missing: the TLS-open pool figure is skipped\n");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    spo_cert_wipe(&cred);
    if (made_dir && sh("rm -rf %s", dir) != 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ tests */

/* Every PEM key form, PS256 and RS256, each signature checked by openssl. */
static void test_key_forms_sign_and_verify(void **state)
{
    (void)state;
    NEED_TOOLS();
    static const struct {
        const char *key;
        const char *password;
    } forms[] = {
        { "k2048.pem", NULL },           /* PKCS#8 */
        { "k2048-p1.pem", NULL },        /* PKCS#1 */
        { "k2048-p8aes.pem", PASS },     /* PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC */
        { "k2048-p8sha1.pem", PASS },    /* PBES2, PBKDF2-HMAC-SHA1, AES-128-CBC */
        { "k2048-p8des.pem", PASS },     /* PBES2, 3DES */
        { "k2048-pbe.pem", PASS },       /* PKCS#12 PBE, SHA-1 + 3DES (OpenSSL 1.0) */
        { "k2048-p1aes.pem", PASS },     /* legacy Proc-Type: 4,ENCRYPTED, AES-256-CBC */
        { "k2048-p1des.pem", PASS },     /* legacy, DES-EDE3-CBC */
        { "k2048.pem", "ignored" },      /* a password for a clear key is ignored */
    };
    static char out[SPO_ASSERTION_MAX];
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        load_ok("c2048.pem", forms[i].key, forms[i].password, 2048);
        assert_int_equal(cred.password_len, forms[i].password && i != 8 ? strlen(PASS) : 0);
        for (uint8_t alg = SPO_JWT_PS256; alg <= SPO_JWT_RS256; alg++) {
            spo_assertion_params p = params(alg);
            size_t n = 0;
            assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, &n), SPO_OK);
            assert_int_equal(n, strlen(out));
            assert_int_equal(openssl_verify(out, "pub2048.pem", alg == SPO_JWT_PS256 ? 32 : 0), 0);
        }
    }
    /* the checks mean something: a PSS signature fails as v1.5 and with another salt length, and
     * a changed claim fails */
    spo_assertion_params p = params(SPO_JWT_PS256);
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
    assert_int_not_equal(openssl_verify(out, "pub2048.pem", 20), 0);
    assert_int_not_equal(openssl_verify(out, "pub2048.pem", 0), 0);
    char *dot = strchr(out, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_not_equal(openssl_verify(out, "pub2048.pem", 32), 0);
    spo_cert_wipe(&cred);
}

static void check_claims(const char *assertion, uint8_t alg, const char *aud, int64_t now,
                         char jti_out[37])
{
    jwt j;
    split(assertion, &j);
    char want[2048];
    if (alg == SPO_JWT_PS256)
        snprintf(want, sizeof want, "{\"alg\":\"PS256\",\"typ\":\"JWT\",\"x5t#S256\":\"%s\"}",
                 cred.x5t_s256);
    else
        snprintf(want, sizeof want, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\"}", cred.x5t);
    assert_string_equal(j.header, want);

    /* the claims as JSON, read back with spo's strict reader */
    char c_aud[1024], c_iss[64], c_sub[64], c_jti[64], c_nbf[24], c_iat[24], c_exp[24];
    spo_json_capture caps[] = {
        { { "aud", NULL }, c_aud, sizeof c_aud, 0, 0, 0, 0, 0 },
        { { "iss", NULL }, c_iss, sizeof c_iss, 0, 0, 0, 0, 0 },
        { { "sub", NULL }, c_sub, sizeof c_sub, 0, 0, 0, 0, 0 },
        { { "jti", NULL }, c_jti, sizeof c_jti, 0, 0, 0, 0, 0 },
        { { "nbf", NULL }, c_nbf, sizeof c_nbf, 0, 0, 0, 0, 0 },
        { { "iat", NULL }, c_iat, sizeof c_iat, 0, 0, 0, 0, 0 },
        { { "exp", NULL }, c_exp, sizeof c_exp, 0, 0, 0, 0, 0 },
    };
    static spo_json_reader r;
    spo_json_reader_init(&r, caps, 7, NULL, NULL, NULL);
    assert_int_equal(spo_json_reader_feed(&r, (const uint8_t *)j.claims, strlen(j.claims)), SPO_OK);
    assert_int_equal(spo_json_reader_finish(&r), SPO_OK);
    for (int i = 0; i < 7; i++)
        assert_int_equal(caps[i].found, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(caps[i].type, SPO_JSON_STRING);
    for (int i = 4; i < 7; i++)
        assert_int_equal(caps[i].type, SPO_JSON_NUMBER);
    assert_string_equal(c_aud, aud);
    assert_string_equal(c_iss, CLIENT);
    assert_string_equal(c_sub, CLIENT);
    assert_int_equal(strtoll(c_nbf, NULL, 10), now);
    assert_int_equal(strtoll(c_iat, NULL, 10), now);
    assert_int_equal(strtoll(c_exp, NULL, 10) - strtoll(c_iat, NULL, 10), 600);
    /* UUIDv4: 8-4-4-4-12 lowercase hex, version 4, variant 10xx */
    assert_int_equal(strlen(c_jti), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(c_jti[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", c_jti[i]));
    }
    assert_int_equal(c_jti[14], '4');
    assert_non_null(strchr("89ab", c_jti[19]));
    strcpy(jti_out, c_jti);
}

static void test_header_and_claims(void **state)
{
    (void)state;
    NEED_TOOLS();
    load_ok("c2048.pem", "k2048.pem", NULL, 2048);
    static char out[SPO_ASSERTION_MAX];
    char jti[4][37];
    for (int k = 0; k < 4; k++) {
        uint8_t alg = k % 2 ? SPO_JWT_RS256 : SPO_JWT_PS256;
        spo_assertion_params p = params(alg);
        assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
        check_claims(out, alg, AUD, NOW, jti[k]);
        for (int m = 0; m < k; m++)
            assert_string_not_equal(jti[k], jti[m]);
    }
    /* the claims in the order and form MSAL sends them, byte for byte */
    jwt j;
    split(out, &j);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"%s\",\"nbf\":%lld,"
             "\"iat\":%lld,\"exp\":%lld}",
             AUD, CLIENT, CLIENT, jti[3], NOW, NOW, NOW + 600);
    assert_string_equal(j.claims, want);

    /* aud is escaped as JSON, whatever it holds */
    static const char odd[] = "https://h/\"q\"\\x\x01\ty/\xc3\xa9";
    spo_assertion_params p = params(SPO_JWT_PS256);
    p.aud = odd;
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
    check_claims(out, SPO_JWT_PS256, odd, NOW, jti[0]);
    split(out, &j);
    assert_non_null(strstr(j.claims, "\"aud\":\"https://h/\\\"q\\\"\\\\x\\u0001\\ty/\xc3\xa9\""));
    assert_int_equal(openssl_verify(out, "pub2048.pem", 32), 0);
    spo_cert_wipe(&cred);
}

static void test_thumbprints(void **state)
{
    (void)state;
    NEED_TOOLS();
    static const unsigned bits[] = { 2048, 4096 };
    for (int i = 0; i < 2; i++) {
        char c[32], k[32], f256[32], f1[32], want256[64], want1[64];
        snprintf(c, sizeof c, "c%u.pem", bits[i]);
        snprintf(k, sizeof k, "k%u-p8aes.pem", bits[i]);
        snprintf(f256, sizeof f256, "fp%u-256.txt", bits[i]);
        snprintf(f1, sizeof f1, "fp%u-1.txt", bits[i]);
        load_ok(c, k, PASS, bits[i]);
        fingerprint_b64(f256, want256);
        fingerprint_b64(f1, want1);
        assert_int_equal(strlen(want256), 43);
        assert_int_equal(strlen(want1), 27);
        assert_string_equal(cred.x5t_s256, want256);
        assert_string_equal(cred.x5t, want1);
    }
    spo_cert_wipe(&cred);
}

static void test_rsa4096_and_sizes(void **state)
{
    (void)state;
    NEED_TOOLS();
    load_ok("c4096.pem", "k4096-p8aes.pem", PASS, 4096);
    static char out[SPO_ASSERTION_MAX];
    for (uint8_t alg = SPO_JWT_PS256; alg <= SPO_JWT_RS256; alg++) {
        spo_assertion_params p = params(alg);
        size_t n;
        assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, &n), SPO_OK);
        assert_int_equal(openssl_verify(out, "pub4096.pem", alg == SPO_JWT_PS256 ? 32 : 0), 0);
        jwt j;
        split(out, &j);
        assert_int_equal(j.sig_len, 512);
        print_message("RSA-4096 %s assertion: %zu bytes\n", alg ? "RS256" : "PS256", n);
    }
    /* the longest aud a token endpoint URL can have (SPO_AUTH_URL_MAX) still fits */
    static char aud[SPO_AUTH_URL_MAX];
    memset(aud, 'a', sizeof aud - 1);
    memcpy(aud, "https://", 8);
    spo_assertion_params p = params(SPO_JWT_PS256);
    p.aud = aud;
    size_t n;
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, &n), SPO_OK);
    print_message("RSA-4096 PS256 with a %zu-byte aud: %zu bytes of SPO_ASSERTION_MAX %d\n",
                  strlen(aud), n, SPO_ASSERTION_MAX);
    assert_int_equal(openssl_verify(out, "pub4096.pem", 32), 0);
    spo_cert_wipe(&cred);
}

/* From a file through the port, in the layouts real files have. */
static void test_files(void **state)
{
    (void)state;
    NEED_TOOLS();
    char *cert = slurp("c2048.pem", NULL), *key = slurp("k2048-p8aes.pem", NULL);
    char *other = slurp("c4096.pem", NULL);
    static char buf[32768];
    char want256[64];
    fingerprint_b64("fp2048-256.txt", want256);

    /* key first, then the certificate and a chain after it (Key Vault's order), with the "Bag
     * Attributes" text `openssl pkcs12` writes before each block */
    snprintf(buf, sizeof buf, "Bag Attributes\n    localKeyID: 01 00 00 00\n%s"
             "Bag Attributes\n    friendlyName: app\nsubject=/CN=spo test app\n%s%s",
             key, cert, other);
    put_file("bundle.pem", buf, strlen(buf));
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("bundle.pem"), PASS), SPO_OK);
    assert_string_equal(cred.x5t_s256, want256); /* the first certificate, not the chain's */
    static char out[SPO_ASSERTION_MAX];
    spo_assertion_params p = params(SPO_JWT_PS256);
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
    assert_int_equal(openssl_verify(out, "pub2048.pem", 32), 0);
    /* only the key block is kept, encrypted as it came */
    assert_int_equal(cred.key_len, strlen(key) - 1);
    assert_memory_equal(cred.pem, key, cred.key_len);
    assert_null(strstr(cred.pem, "CERTIFICATE"));

    /* CRLF line ends (a file saved on Windows) */
    size_t o = 0;
    for (const char *s = cert; *s; s++) {
        if (*s == '\n')
            buf[o++] = '\r';
        buf[o++] = *s;
    }
    for (const char *s = key; *s; s++) {
        if (*s == '\n')
            buf[o++] = '\r';
        buf[o++] = *s;
    }
    put_file("crlf.pem", buf, o);
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("crlf.pem"), PASS), SPO_OK);
    assert_string_equal(cred.x5t_s256, want256);
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
    assert_int_equal(openssl_verify(out, "pub2048.pem", 32), 0);

    /* exactly SPO_CERT_PEM_MAX bytes is accepted; one more is not */
    size_t n = strlen(cert) + strlen(key);
    assert_true(n < SPO_CERT_PEM_MAX);
    memset(buf, '#', SPO_CERT_PEM_MAX + 1);
    buf[SPO_CERT_PEM_MAX - n - 1] = '\n';
    memcpy(buf + SPO_CERT_PEM_MAX - n, cert, strlen(cert));
    memcpy(buf + SPO_CERT_PEM_MAX - strlen(key), key, strlen(key));
    put_file("max.pem", buf, SPO_CERT_PEM_MAX);
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("max.pem"), PASS), SPO_OK);
    assert_int_equal(spo_cert_load_pem(&cred, buf, SPO_CERT_PEM_MAX, PASS), SPO_OK);
    memmove(buf + 1, buf, SPO_CERT_PEM_MAX);
    put_file("big.pem", buf, SPO_CERT_PEM_MAX + 1);
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("big.pem"), PASS), SPO_E_TOO_LONG);
    assert_int_equal(cred.problem, SPO_CERT_TOO_BIG);
    load_fails(buf, SPO_CERT_PEM_MAX + 1, PASS, SPO_E_TOO_LONG, SPO_CERT_TOO_BIG);
    /* far bigger: the system CA bundle */
    if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
        assert_int_equal(spo_cert_load_file(&cred, posix, "/etc/ssl/certs/ca-certificates.crt",
                                            NULL),
                         SPO_E_TOO_LONG);
        assert_int_equal(cred.problem, SPO_CERT_TOO_BIG);
    }

    /* not there, empty, binary (DER), no port file access */
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("missing.pem"), NULL), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_UNREADABLE);
    put_file("empty.pem", "", 0);
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("empty.pem"), NULL), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_NOT_PEM);
    assert_int_equal(spo_cert_load_file(&cred, posix, path_of("c2048.der"), NULL), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_NOT_PEM);
    assert_int_equal(spo_cert_load_file(&cred, posix, NULL, NULL), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_UNREADABLE);
    assert_int_equal(spo_cert_load_file(NULL, posix, path_of("bundle.pem"), PASS), SPO_E_ARG);
    assert_int_equal(spo_cert_load_pem(NULL, "x", 1, NULL), SPO_E_ARG);
    assert_int_equal(spo_cert_load_pem(&cred, NULL, 0, NULL), SPO_E_ARG);
    spo_port nofile = *posix;
    nofile.file_read = NULL;
    assert_int_equal(spo_cert_load_file(&cred, &nofile, path_of("bundle.pem"), PASS), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_UNREADABLE);
    free(cert);
    free(key);
    free(other);
}

static void test_bad_credentials(void **state)
{
    (void)state;
    NEED_TOOLS();
    /* wrong passwords: many, so that garbage passing the padding check (1 time in 256 per
     * password) is met too, and still blamed on the password */
    static const char *const encrypted[] = { "k2048-p8aes.pem", "k2048-p1aes.pem", "k2048-pbe.pem",
                                             "k2048-p1des.pem" };
    int tries = 0, past_padding = 0;
    for (size_t k = 0; k < sizeof encrypted / sizeof encrypted[0]; k++) {
        char *pem = cat2("c2048.pem", encrypted[k]);
        for (int i = 0; i < (k == 1 ? 600 : 150); i++) {
            char pw[16];
            snprintf(pw, sizeof pw, "wrong%d", i);
            int rc = spo_cert_load_pem(&cred, pem, strlen(pem), pw);
            if (rc != SPO_E_ARG || cred.problem != SPO_CERT_BAD_PASSWORD)
                free(pem);
            check_failed(rc, SPO_E_ARG, SPO_CERT_BAD_PASSWORD);
            tries++;
            past_padding += cred.mbedtls_err != MBEDTLS_ERR_PK_PASSWORD_MISMATCH;
        }
        free(pem);
    }
    print_message("%d wrong passwords, %d of them past the padding check: all said as such\n", tries,
                  past_padding);
    /* garbage past the padding check that fails later in the key parser: still the password */
    load_pair_fails("c2048.pem", "k-badver.pem", PASS, SPO_E_ARG, SPO_CERT_BAD_PASSWORD);
    load_pair_fails("c2048.pem", "k2048-p8aes.pem", NULL, SPO_E_ARG, SPO_CERT_NEED_PASSWORD);
    load_pair_fails("c2048.pem", "k2048-p1des.pem", "", SPO_E_ARG, SPO_CERT_NEED_PASSWORD);
    char longpw[SPO_CERT_PASSWORD_MAX + 1];
    memset(longpw, 'p', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    load_pair_fails("c2048.pem", "k2048-p8aes.pem", longpw, SPO_E_TOO_LONG, SPO_CERT_BAD_PASSWORD);
    /* not RSA: an EC certificate, an EC key beside an RSA certificate */
    load_pair_fails("cec.pem", "ec.pem", NULL, SPO_E_ARG, SPO_CERT_NOT_RSA);
    load_pair_fails("c2048.pem", "ec.pem", NULL, SPO_E_ARG, SPO_CERT_NOT_RSA);
    /* another key than the certificate's; a 1024-bit key */
    load_pair_fails("c2048.pem", "other.pem", NULL, SPO_E_ARG, SPO_CERT_MISMATCH);
    load_pair_fails("c4096.pem", "k2048.pem", NULL, SPO_E_ARG, SPO_CERT_MISMATCH);
    load_pair_fails("c1024.pem", "k1024.pem", NULL, SPO_E_ARG, SPO_CERT_KEY_SIZE);

    char *cert = slurp("c2048.pem", NULL), *key = slurp("k2048.pem", NULL);
    char *p1 = slurp("k2048-p1aes.pem", NULL);
    static char buf[16384];
    /* one block only */
    load_fails(cert, strlen(cert), NULL, SPO_E_ARG, SPO_CERT_NO_KEY);
    load_fails(key, strlen(key), NULL, SPO_E_ARG, SPO_CERT_NO_CERT);
    /* truncated key: cut anywhere in the block (no END line, or a short body) */
    size_t clen = strlen(cert);
    for (size_t cut = 28; cut < strlen(key) - 1; cut += 97) { /* from the end of the BEGIN line */
        memcpy(buf, cert, clen);
        memcpy(buf + clen, key, cut);
        load_fails(buf, clen + cut, NULL, SPO_E_ARG, SPO_CERT_BAD_KEY);
    }
    /* lines missing in the middle of the key, END line intact */
    char *mid = strstr(key, "\n") + 1;
    snprintf(buf, sizeof buf, "%s%.*s%s", cert, (int)(mid - key + 65 * 3), key, mid + 65 * 9);
    load_fails(buf, strlen(buf), NULL, SPO_E_ARG, SPO_CERT_BAD_KEY);
    /* legacy encrypted key with a damaged DEK-Info */
    snprintf(buf, sizeof buf, "%s%s", cert, p1);
    char *dek = strstr(buf, "AES-256-CBC");
    assert_non_null(dek);
    memcpy(dek, "AES-999-CBC", 11);
    load_fails(buf, strlen(buf), PASS, SPO_E_ARG, SPO_CERT_UNSUPPORTED);
    /* truncated or damaged certificate */
    snprintf(buf, sizeof buf, "%.*s\n%s", (int)(clen / 2), cert, key);
    load_fails(buf, strlen(buf), NULL, SPO_E_ARG, SPO_CERT_BAD_CERT);
    snprintf(buf, sizeof buf, "%s%s", cert, key);
    assert_int_equal(buf[28], 'M'); /* "MII...": 0x30 0x82, the outer SEQUENCE */
    buf[28] = 'A';
    load_fails(buf, strlen(buf), NULL, SPO_E_ARG, SPO_CERT_BAD_CERT);
    /* an unknown key label, a NUL byte inside, no PEM at all */
    snprintf(buf, sizeof buf, "%s-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
             "-----END OPENSSH PRIVATE KEY-----\n", cert);
    load_fails(buf, strlen(buf), NULL, SPO_E_ARG, SPO_CERT_BAD_KEY);
    snprintf(buf, sizeof buf, "%s%s", cert, key);
    buf[clen] = '\0';
    load_fails(buf, clen + strlen(key), NULL, SPO_E_ARG, SPO_CERT_NOT_PEM);
    load_fails("hello", 5, NULL, SPO_E_ARG, SPO_CERT_NOT_PEM);
    /* a NUL-terminated buffer passed with its NUL is fine */
    snprintf(buf, sizeof buf, "%s%s", cert, key);
    assert_int_equal(spo_cert_load_pem(&cred, buf, strlen(buf) + 1, NULL), SPO_OK);
    /* every problem has a sentence */
    for (int i = 0; i <= SPO_CERT_NO_MEMORY + 1; i++)
        assert_true(strlen(spo_cert_problem_text(i)) > 8);
    free(cert);
    free(key);
    free(p1);
    spo_cert_wipe(&cred);
}

static void test_build_errors(void **state)
{
    (void)state;
    NEED_TOOLS();
    static char out[SPO_ASSERTION_MAX];
    spo_assertion_params p = params(SPO_JWT_PS256);
    spo_cert_wipe(&cred);
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_NO_KEY);
    load_ok("c2048.pem", "k2048-p8aes.pem", PASS, 2048);

    /* the exact size needed, found with a fixed entropy (the length does not depend on it) */
    uint64_t seed = 42;
    p.entropy = fake_entropy;
    p.entropy_ctx = &seed;
    size_t n = 0;
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, &n), SPO_OK);
    const size_t caps[] = { 0, 1, 2, 50, 107, 108, 109, n / 2, n - 342, n - 341, n - 1, n, n + 1 };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        memset(out, 'x', sizeof out);
        int rc = spo_assertion_build(&cred, &p, out, caps[i], NULL);
        assert_int_equal(rc, caps[i] > n ? SPO_OK : SPO_E_TOO_LONG);
        if (rc != SPO_OK)
            for (size_t k = 0; k < caps[i]; k++)
                assert_int_equal(out[k], 0); /* nothing half-written stays */
        assert_int_equal(out[caps[i]], 'x'); /* never past cap */
    }

    /* bad arguments, clock, entropy */
    assert_int_equal(spo_assertion_build(&cred, &p, NULL, 10, NULL), SPO_E_ARG);
    assert_int_equal(spo_assertion_build(NULL, &p, out, sizeof out, NULL), SPO_E_ARG);
    assert_int_equal(spo_assertion_build(&cred, NULL, out, sizeof out, NULL), SPO_E_ARG);
    spo_assertion_params q = p;
    q.entropy = NULL;
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ARG);
    q = p;
    q.aud = "";
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ARG);
    q = p;
    q.client_id = NULL;
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ARG);
    q = p;
    q.alg = 7;
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ARG);
    q = p;
    q.aud = "https://h/\xff";
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ARG);
    q = p;
    q.now = 0; /* a device without RTC, before NTP */
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ARG);
    assert_int_equal(cred.problem, SPO_CERT_CLOCK);
    q.now = SPO_ASSERTION_MIN_TIME;
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_OK);
    q = p;
    uint64_t dead = 0;
    q.entropy_ctx = &dead;
    memset(out, 'x', sizeof out);
    assert_int_equal(spo_assertion_build(&cred, &q, out, sizeof out, NULL), SPO_E_ENTROPY);
    assert_int_equal(out[0], 0);
    spo_cert_wipe(&cred);
}

/* The same entropy gives the same assertion (so tests can pin one); other entropy another. */
static void test_injectable_entropy(void **state)
{
    (void)state;
    NEED_TOOLS();
    load_ok("c2048.pem", "k2048-p1.pem", NULL, 2048);
    static char a[SPO_ASSERTION_MAX], b[SPO_ASSERTION_MAX];
    for (uint8_t alg = SPO_JWT_PS256; alg <= SPO_JWT_RS256; alg++) {
        uint64_t s1 = 7, s2 = 7, s3 = 8;
        spo_assertion_params p = params(alg);
        p.entropy = fake_entropy;
        p.entropy_ctx = &s1;
        assert_int_equal(spo_assertion_build(&cred, &p, a, sizeof a, NULL), SPO_OK);
        p.entropy_ctx = &s2;
        assert_int_equal(spo_assertion_build(&cred, &p, b, sizeof b, NULL), SPO_OK);
        assert_string_equal(a, b);
        p.entropy_ctx = &s3;
        assert_int_equal(spo_assertion_build(&cred, &p, b, sizeof b, NULL), SPO_OK);
        assert_string_not_equal(a, b);
        char j1[37], j2[37];
        check_claims(a, alg, AUD, NOW, j1);
        check_claims(b, alg, AUD, NOW, j2);
        assert_string_not_equal(j1, j2);
        assert_int_equal(openssl_verify(b, "pub2048.pem", alg == SPO_JWT_PS256 ? 32 : 0), 0);
    }
    spo_cert_wipe(&cred);
}

static void test_form(void **state)
{
    (void)state;
    NEED_TOOLS();
    load_ok("c2048.pem", "k2048.pem", NULL, 2048);
    static char body[2560];
    static const char head[] = "grant_type=client_credentials&client_id=" CLIENT
                               "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    static const char fields[] = "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
                                 "client-assertion-type%3Ajwt-bearer&client_assertion=";
    strcpy(body, head);
    size_t pos = strlen(head);
    spo_assertion_params p = params(SPO_JWT_PS256);
    assert_int_equal(spo_assertion_form(&cred, &p, body, sizeof body, &pos), SPO_OK);
    assert_int_equal(pos, strlen(body));
    assert_memory_equal(body, head, strlen(head));
    assert_memory_equal(body + strlen(head), fields, strlen(fields));
    const char *jwt_at = body + strlen(head) + strlen(fields);
    assert_int_equal(openssl_verify(jwt_at, "pub2048.pem", 32), 0);
    /* every byte of the assertion is form-safe as it stands */
    for (const char *s = jwt_at; *s; s++)
        assert_true(b64val(*s) >= 0 || *s == '.');
    size_t full = pos;

    /* an empty body gets no leading '&' */
    pos = 0;
    assert_int_equal(spo_assertion_form(&cred, &p, body, sizeof body, &pos), SPO_OK);
    assert_memory_equal(body, fields + 1, strlen(fields) - 1);

    /* too small: the body is cut back where it was and nothing of the assertion stays */
    for (size_t cap = strlen(head) + 1; cap <= full; cap += 97) {
        memset(body, 'x', sizeof body);
        strcpy(body, head);
        pos = strlen(head);
        assert_int_equal(spo_assertion_form(&cred, &p, body, cap, &pos), SPO_E_TOO_LONG);
        assert_int_equal(pos, strlen(head));
        assert_string_equal(body, head);
        for (size_t k = pos; k < cap; k++)
            assert_int_equal(body[k], 0);
        assert_int_equal(body[cap], 'x');
    }
    pos = strlen(head);
    strcpy(body, head);
    assert_int_equal(spo_assertion_form(&cred, &p, body, full + 1, &pos), SPO_OK);
    spo_cert_wipe(&cred);
}

/* Bytes of the key that must not be left in the pool: a run of the private exponent as in the
 * decoded DER, and its lowest limb as mbedTLS stores it (little-endian words). */
static void key_secrets(const char *der_name, uint8_t be[16], uint8_t le[16])
{
    size_t n;
    uint8_t *d = (uint8_t *)slurp(der_name, &n);
    size_t i = 4; /* SEQUENCE, long form with two length bytes */
    size_t hl = 0, len = 0;
    for (int field = 0; field < 4; field++) { /* version, n, e, then d */
        assert_int_equal(d[i], 0x02);
        /* any DER length form: d is one byte shorter than n about once in 30 keys (02 81 FF) */
        len = d[i + 1];
        hl = 2;
        if (len & 0x80) {
            size_t nb = len & 0x7f;
            len = 0;
            for (size_t k = 0; k < nb; k++)
                len = len << 8 | d[i + 2 + k];
            hl = 2 + nb;
        }
        if (field < 3)
            i += hl + len;
    }
    assert_true(len >= 128 && i + hl + len <= n);
    memcpy(be, d + i + hl + len / 2, 16);
    for (int k = 0; k < 16; k++)
        le[k] = d[i + hl + len - 1 - (size_t)k];
    free(d);
}

static int pool_holds(const uint8_t *pat, size_t n)
{
    const uint8_t *base;
    size_t size;
    spo_tls_pool_region(&base, &size);
    for (size_t i = 0; i + n <= size; i++)
        if (!memcmp(base + i, pat, n))
            return 1;
    return 0;
}

static void test_pool(void **state)
{
    (void)state;
    NEED_TOOLS();
    static const struct {
        const char *cert, *key, *password, *der;
        unsigned bits;
    } cases[] = {
        { "c2048.pem", "k2048.pem", NULL, "k2048.der", 2048 },
        { "c2048.pem", "k2048-p8aes.pem", PASS, "k2048.der", 2048 },
        { "c4096.pem", "k4096.pem", NULL, "k4096.der", 4096 },
        { "c4096.pem", "k4096-p8aes.pem", PASS, "k4096.der", 4096 },
    };
    static char out[SPO_ASSERTION_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t base = pool().used, peak[3];
        spo_tls_pool_reset_peak();
        load_ok(cases[i].cert, cases[i].key, cases[i].password, cases[i].bits);
        peak[0] = pool().peak - base;
        assert_int_equal(pool().used, base); /* the parsed key is gone again */
        for (uint8_t alg = SPO_JWT_PS256; alg <= SPO_JWT_RS256; alg++) {
            spo_assertion_params p = params(alg);
            spo_tls_pool_reset_peak();
            assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
            peak[1 + alg] = pool().peak - base;
            assert_int_equal(pool().used, base);
            assert_true(peak[1 + alg] < SPO_TLS_POOL_SIZE);
        }
        print_message("pool peak, RSA-%u %s key: load %zu B, sign PS256 %zu B, RS256 %zu B\n",
                      cases[i].bits, cases[i].password ? "encrypted PKCS#8" : "PKCS#8", peak[0],
                      peak[1], peak[2]);
        /* no key material left in the pool, as the DER held it or as mbedTLS's numbers did */
        uint8_t be[16], le[16];
        key_secrets(cases[i].der, be, le);
        assert_false(pool_holds(be, 16));
        assert_false(pool_holds(le, 16));
        spo_cert_wipe(&cred);
        const uint8_t *raw = (const uint8_t *)&cred;
        for (size_t k = 0; k < sizeof cred; k++)
            assert_int_equal(raw[k], 0);
        if (i == 0) { /* the search finds what is there */
            uint8_t *blk = spo_tls_pool_calloc(1, 16);
            assert_non_null(blk);
            memcpy(blk, le, 16);
            assert_true(pool_holds(le, 16));
            spo_tls_pool_free(blk);
            assert_false(pool_holds(le, 16));
        }
    }
}

/* An exhausted pool is said as such, while loading and while signing. */
static void test_pool_exhausted(void **state)
{
    (void)state;
    NEED_TOOLS();
    static char out[SPO_ASSERTION_MAX];
    load_ok("c4096.pem", "k4096-p8aes.pem", PASS, 4096);
    size_t room = pool().size - pool().used;
    void *filler = spo_tls_pool_calloc(1, room - 3000);
    assert_non_null(filler);
    spo_assertion_params p = params(SPO_JWT_PS256);
    memset(out, 'x', sizeof out);
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_E_TLS_POOL);
    assert_int_equal(cred.problem, SPO_CERT_NO_MEMORY);
    assert_int_equal(out[0], 0);
    spo_cert_cred *again = calloc(1, sizeof *again);
    assert_non_null(again);
    char *pem = cat2("c4096.pem", "k4096-p8aes.pem");
    assert_int_equal(spo_cert_load_pem(again, pem, strlen(pem), PASS), SPO_E_TLS_POOL);
    assert_int_equal(again->problem, SPO_CERT_NO_MEMORY);
    spo_tls_pool_free(filler);
    assert_int_equal(spo_cert_load_pem(again, pem, strlen(pem), PASS), SPO_OK);
    assert_int_equal(spo_assertion_build(again, &p, out, sizeof out, NULL), SPO_OK);
    assert_int_equal(openssl_verify(out, "pub4096.pem", 32), 0);
    spo_cert_wipe(again);
    free(again);
    free(pem);
    spo_cert_wipe(&cred);
}

/* ------------------------------------------------------------------ with a TLS connection open */

/* The situation of a token refresh in the middle of a listing: the Graph connection is still open
 * (spo_http_conn only closes it when the next request goes to another host) when the assertion is
 * signed. The server serves the Microsoft-shaped chain of tests/pki.sh (RSA-4096 issuing CA, a
 * leaf with 60 extra names), kept parsed by mbedTLS for the connection's life. */
static const char server_py[] =
    "import socket, ssl, sys\n"
    "cert, key, ver = sys.argv[1:4]\n"
    "ls = socket.socket()\n"
    "ls.bind(('127.0.0.1', 0)); ls.listen(4)\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "v = ssl.TLSVersion.TLSv1_2 if ver == '1.2' else ssl.TLSVersion.TLSv1_3\n"
    "ctx.minimum_version = v; ctx.maximum_version = v\n"
    "ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE\n"
    "ctx.load_cert_chain(cert, key)\n"
    "while True:\n"
    "    c, _ = ls.accept()\n"
    "    try:\n"
    "        s = ctx.wrap_socket(c, server_side=True)\n"
    "        while True:\n"
    "            d = s.recv(65536)\n"
    "            if not d: break\n"
    "            s.sendall(d)\n"
    "    except Exception:\n"
    "        pass\n"
    "    finally:\n"
    "        c.close()\n";

static pid_t server_pid;

static uint16_t start_server(const char *ver)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    put_file("server.py", server_py, strlen(server_py));
    char script[512], cert[512], key[512];
    snprintf(script, sizeof script, "%s", path_of("server.py"));
    snprintf(cert, sizeof cert, "%s", path_of("pki/mslike-chain.pem"));
    snprintf(key, sizeof key, "%s", path_of("pki/mslike.key"));
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(fds[1], 1);
        dup2(devnull, 2);
        close(fds[0]);
        close(fds[1]);
        close(devnull);
        execl("/usr/bin/python3", "python3", script, cert, key, ver, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[32];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    return (uint16_t)atoi(line);
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
    server_pid = 0;
    return 0;
}

static void test_pool_with_tls_open(void **state)
{
    NEED_TOOLS();
    if (!have_pki)
        skip();
    static char out[SPO_ASSERTION_MAX];
    static spo_tls t;
    static const char *const vers[] = { "1.2", "1.3" };
    for (int v = 0; v < 2; v++) {
        uint16_t port = start_server(vers[v]);
        spo_trust trust = { path_of("pki/ca.pem"), NULL, 0 };
        size_t base = pool().used;
        assert_int_equal(spo_tls_init(&t, posix, &trust, 10000), SPO_OK);
        spo_tls_pool_reset_peak();
        assert_int_equal(spo_tls_connect(&t, "localhost", port), SPO_OK);
        uint8_t ping[64] = "ping", pong[64];
        assert_int_equal(spo_tls_send(&t, ping, sizeof ping), SPO_OK);
        size_t got = 0;
        while (got < sizeof pong) {
            int n = spo_tls_recv(&t, pong + got, sizeof pong - got);
            assert_true(n > 0);
            got += (size_t)n;
        }
        size_t handshake = pool().peak - base, open_used = pool().used - base;
        static const struct {
            const char *cert, *key;
            unsigned bits;
        } keys[] = { { "c2048.pem", "k2048-p8aes.pem", 2048 }, { "c4096.pem", "k4096-p8aes.pem", 4096 } };
        for (int k = 0; k < 2; k++) {
            load_ok(keys[k].cert, keys[k].key, PASS, keys[k].bits);
            spo_tls_pool_reset_peak();
            spo_assertion_params p = params(SPO_JWT_PS256);
            int rc = spo_assertion_build(&cred, &p, out, sizeof out, NULL);
            size_t peak = pool().peak - base;
            print_message("pool, TLS %s open to the Microsoft-shaped chain (handshake peak %zu B, "
                          "%zu B held) + PS256 with RSA-%u: %s, peak %zu B of %d\n",
                          vers[v], handshake, open_used, keys[k].bits,
                          rc == SPO_OK ? "signed" : "POOL EXHAUSTED", peak, SPO_TLS_POOL_SIZE);
            /* whatever the figures, a shortage is said as such and harms nothing */
            assert_true(rc == SPO_OK || rc == SPO_E_TLS_POOL);
            if (rc != SPO_OK) {
                assert_int_equal(cred.problem, SPO_CERT_NO_MEMORY);
                assert_int_equal(out[0], 0);
            }
            assert_int_equal(pool().used - base, open_used);
        }
        /* the connection still works */
        assert_int_equal(spo_tls_send(&t, ping, sizeof ping), SPO_OK);
        assert_true(spo_tls_recv(&t, pong, sizeof pong) > 0);
        spo_tls_close(&t);
        spo_tls_free(&t);
        stop_server(state);
        assert_int_equal(pool().used, base);
    }
    /* closed, the largest key signs whatever the handshake needed before */
    spo_assertion_params p = params(SPO_JWT_PS256);
    assert_int_equal(spo_assertion_build(&cred, &p, out, sizeof out, NULL), SPO_OK);
    assert_int_equal(openssl_verify(out, "pub4096.pem", 32), 0);
    spo_cert_wipe(&cred);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_forms_sign_and_verify),
        cmocka_unit_test(test_header_and_claims),
        cmocka_unit_test(test_thumbprints),
        cmocka_unit_test(test_rsa4096_and_sizes),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_bad_credentials),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_injectable_entropy),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_pool_exhausted),
        cmocka_unit_test_teardown(test_pool_with_tls_open, stop_server),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
