/* Grad-CAM of classified slices (ctvk infer --cam, ctvk eval --cam): each slice read and converted
 * as classification reads it, one pass of a Grad-CAM network (ctvk_net_create_cam) for the COVID
 * logit, and per slice a 32-bit float TIFF of the map at the layer's resolution and a PNG overlay. */
#include "ctvk/pipeline.h"
#include "net/train_ops.h"
#include "runtime/ct/ct_internal.h"
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

/* A file-name stem from a slice path: its last component without the extension, [A-Za-z0-9._-] only. */
static void stem_of(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = 0;
    for (const char *p = b; *p && n + 1 < cap && n < 64; p++) {
        char c = *p;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 c == '.';
        out[n++] = ok ? c : '_';
    }
    out[n] = 0;
    char *dot = strrchr(out, '.');       /* IM00012.tif -> IM00012; volume.nii.gz_3 keeps its slice number */
    if (dot && dot != out && !strchr(dot, '_')) *dot = 0;
}

ctvk_status ctvk_cam_slices(ctvk_ctx *ctx, const ctvk_graph *g, const float *params, const char *layer, size_t n,
                            const char *const *paths, const ctvk_eval_options *o, const char *dir,
                            ctvk_cam_result *out)
{
    const char *name = layer && *layer ? layer : ctvk_cam_default_layer(g->cfg.arch);
    ctvk_net *net = NULL;
    CTVK_TRY(ctvk_net_create_cam(ctx, g, 1, name, &net));
    ctvk_shape ms;
    ctvk_net_cam_layer(net, &ms);
    int size = g->cfg.height, mh = ms.h, mw = ms.w;
    size_t per = (size_t)ms.h * ms.w * ms.c, img = (size_t)size * size;
    uint16_t *pix = malloc(img * sizeof *pix);
    float *act = malloc(per * sizeof *act), *grad = malloc(per * sizeof *grad);
    float *map = malloc((size_t)mh * mw * sizeof *map), probs[2];
    ctvk_tensor *raw = NULL, *in1 = NULL;
    ctvk_status s = pix && act && grad && map ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) s = ctvk_net_set_params(net, params);
    if (!s) s = ctvk_tensor_create(ctx, CTVK_U16, (ctvk_shape){1, size, size, 1}, "cam_raw", &raw);
    if (!s) s = ctvk_tensor_view(ctvk_net_input(net), 0, (ctvk_shape){1, size, size, 1}, "cam_input", &in1);
    for (size_t i = 0; !s && i < n; i++) {
        ctvk_cam_result *r = &out[i];
        memset(r, 0, sizeof *r);
        s = ctvk_slice_read(paths[i], size, o->resize, &o->values, pix, NULL);
        if (!s) s = ctvk_tensor_upload(raw, pix, img * sizeof *pix);
        if (!s) s = ctvk_convert_u16_to_f32(ctx, raw, o->scale, o->offset, in1);
        if (!s) s = ctvk_net_cam_pass(net, 1, CTVK_CLASS_COVID);
        if (!s) s = ctvk_net_cam_read(net, 1, act, grad);
        if (!s) s = ctvk_net_probs(net, 1, probs);
        int peak = -1;
        if (!s) s = ctvk_cam_map(act, grad, ms, map, &r->top, &peak);
        if (s) break;
        r->prob_covid = probs[CTVK_CLASS_COVID];
        r->map_h = mh;
        r->map_w = mw;
        r->peak_x = peak < 0 ? -1 : (int)(((peak % mw) + 0.5) * size / mw);
        r->peak_y = peak < 0 ? -1 : (int)(((peak / mw) + 0.5) * size / mh);
        char stem[80];
        stem_of(paths[i], stem, sizeof stem);
        int a = snprintf(r->map_path, sizeof r->map_path, "%s/%03zu_%s.cam.tiff", dir, i + 1, stem);
        int b = snprintf(r->overlay_path, sizeof r->overlay_path, "%s/%03zu_%s.cam.png", dir, i + 1, stem);
        int c = snprintf(r->slice_path, sizeof r->slice_path, "%s/%03zu_%s.png", dir, i + 1, stem);
        if (a < 0 || b < 0 || c < 0 || (size_t)a >= sizeof r->map_path || (size_t)b >= sizeof r->overlay_path ||
            (size_t)c >= sizeof r->slice_path) {
            s = ctvk__fail(CTVK_ERR_ARG, "--cam folder '%s': the path is too long", dir);
            break;
        }
        ctvk_tiff_write_options tw = {.sample = CTVK_SAMPLE_F32};
        s = ctvk_tiff_write(r->map_path, mw, mh, map, &tw);
        char caption[160];
        snprintf(caption, sizeof caption, "GRAD-CAM %s  P(COVID) %.3f%s", name, (double)r->prob_covid,
                 peak < 0 ? "  NO POSITIVE EVIDENCE" : "");
        if (!s) s = ctvk_cam_overlay_write(r->overlay_path, pix, size, ctvk__hu_offset(&o->values), map, mh, mw, caption);
        snprintf(caption, sizeof caption, "SLICE %zu  P(COVID) %.3f", i + 1, (double)r->prob_covid);
        if (!s) s = ctvk_cam_overlay_write(r->slice_path, pix, size, ctvk__hu_offset(&o->values), NULL, 0, 0, caption);
    }
    ctvk_tensor_destroy(in1);
    ctvk_tensor_destroy(raw);
    ctvk_net_destroy(net);
    free(pix), free(act), free(grad), free(map);
    return s;
}

