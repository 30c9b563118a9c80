/* Slice selection (docs/method.md section 2): the worked example, ties at the threshold, equal counts,
 * the region's borders pixel by pixel (rows 239/240/339/340, columns 119/120/369/370) through the
 * whole path (TIFF files -> ctvk_select_run), the strict dark level, region scaling, grouping per
 * sequence and per patient against a reference written here, the CSV and the contact sheet. */
#include "ctvk/ct.h"
#include "tests/check.h"
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir;

static void groups(void)
{
    uint8_t keep[8];
    /* the worked example */
    uint32_t a[2] = {3030, 30};
    double t = ctvk_select_group(a, 2, 1.5, keep);
    printf("worked example: counts 3030, 30 -> threshold %.17g, keep %d %d\n", t, keep[0], keep[1]);
    CHECK(t == 2000.0 && keep[0] == 1 && keep[1] == 0, "worked example");
    /* ties: exactly at the threshold is not kept (strict >) */
    uint32_t b[4] = {3000, 0, 2000, 2001};
    t = ctvk_select_group(b, 4, 1.5, keep);
    CHECK(t == 2000.0 && keep[0] == 1 && keep[1] == 0 && keep[2] == 0 && keep[3] == 1, "ties: %g %d%d%d%d", t, keep[0],
          keep[1], keep[2], keep[3]);
    /* no "+ min": 1000, 700, 500 -> threshold 333.3, all kept (with + min only 1000 would be) */
    uint32_t c[3] = {1000, 700, 500};
    t = ctvk_select_group(c, 3, 1.5, keep);
    CHECK(t == 500.0 / 1.5 && keep[0] && keep[1] && keep[2], "no + min: threshold %g", t);
    /* all equal: threshold 0, every slice with count > 0 kept */
    uint32_t d[3] = {500, 500, 500};
    t = ctvk_select_group(d, 3, 1.5, keep);
    CHECK(t == 0 && keep[0] && keep[1] && keep[2], "all equal");
    uint32_t e[2] = {0, 0};
    t = ctvk_select_group(e, 2, 1.5, keep);
    CHECK(t == 0 && !keep[0] && !keep[1], "all zero: nothing kept");
    uint32_t f[1] = {7};
    t = ctvk_select_group(f, 1, 1.5, keep);
    CHECK(t == 0 && keep[0], "one slice with count 7 is kept");
    /* another divisor */
    uint32_t g[3] = {900, 300, 600};
    t = ctvk_select_group(g, 3, 2.0, keep);
    CHECK(t == 300.0 && keep[0] && !keep[1] && keep[2], "divisor 2");
    CHECK(ctvk_select_group(NULL, 0, 1.5, keep) == 0.0, "empty group");
}

/* The region rule written out plainly: rows y0*h/512 .. y1*h/512, columns likewise (floor). */
static uint32_t ref_count(const uint16_t *img, int w, int h, int y0, int y1, int x0, int x1, int dark)
{
    int a = y0 * h / 512, b = y1 * h / 512, c = x0 * w / 512, d = x1 * w / 512;
    uint32_t n = 0;
    for (int y = a; y < b; y++)
        for (int x = c; x < d; x++) n += img[y * w + x] < dark;
    return n;
}

