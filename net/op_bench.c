/* Per-op benchmarks (`ctvk bench op`, in the spirit of llm.c's dev/cuda): one kernel on random data
 * of a given shape, its result checked against the plain-C reference (double) the kernel tests use,
 * then timed: the device's minimum over repetitions (each recorded and waited for alone) against one
 * run of the reference. Shape {N, H, W, C} is the input's; every op derives the rest from it. */
#include "ctvk/net.h"
#include "net/conv.h"
#include "net/ops.h"
#include "runtime/base/rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench {
    ctvk_ctx *ctx;
    ctvk_shape xs, ys;
    size_t nx, ny;
    double *x, *x2, *w, *ref;     /* inputs, weights (or a second input), the reference output */
    ctvk_tensor *tx, *tx2, *tw, *ty, *targ, *tp[4];   /* tp: per-channel parameters */
    ctvk_conv2d conv;
    double flops, bytes;          /* the work of one run (bytes: what an elementwise kernel moves) */
} bench;

static size_t count(ctvk_shape s) { return (size_t)s.n * s.h * s.w * s.c; }

/* n values in [-1, 1) that are exactly floats, and their tensor */
static ctvk_status random_tensor(bench *b, ctvk_shape s, uint64_t seed, double **d, ctvk_tensor **t)
{
    size_t n = count(s);
    *d = malloc(n * sizeof **d);
    float *f = malloc(n * sizeof *f);
    ctvk_status st = *d && f ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (size_t i = 0; !st && i < n; i++) f[i] = (float)(2.0 * ctvk__rng_unit(&seed) - 1.0), (*d)[i] = f[i];
    if (!st) st = ctvk_tensor_create(b->ctx, CTVK_F32, s, "bench", t);
    if (!st) st = ctvk_tensor_upload(*t, f, n * sizeof *f);
    free(f);
    return st;
}

static ctvk_status out_tensor(bench *b, ctvk_shape ys)
{
    b->ys = ys;
    b->ny = count(ys);
    b->ref = calloc(b->ny, sizeof *b->ref);
    if (!b->ref) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    return ctvk_tensor_create(b->ctx, CTVK_F32, ys, "bench_out", &b->ty);
}

/* ------------------------------------------------------------------ the ops */
static ctvk_status setup_unary(bench *b) { b->bytes = 8.0 * b->nx; return out_tensor(b, b->xs); }
static ctvk_status setup_binary(bench *b)
{
    b->bytes = 12.0 * b->nx;
    CTVK_TRY(random_tensor(b, b->xs, 2, &b->x2, &b->tx2));
    return out_tensor(b, b->xs);
}
static ctvk_status run_relu(bench *b) { return ctvk_relu(b->ctx, b->tx, b->ty); }
static void ref_relu(bench *b) { ctvk_ref_relu(b->x, b->ref, b->nx); }
static ctvk_status run_add(bench *b) { return ctvk_add(b->ctx, b->tx, b->tx2, b->ty, 1); }
static void ref_add(bench *b) { ctvk_ref_add(b->x, b->x2, b->ref, b->nx, 1); }
static ctvk_status run_relu_bwd(bench *b) { return ctvk_relu_backward(b->ctx, b->tx, b->tx2, b->ty, 0); }
static void ref_relu_bwd(bench *b) { ctvk_ref_relu_backward(b->x, b->x2, b->ref, b->nx, 0); }

/* batch norm at inference: gamma, beta, mean, var (in [0.5, 1.5)) per channel, in b->w and b->tp */
static ctvk_status setup_bn(bench *b)
{
    b->bytes = 8.0 * b->nx;
    int C = b->xs.c;
    b->w = malloc(4 * (size_t)C * sizeof *b->w);
    if (!b->w) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int k = 0; k < 4; k++) {
        double *d;
        CTVK_TRY(random_tensor(b, (ctvk_shape){1, 1, 1, C}, 3 + (uint64_t)k, &d, &b->tp[k]));
        memcpy(b->w + (size_t)k * C, d, (size_t)C * sizeof *d);
        free(d);
    }
    float *f = malloc((size_t)C * sizeof *f);
    if (!f) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int c = 0; c < C; c++) f[c] = (float)(1.0 + 0.5 * b->w[3 * C + c]), b->w[3 * C + c] = f[c];
    ctvk_status s = ctvk_tensor_upload(b->tp[3], f, (size_t)C * sizeof *f);
    free(f);
    return s ? s : out_tensor(b, b->xs);
}
static ctvk_status run_bn(bench *b)
{
    return ctvk_bn_forward_infer(b->ctx, b->tx, b->tp[0], b->tp[1], b->tp[2], b->tp[3], 1e-3f, 1, b->ty);
}
static void ref_bn(bench *b)
{
    int C = b->xs.c;
    ctvk_ref_bn_forward_infer(b->x, b->xs, b->w, b->w + C, b->w + 2 * C, b->w + 3 * C, 1e-3, 1, b->ref);
}

