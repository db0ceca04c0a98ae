/* spo get: download into a temporary file beside LOCAL, renamed into place only once the size and
 * the quickXorHash matched. The file system is POSIX here in the CLI; the library only streams. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static spo_download dl; /* ~2.3 KB, static like the client: no heap, not on the stack */
static char tmp_path[PATH_MAX];
/* 1 while tmp_path names the temporary file: the signal handler may unlink it. */
static volatile sig_atomic_t tmp_live;

size_t spo_cli_get_static(void)
{
    return sizeof dl + sizeof tmp_path;
}

/* SIGINT, SIGTERM or SIGHUP during the download: remove the temporary file (nothing else does, the
 * process is ending), then die of the same signal so the caller sees why spo stopped. Only
 * async-signal-safe calls: unlink, and raise with the default action (SA_RESETHAND). */
static void on_signal(int sig)
{
    if (tmp_live)
        unlink(tmp_path);
    /* Fatal at once, or (sig blocked in its handler, as on Linux) when the handler returns:
     * either way the interrupted code never runs again, so errno need not be kept for it. */
    (void)raise(sig);
}

static void catch_signals(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        /* A signal ignored at start (nohup, a background job) stays ignored. */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

typedef struct file_sink {
    int fd;
    int err; /* errno of the first failure */
} file_sink;

static int sink_write(void *ctx, const uint8_t *data, size_t len)
{
    file_sink *f = ctx;
    while (len) {
        ssize_t n = write(f->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            f->err = n < 0 ? errno : EIO;
            return SPO_E_FILE;
        }
        data += n;
        len -= (size_t)n;
    }
    return SPO_OK;
}

static int sink_restart(void *ctx)
{
    file_sink *f = ctx;
    if (ftruncate(f->fd, 0) != 0 || lseek(f->fd, 0, SEEK_SET) != 0) {
        f->err = errno;
        return SPO_E_FILE;
    }
    return SPO_OK;
}

/* The directory of path, for fsync after the rename (so the new name survives a power loss).
 * The name is built in tmp_path, free once the rename is done (PATH_MAX is too much stack). */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(tmp_path, sizeof tmp_path, ".");
    else
        snprintf(tmp_path, sizeof tmp_path, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(tmp_path, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int finish(file_sink *f, const char *local)
{
    mode_t mask = umask(0);
    umask(mask);
    /* mkstemp made it 0600; the file gets the mode a new file would have had. */
    if (fchmod(f->fd, 0666 & ~mask) != 0 || fsync(f->fd) != 0) {
        f->err = errno;
        return SPO_E_FILE;
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0 || rename(tmp_path, local) != 0) {
        f->err = errno;
        return SPO_E_FILE;
    }
    tmp_live = 0; /* renamed; and sync_dir reuses tmp_path */
    sync_dir(local);
    return SPO_OK;
}

int spo_cli_get_run(spo_client *c, const spo_config *cfg, const spo_cli_files *a)
{
    const char *remote = a->args[1], *local = a->args[2];
    struct stat st;
    if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "spo get: LOCAL '%s' is a directory: give the file name to write "
                        "(see spo get --help)\n", local);
        return 2;
    }
    if ((size_t)snprintf(tmp_path, sizeof tmp_path, "%s.spo-XXXXXX", local) >= sizeof tmp_path) {
        fprintf(stderr, "spo get: LOCAL '%s' is too long a path\n", local);
        return 2;
    }

    spo_drive_ref d;
    int rc = spo_drive_resolve(&c->graph, a->args[0], a->drive, &d);
    if (rc != SPO_OK) {
        spo_cli_files_explain(c, cfg, "get", d.failed,
                              d.failed == SPO_PART_DRIVE && a->drive ? a->drive : a->args[0], rc,
                              0);
        return 1;
    }
    rc = spo_drive_item(&c->graph, &d, remote, &dl.meta);
    if (rc != SPO_OK) {
        spo_cli_files_explain(c, cfg, "get", d.failed, remote, rc, 0);
        return 1;
    }
    if (dl.meta.folder) {
        fprintf(stderr, "spo: get failed: '%s' is a folder; spo get downloads one file ('spo ls' "
                        "shows what the folder holds)\n", remote);
        return 1;
    }

    /* The signals wait while the file is made, so none can come between it and tmp_live. */
    sigset_t block, prev;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &prev);
    catch_signals();
    file_sink f = { mkstemp(tmp_path), 0 };
    int mk_errno = errno;
    tmp_live = f.fd >= 0;
    sigprocmask(SIG_SETMASK, &prev, NULL);
    errno = mk_errno;
    if (f.fd < 0) {
        fprintf(stderr, "spo: get failed: cannot create a temporary file beside '%s' (%s): check "
                        "that its directory exists and is writable\n", local, strerror(errno));
        return 1;
    }
    spo_download_sink sink = { &f, sink_write, sink_restart };
    rc = spo_drive_download(&c->graph, &d, &dl, &sink);
    if (rc == SPO_OK)
        rc = finish(&f, local);
    if (rc != SPO_OK) {
        if (f.fd >= 0)
            close(f.fd);
        unlink(tmp_path); /* LOCAL is as it was */
        tmp_live = 0;
    }
    if (rc == SPO_E_INTEGRITY) {
        fprintf(stderr, "spo: get failed: the bytes received do not match the file on the service "
                        "(%llu of %llu bytes, quickXorHash %s, the service says %s): '%s' was left "
                        "as it was; try again, and if it persists the copy on the service may be "
                        "damaged\n",
                (unsigned long long)dl.received, (unsigned long long)dl.meta.size, dl.hash,
                dl.meta.qxh[0] ? dl.meta.qxh : "(none)", local);
        return 1;
    }
    if (rc == SPO_E_FILE) {
        fprintf(stderr, "spo: get failed: cannot write '%s' (%s): check free space and "
                        "permissions; '%s' was left as it was\n",
                tmp_path, strerror(f.err), local);
        return 1;
    }
    if (rc != SPO_OK) {
        spo_cli_files_explain(c, cfg, "get", d.failed, remote, rc, 0);
        fprintf(stderr, "spo: get: '%s' was left as it was\n", local);
        return 1;
    }
    printf("%s: %llu bytes, %s%s\n", local, (unsigned long long)dl.received,
           dl.hash_checked ? "quickXorHash checked" : "size checked (the service gave no hash)",
           dl.transfers > 1 ? ", resumed" : "");
    return 0;
}
