/* Datasets and folds: the official COVID-CTset fold lists (configs/covid-ctset/ of the repository),
 * counted from the CSVs alone, reproduce the published per-fold table of its README exactly and
 * report the validation leak; every fold-list error names the CSV and line; a phantom dataset
 * opens with its files checked; the full layout reads patients and classes from the tree. */
#include "ctvk/ct.h"
#include "tests/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir;

static void cell(char *buf, size_t n, const ctvk_split_counts *c, int cls)
{
    snprintf(buf, n, "%zu (%d)", c->images[cls], c->patients[cls]);
}

static void official(void)
{
    const char *src = getenv("CTVK_SOURCE");
    CHECK(src && *src, "CTVK_SOURCE is not set (ctest sets it to the repository)");
    if (!src) return;
    char folds[2048], readme[2100];
    snprintf(folds, sizeof folds, "%s/configs/covid-ctset", src);
    snprintf(readme, sizeof readme, "%s/README.md", folds);
    ctvk_data_options o;
    ctvk_data_defaults(&o);
    o.folds_dir = folds;
    o.check_files = 1;
    ctvk_dataset *d = NULL;
    /* with check_files and no root the reader says it cannot check */
    CHECK(ctvk_dataset_open(&o, &d) == CTVK_ERR_ARG && strstr(ctvk_error(), "check_files = false"),
          "no root with check_files: %s", ctvk_error());
    o.check_files = 0;
    ctvk_status s = ctvk_dataset_open(&o, &d);
    CHECK(s == CTVK_OK, "official folds: %s", ctvk_error());
    if (s) return;
    int pc[2] = {0, 0};
    for (int i = 0; i < d->npatients; i++) pc[d->patient_labels[i]]++;
    printf("official folds: %d folds, %d patients (%d covid, %d normal)\n", d->nfolds, d->npatients, pc[0], pc[1]);
    CHECK(d->nfolds == 5 && pc[0] == 95 && pc[1] == 282, "5 folds of 95 COVID and 282 normal patients");
    /* the published table, row by row, as the README prints it */
    FILE *f = fopen(readme, "r");
    CHECK(f != NULL, "cannot read %s", readme);
    char line[512];
    int rows = 0;
    while (f && fgets(line, sizeof line, f)) {
        int k;
        if (sscanf(line, "| %d |", &k) != 1 || k < 1 || k > 5) continue;
        line[strcspn(line, "\r\n")] = 0;
        ctvk_split_counts tr, te;
        ctvk_image_list_counts(d, &d->folds[k - 1].train, &tr);
        ctvk_image_list_counts(d, &d->folds[k - 1].test, &te);
        char a[48], b[48], c[48], e[48], mine[300];
        cell(a, sizeof a, &tr, 0), cell(b, sizeof b, &tr, 1), cell(c, sizeof c, &te, 0), cell(e, sizeof e, &te, 1);
        snprintf(mine, sizeof mine, "| %d | %s | %s | %s | %s |", k, a, b, c, e);
        printf("  published %s\n  counted   %s\n", line, mine);
        CHECK(!strcmp(line, mine), "fold %d differs from the published table", k);
        rows++;
    }
    if (f) fclose(f);
    CHECK(rows == 5, "found %d table rows in the README", rows);
    /* the leak: each validation list is a subset of its test list (all COVID + 450 normal images) */
    int leaks = 0;
    for (int i = 0; i < d->nwarnings; i++) {
        printf("  warning: %s\n", d->warnings[i]);
        leaks += strstr(d->warnings[i], "validation images are also test images") && strstr(d->warnings[i], "is a subset of");
    }
    CHECK(leaks == 5, "5 leak warnings, got %d", leaks);
    for (int k = 0; k < 5; k++) {
        ctvk_split_counts va, te;
        ctvk_image_list_counts(d, &d->folds[k].validation, &va);
        ctvk_image_list_counts(d, &d->folds[k].test, &te);
        CHECK(va.images[1] == 450 && va.images[0] == te.images[0], "fold %d validation: %zu covid, %zu normal", k + 1,
              va.images[0], va.images[1]);
        /* labels and patients line up with the names */
        const ctvk_image_list *l = &d->folds[k].train;
        int bad = 0;
        for (size_t i = 0; i < l->n; i++) {
            char id[64];
            ctvk_patient_from_path(l->paths[i], id, sizeof id);
            bad += strcmp(id, d->patient_ids[l->patients[i]]) != 0 || l->labels[i] != d->patient_labels[l->patients[i]] ||
                   l->lines[i] != (int)i + 2;
        }
        CHECK(bad == 0, "fold %d: %d train rows with a wrong patient, label or line", k + 1, bad);
    }
    CHECK(!strcmp(d->folds[0].train.paths[0], "137covid_patient1_SR_2_IM00010.tif") && d->folds[0].train.labels[0] == 0,
          "first row of train1.csv: %s", d->folds[0].train.paths[0]);
    ctvk_dataset_free(d);
}

