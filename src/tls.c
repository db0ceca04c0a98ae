/* spo — TLS client over the port: mbedTLS 3.6 with verification always on.
 *
 * mbedTLS sees the port through blocking bio callbacks that remember the port's own status, so a
 * failure is reported as what the network said (timeout, reset) rather than as mbedTLS's generic
 * read error. Pool exhaustion is recognised by the pool's failure counter, because mbedTLS turns it
 * into "certificate verification failed" when it happens inside the chain check. */
#include "tls_priv.h"

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/platform_util.h>
#include <psa/crypto.h>

#include <limits.h>
#include <string.h>

int spo_tls_global_init(const spo_port *port)
{
    if (!port)
        return SPO_E_ARG;
    spo_tls_platform_set_port(port);
    psa_status_t s = psa_crypto_init(); /* a no-op once it has succeeded */
    if (s == PSA_SUCCESS)
        return SPO_OK;
    if (s == PSA_ERROR_INSUFFICIENT_ENTROPY)
        return SPO_E_ENTROPY;
    return s == PSA_ERROR_INSUFFICIENT_MEMORY ? SPO_E_TLS_POOL : SPO_E_TLS;
}

static size_t pool_failures(void)
{
    spo_tls_pool_stats st;
    spo_tls_pool_get(&st);
    return st.failures;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    spo_tls *t = ctx;
    int n = t->port->send(t->port->ctx, t->conn, buf, len, t->timeout_ms);
    if (n > 0)
        return n;
    t->net_err = n < 0 ? n : SPO_E_NET_IO;
    return t->net_err == SPO_E_NET_TIMEOUT ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
    spo_tls *t = ctx;
    (void)timeout; /* same as t->timeout_ms, set with mbedtls_ssl_conf_read_timeout */
    int n = t->port->recv(t->port->ctx, t->conn, buf, len, t->timeout_ms);
    if (n >= 0)
        return n; /* 0: end of stream, which mbedTLS reports as CONN_EOF */
    t->net_err = n;
    if (n == SPO_E_NET_TIMEOUT)
        return MBEDTLS_ERR_SSL_TIMEOUT;
    return n == SPO_E_NET_CLOSED ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Common to every failed mbedTLS call; the verification case is decided by the caller. */
static int map_err(spo_tls *t, int ret, size_t fails_before)
{
    t->last_mbedtls_err = ret;
    if (pool_failures() != fails_before)
        return SPO_E_TLS_POOL;
    if (t->trust_err)
        return SPO_E_TLS_TRUST;
    if (t->net_err)
        return t->net_err;
    if (ret == MBEDTLS_ERR_SSL_TIMEOUT)
        return SPO_E_NET_TIMEOUT;
    if (ret == MBEDTLS_ERR_SSL_CONN_EOF)
        return SPO_E_NET_CLOSED;
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED || ret == MBEDTLS_ERR_X509_ALLOC_FAILED)
        return SPO_E_TLS_POOL;
    return SPO_E_TLS;
}

/* PKCS#1 v1.5 before PSS. mbedTLS 3.6.6 offers rsa_pss_rsae_* in the ClientHello (TLS 1.3 needs
 * them for RSA server keys) but its TLS 1.2 client then refuses a ServerKeyExchange signed with them
 * (-0x6600, Mbed-TLS/mbedtls#10668, fixed after 3.6.6). Listing PKCS#1 first makes a TLS 1.2 server
 * that follows the client's order pick it (TLS 1.3 forbids PKCS#1 there, so it still picks PSS); a
 * server that follows its own order gets a second connection offering TLS 1.2 and PKCS#1 only. */
static const uint16_t sig_algs[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256, MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,       MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,       MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA384,    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA512,
    MBEDTLS_TLS1_3_SIG_NONE
};
static const uint16_t sig_algs_tls12[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256, MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,       MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,       MBEDTLS_TLS1_3_SIG_NONE
};

/* With an unknown clock, "not valid yet" measured against the build date says nothing (see
 * spo_tls_set_clock_offset); every other flag stands. */
