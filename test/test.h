/* A tiny test harness for tide's C tests.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_INT(got, 3); CHECK_STR(s, "ok"); }
 *   int main(void) { RUN(name); return test_summary("test_loop"); }
 *
 * A failed check prints "file:line: FAIL: expression" (and the values for
 * CHECK_INT / CHECK_STR) and the test goes on; RUN prints one line per test
 * ("ok name" or "FAIL name"); test_summary prints "test_x: N passed, M
 * failed" and returns the process exit status (non-zero on any failure).
 * Header-only: each test binary is one .c file. */
#ifndef TIDE_TEST_H
#define TIDE_TEST_H

#include <stdio.h>
#include <string.h>

static int test__checks_failed; /* in the running test */
static int test__passed, test__failed;

static int test__check(int ok, const char *expr, const char *file, int line) {
  if (!ok) {
    fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, expr);
    test__checks_failed++;
  }
  return ok;
}

#define CHECK(cond) test__check((cond) != 0, #cond, __FILE__, __LINE__)

#define CHECK_INT(got, want)                                                   \
  do {                                                                         \
    long long test__g = (long long)(got), test__w = (long long)(want);         \
    if (!test__check(test__g == test__w, #got " == " #want, __FILE__,          \
                     __LINE__))                                                \
      fprintf(stderr, "    got %lld, want %lld\n", test__g, test__w);          \
  } while (0)

#define CHECK_STR(got, want)                                                   \
  do {                                                                         \
    const char *test__g = (got), *test__w = (want);                            \
    if (!test__check(test__g != NULL && strcmp(test__g, test__w) == 0,         \
                     #got " == " #want, __FILE__, __LINE__))                   \
      fprintf(stderr, "    got \"%s\", want \"%s\"\n",                         \
              test__g ? test__g : "(null)", test__w);                          \
  } while (0)

#define TEST(name) static void name(void)

#define RUN(name)                                                              \
  do {                                                                         \
    test__checks_failed = 0;                                                   \
    name();                                                                    \
    if (test__checks_failed == 0) {                                            \
      test__passed++;                                                          \
      printf("ok %s\n", #name);                                                \
    } else {                                                                   \
      test__failed++;                                                          \
      printf("FAIL %s\n", #name);                                              \
    }                                                                          \
    fflush(stdout);                                                            \
  } while (0)

static int test_summary(const char *suite) {
  printf("%s: %d passed, %d failed\n", suite, test__passed, test__failed);
  return test__failed == 0 ? 0 : 1;
}

#endif
