/* Writes the seed corpora of the fuzz targets: make_corpus OUTDIR writes OUTDIR/<target>/<seed>
 * (tiny valid inputs: TIFFs of every sample type and layout, INI configs, fold CSVs, a checkpoint
 * of a one-stage small_resnet and a Keras weight file of a few layers). tests/fuzz/corpus/ holds its output. */
#include "ctvk/checkpoint.h"
#include "ctvk/ct.h"
#include "ctvk/net.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <hdf5.h>
#include <tiffio.h>

static const char *OUT;

static void put(const char *target, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/%s", OUT, target, name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f)) { fprintf(stderr, "cannot write %s\n", p); exit(1); }
}

static void die(const char *what) { fprintf(stderr, "%s: %s\n", what, ctvk_error()); exit(1); }

/* A Keras weight file with a few layers of the fuzz graph (conv1_conv as an RGB kernel, summed or
 * skipped on import; predictions; one layer the graph lacks), in HDF5's compact latest format. */
static void str_attr(hid_t obj, const char *name, const char *const *v, int n, size_t item)
{
    hsize_t dim = (hsize_t)n;
    char buf[512] = {0};
    for (int i = 0; i < n; i++) strncpy(buf + (size_t)i * item, v[i], item);
    hid_t sp = H5Screate_simple(1, &dim, NULL), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, item);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, buf) < 0) { fprintf(stderr, "hdf5 attribute %s\n", name); exit(1); }
    H5Aclose(a), H5Tclose(t), H5Sclose(sp);
}

static void dataset(hid_t f, const char *path, int ndim, const hsize_t *dims)
{
    float v[256];
    for (int i = 0; i < 256; i++) v[i] = (float)(i % 7) * 0.25f - 0.5f;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, path, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        fprintf(stderr, "hdf5 dataset %s\n", path);
        exit(1);
    }
    H5Dclose(d), H5Sclose(sp), H5Pclose(lcpl);
}

