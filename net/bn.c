/* Batch normalisation, training and inference forward and backward, per channel over N*H*W rows
 * (shaders/bn_*.comp), and plain-C references in double. See net/ops.h for the semantics.
 *
 * Reductions: rows are cut into P chunks of `chunk` rows (P <= 512, chunk >= 64 where rows allow);
 * one workgroup per (channel block, chunk) reduces its chunk in fp32 (forward: mean, then the sum
 * of squared deviations from it; backward: sum g, sum g*xhat); one lane per channel then merges
 * the P partials. Forward sums are shifted by a value near the mean (a chunk's first value, chunk
 * 0's mean) and the between-chunk part of M2 is a second pass, so a large common offset costs no
 * precision. Workspace, 2C(P+1) floats: forward, the partials [P][2][C] from the start; backward,
 * the merged sums [2][C] at the head (bn_dx reads that head alone) and the partials after it. */
#include "net/ops.h"
#include "net/launch.h"
#include <math.h>
#include <stdlib.h>

typedef struct { uint32_t R, C, chunk, P; } bn_geom;

static bn_geom geom(ctvk_shape s)
{
    bn_geom g;
    uint64_t R = (uint64_t)s.n * s.h * s.w;
    uint64_t P = (R + 63) / 64;
    if (P > 512) P = 512;
    if (P < 1) P = 1;
    uint64_t chunk = (R + P - 1) / P;
    if (chunk < 1) chunk = 1;
    g.R = (uint32_t)R;
    g.C = (uint32_t)s.c;
    g.chunk = (uint32_t)chunk;
    g.P = (uint32_t)((R + chunk - 1) / chunk);
    return g;
}

size_t ctvk_bn_workspace_count(ctvk_shape x)
{
    bn_geom g = geom(x);
    return 2 * (size_t)g.C * ((size_t)g.P + 1);
}

static ctvk_status bn_check(const char *kernel, const ctvk_tensor *x, const ctvk_tensor *const *per_channel, int n)
{
    if (x->count == 0 || x->count > UINT32_MAX / 2)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensor '%s' is empty or too large", kernel, x->name);
    for (int i = 0; i < n; i++)
        if (per_channel[i]) CTVK_TRY(ctvk__ops_count(kernel, per_channel[i], (size_t)x->shape.c, "one per channel"));
    return CTVK_OK;
}

static ctvk_status work_check(const char *kernel, const ctvk_tensor *x, const ctvk_tensor *work)
{
    size_t need = ctvk_bn_workspace_count(x->shape);
    if (work->count < need)
        return ctvk__fail(CTVK_ERR_ARG, "%s: workspace '%s' has %zu floats, needs ctvk_bn_workspace_count = %zu", kernel,
                          work->name, work->count, need);
    return CTVK_OK;
}

typedef struct { uint32_t n, C; float eps; } apply_push;

static ctvk_status bn_apply(ctvk_ctx *ctx, int train, int relu, const ctvk_tensor *x, const ctvk_tensor *gamma,
                            const ctvk_tensor *beta, const ctvk_tensor *sa, const ctvk_tensor *sb, float eps,
                            ctvk_tensor *y)
{
    /* 4 channels per invocation through vec4 texel views */
    int vec = x->shape.c % 4 == 0 && ctvk__vec4_ok(x) && ctvk__vec4_ok(gamma) && ctvk__vec4_ok(beta) &&
              ctvk__vec4_ok(sa) && ctvk__vec4_ok(sb);
    int32_t spec[4] = {CTVK_OPS_LOCAL, train != 0, relu != 0, vec};
    apply_push pc = {(uint32_t)y->count, (uint32_t)x->shape.c, eps};
    const ctvk_tensor *bind[6] = {x, gamma, beta, sa, sb, y};
    return ctvk__ops_dispatch4(ctx, "bn_apply", vec ? "qvvvvw" : "tuuuuw", &pc, sizeof pc, spec, 4, bind, y->count);
}

