/* ctvk dataset: images and patients per class for each fold, in the published fold table's layout. */
#include "ctvk/ct.h"
#include "tools/cli.h"
#include <stdio.h>
#include <string.h>

const char cmd_dataset_help[] =
    "usage: ctvk dataset [CONFIG] [--set data.key=value]\n\n"
    "Opens the dataset of [data] and prints, for each fold, images (patients) per class of the train\n"
    "and test lists in the layout of the dataset's published fold table, then the validation lists.\n"
    "Every fold-list problem is an error naming the CSV and line: a malformed row, an unknown class, a\n"
    "duplicate row, a file that does not exist (unless check_files = false), a patient in both train\n"
    "and test of one fold. Validation lists that overlap the test lists (the published ones are\n"
    "subsets of them) are reported as warnings.\n\n"
    "[data] keys: root (the flat Train&Validation folder, or the full tree with layout = full),\n"
    "layout = flat | full, folds_dir (default: root), series_root (a full tree beside a flat root),\n"
    "image_size (512), resize (false), check_files (true).\n"
    "Example, counting the official fold lists without the images:\n"
    "  ctvk dataset --set data.folds_dir=configs/covid-ctset --set data.check_files=false   (from the repository root)\n";

static void cell(char *buf, size_t n, const ctvk_split_counts *c, int cls)
{
    snprintf(buf, n, "%zu (%d)", c->images[cls], c->patients[cls]);
}

static void print_series(const ctvk_series_set *s, const char *what)
{
    int pat[3] = {0, 0, 0}, seq[3] = {0, 0, 0};
    size_t img[3] = {0, 0, 0};
    for (int i = 0; i < s->npatients; i++) {
        int c = s->patients[i].label < 0 ? 2 : s->patients[i].label;
        pat[c]++;
        seq[c] += s->patients[i].nseries;
        img[c] += s->patients[i].count;
    }
    printf("\n%s: %d patients, %d sequences, %zu images\n", what, s->npatients, s->nseries, s->nslices);
    printf("| class | patients | sequences | images |\n|---|---|---|---|\n");
    static const char *names[3] = {"covid", "normal", "unknown"};
    for (int c = 0; c < 3; c++)
        if (c < 2 || pat[c]) printf("| %s | %d | %d | %zu |\n", names[c], pat[c], seq[c], img[c]);
}

int cmd_dataset(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("dataset", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (argv[i][0] == '-') return cli_usage_error("dataset", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("dataset", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("dataset", config, &com, &cfg);
    if (rc) return rc;
    ctvk_data_options o;
    ctvk_dataset *d = NULL;
    if (ctvk_data_from_config(cfg, &o) || ctvk_dataset_open(&o, &d)) {
        rc = cli_fail("dataset");
        ctvk_config_free(cfg);
        return rc;
    }
    int pc[2] = {0, 0};
    for (int i = 0; i < d->npatients; i++)
        if (d->patient_labels[i] >= 0) pc[d->patient_labels[i]]++;
    if (d->layout == CTVK_LAYOUT_FLAT) {
        const char *folds = *o.folds_dir ? o.folds_dir : o.root;
        printf("dataset: flat layout, root %s, fold lists in %s%s\n", *o.root ? o.root : "(unset)", folds,
               o.check_files ? "" : " (files not checked)");
        printf("%d folds, %d patients (%d covid, %d normal); images (patients) per class:\n\n", d->nfolds,
               d->npatients, pc[0], pc[1]);
        printf("| fold | train covid | train normal | test covid | test normal |\n|---|---|---|---|---|\n");
        for (int f = 0; f < d->nfolds; f++) {
            ctvk_split_counts tr, te;
            ctvk_image_list_counts(d, &d->folds[f].train, &tr);
            ctvk_image_list_counts(d, &d->folds[f].test, &te);
            char a[48], b[48], c[48], e[48];
            cell(a, sizeof a, &tr, 0), cell(b, sizeof b, &tr, 1), cell(c, sizeof c, &te, 0), cell(e, sizeof e, &te, 1);
            printf("| %d | %s | %s | %s | %s |\n", d->folds[f].k, a, b, c, e);
        }
        printf("\n| fold | validation covid | validation normal |\n|---|---|---|\n");
        for (int f = 0; f < d->nfolds; f++) {
            ctvk_split_counts va;
            ctvk_image_list_counts(d, &d->folds[f].validation, &va);
            char a[48], b[48];
            cell(a, sizeof a, &va, 0), cell(b, sizeof b, &va, 1);
            printf("| %d | %s | %s |\n", d->folds[f].k, a, b);
        }
        if (d->series) print_series(d->series, "series_root (full layout)");
    } else {
        printf("dataset: full layout, root %s\n", o.root);
        print_series(d->series, "series");
    }
    fflush(stdout);
    for (int i = 0; i < d->nwarnings; i++) fprintf(stderr, "ctvk dataset: warning: %s\n", d->warnings[i]);
    ctvk_dataset_free(d);
    ctvk_config_free(cfg);
    return 0;
}
