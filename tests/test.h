/*
 * test.h -- the test harness: TEST(name) registers a test; CHECK* record failures
 * without stopping the test; REQUIRE* stop it.  The runner (harness.c) prints one
 * line per failure and closes with "N passed, N failed".
 * Name tests after the rule they prove, with the article where the law gives it:
 *   TEST(art26_yellow_link_visible_only_to_verifying_authority)
 */
#ifndef INTEROP_TEST_H
#define INTEROP_TEST_H
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_failed(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A fresh, empty directory for this test (under $IOP_TEST_TMP or /tmp); static storage. */
const char *test_tmpdir(const char *name);
/* Runs a shell command; returns its exit status (-1 when it did not exit) and the first
 * cap - 1 bytes of its standard output in out, NUL-terminated (out NULL: output drained). */
int test_run(const char *cmd, char *out, size_t cap);

#define TEST(name)                                                                   \
    static void name(void);                                                          \
    __attribute__((constructor)) static void test_reg_##name(void) { test_register(#name, name); } \
    static void name(void)

#define CHECK(c) do { if (!(c)) test_failed(__FILE__, __LINE__, "CHECK(%s)", #c); } while (0)
#define REQUIRE(c) do { if (!(c)) { test_failed(__FILE__, __LINE__, "REQUIRE(%s)", #c); return; } } while (0)
#define CHECK_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) test_failed(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b, _b); } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp(_a, _b)) test_failed(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)
#define CHECK_NEAR(a, b, eps) do { double _a = (a), _b = (b); \
    if (!(_a - _b <= (eps) && _b - _a <= (eps))) test_failed(__FILE__, __LINE__, "%s == %g, expected %g +- %g", #a, _a, _b, (double)(eps)); } while (0)
#endif
