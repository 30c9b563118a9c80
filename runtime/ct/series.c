/* Finding slices under a path (TIFF files, DICOM series, NIfTI volumes) and grouping them into
 * sequences and patients. */
#include "runtime/ct/ct_internal.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct entry {
    char *path;         /* full path */
    char *series;       /* series name */
    char *patient;      /* patient id */
    const char *base;   /* file name, inside path */
    int label;
    size_t rank;        /* DICOM, NIfTI: 1-based place in the series (TIFF: 0, ordered by name) */
    ctvk_series_kind kind;
    const ctvk__dseries *dcm;   /* DICOM: its series */
    int instance;
    double pos;
    int snum;           /* DICOM SeriesNumber (0 otherwise) */
} entry;

typedef struct scan {
    entry *v;
    size_t n, cap;
    const char *root;   /* as given, trailing slashes trimmed */
    ctvk__strs dicom, dicom_rel;   /* DICOM files found, full and relative paths */
    ctvk__strs nifti, nifti_rel;   /* NIfTI volumes */
} scan;

static int is_nifti_name(const char *name)
{
    size_t n = strlen(name);
    return (n >= 4 && !strcasecmp(name + n - 4, ".nii")) || (n >= 7 && !strcasecmp(name + n - 7, ".nii.gz"));
}

static int is_tiff_name(const char *name)
{
    size_t n = strlen(name);
    const char *e4 = n >= 4 ? name + n - 4 : "", *e5 = n >= 5 ? name + n - 5 : "";
    return !strcasecmp(e4, ".tif") || !strcasecmp(e5, ".tiff");
}

/* The flat dataset's name form: "<group>_<patientN>_<SR_k>_<IMxxxxx>.tif". Returns the length of
 * the series prefix ("<group>_<patientN>_<SR_k>"), 0 if the name is not of that form. */
static size_t flat_prefix(const char *base)
{
    char id[64];
    if (!strstr(base, "_patient") || !ctvk_patient_from_path(base, id, sizeof id)) return 0;
    const char *last = strrchr(base, '_');
    const char *pat = strstr(base, id);
    if (!last || !pat || last <= pat + strlen(id)) return 0;   /* nothing between patientN and the last part */
    return (size_t)(last - base);
}

static int is_sr_name(const char *s) { return !strncmp(s, "SR_", 3) || !strncmp(s, "sr_", 3); }

