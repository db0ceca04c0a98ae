/* spo ls, mkdir, get, list-add: document libraries and lists from the command line. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "spo/drive.h"

static const char USAGE_LS[] =
    "usage: spo ls SITE [PATH] [--drive NAME] [--json]\n"
    "\n"
    "List the folder PATH (default: the top of the library) of the site's default document\n"
    "library, or of the library called NAME. One line per item, as Graph sends them:\n"
    "name<TAB>size<TAB>lastModifiedDateTime<TAB>file|folder (control characters in names are\n"
    "shown as spaces; size '-' when Graph gave none), or with --json one object per line:\n"
    "{\"name\":...,\"size\":N,\"lastModifiedDateTime\":...,\"folder\":true|false,\"id\":...}.\n"
    "\n"
    "SITE is a site id (host,guid,guid), host:/sites/NAME, or the site's URL\n"
    "(https://host/sites/NAME). Needs the Application permission Sites.Read.All.\n"
    "If the listing fails part-way the exit status is 1: a partial list never exits 0.\n";

static const char USAGE_MKDIR[] =
    "usage: spo mkdir SITE PATH [--drive NAME]\n"
    "\n"
    "Create the folder PATH (a/b/c) in the site's default document library, or in the library\n"
    "called NAME, with every missing parent. Folders that exist already are fine; a file in the\n"
    "way is an error. Prints how many folders were created. SITE as for spo ls.\n"
    "Needs the Application permission Sites.ReadWrite.All.\n";

static const char USAGE_GET[] =
    "usage: spo get SITE REMOTE_PATH LOCAL [--drive NAME]\n"
    "\n"
    "Download the file REMOTE_PATH of the site's default document library (or of the library\n"
    "called NAME) to LOCAL. The bytes go to a temporary file beside LOCAL, which replaces LOCAL\n"
    "only once the size and the quickXorHash Graph reports for the file match what arrived; on\n"
    "any failure LOCAL is left as it was and the exit status is 1. A dropped transfer resumes\n"
    "where it stopped. SITE as for spo ls. Needs the Application permission Sites.Read.All.\n";

static const char USAGE_LIST_ADD[] =
    "usage: spo list-add SITE LIST FIELD=VALUE... [FIELD:=JSON...] [--json-file F]\n"
    "\n"
    "Add an item to the list LIST (its display name or id) and print the new item's id.\n"
    "FIELD is the column's internal name (Title, TemperatureC, ...). FIELD=VALUE sets a text;\n"
    "FIELD:=JSON sets a number, true, false or null. --json-file F reads a JSON object of\n"
    "fields from F (at most SPO_LIST_BODY_MAX bytes); FIELD arguments are added to it.\n"
    "SITE as for spo ls. Needs the Application permission Sites.ReadWrite.All.\n";

size_t spo_cli_files_static(void)
{
    return spo_cli_get_static() + spo_cli_list_add_static();
}

int spo_cli_files_cmd(const char *cmd)
{
    return !strcmp(cmd, "ls") || !strcmp(cmd, "mkdir") || !strcmp(cmd, "get") ||
           !strcmp(cmd, "list-add");
}

const char *spo_cli_files_usage(const char *cmd)
{
    return !strcmp(cmd, "ls") ? USAGE_LS : !strcmp(cmd, "mkdir") ? USAGE_MKDIR
         : !strcmp(cmd, "get") ? USAGE_GET : USAGE_LIST_ADD;
}

static int usage(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "spo %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see spo %s --help)\n", cmd);
    return 2;
}

static int check_site(const char *cmd, const char *site)
{
    char buf[SPO_URL_MAX];
    size_t pos = 0;
    int rc = spo_site_path_append(buf, sizeof buf, &pos, site);
    if (rc == SPO_E_TOO_LONG)
        return usage(cmd, "SITE '%s' is too long", site);
    if (rc != SPO_OK)
        return usage(cmd, "SITE '%s' is not a site id (host,guid,guid), host:/sites/NAME or "
                          "https://host/sites/NAME", site);
    return 0;
}

static int check_path(const char *cmd, const char *path, int need_segment)
{
    char buf[SPO_URL_MAX];
    size_t pos = 0, nseg = 0;
    int rc = spo_item_path_append(buf, sizeof buf, &pos, path, &nseg);
    if (rc == SPO_E_TOO_LONG)
        return usage(cmd, "the path '%s' is too long", path);
    if (rc != SPO_OK)
        return usage(cmd, "the path '%s' has a '.' or '..' part, a backslash or a control "
                          "character, which SharePoint does not allow", path);
    if (need_segment && nseg == 0)
        return usage(cmd, "the path '%s' names the top of the library, not a folder or file", path);
    return 0;
}

int spo_cli_files_check(const char *cmd, const spo_cli_files *f)
{
    int n = f->nargs;
    if (!strcmp(cmd, "ls") && (n < 1 || n > 2))
        return usage(cmd, "%s", n < 1 ? "SITE is missing" : "too many arguments");
    if (!strcmp(cmd, "mkdir") && n != 2)
        return usage(cmd, "%s", n < 2 ? "SITE and PATH are needed" : "too many arguments");
    if (!strcmp(cmd, "get") && n != 3)
        return usage(cmd, "%s", n < 3 ? "SITE, REMOTE_PATH and LOCAL are needed"
                                      : "too many arguments");
    if (!strcmp(cmd, "list-add") && n < 2)
        return usage(cmd, "%s", "SITE and LIST are needed");
    int rc = check_site(cmd, f->args[0]);
    if (rc)
        return rc;
    if (!strcmp(cmd, "ls") && n == 2)
        return check_path(cmd, f->args[1], 0);
    if (!strcmp(cmd, "mkdir") || !strcmp(cmd, "get"))
        return check_path(cmd, f->args[1], 1);
    if (!strcmp(cmd, "list-add"))
        return spo_cli_list_add_check(f);
    return 0;
}

/* ------------------------------------------------------------------ errors */

