/* Statistics of an evaluation (include/ctvk/stats.h): ROC, AUC, stratified patient bootstrap,
 * Wilson intervals, Brier score, reliability bins. */
#include "ctvk/stats.h"
#include "runtime/ct/ct_internal.h"   /* ctvk__rng (splitmix64), ctvk__fail */
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ sorting */
typedef struct keyed { double v; size_t i; } keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Indices of score in ascending order (malloc'ed; NULL when out of memory). */
static size_t *ascending(const double *score, size_t n)
{
    keyed *k = malloc((n ? n : 1) * sizeof *k);
    size_t *o = malloc((n ? n : 1) * sizeof *o);
    if (!k || !o) { free(k), free(o); return NULL; }
    for (size_t i = 0; i < n; i++) k[i] = (keyed){score[i], i};
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t i = 0; i < n; i++) o[i] = k[i].i;
    free(k);
    return o;
}

/* Weighted Mann-Whitney over the ascending order: every tie group adds P_g (N_below + N_g / 2). */
static double auc_sorted(const size_t *o, const double *score, const uint8_t *pos, const double *w, size_t n)
{
    double below = 0, sum = 0, P = 0, N = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a;
        double pg = 0, ng = 0;
        while (b < n && score[o[b]] == score[o[a]]) {
            double wi = w ? w[o[b]] : 1.0;
            if (pos[o[b]]) pg += wi;
            else ng += wi;
            b++;
        }
        sum += pg * (below + 0.5 * ng);
        below += ng;
        P += pg, N += ng;
        a = b;
    }
    return P > 0 && N > 0 ? sum / (P * N) : NAN;
}

ctvk_status ctvk_auc(const double *score, const uint8_t *positive, const double *w, size_t n, double *auc)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(score[i])) return ctvk__fail(CTVK_ERR_ARG, "AUC: score %zu is not a number", i);
    size_t *o = ascending(score, n);
    if (!o) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    *auc = auc_sorted(o, score, positive, w, n);
    free(o);
    return CTVK_OK;
}

ctvk_status ctvk_roc_curve(const double *score, const uint8_t *positive, size_t n, ctvk_roc *out)
{
    memset(out, 0, sizeof *out);
    size_t P = 0, N = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(score[i])) return ctvk__fail(CTVK_ERR_ARG, "ROC: score %zu is not a number", i);
        if (positive[i]) P++;
        else N++;
    }
    if (!P || !N)
        return ctvk__fail(CTVK_ERR_ARG, "ROC: needs both classes (%zu positive, %zu negative samples)", P, N);
    size_t *o = ascending(score, n);
    out->thr = malloc((n + 1) * sizeof *out->thr);
    out->fpr = malloc((n + 1) * sizeof *out->fpr);
    out->tpr = malloc((n + 1) * sizeof *out->tpr);
    if (!o || !out->thr || !out->fpr || !out->tpr) {
        free(o);
        ctvk_roc_free(out);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    size_t tp = 0, fp = 0, k = 0;
    out->thr[k] = INFINITY, out->fpr[k] = 0, out->tpr[k] = 0, k++;
    for (size_t b = n; b > 0;) {   /* descending: each tie group lowers the threshold to its score */
        size_t a = b;
        double t = score[o[b - 1]];
        while (a > 0 && score[o[a - 1]] == t) {
            if (positive[o[a - 1]]) tp++;
            else fp++;
            a--;
        }
        out->thr[k] = t, out->fpr[k] = (double)fp / (double)N, out->tpr[k] = (double)tp / (double)P, k++;
        b = a;
    }
    out->n = k;
    free(o);
    return CTVK_OK;
}

void ctvk_roc_free(ctvk_roc *r)
{
    if (!r) return;
    free(r->thr), free(r->fpr), free(r->tpr);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------------------ proportions */
ctvk_interval ctvk_wilson(long k, long n)
{
    if (n <= 0) return (ctvk_interval){0.0, 1.0};
    const double z = 1.959963984540054, z2 = z * z;
    double p = (double)k / (double)n, nn = (double)n;
    double c = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    double h = z / (1 + z2 / nn) * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    ctvk_interval r = {c - h, c + h};
    if (k == 0) r.lo = 0.0;   /* exact at the ends (the formula's rounding can leave 1e-17) */
    if (k == n) r.hi = 1.0;
    r.lo = fmax(r.lo, 0.0), r.hi = fmin(r.hi, 1.0);
    return r;
}

static void binary(const uint8_t *pos, const uint8_t *pred, size_t n, ctvk_binary_stats *b)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        if (pos[i]) pred[i] ? b->tp++ : b->fn++;
        else pred[i] ? b->fp++ : b->tn++;
    }
#define RATIO(k, d) ((d) ? (double)(k) / (double)(d) : 0.0)
    b->sens = RATIO(b->tp, b->tp + b->fn), b->sens_ci = ctvk_wilson(b->tp, b->tp + b->fn);
    b->spec = RATIO(b->tn, b->tn + b->fp), b->spec_ci = ctvk_wilson(b->tn, b->tn + b->fp);
    b->ppv = RATIO(b->tp, b->tp + b->fp), b->ppv_ci = ctvk_wilson(b->tp, b->tp + b->fp);
    b->npv = RATIO(b->tn, b->tn + b->fn), b->npv_ci = ctvk_wilson(b->tn, b->tn + b->fn);
#undef RATIO
}

/* ------------------------------------------------------------------------------------ calibration */
double ctvk_brier(const double *p, const uint8_t *positive, size_t n)
{
    if (!n) return NAN;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = p[i] - (positive[i] ? 1.0 : 0.0);
        s += d * d;
    }
    return s / (double)n;
}

