/* ctvk cv: the folds in turn (train, then evaluate the best checkpoint on the fold's test list),
 * then the paper's Table 2 (image level) and Table 4 (patient level) per fold and their mean. */
#include "ctvk/checkpoint.h"
#include "ctvk/util.h"
#include "tools/run_common.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_cv_help[] =
    "usage: ctvk cv CONFIG [--folds 1,3] [--resume [--allow-changes]] [--overwrite] [--set section.key=value ...]\n"
    "               [--device D]\n\n"
    "Cross-validation: for each fold (all of the dataset's folds by default) trains RUN/foldK as\n"
    "`ctvk train` does, evaluates RUN/foldK/best.ckpt on the fold's test list as `ctvk eval` does, then\n"
    "prints and saves RUN/summary.csv and RUN/summary.json: image-level accuracy and per-class\n"
    "sensitivity per fold and their mean (the paper's Table 2), and patient-level results per fold:\n"
    "normal cases, correct, wrong; COVID cases, correct, wrong (Table 4); with each fold's and the pooled\n"
    "folds' AUCs and their bootstrap intervals, Wilson intervals, Brier score (summary_roc.csv and\n"
    "summary_reliability.csv hold the pooled curves). With --resume, finished folds\n"
    "are evaluated again from their checkpoints and an interrupted fold continues (--allow-changes: with\n"
    "training settings that differ from the checkpoint's). Every fold of the list is checked before any\n"
    "training: a fold the dataset lacks, or a fold folder holding an earlier run without --resume, is\n"
    "refused (--overwrite replaces earlier runs). The run folder is locked while cv writes into it.\n"
    "Under MPI (mpirun -np N ctvk cv CONFIG, ctvk built with -DCTVK_MPI=ON) the folds are spread over the\n"
    "ranks, fold i of the list on rank i mod N, each rank on its own device; rank 0 prints the summary.\n";

typedef struct fold_row {
    int k;
    double acc, sens_covid, sens_normal;
    int normal_cases, normal_correct, normal_wrong, covid_cases, covid_correct, covid_wrong;
} fold_row;

static int parse_folds(const char *s, int *folds, int max) { return ctvk_parse_ints(s, folds, max, 1, 1000); }

static ctvk_status evaluate_fold(ctvk_ctx *ctx, const ctvk_config *cfg, const ctvk_dataset *ds, int k,
                                 const char *dir, fold_row *row)
{
    const ctvk_fold *f = NULL;
    for (int i = 0; i < ds->nfolds; i++) if (ds->folds[i].k == k) f = &ds->folds[i];
    if (!f) return ctvk_fail(CTVK_ERR_ARG, "the dataset has no fold %d", k);
    ctvk_eval_options eo;
    CTVK_TRY(ctvk_eval_options_from_config(cfg, &eo));
    char ckpt[4300], fdir[4200];
    snprintf(fdir, sizeof fdir, "%s/fold%d", dir, k);
    snprintf(ckpt, sizeof ckpt, "%s/best.ckpt", fdir);
    ctvk_model_config mc;     /* the network sees what it was trained on (a resumed cv may have another config) */
    CTVK_TRY(ctvk_checkpoint_peek_config(ckpt, &mc));
    CTVK_TRY(ctvk_eval_options_from_model(cfg, &mc, ckpt, &eo));
    ctvk_graph g;
    ctvk_net *net;
    CTVK_TRY(ctvk_net_from_checkpoint(ctx, ckpt, eo.batch, &g, &net));
    ctvk_eval_result r;
    ctvk_status s = ctvk_evaluate(ctx, net, ds, &f->test, &eo, &r);
    if (!s && !(s = ctvk_model_identity_get(ckpt, ctvk_device(ctx)->name, &r.model))) r.have_model = 1;
    if (!s) {
        s = ctvk_eval_write(fdir, &r);
        if (!s && eo.cam) s = ctvk_eval_cam_write(ctx, net, fdir, &r, &eo);
        *row = (fold_row){k, r.accuracy, r.sens_covid, r.sens_normal, r.normal_cases, r.normal_correct,
                          r.normal_wrong, r.covid_cases, r.covid_correct, r.covid_wrong};
        ctvk_eval_result_free(&r);
    }
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    return s;
}

