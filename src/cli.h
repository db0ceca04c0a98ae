/* Internal to the CLI: messages and the memory report. */
#ifndef SPO_CLI_H
#define SPO_CLI_H

#include "spo/spo.h"

/* Print one line on stderr saying what failed and what to do. */
void spo_cli_explain(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                     uint64_t delivered);

/* Print why the certificate file at path cannot be used (c->cert.problem) and what to do. */
void spo_cli_explain_cert(const spo_client *c, const char *path);

/* "2026-11-28T10:00:00Z" for a wall time (static buffer). */
const char *spo_cli_utc(int64_t t);

/* Overwrite n bytes at p (a secret) in a way the compiler keeps. */
void spo_cli_wipe(char *p, size_t n);

/* Proxy settings from the environment (https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY; no_proxy,
 * NO_PROXY: curl's names and order) into cfg. */
void spo_cli_proxy_env(spo_config *cfg);

/* Wipe the proxy variables that carry credentials, once the client holds its copy. */
void spo_cli_proxy_wipe_env(void);

/* --verbose: one line per connection saying whether it went through the proxy (never credentials). */
void spo_cli_proxy_trace(void *ctx, const char *host, uint16_t port, const char *proxy_host,
                         uint16_t proxy_port, int status, uint32_t ms);

/* For a refused certificate: " (through the proxy H:P: ...)" when the connection was tunnelled, as
 * a proxy that inspects TLS presents its own certificates; "" otherwise. */
const char *spo_cli_proxy_tls_hint(const spo_client *c);

/* The message for a proxy failure; returns 1 if rc was one (printed), 0 otherwise. */
int spo_cli_explain_proxy(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                          const char *partial);

/* With SPO_MEMREPORT=1 in the environment: paint the stack at start, print the figures at exit. */
void spo_memreport_begin(void);
void spo_memreport_end(const spo_client *c);

#endif
