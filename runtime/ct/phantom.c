/* Synthetic CT phantoms: a dataset in the COVID-CTset layouts, anatomy plausible enough for the
 * method to mean something, a pure function of the seed.
 *
 * Geometry is defined in the 512 x 512 frame of the real data and sampled at the image size, so
 * the lungs fall in the selection region (which scales the same way) at every size. Along a
 * sequence the lungs grow from nothing at the apex to full size and shrink again at the base,
 * so the dark-pixel count of the region rises and falls and selection drops the first and last
 * slices, as in the paper's Figure 8. COVID patients get ground-glass opacities (HU -500..-300)
 * and consolidations (HU -60..30), three-dimensional blobs in the lung periphery of middle slices. */
#include "runtime/ct/ct_internal.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PI 3.14159265358979323846
#define MAX_LESIONS 6
#define NVESSELS 14

void ctvk_phantom_defaults(ctvk_phantom_options *o)
{
    memset(o, 0, sizeof *o);
    o->out = NULL;
    o->covid = 10, o->normal = 10;
    o->slices = 32;
    o->series = 1;
    o->size = 512;
    o->seed = 1;
    o->threads = 0;
}

typedef struct lesion {
    int side;             /* 0 left lung (image left), 1 right */
    double ang, rad;      /* position in unit lung coordinates */
    double tc, ht;        /* centre and half-extent along the sequence */
    double r;             /* radius (512 frame) at its centre slice */
    double hu;            /* core HU */
} lesion;

typedef struct patient {
    int covid;
    double bx, by, bax, bay;          /* body ellipse */
    double lx[2], ly, lax[2], lay[2]; /* lungs */
    double lung_hu;
    double hx, hy, hr;                /* heart disc, cut out of the lungs */
    double vang[NVESSELS], vrad[NVESSELS], vr[NVESSELS];
    int vside[NVESSELS];
    int nlesions;
    lesion les[MAX_LESIONS];
} patient;

static double uni(uint64_t *s, double lo, double hi) { return lo + (hi - lo) * ctvk__rng_unit(s); }

static void make_patient(const ctvk_phantom_options *o, int p, patient *pt)
{
    uint64_t s = ctvk__mix(o->seed, 0x1000u + (uint64_t)p);
    memset(pt, 0, sizeof *pt);
    pt->covid = p < o->covid;
    pt->bx = 256 + uni(&s, -6, 6), pt->by = 268 + uni(&s, -6, 6);
    pt->bax = 212 + uni(&s, -8, 8), pt->bay = 162 + uni(&s, -6, 6);
    double sep = 90 + uni(&s, -5, 5);
    pt->lx[0] = pt->bx - sep, pt->lx[1] = pt->bx + sep;
    pt->ly = pt->by - 2 + uni(&s, -5, 5);
    for (int k = 0; k < 2; k++) {
        pt->lax[k] = 70 * uni(&s, 0.94, 1.06);
        pt->lay[k] = 104 * uni(&s, 0.94, 1.06);
    }
    pt->lung_hu = uni(&s, -870, -830);
    pt->hx = pt->bx + 24 + uni(&s, -6, 6), pt->hy = pt->by + 40 + uni(&s, -6, 6), pt->hr = 58 + uni(&s, -5, 5);
    for (int v = 0; v < NVESSELS; v++) {
        pt->vside[v] = v & 1;
        pt->vang[v] = uni(&s, 0, 2 * PI);
        pt->vrad[v] = sqrt(uni(&s, 0.02, 0.8));
        pt->vr[v] = uni(&s, 2.0, 4.5);
    }
    if (pt->covid) {
        pt->nlesions = 2 + (int)(ctvk__rng(&s) % 4);
        for (int l = 0; l < pt->nlesions; l++) {
            lesion *e = &pt->les[l];
            e->side = (int)(ctvk__rng(&s) & 1);
            e->ang = uni(&s, 0, 2 * PI);
            e->rad = uni(&s, 0.45, 0.8);
            e->tc = uni(&s, 0.36, 0.64);
            e->ht = uni(&s, 0.1, 0.22);
            e->r = uni(&s, 16, 38);
            e->hu = ctvk__rng(&s) % 10 < 7 ? uni(&s, -500, -300) : uni(&s, -60, 30);
        }
        /* at least one lesion at the middle of the sequence, where selection keeps slices */
        pt->les[0].tc = uni(&s, 0.45, 0.55);
        pt->les[0].ht = uni(&s, 0.16, 0.24);
        pt->les[0].r = uni(&s, 26, 38);
    }
}