ctvk_status ctvk_bn_forward_affine(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *aff, int relu,
                                   ctvk_tensor *y)
{
    const char *k = "bn_forward_affine";
    const ctvk_tensor *t[] = {x, aff, y};
    CTVK_TRY(ctvk__ops_f32(k, t, 3));
    CTVK_TRY(bn_check(k, x, NULL, 0));
    CTVK_TRY(ctvk__ops_same_shape(k, x, y));
    CTVK_TRY(ctvk__ops_count(k, aff, 2 * (size_t)x->shape.c, "scale and shift per channel"));
    int vec = x->shape.c % 4 == 0 && ctvk__vec4_ok(x) && ctvk__vec4_ok(aff);
    int32_t spec[5] = {CTVK_OPS_LOCAL, 0, relu != 0, vec, 1};
    apply_push pc = {(uint32_t)y->count, (uint32_t)x->shape.c, 0.0f};
    const ctvk_tensor *bind[6] = {x, NULL, NULL, aff, NULL, y};
    return ctvk__ops_dispatch4(ctx, "bn_apply", vec ? "qvvvvw" : "tuuuuw", &pc, sizeof pc, spec, 5, bind, y->count);
}

typedef struct { uint32_t R, C, chunk, P; float eps, momentum; } final_push;

/* Batch statistics read the whole batch through one binding: a texel buffer or a storage buffer. */
static ctvk_status batch_fits(ctvk_ctx *ctx, const char *k, const ctvk_tensor *x)
{
    const VkPhysicalDeviceLimits *L = &ctx->props.limits;
    if (x->count > L->maxTexelBufferElements && x->bytes > L->maxStorageBufferRange)
        return ctvk__fail(CTVK_ERR_UNSUPPORTED, "%s: '%s' is %.1f MiB, more than one binding may span on %s (%u "
                          "texel-buffer elements, %.0f MiB of storage buffer; batch statistics read the whole batch); "
                          "use a smaller batch, [train] micro_batch or a smaller input size", k, x->name,
                          (double)x->bytes / 1048576.0, ctx->info.name, L->maxTexelBufferElements,
                          (double)L->maxStorageBufferRange / 1048576.0);
    return CTVK_OK;
}

/* Pass 1 of the statistics: the chunks' (mean, M2) into the workspace. */
static ctvk_status stats_chunks(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *work, bn_geom g)
{
    uint32_t local = ctvk__ops_local(ctx);
    int32_t spec[1] = {(int32_t)local};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "bn_stats", "tw", sizeof g, spec, 1, &p));
    const ctvk_tensor *b[2] = {x, work};
    return ctvk__dispatch(ctx, p, b, &g, (g.C + local - 1) / local, g.P, 1);
}

/* Pass 2: the chunks merged into saved (mean, invstd) and the moving statistics. */
static ctvk_status stats_final(ctvk_ctx *ctx, ctvk_tensor *work, bn_geom g, float eps, float momentum,
                               ctvk_tensor *saved, ctvk_tensor *moving_mean, ctvk_tensor *moving_var)
{
    uint32_t local = ctvk__ops_local(ctx);
    int32_t spec[1] = {(int32_t)local};
    ctvk_pipeline *p;
    final_push fp = {g.R, g.C, g.chunk, g.P, eps, momentum};
    CTVK_TRY(ctvk__pipeline_get(ctx, "bn_stats_final", "twbb", sizeof fp, spec, 1, &p));
    const ctvk_tensor *b[4] = {work, saved, moving_mean, moving_var};
    return ctvk__dispatch(ctx, p, b, &fp, (g.C + local - 1) / local, 1, 1);
}

