/* The evaluation statistics (include/ctvk/stats.h) against independent computations: AUC = a
 * brute-force Mann-Whitney U over all pairs (ties half), on data with many ties, weighted and
 * unweighted; the ROC's trapezoid area = AUC; Wilson intervals = Newcombe (1998)'s published values;
 * Brier and reliability bins by hand; the bootstrap = an explicit replay of its draws that copies
 * every slice of every drawn patient; reproducible for a seed. */
#include "check.h"
#include "ctvk/stats.h"
#include "runtime/ct/ct_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* U / (P N) over all pairs, each pair weighted w_i w_j. */
static double mann_whitney(const double *s, const uint8_t *pos, const double *w, size_t n)
{
    double u = 0, P = 0, N = 0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;
        if (pos[i]) P += wi;
        else N += wi;
        if (!pos[i]) continue;
        for (size_t j = 0; j < n; j++) {
            if (pos[j]) continue;
            double wj = w ? w[j] : 1;
            u += wi * wj * (s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0);
        }
    }
    return u / (P * N);
}

static double sorted_quantile(double *v, size_t n, double q)
{
    for (size_t i = 1; i < n; i++)   /* insertion sort: small n */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    double h = q * (double)(n - 1);
    size_t lo = (size_t)floor(h), hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (h - (double)lo) * (v[hi] - v[lo]);
}

static void test_auc_roc(void)
{
    uint64_t st = 7;
    for (int trial = 0; trial < 20; trial++) {
        size_t n = 5 + (size_t)(check_rng_next(&st) % 200);
        double *s = malloc(n * sizeof *s), *w = malloc(n * sizeof *w);
        uint8_t *pos = malloc(n);
        int levels = trial % 2 ? 7 : 1000;   /* odd trials: heavy ties */
        for (size_t i = 0; i < n; i++) {
            pos[i] = check_rng_next(&st) % 3 == 0;
            s[i] = (double)(check_rng_next(&st) % (uint64_t)levels) / levels + (pos[i] ? 0.1 : 0.0);
            w[i] = (double)(check_rng_next(&st) % 4);
        }
        pos[0] = 1, pos[1] = 0, w[0] = w[1] = 1;
        double auc, aucw, want = mann_whitney(s, pos, NULL, n), wantw = mann_whitney(s, pos, w, n);
        CHECK(ctvk_auc(s, pos, NULL, n, &auc) == CTVK_OK && fabs(auc - want) < 1e-12,
              "trial %d (n %zu): AUC %.15g = Mann-Whitney %.15g", trial, n, auc, want);
        CHECK(ctvk_auc(s, pos, w, n, &aucw) == CTVK_OK && fabs(aucw - wantw) < 1e-12,
              "trial %d: weighted AUC %.15g = %.15g", trial, aucw, wantw);
        ctvk_roc r;
        CHECK(ctvk_roc_curve(s, pos, n, &r) == CTVK_OK, "ROC");
        double area = 0;
        int mono = 1;
        for (size_t k = 1; k < r.n; k++) {
            area += (r.fpr[k] - r.fpr[k - 1]) * (r.tpr[k] + r.tpr[k - 1]) / 2;
            mono &= r.fpr[k] >= r.fpr[k - 1] && r.tpr[k] >= r.tpr[k - 1] && r.thr[k] < r.thr[k - 1];
        }
        CHECK(r.n >= 2 && r.fpr[0] == 0 && r.tpr[0] == 0 && r.fpr[r.n - 1] == 1 && r.tpr[r.n - 1] == 1 && mono &&
              isinf(r.thr[0]), "ROC from (0,0) to (1,1), monotone, %zu points", r.n);
        CHECK(fabs(area - want) < 1e-12, "trial %d: trapezoid area %.15g = AUC %.15g", trial, area, want);
        /* a point of the curve: threshold t calls score >= t positive */
        size_t k = r.n / 2;
        long tp = 0, fp = 0, P = 0, N = 0;
        for (size_t i = 0; i < n; i++) {
            P += pos[i], N += !pos[i];
            if (s[i] >= r.thr[k]) pos[i] ? tp++ : fp++;
        }
        CHECK(r.tpr[k] == (double)tp / P && r.fpr[k] == (double)fp / N, "ROC point %zu at threshold %g", k, r.thr[k]);
        ctvk_roc_free(&r);
        free(s), free(w), free(pos);
    }
    /* fixed cases */
    double s1[] = {0.1, 0.4, 0.35, 0.8};
    uint8_t p1[] = {0, 0, 1, 1};
    double a;
    CHECK(ctvk_auc(s1, p1, NULL, 4, &a) == CTVK_OK && a == 0.75, "sklearn's example: AUC 0.75 (%g)", a);
    double s2[] = {0.5, 0.5, 0.5};
    uint8_t p2[] = {1, 0, 0};
    CHECK(ctvk_auc(s2, p2, NULL, 3, &a) == CTVK_OK && a == 0.5, "all tied: 0.5");
    uint8_t p3[] = {1, 1, 1};
    CHECK(ctvk_auc(s2, p3, NULL, 3, &a) == CTVK_OK && isnan(a), "one class: NaN");
    ctvk_roc r;
    CHECK(ctvk_roc_curve(s2, p3, 3, &r) == CTVK_ERR_ARG && strstr(ctvk_error(), "both classes"), "ROC of one class refused");
    double bad[] = {0.1, NAN};
    CHECK(ctvk_auc(bad, p1, NULL, 2, &a) == CTVK_ERR_ARG, "NaN score refused");
}

