/* Clinical input: DICOM slices (three transfer syntaxes, per-slice rescale) and NIfTI volumes (every
 * axis flip of the sform, scl_slope/scl_inter, a slope of 0 or NaN meaning none) read back exactly
 * as the stored values of the same phantom slices; NaN voxels, 4D volumes, volumes without an
 * orientation and DICOM series of mixed sizes are refused naming the file. GDCM is a module loaded
 * on the first DICOM file: not before (no libgdcm in the process), and a module that is missing, not
 * a library or not ctvk's fails the call naming it, the next call trying again. */
#include "ctvk/ct.h"
#include "runtime/ct/ct_internal.h"
#include "runtime/ct/gdcm_io.h"
#include "tests/check.h"
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W = 48, SL = 6 };
static char *g_dir;
static ctvk_phantom_options g_po;
static uint16_t g_stored[SL][W * W];   /* the phantom's slices, superior first */

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

/* Whether /proc/self/maps names a file containing `part`. */
static int mapped(const char *part)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4400];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, part) != NULL;
    if (f) fclose(f);
    return found;
}

static void dicom_module(void)
{
    CHECK(!ctvk_gdcm_loaded() && !mapped("libgdcm") && mapped("libtiff"),
          "before the first DICOM file: no GDCM in the process (TIFF is)");
    char path[1024], name[64], fake[1024];
    uint16_t px[W * W] = {0};
    ctvk__phantom_dicom_name(1, 0, 0, 0, name, sizeof name);
    snprintf(path, sizeof path, "%s/dcm/%s", g_dir, name);
    snprintf(fake, sizeof fake, "%s/text.so", g_dir);
    FILE *f = fopen(fake, "w");
    for (int i = 0; f && i < 16; i++) fputs("not a library, no ELF header\n", f);   /* longer than one */
    if (f) fclose(f);
    const char *bad[] = {"/nonexistent/libctvk-gdcm.so", fake, "libz.so.1"};
    const char *why[] = {"no such file", "invalid ELF header", "not a ctvk GDCM module"};   /* (dlopen's words) */
    char zlib[256] = "";
    FILE *m = fopen("/proc/self/maps", "r");   /* libz's path, as the process mapped it */
    char line[4400];
    while (m && !*zlib && fgets(line, sizeof line, m)) {
        char *p = strchr(line, '/');
        if (p && strstr(p, "/libz.so")) { p[strcspn(p, "\n")] = 0; snprintf(zlib, sizeof zlib, "%s", p); }
    }
    if (m) fclose(m);
    bad[2] = zlib;
    for (int i = 0; i < 3; i++) {
        if (!*bad[i]) { CHECK(0, "libz's path in /proc/self/maps"); continue; }
        setenv("CTVK_GDCM_MODULE", bad[i], 1);
        ctvk_status s = ctvk__phantom_dicom(path, 1, 0, 0, 0, W, SL, 0, px);
        CHECK(s != CTVK_OK && has(ctvk_error(), bad[i]) && has(ctvk_error(), why[i]) &&
              has(ctvk_error(), "GDCM module") && !ctvk_gdcm_loaded(),
              "CTVK_GDCM_MODULE=%s: the write fails naming it (%s)", bad[i], ctvk_error());
    }
    unsetenv("CTVK_GDCM_MODULE");
    CHECK(ctvk__phantom_dicom(path, 1, 0, 0, 0, W, SL, 0, px) == CTVK_OK && ctvk_gdcm_loaded() &&
          mapped("libgdcmDICT") && mapped("libctvk-gdcm.so"),
          "then, from beside the executable, the module loads: %s", ctvk_error());
}

