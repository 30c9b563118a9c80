/* Fuzz entry points (see targets.h). Inputs reach the library as files in one temporary folder per
 * process, as a user's files would. Nothing here may print: libFuzzer runs millions of inputs. */
#include "tests/fuzz/targets.h"
#include "ctvk/checkpoint.h"
#include "ctvk/config.h"
#include "ctvk/ct.h"
#include "ctvk/net.h"
#include <hdf5.h>
#include <iniparser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[512];

static void fz_cleanup(void)
{
    static const char *names[] = {"in.tif", "in.ini", "train1.csv", "validation1.csv", "test1.csv", "in.ckpt", "in.h5",
                                  "in.dcm", "in.nii"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", fz_dir, names[i]);
        unlink(p);
    }
    rmdir(fz_dir);
}

static const char *fz_path(const char *name, char *buf, size_t n)
{
    if (!fz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%s/ctvk-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fz_dir)) abort();
        atexit(fz_cleanup);
    }
    snprintf(buf, n, "%s/%s", fz_dir, name);
    return buf;
}

static int fz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && w == size ? 0 : -1;
}

void ctvk_fuzz_small_config(struct ctvk_model_config *c)
{
    ctvk_model_config_default(c, "small_resnet");
    c->height = c->width = 16;
    c->stages = 2;
    c->blocks[0] = c->blocks[1] = 1;
    c->widths[0] = 4; c->widths[1] = 8;
}

static const ctvk_graph *small_graph(void)
{
    static ctvk_graph g;
    static int built;
    if (!built) {
        ctvk_model_config c;
        ctvk_fuzz_small_config(&c);
        if (ctvk_graph_build(&c, &g) != CTVK_OK) abort();
        built = 1;
    }
    return &g;
}

/* ------------------------------------------------------------------------------------ TIFF */
int ctvk_fuzz_tiff(const uint8_t *data, size_t size)
{
    char path[600];
    fz_path("in.tif", path, sizeof path);
    if (fz_write(path, data, size)) return 0;
    ctvk_tiff_info info;
    if (ctvk_tiff_probe(path, &info) == CTVK_OK) {
        /* bounded sizes only: a fuzzer's 60000 x 60000 header is refused by the probe's users */
        if (info.width <= 1024 && info.height <= 1024) {
            uint16_t *img = malloc((size_t)info.width * (size_t)info.height * sizeof *img);
            if (img) {
                size_t clamped = 0;
                if (info.width == info.height) (void)ctvk_tiff_read(path, info.width, 0, img, &clamped);
                (void)ctvk_tiff_read_rows(path, info.width, info.height, 0, info.height, img);
                (void)ctvk_tiff_read_rows(path, info.width, info.height, info.height / 3,
                                          info.height / 3 + (info.height > 1), img);
                free(img);
            }
        }
    }
    uint16_t out[32 * 32];
    (void)ctvk_tiff_read(path, 32, 1, out, NULL);    /* resampled, whatever the stored size */
    (void)ctvk_tiff_read(path, 32, 0, out, NULL);
    (void)ctvk_tiff_read_rows(path, 32, 32, 5, 9, out);
    return 0;
}

/* ------------------------------------------------------------------------------------ DICOM, NIfTI */
/* The scan (headers, series grouping, ordering) and every slice read, resampled to 32 x 32. */
static void scan_and_read(const char *path)
{
    ctvk_series_set *set = NULL;
    if (ctvk_series_scan(path, &set) == CTVK_OK) {
        uint16_t out[32 * 32];
        for (size_t i = 0; i < set->nslices && i < 8; i++) (void)ctvk_slice_read(set->slices[i], 32, 1, NULL, out, NULL);
        ctvk_series_free(set);
    }
}

int ctvk_fuzz_dicom(const uint8_t *data, size_t size)
{
    char path[600];
    fz_path("in.dcm", path, sizeof path);
    if (fz_write(path, data, size)) return 0;
    scan_and_read(path);
    uint16_t out[32 * 32];
    (void)ctvk_slice_read(path, 32, 0, NULL, out, NULL);
    return 0;
}

int ctvk_fuzz_nifti(const uint8_t *data, size_t size)
{
    char path[600], slice[620];
    fz_path("in.nii", path, sizeof path);
    if (fz_write(path, data, size)) return 0;
    scan_and_read(path);
    uint16_t out[32 * 32];
    snprintf(slice, sizeof slice, "%s#0", path);
    (void)ctvk_slice_read(slice, 32, 1, NULL, out, NULL);
    return 0;
}

