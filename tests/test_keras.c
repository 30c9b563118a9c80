/* Keras HDF5 weights: a Keras-layout file written here with libhdf5 (a small_resnet; the RGB conv1_conv
 * kernel that mismatches the 1-channel model, a layer the model lacks, a model layer the file lacks,
 * weightless layers with empty weight_names of two types, fixed- and variable-length strings,
 * layer_names split into layer_names0/1) is imported, exported and compared with the original
 * dataset by dataset and attribute by attribute, bit-exactly; the whole-model layout (/model_weights)
 * imports the same; conv1_from_rgb=sum gives the summed kernel and skip keeps the initialisation;
 * an exported file re-imports bit-exactly, also with Keras' attribute splitting; bad files are
 * refused with the file named. */
#include "ctvk/checkpoint.h"
#include "tests/check.h"
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern size_t ctvk__keras_attr_limit;

#define MAXL 128
static const ctvk_graph *G;
static float *FILEP;            /* what the file holds, in the graph's layout (matching shapes) */
static float CONV1_RGB[3 * 3 * 3 * 4];
static const char *ORDER[MAXL]; /* the file's layer order */
static int NORDER;

/* ------------------------------------------------------------------ writing with libhdf5 */
static void attr_fixed(hid_t obj, const char *name, const char *const *v, int n)
{
    size_t item = 1;
    for (int i = 0; i < n; i++) if (strlen(v[i]) > item) item = strlen(v[i]);
    char *buf = calloc(n > 0 ? (size_t)n : 1u, item);
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * item, v[i], strlen(v[i]));
    hsize_t dim = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &dim, NULL);
    H5Tset_size(t, item);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && (n == 0 || H5Awrite(a, t, buf) >= 0), "attribute %s", name);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
}

static void attr_vlen(hid_t obj, const char *name, const char *const *v, int n)
{
    hsize_t dim = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &dim, NULL);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, t, v) >= 0, "attribute %s", name);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void attr_empty_f64(hid_t obj, const char *name)
{
    hsize_t dim = 0;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0, "attribute %s", name);
    H5Aclose(a);
    H5Sclose(sp);
}

static void attr_scalar(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(v));
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a >= 0 && H5Awrite(a, t, v) >= 0, "attribute %s", name);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void dataset(hid_t grp, const char *path, int ndim, const int *dims, const float *data)
{
    hsize_t d[4];
    for (int i = 0; i < ndim; i++) d[i] = (hsize_t)dims[i];
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(ndim, d, NULL);
    hid_t ds = H5Dcreate2(grp, path, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, "dataset %s", path);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(lcpl);
}

