/* spo's mbedTLS 3.6 configuration: a TLS 1.2 + 1.3 client, nothing more.
 *
 * Why each choice:
 * - Client only, ECDHE key exchange (RSA or ECDSA certificates), AES-GCM and ChaCha20-Poly1305:
 *   what login.microsoftonline.com and graph.microsoft.com negotiate.
 * - SSL_IN_CONTENT_LEN stays 16384: a handshake message bigger than the input buffer cannot be
 *   reassembled (Microsoft's chains are 3-5 KB, but the limit is the protocol's). OUT is 4096: spo
 *   never writes a record larger than its HTTP buffer, and this saves 12 KB of pool.
 * - No platform entropy, no file system, no sockets: all of those come from spo's port.
 * - Trust through a callback (X509_TRUSTED_CERTIFICATE_CALLBACK): spo scans the CA bundle per
 *   verification and parses only the matching roots, so a 200 KB system bundle does not have to fit in
 *   RAM.
 * - Time through the port (PLATFORM_TIME_ALT, PLATFORM_GMTIME_R_ALT): devices without an RTC and
 *   glibc's 4.6 KB gmtime allocation are both avoided.
 * - Small ECC windows and AES tables in ROM: RAM over speed.
 * The library and spo are compiled with this same file; a mismatch corrupts memory silently.
 */
#ifndef SPO_MBEDTLS_CONFIG_H
#define SPO_MBEDTLS_CONFIG_H

/* platform */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
/* mbedTLS allocates from spo's static pool (src/tls_pool.c) from the first call: no malloc/free is
 * ever referenced, which a firmware map can check. */
#include <stddef.h>
void *spo_tls_pool_calloc(size_t n, size_t size);
void spo_tls_pool_free(void *p);
#define MBEDTLS_PLATFORM_STD_CALLOC spo_tls_pool_calloc
#define MBEDTLS_PLATFORM_STD_FREE spo_tls_pool_free
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_TIME_ALT
#define MBEDTLS_PLATFORM_GMTIME_R_ALT
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT

/* randomness */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* symmetric */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
/* AES-NI where the CPU has it (detected at run time; compiles to nothing off x86-64): software
 * AES-GCM was half of the CPU time of a long listing on a PC. */
#define MBEDTLS_AESNI_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C

/* hashes */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA1_C
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C

/* public key */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#define MBEDTLS_ECP_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C

/* X.509 */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_TRUSTED_CERTIFICATE_CALLBACK
/* Without it mbedTLS 3.6 offers no rsa_pss_rsae_* signature algorithm, and TLS 1.3 allows nothing
 * else for an RSA server certificate: a TLS 1.3 server with an RSA key cannot complete the handshake
 * ("no suitable signature algorithm"). */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* PSA (TLS 1.3 needs it) */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_KEY_SLOT_COUNT 8

/* TLS */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
/* The suites offered, pinned: CBC mode, compiled in for the encrypted keys below, would
 * otherwise add CBC suites to the TLS 1.2 offer. The AEAD suites, in mbedTLS's own order. */
#define MBEDTLS_SSL_CIPHERSUITES                                                                  \
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256, MBEDTLS_TLS1_3_AES_256_GCM_SHA384,                   \
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,       \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,                                        \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256

/* Encrypted private keys, for certificate credentials (src/auth_assertion.c): the app's RSA key
 * often comes as an encrypted PEM (Azure Identity's AZURE_CLIENT_CERTIFICATE_PATH + _PASSWORD).
 * - PKCS5_C: "ENCRYPTED PRIVATE KEY" with PBES2 (PBKDF2 + AES-CBC or 3DES-CBC): OpenSSL 1.1 and 3.x.
 * - PKCS12_C: "ENCRYPTED PRIVATE KEY" with the PKCS#12 PBE (SHA-1 + 3DES): OpenSSL 1.0's default.
 * - CIPHER_MODE_CBC, CIPHER_PADDING_PKCS7: every one of these schemes is CBC with PKCS#7 padding.
 * - DES_C: 3DES-encrypted keys, OpenSSL 1.x's default cipher (PBES2 des-ede3-cbc, PKCS#12 PBE,
 *   legacy DEK-Info: DES-EDE3-CBC).
 * - MD5_C: legacy PEM encryption ("Proc-Type: 4,ENCRYPTED", `openssl rsa -aes256 -traditional`)
 *   derives its key with MD5 (EVP_BytesToKey). Nothing else can use it: no TLS suite or X.509
 *   profile of mbedTLS 3.6 accepts MD5.
 * The cost is paid by every image, whether it signs or not: mbedTLS's cipher and hash tables link
 * DES and MD5 in, and it sizes both TLS record buffers for CBC padding and an HMAC whenever CBC is
 * compiled in: 11.3 KB of flash on the Cortex-M4 sample, and +0.7 KB of pool at the handshake
 * peak (36.2 instead of 35.6 KB for TLS 1.2, 38.0 instead of 37.2 KB for TLS 1.3, RSA-2048 chain).
 * A board whose devices only ever get a clear key can go without: -DSPO_NO_ENCRYPTED_KEYS in its
 * BOARD_CFLAGS (they reach mbedTLS and spo alike); spo then says such a key is unsupported. */
#ifndef SPO_NO_ENCRYPTED_KEYS
#define MBEDTLS_PKCS5_C
#define MBEDTLS_PKCS12_C
#define MBEDTLS_CIPHER_MODE_CBC
#define MBEDTLS_CIPHER_PADDING_PKCS7
#define MBEDTLS_DES_C
#define MBEDTLS_MD5_C
#endif

#endif
