/* The slice-selection algorithm (docs/method.md section 2), to the letter:
 *   count     = pixels of the region with raw value strictly < dark_level (300)
 *   threshold = (max(count) - min(count)) / divisor (1.5), a double, no "+ min"
 *   keep      = count strictly > threshold
 * over each sequence (or each patient), plus the parallel run over a series set and its CSV. */
#include "runtime/base/config_keys.h"
#include "runtime/ct/ct_internal.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ctvk_select_defaults(ctvk_select_params *p)
{
    p->y0 = 240, p->y1 = 340, p->x0 = 120, p->x1 = 370;
    p->dark_level = 300;
    p->divisor = 1.5;
    p->group = CTVK_GROUP_SEQUENCE;
    p->values.values = CTVK_VALUES_AUTO, p->values.hu_offset = 0;
}

ctvk_status ctvk_select_from_config(const ctvk_config *cfg, ctvk_select_params *p)
{
    ctvk_select_defaults(p);
    long v[5];
    CTVK_TRY(ctvk__key_int_or(cfg, "selection", "region_y0", p->y0, &v[0]));
    CTVK_TRY(ctvk__key_int_or(cfg, "selection", "region_y1", p->y1, &v[1]));
    CTVK_TRY(ctvk__key_int_or(cfg, "selection", "region_x0", p->x0, &v[2]));
    CTVK_TRY(ctvk__key_int_or(cfg, "selection", "region_x1", p->x1, &v[3]));
    CTVK_TRY(ctvk__key_int_or(cfg, "selection", "dark_level", p->dark_level, &v[4]));
    if (v[0] >= v[1])
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [selection] region_y0 = %ld must be less than region_y1 = %ld",
                          ctvk_config_path(cfg), v[0], v[1]);
    if (v[2] >= v[3])
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [selection] region_x0 = %ld must be less than region_x1 = %ld",
                          ctvk_config_path(cfg), v[2], v[3]);
    p->y0 = (int)v[0], p->y1 = (int)v[1], p->x0 = (int)v[2], p->x1 = (int)v[3], p->dark_level = (int)v[4];
    CTVK_TRY(ctvk__key_num_or(cfg, "selection", "divisor", p->divisor, &p->divisor));
    const char *g;
    CTVK_TRY(ctvk_values_from_config(cfg, &p->values));
    CTVK_TRY(ctvk__key_str(cfg, "selection", "group", &g));
    if (!strcasecmp(g, "sequence")) p->group = CTVK_GROUP_SEQUENCE;
    else if (!strcasecmp(g, "patient")) p->group = CTVK_GROUP_PATIENT;
    else
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [selection] group = '%s': expected sequence or patient",
                          ctvk_config_path(cfg), g);
    return CTVK_OK;
}

static int scale(int v, int n)
{
    return (int)(((long long)v * n) / 512);
}

void ctvk_select_region(const ctvk_select_params *p, int w, int h, int *y0, int *y1, int *x0, int *x1)
{
    int a = scale(p->y0, h), b = scale(p->y1, h), c = scale(p->x0, w), d = scale(p->x1, w);
    if (a > h - 1) a = h - 1;
    if (c > w - 1) c = w - 1;
    if (b > h) b = h;
    if (d > w) d = w;
    if (b <= a) b = a + 1;
    if (d <= c) d = c + 1;
    *y0 = a, *y1 = b, *x0 = c, *x1 = d;
}

#if defined(__GNUC__)
typedef uint16_t u16x8 __attribute__((vector_size(16)));
#endif

uint32_t ctvk_dark_count_rows(const uint16_t *rows, int nrows, int w, int x0, int x1, int dark_level)
{
    if (dark_level > 65535) return (uint32_t)nrows * (uint32_t)(x1 - x0);   /* every uint16 value is below it */
    uint32_t n = 0;
    uint16_t lim = (uint16_t)dark_level;
    for (int y = 0; y < nrows; y++) {
        const uint16_t *r = rows + (size_t)y * (size_t)w;
        int x = x0;
        uint32_t c = 0;
#if defined(__GNUC__)
        /* 8 lanes at a time: a true comparison is all ones (-1), so subtracting it counts; a lane
         * gains at most one per step, and a row is at most 65535 / 8 steps of 8 here */
        u16x8 acc = {0}, limv = {lim, lim, lim, lim, lim, lim, lim, lim};
        for (; x + 8 <= x1 && x + 8 - x0 <= 8 * 8191; x += 8) {
            u16x8 v;
            memcpy(&v, r + x, sizeof v);
            acc -= (u16x8)(v < limv);
        }
        for (int k = 0; k < 8; k++) c += acc[k];
#endif
        for (; x < x1; x++) c += r[x] < lim;
        n += c;
    }
    return n;
}