static void counting(void)
{
    ctvk_select_params p;
    ctvk_select_defaults(&p);
    CHECK(p.y0 == 240 && p.y1 == 340 && p.x0 == 120 && p.x1 == 370 && p.dark_level == 300 && p.divisor == 1.5 &&
              p.group == CTVK_GROUP_SEQUENCE, "defaults");
    int y0, y1, x0, x1;
    ctvk_select_region(&p, 512, 512, &y0, &y1, &x0, &x1);
    CHECK(y0 == 240 && y1 == 340 && x0 == 120 && x1 == 370, "region at 512");
    ctvk_select_region(&p, 128, 128, &y0, &y1, &x0, &x1);
    printf("region at 128: rows %d..%d, columns %d..%d\n", y0, y1 - 1, x0, x1 - 1);
    CHECK(y0 == 60 && y1 == 85 && x0 == 30 && x1 == 92, "region at 128");
    ctvk_select_region(&p, 64, 64, &y0, &y1, &x0, &x1);
    CHECK(y0 == 30 && y1 == 42 && x0 == 15 && x1 == 46, "region at 64");

    /* random images and parameters against the plain loops */
    uint64_t s = 99;
    int worst = 0;
    static const int sizes[] = {512, 128, 64, 100, 333};
    uint16_t *img = malloc(512 * 512 * 2);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int trial = 0; trial < 20; trial++) {
            int n = sizes[k];
            for (int i = 0; i < n * n; i++) img[i] = (uint16_t)(check_rng_next(&s) % 700);
            ctvk_select_params q = p;
            if (trial) {
                q.y0 = (int)(check_rng_next(&s) % 500), q.y1 = q.y0 + 1 + (int)(check_rng_next(&s) % (size_t)(512 - q.y0));
                q.x0 = (int)(check_rng_next(&s) % 500), q.x1 = q.x0 + 1 + (int)(check_rng_next(&s) % (size_t)(512 - q.x0));
                q.dark_level = 1 + (int)(check_rng_next(&s) % 700);
            }
            uint32_t got = ctvk_dark_count(img, n, n, &q);
            int a = q.y0 * n / 512, b = q.y1 * n / 512, c = q.x0 * n / 512, d = q.x1 * n / 512;
            if (b <= a || d <= c) continue;   /* degenerate after scaling: the library keeps one pixel */
            uint32_t want = ref_count(img, n, n, q.y0, q.y1, q.x0, q.x1, q.dark_level);
            int diff = abs((int)got - (int)want);
            if (diff > worst) worst = diff;
            CHECK(got == want, "size %d region %d..%d x %d..%d dark %d: %u, want %u", n, q.y0, q.y1, q.x0, q.x1,
                  q.dark_level, got, want);
        }
    printf("dark counts against the plain loops: worst difference %d\n", worst);
    /* the level is strict, and 65536 counts every pixel */
    for (int i = 0; i < 512 * 512; i++) img[i] = 1000;
    img[250 * 512 + 200] = 299, img[250 * 512 + 201] = 300, img[250 * 512 + 202] = 0;
    CHECK(ctvk_dark_count(img, 512, 512, &p) == 2, "299 and 0 are dark, 300 is not");
    ctvk_select_params all = p;
    all.dark_level = 65536;
    for (int i = 0; i < 512 * 512; i++) img[i] = 65535;
    CHECK(ctvk_dark_count(img, 512, 512, &all) == 25000, "dark_level 65536 counts all 25000 pixels");
    free(img);
}

static char *tmp_path(const char *rel)
{
    char *p = malloc(2048);
    snprintf(p, 2048, "%s/%s", g_dir, rel);
    return p;
}

static void mkdirs(const char *rel)
{
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", g_dir, rel);
    if (system(cmd) != 0) CHECK(0, "mkdir %s", rel);
}

/* One dark pixel per slice at each border position: through files, strips and the row reader. */
static void borders(void)
{
    static const int rows[] = {239, 240, 339, 340, 290}, cols[] = {119, 120, 369, 370, 250};
    mkdirs("borders/patient1/SR_2");
    uint16_t *img = malloc(512 * 512 * 2);
    int n = 0;
    uint32_t want[32];
    static const int rps[] = {0, 1, 7, 100};     /* strip layouts, so region rows start mid-strip */
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 5; c++) {
            for (int i = 0; i < 512 * 512; i++) img[i] = 1000;
            img[rows[r] * 512 + cols[c]] = 0;
            /* a second dark pixel far outside the region must never count */
            img[10 * 512 + 10] = 0;
            char name[64];
            snprintf(name, sizeof name, "borders/patient1/SR_2/IM%05d.tif", n + 1);
            char *p = tmp_path(name);
            ctvk_tiff_write_options o = {.rows_per_strip = rps[n % 4], .big_endian = n % 2,
                                         .tile = n % 5 == 4 ? 16 : 0, .compression = n % 3 == 2 ? 5 : 1};
            CHECK(ctvk_tiff_write(p, 512, 512, img, &o) == CTVK_OK, "write %s: %s", name, ctvk_error());
            free(p);
            want[n++] = rows[r] >= 240 && rows[r] < 340 && cols[c] >= 120 && cols[c] < 370;
        }
    char *dir = tmp_path("borders/patient1/SR_2");
    ctvk_series_set *set;
    CHECK(ctvk_series_scan(dir, &set) == CTVK_OK, "scan: %s", ctvk_error());
    ctvk_select_params p;
    ctvk_select_defaults(&p);
    ctvk_selection sel;
    CHECK(ctvk_select_run(set, &p, 512, 0, 2, &sel) == CTVK_OK, "run: %s", ctvk_error());
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (sel.counts[i] != want[i]) {
            bad++;
            printf("  pixel (row %d, column %d): count %u, want %u\n", rows[i / 5], cols[i % 5], sel.counts[i], want[i]);
        }
    }
    printf("borders: 25 slices, rows 239/240/339/340, columns 119/120/369/370: %d wrong\n", bad);
    CHECK(bad == 0, "border pixels");
    /* counts 0 or 1: threshold 1/1.5, so exactly the slices whose pixel is inside are kept */
    CHECK(sel.ngroups == 1 && sel.threshold[0] == 1 / 1.5, "one sequence, threshold 2/3");
    for (int i = 0; i < n; i++) CHECK(sel.keep[i] == want[i], "slice %d kept %d", i, sel.keep[i]);
    ctvk_selection_free(&sel);
    ctvk_series_free(set);
    free(dir);
    free(img);
}

