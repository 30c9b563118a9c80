/* One slice of any kind ctvk reads, as size x size stored values: a TIFF file, a DICOM file, a slice
 * of a NIfTI volume ("volume.nii.gz#k"). */
#include "runtime/ct/ct_internal.h"

static int is_nifti_slice(const char *path)
{
    char f[4096];
    long k;
    return ctvk__nifti_slice_name(path, f, sizeof f, &k);
}

ctvk_status ctvk__slice_read_named(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                                   size_t *clipped, const char *size_name)
{
    if (is_nifti_slice(path)) return ctvk__nifti_read(path, size, resize, v, out, clipped);
    if (ctvk__is_dicom(path)) return ctvk__dicom_read(path, size, resize, v, out, clipped);
    return ctvk__tiff_read_named(path, size, resize, v, out, clipped, size_name);
}

ctvk_status ctvk_slice_read(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                            size_t *clipped)
{
    return ctvk__slice_read_named(path, size, resize, v, out, clipped, "[data] image_size");
}

int ctvk__slice_is_tiff(const char *path) { return !is_nifti_slice(path) && !ctvk__is_dicom(path); }