static void dicom_slices(void)
{
    char path[1024], name[64];
    uint16_t got[W * W];
    int exact = 0;
    for (int sq = 0; sq < 3; sq++)
        for (int i = 0; i < SL; i++) {
            ctvk__phantom_dicom_name(1, 0, sq, i, name, sizeof name);
            snprintf(path, sizeof path, "%s/dcm/%s", g_dir, name);
            CHECK(ctvk__phantom_dicom(path, 1, 0, sq, i, W, SL, 0, g_stored[i]) == CTVK_OK, "write %s: %s", path,
                  ctvk_error());
            size_t clipped = 9;
            ctvk_status s = ctvk_slice_read(path, W, 0, NULL, got, &clipped);
            int same = s == CTVK_OK && clipped == 0 && !memcmp(got, g_stored[i], sizeof got);
            exact += same;
            if (!same) CHECK(0, "DICOM form %d slice %d reads back as the stored values (%s)", sq, i, s ? ctvk_error() : "differs");
        }
    CHECK(exact == 3 * SL, "%d of %d DICOM slices (uncompressed, RLE with per-slice intercepts, JPEG-LS slope 0.5) "
          "read back exactly", exact, 3 * SL);
    /* hu_offset moves every value */
    ctvk_value_options v = {.hu_offset = 1000};
    ctvk__phantom_dicom_name(1, 0, 1, 1, name, sizeof name);
    snprintf(path, sizeof path, "%s/dcm/%s", g_dir, name);
    size_t mid = (size_t)W * W / 2 + W / 2;
    CHECK(g_stored[1][mid] >= 24 && ctvk_slice_read(path, W, 0, &v, got, NULL) == CTVK_OK &&
              got[mid] == g_stored[1][mid] - 24, "hu_offset = 1000: stored = HU + 1000 (%u, want %u - 24)", got[mid],
          g_stored[1][mid]);
    /* the series: one per sequence, in position order, head first */
    ctvk_series_set *set = NULL;
    snprintf(path, sizeof path, "%s/dcm", g_dir);
    CHECK(ctvk_series_scan(path, &set) == CTVK_OK && set->nseries == 3 && set->nslices == 3 * SL,
          "3 series of %d slices: %s", SL, set ? "" : ctvk_error());
    if (set && set->nseries == 3) {
        int ordered = 1;
        for (int q = 0; q < 3; q++)
            for (size_t i = 0; i < (size_t)SL; i++)
                ordered &= set->instance[set->series[q].first + i] == (int)i + 1 &&
                           fabs(set->position[set->series[q].first + i] + 2.5 * (double)i) < 1e-9;
        CHECK(ordered, "slices ordered by position along the normal, InstanceNumber 1..%d", SL);
        CHECK(set->series[0].kind == CTVK_SERIES_DICOM && set->series[0].number == 2 &&
                  has(set->series[0].description, "uncompressed") && !strncmp(set->series[0].uid, "2.25.", 5),
              "series 2 first, with its description and UID");
    }
    ctvk_series_free(set);
    /* a slice of another size in a series: refused, both files named */
    uint16_t small[32 * 32] = {0};
    ctvk__phantom_dicom_name(1, 0, 0, SL, name, sizeof name);
    snprintf(path, sizeof path, "%s/dcm/%s", g_dir, name);
    CHECK(ctvk__phantom_dicom(path, 1, 0, 0, SL, 32, SL + 1, 0, small) == CTVK_OK, "write a 32x32 slice");
    snprintf(path, sizeof path, "%s/dcm", g_dir);
    set = NULL;
    CHECK(ctvk_series_scan(path, &set) == CTVK_ERR_FORMAT && has(ctvk_error(), "mixed sizes") &&
              has(ctvk_error(), name) && has(ctvk_error(), "is 32x32"),
          "mixed sizes refused: %s", ctvk_error());
    ctvk_series_free(set);
    ctvk_scan_options so = {.series = "2"};
    CHECK(ctvk_series_scan_ex(path, &so, &set) == CTVK_OK && set->nseries == 1 && set->nslices == SL,
          "another series of the study is still usable: %s", set ? "" : ctvk_error());
    ctvk_series_free(set);
}