/* A phantom dataset at 512 through ctvk_select_run, against a reference built here from whole-slice
 * reads, per sequence and per patient; also compressed copies, resampled slices and the CSV. */
static void dataset_run(void)
{
    ctvk_phantom_options po;
    ctvk_phantom_defaults(&po);
    char *out = tmp_path("ph");
    po.out = out, po.covid = 1, po.normal = 1, po.slices = 6, po.series = 2, po.size = 512, po.seed = 5;
    ctvk_phantom_report rep;
    CHECK(ctvk_phantom_write(&po, &rep) == CTVK_OK, "phantom: %s", ctvk_error());
    char *full = tmp_path("ph/full");
    ctvk_series_set *set;
    CHECK(ctvk_series_scan(full, &set) == CTVK_OK, "scan: %s", ctvk_error());
    CHECK(set->nslices == 24 && set->nseries == 4 && set->npatients == 2, "24 slices, 4 sequences, 2 patients (%zu %d %d)",
          set->nslices, set->nseries, set->npatients);
    CHECK(set->npatients == 2 && !strcmp(set->patients[0].id, "patient1") && set->patients[0].label == CTVK_CLASS_COVID &&
              !strcmp(set->patients[1].id, "patient2") && set->patients[1].label == CTVK_CLASS_NORMAL,
          "patients and classes from the path");
    CHECK(!strcmp(set->series[0].name, "covid1/patient1/SR_2") && !strcmp(set->series[1].name, "covid1/patient1/SR_3"),
          "series names: %s, %s", set->series[0].name, set->series[1].name);
    ctvk_select_params p;
    ctvk_select_defaults(&p);
    uint32_t ref[24];
    uint16_t *img = malloc(512 * 512 * 2);
    for (int i = 0; i < 24; i++) {
        CHECK(ctvk_tiff_read(set->slices[i], 512, 0, img, NULL) == CTVK_OK, "read %s", set->slices[i]);
        ref[i] = ref_count(img, 512, 512, 240, 340, 120, 370, 300);
    }
    for (int grouping = 0; grouping < 2; grouping++) {
        p.group = (ctvk_group_by)grouping;
        ctvk_selection sel;
        CHECK(ctvk_select_run(set, &p, 512, 0, 3, &sel) == CTVK_OK, "run: %s", ctvk_error());
        int gsize = grouping ? 12 : 6, bad = 0;
        CHECK(sel.ngroups == 24 / gsize, "%d groups", sel.ngroups);
        for (int g = 0; g < 24 / gsize; g++) {
            uint32_t lo = ref[g * gsize], hi = lo;
            for (int i = g * gsize; i < (g + 1) * gsize; i++) lo = ref[i] < lo ? ref[i] : lo, hi = ref[i] > hi ? ref[i] : hi;
            double th = (double)(hi - lo) / 1.5;
            CHECK(sel.threshold[g] == th, "group %d threshold %g, want %g", g, sel.threshold[g], th);
            for (int i = g * gsize; i < (g + 1) * gsize; i++)
                bad += sel.counts[i] != ref[i] || sel.keep[i] != ((double)ref[i] > th);
        }
        size_t kept = 0;
        for (int i = 0; i < 24; i++) kept += sel.keep[i];
        printf("phantom at 512, per %s: %zu of 24 kept, %d mismatches against the reference\n",
               grouping ? "patient" : "sequence", sel.kept, bad);
        CHECK(bad == 0 && kept == sel.kept, "selection against the reference");
        if (!grouping) {
            for (int g = 0; g < 4; g++)
                CHECK(!sel.keep[g * 6] && !sel.keep[g * 6 + 5] && sel.keep[g * 6 + 2] && sel.keep[g * 6 + 3],
                      "sequence %d: first and last removed, middle kept", g);
            /* the CSV */
            char *csv = tmp_path("sel.csv");
            CHECK(ctvk_selection_write_csv(csv, set, &sel) == CTVK_OK, "csv: %s", ctvk_error());
            FILE *f = fopen(csv, "r");
            char line[4096];
            int nl = 0, okrows = 0;
            while (f && fgets(line, sizeof line, f)) {
                if (nl == 0) CHECK(!strcmp(line, "path,dark_count,threshold,selected\n"), "header '%s'", line);
                else {
                    char path[3000], th[64];
                    unsigned cnt;
                    int k;
                    if (sscanf(line, "%2999[^,],%u,%63[^,],%d", path, &cnt, th, &k) == 4 &&
                        !strcmp(path, set->slices[nl - 1]) && cnt == ref[nl - 1] && k == sel.keep[nl - 1] &&
                        strtod(th, NULL) == sel.threshold[(nl - 1) / 6] && strchr(th, '.'))
                        okrows++;
                }
                nl++;
            }
            if (f) fclose(f);
            CHECK(nl == 25 && okrows == 24, "CSV: %d lines, %d rows right", nl, okrows);
            free(csv);
        }
        ctvk_selection_free(&sel);
    }
    /* the same slices compressed and tiled, and stored at 256 x 256 and resampled */
    mkdirs("variants/patient9/SR_2");
    mkdirs("small/patient9/SR_2");
    uint16_t *half = malloc(256 * 256 * 2), *back = malloc(512 * 512 * 2);
    uint32_t want_small[6];
    for (int i = 0; i < 6; i++) {
        ctvk_tiff_read(set->slices[i], 512, 0, img, NULL);
        char name[64];
        snprintf(name, sizeof name, "variants/patient9/SR_2/IM%05d.tif", i + 1);
        char *pv = tmp_path(name);
        ctvk_tiff_write_options o = {.compression = i % 2 ? 8 : 5, .predictor = 2, .tile = i % 3 ? 64 : 0, .big_endian = i % 2};
        CHECK(ctvk_tiff_write(pv, 512, 512, img, &o) == CTVK_OK, "write %s", name);
        free(pv);
        ctvk_resize_u16(img, 512, 512, half, 256, 256);
        snprintf(name, sizeof name, "small/patient9/SR_2/IM%05d.tif", i + 1);
        pv = tmp_path(name);
        ctvk_tiff_write(pv, 256, 256, half, NULL);
        free(pv);
        ctvk_resize_u16(half, 256, 256, back, 512, 512);
        want_small[i] = ref_count(back, 512, 512, 240, 340, 120, 370, 300);
    }
    p.group = CTVK_GROUP_SEQUENCE;
    for (int v = 0; v < 2; v++) {
        char *d = tmp_path(v ? "small" : "variants");
        ctvk_series_set *vs;
        ctvk_selection sel;
        CHECK(ctvk_series_scan(d, &vs) == CTVK_OK, "scan %s", d);
        ctvk_status st = ctvk_select_run(vs, &p, 512, v, 1, &sel);
        CHECK(st == CTVK_OK, "run %s: %s", d, ctvk_error());
        int bad = 0;
        for (int i = 0; st == CTVK_OK && i < 6; i++) bad += sel.counts[i] != (v ? want_small[i] : ref[i]);
        CHECK(st == CTVK_OK && bad == 0, "%s: %d counts differ", v ? "256x256 resampled to 512" : "compressed and tiled", bad);
        if (st == CTVK_OK) ctvk_selection_free(&sel);
        if (v) {
            st = ctvk_select_run(vs, &p, 512, 0, 1, &sel);
            CHECK(st == CTVK_ERR_FORMAT && strstr(ctvk_error(), "IM00001.tif: the slice is 256x256, expected 512x512"),
                  "without resize the first slice is refused: %s", ctvk_error());
        }
        ctvk_series_free(vs);
        free(d);
    }
    free(half), free(back), free(img);
    ctvk_series_free(set);
    free(full), free(out);
}