static int verify_clock(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)ctx;
    (void)crt;
    (void)depth;
    if (spo_tls_clock_unknown())
        *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_FUTURE | MBEDTLS_X509_BADCRL_FUTURE);
    return 0;
}

int spo_tls_init(spo_tls *t, const spo_port *port, const spo_trust *trust, uint32_t timeout_ms)
{
    if (!t || !port || !port->connect || !port->send || !port->recv || !port->close || !trust ||
        timeout_ms == 0 || (trust->pem_path != NULL) == (trust->pem != NULL) ||
        (trust->pem && trust->pem_len == 0))
        return SPO_E_ARG;
    if (!spo_tls_platform_port()) {
        int rc = spo_tls_global_init(port);
        if (rc != SPO_OK)
            return rc;
    }
    memset(t, 0, sizeof *t);
    t->port = port;
    t->timeout_ms = timeout_ms;
    if (trust->pem_path) {
        size_t n = strlen(trust->pem_path);
        if (n == 0)
            return SPO_E_ARG;
        if (n >= sizeof t->ca_path)
            return SPO_E_TOO_LONG;
        memcpy(t->ca_path, trust->pem_path, n + 1);
        t->trust.pem_path = t->ca_path;
    } else {
        t->trust.pem = trust->pem;
        t->trust.pem_len = trust->pem_len;
    }
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_ssl_init(&t->ssl);

    static const unsigned char pers[] = "spo tls";
    int ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers, sizeof pers);
    if (ret == 0)
        ret = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        int st = ret == MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED ? SPO_E_ENTROPY : SPO_E_TLS;
        spo_tls_free(t);
        return st;
    }
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_verify(&t->conf, verify_clock, NULL);
    mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_ca_cb(&t->conf, spo_tls_trust_ca_cb, t);
    mbedtls_ssl_conf_read_timeout(&t->conf, timeout_ms);
    return SPO_OK;
}

/* Drop the socket and the session; the record buffers go back to the pool between connections. */
static void drop(spo_tls *t)
{
    if (t->open)
        t->port->close(t->port->ctx, t->conn);
    t->open = 0;
    if (t->setup) {
        mbedtls_ssl_free(&t->ssl);
        mbedtls_ssl_init(&t->ssl);
    }
    t->setup = 0;
}

/* One TCP connection and handshake. *retry_tls12 is set for the 3.6.6 PSS refusal described above
 * sig_algs: only a server that chose TLS 1.2 in its ServerHello gets there (a 1.3 server pushed
 * down to 1.2 by an attacker is caught earlier by the downgrade sentinel), so trying it again with
 * TLS 1.2 and PKCS#1 only gives away nothing it would not have negotiated anyway. */
static int attempt(spo_tls *t, const char *host, uint16_t port, int *retry_tls12)
{
    t->net_err = 0;
    int rc = t->port->connect(t->port->ctx, host, port, t->timeout_ms, &t->conn);
    if (rc != SPO_OK)
        return rc < 0 ? rc : SPO_E_NET_CONNECT;
    t->open = 1;

    size_t fails = pool_failures();
    int ret = mbedtls_ssl_setup(&t->ssl, &t->conf);
    t->setup = 1;
    if (ret == 0)
        ret = mbedtls_ssl_set_hostname(&t->ssl, host);
    if (ret == 0) {
        mbedtls_ssl_set_bio(&t->ssl, t, bio_send, NULL, bio_recv);
        do
            ret = mbedtls_ssl_handshake(&t->ssl);
        while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
    }
    if (ret == 0)
        return SPO_OK;

    rc = map_err(t, ret, fails);
    if (rc == SPO_E_TLS_POOL || rc == SPO_E_TLS_TRUST) {
        /* keep as is: a refusal here is a symptom of the missing memory or bundle */
    } else if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || ret == MBEDTLS_ERR_SSL_BAD_CERTIFICATE) {
        t->verify_flags = mbedtls_ssl_get_verify_result(&t->ssl);
        rc = SPO_E_TLS_VERIFY;
    } else if (ret == MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER &&
               mbedtls_ssl_get_version_number(&t->ssl) == MBEDTLS_SSL_VERSION_TLS1_2) {
        *retry_tls12 = 1;
    }
    drop(t);
    return rc;
}

