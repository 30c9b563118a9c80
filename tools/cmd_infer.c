/* ctvk infer: one patient's CT series -> slice selection -> per-slice classification -> decision. */
#include "ctvk/checkpoint.h"
#include "ctvk/pipeline.h"
#include "ctvk/util.h"
#include "tools/cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_infer_help[] =
    "usage: ctvk infer --checkpoint C PATH [--config C] [--json] [--no-select] [--series UID|INDEX]\n"
    "                  [--cam DIR [--cam-layer NAME]] [--set section.key=value] [--device D]\n\n"
    "Classifies one patient: scans PATH (a patient folder with SR_k sequence folders, one sequence folder,\n"
    "a single slice, a DICOM study folder or a NIfTI volume), runs the slice selection of docs/method.md section 2 on each sequence ([selection]\n"
    "of the config, or the defaults), classifies the kept slices with checkpoint C and decides: COVID\n"
    "iff COVID slices >= f x slices, f = [eval] covid_fraction (0.1). Prints the per-slice\n"
    "probabilities, the fraction of COVID slices, the decision and the time taken, and who made the\n"
    "answer: the architecture, the checkpoint's SHA-256, the training config (RUN/config.ini of the\n"
    "checkpoint's run) with its SHA-256 and seed, the ctvk version and the device, with the notice\n"
    "\"research use only, not for diagnosis\". The exit status is 0 whatever the decision.\n\n"
    "  --checkpoint C   a ctvk checkpoint\n"
    "  --config C       a config: [selection], [eval] covid_fraction and batch, [data] scale, offset,\n"
    "                   image_size (selection reads slices at this size; default: the network's) and resize\n"
    "  --json           print one JSON object instead of the table\n"
    "  --no-select      classify every slice (no selection)\n"
    "  --series S       the DICOM series to classify (its SeriesInstanceUID or its index in the list\n"
    "                   printed when a study holds several CT series; required then)\n"
    "  --cam DIR        Grad-CAM of the COVID class for every classified slice, into DIR (created; an\n"
    "                   existing DIR must be empty): NNN_SLICE.cam.tiff, the map (32-bit float, 0..1, at\n"
    "                   the layer's resolution), and NNN_SLICE.cam.png, the slice in a lung window with\n"
    "                   the map over it and a colour bar; the peak's position in slice pixels is printed\n"
    "  --cam-layer L    the Keras layer of the maps (default: post_relu; conv5_block3_out for resnet50)\n"
    "  --set s.k=v      override a config key (repeatable)\n"
    "  --device D       device index or name\n";

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* One sequence: what it is, its slices, the kept ones by InstanceNumber and position (DICOM, NIfTI). */
static void print_series(const ctvk_series_set *set, int q, const uint8_t *keep)
{
    const ctvk_series *s = &set->series[q];
    if (s->kind == CTVK_SERIES_DICOM)
        printf("series %d '%s' (%s): %zu slices", s->number, s->description ? s->description : "", s->uid ? s->uid : "",
               s->count);
    else printf("%s %s: %zu slices", s->kind == CTVK_SERIES_NIFTI ? "volume" : "sequence", s->name, s->count);
    size_t kept = 0;
    for (size_t i = s->first; i < s->first + s->count; i++) kept += !keep || keep[i];
    printf(", %s %zu:", keep ? "kept" : "classified", kept);
    for (size_t i = s->first; i < s->first + s->count; i++) {
        if (keep && !keep[i]) continue;
        if (set->instance[i] >= 0) printf(" #%d", set->instance[i]);
        else printf(" %zu", i - s->first + 1);
        if (set->position[i] == set->position[i]) printf(" (%.1f mm)", set->position[i]);
    }
    printf("\n");
}

