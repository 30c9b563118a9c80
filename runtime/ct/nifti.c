/* NIfTI volumes (nifticlib): .nii and .nii.gz, 3D, integer or float voxels, scl_slope/scl_inter
 * applied (a slope of 0 or NaN means none), values taken as HU. A volume is one sequence of axial
 * slices named "volume.nii.gz#k", k = 0 the most superior; each slice comes out as DICOM and
 * COVID-CTset show it (rows anterior to posterior, columns patient right to left), whatever the
 * voxel order, from the sform (or the qform when there is no sform). The last decoded volume is
 * kept, so reading a volume slice by slice decodes it once. */
#include "runtime/ct/ct_internal.h"
#include <errno.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdio.h>
#include <znzlib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void quiet(void) { nifti_set_debug_level(0); }

/* "a.nii.gz#12" -> "a.nii.gz", 12; 0 when path is not such a name */
int ctvk__nifti_slice_name(const char *path, char *file, size_t n, long *k)
{
    const char *h = strrchr(path, '#');
    if (!h || !h[1]) return 0;
    char *end;
    long v = strtol(h + 1, &end, 10);
    if (*end || v < 0) return 0;
    size_t l = (size_t)(h - path);
    if (l + 1 > n) return 0;
    if (!((l >= 4 && !strncasecmp(h - 4, ".nii", 4)) || (l >= 7 && !strncasecmp(h - 7, ".nii.gz", 7)))) return 0;
    memcpy(file, path, l);
    file[l] = 0;
    *k = v;
    return 1;
}

typedef struct geom {
    int64_t n[3];      /* voxels along i, j, k */
    int ax_lr, ax_ap, ax_si;   /* which voxel axis runs left-right, anterior-posterior, superior-inferior */
    int to_left, to_post, to_inf;   /* the axis runs toward the left, posterior, inferior */
    double si_step, si_origin;      /* superior position (mm) of voxel index 0 and per index along ax_si */
} geom;

static ctvk_status geometry(const char *path, const nifti_image *nim, geom *g)
{
    if (nim->ndim < 3 || nim->nx < 1 || nim->ny < 1 || nim->nz < 1 || (nim->ndim > 3 && nim->nvox != nim->nx * nim->ny * nim->nz))
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: a %lld-dimensional NIfTI image (%lld x %lld x %lld x %lld); ctvk reads 3D "
                          "volumes", path, (long long)nim->ndim, (long long)nim->nx, (long long)nim->ny,
                          (long long)nim->nz, (long long)nim->nt);
    nifti_dmat44 m;
    if (nim->sform_code > 0) m = nim->sto_xyz;
    else if (nim->qform_code > 0) m = nim->qto_xyz;
    else
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: neither an sform nor a qform (sform_code and qform_code are 0), so the "
                          "orientation of the slices is unknown", path);
    int cod[3];
    nifti_dmat44_to_orientation(m, &cod[0], &cod[1], &cod[2]);
    g->n[0] = nim->nx, g->n[1] = nim->ny, g->n[2] = nim->nz;
    g->ax_lr = g->ax_ap = g->ax_si = -1;
    for (int a = 0; a < 3; a++) {
        switch (cod[a]) {
        case NIFTI_L2R: g->ax_lr = a, g->to_left = 0; break;
        case NIFTI_R2L: g->ax_lr = a, g->to_left = 1; break;
        case NIFTI_P2A: g->ax_ap = a, g->to_post = 0; break;
        case NIFTI_A2P: g->ax_ap = a, g->to_post = 1; break;
        case NIFTI_I2S: g->ax_si = a, g->to_inf = 0; break;
        case NIFTI_S2I: g->ax_si = a, g->to_inf = 1; break;
        default: break;
        }
    }
    if (g->ax_lr < 0 || g->ax_ap < 0 || g->ax_si < 0)
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: the %s does not map the voxel axes to left-right, anterior-posterior and "
                          "superior-inferior", path, nim->sform_code > 0 ? "sform" : "qform");
    g->si_origin = m.m[2][3];
    g->si_step = m.m[2][g->ax_si];
    return CTVK_OK;
}

/* ------------------------------------------------------------------ the volume cache */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char path[4096];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    nifti_image *nim;
    geom g;
    int users;
} g_cache;

