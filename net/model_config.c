/* The [model] section of a config. */
#include "ctvk/config.h"
#include "ctvk/net.h"
#include "runtime/internal.h"
#include "runtime/list.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "1,2,3" -> out[], at most max values each in [lo, hi]. */
static ctvk_status int_list(const ctvk_config *cfg, const char *key, int *out, int max, int lo, int hi, int *n)
{
    const char *v;
    ctvk_config_str(cfg, "model", key, NULL, &v);
    *n = 0;
    if (!v) return CTVK_OK;
    int k = ctvk__parse_ints(v, out, max, lo, hi);
    if (k < 0)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [model] %s = '%s': expected up to %d integers in [%d, %d] "
                          "separated by commas", ctvk_config_path(cfg), key, v, max, lo, hi);
    *n = k;
    return CTVK_OK;
}

ctvk_status ctvk_model_config_load(const ctvk_config *cfg, ctvk_model_config *mc)
{
    const char *arch, *head;
    long v;
    double d;
    CTVK_TRY(ctvk_config_str(cfg, "model", "arch", "resnet50v2_fpn", &arch));
    if (strcmp(arch, "resnet50") && strcmp(arch, "resnet50v2") && strcmp(arch, "resnet50v2_fpn") &&
        strcmp(arch, "small_resnet"))
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [model] arch = '%s': expected resnet50, resnet50v2, "
                          "resnet50v2_fpn or small_resnet", ctvk_config_path(cfg), arch);
    ctvk_model_config_default(mc, arch);
    CTVK_TRY(ctvk_config_str(cfg, "model", "head", mc->head, &head));
    if (strcmp(head, "fpn") && strcmp(head, "gap") && strcmp(head, "none"))
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [model] head = '%s': expected fpn, gap or none",
                          ctvk_config_path(cfg), head);
    if (head != mc->head) snprintf(mc->head, sizeof mc->head, "%s", head);
    CTVK_TRY(ctvk_config_int(cfg, "model", "input_size", 512, 8, 4096, &v));
    mc->height = mc->width = (int)v;
    CTVK_TRY(ctvk_config_int(cfg, "model", "height", mc->height, 8, 4096, &v));
    mc->height = (int)v;
    CTVK_TRY(ctvk_config_int(cfg, "model", "width", mc->width, 8, 4096, &v));
    mc->width = (int)v;
    CTVK_TRY(ctvk_config_int(cfg, "model", "channels", 1, 1, 4, &v));
    mc->channels = (int)v;
    CTVK_TRY(ctvk_config_int(cfg, "model", "classes", 2, 2, 1000, &v));
    mc->classes = (int)v;
    CTVK_TRY(ctvk_config_double(cfg, "model", "dropout", 0.5, 0.0, 0.95, &d));
    mc->dropout = (float)d;
    CTVK_TRY(ctvk_config_double(cfg, "model", "bn_eps", 1.001e-5, 1e-12, 1.0, &d));
    mc->bn_eps = (float)d;
    CTVK_TRY(ctvk_config_double(cfg, "model", "bn_momentum", 0.99, 0.0, 1.0, &d));
    mc->bn_momentum = (float)d;
    /* the input transform is the network's: checkpoints carry it to infer and eval */
    CTVK_TRY(ctvk_config_double(cfg, "data", "scale", 1.0, -1e30, 1e30, &d));
    mc->input_scale = (float)d;
    CTVK_TRY(ctvk_config_double(cfg, "data", "offset", 0.0, -1e30, 1e30, &d));
    mc->input_offset = (float)d;
    mc->input_recorded = 1;
    int n;
    CTVK_TRY(ctvk_config_int(cfg, "model", "stages", mc->stages, 1, 7, &v));
    mc->stages = (int)v;
    int blocks[8], widths[8], nb, nw;
    CTVK_TRY(int_list(cfg, "blocks", blocks, 7, 1, 16, &nb));
    CTVK_TRY(int_list(cfg, "widths", widths, 7, 1, 1024, &nw));
    for (n = 0; n < mc->stages; n++) {
        if (nb) mc->blocks[n] = n < nb ? blocks[n] : blocks[nb - 1];
        else if (!mc->blocks[n]) mc->blocks[n] = 1;
        if (nw) mc->widths[n] = n < nw ? widths[n] : widths[nw - 1] * (1 << (n - nw + 1));
        else if (!mc->widths[n]) mc->widths[n] = mc->widths[n - 1] * 2;
    }
    return CTVK_OK;
}
