/* Nadam (legacy Keras schedule): the published test vector, an independent Keras-form reference,
 * the fp32 kernel against the double reference on random gradients and awkward sizes, chunked
 * buffers, and checkpointing of the optimizer state. */
#include "tests/check.h"
#include "net/train_ops.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keras 2.3 Nadam.get_updates written out literally (momentum_cache_t, m_schedule_new, g_prime,
 * m_t_prime, v_t_prime, m_t_bar), one parameter, in double. */
typedef struct { double m_schedule, m, v, p; int t; } keras_nadam;
static double keras_step(keras_nadam *k, double g, double lr)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7, sd = 0.004;
    double t = ++k->t;
    double mc_t = b1 * (1. - 0.5 * pow(0.96, t * sd));
    double mc_t_1 = b1 * (1. - 0.5 * pow(0.96, (t + 1) * sd));
    double m_schedule_new = k->m_schedule * mc_t;
    double m_schedule_next = k->m_schedule * mc_t * mc_t_1;
    k->m_schedule = m_schedule_new;
    double g_prime = g / (1. - m_schedule_new);
    k->m = b1 * k->m + (1. - b1) * g;
    double m_t_prime = k->m / (1. - m_schedule_next);
    k->v = b2 * k->v + (1. - b2) * g * g;
    double v_t_prime = k->v / (1. - pow(b2, t));
    double m_t_bar = (1. - mc_t) * g_prime + mc_t_1 * m_t_prime;
    double step = lr * m_t_bar / (sqrt(v_t_prime) + eps);
    k->p -= step;
    return step;
}

static void test_vector(ctvk_ctx *ctx)
{
    /* docs/method.md: g = 1 every step, lr 1e-3, from p = 0 */
    static const double published[3] = {1.05645e-3, 7.83684e-4, 7.32217e-4};
    ctvk_nadam_config cfg;
    ctvk_nadam_config_default(&cfg);
    cfg.lr = 1e-3;
    ctvk_nadam o;
    ctvk_nadam_init(&o, &cfg);
    double p = 0, m = 0, v = 0, ref_step[3];
    const float one = 1.0f;
    keras_nadam k = {1.0, 0, 0, 0, 0};

    ctvk_shape s = {1, 1, 1, 1};
    float zero = 0.0f;
    ctvk_tensor *tp = check_tensor(ctx, s, &zero, "p"), *tg = check_tensor(ctx, s, &one, "g");
    ctvk_tensor *tm = check_tensor(ctx, s, &zero, "m"), *tv = check_tensor(ctx, s, &zero, "v");
    ctvk_flat fp, fg, fm, fv;
    CHECK(ctvk_flat_init(tp, 0, &fp) == CTVK_OK && ctvk_flat_init(tg, 0, &fg) == CTVK_OK &&
          ctvk_flat_init(tm, 0, &fm) == CTVK_OK && ctvk_flat_init(tv, 0, &fv) == CTVK_OK, "flat_init");
    ctvk_nadam dev;
    ctvk_nadam_init(&dev, &cfg);
    float p_prev = 0.0f;
    for (int t = 0; t < 3; t++) {
        ctvk_nadam_scalars sc;
        ctvk_nadam_state after;
        ctvk_nadam_next(&o, &sc, &after);
        o.st = after;
        double before = p;
        ctvk_ref_nadam(&sc, &p, &m, &v, &one, 1);
        ref_step[t] = before - p;
        double ks = keras_step(&k, 1.0, 1e-3);

        /* the published figures have 6 significant digits: the reference must round to them
         * (|ref - published| <= half a unit in the 6th digit) and lie within 1e-6 relative of
         * them where 6 digits resolve 1e-6 (steps 2 and 3; step 1's 1.05645e-3 is quantised
         * to 4.7e-6 relative by its own rounding: the exact value is 1.0564517e-3) */
        double unit = pow(10.0, floor(log10(published[t])) - 5);
        double rel_pub = fabs(ref_step[t] - published[t]) / published[t];
        double rel_keras = fabs(ref_step[t] - ks) / ks;
        printf("step %d: reference %.9e published %.5e (relative %.2e, %.2f of the last digit) Keras form %.2e\n",
               t + 1, ref_step[t], published[t], rel_pub, fabs(ref_step[t] - published[t]) / unit, rel_keras);
        CHECK(fabs(ref_step[t] - published[t]) <= 0.5 * unit, "step %d: reference %.9e does not round to %.5e",
              t + 1, ref_step[t], published[t]);
        if (t > 0) CHECK(rel_pub <= 1e-6, "step %d: reference off the published value by %.3g", t + 1, rel_pub);
        CHECK(rel_keras <= 1e-12, "step %d: reference and Keras form differ by %.3g", t + 1, rel_keras);

        /* the fp32 kernel: the step is the difference of two fp32 values of p, each rounded by at
         * most half an ulp (p_1, p_2 in [2^-10, 2^-9): 2^-34; p_3 in [2^-9, 2^-8): 2^-33), so the
         * step carries <= 1.75e-10 = 2.4e-7 of a 7.3e-4 step from storage, and the update takes
         * ~8 fp32 roundings (<= 8 x 6e-8 = 4.8e-7): at most 7.2e-7 in all, under 1e-6 */
        CHECK(ctvk_nadam_step(ctx, &dev, &fp, &fg, &fm, &fv) == CTVK_OK, "nadam_step: %s", ctvk_error());
        float pd;
        CHECK(ctvk_tensor_download(tp, &pd, sizeof pd) == CTVK_OK, "download");
        double dstep = (double)p_prev - (double)pd, rel = fabs(dstep - ref_step[t]) / ref_step[t];
        printf("        kernel %.9e relative to reference %.2e\n", dstep, rel);
        CHECK(rel <= 1e-6, "step %d: kernel step %.9e vs reference %.9e (%.3g)", t + 1, dstep, ref_step[t], rel);
        CHECK(fabs(dstep - published[t]) <= 0.5 * unit + 1e-6 * published[t], "step %d: kernel vs published",
              t + 1);
        p_prev = pd;
    }
    CHECK(dev.st.t == 3 && fabs(dev.st.m_schedule - o.st.m_schedule) == 0.0, "device optimizer state");
    ctvk_flat_release(&fp); ctvk_flat_release(&fg); ctvk_flat_release(&fm); ctvk_flat_release(&fv);
    ctvk_tensor_destroy(tp); ctvk_tensor_destroy(tg); ctvk_tensor_destroy(tm); ctvk_tensor_destroy(tv);
}

