/* Evaluation (docs/method.md section 5): classify a fold's test images (or the slices that selection
 * keeps from each test patient's series) with an inference net, image-level metrics, the patient
 * rule, and the eval.json / eval_images.csv / eval_patients.csv files. */
#include "ctvk/checkpoint.h"
#include "ctvk/pipeline.h"
#include "net/train_ops.h"
#include "runtime/base/config_keys.h"
#include "runtime/ct/ct_internal.h"
#include "runtime/train/helpers.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ options */
ctvk_status ctvk_eval_options_from_model(const ctvk_config *cfg, const ctvk_model_config *mc, const char *ckpt,
                                         ctvk_eval_options *o)
{
    if (!mc->input_recorded) return CTVK_OK;
    const char *key[2] = {"scale", "offset"};
    float want[2] = {mc->input_scale, mc->input_offset}, *have[2] = {&o->scale, &o->offset};
    for (int i = 0; i < 2; i++) {
        if (ctvk_config_has(cfg, "data", key[i]) && *have[i] != want[i])
            return ctvk__fail(CTVK_ERR_ARG, "config %s: [data] %s = %.9g, but the network of %s was trained on "
                              "%s = %.9g (input = scale x stored value + offset); drop the key or give the "
                              "training's value", ctvk_config_path(cfg), key[i], (double)*have[i], ckpt, key[i],
                              (double)want[i]);
        *have[i] = want[i];
    }
    return CTVK_OK;
}

ctvk_status ctvk_eval_options_from_config(const ctvk_config *cfg, ctvk_eval_options *o)
{
    long v;
    double d;
    int b;
    memset(o, 0, sizeof *o);
    CTVK_TRY(ctvk__key_int(cfg, "eval", "batch", &v));
    o->batch = (int)v;
    CTVK_TRY(ctvk__key_num(cfg, "eval", "covid_fraction", &d));
    o->covid_fraction = d;
    CTVK_TRY(ctvk__key_bool(cfg, "eval", "selection", &b));
    o->selection = b;
    CTVK_TRY(ctvk__key_int(cfg, "eval", "bootstrap", &v));
    o->bootstrap = (int)v;
    CTVK_TRY(ctvk__key_int(cfg, "eval", "bootstrap_seed", &v));
    o->bootstrap_seed = (uint64_t)v;
    CTVK_TRY(ctvk__key_bool(cfg, "eval", "cam", &b));
    o->cam = b;
    const char *layer;
    CTVK_TRY(ctvk__key_str(cfg, "eval", "cam_layer", &layer));
    if (!layer) layer = "";
    if (strlen(layer) >= sizeof o->cam_layer)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [eval] cam_layer '%s' is longer than a layer name can be",
                          ctvk_config_path(cfg), layer);
    snprintf(o->cam_layer, sizeof o->cam_layer, "%s", layer);
    CTVK_TRY(ctvk__key_num(cfg, "data", "scale", &d));
    o->scale = (float)d;
    CTVK_TRY(ctvk__key_num(cfg, "data", "offset", &d));
    o->offset = (float)d;
    CTVK_TRY(ctvk__key_bool(cfg, "data", "resize", &b));
    o->resize = b;
    CTVK_TRY(ctvk_values_from_config(cfg, &o->values));
    long size, h, w;
    CTVK_TRY(ctvk__key_int(cfg, "model", "input_size", &size));
    CTVK_TRY(ctvk__key_int_or(cfg, "model", "height", size, &h));
    CTVK_TRY(ctvk__key_int_or(cfg, "model", "width", size, &w));
    if (h != w)
        return ctvk__fail(CTVK_ERR_ARG, "config %s: [model] height = %ld and width = %ld: evaluation needs a square "
                          "input (CT slices are square)", ctvk_config_path(cfg), h, w);
    o->size = (int)h;
    return CTVK_OK;
}

/* ------------------------------------------------------------------------------------ decisions */
int ctvk_patient_decision(int slices, int covid_slices, double f)
{
    if (slices <= 0) return CTVK_CLASS_NORMAL;
    /* covid >= f x slices, with exact ties counted as ties: f x slices is rounded (0.1 x 30 is
     * 3.0000000000000004 in double) and covid is an integer, so a tolerance far below 1 is exact. */
    return (double)covid_slices >= f * (double)slices - 1e-9 ? CTVK_CLASS_COVID : CTVK_CLASS_NORMAL;
}