static void write_file(const char *rel, const char *text)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void mkdir_rel(const char *rel)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", g_dir, rel);
    if (system(cmd)) CHECK(0, "mkdir");
}

/* One fold in folder `rel` from the three texts; opens it (no file checks) and expects `part`. */
static void expect_error(const char *what, const char *train, const char *val, const char *test, const char *part)
{
    static int n;
    char rel[64], dir[2048], tr[128], va[128], te[128];
    snprintf(rel, sizeof rel, "bad%d", ++n);
    mkdir_rel(rel);
    snprintf(tr, sizeof tr, "%s/train1.csv", rel), snprintf(va, sizeof va, "%s/validation1.csv", rel);
    snprintf(te, sizeof te, "%s/test1.csv", rel);
    write_file(tr, train);
    if (val) write_file(va, val);
    if (test) write_file(te, test);
    snprintf(dir, sizeof dir, "%s/%s", g_dir, rel);
    ctvk_data_options o;
    ctvk_data_defaults(&o);
    o.folds_dir = dir, o.check_files = 0;
    ctvk_dataset *d = NULL;
    ctvk_status s = ctvk_dataset_open(&o, &d);
    printf("  %-28s -> %s\n", what, s ? ctvk_error() : "(opened)");
    CHECK(s != CTVK_OK && strstr(ctvk_error(), part) && strstr(ctvk_error(), dir), "%s: got '%s', want '%s'", what,
          s ? ctvk_error() : "success", part);
    ctvk_dataset_free(d);
}

static void errors(void)
{
    printf("fold-list errors:\n");
    const char *ok_test = "filename,class\nnormal1_patient9_SR_2_IM00001.tif,normal\n";
    expect_error("unknown class", "filename,class\ng_patient1_SR_2_IM1.tif,covid\ng_patient1_SR_2_IM2.tif,pneumonia\n", NULL,
                 ok_test, "train1.csv line 3: unknown class 'pneumonia' (expected covid or normal)");
    expect_error("duplicate row",
                 "filename,class\ng_patient1_SR_2_IM1.tif,covid\ng_patient1_SR_2_IM2.tif,covid\ng_patient1_SR_2_IM1.tif,covid\n",
                 NULL, ok_test, "train1.csv line 4: duplicate row: g_patient1_SR_2_IM1.tif is already at line 2");
    expect_error("patient in train and test",
                 "filename,class\ng_patient1_SR_2_IM1.tif,covid\nn_patient7_SR_2_IM1.tif,normal\n", NULL,
                 "filename,class\nn_patient8_SR_2_IM1.tif,normal\nn_patient7_SR_3_IM5.tif,normal\n",
                 "test1.csv line 3: patient7 is also in ");
    expect_error("patient with two classes",
                 "filename,class\ng_patient1_SR_2_IM1.tif,covid\ng_patient1_SR_2_IM2.tif,normal\n", NULL, ok_test,
                 "train1.csv line 3: patient1 is labelled normal here and covid at ");
    expect_error("no patient in the name", "filename,class\nIM00001.tif,covid\n", NULL, ok_test,
                 "train1.csv line 2: no _patientN_ part in the file name IM00001.tif");
    expect_error("bad header", "file,label\ng_patient1_SR_2_IM1.tif,covid\n", NULL, ok_test,
                 "train1.csv line 1: header 'file,label', expected 'filename,class'");
    expect_error("one field", "filename,class\ng_patient1_SR_2_IM1.tif\n", NULL, ok_test, "train1.csv line 2: ");
    expect_error("three fields", "filename,class\ng_patient1_SR_2_IM1.tif,covid,x\n", NULL, ok_test,
                 "train1.csv line 2: more than two fields");
    expect_error("missing test list", "filename,class\ng_patient1_SR_2_IM1.tif,covid\n", NULL, NULL, "test1.csv: missing");
    expect_error("empty csv", "", NULL, ok_test, "train1.csv: empty file");
    /* not errors: CRLF, a BOM, blank lines, and a patient in train and validation (a warning) */
    mkdir_rel("good");
    write_file("good/train1.csv", "\xEF\xBB\xBF" "filename,class\r\ng_patient1_SR_2_IM1.tif,covid\r\n\r\n"
                                  "n_patient2_SR_2_IM1.tif,normal\r\n");
    write_file("good/validation1.csv", "filename,class\nn_patient2_SR_2_IM2.tif,normal\n");
    write_file("good/test1.csv", "filename,class\ng_patient3_SR_2_IM1.tif,COVID\n");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/good", g_dir);
    ctvk_data_options o;
    ctvk_data_defaults(&o);
    o.folds_dir = dir, o.check_files = 0;
    ctvk_dataset *d = NULL;
    ctvk_status s = ctvk_dataset_open(&o, &d);
    CHECK(s == CTVK_OK, "CRLF, BOM, blank line: %s", ctvk_error());
    if (!s) {
        CHECK(d->nfolds == 1 && d->folds[0].train.n == 2 && d->folds[0].train.lines[1] == 4 &&
                  d->folds[0].test.labels[0] == CTVK_CLASS_COVID && d->npatients == 3,
              "one fold, 2 train rows (second on line 4), 3 patients");
        CHECK(d->nwarnings == 1 && strstr(d->warnings[0], "1 patient of ") && strstr(d->warnings[0], "validation1.csv is also in") &&
                  strstr(d->warnings[0], "patient2"), "train/validation overlap is a warning: %s",
              d->nwarnings ? d->warnings[0] : "(none)");
    }
    ctvk_dataset_free(d);
    o.folds_dir = g_dir;   /* no train1.csv there */
    CHECK(ctvk_dataset_open(&o, &d) == CTVK_ERR_IO && strstr(ctvk_error(), "no fold lists"), "no folds: %s", ctvk_error());
    o.layout = CTVK_LAYOUT_FULL;
    o.root = g_dir;
    CHECK(ctvk_dataset_open(&o, &d) == CTVK_ERR_ARG && strstr(ctvk_error(), "layout = full"),
          "folds with the full layout: %s", ctvk_error());
}

