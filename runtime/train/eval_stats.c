/* The statistics of an evaluation as files (include/ctvk/pipeline.h, configs/README.md "Evaluation
 * files"): computed from a result in memory (ctvk eval) or from eval_images.csv and
 * eval_patients.csv read back (ctvk cv pools the folds that way, whichever rank wrote them). */
#include "ctvk/pipeline.h"
#include "runtime/ct/ct_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ samples */
void ctvk_eval_samples_free(ctvk_eval_samples *s)
{
    if (!s) return;
    free(s->score), free(s->positive), free(s->predicted), free(s->cluster);
    free(s->patient_score), free(s->patient_positive), free(s->patient_predicted);
    memset(s, 0, sizeof *s);
}

void ctvk_eval_samples_input(const ctvk_eval_samples *s, ctvk_stats_input *in)
{
    *in = (ctvk_stats_input){s->n, s->score, s->positive, s->predicted, s->cluster, s->npatients, s->patient_score,
                             s->patient_positive, s->patient_predicted};
}

static int grow(void **p, size_t elem, size_t cap)
{
    void *t = ctvk__realloc_n(*p, cap, elem);
    if (!t) return 0;
    *p = t;
    return 1;
}

static ctvk_status push_image(ctvk_eval_samples *s, double score, int pos, int pred, int cluster)
{
    if (s->n == s->cap) {
        size_t c = s->cap ? 2 * s->cap : 256;
        if (!grow((void **)&s->score, sizeof *s->score, c) || !grow((void **)&s->positive, 1, c) ||
            !grow((void **)&s->predicted, 1, c) || !grow((void **)&s->cluster, sizeof *s->cluster, c))
            return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        s->cap = c;
    }
    s->score[s->n] = score, s->positive[s->n] = (uint8_t)pos, s->predicted[s->n] = (uint8_t)pred;
    s->cluster[s->n++] = cluster;
    return CTVK_OK;
}

static ctvk_status push_patient(ctvk_eval_samples *s, double score, int pos, int pred)
{
    if (s->npatients == s->pcap) {
        int c = s->pcap ? 2 * s->pcap : 64;
        if (!grow((void **)&s->patient_score, sizeof *s->patient_score, (size_t)c) ||
            !grow((void **)&s->patient_positive, 1, (size_t)c) || !grow((void **)&s->patient_predicted, 1, (size_t)c))
            return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        s->pcap = c;
    }
    s->patient_score[s->npatients] = score, s->patient_positive[s->npatients] = (uint8_t)pos;
    s->patient_predicted[s->npatients++] = (uint8_t)pred;
    return CTVK_OK;
}

static int class_of(const char *s)
{
    return !strcmp(s, "covid") ? CTVK_CLASS_COVID : !strcmp(s, "normal") ? CTVK_CLASS_NORMAL : CTVK_CLASS_UNKNOWN;
}