static ctvk__type voxel_type(int dt, int *ok)
{
    *ok = 1;
    switch (dt) {
    case DT_UINT8: return CTVK__U8;
    case DT_INT8: return CTVK__I8;
    case DT_INT16: return CTVK__I16;
    case DT_UINT16: return CTVK__U16;
    case DT_INT32: return CTVK__I32;
    case DT_UINT32: return CTVK__U32;
    case DT_FLOAT32: return CTVK__F32;
    case DT_FLOAT64: return CTVK__F64;
    default: *ok = 0; return CTVK__U8;
    }
}

/* The voxels as stored. nifti_image_load would silently set NaN and infinite floats to 0, which
 * would make a broken volume look like air: read them here and let the value mapping refuse them. */
static ctvk_status read_voxels(const char *path, nifti_image *v)
{
    size_t bytes = (size_t)v->nvox * (size_t)v->nbyper;
    if (v->nvox <= 0 || bytes / (size_t)v->nbyper != (size_t)v->nvox || bytes > ((size_t)1 << 34))
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: %lld voxels of %d bytes is more than ctvk reads", path,
                          (long long)v->nvox, v->nbyper);
    void *data = malloc(bytes);
    if (!data) return ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory for %zu bytes of voxels", path, bytes);
    const char *img = v->iname ? v->iname : path;
    znzFile fp = znzopen(img, "rb", nifti_is_gzfile(img));
    if (znz_isnull(fp)) { free(data); return ctvk__fail(CTVK_ERR_IO, "%s: cannot open the voxel data %s", path, img); }
    size_t got = 0;
    if (znzseek(fp, (znz_off_t)v->iname_offset, SEEK_SET) >= 0) got = znzread(data, 1, bytes, fp);
    znzclose(fp);
    if (got != bytes) {
        free(data);
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: truncated: the voxel data holds %zu of the %zu bytes its header "
                          "declares (%lld voxels of %d bytes)", path, got, bytes, (long long)v->nvox, v->nbyper);
    }
    if (v->byteorder != nifti_short_order() && v->swapsize > 1) nifti_swap_Nbytes(v->nvox, v->swapsize, data);
    free(v->data);
    v->data = data;
    return CTVK_OK;
}

static ctvk_status open_header(const char *path, nifti_image **out)
{
    pthread_once(&g_once, quiet);
    struct stat st;
    if (stat(path, &st) != 0) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return ctvk__fail(CTVK_ERR_ARG, "%s: not a regular file", path);
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim) return ctvk__fail(CTVK_ERR_FORMAT, "%s: not a NIfTI-1 or NIfTI-2 file nifticlib can read (bad or "
                                "truncated header)", path);
    int ok;
    voxel_type(nim->datatype, &ok);
    if (!ok) {
        ctvk_status s = ctvk__fail(CTVK_ERR_FORMAT, "%s: NIfTI datatype %d; ctvk reads integer or float voxels (uint8, "
                                   "int8, int16, uint16, int32, uint32, float32, float64)", path, nim->datatype);
        nifti_image_free(nim);
        return s;
    }
    *out = nim;
    return CTVK_OK;
}

ctvk_status ctvk__nifti_probe(const char *path, int64_t *slices, double *first_pos, double *step)
{
    nifti_image *nim;
    CTVK_TRY(open_header(path, &nim));
    geom g;
    ctvk_status s = geometry(path, nim, &g);
    if (s == CTVK_OK) {
        *slices = g.n[g.ax_si];
        /* slice 0 is the most superior: index n-1 when the axis runs toward superior */
        double top = g.to_inf ? 0 : (double)(g.n[g.ax_si] - 1);
        *first_pos = g.si_origin + g.si_step * top;
        *step = -fabs(g.si_step);
    }
    nifti_image_free(nim);
    return s;
}