/* Every rank holds the rows of its folds (the others zero): their sum is every fold's row. */
static ctvk_status gather_rows(fold_row *rows, int n)
{
    if (ctvk_dist_world_size() < 2) return CTVK_OK;
    enum { F = 10 };
    double *v = calloc((size_t)n * F, sizeof *v);
    if (!v) return ctvk_fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int i = 0; i < n; i++) {
        const fold_row *r = &rows[i];
        double *d = v + (size_t)i * F;
        d[0] = r->k, d[1] = r->acc, d[2] = r->sens_covid, d[3] = r->sens_normal, d[4] = r->normal_cases;
        d[5] = r->normal_correct, d[6] = r->normal_wrong, d[7] = r->covid_cases, d[8] = r->covid_correct;
        d[9] = r->covid_wrong;
    }
    ctvk_status s = ctvk_dist_sum_f64(v, (size_t)n * F);
    for (int i = 0; !s && i < n; i++) {
        const double *d = v + (size_t)i * F;
        rows[i] = (fold_row){(int)d[0], d[1], d[2], d[3], (int)d[4], (int)d[5], (int)d[6], (int)d[7], (int)d[8],
                             (int)d[9]};
    }
    free(v);
    return s;
}

/* "0.9123 [0.8800, 0.9400]", "n/a" without the AUC */
static const char *auc_str(char *buf, size_t n, double v, ctvk_interval c)
{
    if (isnan(v)) snprintf(buf, n, "n/a");
    else if (isnan(c.lo)) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "%.4f [%.4f, %.4f]", v, c.lo, c.hi);
    return buf;
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6f", v);
}

/* The statistics of every fold (from its eval_images.csv and eval_patients.csv, whichever rank wrote
 * them) and of all folds' slices and patients pooled; the pooled curves into RUN/summary_*.csv. */
static ctvk_status fold_stats(const ctvk_config *cfg, const char *dir, const fold_row *rows, int n,
                              ctvk_eval_stats *st, ctvk_eval_stats *pooled)
{
    ctvk_eval_options eo;
    CTVK_TRY(ctvk_eval_options_from_config(cfg, &eo));
    ctvk_eval_samples all = {0};
    ctvk_status s = CTVK_OK;
    for (int i = 0; i < n && s == CTVK_OK; i++) {
        char fdir[4200];
        snprintf(fdir, sizeof fdir, "%s/fold%d", dir, rows[i].k);
        ctvk_eval_samples one = {0};
        ctvk_stats_input in;
        s = ctvk_eval_samples_read(fdir, &one);
        ctvk_eval_samples_input(&one, &in);
        if (s == CTVK_OK) s = ctvk_stats_compute(&in, eo.bootstrap, eo.bootstrap_seed, &st[i]);
        ctvk_eval_samples_free(&one);
        if (s == CTVK_OK) s = ctvk_eval_samples_read(fdir, &all);   /* patients of each fold kept apart */
    }
    ctvk_stats_input in;
    ctvk_eval_samples_input(&all, &in);
    if (s == CTVK_OK) s = ctvk_stats_compute(&in, eo.bootstrap, eo.bootstrap_seed, pooled);
    if (s == CTVK_OK) s = ctvk_eval_curves_write(dir, "summary", &in, pooled);
    ctvk_eval_samples_free(&all);
    return s;
}

