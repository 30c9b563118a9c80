/* ReLU, residual add (+ ReLU), their backward passes, zero padding / cropping (shaders/act.comp,
 * act_split.comp, pad.comp) and the helpers shared by the ops launchers; plain-C references. */
#include "net/ops.h"
#include "net/launch.h"

/* ------------------------------------------------------------------ helpers */
ctvk_status ctvk__ops_f32(const char *kernel, const ctvk_tensor *const *ts, int n)
{
    for (int i = 0; i < n; i++)
        if (ts[i]) CTVK_TRY(ctvk__need_dtype(kernel, ts[i], CTVK_F32));
    return CTVK_OK;
}

ctvk_status ctvk__ops_same_shape(const char *kernel, const ctvk_tensor *a, const ctvk_tensor *b)
{
    ctvk_shape x = a->shape, y = b->shape;
    if (x.n != y.n || x.h != y.h || x.w != y.w || x.c != y.c)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensors '%s' {%d,%d,%d,%d} and '%s' {%d,%d,%d,%d} differ in shape", kernel,
                          a->name, x.n, x.h, x.w, x.c, b->name, y.n, y.h, y.w, y.c);
    return CTVK_OK;
}

ctvk_status ctvk__ops_count(const char *kernel, const ctvk_tensor *t, size_t count, const char *what)
{
    if (t->count != count)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensor '%s' has %zu elements, expected %zu (%s)", kernel, t->name, t->count,
                          count, what);
    return CTVK_OK;
}

ctvk_status ctvk__ops_dispatch4(ctvk_ctx *ctx, const char *name, const char *sig, const void *push, uint32_t push_size,
                                const int32_t *spec, int nspec, const ctvk_tensor *const *b, uint64_t items)
{
    if (items > UINT32_MAX / 2) return ctvk__fail(CTVK_ERR_ARG, "%s: %llu elements are too many", name,
                                                  (unsigned long long)items);
    if (items == 0) return CTVK_OK;
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, name, sig, push_size, spec, nspec, &p));
    uint32_t gx, gy;
    ctvk__grid_1d((items + 3) / 4, CTVK_OPS_LOCAL, &gx, &gy);
    return ctvk__dispatch(ctx, p, b, push, gx, gy, 1);
}

uint32_t ctvk__ops_local(const ctvk_ctx *ctx)
{
    return ctvk_kernel_variant(ctx) == CTVK_VARIANT_CPU ? 8 : 64;
}

/* ------------------------------------------------------------------ relu / add */
enum { ACT_RELU = 0, ACT_ADD = 1, ACT_RELU_BWD = 2, ACT_ADD_RELU = 3 };
typedef struct { uint32_t n; } act_push;

static ctvk_status act(ctvk_ctx *ctx, int op, const ctvk_tensor *a, const ctvk_tensor *b, ctvk_tensor *y, int acc)
{
    int vec = ctvk__vec4_ok(a) && ctvk__vec4_ok(b) && y->count % 4 == 0;   /* 4-component texel views of a, b */
    int32_t spec[4] = {op, CTVK_OPS_LOCAL, acc != 0, vec};
    act_push pc = {(uint32_t)y->count};
    const ctvk_tensor *bind[3] = {a, b, y};
    return ctvk__ops_dispatch4(ctx, "act", vec ? (acc ? "qqb" : "qqw") : (acc ? "ttb" : "ttw"), &pc, sizeof pc, spec,
                               4, bind, y->count);
}

ctvk_status ctvk_relu(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y)
{
    const ctvk_tensor *t[] = {x, y};
    CTVK_TRY(ctvk__ops_f32("relu", t, 2));
    CTVK_TRY(ctvk__need_same_count("relu", x, y));
    return act(ctx, ACT_RELU, x, x, y, 0);
}

ctvk_status ctvk_relu_backward(ctvk_ctx *ctx, const ctvk_tensor *g, const ctvk_tensor *mask, ctvk_tensor *dx,
                               int accumulate)
{
    const ctvk_tensor *t[] = {g, mask, dx};
    CTVK_TRY(ctvk__ops_f32("relu_backward", t, 3));
    CTVK_TRY(ctvk__need_same_count("relu_backward", g, mask));
    CTVK_TRY(ctvk__need_same_count("relu_backward", g, dx));
    return act(ctx, ACT_RELU_BWD, g, mask, dx, accumulate);
}

ctvk_status ctvk_add(ctvk_ctx *ctx, const ctvk_tensor *a, const ctvk_tensor *b, ctvk_tensor *y, int relu)
{
    const ctvk_tensor *t[] = {a, b, y};
    CTVK_TRY(ctvk__ops_f32("add", t, 3));
    CTVK_TRY(ctvk__need_same_count("add", a, b));
    CTVK_TRY(ctvk__need_same_count("add", a, y));
    return act(ctx, relu ? ACT_ADD_RELU : ACT_ADD, a, b, y, 0);
}