ctvk_status ctvk_eval_samples_read(const char *dir, ctvk_eval_samples *s)
{
    char path[4600], line[8192];
    snprintf(path, sizeof path, "%s/eval_patients.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read", path);
    ctvk__map ids = {0};
    int lno = 0;
    ctvk_status st = CTVK_OK;
    while (st == CTVK_OK && fgets(line, sizeof line, f)) {
        if (lno++ == 0) {
            if (strncmp(line, "patient,label,slices,covid_slices,fraction,decision", 51))
                st = ctvk__fail(CTVK_ERR_FORMAT, "%s: not an eval_patients.csv (header)", path);
            continue;
        }
        char id[64], label[16], dec[16];
        int sl, cs;
        double fr;
        int l, d;
        if (sscanf(line, "%63[^,],%15[^,],%d,%d,%lf,%15[^\r\n]", id, label, &sl, &cs, &fr, dec) != 6 ||
            (l = class_of(label)) < 0 || (d = class_of(dec)) < 0 || sl <= 0 || cs < 0 || cs > sl || !(fr >= 0 && fr <= 1))
            st = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: expected patient,label,slices,covid_slices,fraction,decision",
                            path, lno);
        else if (ctvk__map_get(&ids, id, &sl))
            st = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: patient %s listed twice", path, lno, id);
        else if ((st = ctvk__map_put(&ids, id, s->npatients)) == CTVK_OK)
            st = push_patient(s, fr, l == CTVK_CLASS_COVID, d == CTVK_CLASS_COVID);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/eval_images.csv", dir);
    f = st == CTVK_OK ? fopen(path, "r") : NULL;
    if (st == CTVK_OK && !f) st = ctvk__fail(CTVK_ERR_IO, "%s: cannot read", path);
    lno = 0;
    while (st == CTVK_OK && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (lno++ == 0) {
            if (strcmp(line, "path,label,prob_covid,pred,patient"))
                st = ctvk__fail(CTVK_ERR_FORMAT, "%s: not an eval_images.csv of this version (header)", path);
            continue;
        }
        /* the last four fields (the path may hold commas, quoted) */
        char *c[4];
        char *end = line + strlen(line);
        int k = 0;
        for (char *p = end; p > line && k < 4;)
            if (*--p == ',') c[k++] = p;
        /* c[0] precedes patient, c[1] pred, c[2] prob_covid, c[3] label */
        int l = -1, d = -1, cl;
        char *e = NULL;
        double pr = NAN;
        if (k == 4) {
            *c[0] = *c[1] = *c[2] = *c[3] = 0;
            l = class_of(c[3] + 1), d = class_of(c[1] + 1);
            pr = strtod(c[2] + 1, &e);
        }
        if (k < 4 || e == c[2] + 1 || *e || l < 0 || d < 0 || !(pr >= 0 && pr <= 1))
            st = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: expected path,label,prob_covid,pred,patient", path, lno);
        else if (!c[0][1])
            continue;   /* a slice without a patient: not in the statistics (as ctvk_eval_samples_from_result) */
        else if (!ctvk__map_get(&ids, c[0] + 1, &cl))
            st = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: patient '%s' is not in eval_patients.csv", path, lno, c[0] + 1);
        else
            st = push_image(s, pr, l == CTVK_CLASS_COVID, d == CTVK_CLASS_COVID, cl);
    }
    if (f) fclose(f);
    ctvk__map_free(&ids);
    return st;
}

/* ------------------------------------------------------------------------------------ from a result */
ctvk_status ctvk_eval_samples_from_result(const ctvk_eval_result *r, ctvk_eval_samples *s)
{
    memset(s, 0, sizeof *s);
    ctvk_status st = CTVK_OK;
    for (int p = 0; st == CTVK_OK && p < r->npatients; p++)
        st = push_patient(s, r->patients[p].fraction, r->patients[p].label == CTVK_CLASS_COVID,
                          r->patients[p].decision == CTVK_CLASS_COVID);
    for (size_t i = 0; st == CTVK_OK && i < r->n; i++)
        if (r->image_patient && r->image_patient[i] >= 0)
            st = push_image(s, (double)r->prob_covid[i], r->labels[i] == CTVK_CLASS_COVID,
                            r->preds[i] == CTVK_CLASS_COVID, r->image_patient[i]);
    if (st != CTVK_OK) ctvk_eval_samples_free(s);
    return st;
}

ctvk_status ctvk_eval_compute_stats(ctvk_eval_result *r, int replicates, uint64_t seed)
{
    r->have_stats = 0;
    ctvk_eval_samples s;
    CTVK_TRY(ctvk_eval_samples_from_result(r, &s));
    ctvk_stats_input in;
    ctvk_eval_samples_input(&s, &in);
    ctvk_status st = ctvk_stats_compute(&in, replicates, seed, &r->stats);
    if (st == CTVK_OK) r->have_stats = 1;
    ctvk_eval_samples_free(&s);
    return st;
}

/* ------------------------------------------------------------------------------------ writing */
static void num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
}

static void ci(FILE *f, ctvk_interval c)
{
    fputc('[', f);
    num(f, c.lo);
    fputs(", ", f);
    num(f, c.hi);
    fputc(']', f);
}

static void binary_json(FILE *f, const char *ind, const char *level, const ctvk_binary_stats *b)
{
    fprintf(f, "%s\"%s_tp\": %ld,\n%s\"%s_fn\": %ld,\n%s\"%s_fp\": %ld,\n%s\"%s_tn\": %ld,\n", ind, level, b->tp, ind,
            level, b->fn, ind, level, b->fp, ind, level, b->tn);
    const char *names[4] = {"sensitivity", "specificity", "ppv", "npv"};
    const double v[4] = {b->sens, b->spec, b->ppv, b->npv};
    const ctvk_interval c[4] = {b->sens_ci, b->spec_ci, b->ppv_ci, b->npv_ci};
    for (int k = 0; k < 4; k++) {
        fprintf(f, "%s\"%s_%s\": ", ind, level, names[k]);
        num(f, v[k]);
        fprintf(f, ",\n%s\"%s_%s_ci\": ", ind, level, names[k]);
        ci(f, c[k]);
        fputs(",\n", f);
    }
}

