/* One slice of any kind ctvk reads, as size x size stored values: a TIFF file, a DICOM file, a slice
 * of a NIfTI volume ("volume.nii.gz#k"). */
#include "runtime/ct/ct_internal.h"

static int is_nifti_slice(const char *path)
{
    char f[4096];
    long k;
    return ctvk__nifti_slice_name(path, f, sizeof f, &k);
}

ctvk_status ctvk_slice_read(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                            size_t *clipped)
{
    if (is_nifti_slice(path)) return ctvk__nifti_read(path, size, resize, v, out, clipped);
    if (ctvk__is_dicom(path)) return ctvk__dicom_read(path, size, resize, v, out, clipped);
    return ctvk_tiff_read_values(path, size, resize, v, out, clipped);
}

int ctvk__slice_is_tiff(const char *path) { return !is_nifti_slice(path) && !ctvk__is_dicom(path); }
