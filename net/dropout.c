/* Inverted dropout with a counter-based mask regenerated from the seed (shaders/dropout.comp):
 * no mask is stored. The host functions below are the exact same integer arithmetic. */
#include "net/ops.h"
#include "net/launch.h"
#include "runtime/base/rng.h"
#include <math.h>

static uint32_t lowbias32(uint32_t v)   /* C. Wellons' 32-bit integer hash */
{
    v ^= v >> 16; v *= 0x7feb352du;
    v ^= v >> 15; v *= 0x846ca68bu;
    v ^= v >> 16;
    return v;
}

ctvk_dropout_key_t ctvk_dropout_key(uint64_t seed)
{
    uint64_t z = ctvk__rng(&seed);          /* splitmix64 */
    return (ctvk_dropout_key_t){(uint32_t)z, (uint32_t)(z >> 32)};
}

uint32_t ctvk_dropout_hash(uint32_t i, ctvk_dropout_key_t key)
{
    return lowbias32(lowbias32(i ^ key.k0) + key.k1);
}

uint32_t ctvk_dropout_threshold(float rate)
{
    double t = floor((double)rate * 4294967296.0);
    if (!(t > 0)) return 0;
    if (t > 4294967295.0) return UINT32_MAX;
    return (uint32_t)t;
}

static float dropout_scale(float rate) { return (float)(1.0 / (1.0 - (double)rate)); }

typedef struct { uint32_t n, k0, k1, thresh; float scale; uint32_t first; } dropout_push;

static ctvk_status dropout_run(ctvk_ctx *ctx, const char *kernel, const ctvk_tensor *x, ctvk_tensor *y, float rate,
                               uint64_t seed, uint32_t first, int acc)
{
    const ctvk_tensor *t[] = {x, y};
    CTVK_TRY(ctvk__ops_f32(kernel, t, 2));
    CTVK_TRY(ctvk__need_same_count(kernel, x, y));
    if (!(rate >= 0.0f && rate < 1.0f)) return ctvk__fail(CTVK_ERR_ARG, "%s: rate %g is not in [0, 1)", kernel, rate);
    ctvk_dropout_key_t k = ctvk_dropout_key(seed);
    dropout_push pc = {(uint32_t)y->count, k.k0, k.k1, ctvk_dropout_threshold(rate), dropout_scale(rate), first};
    int32_t spec[2] = {CTVK_OPS_LOCAL, acc != 0};
    const ctvk_tensor *bind[2] = {x, y};
    return ctvk__ops_dispatch4(ctx, "dropout", acc ? "tb" : "tw", &pc, sizeof pc, spec, 2, bind, y->count);
}

ctvk_status ctvk_dropout(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y, float rate, uint64_t seed,
                         uint32_t first, int training)
{
    if (!training) {
        if (x == y) return CTVK_OK;
        return ctvk_copy(ctx, x, y);
    }
    return dropout_run(ctx, "dropout", x, y, rate, seed, first, 0);
}

ctvk_status ctvk_dropout_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, float rate, uint64_t seed,
                                  uint32_t first, int accumulate)
{
    return dropout_run(ctx, "dropout_backward", g, dx, rate, seed, first, accumulate);
}

void ctvk_ref_dropout_mask(uint8_t *mask, size_t n, float rate, uint64_t seed, uint32_t first)
{
    ctvk_dropout_key_t k = ctvk_dropout_key(seed);
    uint32_t th = ctvk_dropout_threshold(rate);
    for (size_t i = 0; i < n; i++) mask[i] = ctvk_dropout_hash(first + (uint32_t)i, k) >= th;
}

void ctvk_ref_dropout(const double *x, double *y, size_t n, float rate, uint64_t seed, uint32_t first, int accumulate)
{
    ctvk_dropout_key_t k = ctvk_dropout_key(seed);
    uint32_t th = ctvk_dropout_threshold(rate);
    double scale = dropout_scale(rate);
    for (size_t i = 0; i < n; i++) {
        double v = ctvk_dropout_hash(first + (uint32_t)i, k) >= th ? x[i] * scale : 0.0;
        y[i] = accumulate ? y[i] + v : v;
    }
}