uint32_t ctvk_dark_count(const uint16_t *img, int w, int h, const ctvk_select_params *p)
{
    int y0, y1, x0, x1;
    ctvk_select_region(p, w, h, &y0, &y1, &x0, &x1);
    return ctvk_dark_count_rows(img + (size_t)y0 * (size_t)w, y1 - y0, w, x0, x1, p->dark_level);
}

double ctvk_select_group(const uint32_t *counts, size_t n, double divisor, uint8_t *keep)
{
    if (n == 0) return 0.0;
    uint32_t lo = counts[0], hi = counts[0];
    for (size_t i = 1; i < n; i++) {
        if (counts[i] < lo) lo = counts[i];
        if (counts[i] > hi) hi = counts[i];
    }
    double threshold = (double)(hi - lo) / divisor;
    for (size_t i = 0; i < n; i++) keep[i] = (double)counts[i] > threshold;
    return threshold;
}

/* ------------------------------------------------------------------ the run */
typedef struct job {
    const ctvk_series_set *set;
    const ctvk_select_params *p;
    int size, resize;
    uint32_t *counts;
    atomic_size_t next;
    atomic_int stop;
    atomic_size_t clipped, clipped_slices;
    pthread_mutex_t mu;
    size_t err_index;
    ctvk_status err;
    char msg[CTVK_ERROR_MAX];
} job;

static ctvk_status count_one(job *j, const char *path, uint16_t **buf, size_t *cap, uint32_t *count, size_t *clipped)
{
    if (ctvk__slice_is_tiff(path) == 0) {      /* DICOM, NIfTI: the whole slice at size x size */
        size_t need = (size_t)j->size * (size_t)j->size;
        if (need > *cap) {
            uint16_t *b = realloc(*buf, need * sizeof *b);
            if (!b) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            *buf = b, *cap = need;
        }
        CTVK_TRY(ctvk_slice_read(path, j->size, j->resize, &j->p->values, *buf, clipped));
        *count = ctvk_dark_count(*buf, j->size, j->size, j->p);
        return CTVK_OK;
    }
    ctvk__tiff *t;
    ctvk_tiff_info info;
    CTVK_TRY(ctvk__tiff_open(path, &t, &info));
    ctvk__tiff_set_values(t, &j->p->values);
    int w = info.width, h = info.height, size = j->size;
    ctvk_status s = CTVK_OK;
    size_t need;
    int y0, y1, x0, x1;
    if (w == size && h == size) {
        ctvk_select_region(j->p, w, h, &y0, &y1, &x0, &x1);
        need = (size_t)(y1 - y0) * (size_t)w;
    } else if (j->resize) {
        need = (size_t)w * (size_t)h + (size_t)size * (size_t)size;
    } else {
        ctvk__tiff_close(t);
        return ctvk__fail(CTVK_ERR_FORMAT,
                          "%s: the slice is %dx%d, expected %dx%d ([data] image_size = %d; set [data] resize = true "
                          "to resample other sizes)", path, w, h, size, size, size);
    }
    if (need > *cap) {
        uint16_t *b = realloc(*buf, need * sizeof *b);
        if (!b) { ctvk__tiff_close(t); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
        *buf = b, *cap = need;
    }
    if (w == size && h == size) {
        s = ctvk__tiff_rows(t, y0, y1, *buf, clipped);
        if (s == CTVK_OK) *count = ctvk_dark_count_rows(*buf, y1 - y0, w, x0, x1, j->p->dark_level);
    } else {
        s = ctvk__tiff_rows(t, 0, h, *buf, clipped);
        if (s == CTVK_OK) {
            uint16_t *small = *buf + (size_t)w * (size_t)h;
            ctvk_resize_u16(*buf, w, h, small, size, size);
            *count = ctvk_dark_count(small, size, size, j->p);
        }
    }
    ctvk__tiff_close(t);
    return s;
}

static void *worker(void *arg)
{
    job *j = arg;
    uint16_t *buf = NULL;
    size_t cap = 0;
    for (;;) {
        if (atomic_load(&j->stop)) break;
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->set->nslices) break;
        size_t clipped = 0;
        ctvk_status s = count_one(j, j->set->slices[i], &buf, &cap, &j->counts[i], &clipped);
        if (clipped) atomic_fetch_add(&j->clipped, clipped), atomic_fetch_add(&j->clipped_slices, 1);
        if (s != CTVK_OK) {
            pthread_mutex_lock(&j->mu);
            if (j->err == CTVK_OK || i < j->err_index) {
                j->err = s, j->err_index = i;
                snprintf(j->msg, sizeof j->msg, "%s", ctvk_error());
            }
            pthread_mutex_unlock(&j->mu);
            atomic_store(&j->stop, 1);
        }
    }
    free(buf);
    return NULL;
}

