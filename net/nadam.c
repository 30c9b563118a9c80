/* Nadam with the legacy Keras schedule (shaders/nadam.comp): host-side schedule in double, the
 * fused elementwise update on the device, and a double-precision reference. */
#include "net/train_ops.h"
#include "net/launch.h"
#include <math.h>
#include <string.h>

#define LOCAL 64

void ctvk_nadam_config_default(ctvk_nadam_config *c)
{
    *c = (ctvk_nadam_config){.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-7, .schedule_decay = 0.004};
}

void ctvk_nadam_init(ctvk_nadam *o, const ctvk_nadam_config *cfg)
{
    if (cfg) o->cfg = *cfg;
    else ctvk_nadam_config_default(&o->cfg);
    o->st = (ctvk_nadam_state){.t = 0, .m_schedule = 1.0};
}

static double momentum_cache(const ctvk_nadam_config *c, double t)
{
    return c->beta1 * (1.0 - 0.5 * pow(0.96, t * c->schedule_decay));
}

void ctvk_nadam_next(const ctvk_nadam *o, ctvk_nadam_scalars *s, ctvk_nadam_state *after)
{
    const ctvk_nadam_config *c = &o->cfg;
    uint64_t t = o->st.t + 1;
    double u_t = momentum_cache(c, (double)t), u_next = momentum_cache(c, (double)(t + 1));
    double P_t = o->st.m_schedule * u_t;
    *s = (ctvk_nadam_scalars){
        .t = t, .lr = c->lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
        .c_m = u_next / (1.0 - P_t * u_next),
        .c_g = (1.0 - u_t) / (1.0 - P_t),
        .c_v = 1.0 / (1.0 - pow(c->beta2, (double)t)),
    };
    if (after) *after = (ctvk_nadam_state){.t = t, .m_schedule = P_t};
}

typedef struct {
    uint32_t n;
    float lr, b1, omb1, b2, omb2, c_m, c_g, c_v, eps;
} nadam_push;

ctvk_status ctvk_nadam_step(ctvk_ctx *ctx, ctvk_nadam *o, ctvk_flat *p, ctvk_flat *g, ctvk_flat *m, ctvk_flat *v)
{
    ctvk_flat *f[4] = {p, g, m, v};
    for (int i = 0; i < 4; i++) {
        if (!f[i]->chunk) return ctvk__fail(CTVK_ERR_ARG, "nadam: flat buffer %d not initialised", i);
        CTVK_TRY(ctvk__need_same_count("nadam", f[i]->t, p->t));
        if (f[i]->nchunks != p->nchunks)
            return ctvk__fail(CTVK_ERR_ARG, "nadam: '%s' and '%s' are cut into different chunks", f[i]->t->name,
                              p->t->name);
    }
    ctvk_nadam_scalars s;
    ctvk_nadam_state after;
    ctvk_nadam_next(o, &s, &after);
    if (!(isfinite(s.c_m) && isfinite(s.c_g) && isfinite(s.c_v)))
        return ctvk__fail(CTVK_ERR_ARG, "nadam: the schedule is not finite at step %llu (beta1 %g, beta2 %g)",
                          (unsigned long long)s.t, o->cfg.beta1, o->cfg.beta2);
    int32_t spec[1] = {LOCAL};
    ctvk_pipeline *pl;
    CTVK_TRY(ctvk__pipeline_get(ctx, "nadam", "tbbb", sizeof(nadam_push), spec, 1, &pl));
    for (int i = 0; i < p->nchunks; i++) {
        for (int k = 1; k < 4; k++) CTVK_TRY(ctvk__need_same_count("nadam", f[k]->chunk[i], p->chunk[i]));
        nadam_push pc = {
            .n = (uint32_t)p->chunk[i]->count, .lr = (float)s.lr, .b1 = (float)s.beta1,
            .omb1 = (float)(1.0 - s.beta1), .b2 = (float)s.beta2, .omb2 = (float)(1.0 - s.beta2),
            .c_m = (float)s.c_m, .c_g = (float)s.c_g, .c_v = (float)s.c_v, .eps = (float)s.eps,
        };
        uint32_t gx, gy;
        ctvk__grid_1d((pc.n + 3u) / 4u, LOCAL, &gx, &gy);
        const ctvk_tensor *b[4] = {g->chunk[i], p->chunk[i], m->chunk[i], v->chunk[i]};
        CTVK_TRY(ctvk__dispatch(ctx, pl, b, &pc, gx, gy, 1));
    }
    o->st = after;
    return CTVK_OK;
}

void ctvk_nadam_state_pack(const ctvk_nadam_state *s, unsigned char out[CTVK_NADAM_STATE_BYTES])
{
    uint64_t bits;
    memcpy(&bits, &s->m_schedule, sizeof bits);
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(s->t >> (8 * i));
        out[8 + i] = (unsigned char)(bits >> (8 * i));
    }
}

ctvk_status ctvk_nadam_state_unpack(const unsigned char in[CTVK_NADAM_STATE_BYTES], ctvk_nadam_state *s)
{
    uint64_t t = 0, bits = 0;
    for (int i = 0; i < 8; i++) {
        t |= (uint64_t)in[i] << (8 * i);
        bits |= (uint64_t)in[8 + i] << (8 * i);
    }
    double P;
    memcpy(&P, &bits, sizeof P);
    /* P_t is a product of factors in (0, 1) (it underflows to 0 after ~1000 steps): anything else
     * is a corrupt checkpoint */
    if (!(P >= 0.0 && P <= 1.0) || (t == 0 && P != 1.0))
        return ctvk__fail(CTVK_ERR_FORMAT, "optimizer state: P_t = %g at step %llu is impossible", P,
                          (unsigned long long)t);
    *s = (ctvk_nadam_state){.t = t, .m_schedule = P};
    return CTVK_OK;
}

void ctvk_ref_nadam(const ctvk_nadam_scalars *s, double *p, double *m, double *v, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double gi = g[i];
        m[i] = s->beta1 * m[i] + (1.0 - s->beta1) * gi;
        v[i] = s->beta2 * v[i] + (1.0 - s->beta2) * gi * gi;
        double m_hat = s->c_m * m[i] + s->c_g * gi, v_hat = s->c_v * v[i];
        p[i] -= s->lr * m_hat / (sqrt(v_hat) + s->eps);
    }
}