static int write_summary(const ctvk_config *cfg, const char *dir, const fold_row *rows, int n)
{
    fold_row m = {0};
    double nm[6] = {0};
    for (int i = 0; i < n; i++) {
        m.acc += rows[i].acc / n;
        m.sens_covid += rows[i].sens_covid / n;
        m.sens_normal += rows[i].sens_normal / n;
        int v[6] = {rows[i].normal_cases, rows[i].normal_correct, rows[i].normal_wrong, rows[i].covid_cases,
                    rows[i].covid_correct, rows[i].covid_wrong};
        for (int j = 0; j < 6; j++) nm[j] += (double)v[j] / n;
    }
    ctvk_eval_stats *st = calloc((size_t)n + 1, sizeof *st), *pool = st ? st + n : NULL;
    if (!st) { fprintf(stderr, "ctvk cv: out of host memory\n"); return 1; }
    if (fold_stats(cfg, dir, rows, n, st, pool)) { free(st); return cli_fail("cv"); }
    char b1[64], b2[64];
    printf("\nImage level (Table 2)\n%-6s %9s %15s %16s %26s\n", "fold", "accuracy", "COVID sens.", "normal sens.",
           "AUC [95% CI]");
    for (int i = 0; i < n; i++)
        printf("%-6d %8.2f%% %14.2f%% %15.2f%% %26s\n", rows[i].k, 100 * rows[i].acc, 100 * rows[i].sens_covid,
               100 * rows[i].sens_normal, auc_str(b1, sizeof b1, st[i].auc_image, st[i].auc_image_ci));
    printf("%-6s %8.2f%% %14.2f%% %15.2f%%\n", "mean", 100 * m.acc, 100 * m.sens_covid, 100 * m.sens_normal);
    long pc = pool->image.tp + pool->image.tn, pn = pc + pool->image.fp + pool->image.fn;
    printf("%-6s %8.2f%% %14.2f%% %15.2f%% %26s\n", "pooled", pn ? 100.0 * pc / pn : 0.0, 100 * pool->image.sens,
           100 * pool->image.spec, auc_str(b1, sizeof b1, pool->auc_image, pool->auc_image_ci));
    ctvk_interval wa = ctvk_wilson(pc, pn);
    printf("pooled 95%% CI: accuracy [%.2f, %.2f], COVID sens. [%.2f, %.2f], normal sens. [%.2f, %.2f]; Brier %.4f\n",
           100 * wa.lo, 100 * wa.hi, 100 * pool->image.sens_ci.lo, 100 * pool->image.sens_ci.hi,
           100 * pool->image.spec_ci.lo, 100 * pool->image.spec_ci.hi, pool->brier);
    printf("\nPatient level (Table 4)\n%-6s %13s %8s %6s %12s %8s %6s %26s\n", "fold", "normal cases", "correct", "wrong",
           "COVID cases", "correct", "wrong", "AUC [95% CI]");
    for (int i = 0; i < n; i++)
        printf("%-6d %13d %8d %6d %12d %8d %6d %26s\n", rows[i].k, rows[i].normal_cases, rows[i].normal_correct,
               rows[i].normal_wrong, rows[i].covid_cases, rows[i].covid_correct, rows[i].covid_wrong,
               auc_str(b1, sizeof b1, st[i].auc_patient, st[i].auc_patient_ci));
    printf("%-6s %13.1f %8.1f %6.1f %12.1f %8.1f %6.1f\n", "mean", nm[0], nm[1], nm[2], nm[3], nm[4], nm[5]);
    printf("%-6s %13ld %8ld %6ld %12ld %8ld %6ld %26s\n", "pooled", pool->patient.tn + pool->patient.fp, pool->patient.tn,
           pool->patient.fp, pool->patient.tp + pool->patient.fn, pool->patient.tp, pool->patient.fn,
           auc_str(b1, sizeof b1, pool->auc_patient, pool->auc_patient_ci));
    int correct = 0, total = 0;
    for (int i = 0; i < n; i++) {
        correct += rows[i].normal_correct + rows[i].covid_correct;
        total += rows[i].normal_cases + rows[i].covid_cases;
    }
    ctvk_interval wp = ctvk_wilson(correct, total);
    printf("\npatients correct: %d of %d (%.1f%%, 95%% CI %.1f-%.1f%%); normal correct %s, COVID correct %s\n", correct,
           total, total ? 100.0 * correct / total : 0.0, 100 * wp.lo, 100 * wp.hi,
           (snprintf(b1, sizeof b1, "[%.1f, %.1f]%%", 100 * pool->patient.spec_ci.lo, 100 * pool->patient.spec_ci.hi), b1),
           (snprintf(b2, sizeof b2, "[%.1f, %.1f]%%", 100 * pool->patient.sens_ci.lo, 100 * pool->patient.sens_ci.hi), b2));
    if (pool->replicates)
        printf("(AUC intervals: stratified bootstrap over patients, %d replicates, seed %llu; proportions: Wilson)\n",
               pool->replicates, (unsigned long long)pool->seed);
    printf("models: RUN/foldK/best.ckpt (their identities in foldK/eval.json); ctvk %s\nnotice: " CTVK_NOTICE "\n",
           ctvk_version());

    char *csv = NULL, *json = NULL;
    size_t a = 0, j = 0;
    FILE *fc = open_memstream(&csv, &a), *fj = open_memstream(&json, &j);
    if (!fc || !fj) {
        if (fc) fclose(fc);
        if (fj) fclose(fj);
        free(csv), free(json), free(st);
        fprintf(stderr, "ctvk cv: out of host memory\n");
        return 1;
    }
    fprintf(fc, "fold,accuracy,sens_covid,sens_normal,normal_cases,normal_correct,normal_wrong,covid_cases,covid_correct,"
                "covid_wrong,auc_image,auc_image_lo,auc_image_hi,auc_patient,auc_patient_lo,auc_patient_hi,brier\n");
    fprintf(fj, "{\n  \"notice\": \"" CTVK_NOTICE "\",\n  \"ctvk_version\": \"%s\",\n  \"folds\": [", ctvk_version());
    for (int i = 0; i <= n; i++) {
        const ctvk_eval_stats *e = &st[i];
        if (i < n) {
            const fold_row *r = &rows[i];
            fprintf(fc, "%d,%.6f,%.6f,%.6f,%d,%d,%d,%d,%d,%d,", r->k, r->acc, r->sens_covid, r->sens_normal,
                    r->normal_cases, r->normal_correct, r->normal_wrong, r->covid_cases, r->covid_correct, r->covid_wrong);
            fprintf(fj, "%s\n    {\"fold\": %d, \"accuracy\": %.6f, \"sens_covid\": %.6f, \"sens_normal\": %.6f, "
                        "\"normal_cases\": %d, \"normal_correct\": %d, \"normal_wrong\": %d, \"covid_cases\": %d, "
                        "\"covid_correct\": %d, \"covid_wrong\": %d,\n", i ? "," : "", r->k, r->acc, r->sens_covid,
                    r->sens_normal, r->normal_cases, r->normal_correct, r->normal_wrong, r->covid_cases, r->covid_correct,
                    r->covid_wrong);
        } else {
            fprintf(fc, "mean,%.6f,%.6f,%.6f,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,,,,,,,\n", m.acc, m.sens_covid, m.sens_normal,
                    nm[0], nm[1], nm[2], nm[3], nm[4], nm[5]);
            fprintf(fc, "pooled,%.6f,%.6f,%.6f,%ld,%ld,%ld,%ld,%ld,%ld,", pn ? (double)pc / pn : 0.0, e->image.sens,
                    e->image.spec, e->patient.tn + e->patient.fp, e->patient.tn, e->patient.fp, e->patient.tp + e->patient.fn,
                    e->patient.tp, e->patient.fn);
            fprintf(fj, "\n  ],\n  \"mean\": {\"accuracy\": %.6f, \"sens_covid\": %.6f, \"sens_normal\": %.6f, "
                        "\"normal_cases\": %.2f, \"normal_correct\": %.2f, \"normal_wrong\": %.2f, \"covid_cases\": "
                        "%.2f, \"covid_correct\": %.2f, \"covid_wrong\": %.2f},\n  \"patients_correct\": %d,\n"
                        "  \"patients\": %d,\n  \"pooled\": {\n", m.acc, m.sens_covid, m.sens_normal, nm[0], nm[1],
                    nm[2], nm[3], nm[4], nm[5], correct, total);
        }
        double v[7] = {e->auc_image, e->auc_image_ci.lo, e->auc_image_ci.hi, e->auc_patient, e->auc_patient_ci.lo,
                       e->auc_patient_ci.hi, e->brier};
        for (int k = 0; k < 7; k++) {
            csv_num(fc, v[k]);
            fputc(k < 6 ? ',' : '\n', fc);
        }
        ctvk_eval_stats_json(fj, i < n ? "      " : "    ", e);
        fprintf(fj, i < n ? "      \"images\": %ld}" : "    \"images\": %ld\n  }\n}\n",
                e->image.tp + e->image.fn + e->image.fp + e->image.tn);
    }
    int bad = ferror(fc) || ferror(fj);
    bad |= fclose(fc) != 0;
    bad |= fclose(fj) != 0;
    free(st);
    if (bad) { free(csv), free(json); fprintf(stderr, "ctvk cv: out of host memory\n"); return 1; }
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    int rc = 0;
    if (ctvk_write_file_atomic(path, csv, a)) rc = cli_fail("cv");
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (!rc && ctvk_write_file_atomic(path, json, j)) rc = cli_fail("cv");
    if (!rc) printf("summary: %s/summary.csv, %s/summary.json, summary_roc.csv, summary_reliability.csv\n", dir, dir);
    free(csv);
    free(json);
    return rc;
}

