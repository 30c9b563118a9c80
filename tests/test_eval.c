/* Evaluation: options from a config, the patient rule and its ties, image metrics and patient
 * aggregation on hand-made results, then a real evaluation of a small ResNet checkpoint on a phantom
 * fold against the reference executor (per-image argmax and probabilities), batch sizes, slice
 * selection, and the three files parsed back. */
#include "check.h"
#include "ctvk/checkpoint.h"
#include "ctvk/pipeline.h"
#include "net/exec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void options(void)
{
    ctvk_config *cfg = NULL;
    ctvk_eval_options o;
    CHECK(ctvk_config_load(NULL, &cfg) == CTVK_OK, "empty config");
    CHECK(ctvk_eval_options_from_config(cfg, &o) == CTVK_OK, "defaults: %s", ctvk_error());
    CHECK(o.batch == 10 && o.covid_fraction == 0.1 && o.selection == 0 && o.scale == 1.0f && o.offset == 0.0f &&
              o.size == 512 && o.resize == 0, "defaults: batch %d f %g sel %d scale %g offset %g size %d resize %d",
          o.batch, o.covid_fraction, o.selection, o.scale, o.offset, o.size, o.resize);
    ctvk_config_set(cfg, "eval.batch=7");
    ctvk_config_set(cfg, "eval.covid_fraction=0.3");
    ctvk_config_set(cfg, "eval.selection=true");
    ctvk_config_set(cfg, "data.scale=0.001");
    ctvk_config_set(cfg, "data.offset=-1");
    ctvk_config_set(cfg, "data.resize=true");
    ctvk_config_set(cfg, "model.input_size=64");
    CHECK(ctvk_eval_options_from_config(cfg, &o) == CTVK_OK, "set: %s", ctvk_error());
    CHECK(o.batch == 7 && o.covid_fraction == 0.3 && o.selection == 1 && o.scale == 0.001f && o.offset == -1.0f &&
              o.size == 64 && o.resize == 1, "values read");
    ctvk_config_set(cfg, "model.height=64");
    ctvk_config_set(cfg, "model.width=64");
    CHECK(ctvk_eval_options_from_config(cfg, &o) == CTVK_OK && o.size == 64, "equal height and width");
    ctvk_config_set(cfg, "model.width=32");
    CHECK(ctvk_eval_options_from_config(cfg, &o) == CTVK_ERR_ARG && strstr(ctvk_error(), "square"),
          "height != width: %s", ctvk_error());
    ctvk_config_set(cfg, "model.width=64");
    ctvk_config_set(cfg, "eval.batch=0");
    CHECK(ctvk_eval_options_from_config(cfg, &o) != CTVK_OK && strstr(ctvk_error(), "batch"), "batch 0: %s",
          ctvk_error());
    ctvk_config_set(cfg, "eval.batch=4096");
    ctvk_config_set(cfg, "eval.covid_fraction=1.5");
    CHECK(ctvk_eval_options_from_config(cfg, &o) != CTVK_OK && strstr(ctvk_error(), "covid_fraction"),
          "fraction 1.5: %s", ctvk_error());
    ctvk_config_free(cfg);
}

static void decisions(void)
{
    /* exact ties count, whatever the rounding of f x slices (0.1 x 30 = 3.0000000000000004) */
    CHECK(ctvk_patient_decision(30, 3, 0.1) == CTVK_CLASS_COVID, "3 of 30 at 0.1 is COVID");
    CHECK(ctvk_patient_decision(30, 2, 0.1) == CTVK_CLASS_NORMAL, "2 of 30 at 0.1 is normal");
    CHECK(ctvk_patient_decision(10, 3, 0.3) == CTVK_CLASS_COVID, "3 of 10 at 0.3 is COVID");
    CHECK(ctvk_patient_decision(10, 2, 0.3) == CTVK_CLASS_NORMAL, "2 of 10 at 0.3 is normal");
    CHECK(ctvk_patient_decision(7, 1, 0.1) == CTVK_CLASS_COVID, "1 of 7 at 0.1 is COVID (0.7 slices needed)");
    CHECK(ctvk_patient_decision(11, 1, 0.1) == CTVK_CLASS_NORMAL, "1 of 11 at 0.1 is normal (1.1 needed)");
    CHECK(ctvk_patient_decision(10, 0, 0.0) == CTVK_CLASS_COVID, "f = 0: every patient is COVID");
    CHECK(ctvk_patient_decision(10, 10, 1.0) == CTVK_CLASS_COVID && ctvk_patient_decision(10, 9, 1.0) == CTVK_CLASS_NORMAL,
          "f = 1: all slices needed");
    CHECK(ctvk_patient_decision(0, 0, 0.1) == CTVK_CLASS_NORMAL, "no slices: normal");
}