/* ------------------------------------------------------------------------------------ INI */
int ctvk_fuzz_ini(const uint8_t *data, size_t size)
{
    char path[600];
    fz_path("in.ini", path, sizeof path);
    if (fz_write(path, data, size)) return 0;
    ctvk_config *cfg = NULL;
    if (ctvk_config_load(path, &cfg) != CTVK_OK) return 0;
    /* the first line is also a command-line override (--set section.key=value) */
    char line[512];
    size_t ll = 0;
    while (ll < size && ll + 1 < sizeof line && data[ll] != '\n') line[ll] = (char)data[ll], ll++;
    line[ll] = 0;
    (void)ctvk_config_set(cfg, line);
    /* every key present, through every getter (the config is opaque: list its keys with iniparser) */
    dictionary *d = iniparser_load(path);
    if (d) {
        int ns = iniparser_getnsec(d);
        for (int i = 0; i < ns; i++) {
            const char *sec = iniparser_getsecname(d, i);
            int nk = sec ? iniparser_getsecnkeys(d, sec) : 0;
            if (nk <= 0) continue;
            const char **keys = calloc((size_t)nk, sizeof *keys);
            if (!keys || !iniparser_getseckeys(d, sec, keys)) { free(keys); continue; }
            size_t sl = strlen(sec);
            for (int k = 0; k < nk; k++) {
                if (!keys[k] || strncmp(keys[k], sec, sl) || keys[k][sl] != ':') continue;
                const char *key = keys[k] + sl + 1;
                const char *sv; long lv; double dv; int bv;
                (void)ctvk_config_has(cfg, sec, key);
                (void)ctvk_config_str(cfg, sec, key, "", &sv);
                (void)ctvk_config_int(cfg, sec, key, 0, -1000000, 1000000, &lv);
                (void)ctvk_config_int(cfg, sec, key, 0, (long)(-0x7fffffffffffffffL - 1), 0x7fffffffffffffffL, &lv);
                (void)ctvk_config_double(cfg, sec, key, 0, -1e300, 1e300, &dv);
                (void)ctvk_config_bool(cfg, sec, key, 0, &bv);
            }
            free(keys);
        }
        iniparser_freedict(d);
    }
    ctvk_options o;
    ctvk_options_default(&o);
    (void)ctvk_config_device_options(cfg, &o);
    ctvk_select_params sp;
    (void)ctvk_select_from_config(cfg, &sp);
    ctvk_data_options dop;
    (void)ctvk_data_from_config(cfg, &dop);
    ctvk_model_config mc;
    if (ctvk_model_config_load(cfg, &mc) == CTVK_OK) {
        /* graph building is host-only but grows with the input: cap what a fuzzer can ask for */
        long px = (long)mc.height * mc.width;
        int small = !strcmp(mc.arch, "small_resnet") ? 1 : px <= 256L * 256;
        if (small && px <= 1024L * 1024) {
            ctvk_graph g;
            memset(&g, 0, sizeof g);
            if (ctvk_graph_build(&mc, &g) == CTVK_OK) {
                char text[4096];
                size_t n = ctvk_model_config_to_text(&g.cfg, text, sizeof text);
                ctvk_model_config back;
                if (n < sizeof text) (void)ctvk_model_config_from_text(text, "fuzz", &back);
            }
            ctvk_graph_free(&g);
        }
    }
    ctvk_config_free(cfg);
    return 0;
}

/* ------------------------------------------------------------------------------------ CSV */
/* The input holds train1.csv, validation1.csv and test1.csv separated by form feeds ('\f'); a
 * missing part leaves that file absent. */