static ctvk_status add_file(scan *sc, const char *full, const char *rel)
{
    CTVK__GROW(sc->v, sc->cap, sc->n + 1, 256, return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"));
    entry *e = &sc->v[sc->n];
    memset(e, 0, sizeof *e);
    e->label = CTVK_CLASS_UNKNOWN;
    e->instance = -1;
    e->pos = NAN;
    if (!(e->path = strdup(full))) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    sc->n++;
    const char *slash = strrchr(e->path, '/');
    e->base = slash ? slash + 1 : e->path;

    /* the folder of the file: relative to the root when there is one, else the root as given */
    const char *rslash = strrchr(rel, '/');
    size_t reldir = rslash ? (size_t)(rslash - rel) : 0;
    char *dirname;
    if (reldir) dirname = strndup(rel, reldir);
    else if (*rel) dirname = strdup(sc->root);                 /* a file directly in the root */
    else {                                                    /* the root is the file itself */
        const char *s = strrchr(sc->root, '/');
        dirname = s ? strndup(sc->root, (size_t)(s - sc->root)) : strdup(".");
    }
    if (!dirname) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");

    size_t fp = flat_prefix(e->base);
    char id[128];
    int has_id = ctvk_patient_from_path(e->path, id, sizeof id);
    if (fp) {
        size_t ld = strlen(dirname);
        e->series = malloc(ld + fp + 2);
        if (e->series) {
            if (reldir) { memcpy(e->series, dirname, ld); e->series[ld] = '/'; memcpy(e->series + ld + 1, e->base, fp); e->series[ld + 1 + fp] = 0; }
            else { memcpy(e->series, e->base, fp); e->series[fp] = 0; }
        }
        /* the id came from the file name: the class from the name's first part */
        char group[128];
        const char *u = strstr(e->base, "_patient");
        size_t lg = u ? (size_t)(u - e->base) : 0;
        if (lg >= sizeof group) lg = sizeof group - 1;
        memcpy(group, e->base, lg);
        group[lg] = 0;
        e->label = ctvk_class_from_name(group);
    } else {
        e->series = strdup(dirname);
    }
    if (!e->series) { free(dirname); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }

    if (has_id) {
        e->patient = strdup(id);
        if (!fp) {
            /* the class from the path component above the patientN folder ("covid1/patient5/...") */
            char *p = e->path, *hit = NULL;
            size_t li = strlen(id);
            for (char *q = p; (q = strstr(q, id)); q++)
                if ((q == p || q[-1] == '/') && (q[li] == '/' || q[li] == 0)) hit = q;
            if (hit && hit > p + 1) {
                char *end = hit - 1, *start = end;
                while (start > p && start[-1] != '/') start--;
                char group[128];
                size_t lg = (size_t)(end - start);
                if (lg >= sizeof group) lg = sizeof group - 1;
                memcpy(group, start, lg);
                group[lg] = 0;
                e->label = ctvk_class_from_name(group);
            }
        }
    } else {
        /* no patient id: an SR_k folder belongs to its parent folder, any other folder is its own patient */
        const char *s = strrchr(dirname, '/');
        const char *last = s ? s + 1 : dirname;
        if (is_sr_name(last) && s) e->patient = strndup(dirname, (size_t)(s - dirname));
        else if (is_sr_name(last) && reldir == 0) {
            const char *r = strrchr(sc->root, '/');
            e->patient = r ? strndup(sc->root, (size_t)(r - sc->root)) : strdup(".");
        } else e->patient = strdup(dirname);
    }
    free(dirname);
    if (!e->patient) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    return CTVK_OK;
}

static ctvk_status walk(scan *sc, const char *full, const char *rel, int depth)
{
    if (depth > 32) return ctvk__fail(CTVK_ERR_ARG, "%s: folders nested too deep", full);
    DIR *d = opendir(full);
    if (!d) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read the folder (%s)", full, strerror(errno));
    ctvk_status s = CTVK_OK;
    struct dirent *de;
    while (s == CTVK_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char *f = ctvk__path_join(full, de->d_name), *r = ctvk__path_join(rel, de->d_name);
        if (!f || !r) { free(f); free(r); s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); break; }
        int isdir = de->d_type == DT_DIR, isreg = de->d_type == DT_REG;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat st;
            if (stat(f, &st) == 0) isdir = S_ISDIR(st.st_mode), isreg = S_ISREG(st.st_mode);
        }
        if (isdir) s = walk(sc, f, r, depth + 1);
        else if (isreg && is_tiff_name(de->d_name)) s = add_file(sc, f, r);
        else if (isreg && is_nifti_name(de->d_name)) {
            if ((s = ctvk__strs_push(&sc->nifti, f)) == CTVK_OK) s = ctvk__strs_push(&sc->nifti_rel, r);
        } else if (isreg && ctvk__is_dicom(f)) {
            if ((s = ctvk__strs_push(&sc->dicom, f)) == CTVK_OK) s = ctvk__strs_push(&sc->dicom_rel, r);
        }
        free(f);
        free(r);
    }
    closedir(d);
    return s;
}

static int cmp_entry(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    int c = ctvk__natcmp(a->patient, b->patient);
    if (!c) c = (a->snum > b->snum) - (a->snum < b->snum);      /* DICOM: by SeriesNumber */
    if (!c) c = ctvk__natcmp(a->series, b->series);
    if (!c) c = (a->rank > b->rank) - (a->rank < b->rank);
    if (!c) c = ctvk__natcmp(a->base, b->base);
    if (!c) c = strcmp(a->path, b->path);
    return c;
}