static void test_wilson(void)
{
    /* Newcombe, Statistics in Medicine 17 (1998) 857-872, Table I, method 3 */
    struct { long k, n; double lo, hi; } t[] = {{81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605},
                                                {0, 20, 0.0, 0.1611}, {1, 29, 0.0061, 0.1718}};
    for (int i = 0; i < 4; i++) {
        ctvk_interval c = ctvk_wilson(t[i].k, t[i].n);
        CHECK(fabs(c.lo - t[i].lo) < 5e-5 && fabs(c.hi - t[i].hi) < 5e-5, "Wilson %ld/%ld = [%.4f, %.4f] (want [%.4f, %.4f])",
              t[i].k, t[i].n, c.lo, c.hi, t[i].lo, t[i].hi);
    }
    ctvk_interval c = ctvk_wilson(20, 20);
    CHECK(c.hi == 1.0 && fabs(c.lo - (1 - 0.1611)) < 5e-5, "20/20: [%.4f, 1]", c.lo);
    c = ctvk_wilson(0, 0);
    CHECK(c.lo == 0 && c.hi == 1, "0/0: [0, 1]");
}

static void test_calibration(void)
{
    double p[] = {0.05, 0.15, 0.95, 1.0, 0.55, 0.59};
    uint8_t y[] = {0, 1, 1, 1, 0, 1};
    double want = (0.05 * 0.05 + 0.85 * 0.85 + 0.05 * 0.05 + 0 + 0.55 * 0.55 + 0.41 * 0.41) / 6;
    CHECK(fabs(ctvk_brier(p, y, 6) - want) < 1e-15, "Brier %.12g (%.12g)", ctvk_brier(p, y, 6), want);
    ctvk_reliability_bin b[CTVK_RELIABILITY_BINS];
    ctvk_reliability(p, y, 6, b);
    CHECK(b[0].count == 1 && b[0].mean_prob == 0.05 && b[0].frac_positive == 0, "bin 0");
    CHECK(b[1].count == 1 && b[1].frac_positive == 1, "bin 1");
    CHECK(b[5].count == 2 && fabs(b[5].mean_prob - 0.57) < 1e-15 && b[5].frac_positive == 0.5, "bin 5");
    CHECK(b[9].count == 2 && b[9].frac_positive == 1 && fabs(b[9].mean_prob - 0.975) < 1e-15, "bin 9 holds 1.0");
    CHECK(b[3].count == 0 && isnan(b[3].mean_prob) && b[3].lo == 0.3 && b[3].hi == 0.4, "empty bin 3");
}

/* The bootstrap replayed: the same draws (COVID patients, then normal ones, floor(u x count)),
 * every drawn patient's slices copied into fresh arrays, a brute-force Mann-Whitney on the copies. */