void ctvk_eval_image_metrics(ctvk_eval_result *r)
{
    memset(r->confusion, 0, sizeof r->confusion);
    for (size_t i = 0; i < r->n; i++)
        if (r->labels[i] <= 1 && r->preds[i] <= 1) r->confusion[r->labels[i]][r->preds[i]]++;
    long c0 = r->confusion[0][0] + r->confusion[0][1], c1 = r->confusion[1][0] + r->confusion[1][1];
    r->accuracy = c0 + c1 ? (double)(r->confusion[0][0] + r->confusion[1][1]) / (double)(c0 + c1) : 0.0;
    r->sens_covid = c0 ? (double)r->confusion[0][0] / (double)c0 : 0.0;
    r->sens_normal = c1 ? (double)r->confusion[1][1] / (double)c1 : 0.0;
}

ctvk_status ctvk_eval_patients(ctvk_eval_result *r, const int *patient, int npatients, const char *const *ids,
                               const int *labels, double f)
{
    free(r->patients);
    free(r->image_patient);
    r->patients = NULL;
    r->image_patient = NULL;
    r->npatients = 0;
    r->covid_cases = r->covid_correct = r->covid_wrong = 0;
    r->normal_cases = r->normal_correct = r->normal_wrong = 0;
    if (npatients <= 0) return CTVK_OK;
    int *slices = calloc((size_t)npatients, sizeof *slices), *covid = calloc((size_t)npatients, sizeof *covid);
    int *index = malloc((size_t)npatients * sizeof *index);
    r->image_patient = malloc((r->n ? r->n : 1) * sizeof *r->image_patient);
    if (!slices || !covid || !index || !r->image_patient) {
        free(slices), free(covid), free(index), free(r->image_patient);
        r->image_patient = NULL;
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    for (size_t i = 0; i < r->n; i++) {
        int p = patient[i];
        if (p < 0 || p >= npatients) continue;
        slices[p]++;
        if (r->preds[i] == CTVK_CLASS_COVID) covid[p]++;
    }
    int used = 0;
    for (int p = 0; p < npatients; p++) used += slices[p] > 0;
    if (used) {
        r->patients = calloc((size_t)used, sizeof *r->patients);
        if (!r->patients) {
            free(slices), free(covid), free(index), free(r->image_patient);
            r->image_patient = NULL;
            return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        }
    }
    for (int p = 0; p < npatients; p++) {
        index[p] = -1;
        if (!slices[p]) continue;
        index[p] = r->npatients;
        ctvk_patient_result *pr = &r->patients[r->npatients++];
        snprintf(pr->id, sizeof pr->id, "%s", ids[p]);
        pr->label = labels[p];
        pr->slices = slices[p];
        pr->covid_slices = covid[p];
        pr->fraction = (double)covid[p] / (double)slices[p];
        pr->decision = ctvk_patient_decision(slices[p], covid[p], f);
        if (pr->label == CTVK_CLASS_COVID) {
            r->covid_cases++;
            if (pr->decision == CTVK_CLASS_COVID) r->covid_correct++;
            else r->covid_wrong++;
        } else if (pr->label == CTVK_CLASS_NORMAL) {
            r->normal_cases++;
            if (pr->decision == CTVK_CLASS_NORMAL) r->normal_correct++;
            else r->normal_wrong++;
        }
    }
    for (size_t i = 0; i < r->n; i++) r->image_patient[i] = patient[i] >= 0 && patient[i] < npatients ? index[patient[i]] : -1;
    free(slices), free(covid), free(index);
    return CTVK_OK;
}

/* ------------------------------------------------------------------------------------ classification */
ctvk_status ctvk_classify_slices(ctvk_ctx *ctx, ctvk_net *net, size_t n, const char *const *paths,
                                 const ctvk_eval_options *o, float *prob_covid, uint8_t *preds)
{
    const ctvk_graph *g = ctvk_net_graph(net);
    if (g->cfg.height != g->cfg.width || g->cfg.channels != 1 || g->cfg.classes != 2)
        return ctvk__fail(CTVK_ERR_ARG, "evaluation needs a network with a square one-channel input and 2 classes "
                          "(this one takes %dx%dx%d and has %d classes)", g->cfg.height, g->cfg.width,
                          g->cfg.channels, g->cfg.classes);
    if (n == 0) return CTVK_OK;
    ctvk_tensor *input = ctvk_net_input(net);
    ctvk_shape is = ctvk_tensor_shape(input);
    int size = g->cfg.height;
    int batch = o->batch > 0 ? o->batch : 10;
    if (batch > is.n) batch = is.n;
    size_t img = (size_t)size * (size_t)size;
    ctvk_shape bs = {batch, size, size, 1};
    ctvk_tensor *raw = NULL, *in_view = NULL;
    ctvk_loader *ld = NULL;
    uint16_t *pad = NULL;
    float *probs = malloc((size_t)batch * 2 * sizeof *probs);
    ctvk_status s = probs ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (s == CTVK_OK) s = ctvk_tensor_create(ctx, CTVK_U16, bs, "eval_raw", &raw);
    if (s == CTVK_OK && batch != is.n) s = ctvk_tensor_view(input, 0, bs, "eval_input", &in_view);
    if (s == CTVK_OK) {
        ctvk_loader_options lo = {0};
        lo.n = n;
        lo.paths = paths;
        lo.batch = batch;
        lo.size = size;
        lo.resize = o->resize;
        lo.values = o->values;
        lo.epochs = 1;
        lo.depth = 3;
        lo.threads = 2;
        s = ctvk_loader_create(&lo, &ld);
    }
    while (s == CTVK_OK) {
        ctvk_batch b;
        s = ctvk_loader_next(ld, &b);
        if (s != CTVK_OK || b.n == 0) break;
        const uint16_t *src = b.pixels;
        if (b.n < batch) {   /* a short last batch: the upload is of the whole tensor */
            if (!pad && !(pad = calloc(img * (size_t)batch, sizeof *pad))) {
                ctvk_loader_release(ld, &b);
                s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
                break;
            }
            memcpy(pad, b.pixels, img * (size_t)b.n * sizeof *pad);
            src = pad;
        }
        s = ctvk_tensor_upload(raw, src, img * (size_t)batch * sizeof(uint16_t));
        if (s == CTVK_OK) s = ctvk_convert_u16_to_f32(ctx, raw, o->scale, o->offset, in_view ? in_view : input);
        if (s == CTVK_OK) s = ctvk_net_forward(net, b.n);
        if (s == CTVK_OK) s = ctvk_net_probs(net, b.n, probs);
        for (int i = 0; s == CTVK_OK && i < b.n; i++) {
            size_t k = b.images[i];   /* the batch's own arrays: valid until it is released */
            float p0 = probs[2 * i], p1 = probs[2 * i + 1];
            prob_covid[k] = p0;
            preds[k] = p1 > p0 ? CTVK_CLASS_NORMAL : CTVK_CLASS_COVID;   /* numpy argmax: ties -> index 0 */
        }
        ctvk_loader_release(ld, &b);
    }
    ctvk_loader_destroy(ld);
    ctvk_tensor_destroy(in_view);
    ctvk_tensor_destroy(raw);
    free(pad);
    free(probs);
    return s;
}

/* ------------------------------------------------------------------------------------ evaluation */
void ctvk_eval_result_free(ctvk_eval_result *r)
{
    if (!r) return;
    if (r->paths)
        for (size_t i = 0; i < r->n; i++) free(r->paths[i]);
    free(r->paths);
    free(r->labels);
    free(r->preds);
    free(r->prob_covid);
    free(r->patients);
    free(r->image_patient);
    memset(r, 0, sizeof *r);
}

static ctvk_status result_alloc(ctvk_eval_result *r, size_t n)
{
    r->n = n;
    r->paths = calloc(n ? n : 1, sizeof *r->paths);
    r->labels = calloc(n ? n : 1, 1);
    r->preds = calloc(n ? n : 1, 1);
    r->prob_covid = calloc(n ? n : 1, sizeof *r->prob_covid);
    if (!r->paths || !r->labels || !r->preds || !r->prob_covid) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    return CTVK_OK;
}

/* Selection mode: the slices selection keeps from each test patient's series. Fills r->paths,
 * r->labels and patient (indices into d->patient_ids). */
static ctvk_status selected_slices(const ctvk_dataset *d, const ctvk_image_list *list, const ctvk_select_params *sp,
                                   ctvk_eval_result *r, int **patient_out)
{
    const ctvk_series_set *set = d->series;
    if (!set)
        return ctvk__fail(CTVK_ERR_ARG, "[eval] selection = true needs the patients' full series: set [data] series_root "
                          "(or use layout = full)");
    char *want = calloc((size_t)(d->npatients ? d->npatients : 1), 1);
    int *setp = malloc(sizeof *setp * (size_t)(set->npatients ? set->npatients : 1));   /* set patient -> dataset patient */
    if (!want || !setp) {
        free(want), free(setp);
        return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    for (size_t i = 0; i < list->n; i++)
        if (list->patients[i] >= 0 && list->patients[i] < d->npatients) want[list->patients[i]] = 1;
    ctvk_status s = CTVK_OK;
    /* the sub-set of the test patients (whole patients, so each group's threshold is unchanged) */
    ctvk_series_set sub = {0};
    size_t nsl = 0;
    int nser = 0, npat = 0;
    for (int p = 0; p < set->npatients; p++) {
        setp[p] = -1;
        for (int q = 0; q < d->npatients; q++)
            if (!strcmp(set->patients[p].id, d->patient_ids[q])) { setp[p] = want[q] ? q : -1; break; }
        if (setp[p] >= 0) {
            nsl += set->patients[p].count;
            nser += set->patients[p].nseries;
            npat++;
        }
    }
    for (int q = 0; q < d->npatients && s == CTVK_OK; q++) {
        if (!want[q]) continue;
        int found = 0;
        for (int p = 0; p < set->npatients; p++) found |= setp[p] == q;
        if (!found)
            s = ctvk__fail(CTVK_ERR_ARG, "[eval] selection: test patient %s has no series in the full layout "
                           "([data] series_root)", d->patient_ids[q]);
    }
    sub.slices = calloc(nsl ? nsl : 1, sizeof *sub.slices);
    sub.series = calloc((size_t)(nser ? nser : 1), sizeof *sub.series);
    sub.patients = calloc((size_t)(npat ? npat : 1), sizeof *sub.patients);
    int *subp = calloc((size_t)(npat ? npat : 1), sizeof *subp);
    if (s == CTVK_OK && (!sub.slices || !sub.series || !sub.patients || !subp))
        s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (s == CTVK_OK) {
        for (int p = 0; p < set->npatients; p++) {
            if (setp[p] < 0) continue;
            const ctvk_patient *sp0 = &set->patients[p];
            ctvk_patient *np = &sub.patients[sub.npatients];
            *np = *sp0;
            np->first = sub.nslices;
            np->first_series = sub.nseries;
            for (int k = 0; k < sp0->nseries; k++) {
                ctvk_series se = set->series[sp0->first_series + k];
                se.first = se.first - sp0->first + sub.nslices;
                se.patient = sub.npatients;
                sub.series[sub.nseries++] = se;
            }
            for (size_t k = 0; k < sp0->count; k++) sub.slices[sub.nslices++] = set->slices[sp0->first + k];
            subp[sub.npatients++] = setp[p];
        }
    }
    ctvk_selection sel = {0};
    if (s == CTVK_OK && sub.nslices) s = ctvk_select_run(&sub, sp, d->image_size, d->resize, 0, &sel);
    int *patient = NULL;
    if (s == CTVK_OK) {
        s = result_alloc(r, sel.kept);
        patient = calloc(sel.kept ? sel.kept : 1, sizeof *patient);
        if (s == CTVK_OK && !patient) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    if (s == CTVK_OK) {
        size_t k = 0;
        for (int p = 0; p < sub.npatients && s == CTVK_OK; p++) {
            const ctvk_patient *pp = &sub.patients[p];
            for (size_t i = pp->first; i < pp->first + pp->count; i++) {
                if (!sel.keep[i]) continue;
                r->paths[k] = strdup(sub.slices[i]);
                if (!r->paths[k]) { s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); break; }
                r->labels[k] = (uint8_t)d->patient_labels[subp[p]];
                patient[k] = subp[p];
                k++;
            }
        }
    }
    ctvk_selection_free(&sel);
    free(sub.slices), free(sub.series), free(sub.patients), free(subp), free(want), free(setp);
    if (s != CTVK_OK) free(patient);
    else *patient_out = patient;
    return s;
}

static double now_s(void) { return ctvk__now(); }

ctvk_status ctvk_evaluate_select(ctvk_ctx *ctx, ctvk_net *net, const ctvk_dataset *d, const ctvk_image_list *list,
                                 const ctvk_eval_options *o, const ctvk_select_params *sp, ctvk_eval_result *out)
{
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    int *patient = NULL;
    ctvk_status s;
    if (o->selection) {
        ctvk_select_params def;
        if (!sp) {
            ctvk_select_defaults(&def);
            sp = &def;
        }
        s = selected_slices(d, list, sp, out, &patient);
    } else {
        s = result_alloc(out, list->n);
        for (size_t i = 0; i < list->n && s == CTVK_OK; i++) {
            out->paths[i] = strdup(list->paths[i]);
            if (!out->paths[i]) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            out->labels[i] = list->labels[i];
        }
    }
    if (s == CTVK_OK)
        s = ctvk_classify_slices(ctx, net, out->n, (const char *const *)out->paths, o, out->prob_covid, out->preds);
    if (s == CTVK_OK) {
        ctvk_eval_image_metrics(out);
        s = ctvk_eval_patients(out, o->selection ? patient : list->patients, d->npatients,
                               (const char *const *)d->patient_ids, d->patient_labels, o->covid_fraction);
    }
    if (s == CTVK_OK) s = ctvk_eval_compute_stats(out, o->bootstrap, o->bootstrap_seed);
    free(patient);
    if (s != CTVK_OK) {
        ctvk_eval_result_free(out);
        return s;
    }
    out->seconds = now_s() - t0;
    return CTVK_OK;
}

ctvk_status ctvk_evaluate(ctvk_ctx *ctx, ctvk_net *net, const ctvk_dataset *d, const ctvk_image_list *list,
                          const ctvk_eval_options *o, ctvk_eval_result *out)
{
    return ctvk_evaluate_select(ctx, net, d, list, o, NULL, out);
}

/* ------------------------------------------------------------------------------------ files */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void ctvk__csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static ctvk_status write_one(const char *dir, const char *name, const ctvk_eval_result *r, int which)
{
    char *path = ctvk__path_join(dir, name);
    if (!path) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    char tmp[4500];
    FILE *f;
    ctvk_status s = ctvk__open_tmp(path, tmp, sizeof tmp, &f);
    if (s != CTVK_OK) { free(path); return s; }
    if (which == 0) {
        fputs("{\n", f);
        if (r->have_model) {
            fputs("  ", f);
            ctvk_model_identity_json(f, &r->model);
            fputs(",\n", f);
        }
        fprintf(f, "  \"images\": %zu,\n  \"accuracy\": %.17g,\n  \"sens_covid\": %.17g,\n  \"sens_normal\": %.17g,\n",
                r->n, r->accuracy, r->sens_covid, r->sens_normal);
        fprintf(f, "  \"confusion\": [[%ld, %ld], [%ld, %ld]],\n  \"classes\": [\"covid\", \"normal\"],\n",
                r->confusion[0][0], r->confusion[0][1], r->confusion[1][0], r->confusion[1][1]);
        fprintf(f, "  \"normal_cases\": %d,\n  \"normal_correct\": %d,\n  \"normal_wrong\": %d,\n"
                   "  \"covid_cases\": %d,\n  \"covid_correct\": %d,\n  \"covid_wrong\": %d,\n",
                r->normal_cases, r->normal_correct, r->normal_wrong, r->covid_cases, r->covid_correct, r->covid_wrong);
        if (r->have_stats) ctvk_eval_stats_json(f, "  ", &r->stats);
        fprintf(f, "  \"seconds\": %.6f,\n  \"patients\": [", r->seconds);
        for (int i = 0; i < r->npatients; i++) {
            const ctvk_patient_result *p = &r->patients[i];
            fprintf(f, "%s\n    {\"patient\": ", i ? "," : "");
            json_str(f, p->id);
            fprintf(f, ", \"label\": \"%s\", \"slices\": %d, \"covid_slices\": %d, \"fraction\": %.17g, "
                       "\"decision\": \"%s\"}", ctvk_class_name(p->label), p->slices, p->covid_slices, p->fraction,
                    ctvk_class_name(p->decision));
        }
        fprintf(f, "%s]\n}\n", r->npatients ? "\n  " : "");
    } else if (which == 1) {
        fputs("path,label,prob_covid,pred,patient\n", f);
        for (size_t i = 0; i < r->n; i++) {
            ctvk__csv_field(f, r->paths[i]);
            int p = r->image_patient ? r->image_patient[i] : -1;
            fprintf(f, ",%s,%.9g,%s,", ctvk_class_name(r->labels[i]), (double)r->prob_covid[i],
                    ctvk_class_name(r->preds[i]));
            ctvk__csv_field(f, p >= 0 && p < r->npatients ? r->patients[p].id : "");
            fputc('\n', f);
        }
    } else {
        fputs("patient,label,slices,covid_slices,fraction,decision\n", f);
        for (int i = 0; i < r->npatients; i++) {
            const ctvk_patient_result *p = &r->patients[i];
            ctvk__csv_field(f, p->id);
            fprintf(f, ",%s,%d,%d,%.17g,%s\n", ctvk_class_name(p->label), p->slices, p->covid_slices, p->fraction,
                    ctvk_class_name(p->decision));
        }
    }
    s = ctvk__close_commit(f, tmp, path);
    free(path);
    return s;
}

ctvk_status ctvk_eval_write(const char *dir, const ctvk_eval_result *r)
{
    CTVK_TRY(write_one(dir, "eval.json", r, 0));
    CTVK_TRY(write_one(dir, "eval_images.csv", r, 1));
    CTVK_TRY(write_one(dir, "eval_patients.csv", r, 2));
    if (!r->have_stats) return CTVK_OK;
    /* the curves of the same samples the statistics were computed from */
    ctvk_eval_samples sm = {0};
    ctvk_status s = ctvk_eval_samples_from_result(r, &sm);
    ctvk_stats_input in;
    ctvk_eval_samples_input(&sm, &in);
    if (s == CTVK_OK) s = ctvk_eval_curves_write(dir, "eval", &in, &r->stats);
    ctvk_eval_samples_free(&sm);
    return s;
}

/* ------------------------------------------------------------------------------------ checkpoint */
ctvk_status ctvk_net_from_checkpoint(ctvk_ctx *ctx, const char *path, int batch, ctvk_graph *g, ctvk_net **net)
{
    *net = NULL;
    memset(g, 0, sizeof *g);
    ctvk_model_config mc;
    CTVK_TRY(ctvk_checkpoint_peek_config(path, &mc));
    CTVK_TRY(ctvk_graph_build(&mc, g));
    if (batch <= 0) batch = 1;
    ctvk__compile_helpers_start(ctx, &mc, batch);   /* cold start on lavapipe: compiles while we read */
    ctvk_checkpoint ck;
    ctvk_status s;
    int hit = 0;
    if (ctvk__wcache_on(ctx)) {   /* a CPU device: the prepared weights of an earlier run, mapped */
        uint64_t id = 0;
        s = ctvk__checkpoint_identity(path, &id);
        if (s == CTVK_OK) s = ctvk__net_create_prepared(ctx, g, batch, net);
        if (s == CTVK_OK) s = ctvk__net_prepare_weights(*net, id, &hit);
    } else {
        s = ctvk_net_create(ctx, g, batch, 0, net);
    }
    float *direct = s == CTVK_OK && !hit ? ctvk__net_params_host(*net) : NULL;   /* a CPU device: no host copy */
    /* With compile helpers the first submit joins them, and their list of pipelines reaches the
     * prewarm workers: here, before the weights' transforms and the passes are recorded, as in
     * ctvk_net_set_params (its upload waits for the work recorded before). */
    if (s == CTVK_OK && hit) {
        /* nothing to read: the entry holds the parameters and what is derived from them */
        if (ctx->helpers) s = ctvk_sync(ctx);
    } else if (s == CTVK_OK && direct) {
        s = ctvk__checkpoint_load_into(path, g, direct, &ck);
        if (s == CTVK_OK && ctx->helpers) s = ctvk_sync(ctx);
        if (s == CTVK_OK) s = ctvk__net_params_written(*net, direct);
        ctvk_checkpoint_free(&ck);
    } else if (s == CTVK_OK && (s = ctvk_checkpoint_load(path, g, &ck)) == CTVK_OK) {
        s = ctvk_net_set_params(*net, ck.params);
        ctvk_checkpoint_free(&ck);
    }
    if (s != CTVK_OK) {
        ctvk_net_destroy(*net);
        *net = NULL;
        ctvk_graph_free(g);
        memset(g, 0, sizeof *g);
    }
    return s;
}
