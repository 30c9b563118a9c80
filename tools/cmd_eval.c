/* ctvk eval: a checkpoint on one fold's test list, image- and patient-level (Tables 2 and 4). */
#include "ctvk/checkpoint.h"
#include "ctvk/pipeline.h"
#include "tools/cli.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char cmd_eval_help[] =
    "usage: ctvk eval CONFIG --checkpoint C --fold K [--out DIR] [--overwrite] [--set section.key=value]\n"
    "                 [--device D]\n\n"
    "Evaluates checkpoint C on the test list of fold K of the config's dataset ([data]): every test\n"
    "image is classified (argmax of the softmax); with [eval] selection = true the slices that the\n"
    "selection algorithm keeps from each test patient's full series ([data] series_root) are\n"
    "classified instead. A patient is COVID iff its COVID slices >= [eval] covid_fraction (0.1) x its\n"
    "slices. Prints the image-level table (accuracy, COVID and normal sensitivity, as the paper's\n"
    "Table 2) and the patient-level table (Table 4) with 95% intervals beside them (Wilson score\n"
    "intervals for proportions; the AUCs of P(COVID) per image and of the fraction of COVID slices per\n"
    "patient with a stratified bootstrap over patients, [eval] bootstrap = 2000 replicates, seed\n"
    "[eval] bootstrap_seed = 1), PPV, NPV and the Brier score, and writes eval.json, eval_images.csv,\n"
    "eval_patients.csv, eval_roc.csv and eval_reliability.csv into the checkpoint's folder (or DIR).\n\n"
    "  --checkpoint C   a ctvk checkpoint (best.ckpt of a run, or import-keras output)\n"
    "  --fold K         1-based fold number (test{K}.csv)\n"
    "  --out DIR        where to write the three files (created)\n"
    "  --overwrite      replace an eval.json already there (from cv or an earlier eval): refused otherwise\n"
    "  --set s.k=v      override a config key (repeatable)\n"
    "  --device D       device index or name\n";

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            *s = c;
            if (!c) break;
        }
    }
    return 0;
}

/* "12.34% [10.00, 15.00]": a proportion and its interval, in percent */
static void pct_ci(char *buf, size_t n, double v, ctvk_interval c)
{
    snprintf(buf, n, "%.2f%% [%.2f, %.2f]", 100 * v, 100 * c.lo, 100 * c.hi);
}

static void auc_ci(char *buf, size_t n, double v, ctvk_interval c)
{
    if (isnan(v)) snprintf(buf, n, "n/a (one class)");
    else if (isnan(c.lo)) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "%.4f [%.4f, %.4f]", v, c.lo, c.hi);
}