static void keras_file(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) { fprintf(stderr, "cannot create %s\n", path); exit(1); }
    const char *layers[] = {"conv1_conv", "predictions", "extra_dense"};
    str_attr(f, "layer_names", layers, 3, 12);
    const char *w1[] = {"conv1_conv/kernel:0", "conv1_conv/bias:0"};
    const char *w2[] = {"predictions/kernel:0", "predictions/bias:0"};
    const char *w3[] = {"extra_dense/kernel:0"};
    const char *const *ws[] = {w1, w2, w3};
    int nw[] = {2, 2, 1};
    for (int i = 0; i < 3; i++) {
        hid_t g = H5Gcreate2(f, layers[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        str_attr(g, "weight_names", ws[i], nw[i], 24);
        H5Gclose(g);
    }
    hsize_t k1[4] = {3, 3, 3, 4}, b1[1] = {4}, k2[2] = {8, 2}, b2[1] = {2}, k3[2] = {3, 3};
    dataset(f, "conv1_conv/conv1_conv/kernel:0", 4, k1);
    dataset(f, "conv1_conv/conv1_conv/bias:0", 1, b1);
    dataset(f, "predictions/predictions/kernel:0", 2, k2);
    dataset(f, "predictions/predictions/bias:0", 1, b2);
    dataset(f, "extra_dense/extra_dense/kernel:0", 2, k3);
    H5Fclose(f), H5Pclose(fapl);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: make_corpus OUTDIR\n"); return 2; }
    OUT = argv[1];
    const char *targets[] = {"tiff", "ini", "csv", "checkpoint", "keras"};
    char p[1024];
    mkdir(OUT, 0777);
    for (int i = 0; i < 5; i++) { snprintf(p, sizeof p, "%s/%s", OUT, targets[i]); mkdir(p, 0777); }

    /* TIFF: 16x16 and 8x12 images of each sample type, strips, tiles, compressions, byte orders */
    uint8_t px[16 * 16 * 4];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
    struct { const char *name; int w, h; ctvk_tiff_write_options o; } tifs[] = {
        {"u16.tif", 16, 16, {CTVK_SAMPLE_U16, 1, 0, 0, 0, 0}},
        {"u16_rows4_be.tif", 16, 16, {CTVK_SAMPLE_U16, 1, 0, 0, 4, 1}},
        {"u8_lzw_pred.tif", 16, 16, {CTVK_SAMPLE_U8, COMPRESSION_LZW, 2, 0, 0, 0}},
        {"i16_deflate.tif", 16, 16, {CTVK_SAMPLE_I16, COMPRESSION_ADOBE_DEFLATE, 0, 0, 5, 0}},
        {"f32_tile16.tif", 16, 16, {CTVK_SAMPLE_F32, 1, 0, 16, 0, 0}},
        {"u16_packbits_8x12.tif", 8, 12, {CTVK_SAMPLE_U16, COMPRESSION_PACKBITS, 0, 0, 3, 0}},
        {"u16_tile16_lzw_be.tif", 32, 32, {CTVK_SAMPLE_U16, COMPRESSION_LZW, 2, 16, 0, 1}},
    };
    for (size_t i = 0; i < sizeof tifs / sizeof *tifs; i++) {
        snprintf(p, sizeof p, "%s/tiff/%s", OUT, tifs[i].name);
        uint8_t big[32 * 32 * 2];
        for (size_t k = 0; k < sizeof big; k++) big[k] = (uint8_t)(k * 13 + 5);
        if (ctvk_tiff_write(p, tifs[i].w, tifs[i].h, tifs[i].w == 32 ? (void *)big : (void *)px, &tifs[i].o))
            die(p);
    }

    /* INI configs */
    put("ini", "small.ini",
        "[data]\nroot = /nonexistent\nlayout = flat\nimage_size = 16\nresize = true\ncheck_files = false\n"
        "[selection]\nregion_y0 = 240\nregion_y1 = 340\nregion_x0 = 120\nregion_x1 = 370\ndark_level = 300\n"
        "divisor = 1.5\ngroup = patient\n"
        "[model]\narch = small_resnet\nhead = gap\ninput_size = 16\nchannels = 1\nclasses = 2\nstages = 2\n"
        "blocks = 1,1\nwidths = 4,8\ndropout = 0.5\nbn_eps = 1.001e-5\n"
        "[device]\nname = llvmpipe\nvalidation = false\nprofile = no\nvariant = cpu\nmemory_limit_mb = 512\n"
        "max_dispatches_per_submit = 64\npush_descriptors = true\n");
    put("ini", "fpn.ini", "; the paper's model\n[model]\narch = resnet50v2_fpn\nheight = 64\nwidth = 96\n"
                          "[train]\nbatch = 14\nlr = 1e-4\nepochs = 10\n");
    put("ini", "resnet50.ini", "[model]\narch = resnet50\nhead = none\ninput_size = 32\n[eval]\nthreshold = 0.5\n");
    put("ini", "quoted.ini", "[output]\ndir = \"runs/a b\" ; comment\n[device]\nvariant = gpu\n"
                             "memory_limit_mb = 0\n[model]\narch = small_resnet\nstages = 3\nblocks = 2,1,1\n"
                             "widths = 8,8,16\n");

    /* fold CSVs: train1, validation1, test1 separated by form feeds */
    put("csv", "fold.csv",
        "filename,class\ncovid1_patient1_SR_2_IM00001.tif,covid\nnormal1_patient2_SR_3_IM00010.tif,normal\n"
        "\ffilename,class\r\ncovid1_patient3_SR_2_IM00002.tif,covid\r\n"
        "\ffilename,class\nnormal2_patient4_SR_2_IM00003.tif,normal\ncovid2_patient5_SR_4_IM00004.tif,covid\n");
    put("csv", "leak.csv",
        "filename,class\ncovid1_patient1_SR_2_IM00001.tif,covid\nnormal1_patient2_SR_3_IM00010.tif,normal\n"
        "\ffilename,class\ncovid1_patient1_SR_2_IM00002.tif,covid\nnormal2_patient4_SR_2_IM00003.tif,normal\n"
        "\ffilename,class\nnormal2_patient4_SR_2_IM00003.tif,normal\n");
    put("csv", "no_validation.csv", "filename,class\ncovid1_patient1_SR_2_IM1.tif,covid\n\f\ffilename,class\n"
                                    "normal1_patient9_SR_2_IM2.tif,normal\n");

    /* a checkpoint and a Keras file of a one-stage small_resnet (a few KB) */
    ctvk_model_config c;
    ctvk_model_config_default(&c, "small_resnet");
    c.height = c.width = 8;
    c.stages = 1;
    c.blocks[0] = 1;
    c.widths[0] = 2;
    ctvk_graph g;
    memset(&g, 0, sizeof g);
    if (ctvk_graph_build(&c, &g)) die("graph");
    float *params = calloc(g.params_total, sizeof *params);
    ctvk_graph_init_params(&g, params, 1);
    ctvk_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.params = params;
    ck.params_total = g.params_total;
    ck.epoch = 3, ck.step = 42;
    ck.rng[0] = 1;
    ck.metrics = "val_loss=0.5\nval_accuracy=0.75\n";
    /* the fuzz target's first byte picks raw (even) or CRC-fixed (odd) input */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/checkpoint/.tmp", OUT);
    if (ctvk_checkpoint_save(tmp, &g, &ck)) die("checkpoint");
    FILE *f = fopen(tmp, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) die("read back");
    fclose(f);
    remove(tmp);
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/checkpoint/small_%s.ckpt", OUT, k ? "fixed" : "raw");
        f = fopen(p, "wb");
        fputc(k, f);
        fwrite(b, 1, (size_t)n, f);
        fclose(f);
    }
    free(b);
    snprintf(p, sizeof p, "%s/keras/small.h5", OUT);
    keras_file(p);
    /* descriptions of Keras files (the target builds them): see ctvk_fuzz_keras */
    for (int k = 0; k < 3; k++) {
        unsigned char d[96];
        for (size_t i = 0; i < sizeof d; i++) d[i] = (unsigned char)((i * 29 + (size_t)k * 71 + 3) & 0xff);
        d[0] = (unsigned char)(k + 1);        /* /model_weights or not, */
        d[1] = (unsigned char)(4 + k);        /* 4..6 layers */
        snprintf(p, sizeof p, "%s/keras/description%d", OUT, k);
        FILE *df = fopen(p, "wb");
        if (!df || fwrite(d, 1, sizeof d, df) != sizeof d || fclose(df)) die(p);
    }
    free(params);
    ctvk_graph_free(&g);
    return 0;
}