void ctvk_selection_free(ctvk_selection *s)
{
    if (!s) return;
    free(s->counts);
    free(s->keep);
    free(s->group_first);
    free(s->group_count);
    free(s->threshold);
    free(s->group_name);
    memset(s, 0, sizeof *s);
}

ctvk_status ctvk_select_run(const ctvk_series_set *set, const ctvk_select_params *p, int size, int resize,
                            int threads, ctvk_selection *out)
{
    memset(out, 0, sizeof *out);
    if (size < 1) return ctvk__fail(CTVK_ERR_ARG, "selection: bad image size %d", size);
    size_t n = set->nslices;
    int ng = p->group == CTVK_GROUP_PATIENT ? set->npatients : set->nseries;
    out->n = n;
    out->ngroups = ng;
    out->counts = calloc(n ? n : 1, sizeof *out->counts);
    out->keep = calloc(n ? n : 1, sizeof *out->keep);
    out->group_first = calloc((size_t)ng + 1, sizeof *out->group_first);
    out->group_count = calloc((size_t)ng + 1, sizeof *out->group_count);
    out->threshold = calloc((size_t)ng + 1, sizeof *out->threshold);
    out->group_name = calloc((size_t)ng + 1, sizeof *out->group_name);
    if (!out->counts || !out->keep || !out->group_first || !out->group_count || !out->threshold || !out->group_name) {
        ctvk_selection_free(out);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    job j = {.set = set, .p = p, .size = size, .resize = resize, .counts = out->counts, .err = CTVK_OK};
    atomic_init(&j.next, 0);
    atomic_init(&j.stop, 0);
    atomic_init(&j.clipped, 0);
    atomic_init(&j.clipped_slices, 0);
    pthread_mutex_init(&j.mu, NULL);
    if (threads <= 0) threads = ctvk__ncpu();
    if ((size_t)threads > n) threads = n ? (int)n : 1;
    pthread_t tid[256];
    if (threads > 256) threads = 256;
    int started = 0;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&tid[started], NULL, worker, &j) != 0) break;
        started++;
    }
    worker(&j);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.err != CTVK_OK) {
        ctvk_selection_free(out);
        return ctvk__fail(j.err, "%s", j.msg);
    }
    out->clipped = atomic_load(&j.clipped);
    out->clipped_slices = atomic_load(&j.clipped_slices);
    for (int g = 0; g < ng; g++) {
        size_t first, count;
        if (p->group == CTVK_GROUP_PATIENT) {
            first = set->patients[g].first, count = set->patients[g].count;
            out->group_name[g] = set->patients[g].id;
        } else {
            first = set->series[g].first, count = set->series[g].count;
            out->group_name[g] = set->series[g].name;
        }
        out->group_first[g] = first, out->group_count[g] = count;
        out->threshold[g] = ctvk_select_group(out->counts + first, count, p->divisor, out->keep + first);
        for (size_t i = first; i < first + count; i++) out->kept += out->keep[i];
    }
    return CTVK_OK;
}

/* The shortest decimal that reads back as the same double, written as Python's repr writes it
 * ("2000.0", "642.6666666666666", "1e+16"), so the CSV matches a Python implementation's. */
static void fmt_double(char *buf, size_t size, double v)
{
    if (!isfinite(v)) { snprintf(buf, size, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"); return; }
    char e[64];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    snprintf(e, sizeof e, "%.*e", prec - 1, v);
    int exp = atoi(strchr(e, 'e') + 1);
    if (exp < -4 || exp >= 16) { snprintf(buf, size, "%s", e); return; }
    int decimals = prec - 1 - exp;
    if (decimals > 0) snprintf(buf, size, "%.*f", decimals, v);
    else snprintf(buf, size, "%.0f.0", v);
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

ctvk_status ctvk_selection_print_csv(FILE *f, const ctvk_series_set *set, const ctvk_selection *s)
{
    fputs("path,dark_count,threshold,selected\n", f);
    for (int g = 0; g < s->ngroups; g++) {
        char th[64];
        fmt_double(th, sizeof th, s->threshold[g]);
        for (size_t i = s->group_first[g]; i < s->group_first[g] + s->group_count[g]; i++) {
            csv_field(f, set->slices[i]);
            fprintf(f, ",%u,%s,%d\n", s->counts[i], th, s->keep[i] ? 1 : 0);
        }
    }
    return ferror(f) ? ctvk__fail(CTVK_ERR_IO, "writing the selection CSV failed") : CTVK_OK;
}

ctvk_status ctvk_selection_write_csv(const char *csv_path, const ctvk_series_set *set, const ctvk_selection *s)
{
    char tmp[4096];
    FILE *f;
    CTVK_TRY(ctvk__open_tmp(csv_path, tmp, sizeof tmp, &f));
    ctvk_selection_print_csv(f, set, s);
    return ctvk__close_commit(f, tmp, csv_path);
}