/* The Keras layout under `root` (the file's root group or /model_weights). */
static void write_layers(hid_t root)
{
    /* layer_names split in two, as Keras does for long lists */
    int half = NORDER / 2 + NORDER % 2;
    attr_fixed(root, "layer_names0", ORDER, half);
    attr_fixed(root, "layer_names1", ORDER + half, NORDER - half);
    attr_scalar(root, "backend", "tensorflow");
    attr_scalar(root, "keras_version", "2.3.1");
    for (int i = 0; i < NORDER; i++) {
        hid_t g = H5Gcreate2(root, ORDER[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (!strcmp(ORDER[i], "extra_dense")) {
            static const float w[6] = {1, 2, 3, 4, 5, 6};
            const char *wn[2] = {"extra_dense/kernel:0", "extra_dense/bias:0"};
            attr_fixed(g, "weight_names", wn, 2);
            dataset(g, wn[0], 2, (const int[]){3, 2}, w);
            dataset(g, wn[1], 1, (const int[]){2}, w);
            H5Gclose(g);
            continue;
        }
        const ctvk_layer *l = &G->layers[ctvk_graph_find(G, ORDER[i])];
        char names[CTVK_MAX_PARAMS][128];
        const char *wn[CTVK_MAX_PARAMS];
        for (int k = 0; k < l->nparams; k++) {
            snprintf(names[k], sizeof names[k], "%s/%s", l->name, l->params[k].name);
            wn[k] = names[k];
        }
        if (l->nparams == 0 && !strcmp(l->name, "pool1_pad")) attr_fixed(g, "weight_names", wn, 0);   /* empty 'S1' */
        else if (l->nparams == 0) attr_empty_f64(g, "weight_names");
        else if (!strcmp(l->name, "conv2_block1_1_bn")) attr_vlen(g, "weight_names", wn, l->nparams);
        else attr_fixed(g, "weight_names", wn, l->nparams);
        for (int k = 0; k < l->nparams; k++) {
            const ctvk_param *p = &l->params[k];
            if (!strcmp(l->name, "conv1_conv") && k == 0)
                dataset(g, wn[k], 4, (const int[]){3, 3, 3, 4}, CONV1_RGB);
            else
                dataset(g, wn[k], p->ndim, p->dims, FILEP + p->offset);
        }
        H5Gclose(g);
    }
}

static void write_file(const char *path, int whole_model)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0, "create %s", path);
    if (whole_model) {
        attr_scalar(f, "model_config", "{\"class_name\": \"Model\"}");
        attr_scalar(f, "keras_version", "2.3.1");
        hid_t mw = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        write_layers(mw);
        H5Gclose(mw);
        hid_t og = H5Gcreate2(f, "optimizer_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Gclose(og);
    } else {
        write_layers(f);
    }
    H5Fclose(f);
}

/* ------------------------------------------------------------------ reading back for comparison */
/* The raw bytes, type and element count of an attribute. */
typedef struct rawattr { hid_t type; hssize_t n; size_t bytes; unsigned char *data; int vlen; } rawattr;

static int read_raw_attr(hid_t obj, const char *name, rawattr *r)
{
    memset(r, 0, sizeof *r);
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), sp = H5Aget_space(a);
    r->type = H5Aget_type(a);
    r->n = H5Sget_simple_extent_npoints(sp);
    r->vlen = H5Tis_variable_str(r->type) > 0;
    r->bytes = (size_t)r->n * H5Tget_size(r->type);
    r->data = calloc(r->bytes + 1, 1);
    if (r->n > 0 && !r->vlen) H5Aread(a, r->type, r->data);
    H5Sclose(sp);
    H5Aclose(a);
    return 0;
}

static void free_raw(rawattr *r)
{
    if (r->type > 0) H5Tclose(r->type);
    free(r->data);
}

/* Decoded strings of an attribute, joined by '|'. */
static void strings_of(hid_t obj, const char *name, char *out, size_t n)
{
    out[0] = 0;
    rawattr r;
    if (read_raw_attr(obj, name, &r)) { snprintf(out, n, "(absent)"); return; }
    if (r.n > 0 && H5Tget_class(r.type) == H5T_STRING) {
        hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
        if (r.vlen) {
            char **v = calloc((size_t)r.n, sizeof *v);
            hid_t sp = H5Aget_space(a);
            H5Aread(a, r.type, v);
            for (hssize_t i = 0; i < r.n; i++) {
                size_t len = strlen(out);
                snprintf(out + len, n - len, "%s%s", i ? "|" : "", v[i]);
            }
#if H5_VERSION_GE(1, 12, 0)
            H5Treclaim(r.type, sp, H5P_DEFAULT, v);
#else
            H5Dvlen_reclaim(r.type, sp, H5P_DEFAULT, v);
#endif
            H5Sclose(sp);
            free(v);
        } else {
            size_t item = H5Tget_size(r.type);
            for (hssize_t i = 0; i < r.n; i++) {
                size_t len = strlen(out);
                snprintf(out + len, n - len, "%s%.*s", i ? "|" : "", (int)strnlen((char *)r.data + (size_t)i * item, item),
                         (char *)r.data + (size_t)i * item);
            }
        }
        H5Aclose(a);
    }
    free_raw(&r);
}