void ctvk_series_free(ctvk_series_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nslices; i++) free(s->slices[i]);
    for (int i = 0; i < s->nseries; i++) free(s->series[i].name), free(s->series[i].uid), free(s->series[i].description);
    for (int i = 0; i < s->nnotes; i++) free(s->notes[i]);
    free(s->notes);
    free(s->instance);
    free(s->position);
    for (int i = 0; i < s->npatients; i++) free(s->patients[i].id);
    free(s->slices);
    free(s->series);
    free(s->patients);
    free(s);
}

/* The DICOM files found: each CT series' slices become entries of one sequence. */
static ctvk_status add_dicom(scan *sc, ctvk__dstudy *st)
{
    if (!sc->dicom.n) return CTVK_OK;
    CTVK_TRY(ctvk__dicom_group((const char *const *)sc->dicom.v, sc->dicom.n, st));
    for (int k = 0; k < st->n; k++) {
        const ctvk__dseries *q = &st->v[k];
        for (size_t i = 0; i < q->n; i++) {
            size_t f = q->file[i];
            CTVK_TRY(add_file(sc, sc->dicom.v[f], sc->dicom_rel.v[f]));
            entry *e = &sc->v[sc->n - 1];
            char *series = malloc(strlen(e->series) + strlen(q->uid) + 2);
            if (!series) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            sprintf(series, "%s/%s", e->series, q->uid);
            free(e->series);
            e->series = series;
            char id[128];
            if (!ctvk_patient_from_path(e->path, id, sizeof id) && q->patient_id[0]) {
                char *pid = strdup(q->patient_id);
                if (!pid) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
                free(e->patient);
                e->patient = pid;
            }
            e->kind = CTVK_SERIES_DICOM;
            e->dcm = q;
            e->snum = q->number;
            e->rank = i + 1;
            e->instance = q->instance[i];
            e->pos = q->pos[i];
        }
    }
    return CTVK_OK;
}

/* NIfTI volumes: each is one sequence of its axial slices, "volume.nii.gz#k" (k = 0 is the most
 * superior slice). */
static ctvk_status add_nifti(scan *sc)
{
    for (size_t f = 0; f < sc->nifti.n; f++) {
        int64_t n;
        double first, step;
        CTVK_TRY(ctvk__nifti_probe(sc->nifti.v[f], &n, &first, &step));
        for (int64_t k = 0; k < n; k++) {
            char full[4200], rel[4200];
            snprintf(full, sizeof full, "%s#%lld", sc->nifti.v[f], (long long)k);
            if (*sc->nifti_rel.v[f]) snprintf(rel, sizeof rel, "%s#%lld", sc->nifti_rel.v[f], (long long)k);
            else rel[0] = 0;                      /* the volume was named itself */
            CTVK_TRY(add_file(sc, full, rel));
            entry *e = &sc->v[sc->n - 1];
            const char *base = strrchr(sc->nifti.v[f], '/');
            base = base ? base + 1 : sc->nifti.v[f];
            char *series = malloc(strlen(e->series) + strlen(base) + 2);
            if (!series) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            sprintf(series, "%s/%s", e->series, base);
            free(e->series);
            e->series = series;
            e->kind = CTVK_SERIES_NIFTI;
            e->rank = (size_t)k + 1;
            e->pos = first + step * (double)k;
        }
    }
    return CTVK_OK;
}

/* Keeps only sequence k (its patient, its slices). */
static void keep_only(ctvk_series_set *set, int k)
{
    ctvk_series q = set->series[k];
    ctvk_patient p = set->patients[q.patient];
    for (size_t i = 0; i < set->nslices; i++)
        if (i < q.first || i >= q.first + q.count) free(set->slices[i]), set->slices[i] = NULL;
    memmove(set->slices, set->slices + q.first, q.count * sizeof *set->slices);
    memmove(set->instance, set->instance + q.first, q.count * sizeof *set->instance);
    memmove(set->position, set->position + q.first, q.count * sizeof *set->position);
    for (int i = 0; i < set->nseries; i++)
        if (i != k) free(set->series[i].name), free(set->series[i].uid), free(set->series[i].description);
    for (int i = 0; i < set->npatients; i++)
        if (i != q.patient) free(set->patients[i].id);
    q.first = 0, q.patient = 0;
    p.first = 0, p.count = q.count, p.first_series = 0, p.nseries = 1;
    p.label = q.label;
    set->series[0] = q;
    set->patients[0] = p;
    set->nslices = q.count, set->nseries = 1, set->npatients = 1;
}