int spo_tls_connect(spo_tls *t, const char *host, uint16_t port)
{
    if (!t || !t->port || !host || host[0] == '\0')
        return SPO_E_ARG;
    if (strlen(host) >= SPO_HOST_MAX)
        return SPO_E_TOO_LONG;
    drop(t);
    t->verify_flags = 0;
    t->last_mbedtls_err = 0;
    t->trust_err = 0;
    t->ca_skipped = 0;
    if (spo_tls_trust_check(t) != SPO_OK)
        return SPO_E_TLS_TRUST;
    /* the configuration may only change while no session uses it, i.e. here */
    mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_sig_algs(&t->conf, sig_algs);
    int retry = 0;
    int rc = attempt(t, host, port, &retry);
    if (retry) {
        mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
        mbedtls_ssl_conf_sig_algs(&t->conf, sig_algs_tls12);
        retry = 0;
        rc = attempt(t, host, port, &retry);
    }
    return rc;
}

int spo_tls_send(spo_tls *t, const uint8_t *buf, size_t len)
{
    if (!t || !t->open || (!buf && len))
        return SPO_E_ARG;
    size_t fails = pool_failures();
    t->net_err = 0;
    while (len > 0) {
        int ret = mbedtls_ssl_write(&t->ssl, buf, len);
        if (ret > 0) {
            buf += ret;
            len -= (size_t)ret;
        } else if (ret != MBEDTLS_ERR_SSL_WANT_WRITE && ret != MBEDTLS_ERR_SSL_WANT_READ) {
            return map_err(t, ret, fails);
        }
    }
    return SPO_OK;
}

int spo_tls_recv(spo_tls *t, uint8_t *buf, size_t len)
{
    if (!t || !t->open || !buf || len == 0)
        return SPO_E_ARG;
    if (len > INT_MAX)
        len = INT_MAX;
    size_t fails = pool_failures();
    t->net_err = 0;
    for (;;) {
        int ret = mbedtls_ssl_read(&t->ssl, buf, len);
        if (ret > 0)
            return ret;
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return 0;
        /* A TLS 1.3 server may send tickets at any time; spo does not resume, so they are skipped. */
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE ||
            ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            continue;
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
            t->last_mbedtls_err = ret;
            return SPO_E_NET_CLOSED; /* the transport ended without close_notify */
        }
        return map_err(t, ret, fails);
    }
}

void spo_tls_close(spo_tls *t)
{
    if (!t)
        return;
    if (t->open && t->setup && mbedtls_ssl_is_handshake_over(&t->ssl))
        (void)mbedtls_ssl_close_notify(&t->ssl);
    drop(t);
}

void spo_tls_free(spo_tls *t)
{
    if (!t)
        return;
    if (t->port)
        drop(t);
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    mbedtls_platform_zeroize(t, sizeof *t);
}

unsigned spo_tls_verify_reason(const spo_tls *t)
{
    if (!t)
        return 0;
    uint32_t f = t->verify_flags;
    unsigned r = 0;
    if (f & MBEDTLS_X509_BADCERT_EXPIRED)
        r |= SPO_TLS_BAD_EXPIRED;
    if (f & MBEDTLS_X509_BADCERT_FUTURE)
        r |= SPO_TLS_BAD_FUTURE;
    if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH)
        r |= SPO_TLS_BAD_HOST;
    if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        r |= SPO_TLS_BAD_UNTRUSTED;
    if (f & ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                        MBEDTLS_X509_BADCERT_CN_MISMATCH | MBEDTLS_X509_BADCERT_NOT_TRUSTED))
        r |= SPO_TLS_BAD_OTHER;
    return r;
}
