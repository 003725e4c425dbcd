/* harness.c -- runs every TEST registered in the executable, or those whose name
 * contains argv[1]. */
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>
#include "test.h"

#define MAX_TESTS 1024
static struct { const char *name; test_fn fn; } tests[MAX_TESTS];
static int ntests, cur_failed, total_failed;
static const char *cur_name;

void test_register(const char *name, test_fn fn) {
    if (ntests < MAX_TESTS) { tests[ntests].name = name; tests[ntests].fn = fn; ntests++; }
}

void test_failed(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s (%s:%d): ", cur_name, file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cur_failed++;
}

int test_run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (out && cap) {
        size_t n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    }
    char buf[4096];
    while (fread(buf, 1, sizeof buf, p) > 0) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *test_tmpdir(const char *name) {
    static char path[1024];
    const char *base = getenv("IOP_TEST_TMP");
    if (!base) base = "/tmp/interop-test";
    char cmd[2200];
    snprintf(path, sizeof path, "%s/%s-%d", base, name, (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) { fprintf(stderr, "cannot create %s\n", path); exit(2); }
    return path;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        cur_name = tests[i].name;
        cur_failed = 0;
        tests[i].fn();
        if (cur_failed) { failed++; total_failed += cur_failed; }
        else { passed++; if (getenv("IOP_TEST_VERBOSE")) fprintf(stderr, "ok   %s\n", cur_name); }
    }
    printf("%d passed, %d failed\n", passed, failed);
    if (passed + failed == 0) {
        fprintf(stderr, "no test ran%s\n", argc > 1 ? " (no test name contains the filter)" : "");
        return 1;
    }
    return failed ? 1 : 0;
}
