/* spo — the POSIX port's record storage: one file per record, replaced atomically, read only if
 * private. The rules are in spo/port.h (spo_port_posix_store_path). */
#include "store_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int key_is_name(const char *key)
{
    size_t n = 0;
    if (key[0] == '.')
        return 0; /* no ".", "..", and no collision with the hidden temporary files */
    for (; key[n]; n++) {
        char ch = key[n];
        if (n >= SPO_STORE_KEY_MAX ||
            !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return n > 0;
}

static int join(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
    int n = snprintf(buf, cap, "%s%s%s", a, b, c);
    if (n >= 0 && (size_t)n < cap)
        return n;
    buf[0] = '\0'; /* never a cut path: it would name another file */
    return n < 0 ? SPO_E_ARG : SPO_E_TOO_LONG;
}

int spo_port_posix_store_path(const char *key, char *buf, size_t cap)
{
    if (!key || !buf || cap == 0)
        return SPO_E_ARG;
    buf[0] = '\0';
    if (key[0] == '/') {
        size_t n = strlen(key);
        if (key[n - 1] == '/')
            return SPO_E_ARG;
        return join(buf, cap, key, "", "");
    }
    if (!key_is_name(key))
        return SPO_E_ARG;
    /* XDG: a relative XDG_CONFIG_HOME is invalid and must be ignored. */
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && xdg[0] == '/')
        return join(buf, cap, xdg, "/spo/", key);
    const char *home = getenv("HOME");
    if (home && home[0] == '/')
        return join(buf, cap, home, "/.config/spo/", key);
    return SPO_E_ARG;
}

static int store_path(const char *key, char *buf, size_t cap)
{
    int n = spo_port_posix_store_path(key, buf, cap);
    return n < 0 ? SPO_E_ARG : n;
}

/* st_size is only a hint (the file may change under us): read at most cap bytes, and one probe
 * byte past them tells a longer file. */
static int read_bounded(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        uint8_t probe = 0;
        uint8_t *dst = got < cap ? buf + got : &probe;
        ssize_t n = read(fd, dst, got < cap ? cap - got : 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return SPO_STORE_IO;
        if (n == 0)
            return (int)got;
        if (got == cap)
            return SPO_STORE_TOO_BIG;
        got += (size_t)n;
    }
}

int posix_store_read(void *ctx, const char *key, uint8_t *buf, size_t cap)
{
    (void)ctx;
    char path[SPO_STORE_PATH_MAX];
    if ((!buf && cap) || cap > INT_MAX || store_path(key, path, sizeof path) < 0)
        return SPO_E_ARG;
    /* O_NOFOLLOW: a symlink could point anywhere (and be planted by someone else); O_NONBLOCK: a
     * FIFO in its place must not hang us before fstat refuses it. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return SPO_STORE_ABSENT;
        return errno == ELOOP ? SPO_STORE_INSECURE : SPO_STORE_IO;
    }
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0) {
        rc = SPO_STORE_IO;
    } else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
               (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        rc = SPO_STORE_INSECURE;
    } else if ((uint64_t)st.st_size > cap) {
        rc = SPO_STORE_TOO_BIG;
    } else {
        rc = read_bounded(fd, buf, cap);
    }
    close(fd);
    return rc;
}

/* mkdir -p of path's directories (path is modified and restored), new ones 0700 whatever the
 * umask (0277 would leave 0500, where the record could never be written). */
static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int ok = mkdir(path, 0700) == 0 ? chmod(path, 0700) == 0 : errno == EEXIST;
        *p = '/';
        if (!ok)
            return SPO_STORE_IO;
    }
    return SPO_OK;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return SPO_STORE_IO;
        data += n;
        len -= (size_t)n;
    }
    return SPO_OK;
}

/* The temporary's name needs uniqueness, not secrecy (O_EXCL and the 0700 directory protect it):
 * when getrandom is unavailable, pid, time and attempt do. */
static void random_bytes(uint8_t *r, size_t n, unsigned attempt)
{
    if (getrandom(r, n, GRND_NONBLOCK) == (ssize_t)n)
        return;
    struct timespec ts = { 0, 0 };
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t v = ((uint64_t)getpid() << 40) ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)attempt << 56);
    for (size_t i = 0; i < n; i++, v >>= 8)
        r[i] = (uint8_t)v;
}

/* Create ".NAME.<16 hex>" 0600 in dfd; its name goes to tmp. The name is random so that concurrent
 * writers (two cron runs overlapping) each own their file; O_EXCL so no one else's is reused. */
static int create_temp(int dfd, const char *name, char *tmp, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    for (int attempt = 0; attempt < 8; attempt++) {
        uint8_t r[8];
        char suffix[2 * sizeof r + 1];
        random_bytes(r, sizeof r, (unsigned)attempt);
        for (size_t i = 0; i < sizeof r; i++) {
            suffix[2 * i] = hex[r[i] >> 4];
            suffix[2 * i + 1] = hex[r[i] & 15];
        }
        suffix[sizeof suffix - 1] = '\0';
        int n = snprintf(tmp, cap, ".%s.%s", name, suffix);
        if (n < 0 || (size_t)n >= cap)
            return -1;
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

int posix_store_write(void *ctx, const char *key, const uint8_t *data, size_t len)
{
    (void)ctx;
    char path[SPO_STORE_PATH_MAX];
    char tmp[NAME_MAX + 1];
    if ((!data && len) || store_path(key, path, sizeof path) < 0)
        return SPO_E_ARG;
    if (make_parents(path) != SPO_OK)
        return SPO_STORE_IO;
    char *slash = strrchr(path, '/');
    const char *name = slash + 1;
    *slash = '\0';
    int dfd = open(slash == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return SPO_STORE_IO;
    int fd = create_temp(dfd, name, tmp, sizeof tmp);
    if (fd < 0) {
        close(dfd);
        return SPO_STORE_IO;
    }
    /* The umask may have taken bits we need (0277 leaves 0400); and none may be added. */
    int rc = fchmod(fd, 0600) == 0 ? SPO_OK : SPO_STORE_IO;
    if (rc == SPO_OK)
        rc = write_all(fd, data, len);
    /* Data on disk before the name points at it, or a power cut could leave an empty record. */
    if (rc == SPO_OK && fsync(fd) != 0)
        rc = SPO_STORE_IO;
    if (close(fd) != 0 && rc == SPO_OK)
        rc = SPO_STORE_IO;
    if (rc == SPO_OK && renameat(dfd, tmp, dfd, name) != 0)
        rc = SPO_STORE_IO;
    if (rc != SPO_OK)
        (void)unlinkat(dfd, tmp, 0);
    else
        /* Makes the rename durable. Its failure is not reported: the new record is in place and
         * there is nothing left to undo. */
        (void)fsync(dfd);
    close(dfd);
    return rc;
}

int posix_store_remove(void *ctx, const char *key)
{
    (void)ctx;
    char path[SPO_STORE_PATH_MAX];
    if (store_path(key, path, sizeof path) < 0)
        return SPO_E_ARG;
    if (unlink(path) != 0)
        return errno == ENOENT ? SPO_STORE_ABSENT : SPO_STORE_IO;
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int dfd = open(slash == path ? "/" : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* a logout should survive a power cut; the unlink itself succeeded */
        close(dfd);
    }
    return SPO_OK;
}