void spo_cli_files_explain(const spo_client *c, const spo_config *cfg, const char *cmd,
                           spo_drive_part part, const char *what, int rc, uint64_t delivered)
{
    const spo_diag *d = &c->diag;
    if (rc == SPO_E_GRAPH && d->status == 400) {
        /* Graph's words matter here ("Field 'X' is not recognized"): they name what to fix. */
        fprintf(stderr, "spo: %s failed: Graph refused the request (HTTP 400 %s, request-id %s): "
                        "%s%s%s\n", cmd, d->code[0] ? d->code : "-",
                d->request_id[0] ? d->request_id : "none", d->message[0] ? d->message : "",
                d->message[0] ? ". " : "",
                !strcmp(cmd, "list-add") ? "FIELD must be the column's internal name (as in the "
                                           "list settings' column URL), and the value of its type"
                                         : "check the path and names");
        return;
    }
    if (rc == SPO_E_GRAPH && (d->status == 404 || d->status == 403 || d->status == 409)) {
        const char *rid = d->request_id[0] ? d->request_id : "none";
        char partial[96] = "";
        if (delivered)
            snprintf(partial, sizeof partial, " after %llu items (the list is incomplete)",
                     (unsigned long long)delivered);
        if (d->status == 403) {
            int writes = !strcmp(cmd, "mkdir") || !strcmp(cmd, "list-add");
            fprintf(stderr, "spo: %s failed%s: Graph answered HTTP 403 %s (request-id %s): the app "
                            "needs the *Application* permission %s (Microsoft Graph > Application "
                            "permissions) with admin consent granted%s\n",
                    cmd, partial, d->code[0] ? d->code : "-", rid,
                    writes ? "Sites.ReadWrite.All" : "Sites.Read.All (or Sites.ReadWrite.All)",
                    writes ? "; Sites.Read.All only allows reading" : "");
            return;
        }
        if (d->status == 409) {
            fprintf(stderr, "spo: %s failed: '%s' exists and is not a folder (HTTP 409 %s, "
                            "request-id %s): rename or remove it, or choose another path\n",
                    cmd, what, d->code[0] ? d->code : "-", rid);
            return;
        }
        const char *which = part == SPO_PART_SITE
                                ? "the site was not found: check SITE (a site id, host:/sites/NAME "
                                  "or https://host/sites/NAME; 'spo sites' lists them)"
                          : part == SPO_PART_DRIVE ? "the document library was not found: check "
                                                     "--drive (the library's name as SharePoint "
                                                     "shows it)"
                          : part == SPO_PART_LIST ? "the list was not found: check LIST (its "
                                                    "display name or id)"
                          : "no file or folder at that path in the library: check the path "
                            "('spo ls' shows what is there)";
        fprintf(stderr, "spo: %s failed%s: %s%s%s (HTTP 404 %s, request-id %s)\n", cmd, partial,
                which, what && *what ? ": " : "", what ? what : "", d->code[0] ? d->code : "-",
                rid);
        return;
    }
    spo_cli_explain(c, cfg, cmd, rc, delivered);
}