int cmd_cv(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    int folds[64], nfolds = 0, resume = 0, overwrite = 0;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("cv", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (!strcmp(argv[i], "--folds")) {
            if (i + 1 >= argc || (nfolds = parse_folds(argv[i + 1], folds, 64)) <= 0)
                return cli_usage_error("cv", "--folds needs a list like 1,3");
            i += 2;
            continue;
        }
        if (!strcmp(argv[i], "--resume")) { resume |= 1; i++; continue; }
        if (!strcmp(argv[i], "--allow-changes")) { resume |= CTVK_RESUME_ALLOW_CHANGES; i++; continue; }
        if (!strcmp(argv[i], "--overwrite")) { overwrite = 1; i++; continue; }
        if (argv[i][0] == '-') return cli_usage_error("cv", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("cv", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    if (!config) return cli_usage_error("cv", "a config file is required");
    if (resume == CTVK_RESUME_ALLOW_CHANGES) return cli_usage_error("cv", "--allow-changes goes with --resume");
    if ((resume & 1) && overwrite) return cli_usage_error("cv", "--resume and --overwrite exclude each other");
    for (int i = 0; i < nfolds; i++)
        for (int j = 0; j < i; j++)
            if (folds[i] == folds[j]) return cli_usage_error("cv", "--folds names fold %d twice", folds[i]);
    ctvk_config *cfg;
    ctvk_ctx *ctx = NULL;
    char dir[4096];
    int rc = run_load("cv", config, &com, &cfg, dir, sizeof dir);
    if (rc) return rc;
    ctvk_dataset *ds = NULL;
    fold_row *rows = NULL;
    ctvk_data_options dopt;
    if ((rc = run_lock("cv", dir, argc, argv))) goto out;
    if (ctvk_data_from_config(cfg, &dopt) || ctvk_dataset_open(&dopt, &ds)) { rc = cli_fail("cv"); goto out; }
    for (int i = 0; i < ds->nwarnings; i++) fprintf(stderr, "ctvk cv: warning: %s\n", ds->warnings[i]);
    if (!nfolds) for (int i = 0; i < ds->nfolds && i < 64; i++) folds[nfolds++] = ds->folds[i].k;
    /* every fold of the list is checked before the first one trains */
    for (int i = 0; i < nfolds; i++) {
        int have = 0;
        for (int j = 0; j < ds->nfolds; j++) have |= ds->folds[j].k == folds[i];
        if (!have) {
            rc = cli_usage_error("cv", "--folds: the dataset has no fold %d (it has %d; [data] folds_dir)", folds[i],
                                 ds->nfolds);
            goto out;
        }
    }
    for (int i = 0; i < nfolds; i++)
        if ((rc = run_check_fold("cv", dir, folds[i], resume, overwrite))) goto out;
    if ((rc = run_start("cv", cfg, &com, dir, &ctx))) goto out;
    rows = calloc((size_t)nfolds, sizeof *rows);
    if (!rows) { fprintf(stderr, "ctvk cv: out of host memory\n"); rc = 1; goto out; }
    /* under MPI the folds are spread over the ranks (fold i on rank i % ranks), each trained by its
     * rank alone; the results meet on rank 0 for the summary */
    int wr = ctvk_dist_world_rank(), ws = ctvk_dist_world_size();
    ctvk_status st = CTVK_OK;
    ctvk_dist_solo(1);
    for (int i = wr; i < nfolds && !st; i += ws) {
        ctvk_train_result r;
        if (ws > 1) fprintf(stderr, "== fold %d (%d of %d) on rank %d\n", folds[i], i + 1, nfolds, wr);
        else fprintf(stderr, "== fold %d (%d of %d)\n", folds[i], i + 1, nfolds);
        st = ctvk_train_fold(ctx, cfg, folds[i], dir, resume, stderr, &r);
        if (!st) st = evaluate_fold(ctx, cfg, ds, folds[i], dir, &rows[i]);
        if (!st)
            fprintf(stderr, "fold %d: test accuracy %.2f%%, patients correct %d of %d\n", folds[i], 100 * rows[i].acc,
                    rows[i].normal_correct + rows[i].covid_correct, rows[i].normal_cases + rows[i].covid_cases);
    }
    ctvk_dist_solo(0);
    st = ctvk_dist_agree(st);
    if (!st) st = gather_rows(rows, nfolds);
    if (st) {
        rc = st == CTVK_ERR_INTERRUPTED ? 130 : 1;
        cli_fail("cv");
        goto out;
    }
    if (wr != 0) goto out;
    rc = write_summary(cfg, dir, rows, nfolds);
out:
    free(rows);
    ctvk_dataset_free(ds);
    ctvk_destroy(ctx);
    ctvk_config_free(cfg);
    return rc;
}