ctvk_status ctvk_eval_cam_write(ctvk_ctx *ctx, ctvk_net *net, const char *dir, const ctvk_eval_result *r,
                                const ctvk_eval_options *o)
{
    if (!r->npatients || !r->image_patient) return CTVK_OK;
    const ctvk_graph *g = ctvk_net_graph(net);
    size_t np = (size_t)r->npatients;
    size_t *top = malloc(np * sizeof *top);
    const char **paths = malloc(np * sizeof *paths);
    float *params = malloc(g->params_total * sizeof *params);
    ctvk_cam_result *cam = calloc(np, sizeof *cam);
    char *cdir = ctvk__path_join(dir, "cam");
    ctvk_status s = top && paths && params && cam && cdir ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    for (size_t p = 0; p < np; p++) top[p] = (size_t)-1;
    for (size_t i = 0; !s && i < r->n; i++) {      /* each patient's slice with the highest P(COVID) */
        int p = r->image_patient[i];
        if (p < 0 || p >= r->npatients) continue;
        if (top[p] == (size_t)-1 || r->prob_covid[i] > r->prob_covid[top[p]]) top[p] = i;
    }
    size_t n = 0;
    for (size_t p = 0; p < np; p++)
        if (top[p] != (size_t)-1) paths[n++] = r->paths[top[p]];
    if (!s && mkdir(cdir, 0777) != 0 && errno != EEXIST)
        s = ctvk__fail(CTVK_ERR_IO, "%s: cannot create the Grad-CAM folder (%s)", cdir, strerror(errno));
    if (!s) s = ctvk_net_get_params(net, params);
    if (!s) s = ctvk_cam_slices(ctx, g, params, o->cam_layer, n, paths, o, cdir, cam);
    char *path = s ? NULL : ctvk__path_join(dir, "eval_cam.csv");
    char tmp[4500];
    FILE *f = NULL;
    if (!s && !path) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) s = ctvk__open_tmp(path, tmp, sizeof tmp, &f);
    if (!s) {
        size_t skip = strlen(dir) + 1;        /* the files relative to dir */
        const char *layer = *o->cam_layer ? o->cam_layer : ctvk_cam_default_layer(g->cfg.arch);
        fputs("patient,label,decision,path,prob_covid,layer,slice_png,overlay_png,map_tiff,peak_x,peak_y\n", f);
        for (size_t p = 0, k = 0; p < np; p++) {
            if (top[p] == (size_t)-1) continue;
            const ctvk_patient_result *pr = &r->patients[p];
            const ctvk_cam_result *c = &cam[k++];
            ctvk__csv_field(f, pr->id);
            fprintf(f, ",%s,%s,", ctvk_class_name(pr->label), ctvk_class_name(pr->decision));
            ctvk__csv_field(f, r->paths[top[p]]);
            fprintf(f, ",%.9g,%s,", (double)r->prob_covid[top[p]], layer);
            ctvk__csv_field(f, c->slice_path + skip);
            fputc(',', f);
            ctvk__csv_field(f, c->overlay_path + skip);
            fputc(',', f);
            ctvk__csv_field(f, c->map_path + skip);
            fprintf(f, ",%d,%d\n", c->peak_x, c->peak_y);
        }
        s = ctvk__close_commit(f, tmp, path);
    }
    free(path), free(cdir), free(top), free(paths), free(params), free(cam);
    return s;
}
