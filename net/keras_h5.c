/* Keras HDF5 weight files in (load_weights(by_name=True, skip_mismatch=True)) and out (save_weights). */
#include "ctvk/checkpoint.h"
#include "runtime/base/array.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keras splits an attribute larger than this into NAME0, NAME1, ... (h5py's object header limit).
 * Not static so that a test can lower it. */
size_t ctvk__keras_attr_limit = 64512;

/* ------------------------------------------------------------------ small helpers */
typedef struct strlist { char **v; int n, cap; } strlist;

static void sl_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int sl_push(strlist *l, const char *s, size_t len)
{
    CTVK__GROW(l->v, l->cap, l->n + 1, 16, return -1);
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    l->v[l->n++] = c;
    return 0;
}

typedef struct sbuf { char *s; size_t len, cap; int lines; } sbuf;

static void sb_line(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_line(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t k = strlen(tmp);
    tmp[k++] = '\n';
    if (b->len + k + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + k;
        char *ns = realloc(b->s, cap);
        if (!ns) return;   /* the report loses a line; the import itself is unaffected */
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, tmp, k);
    b->len += k;
    b->s[b->len] = 0;
    b->lines++;
}

static void shape_str(const hsize_t *d64, const int *d32, int ndim, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", i ? ", " : "",
                              d64 ? (unsigned long long)d64[i] : (unsigned long long)d32[i]);
    if (ndim == 1 && o < n) o += (size_t)snprintf(buf + o, n - o, ",");
    if (o < n) snprintf(buf + o, n - o, ")");
}

/* HDF5 prints its error stack by default; the library must not print. */
typedef struct h5quiet { H5E_auto2_t fn; void *data; } h5quiet;
static void quiet_on(h5quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
static void quiet_off(const h5quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

/* ------------------------------------------------------------------ string-list attributes */
/* Reads one attribute holding strings (fixed-length or variable-length; scalar or 1-D; an empty
 * attribute of any type is an empty list) and appends them to out. */
static ctvk_status read_strings(hid_t obj, const char *attr, const char *where, strlist *out)
{
    ctvk_status s = CTVK_OK;
    hid_t a = H5Aopen(obj, attr, H5P_DEFAULT), sp = -1, ft = -1, mt = -1;
    if (a < 0) return ctvk__fail(CTVK_ERR_FORMAT, "%s: cannot open attribute %s", where, attr);
    sp = H5Aget_space(a);
    ft = H5Aget_type(a);
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp < 0 || ft < 0 || n < 0) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: unreadable attribute %s", where, attr); goto out; }
    if (n == 0) goto out;
    if (H5Tget_class(ft) != H5T_STRING) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "%s: attribute %s is not a list of strings", where, attr);
        goto out;
    }
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ft));   /* HDF5 converts no ASCII <-> UTF-8 */
    if (H5Tis_variable_str(ft) > 0) {
        char **v = calloc((size_t)n, sizeof *v);
        if (!v) { s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); goto out; }
        if (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Aread(a, mt, v) < 0) {
            free(v);
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: cannot read attribute %s", where, attr);
            goto out;
        }
        for (hssize_t i = 0; i < n && !s; i++)
            if (sl_push(out, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0)) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, sp, H5P_DEFAULT, v);
#else
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
#endif
        free(v);
    } else {
        size_t size = H5Tget_size(ft);
        char *buf = size ? malloc((size_t)n * size) : NULL;
        if (!buf) { s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); goto out; }
        if (H5Tset_size(mt, size) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 || H5Aread(a, mt, buf) < 0) {
            free(buf);
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: cannot read attribute %s", where, attr);
            goto out;
        }
        for (hssize_t i = 0; i < n && !s; i++) {
            const char *e = buf + (size_t)i * size;
            size_t len = 0;
            while (len < size && e[len]) len++;
            while (len && e[len - 1] == ' ' && H5Tget_strpad(ft) == H5T_STR_SPACEPAD) len--;
            if (sl_push(out, e, len)) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        }
        free(buf);
    }
out:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return s;
}

/* Keras' load_attributes_from_hdf5_group: NAME, or NAME0, NAME1, ... Sets *found. */
static ctvk_status read_list_attr(hid_t obj, const char *name, const char *where, strlist *out, int *found)
{
    *found = 0;
    if (H5Aexists(obj, name) > 0) {
        *found = 1;
        return read_strings(obj, name, where, out);
    }
    for (int k = 0;; k++) {
        char an[96];
        snprintf(an, sizeof an, "%s%d", name, k);
        if (H5Aexists(obj, an) <= 0) return CTVK_OK;
        *found = 1;
        CTVK_TRY(read_strings(obj, an, where, out));
    }
}

