/* The [model] section of a config. */
#include "ctvk/checkpoint.h"
#include "ctvk/config.h"
#include "ctvk/net.h"
#include "runtime/base/config_keys.h"
#include "runtime/vk/internal.h"
#include "runtime/base/list.h"
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
    CTVK_TRY(ctvk__key_str(cfg, "model", "arch", &arch));
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
    CTVK_TRY(ctvk__key_int(cfg, "model", "input_size", &v));
    mc->height = mc->width = (int)v;
    CTVK_TRY(ctvk__key_int_or(cfg, "model", "height", mc->height, &v));
    mc->height = (int)v;
    CTVK_TRY(ctvk__key_int_or(cfg, "model", "width", mc->width, &v));
    mc->width = (int)v;
    CTVK_TRY(ctvk__key_int(cfg, "model", "channels", &v));
    mc->channels = (int)v;
    CTVK_TRY(ctvk__key_int(cfg, "model", "classes", &v));
    mc->classes = (int)v;
    CTVK_TRY(ctvk__key_num(cfg, "model", "dropout", &d));
    mc->dropout = (float)d;
    CTVK_TRY(ctvk__key_num(cfg, "model", "bn_eps", &d));
    mc->bn_eps = (float)d;
    CTVK_TRY(ctvk__key_num(cfg, "model", "bn_momentum", &d));
    mc->bn_momentum = (float)d;
    /* the input transform is the network's: checkpoints carry it to infer and eval */
    CTVK_TRY(ctvk__key_num(cfg, "data", "scale", &d));
    mc->input_scale = (float)d;
    CTVK_TRY(ctvk__key_num(cfg, "data", "offset", &d));
    mc->input_offset = (float)d;
    mc->input_recorded = 1;
    int n;
    CTVK_TRY(ctvk__key_int_or(cfg, "model", "stages", mc->stages, &v));
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

/* ------------------------------------------------------------------ the model config as text
 * (what a checkpoint's CONF section holds): key=value lines written here and read back by
 * ctvk_model_config_load itself, the one parser of model keys, so that a checkpoint and a config file
 * accept the same values and ranges. */
size_t ctvk_model_config_to_text(const ctvk_model_config *c, char *buf, size_t n)
{
    char blocks[128] = "", widths[128] = "";
    int stages = c->stages < 0 ? 0 : c->stages > 8 ? 8 : c->stages;
    for (int i = 0; i < stages; i++) {
        size_t lb = strlen(blocks), lw = strlen(widths);
        snprintf(blocks + lb, sizeof blocks - lb, "%s%d", i ? "," : "", c->blocks[i]);
        snprintf(widths + lw, sizeof widths - lw, "%s%d", i ? "," : "", c->widths[i]);
    }
    int r = snprintf(buf, n,
                     "arch=%s\nhead=%s\nheight=%d\nwidth=%d\nchannels=%d\nclasses=%d\nbn_eps=%.9g\n"
                     "bn_momentum=%.9g\ndropout=%.9g\nstages=%d\nblocks=%s\nwidths=%s\n",
                     c->arch, c->head, c->height, c->width, c->channels, c->classes, (double)c->bn_eps,
                     (double)c->bn_momentum, (double)c->dropout, c->stages, blocks, widths);
    /* the input transform only where it is known (a config read from an older checkpoint has none) */
    if (r >= 0 && (size_t)r < n && c->input_recorded) {
        int r2 = snprintf(buf + r, n - (size_t)r, "input_scale=%.9g\ninput_offset=%.9g\n", (double)c->input_scale,
                          (double)c->input_offset);
        r = r2 < 0 ? r2 : r + r2;
    }
    return r < 0 ? 0 : (size_t)r;
}


ctvk_status ctvk_model_config_from_text(const char *text, const char *what, ctvk_model_config *c)
{
    ctvk_model_config_default(c, "resnet50v2_fpn");
    ctvk_config *cfg;
    CTVK_TRY(ctvk_config_load(NULL, &cfg));
    ctvk_status s = CTVK_OK;
    int has_arch = 0, has_input = 0;
    const char *p = text;
    char line[512], set[600];
    while (*p && !s) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof line) { s = ctvk__fail(CTVK_ERR_FORMAT, "%s: model config line too long (corrupt)", what); break; }
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        if (!len) continue;
        char *eq = strchr(line, '=');
        if (eq) *eq = 0;
        if (!eq || eq == line || strpbrk(line, ".[];#=")) {   /* a key ctvk_config_set could misread */
            if (eq) *eq = '=';
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: model config line '%s' is not key=value (corrupt)", what, line);
            break;
        }
        const char *k = line, *v = eq + 1;
        has_arch |= !strcmp(k, "arch");
        /* the input transform is [data] scale and offset in a config file */
        int input = !strcmp(k, "input_scale") || !strcmp(k, "input_offset");
        has_input |= input;
        snprintf(set, sizeof set, "%s.%s=%s", input ? "data" : "model", input ? k + 6 : k, v);
        if (ctvk_config_set(cfg, set))
            s = ctvk__fail(CTVK_ERR_FORMAT, "%s: model config %s = '%s' is not valid (corrupt)", what, k, v);
    }
    if (!s && !has_arch) s = ctvk__fail(CTVK_ERR_FORMAT, "%s: the model config names no arch (corrupt)", what);
    if (!s && ctvk_model_config_load(cfg, c)) {
        char why[CTVK_ERROR_MAX];
        snprintf(why, sizeof why, "%s", ctvk_error());
        s = ctvk__fail(CTVK_ERR_FORMAT, "%s: the model config is not valid (corrupt): %s", what, why);
    }
    if (!s) c->input_recorded = has_input;
    ctvk_config_free(cfg);
    return s;
}