/* ------------------------------------------------------------------ ls */

static int put_stdout(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    return fwrite(s, 1, n, stdout) == n ? 0 : SPO_E_ABORTED;
}

typedef struct ls_out {
    int json, tty;
    uint64_t count;
} ls_out;

static int on_item(void *ctx, const spo_item *it)
{
    ls_out *o = ctx;
    if (o->json) {
        fputs("{\"name\":", stdout);
        spo_json_write_string(put_stdout, NULL, it->name, it->name_len);
        if (it->has_size)
            printf(",\"size\":%llu", (unsigned long long)it->size);
        else
            fputs(",\"size\":null", stdout);
        fputs(",\"lastModifiedDateTime\":", stdout);
        spo_json_write_string(put_stdout, NULL, it->modified, it->modified_len);
        printf(",\"folder\":%s,\"id\":", it->folder ? "true" : "false");
        spo_json_write_string(put_stdout, NULL, it->id, it->id_len);
        fputs("}\n", stdout);
    } else {
        spo_cli_text(it->name, it->name_len);
        if (it->has_size)
            printf("\t%llu\t", (unsigned long long)it->size);
        else
            fputs("\t-\t", stdout);
        spo_cli_text(it->modified, it->modified_len);
        fputs(it->folder ? "\tfolder\n" : "\tfile\n", stdout);
    }
    o->count++;
    if (o->tty)
        fflush(stdout);
    return ferror(stdout) ? SPO_E_ABORTED : 0; /* a closed pipe: stop asking Graph for more */
}

static int resolve(spo_client *c, const spo_config *cfg, const char *cmd, const spo_cli_files *f,
                   spo_drive_ref *d)
{
    int rc = spo_drive_resolve(&c->graph, f->args[0], f->drive, d);
    if (rc != SPO_OK)
        spo_cli_files_explain(c, cfg, cmd, d->failed,
                              d->failed == SPO_PART_DRIVE && f->drive ? f->drive : f->args[0], rc,
                              0);
    return rc;
}

static int run_ls(spo_client *c, const spo_config *cfg, const spo_cli_files *f)
{
    spo_drive_ref d;
    if (resolve(c, cfg, "ls", f, &d) != SPO_OK)
        return 1;
    const char *path = f->nargs > 1 ? f->args[1] : "";
    ls_out o = { f->json, f->tty, 0 };
    int rc = spo_drive_list(&c->graph, &d, path, on_item, &o);
    fflush(stdout);
    if (rc != SPO_OK) {
        spo_cli_files_explain(c, cfg, "ls", d.failed, path, rc, o.count);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ mkdir */

static int run_mkdir(spo_client *c, const spo_config *cfg, const spo_cli_files *f)
{
    spo_drive_ref d;
    if (resolve(c, cfg, "mkdir", f, &d) != SPO_OK)
        return 1;
    unsigned made = 0;
    int rc = spo_drive_mkdir(&c->graph, &d, f->args[1], &made);
    if (rc != SPO_OK) {
        spo_cli_files_explain(c, cfg, "mkdir", d.failed, f->args[1], rc, 0);
        if (made)
            fprintf(stderr, "spo: mkdir: %u folder%s had been created before the failure\n", made,
                    made == 1 ? "" : "s");
        return 1;
    }
    printf("%u folder%s created\n", made, made == 1 ? "" : "s");
    return 0;
}

int spo_cli_files_run(spo_client *c, const spo_config *cfg, const char *cmd,
                      const spo_cli_files *f)
{
    if (!strcmp(cmd, "ls"))
        return run_ls(c, cfg, f);
    if (!strcmp(cmd, "get"))
        return spo_cli_get_run(c, cfg, f);
    if (!strcmp(cmd, "list-add"))
        return spo_cli_list_add_run(c, cfg, f);
    return run_mkdir(c, cfg, f);
}