/* The Keras form over 200 steps of random gradients agrees with ctvk_ref_nadam to rounding. */
static void test_keras_form(void)
{
    ctvk_nadam_config cfg;
    ctvk_nadam_config_default(&cfg);
    cfg.lr = 1e-3;
    ctvk_nadam o;
    ctvk_nadam_init(&o, &cfg);
    keras_nadam k = {1.0, 0, 0, 0.5, 0};
    double p = 0.5, m = 0, v = 0, worst = 0;
    uint64_t rng = 77;
    for (int t = 0; t < 200; t++) {
        float g = check_rng_uniform(&rng, -2, 2);
        ctvk_nadam_scalars sc;
        ctvk_nadam_state after;
        ctvk_nadam_next(&o, &sc, &after);
        o.st = after;
        ctvk_ref_nadam(&sc, &p, &m, &v, &g, 1);
        keras_step(&k, g, 1e-3);
        double e = fabs(p - k.p);
        if (e > worst) worst = e;
    }
    printf("Keras form vs reference, 200 random steps: worst |dp| %.3g\n", worst);
    CHECK(worst <= 1e-13, "Keras form and reference drift apart: %g", worst);
}

typedef struct {
    ctvk_tensor *t[4];
    ctvk_flat f[4];
} bufs;

static void bufs_make(ctvk_ctx *ctx, bufs *b, int n, const float *p0, size_t max_chunk)
{
    static const char *names[4] = {"p", "g", "m", "v"};
    float *z = calloc((size_t)n, sizeof *z);
    for (int i = 0; i < 4; i++) {
        b->t[i] = check_tensor(ctx, (ctvk_shape){1, 1, 1, n}, i == 0 ? p0 : z, names[i]);
        CHECK(ctvk_flat_init(b->t[i], max_chunk, &b->f[i]) == CTVK_OK, "flat_init: %s", ctvk_error());
    }
    free(z);
}

static void bufs_free(bufs *b)
{
    for (int i = 0; i < 4; i++) {
        ctvk_flat_release(&b->f[i]);
        ctvk_tensor_destroy(b->t[i]);
    }
}