/* ------------------------------------------------------------------ import */
void ctvk_keras_report_free(ctvk_keras_report *rep)
{
    if (!rep) return;
    free(rep->skipped);
    free(rep->unmatched);
    free(rep->missing);
    memset(rep, 0, sizeof *rep);
}

typedef struct importer {
    const char *path;
    const ctvk_graph *g;
    float *params;
    ctvk_conv1_from_rgb conv1;
    ctvk_keras_report rep;
    sbuf skipped, unmatched, missing;
    unsigned char *provided;    /* per graph tensor: the file has a weight for it */
} importer;

/* NaN or infinity in a weight would make every answer the same: refused by name. */
static ctvk_status check_finite(const char *where, const char *weight, const float *x, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && !bad++) first = i;
    if (!bad) return CTVK_OK;
    return ctvk__fail(CTVK_ERR_FORMAT, "%s: weight %s holds %zu non-finite value%s (%s at index %zu): refusing "
                      "weights that cannot give a valid answer", where, weight, bad, bad == 1 ? "" : "s",
                      isnan(x[first]) ? "NaN" : "infinity", first);
}

static ctvk_status import_layer(importer *im, hid_t root, const char *lname)
{
    char where[4400];
    snprintf(where, sizeof where, "keras weights %s: layer %s", im->path, lname);
    if (H5Lexists(root, lname, H5P_DEFAULT) <= 0)
        return ctvk__fail(CTVK_ERR_FORMAT, "%s is listed in layer_names but has no group (corrupt)", where);
    hid_t gid = H5Gopen2(root, lname, H5P_DEFAULT);
    if (gid < 0) return ctvk__fail(CTVK_ERR_FORMAT, "%s: cannot open its group", where);
    strlist wn = {0};
    int found;
    ctvk_status s = read_list_attr(gid, "weight_names", where, &wn, &found);
    if (!s && !found) s = ctvk__fail(CTVK_ERR_FORMAT, "%s has no weight_names attribute (not a Keras weight file?)", where);
    int li = s ? -1 : ctvk_graph_find(im->g, lname);
    if (s) goto out;
    if (li < 0) {
        if (wn.n) sb_line(&im->unmatched, "%s (%d weight%s)", lname, wn.n, wn.n == 1 ? "" : "s");
        goto out;
    }
    im->rep.matched_layers++;
    const ctvk_layer *l = &im->g->layers[li];
    for (int k = 0; k < l->nparams && k < wn.n; k++) im->provided[(size_t)li * CTVK_MAX_PARAMS + (size_t)k] = 1;
    if (wn.n != l->nparams) {
        for (int k = 0; k < wn.n; k++) {
            sb_line(&im->skipped, "%s: the layer has %d weight(s) in the file but %d in the model", wn.v[k], wn.n,
                    l->nparams);
            im->rep.weights_skipped++;
        }
        goto out;
    }
    for (int k = 0; k < wn.n && !s; k++) {
        const ctvk_param *p = &l->params[k];
        hid_t d = H5Lexists(gid, wn.v[k], H5P_DEFAULT) > 0 ? H5Dopen2(gid, wn.v[k], H5P_DEFAULT) : -1;
        if (d < 0) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: weight %s has no dataset (corrupt)", where, wn.v[k]); break; }
        hid_t sp = H5Dget_space(d), ft = H5Dget_type(d);
        hsize_t dims[H5S_MAX_RANK];
        int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (nd < 0 || nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 || ft < 0)
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: weight %s: unreadable dataset", where, wn.v[k]);
        else if (H5Tget_class(ft) != H5T_FLOAT && H5Tget_class(ft) != H5T_INTEGER)
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: weight %s is not numeric", where, wn.v[k]);
        int same = !s && nd == p->ndim;
        for (int i = 0; same && i < nd; i++) same = dims[i] == (hsize_t)p->dims[i];
        int sum = !s && !same && im->conv1 == CTVK_CONV1_SUM && !strcmp(lname, "conv1_conv") &&
                  !strcmp(p->name, "kernel:0") && nd == 4 && p->ndim == 4 && dims[0] == (hsize_t)p->dims[0] &&
                  dims[1] == (hsize_t)p->dims[1] && dims[3] == (hsize_t)p->dims[3] && p->dims[2] == 1 && dims[2] > 1;
        if (s) {
            /* reported */
        } else if (same) {
            if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->params + p->offset) < 0)
                s = ctvk__fail(CTVK_ERR_FORMAT, "%s: weight %s: cannot read its data", where, wn.v[k]);
            else if (!(s = check_finite(where, wn.v[k], im->params + p->offset, p->count))) {
                im->rep.weights_loaded++;
                im->rep.floats_loaded += p->count;
            }
        } else if (sum) {
            size_t cin = (size_t)dims[2], hw = (size_t)p->dims[0] * (size_t)p->dims[1], f = (size_t)p->dims[3];
            float *t = malloc(hw * cin * f * sizeof *t);
            if (!t) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t) < 0)
                s = ctvk__fail(CTVK_ERR_FORMAT, "%s: weight %s: cannot read its data", where, wn.v[k]);
            else if (!(s = check_finite(where, wn.v[k], t, hw * cin * f))) {
                float *x = im->params + p->offset;
                for (size_t i = 0; i < hw; i++)
                    for (size_t o = 0; o < f; o++) {
                        float acc = 0.0f;
                        for (size_t c = 0; c < cin; c++) acc += t[(i * cin + c) * f + o];
                        x[i * f + o] = acc;
                    }
                im->rep.weights_loaded++;
                im->rep.weights_summed++;
                im->rep.floats_loaded += p->count;
            }
            free(t);
        } else {
            char a[128], b[128];
            shape_str(dims, NULL, nd, a, sizeof a);
            shape_str(NULL, p->dims, p->ndim, b, sizeof b);
            sb_line(&im->skipped, "%s: shape %s in the file, %s in the model", wn.v[k], a, b);
            im->rep.weights_skipped++;
        }
        if (ft >= 0) H5Tclose(ft);
        if (sp >= 0) H5Sclose(sp);
        H5Dclose(d);
    }