ctvk_status ctvk_bn_train_stats(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *moving_mean,
                                ctvk_tensor *moving_var, float eps, float momentum, ctvk_tensor *saved,
                                ctvk_tensor *work)
{
    const char *k = "bn_forward_train";
    const ctvk_tensor *t[] = {x, moving_mean, moving_var, saved, work};
    CTVK_TRY(ctvk__ops_f32(k, t, 5));
    CTVK_TRY(bn_check(k, x, t + 1, 2));
    CTVK_TRY(ctvk__ops_count(k, saved, 2 * (size_t)x->shape.c, "mean and invstd per channel"));
    CTVK_TRY(work_check(k, x, work));
    CTVK_TRY(batch_fits(ctx, k, x));
    if (!(eps > 0)) return ctvk__fail(CTVK_ERR_ARG, "%s: eps %g must be positive", k, eps);
    bn_geom g = geom(x->shape);
    CTVK_TRY(stats_chunks(ctx, x, work, g));
    return stats_final(ctx, work, g, eps, momentum, saved, moving_mean, moving_var);
}

/* ---------------------------------------------------------------- synchronised statistics */
static ctvk_status work_head(ctvk_tensor *work, size_t first, size_t count, ctvk_tensor **view)
{
    return ctvk_tensor_view(work, first, (ctvk_shape){1, 1, 1, (int)count}, "bn sync", view);
}

ctvk_status ctvk_bn_local_moments(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *work, double *moments)
{
    const char *k = "bn_forward_train";
    const ctvk_tensor *t[] = {x, work};
    CTVK_TRY(ctvk__ops_f32(k, t, 2));
    CTVK_TRY(bn_check(k, x, NULL, 0));
    CTVK_TRY(work_check(k, x, work));
    CTVK_TRY(batch_fits(ctx, k, x));
    bn_geom g = geom(x->shape);
    CTVK_TRY(stats_chunks(ctx, x, work, g));
    size_t C = g.C, n = 2 * C * g.P;
    float *part = malloc(n * sizeof *part);
    if (!part) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    ctvk_tensor *v = NULL;
    ctvk_status s = work_head(work, 0, n, &v);
    if (!s) s = ctvk_tensor_download(v, part, n * sizeof *part);
    ctvk_tensor_destroy(v);
    /* the chunks' (mean, M2) merged in double: mean, then M2 with the between-chunk squares */
    for (size_t c = 0; !s && c < C; c++) {
        double sum = 0, m2 = 0;
        for (uint32_t q = 0; q < g.P; q++) sum += (double)(q + 1 < g.P ? g.chunk : g.R - q * g.chunk) * part[q * 2 * C + c];
        double mean = sum / g.R;
        for (uint32_t q = 0; q < g.P; q++) {
            double d = part[q * 2 * C + c] - mean;
            m2 += part[q * 2 * C + C + c] + (double)(q + 1 < g.P ? g.chunk : g.R - q * g.chunk) * d * d;
        }
        moments[c] = g.R;
        moments[C + c] = mean;
        moments[2 * C + c] = m2;
    }
    free(part);
    return s;
}

void ctvk_bn_merge_sums(const double *moments, int C, double *sums)
{
    for (int c = 0; c < C; c++) {
        double n = moments[c], mean = moments[C + c];
        sums[c] = n;
        sums[C + c] = n * mean;
    }
}

void ctvk_bn_merge_squares(const double *moments, int C, const double *global_mean, double *squares)
{
    for (int c = 0; c < C; c++) {
        double d = moments[C + c] - global_mean[c];
        squares[c] = moments[2 * C + c] + moments[c] * d * d;
    }
}