static float *read_dataset(hid_t f, const char *path, int *ndim, hsize_t *dims, hid_t *type)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    *ndim = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    *type = H5Dget_type(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(sp);
    float *x = malloc((n ? n : 1) * sizeof *x);
    H5Dread(d, *type, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);   /* raw bytes in the file's type (f32le) */
    H5Sclose(sp);
    H5Dclose(d);
    return x;
}

static int layer_in_order(const char *name)
{
    for (int i = 0; i < NORDER; i++) if (!strcmp(ORDER[i], name)) return 1;
    return 0;
}

/* The exported file against the original, for every layer of the graph the original has. */
static void compare_export(const char *orig_path, const char *exp_path)
{
    hid_t fo = H5Fopen(orig_path, H5F_ACC_RDONLY, H5P_DEFAULT), fe = H5Fopen(exp_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(fo >= 0 && fe >= 0, "open %s / %s", orig_path, exp_path);
    /* root attributes */
    const char *scalars[] = {"backend", "keras_version"};
    for (int i = 0; i < 2; i++) {
        rawattr a, b;
        CHECK(!read_raw_attr(fo, scalars[i], &a) && !read_raw_attr(fe, scalars[i], &b), "%s missing", scalars[i]);
        CHECK(a.bytes == b.bytes && !memcmp(a.data, b.data, a.bytes) && H5Tequal(a.type, b.type) > 0,
              "root attribute %s differs: '%s' vs '%s'", scalars[i], (char *)a.data, (char *)b.data);
        free_raw(&a);
        free_raw(&b);
    }
    char want[8192] = "", got[8192];
    for (int i = 0; i < G->nlayers; i++) {
        size_t len = strlen(want);
        snprintf(want + len, sizeof want - len, "%s%s", i ? "|" : "", G->layers[i].name);
    }
    strings_of(fe, "layer_names", got, sizeof got);
    CHECK(!strcmp(want, got), "exported layer_names: %s\nwant %s", got, want);
    int attrs = 0, raw_attrs = 0, dsets = 0;
    for (int i = 0; i < G->nlayers; i++) {
        const ctvk_layer *l = &G->layers[i];
        if (!layer_in_order(l->name)) continue;
        hid_t go = H5Gopen2(fo, l->name, H5P_DEFAULT), ge = H5Gopen2(fe, l->name, H5P_DEFAULT);
        CHECK(go >= 0 && ge >= 0, "group %s", l->name);
        char so[1024], se[1024];
        strings_of(go, "weight_names", so, sizeof so);
        strings_of(ge, "weight_names", se, sizeof se);
        CHECK(!strcmp(so, se), "%s weight_names: '%s' vs '%s'", l->name, so, se);
        attrs++;
        rawattr a, b;
        read_raw_attr(go, "weight_names", &a);
        read_raw_attr(ge, "weight_names", &b);
        CHECK(a.n == b.n, "%s weight_names: %lld vs %lld entries", l->name, (long long)a.n, (long long)b.n);
        if (!a.vlen && a.n > 0) {   /* fixed-length strings: the same type and bytes */
            CHECK(H5Tequal(a.type, b.type) > 0 && a.bytes == b.bytes && !memcmp(a.data, b.data, a.bytes),
                  "%s weight_names differ in type or bytes", l->name);
            raw_attrs++;
        }
        if (a.n == 0 && H5Tget_class(a.type) == H5T_FLOAT) {
            CHECK(H5Tequal(a.type, b.type) > 0, "%s: empty weight_names of another type", l->name);
            raw_attrs++;
        }
        free_raw(&a);
        free_raw(&b);
        for (int k = 0; k < l->nparams; k++) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s/%s", l->name, l->name, l->params[k].name);
            int no, ne;
            hsize_t dox[8], dex[8];
            hid_t to, te;
            float *xo = read_dataset(fo, path, &no, dox, &to), *xe = read_dataset(fe, path, &ne, dex, &te);
            CHECK(xo && xe, "dataset %s", path);
            if (!xo || !xe) { free(xo); free(xe); continue; }
            CHECK(H5Tequal(to, te) > 0, "%s: dtype differs", path);
            int same = no == ne;
            for (int d = 0; same && d < no; d++) same = dox[d] == dex[d];
            if (!strcmp(l->name, "conv1_conv") && k == 0) {
                CHECK(!same && ne == 4 && dex[2] == 1 && dox[2] == 3, "%s: the exported kernel must be the model's "
                      "(3,3,1,4)", path);
            } else {
                CHECK(same && !memcmp(xo, xe, l->params[k].count * sizeof(float)), "%s differs", path);
                dsets++;
            }
            H5Tclose(to);
            H5Tclose(te);
            free(xo);
            free(xe);
        }
        H5Gclose(go);
        H5Gclose(ge);
    }
    printf("export vs original: %d weight_names attributes (%d compared byte for byte), %d datasets bit-exact\n",
           attrs, raw_attrs, dsets);
    H5Fclose(fo);
    H5Fclose(fe);
}

