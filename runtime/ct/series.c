/* Finding slices under a path and grouping them into sequences and patients. */
#include "runtime/ct/ct_internal.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct entry {
    char *path;         /* full path */
    char *series;       /* series name */
    char *patient;      /* patient id */
    const char *base;   /* file name, inside path */
    int label;
} entry;

typedef struct scan {
    entry *v;
    size_t n, cap;
    const char *root;   /* as given, trailing slashes trimmed */
} scan;

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
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        entry *v = realloc(sc->v, cap * sizeof *v);
        if (!v) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        sc->v = v, sc->cap = cap;
    }
    entry *e = &sc->v[sc->n];
    memset(e, 0, sizeof *e);
    e->label = CTVK_CLASS_UNKNOWN;
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
    if (!c) c = ctvk__natcmp(a->series, b->series);
    if (!c) c = ctvk__natcmp(a->base, b->base);
    if (!c) c = strcmp(a->path, b->path);
    return c;
}

void ctvk_series_free(ctvk_series_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nslices; i++) free(s->slices[i]);
    for (int i = 0; i < s->nseries; i++) free(s->series[i].name);
    for (int i = 0; i < s->npatients; i++) free(s->patients[i].id);
    free(s->slices);
    free(s->series);
    free(s->patients);
    free(s);
}

ctvk_status ctvk_series_scan(const char *path, ctvk_series_set **out)
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
    else if (S_ISREG(st.st_mode)) s = add_file(&sc, root, "");
    else s = ctvk__fail(CTVK_ERR_ARG, "%s: not a file or folder", path);
    if (s == CTVK_OK && sc.n == 0)
        s = ctvk__fail(CTVK_ERR_ARG, "%s: no slices (.tif or .tiff files) found there", path);

    ctvk_series_set *set = NULL;
    if (s == CTVK_OK) {
        qsort(sc.v, sc.n, sizeof *sc.v, cmp_entry);
        set = calloc(1, sizeof *set);
        if (set) {
            set->slices = calloc(sc.n, sizeof *set->slices);
            set->series = calloc(sc.n, sizeof *set->series);      /* at most one per slice */
            set->patients = calloc(sc.n, sizeof *set->patients);
        }
        if (!set || !set->slices || !set->series || !set->patients) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
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
            p->nseries++;
        }
        if (p->label != e->label) p->label = CTVK_CLASS_UNKNOWN;
        set->series[set->nseries - 1].count++;
        p->count++;
        set->slices[i] = e->path, e->path = NULL;
        set->nslices++;
    }
    for (size_t i = 0; i < sc.n; i++) {
        free(sc.v[i].path);
        free(sc.v[i].series);
        free(sc.v[i].patient);
    }
    free(sc.v);
    free(root);
    if (s != CTVK_OK) { ctvk_series_free(set); return s; }
    *out = set;
    return CTVK_OK;
}
