/* Datasets: [data] options, the fold CSVs of the flat Train&Validation folder (train{k}.csv,
 * validation{k}.csv, test{k}.csv; header filename,class; covid = 0, normal = 1) with every check
 * naming the CSV and line, and the full COVID-CTset layout through the series scan. */
#include "runtime/base/config_keys.h"
#include "runtime/ct/ct_internal.h"
#include "runtime/base/fileio.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void ctvk_data_defaults(ctvk_data_options *o)
{
    memset(o, 0, sizeof *o);
    o->root = "";
    o->layout = CTVK_LAYOUT_FLAT;
    o->folds_dir = "";
    o->series_root = "";
    o->image_size = 512;
    o->resize = 0;
    o->check_files = 1;
}

ctvk_status ctvk_data_from_config(const ctvk_config *cfg, ctvk_data_options *o)
{
    ctvk_data_defaults(o);
    const char *layout;
    long size;
    CTVK_TRY(ctvk_config_str(cfg, "data", "root", "", &o->root));
    CTVK_TRY(ctvk__key_str(cfg, "data", "layout", &layout));
    CTVK_TRY(ctvk_config_str(cfg, "data", "folds_dir", "", &o->folds_dir));
    CTVK_TRY(ctvk_config_str(cfg, "data", "series_root", "", &o->series_root));
    CTVK_TRY(ctvk__key_int(cfg, "data", "image_size", &size));
    CTVK_TRY(ctvk__key_bool(cfg, "data", "resize", &o->resize));
    CTVK_TRY(ctvk__key_bool(cfg, "data", "check_files", &o->check_files));
    o->image_size = (int)size;
    CTVK_TRY(ctvk_values_from_config(cfg, &o->values));
    if (!strcasecmp(layout, "flat")) o->layout = CTVK_LAYOUT_FLAT;
    else if (!strcasecmp(layout, "full")) o->layout = CTVK_LAYOUT_FULL;
    else
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [data] layout = '%s': expected flat (the Train&Validation folder "
                          "with fold CSVs) or full (<group>/<patientN>/<SR_k>/IMxxxxx.tif)", ctvk_config_path(cfg), layout);
    return CTVK_OK;
}

/* ------------------------------------------------------------------ building */
typedef struct where {
    int csv;      /* index into b->csvs */
    int line;
} where;

typedef struct builder {
    const ctvk_data_options *o;
    const char *root, *folds;
    ctvk__map patients;          /* id -> insertion index */
    ctvk__strs ids;              /* insertion order */
    int *label;                  /* per patient */
    where *label_at;
    size_t cap;
    ctvk__strs csvs;             /* CSV paths, for messages */
    ctvk__strs warnings;
} builder;

static ctvk_status patient_index(builder *b, const char *id, int *out)
{
    if (ctvk__map_get(&b->patients, id, out)) return CTVK_OK;
    int idx = (int)b->ids.n;
    CTVK_TRY(ctvk__strs_push(&b->ids, id));
    CTVK_TRY(ctvk__map_put(&b->patients, id, idx));
    if (b->ids.n > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        int *l = realloc(b->label, cap * sizeof *l);
        if (l) b->label = l;
        where *w = realloc(b->label_at, cap * sizeof *w);
        if (w) b->label_at = w;
        if (!l || !w) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        b->cap = cap;
    }
    b->label[idx] = CTVK_CLASS_UNKNOWN;
    *out = idx;
    return CTVK_OK;
}

static void list_free(ctvk_image_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths), free(l->labels), free(l->patients), free(l->lines);
    memset(l, 0, sizeof *l);
}