/* A NIfTI volume of the phantom's HU with a chosen datatype and scaling (raw = (HU - inter) / slope). */
static const char *write_nifti(const char *name, int dt, double slope, double inter, int nt, int no_xform, int nan_at)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int64_t dims[8] = {nt > 1 ? 4 : 3, W, W, SL, nt, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, dt, 1);
    if (!nim) return NULL;
    nim->scl_slope = slope, nim->scl_inter = inter;
    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    m.m[0][0] = -1, m.m[1][1] = 1, m.m[2][2] = 2.5, m.m[3][3] = 1;
    if (!no_xform) nim->sform_code = NIFTI_XFORM_SCANNER_ANAT, nim->sto_xyz = m, nim->sto_ijk = nifti_dmat44_inverse(m);
    double s = slope != 0 && !isnan(slope) ? slope : 1, c = slope != 0 && !isnan(slope) ? inter : 0;
    for (int z = 0; z < SL; z++)
        for (int y = 0; y < W; y++)
            for (int x = 0; x < W; x++) {
                double hu = (double)g_stored[SL - 1 - z][(W - 1 - y) * W + x] - 1024.0;
                double raw = (hu - c) / s;
                size_t at = ((size_t)z * W + (size_t)y) * W + (size_t)x;
                if (dt == DT_FLOAT32) ((float *)nim->data)[at] = (float)raw;
                else ((int16_t *)nim->data)[at] = (int16_t)lrint(raw);
            }
    if (nan_at >= 0 && dt == DT_FLOAT32) ((float *)nim->data)[nan_at] = NAN;
    nifti_set_filenames(nim, path, 0, 1);
    nifti_image_write(nim);
    nifti_image_free(nim);
    return path;
}