int ctvk_fuzz_csv(const uint8_t *data, size_t size)
{
    static const char *names[3] = {"train1.csv", "validation1.csv", "test1.csv"};
    char path[600];
    const uint8_t *p = data, *end = data + size;
    for (int j = 0; j < 3; j++) {
        fz_path(names[j], path, sizeof path);
        unlink(path);
        if (!p) continue;
        const uint8_t *ff = memchr(p, '\f', (size_t)(end - p));
        if (fz_write(path, p, (size_t)((ff ? ff : end) - p))) return 0;
        p = ff ? ff + 1 : NULL;
    }
    ctvk_data_options o;
    ctvk_data_defaults(&o);
    fz_path("", path, sizeof path);
    path[strlen(path) - 1] = 0;       /* the folder itself */
    o.root = path;
    o.layout = CTVK_LAYOUT_FLAT;
    o.folds_dir = "";
    o.image_size = 16;
    o.check_files = 0;
    ctvk_dataset *ds = NULL;
    if (ctvk_dataset_open(&o, &ds) == CTVK_OK) {
        for (int k = 0; k < ds->nfolds; k++) {
            ctvk_split_counts c;
            ctvk_image_list_counts(ds, &ds->folds[k].train, &c);
            ctvk_image_list_counts(ds, &ds->folds[k].validation, &c);
            ctvk_image_list_counts(ds, &ds->folds[k].test, &c);
        }
        ctvk_dataset_free(ds);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ checkpoint */
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }

/* Makes the CRCs and the size field right so mutations reach the parser behind them. */
static void fix_checkpoint(uint8_t *b, size_t n)
{
    if (n < 24) return;
    wr64(b + 16, n);
    size_t off = 24;
    while (off + 20 <= n) {
        if (!memcmp(b + off, "CEND", 4)) {
            if (off + 8 <= n) wr32(b + off + 4, ctvk_crc32(0, b, off));
            return;
        }
        uint64_t len = rd64(b + off + 8);
        if (len > n - off - 20) return;
        if (memcmp(b + off, "DATA", 4)) wr32(b + off + 16 + len, ctvk_crc32(0, b + off + 16, (size_t)len));
        off += 20 + (size_t)len;
    }
}

int ctvk_fuzz_checkpoint(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int fix = data[0] & 1;
    data++, size--;
    uint8_t *b = malloc(size ? size : 1);
    if (!b) return 0;
    if (size) memcpy(b, data, size);
    if (fix) fix_checkpoint(b, size);
    char path[600];
    fz_path("in.ckpt", path, sizeof path);
    int w = fz_write(path, b, size);
    free(b);
    if (w) return 0;
    ctvk_checkpoint ck;
    if (ctvk_checkpoint_load(path, small_graph(), &ck) == CTVK_OK) ctvk_checkpoint_free(&ck);
    ctvk_model_config mc;
    if (ctvk_checkpoint_peek_config(path, &mc) == CTVK_OK) {
        /* the file's own graph: bounded so a fuzzer's 4096x4096 ResNet does not exhaust memory */
        long px = (long)mc.height * mc.width;
        if (!strcmp(mc.arch, "small_resnet") ? px > 1024L * 1024 : px > 128L * 128) return 0;
    }
    if (ctvk_checkpoint_load(path, NULL, &ck) == CTVK_OK) ctvk_checkpoint_free(&ck);
    return 0;
}

/* ------------------------------------------------------------------------------------ Keras */
/* Byte flips mostly break HDF5's own structures, so an input that does not start with the HDF5
 * signature instead describes a Keras file, built here with libhdf5: layer names (the graph's or
 * made up), each layer's weight_names (fixed- or variable-length strings, split into NAME0.. or of
 * a wrong type), and datasets of any rank, size and type, or missing. */
typedef struct fzin { const uint8_t *p; size_t n; } fzin;
static unsigned fz_byte(fzin *in) { if (!in->n) return 0; in->n--; return *in->p++; }

static void fz_name(fzin *in, const ctvk_graph *g, char *out, size_t n)
{
    unsigned k = fz_byte(in);
    if (k < 200 && g->nlayers) {
        snprintf(out, n, "%s", g->layers[(k * 7 + fz_byte(in)) % (unsigned)g->nlayers].name);
        return;
    }
    size_t len = fz_byte(in) % 12, i = 0;
    for (; i < len && i + 1 < n; i++) out[i] = (char)(fz_byte(in) | 1);
    out[i] = 0;
}

static void fz_strings(fzin *in, hid_t obj, const char *name, char (*v)[96], int count)
{
    unsigned mode = fz_byte(in) % 5;
    hsize_t dim = (hsize_t)count;
    hid_t sp = mode == 4 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (mode == 3) {                                   /* not strings at all */
        double d[8] = {0};
        hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) { if (count) H5Awrite(a, H5T_NATIVE_DOUBLE, d); H5Aclose(a); }
    } else if (mode == 1) {                            /* variable-length */
        const char *pv[8];
        for (int i = 0; i < count; i++) pv[i] = v[i];
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) { if (count) H5Awrite(a, t, pv); H5Aclose(a); }
        H5Tclose(t);
    } else {                                           /* fixed-length, maybe too short, maybe space-padded */
        size_t item = 1 + fz_byte(in) % 40;
        char buf[8 * 41] = {0};
        for (int i = 0; i < count; i++) strncpy(buf + (size_t)i * item, v[i], item);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, item);
        H5Tset_strpad(t, mode == 2 ? H5T_STR_SPACEPAD : H5T_STR_NULLPAD);
        hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) { if (count) H5Awrite(a, t, buf); H5Aclose(a); }
        H5Tclose(t);
    }
    H5Sclose(sp);
}

static void fz_list(fzin *in, hid_t obj, const char *name, char (*v)[96], int count)
{
    if (count > 1 && fz_byte(in) % 4 == 0) {           /* Keras' NAME0, NAME1 split */
        char an[64];
        int half = count / 2;
        snprintf(an, sizeof an, "%s0", name);
        fz_strings(in, obj, an, v, half);
        snprintf(an, sizeof an, "%s1", name);
        fz_strings(in, obj, an, v + half, count - half);
    } else {
        fz_strings(in, obj, name, v, count);
    }
}