static ctvk_status list_push(ctvk_image_list *l, size_t *cap, char *path, int label, int patient, int line)
{
    if (l->n == *cap) {
        size_t c = *cap ? 2 * *cap : 1024;
        char **p = realloc(l->paths, c * sizeof *p);
        if (p) l->paths = p;
        uint8_t *lb = realloc(l->labels, c * sizeof *lb);
        if (lb) l->labels = lb;
        int *pt = realloc(l->patients, c * sizeof *pt);
        if (pt) l->patients = pt;
        int *ln = realloc(l->lines, c * sizeof *ln);
        if (ln) l->lines = ln;
        if (!p || !lb || !pt || !ln) { free(path); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
        *cap = c;
    }
    l->paths[l->n] = path, l->labels[l->n] = (uint8_t)label, l->patients[l->n] = patient, l->lines[l->n] = line;
    l->n++;
    return CTVK_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

/* Reads one fold CSV into l. seen: file name -> line, for duplicates within this CSV. */
static ctvk_status read_csv(builder *b, const char *csv, ctvk_image_list *l, int *present)
{
    *present = 0;
    int e;
    FILE *f = ctvk__fopen_regular(csv, &e);
    if (!f) {
        if (e == ENOENT) return CTVK_OK;
        return ctvk__fail(CTVK_ERR_IO, "%s: cannot read (%s)", csv, ctvk__open_error(e));
    }
    *present = 1;
    CTVK_TRY(ctvk__strs_push(&b->csvs, csv));
    int csv_index = (int)b->csvs.n - 1;
    ctvk__map seen = {0};
    size_t cap = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    int lineno = 0;
    ctvk_status s = CTVK_OK;
    while (s == CTVK_OK && (len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        char *p = line;
        if (lineno == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
        p = trim(p);
        if (!*p) continue;
        char *comma = strchr(p, ',');
        if (lineno == 1) {
            char head[64];
            snprintf(head, sizeof head, "%s", p);
            for (char *q = head; *q; q++) if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
            if (strcmp(head, "filename,class")) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "%s line 1: header '%s', expected 'filename,class'", csv, p);
                break;
            }
            continue;
        }
        if (!comma) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: '%s' is not 'filename,class'", csv, lineno, p);
            break;
        }
        *comma = 0;
        char *name = trim(p), *cls = trim(comma + 1);
        if (strchr(cls, ',')) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: more than two fields", csv, lineno);
            break;
        }
        if (!*name) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: empty file name", csv, lineno);
            break;
        }
        int label = !strcasecmp(cls, "covid") ? CTVK_CLASS_COVID : !strcasecmp(cls, "normal") ? CTVK_CLASS_NORMAL : -1;
        if (label < 0) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: unknown class '%s' (expected covid or normal)", csv, lineno, cls);
            break;
        }
        int prev;
        if (ctvk__map_get(&seen, name, &prev)) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: duplicate row: %s is already at line %d", csv, lineno, name, prev);
            break;
        }
        if ((s = ctvk__map_put(&seen, name, lineno))) break;
        char id[128];
        if (!ctvk_patient_from_path(name, id, sizeof id)) {
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: no _patientN_ part in the file name %s", csv, lineno, name);
            break;
        }
        int pi;
        if ((s = patient_index(b, id, &pi))) break;
        if (b->label[pi] == CTVK_CLASS_UNKNOWN) {
            b->label[pi] = label;
            b->label_at[pi] = (where){csv_index, lineno};
        } else if (b->label[pi] != label) {
            where w = b->label_at[pi];
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: %s is labelled %s here and %s at %s line %d", csv, lineno, id,
                           ctvk_class_name(label), ctvk_class_name(b->label[pi]), b->csvs.v[w.csv], w.line);
            break;
        }
        char *path = ctvk__path_join(b->root, name);
        if (!path) { s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); break; }
        if (b->o->check_files) {
            struct stat st;
            int missing = stat(path, &st) != 0;
            if (missing || !S_ISREG(st.st_mode)) {
                s = ctvk__fail(CTVK_ERR_IO, "%s line %d: the file %s %s (set [data] check_files = false to count "
                               "from the CSVs alone)", csv, lineno, path,
                               !missing ? "is not a regular file"
                               : errno == ENOENT || errno == ENOTDIR ? "does not exist" : "cannot be read");
                free(path);
                break;
            }
        }
        s = list_push(l, &cap, path, label, pi, lineno);
    }
    if (s == CTVK_OK && ferror(f)) s = ctvk__fail(CTVK_ERR_IO, "%s: read error", csv);
    if (s == CTVK_OK && lineno == 0) s = ctvk__fail(CTVK_ERR_FORMAT, "%s: empty file (expected the header filename,class)", csv);
    free(line);
    fclose(f);
    ctvk__map_free(&seen);
    return s;
}

/* The CSV line of the first row of each patient in a list (0: absent). */
static ctvk_status first_lines(const ctvk_image_list *l, int npat, int **out)
{
    int *v = calloc((size_t)npat + 1, sizeof *v);
    if (!v) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (size_t i = l->n; i-- > 0;) v[l->patients[i]] = l->lines[i];
    *out = v;
    return CTVK_OK;
}