static int tensor_equal(const ctvk_layer *l, int k, const float *a, const float *b)
{
    return !memcmp(a + l->params[k].offset, b + l->params[k].offset, l->params[k].count * sizeof(float));
}

/* The model of the fixture: small_resnet 16x16x1, stages 2, blocks 1,1, widths 4,8. */
static void setup(ctvk_graph *g)
{
    ctvk_model_config c;
    ctvk_model_config_default(&c, "small_resnet");
    c.height = c.width = 16;
    c.stages = 2;
    c.blocks[0] = c.blocks[1] = 1;
    c.widths[0] = 4; c.widths[1] = 8;
    CHECK(ctvk_graph_build(&c, g) == CTVK_OK, "build: %s", ctvk_error());
    G = g;
    CHECK(g->nlayers < MAXL - 1, "%d layers", g->nlayers);
    FILEP = calloc(g->params_total, sizeof(float));
    check_fill_uniform(FILEP, g->params_total, 11, -2, 2);
    check_fill_uniform(CONV1_RGB, sizeof CONV1_RGB / sizeof *CONV1_RGB, 12, -1, 1);
    for (int i = 0; i < g->nlayers; i++) {
        if (!strcmp(g->layers[i].name, "predictions")) continue;       /* the file lacks the model's head */
        ORDER[NORDER++] = g->layers[i].name;
        if (i == 3) ORDER[NORDER++] = "extra_dense";                  /* and has a layer the model lacks */
    }
}

