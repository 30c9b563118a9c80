/* Synthetic phantoms: deterministic for a seed, anatomy in the intended HU ranges (air, body around
 * HU 40, lungs around HU -850, lesions of COVID patients in HU -500..30 and none in normal ones),
 * lungs that grow then shrink so selection drops the first and last slices at every image size,
 * and a written dataset whose layouts, flat picks and folds are what the header promises. */
#include "ctvk/ct.h"
#include "tests/check.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir;

/* pixels with raw value in [lo, hi] */
static size_t in_range(const uint16_t *img, size_t n, int lo, int hi)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += img[i] >= lo && img[i] <= hi;
    return c;
}

static void anatomy(void)
{
    ctvk_phantom_options o;
    ctvk_phantom_defaults(&o);
    o.covid = 2, o.normal = 2, o.slices = 16, o.size = 512, o.seed = 3;
    size_t n = 512 * 512;
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    ctvk_phantom_slice_info ia, ib;
    /* determinism */
    CHECK(ctvk_phantom_slice(&o, 0, 0, 8, a, &ia) == CTVK_OK && ctvk_phantom_slice(&o, 0, 0, 8, b, &ib) == CTVK_OK, "slices");
    CHECK(!memcmp(a, b, n * 2) && ia.lesion_pixels == ib.lesion_pixels, "same seed, same slice");
    o.seed = 4;
    ctvk_phantom_slice(&o, 0, 0, 8, b, &ib);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += a[i] != b[i];
    CHECK(differ > n / 4, "another seed, another slice (%zu pixels differ)", differ);
    o.seed = 3;
    /* HU ranges (raw = HU + 1024) in a middle slice of a COVID and a normal patient */
    const int sl = 8;
    for (int p = 1; p < 4; p += 2) {
        ctvk_phantom_slice(&o, p, 0, sl, a, &ia);
        size_t air = in_range(a, n, 0, 1024 - 900), body = in_range(a, n, 1024 + 40 - 60, 1024 + 40 + 60);
        size_t lung = in_range(a, n, 1024 - 850 - 90, 1024 - 850 + 90), ggo = in_range(a, n, 1024 - 520, 1024 - 280);
        printf("patient %d (%s), slice %d: air %.1f%%, body %.1f%%, lungs %.1f%% (%zu px), lesions %zu px, "
               "ground-glass range %zu px\n", p, p < 2 ? "covid" : "normal", sl, 100.0 * air / n, 100.0 * body / n,
               100.0 * lung / n, ia.lung_pixels, ia.lesion_pixels, ggo);
        CHECK(air > n / 10 && body > n / 8 && lung > n / 20, "air, body and lungs are all there");
        CHECK(ia.label == (p < 2 ? CTVK_CLASS_COVID : CTVK_CLASS_NORMAL), "label");
        CHECK(a[0] == 0 && a[n - 1] == 0, "outside the field of view is 0");
        size_t hi = in_range(a, n, 4096, 65535);
        CHECK(hi == 0, "values stay in 0..4095");
        if (p < 2) CHECK(ia.lesion_pixels > 300 && ggo > 200, "COVID: lesions in the middle slice");
        else CHECK(ia.lesion_pixels == 0 && ggo < n / 10000, "normal: no lesions (%zu px in the GGO range)", ggo);
    }
    /* lesions live in middle slices only */
    size_t first = 0, last = 0;
    for (int p = 0; p < 2; p++) {
        ctvk_phantom_slice(&o, p, 0, 0, a, &ia);
        first += ia.lesion_pixels;
        ctvk_phantom_slice(&o, p, 0, 15, a, &ia);
        last += ia.lesion_pixels;
    }
    CHECK(first == 0 && last == 0, "no lesions at the ends of a sequence");
    free(a), free(b);
}

/* Lung area rises then falls, and selection removes the first and last slices, at every size. */
static void series_shape(void)
{
    static const int sizes[] = {512, 128, 64, 48};
    static const int nslices[] = {4, 9, 32};
    ctvk_select_params sp;
    ctvk_select_defaults(&sp);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (size_t m = 0; m < sizeof nslices / sizeof *nslices; m++) {
            ctvk_phantom_options o;
            ctvk_phantom_defaults(&o);
            o.covid = 2, o.normal = 2, o.series = 2, o.size = sizes[k], o.slices = nslices[m], o.seed = 21;
            int S = o.slices, n = o.size;
            uint16_t *img = malloc((size_t)n * n * 2);
            uint32_t counts[32];
            size_t lungs[32];
            uint8_t keep[32];
            int bad = 0, kept = 0;
            for (int p = 0; p < 4; p++)
                for (int s = 0; s < 2; s++) {
                    for (int i = 0; i < S; i++) {
                        ctvk_phantom_slice_info info;
                        ctvk_phantom_slice(&o, p, s, i, img, &info);
                        counts[i] = ctvk_dark_count(img, n, n, &sp);
                        lungs[i] = info.lung_pixels;
                    }
                    ctvk_select_group(counts, (size_t)S, sp.divisor, keep);
                    int y0, y1, x0, x1;
                    ctvk_select_region(&sp, n, n, &y0, &y1, &x0, &x1);
                    uint32_t maxc = 0;
                    size_t maxl = 0;
                    for (int i = 0; i < S; i++) {
                        kept += keep[i];
                        if (counts[i] > maxc) maxc = counts[i];
                        if (lungs[i] > maxl) maxl = lungs[i];
                    }
                    int ok = !keep[0] && !keep[S - 1] && keep[S / 2] && keep[(S - 1) / 2];
                    ok &= lungs[0] < maxl / 2 && lungs[S - 1] < maxl / 2 && lungs[S / 2] > maxl * 8 / 10;
                    ok &= maxc > (uint32_t)((y1 - y0) * (x1 - x0)) * 4 / 10;   /* the lungs fill the region */
                    if (!ok) {
                        bad++;
                        printf("  size %d, %d slices, patient %d sequence %d: counts", n, S, p, s);
                        for (int i = 0; i < S; i++) printf(" %u%s", counts[i], keep[i] ? "" : "x");
                        printf("\n");
                    }
                }
            printf("size %3d, %2d slices: %d of %d slices kept over 8 sequences; %d sequences off the expected shape\n",
                   n, S, kept, 8 * S, bad);
            CHECK(bad == 0, "size %d, %d slices: first and last removed, middle kept", n, S);
            free(img);
        }
}