static ctvk_status setup_maxpool(bench *b)
{
    CTVK_TRY(ctvk_tensor_create(b->ctx, CTVK_U32, (ctvk_shape){b->xs.n, (b->xs.h - 3) / 2 + 1, (b->xs.w - 3) / 2 + 1,
                                                                b->xs.c}, "argmax", &b->targ));
    b->bytes = 4.0 * b->nx;
    return out_tensor(b, (ctvk_shape){b->xs.n, (b->xs.h - 3) / 2 + 1, (b->xs.w - 3) / 2 + 1, b->xs.c});
}
static ctvk_status run_maxpool(bench *b) { return ctvk_maxpool(b->ctx, b->tx, b->ty, b->targ, 3, 2, 0, 0, 0, 0); }
static void ref_maxpool(bench *b)
{
    uint32_t *arg = malloc(b->ny * sizeof *arg);
    if (arg) ctvk_ref_maxpool(b->x, b->xs, b->ref, b->ys, arg, 3, 2, 0, 0);
    free(arg);
}

static ctvk_status setup_gap(bench *b) { b->bytes = 4.0 * b->nx; return out_tensor(b, (ctvk_shape){b->xs.n, 1, 1, b->xs.c}); }
static ctvk_status run_gap(bench *b) { return ctvk_gap(b->ctx, b->tx, b->ty); }
static void ref_gap(bench *b) { ctvk_ref_gap(b->x, b->xs, b->ref); }

static ctvk_status setup_resize(bench *b)
{
    b->bytes = 20.0 * b->nx;
    return out_tensor(b, (ctvk_shape){b->xs.n, 2 * b->xs.h, 2 * b->xs.w, b->xs.c});
}
static ctvk_status run_resize(bench *b) { return ctvk_resize_nearest(b->ctx, b->tx, b->ty); }
static void ref_resize(bench *b) { ctvk_ref_resize_nearest(b->x, b->xs, b->ref, b->ys); }

static ctvk_status setup_concat(bench *b)
{
    b->bytes = 16.0 * b->nx;
    CTVK_TRY(random_tensor(b, b->xs, 2, &b->x2, &b->tx2));
    return out_tensor(b, (ctvk_shape){b->xs.n, b->xs.h, b->xs.w, 2 * b->xs.c});
}
static ctvk_status run_concat(bench *b) { return ctvk_concat(b->ctx, b->tx, b->tx2, b->ty); }
static void ref_concat(bench *b) { ctvk_ref_concat(b->x, b->xs, b->x2, b->xs, b->ref); }

static ctvk_status run_dropout(bench *b) { return ctvk_dropout(b->ctx, b->tx, b->ty, 0.5f, 7, 0, 1); }
static void ref_dropout(bench *b) { ctvk_ref_dropout(b->x, b->ref, b->nx, 0.5f, 7, 0, 0); }

/* a 3x3 stride-1 "same" conv from C to C channels, weights scaled by 1/sqrt(9 C) */
static ctvk_status setup_conv(bench *b)
{
    int C = b->xs.c;
    CTVK_TRY(ctvk_conv2d_padded(3, 3, 1, 1, 1, 1, 1, 1, &b->conv));
    CTVK_TRY(random_tensor(b, (ctvk_shape){3, 3, C, C}, 4, &b->w, &b->tw));
    b->flops = 2.0 * b->nx * 9.0 * C;
    return out_tensor(b, b->xs);
}
static ctvk_status run_conv(bench *b) { return ctvk_conv2d_forward(b->ctx, &b->conv, b->tx, b->tw, NULL, b->ty); }
static void ref_conv(bench *b) { ctvk_ref_conv2d_forward_f64(&b->conv, b->xs, b->x, b->w, NULL, b->xs, b->ref); }
static ctvk_status run_conv_bwd_data(bench *b)
{
    return ctvk_conv2d_backward_data(b->ctx, &b->conv, b->tx, b->tw, b->ty, 0);
}
static void ref_conv_bwd_data(bench *b)
{
    ctvk_ref_conv2d_backward_data_f64(&b->conv, b->xs, b->x, b->w, b->xs, b->ref, 0);
}
static ctvk_status setup_conv_bwd_weights(bench *b)
{
    int C = b->xs.c;
    CTVK_TRY(ctvk_conv2d_padded(3, 3, 1, 1, 1, 1, 1, 1, &b->conv));
    CTVK_TRY(random_tensor(b, b->xs, 5, &b->x2, &b->tx2));     /* dy */
    b->flops = 2.0 * b->nx * 9.0 * C;
    return out_tensor(b, (ctvk_shape){3, 3, C, C});
}
static ctvk_status run_conv_bwd_weights(bench *b)
{
    return ctvk_conv2d_backward_weights(b->ctx, &b->conv, b->tx, b->tx2, b->ty, NULL, 0);
}
static void ref_conv_bwd_weights(bench *b)
{
    ctvk_ref_conv2d_backward_weights_f64(&b->conv, b->xs, b->x, b->xs, b->x2, b->ref, NULL, 0);
}

