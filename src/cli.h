/* Internal to the CLI: messages and the memory report. */
#ifndef SPO_CLI_H
#define SPO_CLI_H

#include "spo/spo.h"

/* Print one line on stderr saying what failed and what to do. */
void spo_cli_explain(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                     uint64_t delivered);

/* "2026-11-28T10:00:00Z" for a wall time (static buffer). */
const char *spo_cli_utc(int64_t t);

/* Overwrite n bytes at p (a secret) in a way the compiler keeps. */
void spo_cli_wipe(char *p, size_t n);

/* With SPO_MEMREPORT=1 in the environment: paint the stack at start, print the figures at exit. */
void spo_memreport_begin(void);
void spo_memreport_end(const spo_client *c);

/* spo put: the parsed command line. */
typedef struct spo_cli_put_opts {
    const char *site;       /* SITE: id, host:/path or URL */
    const char *drive;      /* --drive NAME, NULL = the site's default library */
    char **local;           /* LOCAL files */
    int nlocal;
    const char *remote;     /* REMOTE_PATH: a file path, or a folder if it ends in '/' or nlocal > 1 */
    spo_conflict conflict;  /* --if-exists */
    uint32_t fragment;      /* --fragment-size, 0 = SPO_UPLOAD_FRAGMENT */
    int json;
} spo_cli_put_opts;

/* Upload every LOCAL; one line on stdout per file, after the service's copy was checked. Returns
 * the exit status: 0 if every file was uploaded, 1 otherwise (stderr says which and why). */
int spo_cli_put(spo_client *c, const spo_config *cfg, const spo_cli_put_opts *o);

#endif
