/* One slice of any kind ctvk reads, as size x size stored values. */
#include "runtime/ct/ct_internal.h"

ctvk_status ctvk_slice_read(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                            size_t *clipped)
{
    return ctvk_tiff_read_values(path, size, resize, v, out, clipped);
}