/* The flat layout's names group into sequences and patients too. */
static void flat_names(void)
{
    mkdirs("flat");
    uint16_t img[64 * 64];
    static const char *names[] = {"normal1_patient214_SR_2_IM00010.tif", "normal1_patient214_SR_2_IM00002.tif",
                                  "normal4_patient214_SR_2_IM00001.tif", "137covid_patient3_SR_3_IM00100.tif",
                                  "137covid_patient3_SR_3_IM00099.tif"};
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 64 * 64; k++) img[k] = (uint16_t)(k % 7 == i ? 0 : 1000);
        char rel[128];
        snprintf(rel, sizeof rel, "flat/%s", names[i]);
        char *p = tmp_path(rel);
        ctvk_tiff_write(p, 64, 64, img, NULL);
        free(p);
    }
    char *d = tmp_path("flat");
    ctvk_series_set *s;
    CHECK(ctvk_series_scan(d, &s) == CTVK_OK, "scan flat: %s", ctvk_error());
    CHECK(s->npatients == 2 && s->nseries == 3 && !strcmp(s->patients[0].id, "patient3") &&
              !strcmp(s->patients[1].id, "patient214") && s->patients[0].label == CTVK_CLASS_COVID &&
              s->patients[1].label == CTVK_CLASS_NORMAL && !strcmp(s->series[0].name, "137covid_patient3_SR_3") &&
              !strcmp(s->series[1].name, "normal1_patient214_SR_2") && s->series[1].count == 2,
          "flat names: %d patients, %d sequences", s->npatients, s->nseries);
    /* natural order: IM00002 before IM00010, IM00099 before IM00100 */
    CHECK(strstr(s->slices[0], "IM00099") && strstr(s->slices[2], "IM00002") && strstr(s->slices[3], "IM00010"),
          "natural order: %s %s", s->slices[0], s->slices[2]);
    ctvk_series_free(s);
    free(d);
    char id[32];
    CHECK(ctvk_patient_from_path("/x/covid1/patient12/SR_2/IM00001.tif", id, sizeof id) && !strcmp(id, "patient12"), "id from path");
    CHECK(ctvk_patient_from_path("137covid_patient1_SR_2_IM00010.tif", id, sizeof id) && !strcmp(id, "patient1"), "id from name");
    CHECK(!ctvk_patient_from_path("/x/patients/IM1.tif", id, sizeof id), "no id");
    CHECK(ctvk_class_from_name("cdunnormal") == CTVK_CLASS_NORMAL && ctvk_class_from_name("157covid") == CTVK_CLASS_COVID &&
              ctvk_class_from_name("data") == CTVK_CLASS_UNKNOWN, "classes from names");
    CHECK(ctvk_series_scan(g_dir, &s) == CTVK_OK && s->nslices > 50, "a whole tree scans");
    ctvk_series_free(s);
    char *empty = tmp_path("emptydir");
    mkdirs("emptydir");
    CHECK(ctvk_series_scan(empty, &s) == CTVK_ERR_ARG && strstr(ctvk_error(), "no slices"), "empty folder: %s", ctvk_error());
    free(empty);
}

