/* A tiny test harness: CHECK records a failure with file:line and keeps going; check_done() prints
 * "NAME: N passed, N failed" and returns the exit status. Tests assert real numbers. */
#ifndef CTVK_TESTS_CHECK_H
#define CTVK_TESTS_CHECK_H
#include <stddef.h>
#include <stdint.h>

void check_record(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int check_done(const char *name);
int check_failed(void);

#define CHECK(cond, ...) check_record(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Worst relative error max|a-b| / max(max|b|, floor), the measure every kernel test prints. */
double check_rel_err(const float *got, const float *want, size_t n, double floor_abs);

/* Deterministic random numbers for test data (splitmix64). */
uint64_t check_rng_next(uint64_t *state);
float check_rng_uniform(uint64_t *state, float lo, float hi);
void check_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* A fresh temporary directory (under $TMPDIR or /tmp), created; the caller owns the string. */
char *check_tmpdir(const char *tag);
#endif
