/* The POSIX port's record storage on a real file system, in a temporary directory: paths,
 * permissions, refusals, atomic replacement (also across a crash), and the token cache on top. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spo/auth.h"
#include "spo/port.h"

static const spo_port *P;
static char root[256];   /* the temporary directory of this run */
static char path[1024];  /* where key "tokens" lands: $XDG_CONFIG_HOME/spo/tokens */

/* ---- renameat and fsync interposed: the port's calls come here, the rest pass through ---- */

static int rename_mode;  /* 0 pass, 1 fail with EIO, 2 crash (the process exits) */
static char events[64];  /* 'F' fsync of a file, 'D' of a directory, 'R' rename, in order */
static size_t nevents;

static void note(char c)
{
    if (nevents < sizeof events - 1)
        events[nevents++] = c;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    if (rename_mode == 2)
        _exit(42);
    if (rename_mode == 1) {
        errno = EIO;
        return -1;
    }
    note('R');
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, 0);
}

int fsync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0)
        note(S_ISDIR(st.st_mode) ? 'D' : 'F');
    return (int)syscall(SYS_fsync, fd);
}

/* ---- helpers ---- */

static void put_file(const char *p, const char *data, mode_t mode)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

static int read_key(const char *key, char *buf, size_t cap)
{
    int n = P->store_read(P->ctx, key, (uint8_t *)buf, cap - 1);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static int write_key(const char *key, const char *s)
{
    return P->store_write(P->ctx, key, (const uint8_t *)s, strlen(s));
}

/* Entries in dir other than "." and ".."; the first one's name to first. */
static int count_entries(const char *dir, char *first, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n++ == 0 && first)
            snprintf(first, cap, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void rm_rf(const char *p)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    P = spo_port_posix();
    const char *tmpdir = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/spo-store-XXXXXX", tmpdir ? tmpdir : "/tmp");
    assert_non_null(mkdtemp(root));
    char xdg[512];
    snprintf(xdg, sizeof xdg, "%s/xdg", root);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    snprintf(path, sizeof path, "%s/spo/tokens", xdg);
    setenv("HOME", root, 1);
    rename_mode = 0;
    nevents = 0;
    umask(022);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(root);
    return 0;
}

/* ---- tests ---- */

static void test_paths(void **state)
{
    (void)state;
    char buf[SPO_STORE_PATH_MAX], want[1100];
    assert_int_equal(spo_port_posix_store_path("tokens", buf, sizeof buf), (int)strlen(path));
    assert_string_equal(buf, path);
    /* A relative XDG_CONFIG_HOME is invalid (XDG): HOME/.config is used. */
    setenv("XDG_CONFIG_HOME", "relative/dir", 1);
    snprintf(want, sizeof want, "%s/.config/spo/tokens", root);
    assert_true(spo_port_posix_store_path("tokens", buf, sizeof buf) > 0);
    assert_string_equal(buf, want);
    unsetenv("XDG_CONFIG_HOME");
    assert_true(spo_port_posix_store_path("tokens", buf, sizeof buf) > 0);
    assert_string_equal(buf, want);
    unsetenv("HOME");
    assert_int_equal(spo_port_posix_store_path("tokens", buf, sizeof buf), SPO_E_ARG);
    assert_int_equal(P->store_read(P->ctx, "tokens", (uint8_t *)buf, 10), SPO_E_ARG);
    /* An absolute key is the path itself: how SPO_TOKEN_CACHE reaches the port. */
    assert_int_equal(spo_port_posix_store_path("/var/lib/x/tok", buf, sizeof buf), 14);
    assert_string_equal(buf, "/var/lib/x/tok");
    static const char *bad[] = {
        "", ".", "..", ".tokens", "a/b", "to ken", "/dir/", "caf\xc3\xa9",
        "0123456789012345678901234567890123456789012345678901234567890123X", /* 65 bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(spo_port_posix_store_path(bad[i], buf, sizeof buf), SPO_E_ARG);
    assert_int_equal(spo_port_posix_store_path("/a/b/c", buf, 6), SPO_E_TOO_LONG);
    assert_int_equal(spo_port_posix_store_path("tokens", NULL, 0), SPO_E_ARG);
}

static void test_write_creates_private_dirs_and_file(void **state)
{
    (void)state;
    char buf[64], dir[1100];
    assert_int_equal(read_key("tokens", buf, sizeof buf), SPO_STORE_ABSENT);
    umask(0); /* the port must not rely on the umask */
    assert_int_equal(write_key("tokens", "first"), SPO_OK);
    assert_int_equal(mode_of(path), 0600);
    snprintf(dir, sizeof dir, "%s/xdg", root);
    assert_int_equal(mode_of(dir), 0700);
    snprintf(dir, sizeof dir, "%s/xdg/spo", root);
    assert_int_equal(mode_of(dir), 0700);
    assert_int_equal(read_key("tokens", buf, sizeof buf), 5);
    assert_string_equal(buf, "first");
    /* Durability: the file is synced before the rename, the directory after. */
    assert_int_equal(nevents, 3);
    assert_memory_equal(events, "FRD", 3);

    /* An umask that would leave the file unreadable to its owner changes nothing either. */
    umask(0277);
    assert_int_equal(write_key("tokens", "second"), SPO_OK);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(read_key("tokens", buf, sizeof buf), 6);
    assert_string_equal(buf, "second");
    umask(022);
    char first[256];
    assert_int_equal(count_entries(dir, first, sizeof first), 1); /* no temporary left behind */
    assert_string_equal(first, "tokens");

    assert_int_equal(write_key("tokens", ""), SPO_OK); /* an empty record is a record */
    assert_int_equal(read_key("tokens", buf, sizeof buf), 0);

    /* New directories under that umask are still 0700, not 0500. */
    char key[1200];
    snprintf(key, sizeof key, "%s/strict/umask/tokens", root);
    umask(0277);
    assert_int_equal(write_key(key, "x"), SPO_OK);
    umask(022);
    snprintf(dir, sizeof dir, "%s/strict", root);
    assert_int_equal(mode_of(dir), 0700);
    snprintf(dir, sizeof dir, "%s/strict/umask", root);
    assert_int_equal(mode_of(dir), 0700);
    assert_int_equal(mode_of(key), 0600);
}

static void test_absolute_key(void **state)
{
    (void)state;
    char key[600], buf[64], dir[600];
    snprintf(key, sizeof key, "%s/custom/deeper/cache.bin", root);
    assert_int_equal(write_key(key, "abc"), SPO_OK);
    assert_int_equal(mode_of(key), 0600);
    snprintf(dir, sizeof dir, "%s/custom/deeper", root);
    assert_int_equal(mode_of(dir), 0700);
    assert_int_equal(read_key(key, buf, sizeof buf), 3);
    assert_string_equal(buf, "abc");
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0); /* the default location was not touched */
    assert_int_equal(P->store_remove(P->ctx, key), SPO_OK);
    assert_int_equal(P->store_remove(P->ctx, key), SPO_STORE_ABSENT);
    assert_int_equal(read_key(key, buf, sizeof buf), SPO_STORE_ABSENT);
}

static void test_refuses_what_others_could_touch(void **state)
{
    (void)state;
    char buf[64], other[1100];
    assert_int_equal(write_key("tokens", "secret"), SPO_OK);
    static const mode_t modes[] = { 0644, 0640, 0604, 0620, 0602, 0610, 0601, 0666 };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_int_equal(read_key("tokens", buf, sizeof buf), SPO_STORE_INSECURE);
    }
    assert_int_equal(chmod(path, 0400), 0); /* owner-only, even read-only, is fine */
    assert_int_equal(read_key("tokens", buf, sizeof buf), 6);
    /* A write replaces an insecure file with a private one. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(write_key("tokens", "fixed"), SPO_OK);
    assert_int_equal(mode_of(path), 0600);

    /* A symlink, even to a private file of ours. */
    snprintf(other, sizeof other, "%s/elsewhere", root);
    put_file(other, "planted", 0600);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(read_key("tokens", buf, sizeof buf), SPO_STORE_INSECURE);
    /* ... and a write replaces the link, never the file it points to. */
    assert_int_equal(write_key("tokens", "mine"), SPO_OK);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    char planted[16] = { 0 };
    int fd = open(other, O_RDONLY);
    assert_true(read(fd, planted, sizeof planted - 1) == 7);
    close(fd);
    assert_string_equal(planted, "planted");

    /* A directory and a FIFO (which must not block the read). */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(read_key("tokens", buf, sizeof buf), SPO_STORE_INSECURE);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(read_key("tokens", buf, sizeof buf), SPO_STORE_INSECURE);
    assert_int_equal(unlink(path), 0);

    /* Another owner: only root can make one. */
    if (geteuid() == 0) {
        put_file(path, "theirs", 0600);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(read_key("tokens", buf, sizeof buf), SPO_STORE_INSECURE);
    } else {
        print_message("not root: the other-owner case is skipped\n");
    }
}

