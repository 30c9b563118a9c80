/* Statistics of an evaluation (plain C, host only): ROC curves and their AUC, percentile
 * confidence intervals from a stratified bootstrap over patients, Wilson score intervals for
 * proportions, the Brier score and a reliability diagram.
 *
 * The positive class is COVID throughout. Image level: the score of a slice is its P(COVID) (the
 * softmax's first output). Patient level: the score of a patient is its fraction of COVID slices,
 * the quantity the patient rule thresholds at [eval] covid_fraction (docs/method.md section 5).
 *
 * Definitions (what the tests check):
 *  - ROC: a sample is called positive iff its score >= t; one point per distinct score t, from
 *    (0, 0) (t = +inf) to (1, 1); FPR = FP / negatives, TPR = TP / positives.
 *  - AUC: the area under that curve with ties as diagonal segments, which equals the Mann-Whitney
 *    statistic P(score of a positive > score of a negative) + 0.5 P(equal). Weighted (for the
 *    bootstrap): each sample counts w_i times. NaN when a class is empty.
 *  - Bootstrap (stratified over patients): each replicate draws, with replacement, as many COVID
 *    patients as there are COVID patients and as many normal patients as there are normal
 *    patients; every slice comes along with its patient (as often as its patient is drawn). The
 *    image AUC and the patient AUC are computed on each replicate; the interval is the 2.5 % and
 *    97.5 % quantiles of the replicates (linear interpolation between order statistics, numpy's
 *    default). The draws are a pure function of the seed (the project's splitmix64).
 *  - Wilson score interval of k successes in n at 95 % (z = 1.959963984540054); [0, 1] when n = 0.
 *  - Brier score: mean of (P(COVID) - [COVID])^2 over the slices.
 *  - Reliability diagram: CTVK_RELIABILITY_BINS equal bins of P(COVID) over [0, 1] (bin b holds
 *    b/10 <= p < (b+1)/10, the last one includes 1); per bin the count, the mean P(COVID) and the
 *    observed fraction of COVID slices (NaN in an empty bin). */
#ifndef CTVK_STATS_H
#define CTVK_STATS_H
#include "ctvk/ctvk.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTVK_BOOTSTRAP_DEFAULT 2000
#define CTVK_RELIABILITY_BINS 10

typedef struct ctvk_interval { double lo, hi; } ctvk_interval;

typedef struct ctvk_roc {
    size_t n;                 /* points, (0, 0) first and (1, 1) last */
    double *thr, *fpr, *tpr;  /* thr[0] = +inf */
} ctvk_roc;

/* The ROC curve of n scores with positive[i] = 1 for the positive class. Both classes must be
 * present (else CTVK_ERR_ARG). Free with ctvk_roc_free. */
ctvk_status ctvk_roc_curve(const double *score, const uint8_t *positive, size_t n, ctvk_roc *out);
void ctvk_roc_free(ctvk_roc *r);
/* AUC as defined above; w NULL means every weight 1. NaN when a class has no weight. */
ctvk_status ctvk_auc(const double *score, const uint8_t *positive, const double *w, size_t n, double *auc);

/* 95 % Wilson score interval of k of n. */
ctvk_interval ctvk_wilson(long k, long n);

typedef struct ctvk_reliability_bin {
    double lo, hi;            /* the bin's edges */
    long count;
    double mean_prob;         /* mean P(COVID) in the bin (NaN if empty) */
    double frac_positive;     /* observed fraction of COVID slices (NaN if empty) */
} ctvk_reliability_bin;

/* Brier score and reliability bins of probabilities p (of the positive class); n > 0. */
double ctvk_brier(const double *p, const uint8_t *positive, size_t n);
void ctvk_reliability(const double *p, const uint8_t *positive, size_t n, ctvk_reliability_bin bins[CTVK_RELIABILITY_BINS]);

/* What the statistics are computed from: n slices (score = P(COVID), positive = true class is
 * COVID, predicted = the decision was COVID, cluster = the slice's patient, 0..npatients-1) and
 * npatients patients (score = fraction of COVID slices, positive, predicted). */
typedef struct ctvk_stats_input {
    size_t n;
    const double *score;
    const uint8_t *positive, *predicted;
    const int *cluster;
    int npatients;
    const double *patient_score;
    const uint8_t *patient_positive, *patient_predicted;
} ctvk_stats_input;

/* Sensitivity, specificity, PPV, NPV of a 2x2 table with their Wilson intervals. */
typedef struct ctvk_binary_stats {
    long tp, fn, fp, tn;
    double sens, spec, ppv, npv;                  /* 0 where the denominator is 0 */
    ctvk_interval sens_ci, spec_ci, ppv_ci, npv_ci;
} ctvk_binary_stats;

typedef struct ctvk_eval_stats {
    int replicates;           /* bootstrap replicates used (0: no interval, the CIs are NaN) */
    uint64_t seed;
    double auc_image, auc_patient;                /* NaN when a class is absent */
    ctvk_interval auc_image_ci, auc_patient_ci;
    ctvk_binary_stats image, patient;
    double brier;             /* NaN without slices */
    ctvk_reliability_bin reliability[CTVK_RELIABILITY_BINS];
} ctvk_eval_stats;

/* Everything above for one evaluation (or the pooled slices of several). replicates >= 0 (0 skips
 * the bootstrap); the AUCs and their intervals are NaN where a class has no slice or patient. */
ctvk_status ctvk_stats_compute(const ctvk_stats_input *in, int replicates, uint64_t seed, ctvk_eval_stats *out);

#ifdef __cplusplus
}
#endif
#endif
