/* Replays fuzz inputs through a harness without libFuzzer, so the corpora run in plain test builds
 * (ASan/UBSan, no -fsanitize=fuzzer).
 *
 * usage: replay_NAME PATH...   (each PATH a file or a directory of files, not recursive)
 * The inputs run in a child process, in name order. When the child dies (abort from a failed
 * property, a sanitizer report, a signal, or 20 s without finishing one input), the input it was on
 * counts as one failure and a new child carries on with the next input, so one bad file does not hide
 * the others and a clean run costs one fork. The child's stderr shows the report. Prints
 * "fuzz-replay: N files, M crashes (NAME)" and exits non-zero if any input failed. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Harnesses may define it (libFuzzer calls it once before the first input); none has to. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

#define DONE_MARK 0xFFFFFFFFu /* the child ran every input and is exiting */
#define INPUT_TIMEOUT_S 20

static const char *g_name = "?";
static char **g_paths;
static size_t g_npaths, g_cap;
static unsigned g_missing;

static void add_path(char *p)
{
    if (g_npaths == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 256;
        g_paths = realloc(g_paths, g_cap * sizeof *g_paths);
        FUZZ_CHECK(g_paths != NULL);
    }
    g_paths[g_npaths++] = p;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz-replay %s: no such path %s\n", g_name, path);
        g_missing++;
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        add_path(strdup(path));
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz-replay %s: cannot open %s: %s\n", g_name, path, strerror(errno));
        g_missing++;
        return;
    }
    size_t first = g_npaths;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(l);
        snprintf(p, l, "%s/%s", path, e->d_name);
        struct stat fs;
        if (stat(p, &fs) == 0 && S_ISREG(fs.st_mode))
            add_path(p);
        else
            free(p);
    }
    closedir(d);
    /* Sorted, so a run's order (and its output) does not depend on the file system. */
    qsort(g_paths + first, g_npaths - first, sizeof *g_paths, by_name);
}

/* The whole file in a buffer of exactly its size: a read past the input's end must hit ASan's
 * redzone, as it does under libFuzzer. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0)
            break;
        n += k;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    uint8_t *out = malloc(n ? n : 1);
    memcpy(out, buf, n);
    free(buf);
    *len = n;
    return out;
}

/* Child: run inputs from `from` on, telling the parent (through fd) which one is starting. */
static void run_from(size_t from, int fd)
{
    for (size_t i = from; i < g_npaths; i++) {
        uint32_t idx = (uint32_t)i;
        if (write(fd, &idx, sizeof idx) != sizeof idx)
            _exit(120);
        size_t len = 0;
        uint8_t *data = read_file(g_paths[i], &len);
        if (!data) {
            fprintf(stderr, "fuzz-replay %s: cannot read %s: %s\n", g_name, g_paths[i],
                    strerror(errno));
            abort();
        }
        alarm(INPUT_TIMEOUT_S); /* a hang is a failure of this input too */
        LLVMFuzzerTestOneInput(data, len);
        alarm(0);
        free(data);
    }
    uint32_t done = DONE_MARK;
    if (write(fd, &done, sizeof done) != sizeof done)
        _exit(120);
    close(fd);
    exit(0); /* not _exit: LeakSanitizer and coverage profiles run at exit */
}

int main(int argc, char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    g_name = slash ? slash + 1 : argv[0];
    if (strncmp(g_name, "replay_", 7) == 0)
        g_name += 7;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        collect(argv[i]);

    unsigned crashes = g_missing;
    size_t next = 0;
    while (next < g_npaths) {
        int fds[2];
        FUZZ_CHECK(pipe(fds) == 0);
        fflush(NULL);
        pid_t pid = fork();
        FUZZ_CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            run_from(next, fds[1]);
        }
        close(fds[1]);
        uint32_t idx, last = DONE_MARK;
        int started = 0, finished = 0;
        while (read(fds[0], &idx, sizeof idx) == sizeof idx) {
            if (idx == DONE_MARK)
                finished = 1;
            else
                last = idx, started = 1;
        }
        close(fds[0]);
        int st = 0;
        FUZZ_CHECK(waitpid(pid, &st, 0) == pid);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        const char *how = WIFSIGNALED(st) ? "signal" : "exit";
        int code = WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st);
        if (finished) {
            if (!ok) { /* every input ran; what failed is exit-time (a leak report) */
                crashes++;
                fprintf(stderr, "fuzz-replay %s: FAILED at exit after the last input (%s %d)\n",
                        g_name, how, code);
            }
            break;
        }
        if (!started) { /* died before its first input: nothing more will work */
            crashes += (unsigned)(g_npaths - next);
            fprintf(stderr, "fuzz-replay %s: the replay process died at start (%s %d)\n", g_name,
                    how, code);
            break;
        }
        crashes++;
        fprintf(stderr, "fuzz-replay %s: CRASH on %s (%s %d)\n", g_name, g_paths[last], how, code);
        next = (size_t)last + 1;
    }
    printf("fuzz-replay: %zu files, %u crashes (%s)\n", g_npaths, crashes, g_name);
    for (size_t i = 0; i < g_npaths; i++)
        free(g_paths[i]);
    free(g_paths);
    return crashes ? 1 : 0;
}