typedef struct op_row {
    const char *name, *what;
    ctvk_status (*setup)(bench *);
    ctvk_status (*run)(bench *);
    void (*ref)(bench *);
} op_row;

static const op_row ops[] = {
    {"relu", "y = max(x, 0)", setup_unary, run_relu, ref_relu},
    {"relu_backward", "dx = g where mask > 0", setup_binary, run_relu_bwd, ref_relu_bwd},
    {"add", "y = relu(a + b)", setup_binary, run_add, ref_add},
    {"bn", "inference batch norm + ReLU", setup_bn, run_bn, ref_bn},
    {"maxpool", "3x3 stride 2 with argmax", setup_maxpool, run_maxpool, ref_maxpool},
    {"gap", "global average pool", setup_gap, run_gap, ref_gap},
    {"resize", "nearest 2x upsampling", setup_resize, run_resize, ref_resize},
    {"concat", "channels of two inputs", setup_concat, run_concat, ref_concat},
    {"dropout", "rate 0.5, training", setup_unary, run_dropout, ref_dropout},
    {"conv", "3x3 same, C -> C, forward", setup_conv, run_conv, ref_conv},
    {"conv_backward_data", "3x3 same, C -> C", setup_conv, run_conv_bwd_data, ref_conv_bwd_data},
    {"conv_backward_weights", "3x3 same, C -> C", setup_conv_bwd_weights, run_conv_bwd_weights, ref_conv_bwd_weights},
};

int ctvk_op_bench_count(void) { return (int)(sizeof ops / sizeof *ops); }

const char *ctvk_op_bench_name(int i, const char **what)
{
    if (i < 0 || i >= ctvk_op_bench_count()) return NULL;
    if (what) *what = ops[i].what;
    return ops[i].name;
}

ctvk_status ctvk_op_bench(ctvk_ctx *ctx, const char *name, ctvk_shape xs, int reps, ctvk_op_bench_result *r)
{
    memset(r, 0, sizeof *r);
    const op_row *op = NULL;
    for (int i = 0; i < ctvk_op_bench_count(); i++)
        if (!strcmp(ops[i].name, name)) op = &ops[i];
    if (!op) return ctvk__fail(CTVK_ERR_ARG, "bench op: no op '%s' (ctvk bench op --list names them)", name);
    if (xs.n < 1 || xs.h < 3 || xs.w < 3 || xs.c < 1 || count(xs) > (1u << 28))
        return ctvk__fail(CTVK_ERR_ARG, "bench op %s: shape %dx%dx%dx%d: N, C >= 1, H, W >= 3, at most 2^28 values",
                          name, xs.n, xs.h, xs.w, xs.c);
    if (reps < 1) reps = 1;
    bench b = {0};
    b.ctx = ctx;
    b.xs = xs;
    b.nx = count(xs);
    ctvk_status s = random_tensor(&b, xs, 1, &b.x, &b.tx);
    if (!s) s = op->setup(&b);
    float *got = s ? NULL : malloc(b.ny * sizeof *got);
    if (!s && !got) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) s = op->run(&b);                       /* the first run compiles; its result is checked */
    if (!s) s = ctvk_tensor_download(b.ty, got, b.ny * sizeof *got);
    if (!s) {
        double t0 = ctvk__now();
        op->ref(&b);
        r->ref_ms = 1e3 * (ctvk__now() - t0);
        double md = 0, mr = 1e-6;
        for (size_t i = 0; i < b.ny; i++) {
            double d = fabs((double)got[i] - b.ref[i]);
            if (!(d <= md)) md = d;
            if (fabs(b.ref[i]) > mr) mr = fabs(b.ref[i]);
        }
        r->rel_err = md / mr;
        r->device_ms = INFINITY;
    }
    for (int k = 0; !s && k < reps; k++) {
        double t0 = ctvk__now();
        s = op->run(&b);
        if (!s) s = ctvk_sync(ctx);
        double ms = 1e3 * (ctvk__now() - t0);
        if (!s && ms < r->device_ms) r->device_ms = ms;
    }
    if (!s) {
        r->gflop = b.flops * 1e-9;
        r->mbytes = b.bytes * 1e-6;
        r->out_shape = b.ys;
    }
    free(got);
    free(b.x), free(b.x2), free(b.w), free(b.ref);
    ctvk_tensor *ts[] = {b.tx, b.tx2, b.tw, b.ty, b.targ, b.tp[0], b.tp[1], b.tp[2], b.tp[3]};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) ctvk_tensor_destroy(ts[i]);
    return s;
}
