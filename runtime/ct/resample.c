/* Bilinear resampling of uint16 slices, pixel centres aligned: what a TIFF, DICOM or NIfTI slice of
 * another size than the model's goes through. */
#include "ctvk/ct.h"
#include <stddef.h>
#include <stdint.h>

void ctvk_resize_u16(const uint16_t *src, int sw, int sh, uint16_t *dst, int dw, int dh)
{
    double sx = (double)sw / dw, sy = (double)sh / dh;
    for (int y = 0; y < dh; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        int y0 = (int)fy;
        if (y0 > sh - 1) y0 = sh - 1;
        int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        double ay = fy - y0;
        if (ay > 1) ay = 1;
        for (int x = 0; x < dw; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            int x0 = (int)fx;
            if (x0 > sw - 1) x0 = sw - 1;
            int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            double ax = fx - x0;
            if (ax > 1) ax = 1;
            double top = src[(size_t)y0 * sw + x0] * (1 - ax) + src[(size_t)y0 * sw + x1] * ax;
            double bot = src[(size_t)y1 * sw + x0] * (1 - ax) + src[(size_t)y1 * sw + x1] * ax;
            double v = top * (1 - ay) + bot * ay;
            dst[(size_t)y * dw + x] = (uint16_t)(v + 0.5);
        }
    }
}
