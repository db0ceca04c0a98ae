/* Internal to the CLI: messages and the memory report. */
#ifndef SPO_CLI_H
#define SPO_CLI_H

#include "spo/spo.h"

/* Print one line on stderr saying what failed and what to do. */
void spo_cli_explain(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                     uint64_t delivered);

/* Print why the certificate file at path cannot be used (c->cert.problem) and what to do. */
void spo_cli_explain_cert(const spo_client *c, const char *path);
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

/* Write s to stdout with control characters as spaces, so that a text line is always one record
 * whatever a server put in a name. */
void spo_cli_text(const char *s, size_t n);

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
void spo_memreport_end(const spo_client *c, const char *cmd);

/* ---- ls, mkdir, get, list-add (cli_files.c and the files it calls) */

#include "spo/drive.h"

#ifndef SPO_CLI_ARGS_MAX
#define SPO_CLI_ARGS_MAX 64 /* positional arguments of one command (list-add's FIELD=VALUE) */
#endif

typedef struct spo_cli_files {
    const char *args[SPO_CLI_ARGS_MAX]; /* positional arguments after the command */
    int nargs;
    const char *drive;     /* --drive NAME */
    const char *json_file; /* --json-file F */
    int json;              /* --json */
    int tty;               /* stdout is a terminal: flush each line */
} spo_cli_files;

/* True for the commands cli_files.c runs. */
int spo_cli_files_cmd(const char *cmd);
/* The --help text of such a command. */
const char *spo_cli_files_usage(const char *cmd);
/* Check the arguments before any network use; 0, or 2 after a usage message on stderr. */
int spo_cli_files_check(const char *cmd, const spo_cli_files *f);
/* Run the command on an initialised client; the exit status (0 or 1, a message on stderr). */
int spo_cli_files_run(spo_client *c, const spo_config *cfg, const char *cmd,
                      const spo_cli_files *f);
/* spo get (cli_get.c). */
int spo_cli_get_run(spo_client *c, const spo_config *cfg, const spo_cli_files *f);
/* spo list-add (cli_list_add.c): argument check (0 or 2), and the run. */
int spo_cli_list_add_check(const spo_cli_files *f);
int spo_cli_list_add_run(spo_client *c, const spo_config *cfg, const spo_cli_files *f);
/* Bytes of static buffers the files commands keep (for make memreport). */
size_t spo_cli_get_static(void);
size_t spo_cli_list_add_static(void);
size_t spo_cli_files_static(void);
/* One line on stderr for a failure of cmd: 403/404/409 name the part and the permission, every
 * other failure goes to spo_cli_explain. */
void spo_cli_files_explain(const spo_client *c, const spo_config *cfg, const char *cmd,
                           spo_drive_part part, const char *what, int rc, uint64_t delivered);

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

/* Bytes of spo put's static buffers, whether it ran or not. */
size_t spo_cli_put_size(void);
/* Bytes of static state spo put used (0 if it did not run), for the memory report. */
size_t spo_cli_put_static(void);

#endif