static void build_keras(fzin *in, const ctvk_graph *g, const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return;
    hid_t root = f;
    if (fz_byte(in) % 4 == 0) root = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int nl = (int)(fz_byte(in) % 7);
    char layers[8][96];
    for (int i = 0; i < nl; i++) fz_name(in, g, layers[i], sizeof layers[i]);
    if (fz_byte(in) % 8) fz_list(in, root, "layer_names", layers, nl);
    for (int i = 0; i < nl && in->n; i++) {
        if (!layers[i][0] || strchr(layers[i], '/') || fz_byte(in) % 8 == 0) continue;
        hid_t gid = H5Gcreate2(root, layers[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (gid < 0) continue;
        int li = ctvk_graph_find(g, layers[i]);
        int nw = (int)(fz_byte(in) % 5);
        char w[8][96];
        for (int k = 0; k < nw; k++) {
            unsigned c = fz_byte(in);
            if (li >= 0 && g->layers[li].nparams && c < 220)
                snprintf(w[k], sizeof w[k], "%.63s/%.31s", layers[i], g->layers[li].params[c % (unsigned)g->layers[li].nparams].name);
            else
                snprintf(w[k], sizeof w[k], "%.63s/w%u:0", c & 1 ? layers[i] : "x", c);
        }
        if (fz_byte(in) % 8) fz_list(in, gid, "weight_names", w, nw);
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        for (int k = 0; k < nw; k++) {
            unsigned m = fz_byte(in);
            if (m % 8 == 0) continue;                  /* the dataset is missing */
            int nd = (int)(m >> 3) % 5;
            hsize_t dims[4];
            size_t total = 1;
            const ctvk_param *pp = NULL;
            if (li >= 0 && g->layers[li].nparams)
                pp = &g->layers[li].params[(m >> 5) % (unsigned)g->layers[li].nparams];
            for (int d = 0; d < nd; d++) {
                unsigned b = fz_byte(in);
                dims[d] = pp && d < pp->ndim && b < 160 ? (hsize_t)pp->dims[d] + (b < 150 ? 0 : 1) : b % 9;
                if (b >= 160 && pp && d == 2 && !strcmp(layers[i], "conv1_conv")) dims[d] = 3;   /* RGB */
                total *= (size_t)dims[d];
            }
            if (total > 65536) continue;
            hid_t sp = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
            hid_t type = m & 4 ? H5T_IEEE_F64LE : m & 2 ? H5T_STD_I32LE : H5T_IEEE_F32LE;
            hid_t ds = H5Dcreate2(gid, w[k], type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            if (ds >= 0) {
                float *v = calloc(total ? total : 1, sizeof *v);
                for (size_t e = 0; v && e < total; e++) v[e] = (float)(e % 5) - 2.0f;
                if (v) H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
                free(v);
                H5Dclose(ds);
            }
            H5Sclose(sp);
        }
        H5Pclose(lcpl);
        H5Gclose(gid);
    }
    if (root != f && root >= 0) H5Gclose(root);
    H5Fclose(f);
}

int ctvk_fuzz_keras(const uint8_t *data, size_t size)
{
    char path[600];
    fz_path("in.h5", path, sizeof path);
    const ctvk_graph *g = small_graph();
    if (size >= 4 && !memcmp(data, "\x89HDF", 4)) {
        if (fz_write(path, data, size)) return 0;
    } else {
        H5E_auto2_t fn;
        void *cd;
        H5Eget_auto2(H5E_DEFAULT, &fn, &cd);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   /* odd descriptions fail in libhdf5: quietly */
        fzin in = {data, size};
        build_keras(&in, g, path);
        H5Eset_auto2(H5E_DEFAULT, fn, cd);
    }
    float *params = calloc(g->params_total, sizeof *params);
    if (!params) return 0;
    ctvk_keras_report rep;
    if (ctvk_keras_import(path, g, params, CTVK_CONV1_SUM, &rep) == CTVK_OK) ctvk_keras_report_free(&rep);
    (void)ctvk_keras_import(path, g, params, CTVK_CONV1_SKIP, NULL);
    free(params);
    return 0;
}

const ctvk_fuzz_target ctvk_fuzz_targets[] = {
    {"tiff", ctvk_fuzz_tiff},
    {"ini", ctvk_fuzz_ini},
    {"csv", ctvk_fuzz_csv},
    {"checkpoint", ctvk_fuzz_checkpoint},
    {"keras", ctvk_fuzz_keras},
    {"dicom", ctvk_fuzz_dicom},
    {"nifti", ctvk_fuzz_nifti},
    {NULL, NULL},
};

/* libhdf5 (1.10) leaks object-header cache entries when H5Dopen2 fails on a corrupt file: not ours
 * to fix, and not reachable from ctvk's code. LeakSanitizer reads this hook when it is linked in. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5\n"; }