static void test_random(ctvk_ctx *ctx, int n)
{
    const int steps = 25;
    size_t un = (size_t)n;
    float *p0 = malloc(un * sizeof *p0), *g = malloc(un * sizeof *g);
    double *p = malloc(un * sizeof *p), *m = calloc(un, sizeof *m), *v = calloc(un, sizeof *v);
    check_fill_uniform(p0, un, 5 + un, -1, 1);
    for (size_t i = 0; i < un; i++) p[i] = p0[i];
    bufs b, c;
    bufs_make(ctx, &b, n, p0, 0);
    bufs_make(ctx, &c, n, p0, 4096);    /* the same, cut into chunks */
    ctvk_nadam_config cfg;
    ctvk_nadam_config_default(&cfg);
    cfg.lr = 1e-3;
    ctvk_nadam o, dev, devc;
    ctvk_nadam_init(&o, &cfg);
    dev = devc = o;
    ctvk_stats st0, st1;
    for (int t = 0; t < steps; t++) {
        /* gradients of mixed scale, some exactly zero (v = 0: the eps path) */
        check_fill_uniform(g, un, 1000u * (uint64_t)t + un, -1, 1);
        for (size_t i = 0; i < un; i++) g[i] *= (i % 5 == 0) ? 0.0f : (i % 5 == 1) ? 1e-3f : 1.0f;
        CHECK(ctvk_tensor_upload(b.t[1], g, un * sizeof *g) == CTVK_OK, "upload g");
        CHECK(ctvk_tensor_upload(c.t[1], g, un * sizeof *g) == CTVK_OK, "upload g");
        ctvk_nadam_scalars sc;
        ctvk_nadam_state after;
        ctvk_nadam_next(&o, &sc, &after);
        o.st = after;
        ctvk_ref_nadam(&sc, p, m, v, g, un);
        ctvk_get_stats(ctx, &st0);
        CHECK(ctvk_nadam_step(ctx, &dev, &b.f[0], &b.f[1], &b.f[2], &b.f[3]) == CTVK_OK, "step: %s", ctvk_error());
        ctvk_get_stats(ctx, &st1);
        CHECK(st1.dispatches - st0.dispatches == 1, "nadam over one buffer took %llu dispatches",
              (unsigned long long)(st1.dispatches - st0.dispatches));
        CHECK(ctvk_nadam_step(ctx, &devc, &c.f[0], &c.f[1], &c.f[2], &c.f[3]) == CTVK_OK, "step: %s", ctvk_error());
    }
    float *gp = check_download(b.t[0]), *gm = check_download(b.t[2]), *gv = check_download(b.t[3]);
    float *cp = check_download(c.t[0]);
    float *rp = malloc(un * sizeof *rp), *rm = malloc(un * sizeof *rm), *rv = malloc(un * sizeof *rv);
    double maxabs = 0, maxp = 0;
    for (size_t i = 0; i < un; i++) {
        rp[i] = (float)p[i]; rm[i] = (float)m[i]; rv[i] = (float)v[i];
        if (fabs(gp[i] - p[i]) > maxabs) maxabs = fabs(gp[i] - p[i]);
        if (fabs(p[i]) > maxp) maxp = fabs(p[i]);
    }
    double ep = check_rel_err(gp, rp, un, 1e-3), em = check_rel_err(gm, rm, un, 1e-30),
           ev = check_rel_err(gv, rv, un, 1e-30);
    /* p is stored in fp32 after every step: each step may round it by half an ulp of |p|, and the
     * step itself (~1e-3) carries ~1e-6 relative error; so |p - ref| <= steps x ulp(max|p|) */
    double bound = steps * ldexp(1.0, ilogb(maxp) - 23);
    printf("n=%-7d %d steps: p worst relative %.3g (|dp| %.3g, bound %.3g), m %.3g, v %.3g\n", n, steps, ep,
           maxabs, bound, em, ev);
    CHECK(maxabs <= bound, "n=%d: p off by %g (> %g)", n, maxabs, bound);
    CHECK(ep <= 1e-5 && em <= 1e-5 && ev <= 1e-5, "n=%d: p %g m %g v %g", n, ep, em, ev);
    int differ = memcmp(gp, cp, un * sizeof *gp) != 0;
    CHECK(!differ, "n=%d: chunked (%d chunks) and whole buffers differ", n, c.f[0].nchunks);
    CHECK(dev.st.t == (uint64_t)steps && devc.st.t == (uint64_t)steps, "optimizer step counts");
    free(gp); free(gm); free(gv); free(cp); free(rp); free(rm); free(rv);
    bufs_free(&b);
    bufs_free(&c);
    free(p0); free(g); free(p); free(m); free(v);
}