out:
    sl_free(&wn);
    H5Gclose(gid);
    return s;
}

ctvk_status ctvk_keras_import(const char *h5path, const ctvk_graph *g, float *params, ctvk_conv1_from_rgb conv1,
                              ctvk_keras_report *rep)
{
    if (rep) memset(rep, 0, sizeof *rep);
    struct stat st;
    if (stat(h5path, &st) != 0)
        return ctvk__fail(CTVK_ERR_IO, "keras weights %s: cannot read it: %s", h5path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return ctvk__fail(CTVK_ERR_IO, "keras weights %s: not a regular file", h5path);
    h5quiet q;
    quiet_on(&q);
    importer im = {.path = h5path, .g = g, .params = params, .conv1 = conv1};
    ctvk_status s = CTVK_OK;
    hid_t f = -1, root = -1;
    strlist names = {0};
    im.provided = calloc((size_t)g->nlayers * CTVK_MAX_PARAMS + 1, 1);
    if (!im.provided) { s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); goto out; }
    if (H5Fis_hdf5(h5path) <= 0) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "keras weights %s: not an HDF5 file", h5path);
        goto out;
    }
    f = H5Fopen(h5path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { s = ctvk__fail(CTVK_ERR_FORMAT, "keras weights %s: cannot open it as HDF5 (corrupt?)", h5path); goto out; }
    root = H5Gopen2(f, "/", H5P_DEFAULT);
    int found = 0;
    char where[4400];
    snprintf(where, sizeof where, "keras weights %s", h5path);
    if (root >= 0 && H5Aexists(root, "layer_names") <= 0 && H5Aexists(root, "layer_names0") <= 0 &&
        H5Lexists(root, "model_weights", H5P_DEFAULT) > 0) {
        H5Gclose(root);
        root = H5Gopen2(f, "model_weights", H5P_DEFAULT);   /* a whole-model (ModelCheckpoint) file */
    }
    if (root < 0) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: cannot open its root group", where); goto out; }
    if ((s = read_list_attr(root, "layer_names", where, &names, &found))) goto out;
    if (!found) {
        s = ctvk__fail(CTVK_ERR_FORMAT, "%s: no layer_names attribute at / or /model_weights: not a Keras weight file",
                       where);
        goto out;
    }
    im.rep.file_layers = names.n;
    for (int i = 0; i < names.n && !s; i++) s = import_layer(&im, root, names.v[i]);
    if (s) goto out;
    for (int li = 0; li < g->nlayers; li++)
        for (int k = 0; k < g->layers[li].nparams; k++)
            if (!im.provided[(size_t)li * CTVK_MAX_PARAMS + (size_t)k]) {
                sb_line(&im.missing, "%s/%s", g->layers[li].name, g->layers[li].params[k].name);
                im.rep.weights_missing++;
            }
out:
    sl_free(&names);
    if (root >= 0) H5Gclose(root);
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
    free(im.provided);
    if (s || !rep) {
        free(im.skipped.s);
        free(im.unmatched.s);
        free(im.missing.s);
        return s;
    }
    *rep = im.rep;
    rep->skipped = im.skipped.s;
    rep->unmatched = im.unmatched.s;
    rep->missing = im.missing.s;
    return CTVK_OK;
}