ctvk_status ctvk_bn_set_moments(ctvk_ctx *ctx, int C, double rows, const double *mean, const double *m2,
                                ctvk_tensor *moving_mean, ctvk_tensor *moving_var, float eps, float momentum,
                                ctvk_tensor *saved, ctvk_tensor *work)
{
    const char *k = "bn_forward_train";
    const ctvk_tensor *t[] = {moving_mean, moving_var, saved, work};
    CTVK_TRY(ctvk__ops_f32(k, t, 4));
    CTVK_TRY(ctvk__ops_count(k, moving_mean, (size_t)C, "one per channel"));
    CTVK_TRY(ctvk__ops_count(k, moving_var, (size_t)C, "one per channel"));
    CTVK_TRY(ctvk__ops_count(k, saved, 2 * (size_t)C, "mean and invstd per channel"));
    if (!(rows >= 1 && rows < 4294967296.0) || work->count < 2 * (size_t)C)
        return ctvk__fail(CTVK_ERR_ARG, "%s: %g rows or a workspace of %zu floats for %d channels", k, rows,
                          work->count, C);
    if (!(eps > 0)) return ctvk__fail(CTVK_ERR_ARG, "%s: eps %g must be positive", k, eps);
    float *h = malloc(2 * (size_t)C * sizeof *h);
    if (!h) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int c = 0; c < C; c++) {
        h[c] = (float)mean[c];
        h[C + c] = (float)m2[c];
    }
    ctvk_tensor *v = NULL;
    ctvk_status s = work_head(work, 0, 2 * (size_t)C, &v);
    if (!s) s = ctvk_tensor_upload(v, h, 2 * (size_t)C * sizeof *h);
    ctvk_tensor_destroy(v);
    free(h);
    CTVK_TRY(s);
    /* the merged moments are one chunk of all the rows: bn_stats_final finishes as usual */
    uint32_t R = (uint32_t)rows;
    return stats_final(ctx, work, (bn_geom){R, (uint32_t)C, R, 1}, eps, momentum, saved, moving_mean, moving_var);
}

/* A view of the workspace's merged backward sums {sum g[C], sum g xhat[C]} for a batch of shape x. */
static ctvk_status grad_sums_view(ctvk_tensor *work, ctvk_shape x, ctvk_tensor **v, size_t *n)
{
    bn_geom g = geom(x);
    size_t C = g.C;
    *v = NULL;
    *n = 2 * C;
    if (work->count < ctvk_bn_workspace_count(x)) return ctvk__fail(CTVK_ERR_ARG, "bn_backward: workspace '%s' too small", work->name);
    return work_head(work, 0, 2 * C, v);
}

ctvk_status ctvk_bn_grad_sums_get(ctvk_tensor *work, ctvk_shape x, double *sums)
{
    ctvk_tensor *v;
    size_t n;
    CTVK_TRY(grad_sums_view(work, x, &v, &n));
    float *h = malloc(n * sizeof *h);
    ctvk_status s = h ? ctvk_tensor_download(v, h, n * sizeof *h) : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (size_t c = 0; !s && c < n; c++) sums[c] = h[c];
    ctvk_tensor_destroy(v);
    free(h);
    return s;
}

ctvk_status ctvk_bn_grad_sums_set(ctvk_tensor *work, ctvk_shape x, const double *sums)
{
    ctvk_tensor *v;
    size_t n;
    CTVK_TRY(grad_sums_view(work, x, &v, &n));
    float *h = malloc(n * sizeof *h);
    for (size_t c = 0; h && c < n; c++) h[c] = (float)sums[c];
    ctvk_status s = h ? ctvk_tensor_upload(v, h, n * sizeof *h) : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    ctvk_tensor_destroy(v);
    free(h);
    return s;
}

ctvk_status ctvk_bn_train_apply(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                const ctvk_tensor *beta, const ctvk_tensor *saved, int relu, ctvk_tensor *y)
{
    const char *k = "bn_forward_train";
    const ctvk_tensor *t[] = {x, gamma, beta, saved, y};
    CTVK_TRY(ctvk__ops_f32(k, t, 5));
    CTVK_TRY(ctvk__ops_same_shape(k, x, y));
    CTVK_TRY(bn_check(k, x, t + 1, 2));
    CTVK_TRY(ctvk__ops_count(k, saved, 2 * (size_t)x->shape.c, "mean and invstd per channel"));
    return bn_apply(ctx, 1, relu, x, gamma, beta, saved, saved, 0.0f, y);
}