static void config(void)
{
    ctvk_config *cfg;
    ctvk_select_params p;
    ctvk_config_load(NULL, &cfg);
    CHECK(ctvk_select_from_config(cfg, &p) == CTVK_OK && p.y0 == 240 && p.divisor == 1.5, "defaults from an empty config");
    ctvk_config_set(cfg, "selection.region_y0=10");
    ctvk_config_set(cfg, "selection.region_y1=20");
    ctvk_config_set(cfg, "selection.divisor=2.5");
    ctvk_config_set(cfg, "selection.group=patient");
    ctvk_config_set(cfg, "selection.dark_level=400");
    CHECK(ctvk_select_from_config(cfg, &p) == CTVK_OK && p.y0 == 10 && p.y1 == 20 && p.divisor == 2.5 &&
              p.group == CTVK_GROUP_PATIENT && p.dark_level == 400, "keys read: %s", ctvk_error());
    ctvk_config_set(cfg, "selection.region_y1=5");
    CHECK(ctvk_select_from_config(cfg, &p) == CTVK_ERR_ARG && strstr(ctvk_error(), "region_y0 = 10 must be less than region_y1 = 5"),
          "y0 >= y1: %s", ctvk_error());
    ctvk_config_set(cfg, "selection.region_y1=20");
    ctvk_config_set(cfg, "selection.divisor=0");
    CHECK(ctvk_select_from_config(cfg, &p) == CTVK_ERR_ARG && strstr(ctvk_error(), "divisor"), "divisor 0: %s", ctvk_error());
    ctvk_config_set(cfg, "selection.divisor=1.5");
    ctvk_config_set(cfg, "selection.group=slice");
    CHECK(ctvk_select_from_config(cfg, &p) == CTVK_ERR_ARG && strstr(ctvk_error(), "expected sequence or patient"),
          "bad group: %s", ctvk_error());
    ctvk_config_set(cfg, "selection.group=sequence");
    ctvk_config_set(cfg, "selection.region_x1=600");
    CHECK(ctvk_select_from_config(cfg, &p) == CTVK_ERR_ARG && strstr(ctvk_error(), "region_x1"), "x1 > 512: %s", ctvk_error());
    ctvk_config_free(cfg);
}

