/* Helpers shared by the tests of net/ops.h (header-only: included by tests/test_{bn,pool,act,
 * resize,dropout,loss}.c). References compute in double; device tensors are fp32. */
#ifndef CTVK_TESTS_OPS_TEST_H
#define CTVK_TESTS_OPS_TEST_H
#include "tests/check.h"
#include "net/ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_TOL 1e-4      /* fp32 kernel vs double reference, relative to the largest reference value */
#define FD_TOL 1e-6       /* analytic (double) vs central finite difference (double) */

static inline size_t shape_count(ctvk_shape s) { return (size_t)s.n * s.h * s.w * s.c; }

static inline double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    return p;
}

static inline double *drandom(size_t n, uint64_t seed, double lo, double hi)
{
    double *p = dalloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (double)check_rng_uniform(&seed, (float)lo, (float)hi);
    return p;   /* every value is exactly a float */
}

static inline double *dcopy(const double *x, size_t n)
{
    double *p = dalloc(n);
    memcpy(p, x, n * sizeof *p);
    return p;
}

/* A fp32 tensor holding (float) d. */
static inline ctvk_tensor *dtensor(ctvk_ctx *ctx, ctvk_shape s, const double *d, const char *name)
{
    size_t n = shape_count(s);
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = d ? (float)d[i] : 0.0f;
    ctvk_tensor *t = check_tensor(ctx, s, f, name);
    free(f);
    return t;
}

/* Worst relative error of tensor t against the double reference ref (n elements). */
static inline double dcompare(ctvk_tensor *t, const double *ref, size_t n)
{
    float *got = check_download(t);
    float *want = malloc((n ? n : 1) * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = (float)ref[i];
    double e = check_rel_err(got, want, n, 1e-6);
    free(got);
    free(want);
    return e;
}

#define EXPECT_CLOSE(t, ref, n, what, ...)                                                  \
    do {                                                                                    \
        double e_ = dcompare((t), (ref), (n));                                              \
        char w_[160];                                                                       \
        snprintf(w_, sizeof w_, what, __VA_ARGS__);                                         \
        printf("%-60s worst relative error %.3g\n", w_, e_);                                \
        CHECK(e_ <= OPS_TOL, "%s: error %g", w_, e_);                                       \
    } while (0)

/* Finite-difference check of an analytic gradient: loss(u, x) = sum(y * g) of the reference
 * forward at x; grad = its analytic gradient. Central differences in double on up to `samples`
 * evenly spread coordinates (all when n <= samples). Returns max |num - ana| / max(max|ana|, 1e-8). */
typedef double (*fd_loss_fn)(void *u, const double *x);
static inline double fd_check(fd_loss_fn loss, void *u, double *x, size_t n, const double *grad, size_t samples)
{
    double maxdiff = 0, maxref = 1e-8;
    for (size_t i = 0; i < n; i++) if (fabs(grad[i]) > maxref) maxref = fabs(grad[i]);
    size_t step = n <= samples ? 1 : n / samples;
    for (size_t i = 0; i < n; i += step) {
        double keep = x[i], h = 1e-5 * (fabs(keep) > 1 ? fabs(keep) : 1);
        x[i] = keep + h;
        double lp = loss(u, x);
        x[i] = keep - h;
        double lm = loss(u, x);
        x[i] = keep;
        double num = (lp - lm) / (2 * h), d = fabs(num - grad[i]);
        if (!(d <= maxdiff)) maxdiff = d;
    }
    return maxdiff / maxref;
}

#define EXPECT_FD(loss, u, x, n, grad, what, ...)                                           \
    do {                                                                                    \
        double e_ = fd_check((loss), (u), (x), (n), (grad), 400);                           \
        char w_[160];                                                                       \
        snprintf(w_, sizeof w_, what, __VA_ARGS__);                                         \
        printf("%-60s finite-difference error %.3g\n", w_, e_);                             \
        CHECK(e_ <= FD_TOL, "%s: finite-difference error %g", w_, e_);                      \
    } while (0)

static inline double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

#define OK(call) CHECK((call) == CTVK_OK, "%s: %s", #call, ctvk_error())
#endif