static void phantom(void)
{
    char out[2048];
    snprintf(out, sizeof out, "%s/ph", g_dir);
    ctvk_phantom_options po;
    ctvk_phantom_defaults(&po);
    po.out = out, po.covid = 5, po.normal = 6, po.slices = 8, po.series = 2, po.size = 64, po.seed = 11;
    ctvk_phantom_report rep;
    CHECK(ctvk_phantom_write(&po, &rep) == CTVK_OK, "phantom: %s", ctvk_error());
    char ini[2100];
    snprintf(ini, sizeof ini, "%s/dataset.ini", out);
    ctvk_config *cfg = NULL;
    ctvk_data_options o;
    CHECK(ctvk_config_load(ini, &cfg) == CTVK_OK && ctvk_data_from_config(cfg, &o) == CTVK_OK, "dataset.ini: %s",
          ctvk_error());
    CHECK(o.layout == CTVK_LAYOUT_FLAT && o.image_size == 64 && o.check_files == 1, "dataset.ini keys");
    ctvk_dataset *d = NULL;
    ctvk_status s = ctvk_dataset_open(&o, &d);
    CHECK(s == CTVK_OK, "phantom dataset with files checked: %s", ctvk_error());
    if (!s) {
        CHECK(d->nfolds == 5 && d->npatients == 11 && d->nwarnings == 0, "5 folds, 11 patients, no warnings (%d)", d->nwarnings);
        int *tested = calloc((size_t)d->npatients, sizeof *tested);
        size_t images = 0;
        for (int k = 0; k < 5; k++) {
            const ctvk_fold *f = &d->folds[k];
            char *role = calloc((size_t)d->npatients, 1);
            const ctvk_image_list *ls[3] = {&f->train, &f->validation, &f->test};
            int clash = 0;
            for (int j = 0; j < 3; j++)
                for (size_t i = 0; i < ls[j]->n; i++) {
                    int p = ls[j]->patients[i];
                    if (role[p] && role[p] != j + 1) clash = 1;
                    role[p] = (char)(j + 1);
                }
            for (int p = 0; p < d->npatients; p++) tested[p] += role[p] == 3;
            CHECK(!clash, "fold %d: train, validation and test are patient-disjoint", k + 1);
            ctvk_split_counts te;
            ctvk_image_list_counts(d, &f->test, &te);
            CHECK(te.patients[0] >= 1 && te.patients[1] >= 1, "fold %d tests both classes", k + 1);
            images += f->test.n;
            free(role);
        }
        int once = 1;
        for (int p = 0; p < d->npatients; p++) once &= tested[p] == 1;
        CHECK(once, "every patient is tested in exactly one fold");
        CHECK(images == rep.flat_images, "the test lists cover the flat folder (%zu of %zu)", images, rep.flat_images);
        CHECK(d->series && d->series->nslices == rep.full_images && d->series->npatients == 11,
              "series_root scanned: %zu slices", d->series ? d->series->nslices : 0);
        free(tested);
    }
    ctvk_dataset_free(d);
    /* a row whose file is missing: named with its CSV and line */
    char csv[2100];
    snprintf(csv, sizeof csv, "%s/folds/train2.csv", out);
    FILE *f = fopen(csv, "r");
    int lines = 0;
    char buf[512];
    while (f && fgets(buf, sizeof buf, f)) lines++;
    if (f) fclose(f);
    f = fopen(csv, "a");
    fputs("covid1_patient1_SR_2_IM00999.tif,covid\r\n", f);
    fclose(f);
    s = ctvk_dataset_open(&o, &d);
    char want[2300];
    snprintf(want, sizeof want, "train2.csv line %d: the file %s/flat/covid1_patient1_SR_2_IM00999.tif does not exist", lines + 1,
             out);
    printf("missing file -> %s\n", ctvk_error());
    CHECK(s == CTVK_ERR_IO && strstr(ctvk_error(), want), "missing file: '%s', want '%s'", ctvk_error(), want);
    o.check_files = 0;
    CHECK(ctvk_dataset_open(&o, &d) == CTVK_OK, "without file checks it opens");
    ctvk_dataset_free(d);
    /* the full layout alone */
    char full[2100];
    snprintf(full, sizeof full, "%s/full", out);
    ctvk_data_defaults(&o);
    o.layout = CTVK_LAYOUT_FULL, o.root = full;
    s = ctvk_dataset_open(&o, &d);
    CHECK(s == CTVK_OK && d->nfolds == 0 && d->npatients == 11 && d->series->nseries == 22, "full layout: %s",
          s ? ctvk_error() : "counts");
    if (!s) {
        int c = 0;
        for (int i = 0; i < d->npatients; i++) c += d->patient_labels[i] == CTVK_CLASS_COVID;
        CHECK(c == 5 && !strcmp(d->patient_ids[0], "patient1") && !strcmp(d->patient_ids[10], "patient11"),
              "5 COVID patients, natural order");
    }
    ctvk_dataset_free(d);
    ctvk_config_free(cfg);
}