static ctvk_status choose(ctvk_series_set *set, const ctvk_scan_options *o, const char *path)
{
    if (o && o->series) {
        int pick = -1;
        char *end;
        long idx = strtol(o->series, &end, 10);
        if (*o->series && !*end && idx >= 1 && idx <= set->nseries && !strchr(o->series, '.')) pick = (int)idx - 1;
        for (int i = 0; pick < 0 && i < set->nseries; i++)
            if ((set->series[i].uid && !strcmp(set->series[i].uid, o->series)) || !strcmp(set->series[i].name, o->series))
                pick = i;
        if (pick < 0)
            return ctvk__fail(CTVK_ERR_ARG, "%s: no series '%s' there (it holds %d; give a SeriesInstanceUID, a "
                              "sequence name or an index 1..%d)", path, o->series, set->nseries, set->nseries);
        keep_only(set, pick);
        return CTVK_OK;
    }
    if (!o || !o->one_series) return CTVK_OK;
    for (int p = 0; p < set->npatients; p++) {
        const ctvk_patient *pt = &set->patients[p];
        int several = 0;
        for (int i = pt->first_series; i < pt->first_series + pt->nseries; i++)
            several += set->series[i].kind != CTVK_SERIES_TIFF;
        if (several < 2) continue;
        char list[2048];
        size_t at = 0;
        for (int i = pt->first_series; i < pt->first_series + pt->nseries && at < sizeof list - 1; i++) {
            const ctvk_series *q = &set->series[i];
            int w = snprintf(list + at, sizeof list - at, "%s  %d: %s%s%s%s (%zu slices)", at ? "\n" : "", i + 1,
                             q->uid ? q->uid : q->name, q->description ? " '" : "", q->description ? q->description : "",
                             q->description ? "'" : "", q->count);
            if (w < 0) break;
            at += (size_t)w < sizeof list - at ? (size_t)w : sizeof list - at - 1;
        }
        return ctvk__fail(CTVK_ERR_ARG, "%s: patient %s has %d series; choose one with --series UID or --series INDEX:\n%s",
                          path, pt->id, pt->nseries, list);
    }
    return CTVK_OK;
}

ctvk_status ctvk_series_scan(const char *path, ctvk_series_set **out) { return ctvk_series_scan_ex(path, NULL, out); }