void ctvk_eval_stats_json(FILE *f, const char *ind, const ctvk_eval_stats *st)
{
    fprintf(f, "%s\"auc_image\": ", ind);
    num(f, st->auc_image);
    fprintf(f, ",\n%s\"auc_image_ci\": ", ind);
    ci(f, st->auc_image_ci);
    fprintf(f, ",\n%s\"auc_patient\": ", ind);
    num(f, st->auc_patient);
    fprintf(f, ",\n%s\"auc_patient_ci\": ", ind);
    ci(f, st->auc_patient_ci);
    fprintf(f, ",\n%s\"bootstrap_replicates\": %d,\n%s\"bootstrap_seed\": %llu,\n", ind, st->replicates, ind,
            (unsigned long long)st->seed);
    binary_json(f, ind, "image", &st->image);
    binary_json(f, ind, "patient", &st->patient);
    fprintf(f, "%s\"brier\": ", ind);
    num(f, st->brier);
    fprintf(f, ",\n%s\"reliability\": [", ind);
    for (int b = 0; b < CTVK_RELIABILITY_BINS; b++) {
        const ctvk_reliability_bin *r = &st->reliability[b];
        fprintf(f, "%s{\"lo\": %.2f, \"hi\": %.2f, \"count\": %ld, \"mean_prob\": ", b ? ", " : "", r->lo, r->hi, r->count);
        num(f, r->mean_prob);
        fputs(", \"frac_covid\": ", f);
        num(f, r->frac_positive);
        fputc('}', f);
    }
    fputs("],\n", f);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
    else fputs("nan", f);
}

ctvk_status ctvk_eval_curves_write(const char *dir, const char *prefix, const ctvk_stats_input *in,
                                   const ctvk_eval_stats *st)
{
    char name[128], tmp[4700];
    snprintf(name, sizeof name, "%s_roc.csv", prefix);
    char *path = ctvk__path_join(dir, name);
    if (!path) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    FILE *f;
    ctvk_status s = ctvk__open_tmp(path, tmp, sizeof tmp, &f);
    if (s != CTVK_OK) { free(path); return s; }
    fputs("level,threshold,fpr,tpr\n", f);
    for (int level = 0; level < 2 && s == CTVK_OK; level++) {
        ctvk_roc r = {0};
        const double *sc = level ? in->patient_score : in->score;
        const uint8_t *po = level ? in->patient_positive : in->positive;
        size_t n = level ? (size_t)in->npatients : in->n, np = 0;
        for (size_t i = 0; i < n; i++) np += po[i];
        if (np == 0 || np == n) continue;   /* one class: no curve (the AUC is null) */
        s = ctvk_roc_curve(sc, po, n, &r);
        for (size_t k = 0; s == CTVK_OK && k < r.n; k++) {
            fputs(level ? "patient," : "image,", f);
            csv_num(f, r.thr[k]);
            fprintf(f, ",%.17g,%.17g\n", r.fpr[k], r.tpr[k]);
        }
        ctvk_roc_free(&r);
    }
    if (s != CTVK_OK) {
        fclose(f);
        remove(tmp);
        free(path);
        return s;
    }
    s = ctvk__close_commit(f, tmp, path);
    free(path);
    if (s != CTVK_OK) return s;
    snprintf(name, sizeof name, "%s_reliability.csv", prefix);
    if (!(path = ctvk__path_join(dir, name))) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    s = ctvk__open_tmp(path, tmp, sizeof tmp, &f);
    if (s != CTVK_OK) { free(path); return s; }
    fputs("bin,lo,hi,count,mean_prob,frac_covid\n", f);
    for (int b = 0; b < CTVK_RELIABILITY_BINS; b++) {
        const ctvk_reliability_bin *r = &st->reliability[b];
        fprintf(f, "%d,%.2f,%.2f,%ld,", b + 1, r->lo, r->hi, r->count);
        csv_num(f, r->mean_prob);
        fputc(',', f);
        csv_num(f, r->frac_positive);
        fputc('\n', f);
    }
    s = ctvk__close_commit(f, tmp, path);
    free(path);
    return s;
}
