/* Timestamp profiles add up: per-label rows sum to the device total, the total fits in the host's
 * wall time, labels carry the right dispatch counts; long work is split into several submits with
 * the results unchanged; an injected device loss is reported and sticks. */
#include "tests/check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* 3 labelled layers: "a" = 2 dispatches, "b" = 5, "c" = 1; returns the final value of y[0]. */
static float run(ctvk_ctx *ctx, ctvk_tensor *x, ctvk_tensor *y)
{
    ctvk_label_push(ctx, "a");
    CHECK(ctvk_fill(ctx, x, 1.0f) == CTVK_OK && ctvk_fill(ctx, y, 0.0f) == CTVK_OK, "fill");
    ctvk_label_pop(ctx);
    ctvk_label_push(ctx, "b");
    for (int i = 0; i < 5; i++) CHECK(ctvk_scale_add(ctx, 1.0f, x, 2.0f, y) == CTVK_OK, "scale_add");
    ctvk_label_pop(ctx);
    ctvk_label_push(ctx, "c");
    CHECK(ctvk_copy(ctx, y, x) == CTVK_OK, "copy");
    ctvk_label_pop(ctx);
    float *got = check_download(x);
    float v = got[0];
    free(got);
    return v;
}

int main(void)
{
    ctvk_options o;
    ctvk_options_default(&o);
    o.profile = 1;
    ctvk_ctx *ctx = check_ctx(&o);
    ctvk_shape s = {1, 64, 64, 64};
    ctvk_tensor *x = check_tensor(ctx, s, NULL, "x"), *y = check_tensor(ctx, s, NULL, "y");
    (void)run(ctx, x, y);                      /* warm up: shader compilation */
    ctvk_profile_reset(ctx);
    double t0 = now_ms();
    float v = run(ctx, x, y);
    double wall = now_ms() - t0;
    CHECK(v == 31.0f, "y = 2y + 1 five times from 0 gives 31, got %g", v);
    ctvk_profile_row *rows;
    int n;
    double total;
    CHECK(ctvk_profile_get(ctx, &rows, &n, &total) == CTVK_OK, "profile: %s", ctvk_error());
    double sum = 0;
    int seen = 0;
    for (int i = 0; i < n; i++) {
        printf("  %-6s %2u dispatches %8.3f ms\n", rows[i].label, rows[i].dispatches, rows[i].ms);
        sum += rows[i].ms;
        CHECK(rows[i].ms >= 0, "negative time");
        if (!strcmp(rows[i].label, "a")) { seen++; CHECK(rows[i].dispatches == 2, "a: %u", rows[i].dispatches); }
        if (!strcmp(rows[i].label, "b")) { seen++; CHECK(rows[i].dispatches == 5, "b: %u", rows[i].dispatches); }
        if (!strcmp(rows[i].label, "c")) { seen++; CHECK(rows[i].dispatches == 1, "c: %u", rows[i].dispatches); }
    }
    printf("rows sum %.3f ms, device total %.3f ms, host wall %.3f ms\n", sum, total, wall);
    CHECK(seen == 3 && n == 3, "expected rows a, b, c; got %d rows", n);
    CHECK(fabs(sum - total) <= 0.01 * total + 1e-3, "rows (%.3f) do not add up to the total (%.3f)", sum, total);
    CHECK(total > 0 && total <= wall * 1.05 + 0.05, "device total %.3f ms exceeds the host wall time %.3f ms", total,
          wall);
    free(rows);
    ctvk_tensor_destroy(x);
    ctvk_tensor_destroy(y);
    check_ctx_done(ctx);

    /* splitting: 3 dispatches per submit; same answer, more submits */
    o.max_dispatches_per_submit = 3;
    ctx = check_ctx(&o);
    x = check_tensor(ctx, s, NULL, "x");
    y = check_tensor(ctx, s, NULL, "y");
    ctvk_stats st0, st1;
    ctvk_get_stats(ctx, &st0);
    v = run(ctx, x, y);
    ctvk_get_stats(ctx, &st1);
    printf("split: %llu submits for 8 dispatches at 3 per submit\n", (unsigned long long)(st1.submits - st0.submits));
    CHECK(v == 31.0f, "split run gives %g", v);
    CHECK(st1.submits - st0.submits == 3, "expected 3 submits, got %llu", (unsigned long long)(st1.submits - st0.submits));
    CHECK(ctvk_profile_get(ctx, &rows, &n, &total) == CTVK_OK, "profile");
    sum = 0;
    for (int i = 0; i < n; i++) sum += rows[i].ms;
    CHECK(fabs(sum - total) <= 0.01 * total + 1e-3, "split rows do not add up");
    free(rows);
    ctvk_tensor_destroy(x);
    ctvk_tensor_destroy(y);
    check_ctx_done(ctx);

    /* a lost device: a clear message, and every later call fails fast the same way */
    setenv("CTVK_FAULT", "submit", 1);
    ctx = check_ctx(NULL);
    x = check_tensor(ctx, s, NULL, "x");
    CHECK(ctvk_fill(ctx, x, 1.0f) == CTVK_OK, "record");
    ctvk_status st = ctvk_sync(ctx);
    printf("device lost: %s\n", ctvk_error());
    CHECK(st == CTVK_ERR_DEVICE_LOST && strstr(ctvk_error(), "lost"), "status %s", ctvk_status_name(st));
    st = ctvk_fill(ctx, x, 2.0f);
    CHECK(st == CTVK_ERR_DEVICE_LOST, "after loss: %s", ctvk_status_name(st));
    unsetenv("CTVK_FAULT");
    ctvk_tensor_destroy(x);
    ctvk_destroy(ctx);
    return check_done("test_profile");
}