int main(int argc, char **argv)
{
    ctvk_graph g;
    if (argc == 3 && !strcmp(argv[1], "--fixture")) {   /* for tests/cli_keras.sh: write the weights-only file */
        setup(&g);
        write_file(argv[2], 0);
        free(FILEP);
        ctvk_graph_free(&g);
        return check_failed() ? 1 : 0;
    }
    char *dir = check_tmpdir("keras");
    char wpath[512], mpath[512], epath[512], e2path[512], bad[512];
    snprintf(wpath, sizeof wpath, "%s/weights.h5", dir);
    snprintf(mpath, sizeof mpath, "%s/model.h5", dir);
    snprintf(epath, sizeof epath, "%s/export.h5", dir);
    snprintf(e2path, sizeof e2path, "%s/export_split.h5", dir);
    setup(&g);
    size_t P = g.params_total;
    write_file(wpath, 0);
    write_file(mpath, 1);

    const uint64_t seed = 99;
    float *init = malloc(P * sizeof(float)), *a = malloc(P * sizeof(float)), *b = malloc(P * sizeof(float));
    ctvk_graph_init_params(&g, init, seed);
    int conv1 = ctvk_graph_find(&g, "conv1_conv"), pred = ctvk_graph_find(&g, "predictions");
    const ctvk_layer *lc = &g.layers[conv1], *lp = &g.layers[pred];

    /* weights-only file, conv1_from_rgb = skip */
    memcpy(a, init, P * sizeof(float));
    ctvk_keras_report rep;
    ctvk_status s = ctvk_keras_import(wpath, &g, a, CTVK_CONV1_SKIP, &rep);
    CHECK(s == CTVK_OK, "import: %s", ctvk_error());
    int tensors = 0;
    for (int i = 0; i < g.nlayers; i++) tensors += g.layers[i].nparams;
    printf("import: %d file layers, %d matched, %d loaded (%zu floats), %d skipped, %d missing\nskipped:\n%s"
           "unmatched:\n%smissing:\n%s", rep.file_layers, rep.matched_layers, rep.weights_loaded, rep.floats_loaded,
           rep.weights_skipped, rep.weights_missing, rep.skipped ? rep.skipped : "", rep.unmatched ? rep.unmatched : "",
           rep.missing ? rep.missing : "");
    CHECK(rep.file_layers == g.nlayers && rep.matched_layers == g.nlayers - 1, "layers %d/%d", rep.file_layers,
          rep.matched_layers);
    CHECK(rep.weights_loaded == tensors - 3 && rep.weights_skipped == 1 && rep.weights_missing == 2 &&
          rep.weights_summed == 0, "counts %d %d %d", rep.weights_loaded, rep.weights_skipped, rep.weights_missing);
    CHECK(rep.skipped && !strcmp(rep.skipped, "conv1_conv/kernel:0: shape (3, 3, 3, 4) in the file, (3, 3, 1, 4) in "
                                 "the model\n"), "skipped: %s", rep.skipped);
    CHECK(rep.unmatched && !strcmp(rep.unmatched, "extra_dense (2 weights)\n"), "unmatched: %s", rep.unmatched);
    CHECK(rep.missing && !strcmp(rep.missing, "predictions/kernel:0\npredictions/bias:0\n"), "missing: %s", rep.missing);
    ctvk_keras_report_free(&rep);
    int loaded_ok = 1, n_loaded = 0;
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++) {
            if (i == pred || (i == conv1 && k == 0)) continue;
            loaded_ok &= tensor_equal(&g.layers[i], k, a, FILEP);
            n_loaded++;
        }
    CHECK(loaded_ok && n_loaded == tensors - 3, "loaded tensors differ from the file");
    CHECK(tensor_equal(lc, 0, a, init), "skip: conv1_conv kernel must keep its initialisation");
    CHECK(tensor_equal(lc, 1, a, FILEP), "conv1_conv bias must load");
    CHECK(tensor_equal(lp, 0, a, init) && tensor_equal(lp, 1, a, init), "predictions must keep its initialisation");

    /* the whole-model layout imports the same */
    memcpy(b, init, P * sizeof(float));
    s = ctvk_keras_import(mpath, &g, b, CTVK_CONV1_SKIP, NULL);
    CHECK(s == CTVK_OK && !memcmp(a, b, P * sizeof(float)), "whole-model file: %s", s ? ctvk_error() : "differs");

    /* conv1_from_rgb = sum */
    memcpy(b, init, P * sizeof(float));
    s = ctvk_keras_import(wpath, &g, b, CTVK_CONV1_SUM, &rep);
    CHECK(s == CTVK_OK && rep.weights_summed == 1 && rep.weights_skipped == 0 && rep.weights_loaded == tensors - 2,
          "sum: %s (summed %d, skipped %d)", ctvk_error(), rep.weights_summed, rep.weights_skipped);
    ctvk_keras_report_free(&rep);
    const float *k1 = b + lc->params[0].offset;
    int sum_ok = 1;
    for (int hw = 0; hw < 9; hw++)
        for (int o = 0; o < 4; o++) {
            float want = CONV1_RGB[(hw * 3 + 0) * 4 + o];
            want += CONV1_RGB[(hw * 3 + 1) * 4 + o];
            want += CONV1_RGB[(hw * 3 + 2) * 4 + o];
            sum_ok &= k1[hw * 4 + o] == want;
        }
    CHECK(sum_ok, "conv1_from_rgb=sum: kernel is not the RGB kernel summed over its input channels");
    for (int i = 0; i < g.nlayers; i++)
        for (int k = 0; k < g.layers[i].nparams; k++)
            if (!(i == conv1 && k == 0)) CHECK(tensor_equal(&g.layers[i], k, a, b), "sum changed another tensor");

    /* export, compare with the original, re-import */
    s = ctvk_keras_export(epath, &g, a);
    CHECK(s == CTVK_OK, "export: %s", ctvk_error());
    compare_export(wpath, epath);
    {   /* the same parameters give the same bytes */
        snprintf(bad, sizeof bad, "%s/export_again.h5", dir);
        CHECK(ctvk_keras_export(bad, &g, a) == CTVK_OK, "export again: %s", ctvk_error());
        size_t n1 = 0, n2 = 0;
        FILE *f1 = fopen(epath, "rb"), *f2 = fopen(bad, "rb");
        int same = f1 && f2;
        for (int c1 = 0, c2 = 0; same && c1 != EOF; n1++, n2++) {
            c1 = fgetc(f1);
            c2 = fgetc(f2);
            same = c1 == c2;
        }
        if (f1) fclose(f1);
        if (f2) fclose(f2);
        printf("two exports of the same parameters: %s (%zu bytes)\n", same ? "identical" : "differ", n1 - 1);
        CHECK(same, "two exports of the same parameters differ at byte %zu", n1);
    }
    memset(b, 0, P * sizeof(float));
    s = ctvk_keras_import(epath, &g, b, CTVK_CONV1_SKIP, &rep);
    CHECK(s == CTVK_OK && rep.weights_loaded == tensors && rep.weights_skipped == 0 && rep.weights_missing == 0 &&
          rep.file_layers == g.nlayers && !rep.unmatched, "re-import: %s", ctvk_error());
    ctvk_keras_report_free(&rep);
    CHECK(!memcmp(a, b, P * sizeof(float)), "export -> import is not bit-exact");

    /* Keras' attribute splitting on export (np.array_split into the fewest chunks under the limit) */
    size_t item = 0;
    for (int i = 0; i < g.nlayers; i++) if (strlen(g.layers[i].name) > item) item = strlen(g.layers[i].name);
    ctvk__keras_attr_limit = 200;
    s = ctvk_keras_export(e2path, &g, a);
    ctvk__keras_attr_limit = 64512;
    CHECK(s == CTVK_OK, "export split: %s", ctvk_error());
    int want_chunks = 1;
    while ((size_t)((g.nlayers + want_chunks - 1) / want_chunks) * item > 200) want_chunks++;
    hid_t f = H5Fopen(e2path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char joined[8192] = "", part[4096], name[32], all[8192] = "";
    CHECK(H5Aexists(f, "layer_names") == 0, "split export still has layer_names");
    int chunks = 0;
    for (;; chunks++) {
        snprintf(name, sizeof name, "layer_names%d", chunks);
        if (H5Aexists(f, name) <= 0) break;
        strings_of(f, name, part, sizeof part);
        size_t len = strlen(joined);
        snprintf(joined + len, sizeof joined - len, "%s%s", chunks ? "|" : "", part);
    }
    H5Fclose(f);
    for (int i = 0; i < g.nlayers; i++) {
        size_t len = strlen(all);
        snprintf(all + len, sizeof all - len, "%s%s", i ? "|" : "", g.layers[i].name);
    }
    printf("split export: %d layers of up to %zu bytes in %d chunks (want %d)\n", g.nlayers, item, chunks, want_chunks);
    CHECK(chunks == want_chunks && chunks > 1 && !strcmp(joined, all), "split layer_names: %d chunks", chunks);
    memset(b, 0, P * sizeof(float));
    s = ctvk_keras_import(e2path, &g, b, CTVK_CONV1_SKIP, NULL);
    CHECK(s == CTVK_OK && !memcmp(a, b, P * sizeof(float)), "split export re-import: %s", ctvk_error());

    /* the import is complete; a file that fills only part of the model is called partial, with the counts */
    s = ctvk_keras_import(epath, &g, b, CTVK_CONV1_SKIP, &rep);
    CHECK(s == CTVK_OK && ctvk_keras_check_complete(epath, &g, &rep, "--allow-partial") == CTVK_OK,
          "complete import called partial: %s", ctvk_error());
    {
        ctvk_keras_report part = rep;
        part.weights_loaded = 2;
        part.floats_loaded = 2;
        part.weights_missing = tensors - 2;
        CHECK(ctvk_keras_check_complete(epath, &g, &part, "--allow-partial") == CTVK_ERR_ARG &&
              strstr(ctvk_error(), "a partial import: 2 of the") && strstr(ctvk_error(), "(2 of ") &&
              strstr(ctvk_error(), "(--allow-partial to accept it)"), "partial: %s", ctvk_error());
    }
    ctvk_keras_report_free(&rep);

    /* NaN and infinity in a file's weights: refused, naming the weight */
    {
        float *nanp = malloc(P * sizeof(float));
        memcpy(nanp, a, P * sizeof(float));
        const ctvk_layer *l = &g.layers[g.nlayers - 1];
        nanp[l->params[0].offset + 1] = NAN;
        snprintf(bad, sizeof bad, "%s/nan.h5", dir);
        CHECK(ctvk_keras_export(bad, &g, nanp) == CTVK_OK, "export NaN: %s", ctvk_error());
        char want[256];
        snprintf(want, sizeof want, "layer %s: weight %s/%s holds 1 non-finite value (NaN at index 1)", l->name,
                 l->name, l->params[0].name);
        s = ctvk_keras_import(bad, &g, b, CTVK_CONV1_SKIP, NULL);
        CHECK(s == CTVK_ERR_FORMAT && strstr(ctvk_error(), bad) && strstr(ctvk_error(), want), "NaN import: %s (want %s)",
              ctvk_error(), want);
        nanp[l->params[0].offset + 1] = a[l->params[0].offset + 1];
        nanp[0] = INFINITY;
        CHECK(ctvk_keras_export(bad, &g, nanp) == CTVK_OK, "export inf: %s", ctvk_error());
        s = ctvk_keras_import(bad, &g, b, CTVK_CONV1_SKIP, NULL);
        CHECK(s == CTVK_ERR_FORMAT && strstr(ctvk_error(), "holds 1 non-finite value (infinity at index 0)"),
              "inf import: %s", ctvk_error());
        s = ctvk_keras_import(bad, &g, b, CTVK_CONV1_SUM, NULL);
        CHECK(s == CTVK_ERR_FORMAT && strstr(ctvk_error(), "non-finite"), "inf import (sum): %s", ctvk_error());
        free(nanp);
    }

    /* bad files */
    snprintf(bad, sizeof bad, "%s/missing.h5", dir);
    CHECK(ctvk_keras_import(bad, &g, b, CTVK_CONV1_SKIP, NULL) == CTVK_ERR_IO && strstr(ctvk_error(), bad) &&
          strstr(ctvk_error(), "cannot read it"), "missing: %s", ctvk_error());
    snprintf(bad, sizeof bad, "%s/text.h5", dir);
    FILE *t = fopen(bad, "w");
    fputs("not hdf5\n", t);
    fclose(t);
    CHECK(ctvk_keras_import(bad, &g, b, CTVK_CONV1_SKIP, NULL) == CTVK_ERR_FORMAT && strstr(ctvk_error(), bad) &&
          strstr(ctvk_error(), "not an HDF5 file"), "text: %s", ctvk_error());
    snprintf(bad, sizeof bad, "%s/plain.h5", dir);
    f = H5Fcreate(bad, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    CHECK(ctvk_keras_import(bad, &g, b, CTVK_CONV1_SKIP, NULL) == CTVK_ERR_FORMAT && strstr(ctvk_error(), bad) &&
          strstr(ctvk_error(), "not a Keras weight file"), "plain: %s", ctvk_error());
    snprintf(bad, sizeof bad, "%s/no/such/folder/x.h5", dir);
    CHECK(ctvk_keras_export(bad, &g, a) == CTVK_ERR_IO && strstr(ctvk_error(), bad), "export to a missing folder: %s",
          ctvk_error());

    free(init);
    free(a);
    free(b);
    free(FILEP);
    ctvk_graph_free(&g);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(dir);
    return check_done("test_keras");
}
