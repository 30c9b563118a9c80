/* The stored-value scale: what a slice's numbers mean and how they become the uint16 values that
 * selection counts and the network sees. COVID-CTset stores HU + 1024 as uint16 (its DICOM
 * RescaleIntercept is -1024), so HU from any source (a signed or float TIFF, a DICOM series after its
 * RescaleSlope/Intercept, a NIfTI volume after scl_slope/scl_inter) go through one mapping:
 * stored = round(HU + hu_offset), clipped to 0..65535 with the clipped samples counted. NaN and
 * infinities are never read as a number, and a negative value read as a stored value is refused:
 * both name the file. */
#include "runtime/base/config_keys.h"
#include "runtime/ct/ct_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *ctvk_values_name(ctvk_values v)
{
    switch (v) {
    case CTVK_VALUES_AUTO: return "auto";
    case CTVK_VALUES_STORED: return "stored";
    case CTVK_VALUES_HU: return "hu";
    }
    return "?";
}

int ctvk__hu_offset(const ctvk_value_options *v) { return v && v->hu_offset ? v->hu_offset : CTVK_HU_OFFSET; }

ctvk_status ctvk_values_from_config(const ctvk_config *cfg, ctvk_value_options *v)
{
    memset(v, 0, sizeof *v);
    const char *mode;
    long off;
    CTVK_TRY(ctvk__key_str(cfg, "data", "values", &mode));
    CTVK_TRY(ctvk__key_int(cfg, "data", "hu_offset", &off));
    if (!strcasecmp(mode, "auto")) v->values = CTVK_VALUES_AUTO;
    else if (!strcasecmp(mode, "stored")) v->values = CTVK_VALUES_STORED;
    else if (!strcasecmp(mode, "hu")) v->values = CTVK_VALUES_HU;
    else
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [data] values = '%s': expected auto (uint8/uint16 TIFF slices "
                          "hold stored values, int16/float32 TIFF slices HU), stored or hu", ctvk_config_path(cfg), mode);
    v->hu_offset = (int)off;
    return CTVK_OK;
}

static double sample_at(const uint8_t *p, ctvk__type t, size_t i)
{
    switch (t) {
    case CTVK__U8: return p[i];
    case CTVK__I8: return (int8_t)p[i];
    case CTVK__U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case CTVK__I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case CTVK__U32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CTVK__I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CTVK__F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case CTVK__F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    }
    return 0;
}

ctvk_status ctvk__to_stored(const char *path, const void *src, ctvk__type type, size_t n, const ctvk__rescale *r,
                            uint16_t *dst, size_t *clipped)
{
    const uint8_t *p = src;
    double slope = r->slope, inter = r->intercept, off = r->hu ? (double)r->offset : 0.0;
    if (type == CTVK__U16 && !r->hu && slope == 1.0 && inter == 0.0) {     /* the dataset's own values */
        if ((const void *)dst != src) memcpy(dst, src, n * 2);
        return CTVK_OK;
    }
    size_t bad = 0, neg = 0, clip = 0, first_bad = 0, first_neg = 0;
    double most_neg = 0;
    for (size_t i = 0; i < n; i++) {
        double v = sample_at(p, type, i) * slope + inter;
        if (!isfinite(v)) {
            if (!bad++) first_bad = i;
            dst[i] = 0;
            continue;
        }
        v += off;
        if (v < -0.5) {
            if (!r->hu) {
                if (!neg++) first_neg = i;
                if (v < most_neg) most_neg = v;
            }
            clip++;
            dst[i] = 0;
        } else if (v >= 65535.5) {
            clip++;
            dst[i] = 65535;
        } else dst[i] = (uint16_t)lrint(v);
    }
    if (bad)
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: %zu of %zu samples are NaN or infinite (the first at pixel %zu); a slice "
                          "must hold finite numbers", path, bad, n, first_bad);
    if (neg)
        return ctvk__fail(CTVK_ERR_FORMAT, "%s: %zu of %zu samples are negative (the first at pixel %zu, the lowest %g) "
                          "in a slice read as stored values (HU + %d, never below 0); if the slice holds HU, set "
                          "[data] values = hu", path, neg, n, first_neg, most_neg, r->offset);
    if (clipped) *clipped += clip;
    return CTVK_OK;
}