static void aggregation(void)
{
    /* 10 images of 4 patients (patient 2 has none; -1 is skipped) */
    uint8_t labels[10] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    uint8_t preds[10] = {1, 1, 1, 1, 0, 0, 1, 1, 1, 0};
    int patient[10] = {0, 0, 0, 0, 0, 3, 3, 3, 4, -1};
    const char *ids[5] = {"patient1", "patient2", "patient3", "patient7", "patient9"};
    int plabels[5] = {0, 0, 0, 1, 1};
    ctvk_eval_result r = {0};
    r.n = 10, r.labels = labels, r.preds = preds;
    ctvk_eval_image_metrics(&r);
    CHECK(r.confusion[0][0] == 1 && r.confusion[0][1] == 4 && r.confusion[1][0] == 2 && r.confusion[1][1] == 3,
          "confusion [[1,4],[2,3]]: [[%ld,%ld],[%ld,%ld]]", r.confusion[0][0], r.confusion[0][1], r.confusion[1][0],
          r.confusion[1][1]);
    CHECK(fabs(r.accuracy - 0.4) < 1e-15 && fabs(r.sens_covid - 0.2) < 1e-15 && fabs(r.sens_normal - 0.6) < 1e-15,
          "accuracy 0.4, sensitivities 0.2 and 0.6: %g %g %g", r.accuracy, r.sens_covid, r.sens_normal);
    CHECK(ctvk_eval_patients(&r, patient, 5, ids, plabels, 0.1) == CTVK_OK, "patients");
    CHECK(r.npatients == 3, "3 patients with images: %d", r.npatients);
    if (r.npatients == 3) {
        CHECK(!strcmp(r.patients[0].id, "patient1") && r.patients[0].slices == 5 && r.patients[0].covid_slices == 1 &&
                  fabs(r.patients[0].fraction - 0.2) < 1e-15 && r.patients[0].decision == CTVK_CLASS_COVID,
              "patient1: 1 of 5 covid at 0.1 -> COVID");
        CHECK(!strcmp(r.patients[1].id, "patient7") && r.patients[1].label == 1 && r.patients[1].slices == 3 &&
                  r.patients[1].covid_slices == 1 && r.patients[1].decision == CTVK_CLASS_COVID,
              "patient7: 1 of 3 -> COVID (wrong)");
        CHECK(!strcmp(r.patients[2].id, "patient9") && r.patients[2].slices == 1 && r.patients[2].covid_slices == 0 &&
                  r.patients[2].decision == CTVK_CLASS_NORMAL, "patient9: 0 of 1 -> normal");
    }
    CHECK(r.covid_cases == 1 && r.covid_correct == 1 && r.covid_wrong == 0 && r.normal_cases == 2 &&
              r.normal_correct == 1 && r.normal_wrong == 1, "Table 4 at 0.1: covid 1/1/0, normal 2/1/1");
    CHECK(ctvk_eval_patients(&r, patient, 5, ids, plabels, 0.5) == CTVK_OK, "patients at 0.5");
    CHECK(r.npatients == 3 && r.patients[0].decision == CTVK_CLASS_NORMAL && r.patients[1].decision == CTVK_CLASS_NORMAL &&
              r.covid_correct == 0 && r.covid_wrong == 1 && r.normal_correct == 2 && r.normal_wrong == 0,
          "Table 4 at 0.5: covid 1/0/1, normal 2/2/0");
    CHECK(ctvk_eval_patients(&r, patient, 5, ids, plabels, 0.2) == CTVK_OK && r.patients[0].decision == CTVK_CLASS_COVID &&
              r.patients[1].decision == CTVK_CLASS_COVID, "at 0.2: 1 of 5 (a tie) and 1 of 3 are COVID");
    int want_ip[10] = {0, 0, 0, 0, 0, 1, 1, 1, 2, -1};
    CHECK(r.image_patient && !memcmp(r.image_patient, want_ip, sizeof want_ip), "each image's patient index");
    free(r.patients);
    free(r.image_patient);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc((size_t)n + 1, 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    fclose(f);
    return s;
}

static double json_num(const char *json, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = json ? strstr(json, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

static void files(const char *dir, const ctvk_eval_result *r)
{
    CHECK(ctvk_eval_write(dir, r) == CTVK_OK, "write: %s", ctvk_error());
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.json", dir);
    char *js = slurp(path);
    CHECK(js != NULL, "eval.json exists");
    CHECK(json_num(js, "images") == (double)r->n && json_num(js, "accuracy") == r->accuracy &&
              json_num(js, "sens_covid") == r->sens_covid && json_num(js, "sens_normal") == r->sens_normal,
          "eval.json numbers read back exactly");
    CHECK(json_num(js, "covid_cases") == r->covid_cases && json_num(js, "covid_correct") == r->covid_correct &&
              json_num(js, "normal_cases") == r->normal_cases && json_num(js, "normal_wrong") == r->normal_wrong,
          "eval.json Table 4 counts");
    char conf[128];
    snprintf(conf, sizeof conf, "\"confusion\": [[%ld, %ld], [%ld, %ld]]", r->confusion[0][0], r->confusion[0][1],
             r->confusion[1][0], r->confusion[1][1]);
    CHECK(js && strstr(js, conf), "eval.json confusion %s", conf);
    int npat_json = 0;
    for (const char *p = js; p && (p = strstr(p, "\"patient\": ")); p++) npat_json++;
    CHECK(npat_json == r->npatients, "eval.json lists %d patients (%d)", npat_json, r->npatients);
    free(js);

    snprintf(path, sizeof path, "%s/eval_images.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "eval_images.csv");
    char line[8192];
    size_t rows = 0, bad = 0;
    if (f) {
        CHECK(fgets(line, sizeof line, f) && !strcmp(line, "path,label,prob_covid,pred,patient\n"), "images header");
        while (fgets(line, sizeof line, f)) {
            char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL, *c3 = c2 ? strchr(c2 + 1, ',') : NULL;
            if (!c3 || rows >= r->n) { bad++; rows++; continue; }
            *c1 = *c2 = *c3 = 0;
            c3[strcspn(c3 + 1, ",\n") + 1] = 0;
            float p = strtof(c2 + 1, NULL);
            if (strcmp(line, r->paths[rows]) || strcmp(c1 + 1, ctvk_class_name(r->labels[rows])) ||
                p != r->prob_covid[rows] || strcmp(c3 + 1, ctvk_class_name(r->preds[rows])))
                bad++;
            rows++;
        }
        fclose(f);
    }
    CHECK(rows == r->n && bad == 0, "eval_images.csv: %zu rows (%zu), %zu differ", rows, r->n, bad);

    snprintf(path, sizeof path, "%s/eval_patients.csv", dir);
    f = fopen(path, "r");
    CHECK(f != NULL, "eval_patients.csv");
    rows = bad = 0;
    if (f) {
        CHECK(fgets(line, sizeof line, f) && !strcmp(line, "patient,label,slices,covid_slices,fraction,decision\n"),
              "patients header");
        while (fgets(line, sizeof line, f)) {
            char id[64], label[16], dec[16];
            int sl, cs;
            double fr;
            if (rows >= (size_t)r->npatients ||
                sscanf(line, "%63[^,],%15[^,],%d,%d,%lf,%15[^\n]", id, label, &sl, &cs, &fr, dec) != 6) {
                bad++, rows++;
                continue;
            }
            const ctvk_patient_result *p = &r->patients[rows++];
            if (strcmp(id, p->id) || strcmp(label, ctvk_class_name(p->label)) || sl != p->slices ||
                cs != p->covid_slices || fr != p->fraction || strcmp(dec, ctvk_class_name(p->decision)))
                bad++;
        }
        fclose(f);
    }
    CHECK(rows == (size_t)r->npatients && bad == 0, "eval_patients.csv: %zu rows, %zu differ", rows, bad);
}

static void device(void)
{
    char *tmp = check_tmpdir("eval");
    char ph[4096], ckpt[4200];
    snprintf(ph, sizeof ph, "%s/ph", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/model.ckpt", tmp);
    const int S = 32;
    ctvk_phantom_options po;
    ctvk_phantom_defaults(&po);
    po.out = ph, po.covid = 5, po.normal = 5, po.slices = 6, po.size = S, po.seed = 3;
    ctvk_phantom_report rep;
    if (ctvk_phantom_write(&po, &rep) != CTVK_OK) {
        CHECK(0, "phantom: %s", ctvk_error());
        return;
    }
    CHECK(rep.folds == 5, "phantom has folds");

    ctvk_model_config mc;
    check_tiny_resnet(&mc, S);
    ctvk_graph g;
    CHECK(ctvk_graph_build(&mc, &g) == CTVK_OK, "build: %s", ctvk_error());
    float *params = malloc(g.params_total * sizeof *params);
    ctvk_graph_init_params(&g, params, 7);
    ctvk_checkpoint ck = {0};
    ck.params = params, ck.params_total = g.params_total;
    CHECK(ctvk_checkpoint_save(ckpt, &g, &ck) == CTVK_OK, "save: %s", ctvk_error());

    ctvk_data_options dopt;
    ctvk_data_defaults(&dopt);
    char flat[4200], folds[4200], full[4200];
    snprintf(flat, sizeof flat, "%s/flat", ph);
    snprintf(folds, sizeof folds, "%s/folds", ph);
    snprintf(full, sizeof full, "%s/full", ph);
    dopt.root = flat, dopt.folds_dir = folds, dopt.series_root = full, dopt.image_size = S;
    ctvk_dataset *d = NULL;
    CHECK(ctvk_dataset_open(&dopt, &d) == CTVK_OK, "dataset: %s", ctvk_error());
    if (!d) return;
    const ctvk_image_list *test = &d->folds[0].test;
    printf("fold 1 test: %zu images\n", test->n);
    CHECK(test->n >= 4, "enough test images");

    ctvk_ctx *ctx = check_ctx(NULL);
    ctvk_graph g2;
    ctvk_net *net = NULL;
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/none.ckpt", tmp);
    CHECK(ctvk_net_from_checkpoint(ctx, missing, 4, &g2, &net) != CTVK_OK && strstr(ctvk_error(), "none.ckpt") && !net,
          "a missing checkpoint fails naming it: %s", ctvk_error());
    CHECK(ctvk_net_from_checkpoint(ctx, ckpt, 10, &g2, &net) == CTVK_OK, "net from checkpoint: %s", ctvk_error());
    if (!net) return;
    CHECK(g2.params_total == g.params_total && g2.cfg.height == S, "the checkpoint's graph");

    ctvk_eval_options o = {0};
    o.batch = 10, o.covid_fraction = 0.1, o.scale = 1.0f / 1000.0f, o.offset = -1.0f, o.size = S;
    ctvk_eval_result r;
    CHECK(ctvk_evaluate(ctx, net, d, test, &o, &r) == CTVK_OK, "evaluate: %s", ctvk_error());
    CHECK(r.n == test->n, "every test image classified");
    long total = r.confusion[0][0] + r.confusion[0][1] + r.confusion[1][0] + r.confusion[1][1];
    long trow[2] = {0, 0}, prow[2] = {0, 0};
    for (size_t i = 0; i < r.n; i++) trow[r.labels[i]]++, prow[r.preds[i]]++;
    CHECK(total == (long)r.n && r.confusion[0][0] + r.confusion[0][1] == trow[0] &&
              r.confusion[0][0] + r.confusion[1][0] == prow[0], "confusion sums: %ld of %zu", total, r.n);
    CHECK(fabs(r.accuracy - (double)(r.confusion[0][0] + r.confusion[1][1]) / (double)r.n) < 1e-15, "accuracy");
    int in_list = 0;
    for (int p = 0; p < d->npatients; p++)
        for (size_t i = 0; i < test->n; i++)
            if (test->patients[i] == p) { in_list++; break; }
    CHECK(r.npatients == in_list && r.covid_cases + r.normal_cases == in_list &&
              r.covid_correct + r.covid_wrong == r.covid_cases && r.normal_correct + r.normal_wrong == r.normal_cases,
          "patients: %d of %d", r.npatients, in_list);
    int pslices = 0;
    for (int p = 0; p < r.npatients; p++) {
        pslices += r.patients[p].slices;
        CHECK(r.patients[p].decision == ctvk_patient_decision(r.patients[p].slices, r.patients[p].covid_slices, 0.1),
              "%s decided by the rule", r.patients[p].id);
    }
    CHECK(pslices == (int)r.n, "patients' slices add up");

    /* the reference executor on the first images */
    int nref = r.n < 6 ? (int)r.n : 6;
    size_t img = (size_t)S * S;
    uint16_t *raw = malloc(img * sizeof *raw);
    double *x = malloc((size_t)nref * img * sizeof *x), *pd = malloc(g.params_total * sizeof *pd);
    double *probs = malloc((size_t)nref * 2 * sizeof *probs);
    for (int i = 0; i < nref; i++) {
        CHECK(ctvk_tiff_read(r.paths[i], S, 0, raw, NULL) == CTVK_OK, "read");
        for (size_t k = 0; k < img; k++) x[(size_t)i * img + k] = (double)(o.scale * (float)raw[k] + o.offset);
    }
    for (size_t k = 0; k < g.params_total; k++) pd[k] = params[k];
    CHECK(ctvk_ref_net_forward(&g, pd, nref, x, 0, 0, probs) == CTVK_OK, "reference forward");
    int compared = 0;
    double worst = 0;
    for (int i = 0; i < nref; i++) {
        worst = fmax(worst, fabs(probs[2 * i] - r.prob_covid[i]));
        if (fabs(probs[2 * i] - probs[2 * i + 1]) < 1e-3) continue;   /* too close to call */
        int want = probs[2 * i + 1] > probs[2 * i] ? 1 : 0;
        CHECK(r.preds[i] == want, "image %d: pred %d, reference argmax %d (%.6f %.6f)", i, r.preds[i], want,
              probs[2 * i], probs[2 * i + 1]);
        compared++;
    }
    printf("reference: %d images, prob_covid worst abs error %.3g (p0 = %.4f)\n", nref, worst, probs[0]);
    CHECK(worst < 1e-3, "prob_covid matches the reference: %.3g", worst);
    CHECK(compared >= 3, "at least 3 decisive images compared (%d)", compared);

    /* batch sizes that do not divide the list, and batch 1, give the same answers */
    int bsz[2] = {4, 1};
    for (int b = 0; b < 2; b++) {
        ctvk_eval_result r2;
        o.batch = bsz[b];
        CHECK(ctvk_evaluate(ctx, net, d, test, &o, &r2) == CTVK_OK, "evaluate batch %d: %s", bsz[b], ctvk_error());
        int same = r2.n == r.n;
        double wd = 0;
        for (size_t i = 0; same && i < r.n; i++) {
            wd = fmax(wd, fabs(r2.prob_covid[i] - r.prob_covid[i]));
            if (fabs(r.prob_covid[i] - 0.5) > 1e-3 && r2.preds[i] != r.preds[i]) same = 0;
        }
        CHECK(same && wd < 1e-4, "batch %d agrees with batch 10 (worst %.3g)", bsz[b], wd);
        ctvk_eval_result_free(&r2);
    }
    o.batch = 10;

    files(tmp, &r);

    /* selection: the kept slices of each test patient's full series */
    ctvk_eval_result rs;
    o.selection = 1;
    ctvk_select_params sp;
    ctvk_select_defaults(&sp);
    CHECK(ctvk_evaluate_select(ctx, net, d, test, &o, &sp, &rs) == CTVK_OK, "evaluate with selection: %s", ctvk_error());
    CHECK(rs.npatients == r.npatients, "selection: same patients (%d, %d)", rs.npatients, r.npatients);
    size_t want_kept = 0;
    for (int p = 0; p < rs.npatients; p++) {
        char pdir[4400];
        int found = 0;
        for (int k = 0; k < d->series->npatients; k++)
            if (!strcmp(d->series->patients[k].id, rs.patients[p].id)) found = 1;
        CHECK(found, "%s in the series", rs.patients[p].id);
        /* the patient's folder on its own gives the same kept count */
        for (int k = 0; k < d->series->nseries; k++) {
            const ctvk_series *se = &d->series->series[k];
            if (strcmp(d->series->patients[se->patient].id, rs.patients[p].id)) continue;
            snprintf(pdir, sizeof pdir, "%s/%s", full, se->name);
            ctvk_series_set *one = NULL;
            ctvk_selection sel = {0};
            if (ctvk_series_scan(pdir, &one) == CTVK_OK && ctvk_select_run(one, &sp, S, 0, 1, &sel) == CTVK_OK)
                want_kept += sel.kept;
            ctvk_selection_free(&sel);
            ctvk_series_free(one);
        }
    }
    CHECK(rs.n == want_kept && rs.n > 0, "selection: %zu slices kept, %zu by selecting each sequence alone", rs.n,
          want_kept);
    int lab_ok = 1;
    for (size_t i = 0; i < rs.n; i++) {
        char id[32];
        ctvk_patient_from_path(rs.paths[i], id, sizeof id);
        for (int q = 0; q < d->npatients; q++)
            if (!strcmp(d->patient_ids[q], id) && d->patient_labels[q] != rs.labels[i]) lab_ok = 0;
        if (strncmp(rs.paths[i], full, strlen(full))) lab_ok = 0;
    }
    CHECK(lab_ok, "selected slices come from the full tree with their patient's label");
    ctvk_eval_result_free(&rs);
    ctvk_dataset d_noseries = *d;
    d_noseries.series = NULL;
    CHECK(ctvk_evaluate(ctx, net, &d_noseries, test, &o, &rs) == CTVK_ERR_ARG && strstr(ctvk_error(), "series_root"),
          "selection without series: %s", ctvk_error());

    ctvk_eval_result_free(&r);
    free(raw), free(x), free(pd), free(probs), free(params);
    ctvk_net_destroy(net);
    ctvk_graph_free(&g2);
    ctvk_graph_free(&g);
    ctvk_dataset_free(d);
    check_ctx_done(ctx);
    free(tmp);
}

/* test_eval --fixture CKPT SIZE [ARCH]: writes a checkpoint (input SIZE, init seed 7, input transform
 * scale 0.001, offset -1) for the CLI tests and benchmarks: a two-stage small_resnet, or ARCH as
 * the paper defines it. */
static int fixture(const char *path, int size, const char *arch)
{
    ctvk_model_config mc;
    if (arch) {
        ctvk_model_config_default(&mc, arch);
        mc.height = mc.width = size;
    } else {
        check_tiny_resnet(&mc, size);
    }
    mc.input_scale = 0.001f, mc.input_offset = -1.0f;   /* what the CLI tests' configs feed it */
    ctvk_status s = check_write_checkpoint(path, &mc);
    if (s) fprintf(stderr, "%s\n", ctvk_error());
    return s ? 1 : 0;
}

int main(int argc, char **argv)
{
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--fixture"))
        return fixture(argv[2], atoi(argv[3]), argc == 5 ? argv[4] : NULL);
    options();
    decisions();
    aggregation();
    device();
    return check_done("test_eval");
}