ctvk_status ctvk_series_scan_ex(const char *path, const ctvk_scan_options *o, ctvk_series_set **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
    char *root = strdup(path);
    if (!root) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (size_t l = strlen(root); l > 1 && root[l - 1] == '/';) root[--l] = 0;
    scan sc = {0};
    sc.root = root;
    ctvk_status s;
    if (S_ISDIR(st.st_mode)) s = walk(&sc, root, "", 0);
    else if (S_ISREG(st.st_mode)) {
        const char *b = strrchr(root, '/');
        b = b ? b + 1 : root;
        if (is_tiff_name(b)) s = add_file(&sc, root, "");
        else if (is_nifti_name(b)) {
            if ((s = ctvk__strs_push(&sc.nifti, root)) == CTVK_OK) s = ctvk__strs_push(&sc.nifti_rel, "");
        } else if (ctvk__is_dicom(root)) {
            if ((s = ctvk__strs_push(&sc.dicom, root)) == CTVK_OK) s = ctvk__strs_push(&sc.dicom_rel, "");
        } else
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: not a slice ctvk reads: not a TIFF file (.tif, .tiff), not a DICOM "
                           "file (no 'DICM' at byte 128) and not a NIfTI volume (.nii, .nii.gz)", path);
    } else s = ctvk__fail(CTVK_ERR_ARG, "%s: not a file or folder", path);
    ctvk__dstudy study = {0};
    if (s == CTVK_OK) s = add_dicom(&sc, &study);
    if (s == CTVK_OK) s = add_nifti(&sc);
    if (s == CTVK_OK && sc.n == 0) {
        if (study.notes.n)
            s = ctvk__fail(CTVK_ERR_ARG, "%s: no CT image series there (%s%s)", path, study.notes.v[0],
                           study.notes.n > 1 ? "; and more" : "");
        else
            s = ctvk__fail(CTVK_ERR_ARG, "%s: no slices (.tif or .tiff files, DICOM files or NIfTI volumes) found there",
                           path);
    }

    ctvk_series_set *set = NULL;
    if (s == CTVK_OK) {
        qsort(sc.v, sc.n, sizeof *sc.v, cmp_entry);
        set = calloc(1, sizeof *set);
        if (set) {
            set->slices = calloc(sc.n, sizeof *set->slices);
            set->series = calloc(sc.n, sizeof *set->series);      /* at most one per slice */
            set->patients = calloc(sc.n, sizeof *set->patients);
            set->instance = calloc(sc.n, sizeof *set->instance);
            set->position = calloc(sc.n, sizeof *set->position);
            set->notes = calloc(study.notes.n + 1, sizeof *set->notes);
        }
        if (!set || !set->slices || !set->series || !set->patients || !set->instance || !set->position || !set->notes)
            s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        for (size_t i = 0; s == CTVK_OK && i < study.notes.n; i++) set->notes[set->nnotes++] = study.notes.v[i], study.notes.v[i] = NULL;
    }
    for (size_t i = 0; s == CTVK_OK && i < sc.n; i++) {
        entry *e = &sc.v[i];
        int newp = i == 0 || strcmp(e->patient, set->patients[set->npatients - 1].id);
        int news = newp || strcmp(e->series, set->series[set->nseries - 1].name);
        if (newp) {
            ctvk_patient *p = &set->patients[set->npatients++];
            p->id = e->patient, e->patient = NULL;
            p->label = e->label;
            p->first_series = set->nseries;
            p->first = i;
        }
        ctvk_patient *p = &set->patients[set->npatients - 1];
        if (news) {
            ctvk_series *q = &set->series[set->nseries++];
            q->name = e->series, e->series = NULL;
            q->patient = set->npatients - 1;
            q->label = e->label;
            q->first = i;
            q->kind = e->kind;
            if (e->dcm) {
                q->uid = strdup(e->dcm->uid);
                q->description = strdup(e->dcm->description);
                q->number = e->dcm->number;
                if (!q->uid || !q->description) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            }
            p->nseries++;
        }
        if (p->label != e->label) p->label = CTVK_CLASS_UNKNOWN;
        set->series[set->nseries - 1].count++;
        p->count++;
        set->slices[i] = e->path, e->path = NULL;
        set->instance[i] = e->instance;
        set->position[i] = e->pos;
        set->nslices++;
    }
    for (size_t i = 0; i < sc.n; i++) {
        free(sc.v[i].path);
        free(sc.v[i].series);
        free(sc.v[i].patient);
    }
    free(sc.v);
    ctvk__strs_free(&sc.dicom), ctvk__strs_free(&sc.dicom_rel), ctvk__strs_free(&sc.nifti), ctvk__strs_free(&sc.nifti_rel);
    if (s == CTVK_OK) s = choose(set, o, path);
    /* a DICOM series that cannot be used fails the scan while it is in the set */
    for (int k = 0; s == CTVK_OK && k < set->nseries; k++)
        for (int j = 0; j < study.n; j++)
            if (set->series[k].uid && !strcmp(set->series[k].uid, study.v[j].uid) && study.v[j].problem[0]) {
                s = ctvk__fail(CTVK_ERR_FORMAT, "%s: DICOM series %d '%s' (%s): %s", path, study.v[j].number,
                               study.v[j].description, study.v[j].uid, study.v[j].problem);
                break;
            }
    ctvk__dstudy_free(&study);
    free(root);
    if (s != CTVK_OK) { ctvk_series_free(set); return s; }
    *out = set;
    return CTVK_OK;
}