void cli_print_eval_tables(FILE *f, const char *fold, const ctvk_eval_result *r, double covid_fraction);
void cli_print_eval_tables(FILE *f, const char *fold, const ctvk_eval_result *r, double covid_fraction)
{
    const ctvk_eval_stats *st = &r->stats;
    char a[64], b[64], c[64], d[64];
    fprintf(f, "\nImage level (Table 2): %zu images\n", r->n);
    if (!r->have_stats) {
        fprintf(f, "%-8s %10s %18s %19s\n", "Fold", "Accuracy", "COVID sensitivity", "Normal sensitivity");
        fprintf(f, "%-8s %9.2f%% %17.2f%% %18.2f%%\n", fold, 100 * r->accuracy, 100 * r->sens_covid, 100 * r->sens_normal);
    } else {
        long nimg = r->confusion[0][0] + r->confusion[0][1] + r->confusion[1][0] + r->confusion[1][1];
        pct_ci(a, sizeof a, r->accuracy, ctvk_wilson(r->confusion[0][0] + r->confusion[1][1], nimg));
        pct_ci(b, sizeof b, st->image.sens, st->image.sens_ci);
        pct_ci(c, sizeof c, st->image.spec, st->image.spec_ci);
        auc_ci(d, sizeof d, st->auc_image, st->auc_image_ci);
        fprintf(f, "%-8s %24s %28s %28s %26s\n", "Fold", "Accuracy [95% CI]", "COVID sensitivity [95% CI]",
                "Normal sensitivity [95% CI]", "AUC [95% CI]");
        fprintf(f, "%-8s %24s %28s %28s %26s\n", fold, a, b, c, d);
    }
    fprintf(f, "confusion (rows true, columns predicted): covid [%ld %ld], normal [%ld %ld]\n", r->confusion[0][0],
            r->confusion[0][1], r->confusion[1][0], r->confusion[1][1]);
    if (r->have_stats) {
        pct_ci(a, sizeof a, st->image.ppv, st->image.ppv_ci);
        pct_ci(b, sizeof b, st->image.npv, st->image.npv_ci);
        fprintf(f, "PPV %s, NPV %s; Brier score %.4f\n", a, b, st->brier);
    }
    fprintf(f, "\nPatient level (Table 4): COVID iff COVID slices >= %g x slices\n", covid_fraction);
    if (!r->have_stats) {
        fprintf(f, "%-8s %12s %8s %6s %11s %8s %6s\n", "Fold", "Normal cases", "Correct", "Wrong", "COVID cases",
                "Correct", "Wrong");
        fprintf(f, "%-8s %12d %8d %6d %11d %8d %6d\n", fold, r->normal_cases, r->normal_correct, r->normal_wrong,
                r->covid_cases, r->covid_correct, r->covid_wrong);
        return;
    }
    pct_ci(a, sizeof a, st->patient.spec, st->patient.spec_ci);
    pct_ci(b, sizeof b, st->patient.sens, st->patient.sens_ci);
    auc_ci(c, sizeof c, st->auc_patient, st->auc_patient_ci);
    /* the six counts first (as the paper's table), then the intervals of the two correct columns */
    fprintf(f, "%-8s %12s %8s %6s %11s %8s %6s %24s %24s %26s\n", "Fold", "Normal cases", "Correct", "Wrong",
            "COVID cases", "Correct", "Wrong", "Normal correct [95% CI]", "COVID correct [95% CI]", "AUC [95% CI]");
    fprintf(f, "%-8s %12d %8d %6d %11d %8d %6d %24s %24s %26s\n", fold, r->normal_cases, r->normal_correct,
            r->normal_wrong, r->covid_cases, r->covid_correct, r->covid_wrong, a, b, c);
    pct_ci(a, sizeof a, st->patient.ppv, st->patient.ppv_ci);
    pct_ci(b, sizeof b, st->patient.npv, st->patient.npv_ci);
    fprintf(f, "PPV %s, NPV %s\n", a, b);
    if (st->replicates)
        fprintf(f, "(proportions: Wilson score intervals; AUCs: stratified bootstrap over patients, %d replicates, "
                   "seed %llu)\n", st->replicates, (unsigned long long)st->seed);
    else fprintf(f, "(proportions: Wilson score intervals; [eval] bootstrap = 0: no AUC intervals)\n");
}

