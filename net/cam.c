/* Grad-CAM maps (Selvaraju et al., "Grad-CAM: visual explanations from deep networks via
 * gradient-based localization", ICCV 2017) from a layer's activation A and the gradient of a class
 * score with respect to it, as ctvk_net_cam_pass leaves them on the device. */
#include "ctvk/net.h"
#include "runtime/vk/internal.h"
#include <stdlib.h>
#include <string.h>

ctvk_status ctvk_cam_map(const float *act, const float *grad, ctvk_shape s, float *map, double *top, int *peak)
{
    size_t hw = (size_t)s.h * (size_t)s.w, C = (size_t)s.c;
    double *alpha = malloc((C ? C : 1) * sizeof *alpha);
    if (!alpha) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    /* the channels' weights: the gradient's mean over the map */
    for (size_t c = 0; c < C; c++) alpha[c] = 0;
    for (size_t q = 0; q < hw; q++)
        for (size_t c = 0; c < C; c++) alpha[c] += grad[q * C + c];
    for (size_t c = 0; c < C; c++) alpha[c] /= (double)hw;
    double best = 0;
    int at = -1;
    for (size_t p = 0; p < hw; p++) {
        double v = 0;
        for (size_t c = 0; c < C; c++) v += alpha[c] * act[p * C + c];
        v = v > 0 ? v : 0;    /* ReLU: only what speaks for the class */
        map[p] = (float)v;
        if (v > best) best = v, at = (int)p;
    }
    for (size_t p = 0; p < hw; p++) map[p] = best > 0 ? (float)(map[p] / best) : 0.0f;
    free(alpha);
    if (top) *top = best;
    if (peak) *peak = at;
    return CTVK_OK;
}

const char *ctvk_cam_default_layer(const char *arch)
{
    /* the last map before the head: ResNet50's last block output, the V2 backbones' final ReLU */
    return !strcmp(arch, "resnet50") ? "conv5_block3_out" : "post_relu";
}