static void test_sizes(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(write_key("tokens", "0123456789"), SPO_OK);
    assert_int_equal(P->store_read(P->ctx, "tokens", (uint8_t *)buf, 10), 10);
    assert_int_equal(P->store_read(P->ctx, "tokens", (uint8_t *)buf, 9), SPO_STORE_TOO_BIG);
    assert_int_equal(P->store_read(P->ctx, "tokens", (uint8_t *)buf, 0), SPO_STORE_TOO_BIG);
    assert_int_equal(P->store_read(P->ctx, "tokens", NULL, 5), SPO_E_ARG);
    assert_int_equal(P->store_write(P->ctx, "tokens", NULL, 5), SPO_E_ARG);
    assert_int_equal(P->store_write(P->ctx, "../x", (const uint8_t *)"a", 1), SPO_E_ARG);
}

static void test_failed_rename_keeps_old(void **state)
{
    (void)state;
    char buf[64], dir[1100];
    assert_int_equal(write_key("tokens", "old"), SPO_OK);
    rename_mode = 1;
    assert_int_equal(write_key("tokens", "new"), SPO_STORE_IO);
    rename_mode = 0;
    assert_int_equal(read_key("tokens", buf, sizeof buf), 3);
    assert_string_equal(buf, "old");
    snprintf(dir, sizeof dir, "%s/xdg/spo", root);
    assert_int_equal(count_entries(dir, NULL, 0), 1); /* the temporary was removed */
}