static void nifti_volumes(void)
{
    uint16_t got[W * W];
    char slice[1100], path[1024];
    int16_t hu[SL * W * W];
    for (int z = 0; z < SL; z++)   /* ctvk__phantom_nifti_axes' layout: z from the most inferior, y from the bottom */
        for (int y = 0; y < W; y++)
            for (int x = 0; x < W; x++)
                hu[((size_t)z * W + y) * W + x] = (int16_t)(g_stored[SL - 1 - z][(W - 1 - y) * W + x] - 1024);
    for (int f = 0; f < 8; f++) {
        snprintf(path, sizeof path, "%s/flip%d.nii%s", g_dir, f, f % 2 ? ".gz" : "");
        CHECK(ctvk__phantom_nifti_axes(path, W, SL, hu, f & 1, f >> 1 & 1, f >> 2 & 1) == CTVK_OK, "write %s: %s", path,
              ctvk_error());
        int exact = 0;
        for (int k = 0; k < SL; k++) {
            snprintf(slice, sizeof slice, "%s#%d", path, k);
            exact += ctvk_slice_read(slice, W, 0, NULL, got, NULL) == CTVK_OK && !memcmp(got, g_stored[k], sizeof got);
        }
        CHECK(exact == SL, "flips lr %d ap %d si %d: %d of %d slices come out as the phantom's, superior first", f & 1,
              f >> 1 & 1, f >> 2 & 1, exact, SL);
    }
    ctvk_series_set *set = NULL;
    snprintf(path, sizeof path, "%s/flip5.nii.gz", g_dir);
    CHECK(ctvk_series_scan(path, &set) == CTVK_OK && set->nseries == 1 && set->nslices == SL &&
              set->series[0].kind == CTVK_SERIES_NIFTI && has(set->slices[SL - 1], "flip5.nii.gz#5"),
          "a volume is one sequence of its %d axial slices", SL);
    ctvk_series_free(set);
    /* scaling: float32 with slope 2 and intercept -1024; a slope of 0 or NaN means none */
    static const struct { int dt; double slope, inter; const char *what; } sc[] = {
        {DT_FLOAT32, 2.0, -1024.0, "float32, scl_slope 2, scl_inter -1024"},
        {DT_INT16, 0.0, 500.0, "int16, scl_slope 0 (none, scl_inter ignored)"},
        {DT_INT16, NAN, 500.0, "int16, scl_slope NaN (none)"},
        {DT_INT16, 0.5, -1024.0, "int16, scl_slope 0.5"},
    };
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) {
        char name[64];
        snprintf(name, sizeof name, "scale%zu.nii", i);
        const char *p = write_nifti(name, sc[i].dt, sc[i].slope, sc[i].inter, 1, 0, -1);
        int exact = 0;
        for (int k = 0; p && k < SL; k++) {
            snprintf(slice, sizeof slice, "%s#%d", p, k);
            exact += ctvk_slice_read(slice, W, 0, NULL, got, NULL) == CTVK_OK && !memcmp(got, g_stored[k], sizeof got);
        }
        CHECK(exact == SL, "%s: %d of %d slices exact (%s)", sc[i].what, exact, SL, ctvk_error());
    }
    /* refusals */
    const char *p = write_nifti("nan.nii", DT_FLOAT32, 1, 0, 1, 0, (int)(W * W * (SL - 1) + 5));
    snprintf(slice, sizeof slice, "%s#0", p);
    ctvk_status st = ctvk_slice_read(slice, W, 0, NULL, got, NULL);
    CHECK(st == CTVK_ERR_FORMAT && has(ctvk_error(), slice) &&
              has(ctvk_error(), "NaN or infinite"),
          "a NaN voxel is refused naming the slice: %d %s", st, ctvk_error());
    p = write_nifti("4d.nii", DT_INT16, 1, 0, 2, 0, -1);
    CHECK(ctvk_series_scan(p, &set) == CTVK_ERR_FORMAT && has(ctvk_error(), p) && has(ctvk_error(), "3D"),
          "a 4D volume is refused: %s", ctvk_error());
    p = write_nifti("noxform.nii", DT_INT16, 1, 0, 1, 1, -1);
    CHECK(ctvk_series_scan(p, &set) == CTVK_ERR_FORMAT && has(ctvk_error(), "orientation of the slices is unknown"),
          "a volume without sform and qform is refused: %s", ctvk_error());
    /* truncated voxel data (plain and gzip): the slice read names it */
    for (int gz = 0; gz < 2; gz++) {
        char src[1000], dst[1000];
        snprintf(src, sizeof src, "%s/flip%d.nii%s", g_dir, gz, gz ? ".gz" : "");
        snprintf(dst, sizeof dst, "%s/trunc.nii%s", g_dir, gz ? ".gz" : "");
        FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
        char buf[40000];
        size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
        if (out) fwrite(buf, 1, n * 2 / 3, out);
        if (in) fclose(in);
        if (out) fclose(out);
        snprintf(slice, sizeof slice, "%s#0", dst);
        ctvk_status st2 = ctvk_slice_read(slice, W, 0, NULL, got, NULL);
        CHECK(st2 != CTVK_OK && has(ctvk_error(), dst) && (has(ctvk_error(), "truncated") || has(ctvk_error(), "header")),
              "a truncated %s volume is refused: %s", gz ? "gzip" : "plain", ctvk_error());
    }
    snprintf(path, sizeof path, "%s/junk.nii", g_dir);
    FILE *f = fopen(path, "wb");
    if (f) { fputs("not a nifti header at all", f); fclose(f); }
    CHECK(ctvk_series_scan(path, &set) == CTVK_ERR_FORMAT && has(ctvk_error(), path) && has(ctvk_error(), "NIfTI"),
          "a .nii that is not NIfTI is refused: %s", ctvk_error());
}

int main(void)
{
    g_dir = check_tmpdir("ct-clinical");
    CHECK(g_dir != NULL, "tmpdir");
    char d[1100];
    snprintf(d, sizeof d, "%s/dcm", g_dir);
    CHECK(ctvk__mkdirs(d) == CTVK_OK, "mkdir");
    ctvk_phantom_defaults(&g_po);
    g_po.size = W, g_po.slices = SL, g_po.covid = 1, g_po.normal = 0;
    for (int i = 0; i < SL; i++) CHECK(ctvk_phantom_slice(&g_po, 0, 0, i, g_stored[i], NULL) == CTVK_OK, "phantom");
    dicom_module();
    dicom_slices();
    nifti_volumes();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (getenv("KEEP")) return check_done("test_ct_clinical");
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(g_dir);
    return check_done("test_ct_clinical");
}