static void test_bootstrap(void)
{
    enum { NP = 9, R = 200 };
    int plabel[NP] = {1, 1, 0, 1, 0, 0, 1, 0, 0};
    size_t n = 0;
    double score[NP * 6], pscore[NP];
    uint8_t pos[NP * 6], pred[NP * 6], ppos[NP], ppred[NP];
    int cl[NP * 6];
    uint64_t st = 99;
    for (int p = 0; p < NP; p++) {
        int m = 2 + (int)(check_rng_next(&st) % 5), c = 0;
        for (int k = 0; k < m; k++, n++) {
            score[n] = floor(check_rng_uniform(&st, 0, 1) * 8) / 8 * 0.7 + (plabel[p] ? 0.3 : 0.0);
            pos[n] = (uint8_t)plabel[p], cl[n] = p, pred[n] = score[n] >= 0.5;
            c += pred[n];
        }
        pscore[p] = (double)c / m, ppos[p] = (uint8_t)plabel[p], ppred[p] = pscore[p] >= 0.1;
    }
    ctvk_stats_input in = {n, score, pos, pred, cl, NP, pscore, ppos, ppred};
    ctvk_eval_stats a, b, c;
    CHECK(ctvk_stats_compute(&in, R, 42, &a) == CTVK_OK, "stats");
    CHECK(ctvk_stats_compute(&in, R, 42, &b) == CTVK_OK && !memcmp(&a, &b, sizeof a), "same seed, same statistics");
    CHECK(ctvk_stats_compute(&in, R, 43, &c) == CTVK_OK &&
          (c.auc_image_ci.lo != a.auc_image_ci.lo || c.auc_image_ci.hi != a.auc_image_ci.hi), "another seed, other draws");
    CHECK(fabs(a.auc_image - mann_whitney(score, pos, NULL, n)) < 1e-12 && fabs(a.auc_patient - mann_whitney(pscore, ppos, NULL, NP)) < 1e-12,
          "point AUCs %g %g", a.auc_image, a.auc_patient);
    /* replay */
    double ai[R], ap[R], rs[NP * 6 * NP], rps[NP];
    uint8_t rpos[NP * 6 * NP], rppos[NP];
    int posid[NP], negid[NP], npos = 0, nneg = 0;
    for (int p = 0; p < NP; p++) plabel[p] ? (posid[npos++] = p) : (negid[nneg++] = p);
    uint64_t rng = 42;
    for (int r = 0; r < R; r++) {
        int drawn[NP], nd = 0;
        for (int k = 0; k < npos; k++) drawn[nd++] = posid[(int)(ctvk__rng_unit(&rng) * npos)];
        for (int k = 0; k < nneg; k++) drawn[nd++] = negid[(int)(ctvk__rng_unit(&rng) * nneg)];
        size_t m = 0;
        for (int d = 0; d < nd; d++) {
            for (size_t i = 0; i < n; i++)
                if (cl[i] == drawn[d]) rs[m] = score[i], rpos[m++] = pos[i];
            rps[d] = pscore[drawn[d]], rppos[d] = ppos[drawn[d]];
        }
        ai[r] = mann_whitney(rs, rpos, NULL, m);
        ap[r] = mann_whitney(rps, rppos, NULL, (size_t)nd);
    }
    double lo = sorted_quantile(ai, R, 0.025), hi = sorted_quantile(ai, R, 0.975);
    double plo = sorted_quantile(ap, R, 0.025), phi = sorted_quantile(ap, R, 0.975);
    CHECK(fabs(a.auc_image_ci.lo - lo) < 1e-12 && fabs(a.auc_image_ci.hi - hi) < 1e-12,
          "image AUC %.4f, 95%% CI [%.6f, %.6f] = replay [%.6f, %.6f]", a.auc_image, a.auc_image_ci.lo, a.auc_image_ci.hi, lo, hi);
    CHECK(fabs(a.auc_patient_ci.lo - plo) < 1e-12 && fabs(a.auc_patient_ci.hi - phi) < 1e-12,
          "patient AUC %.4f, 95%% CI [%.6f, %.6f] = replay [%.6f, %.6f]", a.auc_patient, a.auc_patient_ci.lo,
          a.auc_patient_ci.hi, plo, phi);
    CHECK(a.auc_image_ci.lo < a.auc_image_ci.hi && a.auc_image_ci.lo <= a.auc_image && a.auc_image <= a.auc_image_ci.hi,
          "a real interval around the estimate");
    /* the 2x2 tables */
    long tp = 0, fn = 0, fp = 0, tn = 0;
    for (size_t i = 0; i < n; i++) pos[i] ? (pred[i] ? tp++ : fn++) : (pred[i] ? fp++ : tn++);
    CHECK(a.image.tp == tp && a.image.fn == fn && a.image.fp == fp && a.image.tn == tn &&
          a.image.sens == (double)tp / (tp + fn) && a.image.ppv == (double)tp / (tp + fp), "image 2x2");
    ctvk_interval w = ctvk_wilson(tn, tn + fp);
    CHECK(a.image.spec_ci.lo == w.lo && a.image.spec_ci.hi == w.hi, "specificity's Wilson interval");
    CHECK(a.brier == ctvk_brier(score, pos, n), "Brier");
    /* no bootstrap; bad clusters */
    CHECK(ctvk_stats_compute(&in, 0, 1, &c) == CTVK_OK && isnan(c.auc_image_ci.lo) && c.auc_image == a.auc_image, "0 replicates");
    cl[3] = NP;
    CHECK(ctvk_stats_compute(&in, 10, 1, &c) == CTVK_ERR_ARG && strstr(ctvk_error(), "patient 9 of 9"), "bad patient index refused");
    cl[3] = 0;
    /* perfect separation: [1, 1] */
    for (size_t i = 0; i < n; i++) score[i] = pos[i] ? 0.9 : 0.1;
    CHECK(ctvk_stats_compute(&in, 50, 5, &c) == CTVK_OK && c.auc_image == 1 && c.auc_image_ci.lo == 1 && c.auc_image_ci.hi == 1,
          "separable: AUC 1, CI [1, 1]");
}

int main(void)
{
    test_auc_roc();
    test_wilson();
    test_calibration();
    test_bootstrap();
    return check_done("test_stats");
}