ctvk_status ctvk_bn_forward_train(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                  const ctvk_tensor *beta, ctvk_tensor *moving_mean, ctvk_tensor *moving_var,
                                  float eps, float momentum, int relu, ctvk_tensor *y, ctvk_tensor *saved,
                                  ctvk_tensor *work)
{
    CTVK_TRY(ctvk__ops_same_shape("bn_forward_train", x, y));
    CTVK_TRY(ctvk_bn_train_stats(ctx, x, moving_mean, moving_var, eps, momentum, saved, work));
    return ctvk_bn_train_apply(ctx, x, gamma, beta, saved, relu, y);
}

ctvk_status ctvk_bn_forward_infer(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                  const ctvk_tensor *beta, const ctvk_tensor *moving_mean,
                                  const ctvk_tensor *moving_var, float eps, int relu, ctvk_tensor *y)
{
    const char *k = "bn_forward_infer";
    const ctvk_tensor *t[] = {x, gamma, beta, moving_mean, moving_var, y};
    CTVK_TRY(ctvk__ops_f32(k, t, 6));
    CTVK_TRY(ctvk__ops_same_shape(k, x, y));
    CTVK_TRY(bn_check(k, x, t + 1, 4));
    return bn_apply(ctx, 0, relu, x, gamma, beta, moving_mean, moving_var, eps, y);
}

typedef struct { uint32_t n, C; float invR; } dx_push;

ctvk_status ctvk_bn_backward_sums(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *saved,
                                  const ctvk_tensor *relu_out, const ctvk_tensor *g, ctvk_tensor *dgamma,
                                  ctvk_tensor *dbeta, int accumulate_params, ctvk_tensor *work)
{
    const char *k = "bn_backward";
    const ctvk_tensor *t[] = {x, saved, relu_out, g, dgamma, dbeta, work};
    CTVK_TRY(ctvk__ops_f32(k, t, 7));
    CTVK_TRY(ctvk__ops_same_shape(k, x, g));
    if (relu_out) CTVK_TRY(ctvk__ops_same_shape(k, x, relu_out));
    const ctvk_tensor *pc_t[] = {dgamma, dbeta};
    CTVK_TRY(bn_check(k, x, pc_t, 2));
    CTVK_TRY(ctvk__ops_count(k, saved, 2 * (size_t)x->shape.c, "mean and invstd per channel"));
    CTVK_TRY(work_check(k, x, work));
    CTVK_TRY(batch_fits(ctx, k, x));
    bn_geom geo = geom(x->shape);
    uint32_t local = ctvk__ops_local(ctx);
    int relu = relu_out != NULL;
    const ctvk_tensor *mask = relu ? relu_out : g;
    ctvk_pipeline *p;

    int32_t s1[2] = {(int32_t)local, relu};
    CTVK_TRY(ctvk__pipeline_get(ctx, "bn_grad", "tttuw", sizeof geo, s1, 2, &p));
    const ctvk_tensor *b1[5] = {x, g, mask, saved, work};
    CTVK_TRY(ctvk__dispatch(ctx, p, b1, &geo, (geo.C + local - 1) / local, geo.P, 1));

    int32_t s2[2] = {(int32_t)local, accumulate_params != 0};
    char sig2[4] = {'b', accumulate_params ? 'b' : 'w', accumulate_params ? 'b' : 'w', 0};
    CTVK_TRY(ctvk__pipeline_get(ctx, "bn_grad_final", sig2, sizeof geo, s2, 2, &p));
    const ctvk_tensor *b2[3] = {work, dgamma, dbeta};
    return ctvk__dispatch(ctx, p, b2, &geo, (geo.C + local - 1) / local, 1, 1);
}