static int count_files(const char *dir, const char *suffix)
{
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*%s' | wc -l", dir, suffix);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1) n = -1;
        pclose(f);
    }
    return n;
}

static void written(void)
{
    char a[2048], b[2048], c[2048];
    snprintf(a, sizeof a, "%s/a", g_dir);
    snprintf(b, sizeof b, "%s/b", g_dir);
    snprintf(c, sizeof c, "%s/c", g_dir);
    ctvk_phantom_options o;
    ctvk_phantom_defaults(&o);
    o.covid = 5, o.normal = 5, o.slices = 10, o.series = 2, o.size = 64, o.seed = 8, o.threads = 3;
    o.out = a;
    ctvk_phantom_report ra, rb;
    CHECK(ctvk_phantom_write(&o, &ra) == CTVK_OK, "write a: %s", ctvk_error());
    o.out = b, o.threads = 1;
    CHECK(ctvk_phantom_write(&o, &rb) == CTVK_OK, "write b: %s", ctvk_error());
    char cmd[6 * 2048 + 200];
    snprintf(cmd, sizeof cmd, "diff -r '%s/full' '%s/full' >/dev/null && diff -r '%s/flat' '%s/flat' >/dev/null && "
             "diff -r '%s/folds' '%s/folds' >/dev/null", a, b, a, b, a, b);
    CHECK(system(cmd) == 0, "the same seed writes the same files (3 threads and 1)");
    printf("written: full %zu, flat %zu, folds %d\n", ra.full_images, ra.flat_images, ra.folds);
    char sub[2100];
    snprintf(sub, sizeof sub, "%s/full", a);
    CHECK(ra.full_images == 200 && count_files(sub, ".tif") == 200, "200 slices in full/");
    snprintf(sub, sizeof sub, "%s/flat", a);
    CHECK(count_files(sub, ".tif") == (int)ra.flat_images && ra.flat_images > 40 && ra.flat_images < 200,
          "flat/ holds the picked slices");
    snprintf(sub, sizeof sub, "%s/folds", a);
    CHECK(ra.folds == 5 && count_files(sub, ".csv") == 15, "15 fold CSVs");
    snprintf(sub, sizeof sub, "%s/full/covid2/patient2/SR_3/IM00010.tif", a);
    ctvk_tiff_info info;
    CHECK(ctvk_tiff_probe(sub, &info) == CTVK_OK && info.width == 64 && info.sample == CTVK_SAMPLE_U16 &&
              info.compression == 1 && !info.big_endian, "full layout path and format: %s", ctvk_error());
    /* every flat COVID slice shows a lesion, every flat slice is one selection keeps */
    snprintf(sub, sizeof sub, "%s/flat", a);
    DIR *d = opendir(sub);
    struct dirent *e;
    int checked = 0, bad = 0;
    uint16_t img[64 * 64];
    while (d && (e = readdir(d))) {
        char grp[32];
        int pn, sr, im;
        if (sscanf(e->d_name, "%31[a-z0-9]_patient%d_SR_%d_IM%d.tif", grp, &pn, &sr, &im) != 4) continue;
        ctvk_phantom_slice_info si;
        ctvk_phantom_slice(&o, pn - 1, sr - 2, im - 1, img, &si);
        if (si.label == CTVK_CLASS_COVID && si.lesion_pixels < 3) bad++;
        if ((si.label == CTVK_CLASS_COVID) != (strstr(grp, "covid") != NULL)) bad++;
        if (im == 1 || im == 10) bad++;          /* the ends are never picked */
        checked++;
    }
    if (d) closedir(d);
    CHECK(checked == (int)ra.flat_images && bad == 0, "flat picks: %d checked, %d wrong", checked, bad);
    /* fewer than five patients per class: no folds, and said so */
    o.out = c, o.covid = 2, o.normal = 7;
    CHECK(ctvk_phantom_write(&o, &ra) == CTVK_OK && ra.folds == 0, "no folds with 2 COVID patients");
    /* a non-empty folder is refused */
    o.out = a;
    CHECK(ctvk_phantom_write(&o, &ra) == CTVK_ERR_ARG && strstr(ctvk_error(), "is not empty"), "non-empty: %s", ctvk_error());
    o.out = c, o.size = 8;
    CHECK(ctvk_phantom_write(&o, &ra) == CTVK_ERR_ARG && strstr(ctvk_error(), "--size 8"), "size 8: %s", ctvk_error());
}

int main(void)
{
    g_dir = check_tmpdir("ct-phantom");
    anatomy();
    series_shape();
    written();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(g_dir);
    return check_done("test_ct_phantom");
}