/* The volume of path, decoded (from the cache or read now); release with put_volume. */
static ctvk_status get_volume(const char *path, nifti_image **nim, geom *g, int *owned)
{
    *owned = 0;
    struct stat st;
    if (stat(path, &st) != 0) return ctvk__fail(CTVK_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
    pthread_mutex_lock(&g_mu);
    if (g_cache.nim && !strcmp(g_cache.path, path) && g_cache.dev == st.st_dev && g_cache.ino == st.st_ino &&
        g_cache.size == st.st_size && g_cache.mtime.tv_sec == st.st_mtim.tv_sec &&
        g_cache.mtime.tv_nsec == st.st_mtim.tv_nsec) {
        g_cache.users++;
        *nim = g_cache.nim, *g = g_cache.g;
        pthread_mutex_unlock(&g_mu);
        return CTVK_OK;
    }
    pthread_mutex_unlock(&g_mu);
    nifti_image *v;
    CTVK_TRY(open_header(path, &v));
    geom gg;
    ctvk_status s = geometry(path, v, &gg);
    if (s == CTVK_OK) s = read_voxels(path, v);
    if (s != CTVK_OK) { nifti_image_free(v); return s; }
    pthread_mutex_lock(&g_mu);
    if (g_cache.nim && g_cache.users == 0) nifti_image_free(g_cache.nim), g_cache.nim = NULL;
    if (!g_cache.nim && strlen(path) < sizeof g_cache.path) {
        snprintf(g_cache.path, sizeof g_cache.path, "%s", path);
        g_cache.dev = st.st_dev, g_cache.ino = st.st_ino, g_cache.size = st.st_size, g_cache.mtime = st.st_mtim;
        g_cache.nim = v, g_cache.g = gg, g_cache.users = 1;
    }
    *owned = g_cache.nim != v;     /* not cached (another volume is in use): the caller frees it */
    pthread_mutex_unlock(&g_mu);
    *nim = v, *g = gg;
    return CTVK_OK;
}

static void put_volume(nifti_image *nim, int owned)
{
    if (owned) { nifti_image_free(nim); return; }
    pthread_mutex_lock(&g_mu);
    if (g_cache.nim == nim) g_cache.users--;
    pthread_mutex_unlock(&g_mu);
}

ctvk_status ctvk__nifti_read(const char *slice, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                             size_t *clipped)
{
    char path[4096];
    long k;
    if (!ctvk__nifti_slice_name(slice, path, sizeof path, &k))
        return ctvk__fail(CTVK_ERR_ARG, "%s: not a NIfTI slice name (volume.nii[.gz]#k)", slice);
    nifti_image *nim = NULL;
    geom g;
    memset(&g, 0, sizeof g);
    int owned = 0;
    ctvk_status s;
    CTVK_TRY(get_volume(path, &nim, &g, &owned));
    if (k >= g.n[g.ax_si]) {
        put_volume(nim, owned);
        return ctvk__fail(CTVK_ERR_ARG, "%s: the volume has %lld axial slices", slice, (long long)g.n[g.ax_si]);
    }
    int w = (int)g.n[g.ax_lr], h = (int)g.n[g.ax_ap], ok;
    ctvk__type t = voxel_type(nim->datatype, &ok);
    size_t n = (size_t)w * (size_t)h, bytes = (size_t)nim->nbyper;
    uint8_t *plane = malloc(n * bytes);
    uint16_t *full = (w == size && h == size) ? out : malloc(n * sizeof *full);
    if (!plane || !full) {
        free(plane);
        if (full != out) free(full);
        put_volume(nim, owned);
        return ctvk__fail(CTVK_ERR_NOMEM, "%s: out of host memory", slice);
    }
    int64_t stride[3] = {1, g.n[0], g.n[0] * g.n[1]}, idx[3];
    idx[g.ax_si] = g.to_inf ? k : g.n[g.ax_si] - 1 - k;
    const uint8_t *data = nim->data;
    for (int r = 0; r < h; r++) {
        idx[g.ax_ap] = g.to_post ? r : h - 1 - r;
        for (int c = 0; c < w; c++) {
            idx[g.ax_lr] = g.to_left ? c : w - 1 - c;
            size_t at = (size_t)(idx[0] * stride[0] + idx[1] * stride[1] + idx[2] * stride[2]);
            memcpy(plane + ((size_t)r * w + c) * bytes, data + at * bytes, bytes);
        }
    }
    double slope = nim->scl_slope, inter = nim->scl_inter;
    if (!(slope != 0.0) || isnan(slope)) slope = 1.0, inter = 0.0;     /* 0 or NaN: no scaling */
    if (!isfinite(inter)) inter = 0.0;
    put_volume(nim, owned);
    ctvk__rescale rs = {.slope = slope, .intercept = inter, .hu = 1, .offset = ctvk__hu_offset(v)};
    if (clipped) *clipped = 0;
    if (w != size || h != size) {
        if (!resize) s = ctvk__fail(CTVK_ERR_FORMAT, "%s: the slice is %dx%d, expected %dx%d ([data] image_size = %d; "
                                    "set [data] resize = true to resample other sizes)", slice, w, h, size, size, size);
        else if ((s = ctvk__to_stored(slice, plane, t, n, &rs, full, clipped)) == CTVK_OK)
            ctvk_resize_u16(full, w, h, out, size, size);
        free(full);
    } else {
        s = ctvk__to_stored(slice, plane, t, n, &rs, out, clipped);
    }
    free(plane);
    return s;
}

/* ------------------------------------------------------------------ writing (phantoms, tests) */
ctvk_status ctvk__phantom_nifti_axes(const char *path, int size, int slices, const int16_t *hu, int flip_lr, int flip_ap,
                                     int flip_si)
{
    pthread_once(&g_once, quiet);
    int64_t dims[8] = {3, size, size, slices, 1, 1, 1, 1};
    nifti_image *nim = nifti_make_new_nim(dims, DT_INT16, 1);
    if (!nim) return ctvk__fail(CTVK_ERR_NOMEM, "%s: nifticlib cannot make an image", path);
    double dx = 0.7 * 512.0 / size, dz = 2.5;
    nim->dx = nim->pixdim[1] = dx, nim->dy = nim->pixdim[2] = dx, nim->dz = nim->pixdim[3] = dz;
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->scl_slope = 0;   /* none */
    /* input: (x = column, y = row from the bottom, z = from the most inferior slice), columns running
     * toward the patient's left; each flip reverses one voxel axis and its direction in the sform */
    nifti_dmat44 m;
    memset(&m, 0, sizeof m);
    m.m[0][0] = flip_lr ? dx : -dx, m.m[1][1] = flip_ap ? -dx : dx, m.m[2][2] = flip_si ? -dz : dz;
    m.m[0][3] = flip_lr ? -0.5 * size * dx : 0.5 * size * dx;
    m.m[1][3] = flip_ap ? 0.5 * size * dx : -0.5 * size * dx;
    m.m[2][3] = flip_si ? 0 : -dz * (slices - 1);
    m.m[3][3] = 1;
    nim->sform_code = NIFTI_XFORM_SCANNER_ANAT, nim->sto_xyz = m, nim->sto_ijk = nifti_dmat44_inverse(m);
    nim->qform_code = NIFTI_XFORM_SCANNER_ANAT, nim->qto_xyz = m, nim->qto_ijk = nim->sto_ijk;
    nifti_dmat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                            &nim->qoffset_z, NULL, NULL, NULL, &nim->qfac);
    int16_t *d = nim->data;
    size_t plane = (size_t)size * size;
    for (int z = 0; z < slices; z++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                int xs = flip_lr ? size - 1 - x : x, ys = flip_ap ? size - 1 - y : y, zs = flip_si ? slices - 1 - z : z;
                d[(size_t)z * plane + (size_t)y * size + x] = hu[(size_t)zs * plane + (size_t)ys * size + xs];
            }
    /* through a temporary name that keeps the extension (nifticlib compresses by it), renamed into place */
    char tmp[4200];
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    snprintf(tmp, sizeof tmp, "%.*s.tmp-%ld-%s", (int)dl, path, (long)getpid(), slash ? slash + 1 : path);
    ctvk_status s = CTVK_OK;
    if (nifti_set_filenames(nim, tmp, 0, 1) != 0) s = ctvk__fail(CTVK_ERR_IO, "%s: nifticlib refuses the name", path);
    if (s == CTVK_OK) {
        nifti_image_write(nim);
        nifti_image *back = nifti_image_read(tmp, 0);   /* nifti_image_write says nothing: check it */
        if (!back || back->nvox != nim->nvox) s = ctvk__fail(CTVK_ERR_IO, "%s: writing the volume failed", path);
        if (back) nifti_image_free(back);
    }
    nifti_image_free(nim);
    if (s != CTVK_OK) { unlink(tmp); return s; }
    return ctvk__commit(tmp, path);
}

ctvk_status ctvk__phantom_nifti(const char *path, int size, int slices, const int16_t *hu)
{
    return ctvk__phantom_nifti_axes(path, size, slices, hu, 0, 0, 0);
}