static void config(void)
{
    ctvk_config *cfg;
    ctvk_data_options o;
    ctvk_config_load(NULL, &cfg);
    CHECK(ctvk_data_from_config(cfg, &o) == CTVK_OK && o.layout == CTVK_LAYOUT_FLAT && o.image_size == 512 && !o.resize &&
              o.check_files && !*o.root, "defaults");
    ctvk_config_set(cfg, "data.layout=tree");
    CHECK(ctvk_data_from_config(cfg, &o) == CTVK_ERR_ARG && strstr(ctvk_error(), "layout = 'tree'"), "bad layout: %s",
          ctvk_error());
    ctvk_config_set(cfg, "data.layout=full");
    ctvk_config_set(cfg, "data.image_size=8");
    CHECK(ctvk_data_from_config(cfg, &o) == CTVK_ERR_ARG && strstr(ctvk_error(), "image_size = 8 is out of range"),
          "image_size 8: %s", ctvk_error());
    ctvk_config_set(cfg, "data.image_size=128");
    ctvk_config_set(cfg, "data.resize=yes");
    ctvk_config_set(cfg, "data.check_files=false");
    CHECK(ctvk_data_from_config(cfg, &o) == CTVK_OK && o.layout == CTVK_LAYOUT_FULL && o.image_size == 128 && o.resize &&
              !o.check_files, "keys read");
    ctvk_config_free(cfg);
}

int main(void)
{
    g_dir = check_tmpdir("ct-folds");
    official();
    errors();
    phantom();
    config();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(g_dir);
    return check_done("test_ct_folds");
}