ctvk_status ctvk_keras_check_complete(const char *h5path, const ctvk_graph *g, const ctvk_keras_report *rep,
                                      const char *allow)
{
    int tensors = 0, unmatched = 0;
    for (int i = 0; i < g->nlayers; i++) tensors += g->layers[i].nparams;
    for (const char *p = rep->unmatched; p && *p; p++) unmatched += *p == '\n';
    if (rep->weights_loaded == tensors && !rep->weights_skipped && !unmatched) return CTVK_OK;
    return ctvk__fail(CTVK_ERR_ARG, "keras weights %s: a partial import: %d of the %s model's %d weights loaded (%zu "
                      "of %zu values), %d weight%s of the file skipped, %d of its layers not in the model, %d model "
                      "weight%s left at their initialisation; refused (%s to accept it)", h5path, rep->weights_loaded,
                      g->cfg.arch, tensors, rep->floats_loaded, g->params_total, rep->weights_skipped,
                      rep->weights_skipped == 1 ? "" : "s", unmatched, rep->weights_missing,
                      rep->weights_missing == 1 ? "" : "s", allow);
}

/* ------------------------------------------------------------------ export */
static int write_fixed_str_scalar(hid_t obj, const char *name, const char *value)
{
    size_t len = strlen(value);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    int rc = -1;
    if (t >= 0 && sp >= 0 && H5Tset_size(t, len ? len : 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0 &&
        (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 && H5Awrite(a, t, value) >= 0)
        rc = 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return rc;
}

/* One 1-D attribute of fixed-length strings (numpy 'S<max>': NULLPAD, ASCII), or an empty float64
 * array when there are none (what Keras writes for a weightless layer). */
static int write_str_array(hid_t obj, const char *name, char **v, int n, size_t itemsize)
{
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL), t = -1, a = -1;
    int rc = -1;
    char *buf = NULL;
    if (sp < 0) return -1;
    if (n == 0) {
        if ((a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0) rc = 0;
        goto out;
    }
    buf = calloc((size_t)n, itemsize);
    if (!buf) goto out;
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * itemsize, v[i], strlen(v[i]));
    t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && H5Tset_size(t, itemsize) >= 0 && H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0 &&
        (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 && H5Awrite(a, t, buf) >= 0)
        rc = 0;
out:
    free(buf);
    if (a >= 0) H5Aclose(a);
    if (t >= 0) H5Tclose(t);
    H5Sclose(sp);
    return rc;
}

/* Keras' save_attributes_to_hdf5_group: split into NAME0.. (np.array_split) when too large. */
static int write_list_attr(hid_t obj, const char *name, char **v, int n)
{
    size_t itemsize = 1;
    for (int i = 0; i < n; i++) if (strlen(v[i]) > itemsize) itemsize = strlen(v[i]);
    int chunks = 1;
    for (;;) {
        size_t biggest = (size_t)(n / chunks + (n % chunks ? 1 : 0)) * itemsize;
        if (biggest <= ctvk__keras_attr_limit || chunks >= n) break;
        chunks++;
    }
    if (chunks == 1) return write_str_array(obj, name, v, n, itemsize);
    int at = 0;
    for (int c = 0; c < chunks; c++) {
        int k = n / chunks + (c < n % chunks ? 1 : 0);
        char an[96];
        snprintf(an, sizeof an, "%s%d", name, c);
        if (write_str_array(obj, an, v + at, k, itemsize)) return -1;
        at += k;
    }
    return 0;
}

static ctvk_status export_body(hid_t f, const ctvk_graph *g, const float *params)
{
    char **names = malloc((size_t)(g->nlayers ? g->nlayers : 1) * sizeof *names);
    if (!names) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (int i = 0; i < g->nlayers; i++) names[i] = (char *)g->layers[i].name;
    int bad = write_list_attr(f, "layer_names", names, g->nlayers) || write_fixed_str_scalar(f, "backend", "tensorflow") ||
              write_fixed_str_scalar(f, "keras_version", "2.3.1");
    free(names);
    if (bad) return ctvk__fail(CTVK_ERR_IO, "cannot write the root attributes");
    /* no object timestamps: the same parameters give the same bytes */
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), gcpl = H5Pcreate(H5P_GROUP_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    ctvk_status s = CTVK_OK;
    if (lcpl < 0 || gcpl < 0 || dcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        H5Pset_obj_track_times(gcpl, 0) < 0 || H5Pset_obj_track_times(dcpl, 0) < 0)
        s = ctvk__fail(CTVK_ERR_IO, "HDF5 property lists");
    for (int i = 0; i < g->nlayers && !s; i++) {
        const ctvk_layer *l = &g->layers[i];
        hid_t gid = H5Gcreate2(f, l->name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        if (gid < 0) { s = ctvk__fail(CTVK_ERR_IO, "cannot create the group of layer %s", l->name); break; }
        char wn[CTVK_MAX_PARAMS][CTVK_NAME_MAX + 40], *wp[CTVK_MAX_PARAMS];
        for (int k = 0; k < l->nparams; k++) {
            snprintf(wn[k], sizeof wn[k], "%s/%s", l->name, l->params[k].name);
            wp[k] = wn[k];
        }
        if (write_list_attr(gid, "weight_names", wp, l->nparams))
            s = ctvk__fail(CTVK_ERR_IO, "cannot write weight_names of layer %s", l->name);
        /* the weight names "layer/kernel:0" make datasets /layer/layer/kernel:0: create the inner group */
        hid_t inner = l->nparams && !s ? H5Gcreate2(gid, l->name, H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
        if (l->nparams && !s && inner < 0) s = ctvk__fail(CTVK_ERR_IO, "cannot create the group %s/%s", l->name, l->name);
        if (inner >= 0) H5Gclose(inner);
        for (int k = 0; k < l->nparams && !s; k++) {
            const ctvk_param *p = &l->params[k];
            hsize_t dims[4];
            for (int d = 0; d < p->ndim; d++) dims[d] = (hsize_t)p->dims[d];
            hid_t sp = H5Screate_simple(p->ndim, dims, NULL), d = -1;
            if (sp >= 0) d = H5Dcreate2(gid, wn[k], H5T_IEEE_F32LE, sp, lcpl, dcpl, H5P_DEFAULT);
            if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, params + p->offset) < 0)
                s = ctvk__fail(CTVK_ERR_IO, "cannot write dataset %s", wn[k]);
            if (d >= 0) H5Dclose(d);
            if (sp >= 0) H5Sclose(sp);
        }
        H5Gclose(gid);
    }
    if (lcpl >= 0) H5Pclose(lcpl);
    if (gcpl >= 0) H5Pclose(gcpl);
    if (dcpl >= 0) H5Pclose(dcpl);
    return s;
}

ctvk_status ctvk_keras_export(const char *h5path, const ctvk_graph *g, const float *params)
{
    /* The file is built in memory (HDF5's core driver, no backing store) and then written by ctvk
     * through a temporary file and a rename: a full disk is then one write error with its errno, no
     * HDF5 error dump at exit, and no partial file. */
    h5quiet q;
    quiet_on(&q);
    ctvk_status s = CTVK_OK;
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fcpl >= 0) H5Pset_obj_track_times(fcpl, 0);
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    hid_t f = s ? -1 : H5Fcreate(h5path, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    void *image = NULL;
    ssize_t len = 0;
    if (!s && f < 0) s = ctvk__fail(CTVK_ERR_NOMEM, "keras weights %s: HDF5 cannot build the file in memory", h5path);
    if (!s) {
        s = export_body(f, g, params);
        if (s) {
            char *why = strdup(ctvk_error());
            s = ctvk__fail(CTVK_ERR_NOMEM, "keras weights %s: %s", h5path, why ? why : "out of host memory");
            free(why);
        }
        if (!s && (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (len = H5Fget_file_image(f, NULL, 0)) <= 0))
            s = ctvk__fail(CTVK_ERR_NOMEM, "keras weights %s: HDF5 cannot build the file in memory", h5path);
        if (!s && !(image = malloc((size_t)len))) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        if (!s && H5Fget_file_image(f, image, (size_t)len) != len)
            s = ctvk__fail(CTVK_ERR_NOMEM, "keras weights %s: HDF5 cannot build the file in memory", h5path);
    }
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
    if (!s && ctvk__write_file_atomic(h5path, image, (size_t)len)) {
        char *why = strdup(ctvk_error());
        s = ctvk__fail(CTVK_ERR_IO, "keras weights: %s", why ? why : h5path);
        free(why);
    }
    free(image);
    return s;
}
