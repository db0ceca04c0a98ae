/* Internal to the CLI: messages and the memory report. */
#ifndef SPO_CLI_H
#define SPO_CLI_H

#include "spo/spo.h"

/* Print one line on stderr saying what failed and what to do. */
void spo_cli_explain(const spo_client *c, const spo_config *cfg, const char *what, int rc,
                     uint64_t delivered);

/* "2026-11-28T10:00:00Z" for a wall time (static buffer). */
const char *spo_cli_utc(int64_t t);

/* Write s to stdout with control characters as spaces, so that a text line is always one record
 * whatever a server put in a name. */
void spo_cli_text(const char *s, size_t n);

/* Overwrite n bytes at p (a secret) in a way the compiler keeps. */
void spo_cli_wipe(char *p, size_t n);

/* With SPO_MEMREPORT=1 in the environment: paint the stack at start, print the figures at exit. */
void spo_memreport_begin(void);
void spo_memreport_end(const spo_client *c);

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

/* Bytes of static state spo put used (0 if it did not run), for the memory report. */
size_t spo_cli_put_static(void);

#endif