static ctvk_status check_fold(builder *b, ctvk_fold *f, const char *train_csv, const char *val_csv, const char *test_csv)
{
    int np = (int)b->ids.n;
    int *tr = NULL;
    CTVK_TRY(first_lines(&f->train, np, &tr));
    /* patient in both train and test: an error */
    for (size_t i = 0; i < f->test.n; i++) {
        int p = f->test.patients[i];
        if (tr[p]) {
            ctvk_status s = ctvk__fail(CTVK_ERR_FORMAT, "%s line %d: %s is also in %s (line %d): the folds must be "
                                       "patient-disjoint", test_csv, f->test.lines[i], b->ids.v[p], train_csv, tr[p]);
            free(tr);
            return s;
        }
    }
    /* patient in both train and validation: a warning */
    int shared = 0, firstp = -1;
    char *mark = calloc((size_t)np + 1, 1);
    if (!mark) { free(tr); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
    for (size_t i = 0; i < f->validation.n; i++) {
        int p = f->validation.patients[i];
        if (tr[p] && !mark[p]) { mark[p] = 1, shared++; if (firstp < 0) firstp = p; }
    }
    if (shared)
        ctvk__strs_pushf(&b->warnings, "fold %d: %d patient%s of %s %s also in %s (first: %s): validation is not "
                         "patient-disjoint from training", f->k, shared, shared == 1 ? "" : "s", val_csv,
                         shared == 1 ? "is" : "are", train_csv, b->ids.v[firstp]);
    free(mark);
    free(tr);
    /* validation images that are test images: the published lists' leak */
    if (f->validation.n) {
        ctvk__map test = {0};
        for (size_t i = 0; i < f->test.n; i++)
            if (ctvk__map_put(&test, f->test.paths[i], 1)) { ctvk__map_free(&test); return CTVK_ERR_NOMEM; }
        size_t both = 0;
        for (size_t i = 0; i < f->validation.n; i++) both += ctvk__map_get(&test, f->validation.paths[i], NULL);
        ctvk__map_free(&test);
        if (both)
            ctvk__strs_pushf(&b->warnings, "fold %d: %zu of %zu validation images are also test images (%s%s %s): a "
                             "model chosen on this validation set has seen its test set; hold validation patients out "
                             "of the training patients instead", f->k, both, f->validation.n, val_csv,
                             both == f->validation.n ? " is a subset of" : " overlaps", test_csv);
    }
    return CTVK_OK;
}

void ctvk_dataset_free(ctvk_dataset *d)
{
    if (!d) return;
    for (int i = 0; i < d->nfolds; i++) {
        list_free(&d->folds[i].train);
        list_free(&d->folds[i].validation);
        list_free(&d->folds[i].test);
    }
    free(d->folds);
    for (int i = 0; i < d->npatients; i++) free(d->patient_ids[i]);
    free(d->patient_ids);
    free(d->patient_labels);
    for (int i = 0; i < d->nwarnings; i++) free(d->warnings[i]);
    free(d->warnings);
    ctvk_series_free(d->series);
    free(d);
}

static const char *const *g_sort_ids;
static int cmp_ids(const void *a, const void *b)
{
    return ctvk__natcmp(g_sort_ids[*(const int *)a], g_sort_ids[*(const int *)b]);
}

/* Patients in natural order of id; the lists' indices follow. */
static ctvk_status finish_patients(builder *b, ctvk_dataset *d)
{
    int np = (int)b->ids.n;
    int *order = malloc(((size_t)np + 1) * sizeof *order), *rank = malloc(((size_t)np + 1) * sizeof *rank);
    d->patient_ids = calloc((size_t)np + 1, sizeof *d->patient_ids);
    d->patient_labels = calloc((size_t)np + 1, sizeof *d->patient_labels);
    if (!order || !rank || !d->patient_ids || !d->patient_labels) {
        free(order), free(rank);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    for (int i = 0; i < np; i++) order[i] = i;
    g_sort_ids = (const char *const *)b->ids.v;   /* qsort has no context argument; dataset opening is not hot */
    qsort(order, (size_t)np, sizeof *order, cmp_ids);
    for (int r = 0; r < np; r++) {
        rank[order[r]] = r;
        d->patient_ids[r] = b->ids.v[order[r]], b->ids.v[order[r]] = NULL;
        d->patient_labels[r] = b->label[order[r]];
    }
    d->npatients = np;
    for (int k = 0; k < d->nfolds; k++) {
        ctvk_image_list *ls[3] = {&d->folds[k].train, &d->folds[k].validation, &d->folds[k].test};
        for (int j = 0; j < 3; j++)
            for (size_t i = 0; i < ls[j]->n; i++) ls[j]->patients[i] = rank[ls[j]->patients[i]];
    }
    free(order), free(rank);
    return CTVK_OK;
}

static ctvk_status open_folds(builder *b, ctvk_dataset *d)
{
    for (int k = 1; k <= 99; k++) {
        char name[3][32];
        snprintf(name[0], sizeof name[0], "train%d.csv", k);
        snprintf(name[1], sizeof name[1], "validation%d.csv", k);
        snprintf(name[2], sizeof name[2], "test%d.csv", k);
        char *csv[3];
        for (int j = 0; j < 3; j++) csv[j] = ctvk__path_join(b->folds, name[j]);
        ctvk_status s = CTVK_OK;
        if (!csv[0] || !csv[1] || !csv[2]) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        ctvk_fold f = {.k = k};
        int present[3] = {0, 0, 0};
        if (s == CTVK_OK) s = read_csv(b, csv[0], &f.train, &present[0]);
        if (s == CTVK_OK && present[0]) {
            s = read_csv(b, csv[1], &f.validation, &present[1]);
            if (s == CTVK_OK) s = read_csv(b, csv[2], &f.test, &present[2]);
            if (s == CTVK_OK && !present[2]) s = ctvk__fail(CTVK_ERR_IO, "%s: missing (%s exists)", csv[2], name[0]);
            if (s == CTVK_OK) s = check_fold(b, &f, csv[0], csv[1], csv[2]);
        }
        if (s == CTVK_OK && present[0]) {
            ctvk_fold *v = realloc(d->folds, (size_t)(d->nfolds + 1) * sizeof *v);
            if (!v) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            else d->folds = v, d->folds[d->nfolds++] = f;
        }
        if (s != CTVK_OK || !present[0]) {
            list_free(&f.train), list_free(&f.validation), list_free(&f.test);
        }
        for (int j = 0; j < 3; j++) free(csv[j]);
        if (s != CTVK_OK) return s;
        if (!present[0]) break;
    }
    if (d->nfolds == 0)
        return ctvk__fail(CTVK_ERR_IO, "%s: no fold lists there (expected train1.csv, validation1.csv, test1.csv, ...)",
                          b->folds);
    return CTVK_OK;
}

ctvk_status ctvk_dataset_open(const ctvk_data_options *o, ctvk_dataset **out)
{
    *out = NULL;
    ctvk_dataset *d = calloc(1, sizeof *d);
    if (!d) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    d->layout = o->layout, d->image_size = o->image_size, d->resize = o->resize;
    builder b = {.o = o, .root = o->root ? o->root : "", .folds = o->folds_dir && *o->folds_dir ? o->folds_dir : NULL};
    ctvk_status s = CTVK_OK;
    if (o->layout == CTVK_LAYOUT_FLAT) {
        if (!b.folds) b.folds = *b.root ? b.root : NULL;
        if (!b.folds) s = ctvk__fail(CTVK_ERR_ARG, "[data] root and folds_dir are both unset: nothing to open");
        else if (!*b.root && o->check_files)
            s = ctvk__fail(CTVK_ERR_ARG, "[data] root is unset, so the CSVs' files cannot be checked (set [data] root, "
                           "or check_files = false to count from the CSVs alone)");
        if (s == CTVK_OK) s = open_folds(&b, d);
        if (s == CTVK_OK) s = finish_patients(&b, d);
        if (s == CTVK_OK && o->series_root && *o->series_root) s = ctvk_series_scan(o->series_root, &d->series);
    } else {
        if (b.folds)
            s = ctvk__fail(CTVK_ERR_ARG, "[data] folds_dir is set with layout = full: the fold CSVs name files of the "
                           "flat Train&Validation folder (use layout = flat, and series_root for the full tree)");
        else if (!*b.root) s = ctvk__fail(CTVK_ERR_ARG, "[data] root is unset");
        else s = ctvk_series_scan(b.root, &d->series);
        if (s == CTVK_OK) {
            d->npatients = d->series->npatients;
            d->patient_ids = calloc((size_t)d->npatients + 1, sizeof *d->patient_ids);
            d->patient_labels = calloc((size_t)d->npatients + 1, sizeof *d->patient_labels);
            if (!d->patient_ids || !d->patient_labels) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            for (int i = 0; s == CTVK_OK && i < d->npatients; i++) {
                d->patient_labels[i] = d->series->patients[i].label;
                if (!(d->patient_ids[i] = strdup(d->series->patients[i].id))) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
                if (d->patient_labels[i] == CTVK_CLASS_UNKNOWN)
                    ctvk__strs_pushf(&b.warnings, "%s: no class (no covid or normal group folder above it)",
                                     d->series->patients[i].id);
            }
        }
    }
    d->warnings = b.warnings.v, d->nwarnings = (int)b.warnings.n;
    b.warnings.v = NULL, b.warnings.n = 0;
    ctvk__map_free(&b.patients);
    ctvk__strs_free(&b.ids);
    ctvk__strs_free(&b.csvs);
    free(b.label), free(b.label_at);
    if (s != CTVK_OK) { ctvk_dataset_free(d); return s; }
    *out = d;
    return CTVK_OK;
}

void ctvk_image_list_counts(const ctvk_dataset *d, const ctvk_image_list *l, ctvk_split_counts *c)
{
    memset(c, 0, sizeof *c);
    char *seen = calloc((size_t)d->npatients + 1, 1);
    for (size_t i = 0; i < l->n; i++) {
        int lb = l->labels[i] ? 1 : 0;
        c->images[lb]++;
        int p = l->patients[i];
        if (seen && !(seen[p] & (1 << lb))) { seen[p] |= (char)(1 << lb); c->patients[lb]++; }
    }
    free(seen);
}