/* The process dies after the new data is written and synced but before the rename. */
static void test_crash_before_rename_keeps_old(void **state)
{
    (void)state;
    char buf[64], dir[1100], tmp[256], tpath[1400];
    assert_int_equal(write_key("tokens", "old"), SPO_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rename_mode = 2;
        (void)write_key("tokens", "brand new");
        _exit(1); /* not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
    assert_int_equal(read_key("tokens", buf, sizeof buf), 3);
    assert_string_equal(buf, "old");
    /* The stray temporary: hidden, private, complete, and ignored by later writes. */
    snprintf(dir, sizeof dir, "%s/xdg/spo", root);
    assert_int_equal(count_entries(dir, NULL, 0), 2);
    DIR *d = opendir(dir);
    struct dirent *e;
    tmp[0] = '\0';
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, ".tokens.", 8))
            snprintf(tmp, sizeof tmp, "%s", e->d_name);
    closedir(d);
    assert_int_equal(strlen(tmp), 8 + 16);
    snprintf(tpath, sizeof tpath, "%s/%s", dir, tmp);
    assert_int_equal(mode_of(tpath), 0600);
    assert_int_equal(write_key("tokens", "newer"), SPO_OK);
    assert_int_equal(read_key("tokens", buf, sizeof buf), 5);
    assert_string_equal(buf, "newer");
}