int cmd_eval(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL, *ckpt = NULL, *out = NULL, *fold_s = NULL;
    int overwrite = 0;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("eval", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        const char *a = argv[i];
        if (a[0] != '-') {
            if (config) return cli_usage_error("eval", "unexpected argument '%s' (one CONFIG)", a);
            config = a;
            i++;
            continue;
        }
        if (!strcmp(a, "--overwrite")) { overwrite = 1; i++; continue; }
        const char **dst = !strcmp(a, "--checkpoint") ? &ckpt : !strcmp(a, "--out") ? &out
                         : !strcmp(a, "--fold") ? &fold_s : NULL;
        if (!dst) return cli_usage_error("eval", "unknown option '%s'", a);
        if (i + 1 >= argc) return cli_usage_error("eval", "%s needs a value", a);
        *dst = argv[i + 1];
        i += 2;
    }
    if (!config) return cli_usage_error("eval", "CONFIG is required");
    if (!ckpt) return cli_usage_error("eval", "--checkpoint is required");
    if (!fold_s) return cli_usage_error("eval", "--fold is required");
    char *end;
    errno = 0;
    long fold = strtol(fold_s, &end, 10);
    if (errno || *end || end == fold_s || fold < 1 || fold > 1000)
        return cli_usage_error("eval", "--fold '%s': a fold number (1, 2, ...)", fold_s);

    /* where the results go, and whether that would replace earlier ones: said before any work */
    char dir[4096], prev[4200];
    if (out) {
        snprintf(dir, sizeof dir, "%s", out);
    } else {
        snprintf(dir, sizeof dir, "%s", ckpt);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    snprintf(prev, sizeof prev, "%s/eval.json", dir);
    struct stat pst;
    if (!overwrite && stat(prev, &pst) == 0) {
        fprintf(stderr, "ctvk eval: %s already holds the results of an evaluation (from cv or an earlier eval): "
                "write these into another folder with --out DIR, or replace them with --overwrite\n", prev);
        return 1;
    }
    ctvk_model_config mc;
    if (ctvk_checkpoint_peek_config(ckpt, &mc)) return cli_fail("eval");
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("eval", config, &com, &cfg);
    if (rc) return rc;
    ctvk_data_options dopt;
    ctvk_eval_options eo;
    ctvk_select_params sp;
    ctvk_dataset *d = NULL;
    ctvk_ctx *ctx = NULL;
    ctvk_net *net = NULL;
    ctvk_graph g = {0};
    ctvk_eval_result r = {0};
    rc = 1;
    if (ctvk_data_from_config(cfg, &dopt) || ctvk_eval_options_from_config(cfg, &eo) ||
        ctvk_eval_options_from_model(cfg, &mc, ckpt, &eo) ||
        ctvk_select_from_config(cfg, &sp) || ctvk_dataset_open(&dopt, &d)) {
        rc = cli_fail("eval");
        goto done;
    }
    const ctvk_fold *fd = NULL;
    for (int i = 0; i < d->nfolds; i++)
        if (d->folds[i].k == fold) fd = &d->folds[i];
    if (!fd) {
        fprintf(stderr, "ctvk eval: the dataset has no fold %ld (%d fold%s; [data] folds_dir)\n", fold, d->nfolds,
                d->nfolds == 1 ? "" : "s");
        goto done;
    }
    ctvk_options dev;
    if ((rc = cli_device_options("eval", cfg, &com, &dev))) goto done;
    rc = 1;
    if (ctvk_create(&dev, &ctx) || cli_prewarm_inference(ctx, &mc, eo.batch) ||
        ctvk_net_from_checkpoint(ctx, ckpt, eo.batch, &g, &net)) {
        rc = cli_fail("eval");
        goto done;
    }
    fprintf(stderr, "evaluating %s (%s, %dx%d) on fold %ld: %zu test images%s, on %s\n", ckpt, mc.arch, mc.height,
            mc.width, fold, fd->test.n, eo.selection ? " (their patients' selected slices instead)" : "",
            ctvk_device(ctx)->name);
    if (ctvk_evaluate_select(ctx, net, d, &fd->test, &eo, &sp, &r) ||
        ctvk_model_identity_get(ckpt, ctvk_device(ctx)->name, &r.model)) {
        rc = cli_fail("eval");
        goto done;
    }
    r.have_model = 1;
    char label[32];
    snprintf(label, sizeof label, "Fold %ld", fold);
    cli_print_eval_tables(stdout, label, &r, eo.covid_fraction);
    printf("\n%zu images in %.2f s (%.1f images/s)\n", r.n, r.seconds, r.seconds > 0 ? (double)r.n / r.seconds : 0.0);
    ctvk_model_identity_text(stdout, &r.model);
    if (out && mkdir_p(dir)) {
        fprintf(stderr, "ctvk eval: %s: cannot create the folder (%s)\n", dir, strerror(errno));
        goto done;
    }
    if (ctvk_eval_write(dir, &r) || (eo.cam && ctvk_eval_cam_write(ctx, net, dir, &r, &eo))) {
        rc = cli_fail("eval");
        goto done;
    }
    printf("wrote %s/eval.json, eval_images.csv, eval_patients.csv, eval_roc.csv, eval_reliability.csv%s\n", dir,
           eo.cam ? ", eval_cam.csv and cam/ (Grad-CAM of each patient's top slice)" : "");
    rc = 0;
done:
    ctvk_eval_result_free(&r);
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    ctvk_destroy(ctx);
    ctvk_dataset_free(d);
    ctvk_config_free(cfg);
    return rc;
}