ctvk_status ctvk_bn_backward_dx(ctvk_ctx *ctx, ctvk_shape whole, const ctvk_tensor *x, const ctvk_tensor *gamma,
                                const ctvk_tensor *saved, const ctvk_tensor *relu_out, const ctvk_tensor *g,
                                ctvk_tensor *dx, int accumulate_dx, const ctvk_tensor *work)
{
    return ctvk_bn_backward_dx_rows(ctx, whole, 0, x, gamma, saved, relu_out, g, dx, accumulate_dx, work);
}

ctvk_status ctvk_bn_backward_dx_rows(ctvk_ctx *ctx, ctvk_shape whole, double rows, const ctvk_tensor *x,
                                     const ctvk_tensor *gamma, const ctvk_tensor *saved, const ctvk_tensor *relu_out,
                                     const ctvk_tensor *g, ctvk_tensor *dx, int accumulate_dx, const ctvk_tensor *work)
{
    const char *k = "bn_backward";
    const ctvk_tensor *t[] = {x, gamma, saved, relu_out, g, dx, work};
    CTVK_TRY(ctvk__ops_f32(k, t, 7));
    CTVK_TRY(ctvk__ops_same_shape(k, x, g));
    CTVK_TRY(ctvk__ops_same_shape(k, x, dx));
    if (relu_out) CTVK_TRY(ctvk__ops_same_shape(k, x, relu_out));
    const ctvk_tensor *pc_t[] = {gamma};
    CTVK_TRY(bn_check(k, x, pc_t, 1));
    CTVK_TRY(ctvk__ops_count(k, saved, 2 * (size_t)x->shape.c, "mean and invstd per channel"));
    if (whole.c != x->shape.c || whole.h != x->shape.h || whole.w != x->shape.w || whole.n < x->shape.n)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' is not a batch slice of {%d,%d,%d,%d}", k, x->name, whole.n,
                          whole.h, whole.w, whole.c);
    size_t need = ctvk_bn_workspace_count(whole);
    if (work->count < need)
        return ctvk__fail(CTVK_ERR_ARG, "%s: workspace '%s' has %zu floats, needs ctvk_bn_workspace_count = %zu", k,
                          work->name, work->count, need);
    bn_geom geo = geom(whole);
    int relu = relu_out != NULL;
    const ctvk_tensor *mask = relu ? relu_out : g;
    /* 4 channels per invocation through vec4 texel views */
    int vec = x->shape.c % 4 == 0 && ctvk__vec4_ok(x) && ctvk__vec4_ok(g) && ctvk__vec4_ok(mask) &&
              ctvk__vec4_ok(saved) && ctvk__vec4_ok(gamma) && ctvk__vec4_ok(work);
    int32_t s3[4] = {CTVK_OPS_LOCAL, relu, accumulate_dx != 0, vec};
    dx_push dp = {(uint32_t)dx->count, geo.C, (float)(1.0 / (rows > 0 ? rows : geo.R))};
    const ctvk_tensor *b3[7] = {x, g, mask, saved, gamma, work, dx};
    /* the workspace's head alone ("h", "H"): the merged sums */
    const char *sig = vec ? (accumulate_dx ? "qqqvvHb" : "qqqvvHw") : (accumulate_dx ? "tttuuhb" : "tttuuhw");
    return ctvk__ops_dispatch4(ctx, "bn_dx", sig, &dp, sizeof dp, s3, 4, b3, dx->count);
}

ctvk_status ctvk_bn_backward(ctvk_ctx *ctx, const ctvk_tensor *x, const ctvk_tensor *gamma,
                             const ctvk_tensor *saved, const ctvk_tensor *relu_out, const ctvk_tensor *g,
                             ctvk_tensor *dx, int accumulate_dx, ctvk_tensor *dgamma, ctvk_tensor *dbeta,
                             int accumulate_params, ctvk_tensor *work)
{
    CTVK_TRY(ctvk__ops_same_shape("bn_backward", x, dx));
    CTVK_TRY(ctvk__ops_f32("bn_backward", &gamma, 1));
    CTVK_TRY(bn_check("bn_backward", x, &gamma, 1));
    CTVK_TRY(ctvk_bn_backward_sums(ctx, x, saved, relu_out, g, dgamma, dbeta, accumulate_params, work));
    return ctvk_bn_backward_dx(ctx, x->shape, x, gamma, saved, relu_out, g, dx, accumulate_dx, work);
}