ctvk_status ctvk_add_backward(ctvk_ctx *ctx, const ctvk_tensor *g, const ctvk_tensor *mask, ctvk_tensor *da,
                              int accumulate_a, ctvk_tensor *db, int accumulate_b)
{
    const ctvk_tensor *t[] = {g, mask, da, db};
    CTVK_TRY(ctvk__ops_f32("add_backward", t, 4));
    CTVK_TRY(ctvk__need_same_count("add_backward", g, da));
    CTVK_TRY(ctvk__need_same_count("add_backward", g, db));
    if (mask) CTVK_TRY(ctvk__need_same_count("add_backward", g, mask));
    if (da == db) return ctvk__fail(CTVK_ERR_ARG, "add_backward: da and db are the same tensor '%s'", da->name);
    int32_t spec[4] = {CTVK_OPS_LOCAL, mask != NULL, accumulate_a != 0, accumulate_b != 0};
    char sig[5] = {'t', 't', accumulate_a ? 'b' : 'w', accumulate_b ? 'b' : 'w', 0};
    act_push pc = {(uint32_t)g->count};
    const ctvk_tensor *bind[4] = {g, mask ? mask : g, da, db};
    return ctvk__ops_dispatch4(ctx, "act_split", sig, &pc, sizeof pc, spec, 4, bind, g->count);
}

void ctvk_ref_relu(const double *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void ctvk_ref_relu_backward(const double *g, const double *mask, double *dx, size_t n, int accumulate)
{
    for (size_t i = 0; i < n; i++) {
        double v = mask[i] > 0 ? g[i] : 0;
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

void ctvk_ref_add(const double *a, const double *b, double *y, size_t n, int relu)
{
    for (size_t i = 0; i < n; i++) {
        double v = a[i] + b[i];
        y[i] = relu && !(v > 0) ? 0 : v;
    }
}

void ctvk_ref_add_backward(const double *g, const double *mask, double *da, int accumulate_a, double *db,
                           int accumulate_b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = mask && !(mask[i] > 0) ? 0 : g[i];
        da[i] = accumulate_a ? da[i] + v : v;
        db[i] = accumulate_b ? db[i] + v : v;
    }
}

/* ------------------------------------------------------------------ zero padding */
typedef struct { uint32_t n, H, W, C, OH, OW; int32_t top, left; } pad_push;

static ctvk_status pad_any(ctvk_ctx *ctx, const char *kernel, const ctvk_tensor *x, ctvk_tensor *y, int top, int left,
                           int acc)
{
    int32_t spec[2] = {CTVK_OPS_LOCAL, acc != 0};
    pad_push pc = {(uint32_t)y->count, (uint32_t)x->shape.h, (uint32_t)x->shape.w, (uint32_t)x->shape.c,
                   (uint32_t)y->shape.h, (uint32_t)y->shape.w, top, left};
    const ctvk_tensor *bind[2] = {x, y};
    (void)kernel;
    return ctvk__ops_dispatch4(ctx, "pad", acc ? "tb" : "tw", &pc, sizeof pc, spec, 2, bind, y->count);
}

static ctvk_status pad_check(const char *kernel, const ctvk_tensor *small, const ctvk_tensor *big, int top,
                             int bottom, int left, int right)
{
    const ctvk_tensor *t[] = {small, big};
    CTVK_TRY(ctvk__ops_f32(kernel, t, 2));
    ctvk_shape s = small->shape, b = big->shape;
    if (b.n != s.n || b.c != s.c || b.h != s.h + top + bottom || b.w != s.w + left + right)
        return ctvk__fail(CTVK_ERR_ARG, "%s: '%s' {%d,%d,%d,%d} padded by (%d,%d,%d,%d) is not '%s' {%d,%d,%d,%d}", kernel,
                          small->name, s.n, s.h, s.w, s.c, top, bottom, left, right, big->name, b.n, b.h, b.w, b.c);
    return CTVK_OK;
}

ctvk_status ctvk_pad(ctvk_ctx *ctx, const ctvk_tensor *x, ctvk_tensor *y, int top, int bottom, int left, int right)
{
    CTVK_TRY(pad_check("pad", x, y, top, bottom, left, right));
    return pad_any(ctx, "pad", x, y, top, left, 0);
}

ctvk_status ctvk_pad_backward(ctvk_ctx *ctx, const ctvk_tensor *g, ctvk_tensor *dx, int top, int bottom, int left,
                              int right, int accumulate)
{
    CTVK_TRY(pad_check("pad_backward", dx, g, top, bottom, left, right));
    return pad_any(ctx, "pad_backward", g, dx, -top, -left, accumulate);
}

void ctvk_ref_pad(const double *x, ctvk_shape xs, double *y, ctvk_shape ys, int top, int left, int accumulate)
{
    for (int n = 0; n < ys.n; n++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++)
                for (int c = 0; c < ys.c; c++) {
                    int ih = oh - top, iw = ow - left;
                    double v = ih >= 0 && iw >= 0 && ih < xs.h && iw < xs.w
                                   ? x[(((size_t)n * xs.h + ih) * xs.w + iw) * xs.c + c] : 0.0;
                    size_t o = (((size_t)n * ys.h + oh) * ys.w + ow) * ys.c + c;
                    y[o] = accumulate ? y[o] + v : v;
                }
}