/* position of slice i of sequence sq along the apex (0) .. base (1) axis */
static double slice_t(const ctvk_phantom_options *o, int p, int sq, int i)
{
    uint64_t s = ctvk__mix(ctvk__mix(o->seed, 0x2000u + (uint64_t)p), (uint64_t)sq);
    double t0 = uni(&s, -0.03, 0.03), t1 = uni(&s, 0.97, 1.03);
    return t0 + (i + 0.5) / o->slices * (t1 - t0);
}

/* lung size along the sequence: 0 at the ends, 1 in the middle */
static double lung_scale(double t)
{
    if (t <= 0 || t >= 1) return 0;
    double v = (sin(PI * t) - 0.45) / 0.45;   /* no lungs in the first and last ~15% of the sequence */
    if (v <= 0) return 0;
    if (v >= 1) return 1;
    return pow(v, 0.7);
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* noise: Irwin-Hall of 4 uniforms, unit variance */
static double gauss(uint64_t *s)
{
    uint64_t r = ctvk__rng(s);
    double a = (double)(r & 0xffff) + (double)((r >> 16) & 0xffff) + (double)((r >> 32) & 0xffff) + (double)(r >> 48);
    return (a / 65536.0 - 2.0) * 1.7320508075688772;
}

static ctvk_status check_options(const ctvk_phantom_options *o)
{
    if (o->covid < 0 || o->normal < 0 || o->covid + o->normal < 1 || o->covid > 100000 || o->normal > 100000)
        return ctvk__fail(CTVK_ERR_ARG, "phantom: --covid %d --normal %d: need at least one patient", o->covid, o->normal);
    if (o->slices < 1 || o->slices > 99999) return ctvk__fail(CTVK_ERR_ARG, "phantom: --slices %d: 1 .. 99999", o->slices);
    if (o->series < 1 || o->series > 9) return ctvk__fail(CTVK_ERR_ARG, "phantom: --series %d: 1 .. 9", o->series);
    if (o->size < 16 || o->size > 4096) return ctvk__fail(CTVK_ERR_ARG, "phantom: --size %d: 16 .. 4096", o->size);
    return CTVK_OK;
}

static void render(const ctvk_phantom_options *o, const patient *pt, int p, int sq, int i, uint16_t *out,
                   ctvk_phantom_slice_info *info)
{
    int n = o->size;
    double t = slice_t(o, p, sq, i);
    double ls = lung_scale(t);
    double bs = 0.9 + 0.1 * sin(PI * clamp01(t));        /* the body is a little narrower at the ends */
    double bax = pt->bax * bs, bay = pt->bay * bs;
    double lax[2] = {pt->lax[0] * ls, pt->lax[1] * ls}, lay[2] = {pt->lay[0] * ls, pt->lay[1] * ls};
    /* lesions cut at this slice */
    double lcx[MAX_LESIONS], lcy[MAX_LESIONS], lr[MAX_LESIONS], lhu[MAX_LESIONS];
    int nl = 0;
    for (int l = 0; l < pt->nlesions && ls > 0; l++) {
        const lesion *e = &pt->les[l];
        double d = (t - e->tc) / e->ht;
        if (fabs(d) >= 1) continue;
        lcx[nl] = pt->lx[e->side] + e->rad * cos(e->ang) * lax[e->side];
        lcy[nl] = pt->ly + e->rad * sin(e->ang) * lay[e->side];
        lr[nl] = e->r * sqrt(1 - d * d) * (0.5 + 0.5 * ls);
        if (lr[nl] < 1) lr[nl] = 1;
        lhu[nl] = e->hu;
        nl++;
    }
    uint64_t rs = ctvk__mix(ctvk__mix(ctvk__mix(o->seed, 0x3000u + (uint64_t)p), (uint64_t)sq), (uint64_t)i);
    /* vessels wander slowly along the sequence */
    double vx[NVESSELS], vy[NVESSELS], vr[NVESSELS];
    for (int v = 0; v < NVESSELS; v++) {
        int sd = pt->vside[v];
        double a = pt->vang[v] + 0.8 * t;
        vx[v] = pt->lx[sd] + pt->vrad[v] * cos(a) * lax[sd];
        vy[v] = pt->ly + pt->vrad[v] * sin(a) * lay[sd];
        vr[v] = pt->vr[v] * (0.4 + 0.6 * ls);
    }
    double sc = 512.0 / n;
    size_t lung_px = 0, lesion_px = 0;
    for (int y = 0; y < n; y++) {
        double Y = (y + 0.5) * sc;
        for (int x = 0; x < n; x++) {
            double X = (x + 0.5) * sc;
            double hu, noise = 18.0;
            double fx = X - 256, fy = Y - 256;
            double db = ((X - pt->bx) * (X - pt->bx)) / (bax * bax) + ((Y - pt->by) * (Y - pt->by)) / (bay * bay);
            if (fx * fx + fy * fy > 256.0 * 256.0) {
                out[(size_t)y * n + x] = 0;              /* outside the scanner's field of view */
                continue;
            }
            if (db > 1) {
                /* air, and the couch below the body */
                double cy = pt->by + pt->bay + 18;
                hu = (Y > cy && Y < cy + 7 && fabs(X - 256) < 200) ? 150 : -1000;
                noise = 10;
            } else {
                hu = db > 0.86 ? -100 : 40;               /* a rim of fat, soft tissue inside */
                /* spine */
                double sx = pt->bx, sy = pt->by + bay * 0.72;
                double ds = (X - sx) * (X - sx) + (Y - sy) * (Y - sy);
                if (ds < 24 * 24) hu = ds > 17 * 17 ? 900 : 350;
                /* lungs */
                int in_lung = -1;
                for (int k = 0; k < 2 && ls > 0; k++) {
                    double ex = (X - pt->lx[k]) / lax[k], ey = (Y - pt->ly) / lay[k];
                    if (ex * ex + ey * ey < 1) in_lung = k;
                }
                double dh = (X - pt->hx) * (X - pt->hx) + (Y - pt->hy) * (Y - pt->hy);
                if (in_lung >= 0 && dh < pt->hr * pt->hr * ls) in_lung = -1;   /* the heart */
                if (in_lung >= 0) {
                    hu = pt->lung_hu;
                    noise = 25;
                    lung_px++;
                    for (int v = 0; v < NVESSELS; v++) {
                        double dv = (X - vx[v]) * (X - vx[v]) + (Y - vy[v]) * (Y - vy[v]);
                        if (dv < vr[v] * vr[v]) { hu = 30; break; }
                    }
                    double best = 0, bhu = 0;
                    for (int l = 0; l < nl; l++) {
                        double dl = ((X - lcx[l]) * (X - lcx[l]) + (Y - lcy[l]) * (Y - lcy[l])) / (lr[l] * lr[l]);
                        if (dl < 1) {
                            double w = clamp01(1.6 * (1 - dl));
                            if (w > best) best = w, bhu = lhu[l];
                        }
                    }
                    if (best > 0) {
                        hu = hu + (bhu - hu) * best;
                        if (best >= 0.5) lesion_px++;
                    }
                }
            }
            double v = hu + noise * gauss(&rs) + 1024.0;
            out[(size_t)y * n + x] = (uint16_t)(v < 0 ? 0 : v > 4095 ? 4095 : v + 0.5);
        }
    }
    if (info) {
        info->label = pt->covid ? CTVK_CLASS_COVID : CTVK_CLASS_NORMAL;
        info->lung_pixels = lung_px;
        info->lesion_pixels = lesion_px;
    }
}

ctvk_status ctvk_phantom_slice(const ctvk_phantom_options *o, int p, int s, int i, uint16_t *out,
                               ctvk_phantom_slice_info *info)
{
    CTVK_TRY(check_options(o));
    if (p < 0 || p >= o->covid + o->normal || s < 0 || s >= o->series || i < 0 || i >= o->slices)
        return ctvk__fail(CTVK_ERR_ARG, "phantom: no slice %d of sequence %d of patient %d", i, s, p);
    patient pt;
    make_patient(o, p, &pt);
    render(o, &pt, p, s, i, out, info);
    return CTVK_OK;
}

/* ------------------------------------------------------------------ the dataset */
static void group_name(const ctvk_phantom_options *o, int p, char *buf, size_t n)
{
    if (p < o->covid) snprintf(buf, n, "covid%d", 1 + p % 2);
    else snprintf(buf, n, "normal%d", 1 + (p - o->covid) % 10);
}

typedef struct gen {
    const ctvk_phantom_options *o;
    char *full, *flat;
    uint8_t *flat_pick;           /* per (patient, sequence, slice) */
    atomic_int next;
    atomic_int stop;
    atomic_size_t flat_count;
    pthread_mutex_t mu;
    ctvk_status err;
    char msg[CTVK_ERROR_MAX];
} gen;

static ctvk_status link_or_copy(const char *from, const char *to)
{
    if (link(from, to) == 0) return CTVK_OK;
    FILE *a = fopen(from, "rb");
    if (!a) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read (%s)", from, strerror(errno));
    char tmp[4096];
    FILE *b;
    ctvk_status s = ctvk__open_tmp(to, tmp, sizeof tmp, &b);
    if (s) { fclose(a); return s; }
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
    fclose(a);
    return ctvk__close_commit(b, tmp, to);
}

static ctvk_status one_sequence(gen *g, int p, int sq, uint16_t *img, uint32_t *counts, size_t *lesions)
{
    const ctvk_phantom_options *o = g->o;
    patient pt;
    make_patient(o, p, &pt);
    char grp[32], dir[4096], rel[256];
    group_name(o, p, grp, sizeof grp);
    if (o->format == CTVK_PHANTOM_TIFF) snprintf(rel, sizeof rel, "%s/patient%d/SR_%d", grp, p + 1, sq + 2);
    else snprintf(rel, sizeof rel, "%s/patient%d", grp, p + 1);
    snprintf(dir, sizeof dir, "%s/%s", g->full, rel);
    CTVK_TRY(ctvk__mkdirs(dir));
    int16_t *vol = NULL;
    if (o->format == CTVK_PHANTOM_NIFTI) {
        vol = malloc((size_t)o->size * o->size * o->slices * sizeof *vol);
        if (!vol) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    ctvk_select_params sp;
    ctvk_select_defaults(&sp);
    for (int i = 0; i < o->slices; i++) {
        ctvk_phantom_slice_info info;
        render(o, &pt, p, sq, i, img, &info);
        counts[i] = ctvk_dark_count(img, o->size, o->size, &sp);
        lesions[i] = info.lesion_pixels;
        char path[4400], name[64];
        ctvk_status st = CTVK_OK;
        if (o->format == CTVK_PHANTOM_TIFF) {
            snprintf(path, sizeof path, "%s/IM%05d.tif", dir, i + 1);
            st = ctvk_tiff_write(path, o->size, o->size, img, NULL);
        } else if (o->format == CTVK_PHANTOM_DICOM) {
            ctvk__phantom_dicom_name(o->seed, p, sq, i, name, sizeof name);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            st = ctvk__phantom_dicom(path, o->seed, p, sq, i, o->size, o->slices, 0, img);
            if (st == CTVK_OK && sq == 0 && i == o->slices / 2) {     /* the patient's localizer */
                ctvk__phantom_dicom_name(o->seed, p, 99, 0, name, sizeof name);
                snprintf(path, sizeof path, "%s/%s", dir, name);
                st = ctvk__phantom_dicom(path, o->seed, p, sq, 0, o->size, 1, 1, img);
            }
        } else {
            /* NIfTI voxel (x, y, z): x = column, y = the row counted from the bottom (anterior up
             * in RAS+), z = 0 the most inferior slice */
            size_t n = (size_t)o->size;
            int16_t *plane = vol + (size_t)(o->slices - 1 - i) * n * n;
            for (size_t y = 0; y < n; y++)
                for (size_t x = 0; x < n; x++) plane[(n - 1 - y) * n + x] = (int16_t)((int)img[y * n + x] - 1024);
        }
        if (st != CTVK_OK) { free(vol); return st; }
        if (atomic_load(&g->stop)) { free(vol); return CTVK_OK; }
    }
    if (vol) {
        char path[4400];
        snprintf(path, sizeof path, "%s/SR_%d.nii.gz", dir, sq + 2);
        ctvk_status st = ctvk__phantom_nifti(path, o->size, o->slices, vol);
        free(vol);
        CTVK_TRY(st);
    }
    uint8_t *keep = g->flat_pick + ((size_t)p * o->series + sq) * o->slices;
    ctvk_select_group(counts, (size_t)o->slices, sp.divisor, keep);
    /* COVID slices go to the flat folder only where a lesion shows clearly, as an expert picks them:
     * at least 200 pixels in the 512 frame and at least half the sequence's largest lesion area (at
     * small sizes the 200-pixel rule alone keeps slices where the lesion is a few pixels: noise) */
    double min_lesion = 200.0 * ((double)o->size / 512) * ((double)o->size / 512);
    if (min_lesion < 3) min_lesion = 3;
    size_t most = 0;
    for (int i = 0; i < o->slices; i++) if (keep[i] && lesions[i] > most) most = lesions[i];
    if (0.5 * (double)most > min_lesion) min_lesion = 0.5 * (double)most;
    for (int i = 0; i < o->slices; i++) {
        if (pt.covid && (double)lesions[i] < min_lesion) keep[i] = 0;
        if (!keep[i]) continue;
        char from[4400], to[4400];
        snprintf(from, sizeof from, "%s/IM%05d.tif", dir, i + 1);
        snprintf(to, sizeof to, "%s/%s_patient%d_SR_%d_IM%05d.tif", g->flat, grp, p + 1, sq + 2, i + 1);
        if (o->format == CTVK_PHANTOM_TIFF) CTVK_TRY(link_or_copy(from, to));
        else {
            render(o, &pt, p, sq, i, img, NULL);
            CTVK_TRY(ctvk_tiff_write(to, o->size, o->size, img, NULL));
        }
        atomic_fetch_add(&g->flat_count, 1);
    }
    return CTVK_OK;
}

static void *gen_worker(void *arg)
{
    gen *g = arg;
    const ctvk_phantom_options *o = g->o;
    size_t px = (size_t)o->size * (size_t)o->size;
    uint16_t *img = malloc(px * sizeof *img);
    uint32_t *counts = malloc((size_t)o->slices * sizeof *counts);
    size_t *lesions = malloc((size_t)o->slices * sizeof *lesions);
    int total = (o->covid + o->normal) * o->series;
    ctvk_status s = img && counts && lesions ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    while (s == CTVK_OK && !atomic_load(&g->stop)) {
        int j = atomic_fetch_add(&g->next, 1);
        if (j >= total) break;
        s = one_sequence(g, j / o->series, j % o->series, img, counts, lesions);
    }
    if (s != CTVK_OK) {
        pthread_mutex_lock(&g->mu);
        if (g->err == CTVK_OK) { g->err = s; snprintf(g->msg, sizeof g->msg, "%s", ctvk_error()); }
        pthread_mutex_unlock(&g->mu);
        atomic_store(&g->stop, 1);
    }
    free(img), free(counts), free(lesions);
    return NULL;
}

static ctvk_status check_out(const char *out)
{
    struct stat st;
    if (stat(out, &st) != 0) return CTVK_OK;
    if (!S_ISDIR(st.st_mode)) return ctvk__fail(CTVK_ERR_ARG, "phantom: %s exists and is not a folder", out);
    DIR *d = opendir(out);
    if (!d) return ctvk__fail(CTVK_ERR_IO, "phantom: %s: cannot read (%s)", out, strerror(errno));
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) { empty = 0; break; }
    closedir(d);
    return empty ? CTVK_OK
                 : ctvk__fail(CTVK_ERR_ARG, "phantom: %s is not empty (remove it or choose another --out)", out);
}

/* fold CSVs: patients of each class in a seeded order, dealt into 5 groups */
static ctvk_status write_folds(const ctvk_phantom_options *o, const char *dir, const uint8_t *pick)
{
    int np = o->covid + o->normal;
    int *grp = malloc((size_t)np * sizeof *grp), *order = malloc((size_t)np * sizeof *order);
    if (!grp || !order) { free(grp), free(order); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
    uint64_t s = ctvk__mix(o->seed, 0x4000u);
    for (int c = 0; c < 2; c++) {
        int first = c ? o->covid : 0, n = c ? o->normal : o->covid;
        for (int i = 0; i < n; i++) order[i] = first + i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(ctvk__rng(&s) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (int i = 0; i < n; i++) grp[order[i]] = i % 5;
    }
    free(order);
    ctvk_status st = CTVK_OK;
    static const char *split[3] = {"train", "validation", "test"};
    for (int k = 0; k < 5 && st == CTVK_OK; k++) {
        for (int sp = 0; sp < 3 && st == CTVK_OK; sp++) {
            char path[4400], tmp[4500];
            snprintf(path, sizeof path, "%s/%s%d.csv", dir, split[sp], k + 1);
            FILE *f;
            if ((st = ctvk__open_tmp(path, tmp, sizeof tmp, &f))) break;
            fputs("filename,class\n", f);
            for (int p = 0; p < np; p++) {
                int g = grp[p];
                int in = sp == 2 ? g == k : sp == 1 ? g == (k + 1) % 5 : (g != k && g != (k + 1) % 5);
                if (!in) continue;
                char gn[32];
                group_name(o, p, gn, sizeof gn);
                for (int q = 0; q < o->series; q++)
                    for (int i = 0; i < o->slices; i++)
                        if (pick[((size_t)p * o->series + q) * o->slices + i])
                            fprintf(f, "%s_patient%d_SR_%d_IM%05d.tif,%s\r\n", gn, p + 1, q + 2, i + 1,
                                    p < o->covid ? "covid" : "normal");
            }
            st = ctvk__close_commit(f, tmp, path);
        }
    }
    free(grp);
    return st;
}

ctvk_status ctvk_phantom_write(const ctvk_phantom_options *o, ctvk_phantom_report *report)
{
    if (report) memset(report, 0, sizeof *report);
    CTVK_TRY(check_options(o));
    if (!o->out || !*o->out) return ctvk__fail(CTVK_ERR_ARG, "phantom: no output folder");
    CTVK_TRY(check_out(o->out));
    CTVK_TRY(ctvk__mkdirs(o->out));
    char abs[PATH_MAX];
    if (!realpath(o->out, abs)) return ctvk__fail(CTVK_ERR_IO, "phantom: %s: %s", o->out, strerror(errno));
    gen g = {.o = o, .err = CTVK_OK};
    atomic_init(&g.next, 0);
    atomic_init(&g.stop, 0);
    atomic_init(&g.flat_count, 0);
    pthread_mutex_init(&g.mu, NULL);
    g.full = ctvk__path_join(abs, "full");
    g.flat = ctvk__path_join(abs, "flat");
    char *folds = ctvk__path_join(abs, "folds"), *ini = ctvk__path_join(abs, "dataset.ini");
    size_t total = (size_t)(o->covid + o->normal) * (size_t)o->series * (size_t)o->slices;
    g.flat_pick = calloc(total, 1);
    ctvk_status s = CTVK_OK;
    if (!g.full || !g.flat || !folds || !ini || !g.flat_pick) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (s == CTVK_OK) s = ctvk__mkdirs(g.full);
    if (s == CTVK_OK) s = ctvk__mkdirs(g.flat);
    if (s == CTVK_OK) {
        int threads = o->threads > 0 ? o->threads : ctvk__ncpu();
        int jobs = (o->covid + o->normal) * o->series;
        if (threads > jobs) threads = jobs;
        if (threads > 64) threads = 64;
        pthread_t tid[64];
        int started = 0;
        for (int i = 1; i < threads; i++)
            if (pthread_create(&tid[started], NULL, gen_worker, &g) == 0) started++;
        gen_worker(&g);
        for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
        if (g.err != CTVK_OK) s = ctvk__fail(g.err, "%s", g.msg);
    }
    int with_folds = o->covid >= 5 && o->normal >= 5;
    if (s == CTVK_OK && with_folds) {
        s = ctvk__mkdirs(folds);
        if (s == CTVK_OK) s = write_folds(o, folds, g.flat_pick);
    }
    if (s == CTVK_OK) {
        char tmp[4500];
        FILE *f;
        s = ctvk__open_tmp(ini, tmp, sizeof tmp, &f);
        if (s == CTVK_OK) {
            fprintf(f, "; a phantom dataset written by ctvk phantom (covid %d, normal %d, slices %d, series %d, size %d, "
                       "seed %llu)\n[data]\nroot = %s\nlayout = flat\n", o->covid, o->normal, o->slices, o->series,
                    o->size, (unsigned long long)o->seed, g.flat);
            if (with_folds) fprintf(f, "folds_dir = %s\n", folds);
            fprintf(f, "series_root = %s\nimage_size = %d\n", g.full, o->size);
            s = ctvk__close_commit(f, tmp, ini);
        }
    }
    if (s == CTVK_OK && report) {
        report->full_images = total;
        report->flat_images = atomic_load(&g.flat_count);
        report->folds = with_folds ? 5 : 0;
    }
    pthread_mutex_destroy(&g.mu);
    free(g.full), free(g.flat), free(folds), free(ini), free(g.flat_pick);
    return s;
}