ctvk_status ctvk_bn_fold(ctvk_ctx *ctx, const ctvk_tensor *w, const ctvk_tensor *b, const ctvk_tensor *gamma,
                         const ctvk_tensor *beta, const ctvk_tensor *mean, const ctvk_tensor *var, float eps,
                         ctvk_tensor *wf, ctvk_tensor *bf)
{
    const char *k = "bn_fold";
    const ctvk_tensor *t[] = {w, b, gamma, beta, mean, var, wf, bf};
    CTVK_TRY(ctvk__ops_f32(k, t, 8));
    size_t C = bf->count;
    const ctvk_tensor *pc_t[] = {gamma, beta, mean, var};
    for (int i = 0; i < 4; i++) CTVK_TRY(ctvk__ops_count(k, pc_t[i], C, "one per output channel"));
    if (b) CTVK_TRY(ctvk__ops_count(k, b, C, "one per output channel"));
    CTVK_TRY(ctvk__need_same_count(k, w, wf));
    if (C == 0 || w->count % C) return ctvk__fail(CTVK_ERR_ARG, "%s: %zu weights are not whole HWIO filters of %zu "
                                                  "output channels", k, w->count, C);
    if (!(eps > 0)) return ctvk__fail(CTVK_ERR_ARG, "%s: eps %g must be positive", k, eps);
    apply_push pc = {(uint32_t)w->count, (uint32_t)C, eps};
    int32_t spec[3] = {CTVK_OPS_LOCAL, 0, 1};
    const ctvk_tensor *b1[6] = {w, gamma, beta, mean, var, wf};
    CTVK_TRY(ctvk__ops_dispatch4(ctx, "bn_fold", "tuuuuw", &pc, sizeof pc, spec, 3, b1, w->count));
    pc.n = (uint32_t)C;
    spec[1] = 1;
    spec[2] = b != NULL;
    const ctvk_tensor *b2[6] = {b ? b : gamma, gamma, beta, mean, var, bf};
    return ctvk__ops_dispatch4(ctx, "bn_fold", "tuuuuw", &pc, sizeof pc, spec, 3, b2, C);
}

ctvk_status ctvk_bn_affine(ctvk_ctx *ctx, const ctvk_tensor *gamma, const ctvk_tensor *beta, const ctvk_tensor *mean,
                           const ctvk_tensor *var, float eps, ctvk_tensor *out)
{
    const char *k = "bn_affine";
    const ctvk_tensor *t[] = {gamma, beta, mean, var, out};
    CTVK_TRY(ctvk__ops_f32(k, t, 5));
    size_t C = gamma->count;
    const ctvk_tensor *pc_t[] = {beta, mean, var};
    for (int i = 0; i < 3; i++) CTVK_TRY(ctvk__ops_count(k, pc_t[i], C, "one per channel"));
    CTVK_TRY(ctvk__ops_count(k, out, 2 * C, "scale and shift per channel"));
    if (!(eps > 0)) return ctvk__fail(CTVK_ERR_ARG, "%s: eps %g must be positive", k, eps);
    apply_push pc = {(uint32_t)(2 * C), (uint32_t)C, eps};
    int32_t spec[4] = {CTVK_OPS_LOCAL, 0, 0, 1};
    const ctvk_tensor *b[6] = {gamma, gamma, beta, mean, var, out};
    return ctvk__ops_dispatch4(ctx, "bn_fold", "tuuuuw", &pc, sizeof pc, spec, 4, b, 2 * C);
}