/* A writer killed at random moments: a reader sees one whole version or the other, never a mix. */
static void test_killed_writer_never_leaves_partial(void **state)
{
    (void)state;
    static char a[SPO_CACHE_MAX + 1], b[SPO_CACHE_MAX + 1], got[SPO_CACHE_MAX + 2];
    memset(a, 'A', SPO_CACHE_MAX);
    memset(b, 'B', SPO_CACHE_MAX - 100);
    assert_int_equal(write_key("tokens", a), SPO_OK);
    srand((unsigned)time(NULL));
    int kills = 0;
    for (int i = 0; i < 60; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (unsigned k = 0;; k++)
                (void)write_key("tokens", k & 1 ? a : b);
        }
        struct timespec ts = { 0, (long)(rand() % 3000) * 1000L };
        nanosleep(&ts, NULL);
        /* Read while the writer runs, too (checked once the writer is gone: a failed assertion
         * must not leave it running). */
        int n = read_key("tokens", got, sizeof got);
        int whole = (n == SPO_CACHE_MAX && !strcmp(got, a)) ||
                    (n == SPO_CACHE_MAX - 100 && !strcmp(got, b));
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        kills += WIFSIGNALED(status);
        assert_true(whole);
        n = read_key("tokens", got, sizeof got);
        assert_true((n == SPO_CACHE_MAX && !strcmp(got, a)) ||
                    (n == SPO_CACHE_MAX - 100 && !strcmp(got, b)));
        assert_int_equal(mode_of(path), 0600);
    }
    assert_int_equal(kills, 60);
}

/* The token cache on the POSIX port, the way the CLI will use it. */
static void test_token_cache_on_files(void **state)
{
    (void)state;
    static uint8_t work[SPO_CACHE_MAX];
    spo_cache c = { P, SPO_CACHE_KEY, work, sizeof work };
    spo_cache_id id = { SPO_CACHE_APP, "https://login.microsoftonline.com", "contoso", "client",
                        "https://graph.microsoft.com/.default" };
    spo_token t, out;
    memset(&t, 0, sizeof t);
    strcpy(t.bearer, "Bearer eyJ0eXAi.eyJhdWQi.c2ln");
    t.len = strlen(t.bearer) - SPO_BEARER_PREFIX_LEN;
    t.lifetime_s = 3599;
    int64_t now = (int64_t)time(NULL);
    t.expires_wall = now + 3599;
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now, 1000), SPO_CACHE_MISS);
    assert_int_equal(spo_cache_store(&c, &id, &t, NULL, 0, now), SPO_OK);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now + 5, 1000000), SPO_CACHE_FRESH);
    assert_string_equal(out.bearer, t.bearer);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now + 5, 1000000), SPO_CACHE_INSECURE);
    assert_int_equal(spo_cache_store(&c, &id, &t, NULL, 0, now), SPO_OK);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now + 5, 1000000), SPO_CACHE_FRESH);

    /* A file cut short by something else is corrupt, and replaced. */
    assert_int_equal(truncate(path, 20), 0);
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now + 5, 1000000), SPO_CACHE_CORRUPT);
    assert_int_equal(spo_cache_store(&c, &id, &t, NULL, 0, now), SPO_OK);
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now + 5, 1000000), SPO_CACHE_FRESH);

    assert_int_equal(spo_cache_remove(&c, &id), 1); /* logout */
    struct stat st;
    assert_int_not_equal(lstat(path, &st), 0);
    assert_int_equal(spo_cache_load(&c, &id, &out, NULL, 0, now + 5, 1000000), SPO_CACHE_MISS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_creates_private_dirs_and_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_what_others_could_touch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_rename_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_before_rename_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_writer_never_leaves_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_cache_on_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