int cmd_infer(int argc, char **argv)
{
    cli_common com = {0};
    const char *path = NULL, *config = NULL, *ckpt = NULL, *series = NULL, *cam_dir = NULL, *cam_layer = NULL;
    int json = 0, no_select = 0;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("infer", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        const char *a = argv[i];
        if (a[0] != '-') {
            if (path) return cli_usage_error("infer", "unexpected argument '%s' (one PATH)", a);
            path = a;
            i++;
            continue;
        }
        if (!strcmp(a, "--json")) { json = 1; i++; continue; }
        if (!strcmp(a, "--no-select")) { no_select = 1; i++; continue; }
        const char **dst = !strcmp(a, "--checkpoint") ? &ckpt : !strcmp(a, "--config") ? &config
                         : !strcmp(a, "--series") ? &series : !strcmp(a, "--cam") ? &cam_dir
                         : !strcmp(a, "--cam-layer") ? &cam_layer : NULL;
        if (!dst) return cli_usage_error("infer", "unknown option '%s'", a);
        if (i + 1 >= argc) return cli_usage_error("infer", "%s needs a value", a);
        *dst = argv[i + 1];
        i += 2;
    }
    if (!path) return cli_usage_error("infer", "PATH (a patient's series folder) is required");
    if (!ckpt) return cli_usage_error("infer", "--checkpoint is required");
    if (cam_layer && !cam_dir) return cli_usage_error("infer", "--cam-layer needs --cam DIR");
    if (cam_dir && cli_empty_folder("infer", "--cam", cam_dir)) return 1;

    double t0 = ctvk_now();
    ctvk_model_config mc;
    if (ctvk_checkpoint_peek_config(ckpt, &mc)) return cli_fail("infer");
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("infer", config, &com, &cfg);
    if (rc) return rc;
    ctvk_eval_options eo;
    ctvk_select_params sp;
    ctvk_series_set *set = NULL;
    ctvk_selection sel = {0};
    ctvk_ctx *ctx = NULL;
    ctvk_net *net = NULL;
    ctvk_graph g = {0};
    const char **paths = NULL;
    size_t *index = NULL;
    float *prob = NULL, *params = NULL;
    uint8_t *pred = NULL;
    ctvk_cam_result *cam = NULL;
    ctvk_identity_job *who = NULL;   /* the checkpoint's SHA-256, on a core the device setup leaves idle */
    ctvk_options dev;
    if ((rc = cli_device_options("infer", cfg, &com, &dev))) goto done;
    rc = 1;
    if (ctvk_model_identity_start(ckpt, dev.cache_dir, &who)) {
        rc = cli_fail("infer");
        goto done;
    }
    long image_size;
    if (ctvk_eval_options_from_config(cfg, &eo) || ctvk_eval_options_from_model(cfg, &mc, ckpt, &eo) ||
        ctvk_select_from_config(cfg, &sp) ||
        ctvk_config_int(cfg, "data", "image_size", mc.height, 16, 4096, &image_size)) {
        rc = cli_fail("infer");
        goto done;
    }
    ctvk_scan_options so = {.series = series, .one_series = 1};
    if (ctvk_series_scan_ex(path, &so, &set)) {
        rc = cli_fail("infer");
        goto done;
    }
    if (set->npatients > 1) {
        fprintf(stderr, "ctvk infer: %s holds %d patients (%s, %s, ...): give one patient's folder\n", path,
                set->npatients, set->patients[0].id, set->patients[1].id);
        goto done;
    }
    double t_sel = ctvk_now();
    if (!no_select && ctvk_select_run(set, &sp, (int)image_size, eo.resize, 0, &sel)) {
        rc = cli_fail("infer");
        goto done;
    }
    t_sel = ctvk_now() - t_sel;
    size_t n = no_select ? set->nslices : sel.kept;
    paths = calloc(n ? n : 1, sizeof *paths);
    index = calloc(n ? n : 1, sizeof *index);
    prob = calloc(n ? n : 1, sizeof *prob);
    pred = calloc(n ? n : 1, 1);
    if (!paths || !index || !prob || !pred) {
        fprintf(stderr, "ctvk infer: out of memory\n");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < set->nslices; i++)
        if (no_select || sel.keep[i]) index[k] = i, paths[k++] = set->slices[i];
    if (ctvk_create(&dev, &ctx) || cli_prewarm_inference(ctx, &mc, eo.batch) ||
        ctvk_net_from_checkpoint(ctx, ckpt, eo.batch, &g, &net)) {
        rc = cli_fail("infer");
        goto done;
    }
    const char *layer = cam_layer ? cam_layer : ctvk_cam_default_layer(g.cfg.arch);
    if (cam_dir && ctvk_graph_find(&g, layer) < 0) {
        fprintf(stderr, "ctvk infer: --cam-layer '%s': %s has no layer of that name (ctvk model %s lists them)\n",
                layer, g.cfg.arch, g.cfg.arch);
        goto done;
    }
    if (ctvk_classify_slices(ctx, net, n, paths, &eo, prob, pred)) {
        rc = cli_fail("infer");
        goto done;
    }
    if (cam_dir && n) {       /* the inference net makes room for the Grad-CAM one */
        params = malloc(g.params_total * sizeof *params);
        cam = calloc(n, sizeof *cam);
        if (!params || !cam) {
            fprintf(stderr, "ctvk infer: out of memory\n");
            goto done;
        }
        if (ctvk_net_get_params(net, params)) {
            rc = cli_fail("infer");
            goto done;
        }
        ctvk_net_destroy(net);
        net = NULL;
        if (ctvk_cam_slices(ctx, &g, params, layer, n, paths, &eo, cam_dir, cam)) {
            rc = cli_fail("infer");
            goto done;
        }
    }
    int covid = 0;
    for (size_t i = 0; i < n; i++) covid += pred[i] == CTVK_CLASS_COVID;
    double fraction = n ? (double)covid / (double)n : 0.0;
    int decision = ctvk_patient_decision((int)n, covid, eo.covid_fraction);
    double dt = ctvk_now() - t0;
    ctvk_model_identity id;
    ctvk_status who_s = ctvk_model_identity_finish(who, ctvk_device(ctx)->name, &id);
    who = NULL;
    if (who_s) {
        rc = cli_fail("infer");
        goto done;
    }
    const char *patient = set->npatients ? set->patients[0].id : "";
    if (json) {
        printf("{\"path\": ");
        json_str(path);
        printf(", \"patient\": ");
        json_str(patient);
        printf(", \"checkpoint\": ");
        json_str(ckpt);
        printf(", \"arch\": ");
        json_str(mc.arch);
        printf(", ");
        ctvk_model_identity_json(stdout, &id);
        printf(", \"sequences\": %d, \"slices_total\": %zu, \"selection\": %s, \"slices_classified\": %zu, "
               "\"covid_slices\": %d, \"fraction\": %.17g, \"threshold\": %.17g, \"decision\": \"%s\", "
               "\"seconds\": %.6f, \"slices\": [", set->nseries, set->nslices, no_select ? "false" : "true", n, covid,
               fraction, eo.covid_fraction, ctvk_class_name(decision), dt);
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"path\": ", i ? ", " : "");
            json_str(paths[i]);
            printf(", \"prob_covid\": %.9g, \"pred\": \"%s\"", (double)prob[i], ctvk_class_name(pred[i]));
            size_t j = index[i];
            if (set->instance[j] >= 0) printf(", \"instance\": %d", set->instance[j]);
            if (set->position[j] == set->position[j]) printf(", \"position_mm\": %.6g", set->position[j]);
            if (cam) {
                printf(", \"cam\": {\"map\": ");
                json_str(cam[i].map_path);
                printf(", \"overlay\": ");
                json_str(cam[i].overlay_path);
                if (cam[i].peak_x >= 0) printf(", \"peak_x\": %d, \"peak_y\": %d", cam[i].peak_x, cam[i].peak_y);
                else printf(", \"peak_x\": null, \"peak_y\": null");
                printf(", \"max\": %.9g, \"prob_covid\": %.9g}", cam[i].top, (double)cam[i].prob_covid);
            }
            printf("}");
        }
        printf("]");
        if (cam) {
            printf(", \"cam_layer\": ");
            json_str(layer);
            printf(", \"cam_map_size\": [%d, %d], \"cam_dir\": ", n ? cam[0].map_h : 0, n ? cam[0].map_w : 0);
            json_str(cam_dir);
        }
        printf(", \"series\": [");
        for (int q = 0; q < set->nseries; q++) {
            const ctvk_series *s = &set->series[q];
            printf("%s{\"name\": ", q ? ", " : "");
            json_str(s->name);
            printf(", \"kind\": \"%s\"", s->kind == CTVK_SERIES_DICOM ? "dicom" : s->kind == CTVK_SERIES_NIFTI ? "nifti" : "tiff");
            if (s->uid) { printf(", \"uid\": "); json_str(s->uid); }
            if (s->description) { printf(", \"description\": "); json_str(s->description); printf(", \"number\": %d", s->number); }
            size_t kept = 0;
            for (size_t i = s->first; i < s->first + s->count; i++) kept += no_select || sel.keep[i];
            printf(", \"slices\": %zu, \"kept\": %zu}", s->count, kept);
        }
        printf("], \"notes\": [");
        for (int i = 0; i < set->nnotes; i++) {
            if (i) printf(", ");
            json_str(set->notes[i]);
        }
        printf("]}\n");
    } else {
        printf("%s: patient %s, %d sequence%s, %zu slices", path, *patient ? patient : "?", set->nseries,
               set->nseries == 1 ? "" : "s", set->nslices);
        if (no_select) printf(" (no selection: all classified)\n");
        else printf("; selection kept %zu (%.2f s)\n", sel.kept, t_sel);
        for (int i = 0; i < set->nnotes; i++) printf("note: %s\n", set->notes[i]);
        for (int q = 0; q < set->nseries; q++) print_series(set, q, no_select ? NULL : sel.keep);
        if (sel.clipped)
            printf("note: %zu samples in %zu slices lay outside the stored-value range (HU + %d in 0..65535) and were "
                   "clipped to it\n", sel.clipped, sel.clipped_slices, sp.values.hu_offset ? sp.values.hu_offset : CTVK_HU_OFFSET);
        printf("%-5s %-40s %10s  %s\n", "#", "slice", "P(covid)", "class");
        for (size_t i = 0; i < n; i++) {
            const char *name = paths[i];
            size_t len = strlen(name);
            if (len > 40) name += len - 40;
            printf("%-5zu %-40s %10.4f  %s\n", index[i] + 1, name, (double)prob[i], ctvk_class_name(pred[i]));
        }
        printf("COVID slices: %d of %zu (%.1f%%); threshold f = %g: COVID iff >= %.1f slices\n", covid, n,
               100.0 * fraction, eo.covid_fraction, eo.covid_fraction * (double)n);
        printf("decision: %s\n", decision == CTVK_CLASS_COVID ? "COVID" : "normal");
        if (cam) {
            printf("Grad-CAM of COVID at %s (%dx%d) in %s:\n", layer, cam[0].map_h, cam[0].map_w, cam_dir);
            for (size_t i = 0; i < n; i++) {
                printf("%-5zu %s", index[i] + 1, cam[i].overlay_path);
                if (cam[i].peak_x >= 0) printf("  peak at x %d, y %d\n", cam[i].peak_x, cam[i].peak_y);
                else printf("  empty: no positive evidence for COVID at this layer\n");
            }
        }
        printf("time: %.2f s (%s on %s)\n", dt, mc.arch, ctvk_device(ctx)->name);
        ctvk_model_identity_text(stdout, &id);
    }
    rc = 0;
done:
    (void)ctvk_model_identity_finish(who, NULL, NULL);
    free(paths), free(index), free(prob), free(pred), free(params), free(cam);
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    ctvk_destroy(ctx);
    ctvk_selection_free(&sel);
    ctvk_series_free(set);
    ctvk_config_free(cfg);
    return rc;
}