void ctvk_ref_bn_affine(const double *gamma, const double *beta, const double *mean, const double *var, double eps,
                        int C, double *out)
{
    for (int c = 0; c < C; c++) {
        double s = gamma[c] / sqrt(var[c] + eps);
        out[c] = s;
        out[C + c] = beta[c] - mean[c] * s;
    }
}

void ctvk_ref_bn_fold(const double *w, size_t count, const double *b, const double *gamma, const double *beta,
                      const double *mean, const double *var, double eps, int C, double *wf, double *bf)
{
    for (size_t i = 0; i < count; i++) {
        int c = (int)(i % (size_t)C);
        wf[i] = w[i] * gamma[c] / sqrt(var[c] + eps);
    }
    for (int c = 0; c < C; c++) bf[c] = ((b ? b[c] : 0) - mean[c]) * gamma[c] / sqrt(var[c] + eps) + beta[c];
}

/* ------------------------------------------------------------------ references (double) */
void ctvk_ref_bn_forward_train(const double *x, ctvk_shape s, const double *gamma, const double *beta,
                               double *moving_mean, double *moving_var, double eps, double momentum, int relu,
                               double *y, double *saved)
{
    size_t R = (size_t)s.n * s.h * s.w;
    int C = s.c;
    for (int c = 0; c < C; c++) {
        double sum = 0, m2 = 0;
        for (size_t r = 0; r < R; r++) sum += x[r * C + c];
        double mean = sum / (double)R;
        for (size_t r = 0; r < R; r++) m2 += (x[r * C + c] - mean) * (x[r * C + c] - mean);
        double var = m2 / (double)R, uvar = m2 / (double)(R > 1 ? R - 1 : 1);
        double inv = 1.0 / sqrt(var + eps);
        saved[c] = mean;
        saved[C + c] = inv;
        moving_mean[c] -= (moving_mean[c] - mean) * (1.0 - momentum);
        moving_var[c] -= (moving_var[c] - uvar) * (1.0 - momentum);
        for (size_t r = 0; r < R; r++) {
            double v = (x[r * C + c] - mean) * inv * gamma[c] + beta[c];
            y[r * C + c] = relu && !(v > 0) ? 0 : v;
        }
    }
}

void ctvk_ref_bn_forward_infer(const double *x, ctvk_shape s, const double *gamma, const double *beta,
                               const double *moving_mean, const double *moving_var, double eps, int relu,
                               double *y)
{
    size_t R = (size_t)s.n * s.h * s.w;
    int C = s.c;
    for (size_t r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            double v = (x[r * C + c] - moving_mean[c]) / sqrt(moving_var[c] + eps) * gamma[c] + beta[c];
            y[r * C + c] = relu && !(v > 0) ? 0 : v;
        }
}

void ctvk_ref_bn_backward(const double *x, ctvk_shape s, const double *gamma, const double *saved,
                          const double *relu_out, const double *g, double *dx, int accumulate_dx,
                          double *dgamma, double *dbeta, int accumulate_params)
{
    size_t R = (size_t)s.n * s.h * s.w;
    int C = s.c;
    for (int c = 0; c < C; c++) {
        double mean = saved[c], inv = saved[C + c], s1 = 0, s2 = 0;
        for (size_t r = 0; r < R; r++) {
            size_t i = r * C + c;
            double gv = relu_out && !(relu_out[i] > 0) ? 0 : g[i];
            s1 += gv;
            s2 += gv * (x[i] - mean) * inv;
        }
        dgamma[c] = accumulate_params ? dgamma[c] + s2 : s2;
        dbeta[c] = accumulate_params ? dbeta[c] + s1 : s1;
        for (size_t r = 0; r < R; r++) {
            size_t i = r * C + c;
            double gv = relu_out && !(relu_out[i] > 0) ? 0 : g[i];
            double v = gamma[c] * inv * (gv - s1 / (double)R - (x[i] - mean) * inv * s2 / (double)R);
            dx[i] = accumulate_dx ? dx[i] + v : v;
        }
    }
}
