/* Counting checks for the C tests: each program ends by printing "N passed, N failed". */
#ifndef TAILRACE_TEST_CHECK_H
#define TAILRACE_TEST_CHECK_H

#include <stdio.h>

#include "tailrace.h"

extern int check_passed, check_failed, check_skipped;

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    if (cond) {                                                                 \
      __atomic_fetch_add(&check_passed, 1, __ATOMIC_RELAXED);                   \
    } else {                                                                    \
      __atomic_fetch_add(&check_failed, 1, __ATOMIC_RELAXED);                   \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
    }                                                                           \
  } while (0)

/* Check that `expr` returns the result code `want`. */
#define CHECK_RC(expr, want)                                                          \
  do {                                                                                \
    int rc_ = (int)(expr);                                                            \
    CHECK(rc_ == (int)(want), "returned %s, want %s (last error: %s)",                \
          tailrace_result_name(rc_), tailrace_result_name((int)(want)),               \
          tailrace_last_error_message());                                             \
  } while (0)

#define SKIP(why)                                                  \
  do {                                                             \
    __atomic_fetch_add(&check_skipped, 1, __ATOMIC_RELAXED);       \
    fprintf(stderr, "skip %s:%d: %s\n", __FILE__, __LINE__, why);  \
  } while (0)

#define CHECK_SUMMARY()                                                             \
  (printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed,         \
          check_skipped),                                                           \
   check_failed ? 1 : 0)

#define CHECK_DEFINE_COUNTERS int check_passed, check_failed, check_skipped

#endif
