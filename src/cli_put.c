/* spo put: local files into a document library, each reported only after the service's copy was
 * checked (size and quickXorHash). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "spo/drive.h"

#ifndef SPO_CLI_PATH_MAX
#define SPO_CLI_PATH_MAX 1024 /* a remote path (folder + name) + NUL */
#endif
#define DRIVE_PATH_MAX (16 + SPO_DRIVE_ID_MAX) /* "/v1.0/drives/" + id */

static spo_upload upload;          /* ~9.5 KB: the uploadUrl, request URLs, the resume record */
static spo_upload_item item;
static char remote_buf[SPO_CLI_PATH_MAX];
static char drive_path[DRIVE_PATH_MAX];
static spo_drive_ref drive;

static int ran; /* for the memory report: this command's state was in use */

size_t spo_cli_put_size(void)
{
    return sizeof upload + sizeof item + sizeof remote_buf + sizeof drive_path + sizeof drive;
}

size_t spo_cli_put_static(void)
{
    return ran ? spo_cli_put_size() : 0;
}

typedef struct progress {
    const char *name;
    int shown;
} progress;

static int put_stdout(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    return fwrite(s, 1, n, stdout) == n ? 0 : SPO_E_ABORTED;
}

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
    fprintf(stderr, "\rspo: %s %llu / %llu bytes (%u%%)", p->name, (unsigned long long)done,
            (unsigned long long)total, pct);
    fflush(stderr);
    p->shown = 1;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The remote path of local: remote itself, or remote (a folder) + the local file's name. */
static int dest_of(const char *local, const char *remote, int folder)
{
    remote_buf[0] = '\0';
    while (*remote == '/')
        remote++; /* "/reports/x.json" is the same path as "reports/x.json" */
    size_t rl = strlen(remote);
    const char *name = folder ? base_name(local) : "";
    size_t nl = strlen(name);
    if (folder && nl == 0)
        return SPO_E_ARG;
    int slash = folder && rl > 0 && remote[rl - 1] != '/';
    if (rl + (size_t)slash + nl + 1 > sizeof remote_buf)
        return SPO_E_TOO_LONG;
    memcpy(remote_buf, remote, rl);
    if (slash)
        remote_buf[rl] = '/';
    memcpy(remote_buf + rl + (size_t)slash, name, nl + 1);
    return SPO_OK;
}

static void print_item(const char *local, const spo_upload_item *it, int json)
{
    if (json) {
        fputs("{\"local\":", stdout);
        if (spo_json_write_string(put_stdout, NULL, local, strlen(local)) == SPO_E_ARG)
            fputs("null", stdout); /* a local name that is not UTF-8 has no JSON string */
        fputs(",\"path\":", stdout);
        if (spo_json_write_string(put_stdout, NULL, remote_buf, strlen(remote_buf)) == SPO_E_ARG)
            fputs("null", stdout);
        fputs(",\"name\":", stdout);
        spo_json_write_string(put_stdout, NULL, it->name, strlen(it->name));
        printf(",\"size\":%llu,\"id\":", (unsigned long long)it->size);
        spo_json_write_string(put_stdout, NULL, it->id, strlen(it->id));
        printf(",\"quickXorHash\":\"%s\"}\n", it->qxh);
    } else {
        spo_cli_text(it->name, strlen(it->name)); /* the service's text: one line whatever it holds */
        printf("\t%llu\t", (unsigned long long)it->size);
        spo_cli_text(it->id, strlen(it->id));
        putchar('\n');
    }
    fflush(stdout);
}