void ctvk_reliability(const double *p, const uint8_t *positive, size_t n, ctvk_reliability_bin bins[CTVK_RELIABILITY_BINS])
{
    const int B = CTVK_RELIABILITY_BINS;
    double sp[CTVK_RELIABILITY_BINS] = {0}, sy[CTVK_RELIABILITY_BINS] = {0};
    for (int b = 0; b < B; b++) bins[b] = (ctvk_reliability_bin){(double)b / B, (double)(b + 1) / B, 0, NAN, NAN};
    for (size_t i = 0; i < n; i++) {
        if (!(p[i] >= 0.0 && p[i] <= 1.0)) continue;   /* not a probability (NaN too): no bin */
        int b = (int)(p[i] * B);
        if (b >= B) b = B - 1;
        bins[b].count++;
        sp[b] += p[i];
        sy[b] += positive[i] ? 1.0 : 0.0;
    }
    for (int b = 0; b < B; b++)
        if (bins[b].count) bins[b].mean_prob = sp[b] / (double)bins[b].count, bins[b].frac_positive = sy[b] / (double)bins[b].count;
}

/* ------------------------------------------------------------------------------------ bootstrap */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's default quantile (linear between order statistics) of sorted v[0..n-1]. */
static double quantile(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h), hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (h - (double)lo) * (v[hi] - v[lo]);
}

static ctvk_interval percentile_ci(double *v, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    if (!m) return (ctvk_interval){NAN, NAN};
    qsort(v, m, sizeof *v, cmp_double);
    return (ctvk_interval){quantile(v, m, 0.025), quantile(v, m, 0.975)};
}

static ctvk_status bootstrap(const ctvk_stats_input *in, int reps, uint64_t seed, ctvk_eval_stats *out)
{
    size_t n = in->n;
    int np = in->npatients;
    int *pos_ids = malloc((size_t)(np ? np : 1) * sizeof *pos_ids), *neg_ids = malloc((size_t)(np ? np : 1) * sizeof *neg_ids);
    double *wp = malloc((size_t)(np ? np : 1) * sizeof *wp), *wi = malloc((n ? n : 1) * sizeof *wi);
    double *ai = malloc((size_t)reps * sizeof *ai), *ap = malloc((size_t)reps * sizeof *ap);
    size_t *oi = ascending(in->score, n), *op = ascending(in->patient_score, (size_t)np);
    ctvk_status s = CTVK_OK;
    if (!pos_ids || !neg_ids || !wp || !wi || !ai || !ap || !oi || !op) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    int npos = 0, nneg = 0;
    for (int p = 0; s == CTVK_OK && p < np; p++) {
        if (in->patient_positive[p]) pos_ids[npos++] = p;
        else neg_ids[nneg++] = p;
    }
    uint64_t st = seed;
    for (int r = 0; s == CTVK_OK && r < reps; r++) {
        memset(wp, 0, (size_t)np * sizeof *wp);
        /* COVID patients first, then normal ones; a draw is floor(u x count) of splitmix64's u */
        for (int k = 0; k < npos; k++) wp[pos_ids[(int)(ctvk__rng_unit(&st) * npos)]] += 1.0;
        for (int k = 0; k < nneg; k++) wp[neg_ids[(int)(ctvk__rng_unit(&st) * nneg)]] += 1.0;
        for (size_t i = 0; i < n; i++) wi[i] = wp[in->cluster[i]];
        ai[r] = auc_sorted(oi, in->score, in->positive, wi, n);
        ap[r] = auc_sorted(op, in->patient_score, in->patient_positive, wp, (size_t)np);
    }
    if (s == CTVK_OK) {
        out->auc_image_ci = isnan(out->auc_image) ? (ctvk_interval){NAN, NAN} : percentile_ci(ai, (size_t)reps);
        out->auc_patient_ci = isnan(out->auc_patient) ? (ctvk_interval){NAN, NAN} : percentile_ci(ap, (size_t)reps);
    }
    free(pos_ids), free(neg_ids), free(wp), free(wi), free(ai), free(ap), free(oi), free(op);
    return s;
}

ctvk_status ctvk_stats_compute(const ctvk_stats_input *in, int replicates, uint64_t seed, ctvk_eval_stats *out)
{
    memset(out, 0, sizeof *out);
    if (replicates < 0) return ctvk__fail(CTVK_ERR_ARG, "bootstrap replicates %d: must be >= 0", replicates);
    for (size_t i = 0; i < in->n; i++)
        if (in->cluster[i] < 0 || in->cluster[i] >= in->npatients)
            return ctvk__fail(CTVK_ERR_ARG, "statistics: slice %zu belongs to patient %d of %d", i, in->cluster[i],
                              in->npatients);
    out->replicates = replicates;
    out->seed = seed;
    CTVK_TRY(ctvk_auc(in->score, in->positive, NULL, in->n, &out->auc_image));
    CTVK_TRY(ctvk_auc(in->patient_score, in->patient_positive, NULL, (size_t)in->npatients, &out->auc_patient));
    binary(in->positive, in->predicted, in->n, &out->image);
    binary(in->patient_positive, in->patient_predicted, (size_t)in->npatients, &out->patient);
    out->brier = ctvk_brier(in->score, in->positive, in->n);
    ctvk_reliability(in->score, in->positive, in->n, out->reliability);
    out->auc_image_ci = out->auc_patient_ci = (ctvk_interval){NAN, NAN};
    if (replicates > 0) CTVK_TRY(bootstrap(in, replicates, seed, out));
    return CTVK_OK;
}
