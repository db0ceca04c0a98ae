/* Internal to the CLI: messages and the memory report. */
#ifndef SPO_CLI_H
#define SPO_CLI_H

#include "spo/spo.h"

/* Print one line on stderr saying what failed and what to do. */
void spo_cli_explain(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                     uint64_t delivered);

/* spo_config.cache_warn: "spo: warning: ignoring the token cache PATH: why; what to do". */
void spo_cli_cache_warn(void *ctx, const char *key, int rc);

/* Device code sign-in: show the service's message on stderr (spo_client_login_device's prompt). */
void spo_cli_prompt(void *ctx, const spo_delegated *d);

/* SCOPES with bare names ("Sites.Read.All") put under the Graph root, into buf; NULL when scope is
 * NULL or empty, or does not fit. */
const char *spo_cli_scope(char *buf, size_t cap, const char *scope, const char *graph);

/* spo logout: delete the token cache; says what was removed. Returns the exit status. */
int spo_cli_logout(const spo_config *cfg);

/* "2026-11-28T10:00:00Z" for a wall time (static buffer). */
const char *spo_cli_utc(int64_t t);

/* Overwrite n bytes at p (a secret) in a way the compiler keeps. */
void spo_cli_wipe(char *p, size_t n);

/* With SPO_MEMREPORT=1 in the environment: paint the stack at start, print the figures at exit. */
void spo_memreport_begin(void);
void spo_memreport_end(const spo_client *c);

#endif