static void montage(void)
{
    char *dir = tmp_path("borders/patient1/SR_2");
    ctvk_series_set *set;
    CHECK(ctvk_series_scan(dir, &set) == CTVK_OK, "scan");
    uint8_t keep[25];
    for (int i = 0; i < 25; i++) keep[i] = i % 3 != 0;
    ctvk_select_params p;
    ctvk_select_defaults(&p);
    char *png = tmp_path("sheet.png");
    CHECK(ctvk_montage_write(png, (const char *const *)set->slices, 10, keep, &p, 512, 0) == CTVK_OK, "montage: %s",
          ctvk_error());
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    int ok = png_image_begin_read_from_file(&im, png);
    CHECK(ok, "PNG reads back");
    if (ok) {
        im.format = PNG_FORMAT_RGB;
        uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
        png_image_finish_read(&im, NULL, px, 0, NULL);
        /* 10 thumbnails of 128 px in 8 columns: 2 rows of cells 138 x 152 */
        printf("contact sheet: %ux%u\n", im.width, im.height);
        CHECK(im.width == 8 * 138 && im.height == 2 * 152, "sheet size %ux%u", im.width, im.height);
        /* the frame of slice 0 (removed) is red, that of slice 1 (kept) is not; the region is green */
        const uint8_t *a = px + ((size_t)(5 + 14 - 2) * im.width + 60) * 3;           /* above thumbnail 0 */
        const uint8_t *b = px + ((size_t)(5 + 14 - 2) * im.width + 138 + 60) * 3;     /* above thumbnail 1 */
        CHECK(a[0] > 200 && a[1] < 80 && a[2] < 80, "removed slice framed in red (%u %u %u)", a[0], a[1], a[2]);
        CHECK(!(b[0] > 200 && b[1] < 80), "kept slice not framed (%u %u %u)", b[0], b[1], b[2]);
        const uint8_t *g = px + ((size_t)(5 + 14 + 240 / 4) * im.width + 138 + 5 + 200 / 4) * 3;  /* region top edge */
        CHECK(g[1] > 200 && g[0] < 80, "region outlined in green (%u %u %u)", g[0], g[1], g[2]);
        free(px);
        png_image_free(&im);
    }
    char *bad = tmp_path("nofolder/sheet.png");
    CHECK(ctvk_montage_write(bad, (const char *const *)set->slices, 2, keep, &p, 512, 0) == CTVK_ERR_IO &&
              strstr(ctvk_error(), bad), "unwritable: %s", ctvk_error());
    free(bad), free(png), free(dir);
    ctvk_series_free(set);
}

int main(void)
{
    g_dir = check_tmpdir("ct-select");
    groups();
    counting();
    borders();
    dataset_run();
    flat_names();
    config();
    montage();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    free(g_dir);
    return check_done("test_ct_select");
}
