#include "check.h"
#include "runtime/rng.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail;

void check_record(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) { n_pass++; return; }
    n_fail++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int check_failed(void) { return n_fail; }

int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, n_pass, n_fail);
    return n_fail == 0 && n_pass > 0 ? 0 : 1;
}

double check_rel_err(const float *got, const float *want, size_t n, double floor_abs)
{
    double maxdiff = 0.0, maxref = floor_abs;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= maxdiff)) maxdiff = d;     /* NaN propagates as a failure */
        if (fabs((double)want[i]) > maxref) maxref = fabs((double)want[i]);
    }
    return maxdiff / maxref;
}

uint64_t check_rng_next(uint64_t *s)
{
    return ctvk__rng(s);
}

float check_rng_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)((check_rng_next(s) >> 40) * (1.0 / 16777216.0));
}

void check_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = check_rng_uniform(&seed, lo, hi);
}

char *check_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t len = strlen(base) + strlen(tag) + 32;
    char *p = malloc(len);
    if (!p) return NULL;
    snprintf(p, len, "%s/ctvk-%s-XXXXXX", base, tag);
    if (!mkdtemp(p)) { free(p); return NULL; }
    return p;
}

ctvk_ctx *check_ctx(const ctvk_options *o)
{
    ctvk_options d;
    if (!o) { ctvk_options_default(&d); o = &d; }
    ctvk_ctx *ctx = NULL;
    if (ctvk_create(o, &ctx) != CTVK_OK) {
        fprintf(stderr, "FAIL: cannot create a device context: %s\n", ctvk_error());
        exit(1);
    }
    return ctx;
}

void check_ctx_done(ctvk_ctx *ctx)
{
    if (!ctx) return;
    CHECK(ctvk_sync(ctx) == CTVK_OK, "final sync: %s", ctvk_error());
    uint32_t msgs = ctvk_validation_messages(ctx);
    CHECK(msgs == 0, "%u validation messages", msgs);
    ctvk_destroy(ctx);
}

ctvk_tensor *check_tensor(ctvk_ctx *ctx, ctvk_shape s, const float *data, const char *name)
{
    ctvk_tensor *t = NULL;
    if (ctvk_tensor_create(ctx, CTVK_F32, s, name, &t) != CTVK_OK) {
        fprintf(stderr, "FAIL: tensor %s: %s\n", name, ctvk_error());
        exit(1);
    }
    if (data && ctvk_tensor_upload(t, data, ctvk_tensor_bytes(t)) != CTVK_OK) {
        fprintf(stderr, "FAIL: upload %s: %s\n", name, ctvk_error());
        exit(1);
    }
    return t;
}

float *check_download(ctvk_tensor *t)
{
    float *p = malloc(ctvk_tensor_bytes(t) ? ctvk_tensor_bytes(t) : 1);
    if (!p || ctvk_tensor_download(t, p, ctvk_tensor_bytes(t)) != CTVK_OK) {
        fprintf(stderr, "FAIL: download %s: %s\n", ctvk_tensor_name(t), ctvk_error());
        exit(1);
    }
    return p;
}