/* 4 steps, checkpoint (pack), restore into a fresh optimizer, 4 more == 8 uninterrupted. */
static void test_checkpoint(ctvk_ctx *ctx)
{
    const int n = 1003;
    float *p0 = malloc(n * sizeof *p0), *g = malloc(n * sizeof *g);
    check_fill_uniform(p0, n, 3, -1, 1);
    bufs a, b;
    bufs_make(ctx, &a, n, p0, 0);
    bufs_make(ctx, &b, n, p0, 0);
    ctvk_nadam oa, ob;
    ctvk_nadam_init(&oa, NULL);
    ctvk_nadam_init(&ob, NULL);
    CHECK(oa.cfg.lr == 1e-4 && oa.cfg.beta1 == 0.9 && oa.cfg.beta2 == 0.999 && oa.cfg.eps == 1e-7 &&
          oa.cfg.schedule_decay == 0.004 && oa.st.t == 0 && oa.st.m_schedule == 1.0, "defaults");
    for (int t = 0; t < 8; t++) {
        check_fill_uniform(g, n, 900 + (uint64_t)t, -1, 1);
        CHECK(ctvk_tensor_upload(a.t[1], g, n * sizeof *g) == CTVK_OK, "upload");
        CHECK(ctvk_tensor_upload(b.t[1], g, n * sizeof *g) == CTVK_OK, "upload");
        CHECK(ctvk_nadam_step(ctx, &oa, &a.f[0], &a.f[1], &a.f[2], &a.f[3]) == CTVK_OK, "step");
        CHECK(ctvk_nadam_step(ctx, &ob, &b.f[0], &b.f[1], &b.f[2], &b.f[3]) == CTVK_OK, "step");
        if (t == 3) {
            unsigned char bytes[CTVK_NADAM_STATE_BYTES];
            ctvk_nadam_state_pack(&ob.st, bytes);
            ctvk_nadam fresh;
            ctvk_nadam_init(&fresh, NULL);
            CHECK(ctvk_nadam_state_unpack(bytes, &fresh.st) == CTVK_OK, "unpack: %s", ctvk_error());
            CHECK(fresh.st.t == 4 && fresh.st.m_schedule == ob.st.m_schedule, "restored state differs");
            CHECK(bytes[0] == 4 && bytes[1] == 0, "state is little-endian");
            ob = fresh;
        }
    }
    float *pa = check_download(a.t[0]), *pb = check_download(b.t[0]);
    CHECK(memcmp(pa, pb, n * sizeof *pa) == 0, "resumed run differs from the uninterrupted one");
    /* P_8 = u_1 ... u_8 */
    double P = 1;
    for (int t = 1; t <= 8; t++) P *= 0.9 * (1 - 0.5 * pow(0.96, 0.004 * t));
    CHECK(fabs(oa.st.m_schedule - P) <= 1e-15 * P, "P_8 %.17g want %.17g", oa.st.m_schedule, P);
    /* a corrupt state is refused */
    ctvk_nadam_state bad = {.t = 5, .m_schedule = 1.5}, out;
    unsigned char bytes[CTVK_NADAM_STATE_BYTES];
    ctvk_nadam_state_pack(&bad, bytes);
    CHECK(ctvk_nadam_state_unpack(bytes, &out) == CTVK_ERR_FORMAT, "P_t = 1.5 accepted");
    /* a long run: P_t underflows to 0, which must still restore */
    ctvk_nadam longrun;
    ctvk_nadam_init(&longrun, NULL);
    for (int t = 0; t < 3000; t++) {
        ctvk_nadam_scalars sc;
        ctvk_nadam_next(&longrun, &sc, &longrun.st);
        CHECK(isfinite(sc.c_m) && isfinite(sc.c_g) && isfinite(sc.c_v), "scalars at step %d", t + 1);
    }
    ctvk_nadam_state_pack(&longrun.st, bytes);
    CHECK(ctvk_nadam_state_unpack(bytes, &out) == CTVK_OK && out.t == 3000, "state after 3000 steps");
    free(pa); free(pb); free(p0); free(g);
    bufs_free(&a);
    bufs_free(&b);
}

int main(void)
{
    test_keras_form();
    ctvk_ctx *ctx = check_ctx(NULL);
    test_vector(ctx);
    static const int sizes[] = {1, 3, 7, 31, 1000, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) test_random(ctx, sizes[i]);
    test_checkpoint(ctx);
    check_ctx_done(ctx);
    return check_done("test_nadam");
}