/* One line on stderr: what failed for this file and what to do. */
/* noinline: its message buffer must not sit in spo_cli_put's frame under every upload. */
__attribute__((noinline)) static void explain(spo_client *c, const spo_config *cfg, const char *local, int rc)
{
    const spo_diag *d = &c->diag;
    char what[64 + SPO_CLI_PATH_MAX];
    snprintf(what, sizeof what, "put %s", local);
    const char *todo = NULL;
    if (rc == SPO_E_FILE) {
        fprintf(stderr, "spo: %s failed: cannot read it, or it shrank while it was sent: check "
                        "the path and that nothing else writes the file\n", what);
        return;
    }
    if (rc == SPO_E_INTEGRITY) {
        fprintf(stderr, "spo: %s failed: the service's copy of %s does not match the local file "
                        "(%s); it is not reported uploaded: run the command again with "
                        "--if-exists replace\n", what, remote_buf, d->message);
        return;
    }
    if (rc == SPO_E_TOO_LONG) {
        fprintf(stderr, "spo: %s failed: a value in the service's answer (the upload URL, or the "
                        "item's id or name) is longer than spo's buffer (SPO_UPLOAD_URL_MAX=%d, "
                        "SPO_UPLOAD_ID_MAX=%d, SPO_UPLOAD_NAME_MAX=%d), or the path is: rebuild "
                        "with larger values\n", what, SPO_UPLOAD_URL_MAX, SPO_UPLOAD_ID_MAX,
                SPO_UPLOAD_NAME_MAX);
        return;
    }
    if (rc == SPO_E_ARG) {
        fprintf(stderr, "spo: %s failed: '%s' is not a usable remote path (a file name is needed; no '.' or '..' "
                        "segment)\n", what, remote_buf);
        return;
    }
    if (rc == SPO_E_GRAPH) {
        switch (d->status) {
        case 403:
            todo = "the app needs the *Application* permission Sites.ReadWrite.All (or Sites.Selected "
                   "with a write grant on this site) with admin consent granted";
            break;
        case 404:
            todo = drive.failed == SPO_PART_DRIVE ? "no such document library: check --drive"
                 : drive.failed == SPO_PART_SITE ? "no such site: check SITE"
                 : "the folder or library was not found: check REMOTE_PATH and --drive";
            break;
        case 409:
            todo = "a file of that name exists: use --if-exists replace (new version) or "
                   "--if-exists rename (keep both)";
            break;
        case 413:
            todo = "the service refused the size";
            break;
        case 423:
            todo = "the file is locked or checked out: retry later";
            break;
        case 507:
            todo = "the site's storage quota is full: free space or ask for more";
            break;
        default:
            break;
        }
    }
    if (!todo) {
        spo_cli_explain(c, cfg, what, rc, 0);
        return;
    }
    fprintf(stderr, "spo: %s failed: Graph answered HTTP %d %s (request-id %s): %s%s%s\n", what,
            d->status, d->code[0] ? d->code : "-", d->request_id[0] ? d->request_id : "none", todo,
            d->message[0] ? ". Graph said: " : "", d->message);
}

int spo_cli_put(spo_client *c, const spo_config *cfg, const spo_cli_put_opts *o)
{
    ran = 1;
    int rc = spo_upload_init(&upload, &c->graph, c->port);
    if (rc != SPO_OK) {
        fprintf(stderr, "spo: put needs a file system (this port has no file_read/file_stat)\n");
        return 1;
    }
    upload.fragment = o->fragment ? o->fragment : SPO_UPLOAD_FRAGMENT;
    upload.conflict = o->conflict;

    rc = spo_drive_resolve(&c->graph, o->site, o->drive, &drive);
    if (rc != SPO_OK) {
        if (rc == SPO_E_ARG)
            fprintf(stderr, "spo: put failed: '%s' is not a site: give a site id, host:/sites/path "
                            "or the site's URL\n", o->site);
        else
            explain(c, cfg, "(finding SITE and its library)", rc);
        return 1;
    }
    snprintf(drive_path, sizeof drive_path, "/v1.0/drives/%s", drive.drive_id);

    size_t rl = strlen(o->remote);
    int folder = o->nlocal > 1 || (rl > 0 && o->remote[rl - 1] == '/');
    int failed = 0, tty = isatty(2);
    const char *first_failed = NULL;
    for (int i = 0; i < o->nlocal; i++) {
        const char *local = o->local[i];
        rc = dest_of(local, o->remote, folder);
        progress pr = { base_name(local), 0 };
        upload.progress = tty ? show_progress : NULL;
        upload.progress_ctx = &pr;
        if (rc == SPO_OK)
            rc = spo_upload_file(&upload, local, drive_path, remote_buf, &item);
        upload.progress_ctx = NULL; /* pr ends with this iteration */
        if (pr.shown)
            fputs("\r\033[K", stderr); /* the progress line goes; the result line stays */
        if (rc == SPO_OK) {
            print_item(local, &item, o->json);
            continue;
        }
        if (rc == SPO_E_TOO_LONG && !remote_buf[0])
            fprintf(stderr, "spo: put %s failed: the remote path is longer than %d bytes\n", local,
                    SPO_CLI_PATH_MAX - 1);
        else
            explain(c, cfg, local, rc);
        if (upload.record_warning)
            fprintf(stderr, "spo: note: the upload of %s could not be recorded for resuming\n", local);
        if (!first_failed)
            first_failed = local;
        failed++;
    }
    if (failed && o->nlocal > 1)
        fprintf(stderr, "spo: %d of %d files failed (the first: %s); the others were uploaded and "
                        "checked: run the command again for the failed ones\n",
                failed, o->nlocal, first_failed);
    return failed ? 1 : 0;
}
