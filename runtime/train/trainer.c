/* Training one fold: the loader decodes batches ahead, the device augments them, the executor
 * runs the step; validation each epoch, the best checkpoint by validation accuracy, early stopping,
 * per-epoch logs, Ctrl-C and --resume. Everything a step draws at random derives from (seed, epoch,
 * step), so a resumed run repeats exactly what an uninterrupted one does. */
#include "ctvk/dist.h"
#include "ctvk/pipeline.h"
#include "runtime/base/config_keys.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include "runtime/train/trainer.h"
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t ctvk_interrupt_requested;

static ctvk_status read_settings(const ctvk_config *cfg, settings *s)
{
    long v;
    double d;
    int b;
    const char *str;
    memset(s, 0, sizeof *s);
    CTVK_TRY(ctvk__key_int(cfg, "train", "epochs", &v)); s->epochs = (int)v;
    CTVK_TRY(ctvk__key_int(cfg, "train", "batch", &v)); s->batch = (int)v;
    CTVK_TRY(ctvk__key_int(cfg, "eval", "batch", &v)); s->eval_batch = (int)v;
    CTVK_TRY(ctvk__key_num(cfg, "train", "lr", &s->opt.lr));
    CTVK_TRY(ctvk__key_num(cfg, "train", "beta1", &s->opt.beta1));
    CTVK_TRY(ctvk__key_num(cfg, "train", "beta2", &s->opt.beta2));
    CTVK_TRY(ctvk__key_num(cfg, "train", "epsilon", &s->opt.eps));
    CTVK_TRY(ctvk__key_num(cfg, "train", "schedule_decay", &s->opt.schedule_decay));
    CTVK_TRY(ctvk__key_int(cfg, "train", "seed", &v)); s->seed = (uint64_t)v;
    CTVK_TRY(ctvk__key_bool(cfg, "train", "shuffle", &s->shuffle));
    CTVK_TRY(ctvk__key_bool(cfg, "train", "early_stopping", &s->early));
    CTVK_TRY(ctvk__key_int(cfg, "train", "patience", &v)); s->patience = (int)v;
    CTVK_TRY(ctvk__key_num(cfg, "train", "min_delta", &s->min_delta));
    CTVK_TRY(ctvk__key_int(cfg, "train", "max_steps_per_epoch", &s->max_steps));
    CTVK_TRY(ctvk__key_int(cfg, "train", "micro_batch", &v)); s->micro_batch = (int)v;
    CTVK_TRY(ctvk__key_bool(cfg, "train", "sync_bn", &s->sync_bn));
    CTVK_TRY(ctvk__key_str(cfg, "train", "validation", &str));
    s->validation = !strcasecmp(str, "test") ? VAL_TEST : !strcasecmp(str, "none") ? VAL_NONE : VAL_VALIDATION;
    CTVK_TRY(ctvk__key_int(cfg, "data", "loader_threads", &v)); s->loader_threads = (int)v;
    CTVK_TRY(ctvk__key_bool(cfg, "data", "skip_bad", &s->skip_bad));
    CTVK_TRY(ctvk__key_num(cfg, "data", "scale", &d)); s->scale = (float)d;
    CTVK_TRY(ctvk__key_num(cfg, "data", "offset", &d)); s->offset = (float)d;
    CTVK_TRY(ctvk__key_bool(cfg, "augment", "enabled", &s->aug));
    ctvk_augment_config_default(&s->augc);
    CTVK_TRY(ctvk__key_num(cfg, "augment", "rotation_range", &s->augc.rotation_range));
    CTVK_TRY(ctvk__key_num(cfg, "augment", "shear_range", &s->augc.shear_range));
    CTVK_TRY(ctvk__key_num(cfg, "augment", "zoom_range", &d));
    s->augc.zoom_lo = 1 - d;
    s->augc.zoom_hi = 1 + d;
    CTVK_TRY(ctvk__key_num(cfg, "augment", "width_shift_range", &s->augc.width_shift_range));
    CTVK_TRY(ctvk__key_num(cfg, "augment", "height_shift_range", &s->augc.height_shift_range));
    CTVK_TRY(ctvk__key_bool(cfg, "augment", "horizontal_flip", &s->augc.horizontal_flip));
    CTVK_TRY(ctvk__key_bool(cfg, "augment", "vertical_flip", &s->augc.vertical_flip));
    CTVK_TRY(ctvk__key_bool(cfg, "augment", "legacy_centre", &b)); s->augc.legacy_centre = b;
    CTVK_TRY(ctvk__key_str(cfg, "model", "weights", &s->weights));
    CTVK_TRY(ctvk__key_bool(cfg, "model", "weights_partial", &s->weights_partial));
    CTVK_TRY(ctvk__key_str(cfg, "model", "conv1_from_rgb", &str));
    s->conv1 = !strcasecmp(str, "sum") ? CTVK_CONV1_SUM : CTVK_CONV1_SKIP;
    CTVK_TRY(ctvk__key_str(cfg, "output", "progress", &str));
    s->progress = !strcasecmp(str, "bar") ? PROGRESS_BAR : !strcasecmp(str, "lines") ? PROGRESS_LINES
                  : !strcasecmp(str, "none") ? PROGRESS_NONE : PROGRESS_AUTO;
    return CTVK_OK;
}

/* The settings that shape what training does, one "setting=section.key=value" line each, saved in
 * last.ckpt so that --resume can say what changed ([train] epochs may grow: not listed). */
static void settings_text(const settings *s, int resize, char *buf, size_t n)
{
    const ctvk_augment_config *a = &s->augc;
    snprintf(buf, n,
             "setting=train.batch=%d\nsetting=train.lr=%.10g\nsetting=train.beta1=%.10g\nsetting=train.beta2=%.10g\n"
             "setting=train.epsilon=%.10g\nsetting=train.schedule_decay=%.10g\nsetting=train.shuffle=%d\n"
             "setting=train.validation=%s\nsetting=train.early_stopping=%d\nsetting=train.patience=%d\n"
             "setting=train.min_delta=%.10g\nsetting=train.max_steps_per_epoch=%ld\nsetting=train.micro_batch=%d\n"
             "setting=train.sync_bn=%d\nsetting=data.scale=%.9g\nsetting=data.offset=%.9g\nsetting=data.resize=%d\n"
             "setting=data.skip_bad=%d\nsetting=augment.enabled=%d\nsetting=augment.rotation_range=%.10g\n"
             "setting=augment.shear_range=%.10g\nsetting=augment.zoom_range=%.10g\n"
             "setting=augment.width_shift_range=%.10g\nsetting=augment.height_shift_range=%.10g\n"
             "setting=augment.horizontal_flip=%d\nsetting=augment.vertical_flip=%d\nsetting=augment.legacy_centre=%d\n",
             s->batch, s->opt.lr, s->opt.beta1, s->opt.beta2, s->opt.eps, s->opt.schedule_decay, s->shuffle,
             s->validation == VAL_TEST ? "test" : s->validation == VAL_NONE ? "none" : "validation", s->early,
             s->patience, s->min_delta, s->max_steps, s->micro_batch, s->sync_bn, (double)s->scale, (double)s->offset,
             resize, s->skip_bad, s->aug, a->rotation_range, a->shear_range, a->zoom_hi - 1, a->width_shift_range,
             a->height_shift_range, a->horizontal_flip, a->vertical_flip, a->legacy_centre);
}

/* splitmix64 of a few words: the per-step seeds. */
static uint64_t mix(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t z = a ^ (b * CTVK__GOLDEN) ^ (c * 0xC2B2AE3D27D4EB4Full);
    z = ctvk__splitmix_final(z + CTVK__GOLDEN);
    return ctvk__splitmix_final(z + CTVK__GOLDEN);
}

static ctvk_status bind_views(trainer *t, int n)
{
    if (n == t->vn) return CTVK_OK;
    ctvk_tensor_destroy(t->v_pixels);
    ctvk_tensor_destroy(t->v_input);
    ctvk_tensor_destroy(t->v_augp);
    t->v_pixels = t->v_input = t->v_augp = NULL;
    t->vn = 0;
    ctvk_shape s = {n, t->size, t->size, 1};
    CTVK_TRY(ctvk_tensor_view(t->pixels, 0, s, "slices", &t->v_pixels));
    CTVK_TRY(ctvk_tensor_view(ctvk_net_input(t->net), 0, s, "input", &t->v_input));
    CTVK_TRY(ctvk_tensor_view(t->augp, 0, (ctvk_shape){1, 1, n, CTVK_AUGMENT_RECORD}, "augment", &t->v_augp));
    t->vn = n;
    return CTVK_OK;
}

static void one_hot(trainer *t, const ctvk_batch *b)
{
    memset(t->labels, 0, (size_t)b->n * (size_t)t->classes * sizeof *t->labels);
    for (int i = 0; i < b->n; i++) t->labels[(size_t)i * t->classes + b->labels[i]] = 1.0f;
}

/* Uploads n slices and writes the network input: augmented with the records recs (n of them), or
 * converted when recs is NULL. */
static ctvk_status stage(trainer *t, const uint16_t *pixels, int n, const float *recs)
{
    CTVK_TRY(bind_views(t, n));
    CTVK_TRY(ctvk_tensor_upload(t->v_pixels, pixels, (size_t)n * t->size * t->size * sizeof(uint16_t)));
    if (!recs) return ctvk_convert_u16_to_f32(t->ctx, t->v_pixels, t->s.scale, t->s.offset, t->v_input);
    CTVK_TRY(ctvk_tensor_upload(t->v_augp, recs, (size_t)n * CTVK_AUGMENT_RECORD * sizeof(float)));
    return ctvk_augment(t->ctx, t->v_pixels, t->v_augp, t->s.scale, t->s.offset, t->v_input);
}

/* The augmentation of every sample of a global batch of `count`, drawn in order from the step's
 * seed, so that each rank's share gets what one rank would draw for those samples. */
static void draw_records(trainer *t, int count, uint64_t step_seed)
{
    uint64_t rng = step_seed;
    for (int i = 0; i < count; i++) {
        ctvk_augment_params p;
        ctvk_augment_draw(&t->s.augc, &rng, t->size, t->size, &p);
        ctvk_augment_record(&t->s.augc, &p, t->size, t->size, t->recs + (size_t)i * CTVK_AUGMENT_RECORD);
    }
}

/* ---------------------------------------------------------------- epochs */
/* Validation: each rank takes a contiguous share of the list, the sums are added over ranks. */
static ctvk_status validate(trainer *t, const ctvk_image_list *list, double *loss, double *acc)
{
    *loss = *acc = NAN;
    if (!list || list->n == 0) return CTVK_OK;
    size_t lo = list->n * (size_t)t->rank / (size_t)t->ranks, hi = list->n * ((size_t)t->rank + 1) / (size_t)t->ranks;
    int batch = t->s.eval_batch < t->local_max ? t->s.eval_batch : t->local_max;
    double st[3] = {0, 0, 0};
    ctvk_status s = ctvk_net_val_stats(t->net, st, 1);
    if (!s && hi > lo) {
        ctvk_loader_options lo_opt = {.n = hi - lo, .paths = (const char *const *)list->paths + lo,
                                      .labels = list->labels + lo, .batch = batch, .size = t->size,
                                      .resize = t->resize, .values = t->values, .epochs = 1, .threads = t->s.loader_threads,
                                      .skip_bad = t->s.skip_bad};
        ctvk_loader *l;
        s = ctvk_loader_create(&lo_opt, &l);
        for (;;) {
            ctvk_batch b;
            if (s || (s = ctvk_loader_next(l, &b)) || b.n == 0) break;
            one_hot(t, &b);
            s = stage(t, b.pixels, b.n, NULL);
            if (!s) s = ctvk_net_validate(t->net, b.n, t->labels);
            if (!s) s = ctvk_sync(t->ctx);
            ctvk_loader_release(l, &b);
        }
        if (l) ctvk_loader_destroy(l);
        if (!s) s = ctvk_net_val_stats(t->net, st, 1);
    }
    s = ctvk_dist_agree(s);
    if (!s) s = ctvk_dist_sum_f64(st, 3);
    if (!s && st[2] > 0) { *loss = st[0] / st[2]; *acc = st[1] / st[2]; }
    return s;
}

/* Where this rank's kept samples start in the global batch and how many the batch keeps (after
 * skipped slices): every rank's count, summed over ranks. */
static ctvk_status shares(trainer *t, int n, int *first, int *total)
{
    double counts[64], *c = t->ranks <= 64 ? counts : calloc((size_t)t->ranks, sizeof *c);
    if (!c) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    memset(c, 0, (size_t)t->ranks * sizeof *c);
    c[t->rank] = n;
    ctvk_status s = ctvk_dist_sum_f64(c, (size_t)t->ranks);
    *first = *total = 0;
    for (int r = 0; !s && r < t->ranks; r++) {
        if (r < t->rank) *first += (int)c[r];
        *total += (int)c[r];
    }
    if (c != counts) free(c);
    return s;
}

/* One step on this rank's share b of a global batch: its samples are [first, first + b->n) of the
 * `total` the batch keeps. Micro-batches of at most local_max samples (the same number on every
 * rank, some maybe empty, so that the ranks' collectives pair up), their gradients added, summed
 * over the ranks, then Nadam. */
static ctvk_status train_step(trainer *t, const ctvk_batch *b, int first, int total, int e)
{
    uint64_t aug_seed = mix(t->s.seed, (uint64_t)e, (uint64_t)t->step);
    uint64_t seed = mix(t->s.seed, (uint64_t)e, (uint64_t)t->step + (1ull << 40));
    int share = (b->global_n + t->ranks - 1) / t->ranks;   /* the largest share of any rank */
    int parts = (share + t->local_max - 1) / t->local_max;
    if (parts < 1) parts = 1;
    if (t->s.aug) draw_records(t, first + b->n, aug_seed);
    one_hot(t, b);
    for (int j = 0; j < parts; j++) {
        int a = b->n * j / parts, z = b->n * (j + 1) / parts;
        ctvk_step_part part = {first + a, total, j > 0};
        if (z > a) {
            CTVK_TRY(stage(t, b->pixels + (size_t)a * t->size * t->size, z - a,
                           t->s.aug ? t->recs + (size_t)(first + a) * CTVK_AUGMENT_RECORD : NULL));
        }
        CTVK_TRY(ctvk_net_backprop(t->net, z - a, t->labels + (size_t)a * t->classes, seed, &part));
    }
    CTVK_TRY(ctvk_net_sum_gradients(t->net));
    return ctvk_net_apply_gradients(t->net);
}

/* The steps of epoch e from t->step on (st: the epoch's running sums, t0: its start). */
static ctvk_status epoch_steps(trainer *t, ctvk_loader *l, int e, long steps, double st[3], double t0,
                               ctvk_train_result *out)
{
    ctvk_status s = CTVK_OK;
    while (!s && t->step < steps) {
        ctvk_batch b;
        s = ctvk_dist_agree(ctvk_loader_next(l, &b));
        if (s || b.ended) break;
        int first = 0, total = 0;       /* this rank's place in the global batch, after skipped slices */
        s = shares(t, b.n, &first, &total);
        if (!s && total > 0) {
            s = train_step(t, &b, first, total, e);
            /* the other ranks may be inside a collective of this step: stop them all */
            if (s && t->ranks > 1) {
                fprintf(stderr, "ctvk train: rank %d of %d: %s\n", t->rank, t->ranks, ctvk_error());
                ctvk_dist_abort(1);
            }
        }
        ctvk_loader_release(l, &b);
        /* the epoch's sums over all ranks, and whether any rank was asked to stop */
        double g[4] = {0, 0, 0, ctvk__fault("interrupt") || ctvk_interrupt_requested};
        if (!s) s = ctvk_dist_agree(ctvk_net_stats(t->net, g, 0));
        if (!s) s = ctvk_dist_sum_f64(g, 4);
        if (s) break;
        memcpy(st, g, 3 * sizeof *st);
        if (ctvk__fault("nan-loss")) st[0] = NAN;   /* tests: a diverging run */
        t->step++;
        /* decisions from the summed values only, which are the same on every rank */
        if (!isfinite(st[0]))
            s = ctvk_dist_agree(ctvk__fail(CTVK_ERR_ARG, "training diverged: the loss is %s at epoch %d, step %d; "
                                           "the last good checkpoint is %s (try a smaller [train] lr)",
                                           isnan(st[0]) ? "NaN" : "infinite", e + 1, t->step,
                                           ctvk__exists(t->last_path) ? t->last_path : "(none yet)"));
        ctvk__train_show_step(t, e, t->step, (int)steps, st, ctvk__now() - t0);
        if (g[3] > 0) ctvk_interrupt_requested = 1;
        if (!s && g[3] > 0 && t->step < steps) {
            memcpy(t->partial, st, sizeof t->partial);
            t->partial_seconds = ctvk__now() - t0;
            s = ctvk__train_sync_ranks(t, 0);
            if (!s) s = ctvk__train_save_agreed(t, t->last_path, 1);
            if (!s) s = ctvk_dist_agree(ctvk__fail(CTVK_ERR_INTERRUPTED, "interrupted at epoch %d, step %d: saved "
                                                   "%s; continue with --resume", e + 1, t->step, t->last_path));
            out->interrupted = 1;
        }
    }
    return s;
}

/* After epoch e's steps: the metrics, validation, best.ckpt, early stopping, the logs and last.ckpt;
 * *stopped when early stopping ends the run. */
static ctvk_status end_epoch(trainer *t, const ctvk_image_list *val, int e, const double st[3], double t0,
                             int *stopped, ctvk_train_result *out)
{
    ctvk_epoch_metrics m = {.epoch = e + 1, .loss = st[0] / st[2], .accuracy = st[1] / st[2],
                            .seconds = ctvk__now() - t0};
    m.images_per_s = st[2] / m.seconds;
    CTVK_TRY(ctvk__train_sync_ranks(t, e + 1));
    CTVK_TRY(validate(t, val, &m.val_loss, &m.val_accuracy));
    int best = val ? (t->best_epoch == 0 || m.val_accuracy > t->best_val_acc) : 1;
    if (best) {
        t->best_val_acc = val ? m.val_accuracy : m.accuracy;
        t->best_epoch = e + 1;
        CTVK_TRY(ctvk__train_save_agreed(t, t->best_path, 0));
    }
    /* early stopping on val_loss as Keras' EarlyStopping(patience, min_delta) */
    int stop = 0;
    if (val && t->s.early) {
        if (t->nhist == 0 || m.val_loss < t->best_val_loss - t->s.min_delta) { t->best_val_loss = m.val_loss; t->wait = 0; }
        else if (++t->wait > t->s.patience) stop = 1;
    }
    ctvk_epoch_metrics *h = realloc(t->hist, (size_t)(t->nhist + 1) * sizeof *h);
    if (!h) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    t->hist = h;
    t->hist[t->nhist++] = m;
    ctvk__train_show_epoch(t, &m, best);
    t->epoch = e + 1;
    t->step = 0;
    memset(t->partial, 0, sizeof t->partial);
    t->partial_seconds = 0;
    CTVK_TRY(ctvk__train_logs_agreed(t));
    CTVK_TRY(ctvk__train_save_agreed(t, t->last_path, 1));
    if (stop) {
        out->stopped_early = 1;
        if (t->out) fprintf(t->out, "early stopping: val_loss did not improve for %d epoch(s)\n", t->wait);
    }
    *stopped = stop;
    return CTVK_OK;
}

static ctvk_status run(trainer *t, const ctvk_fold *f, ctvk_train_result *out)
{
    const ctvk_image_list *val = t->s.validation == VAL_TEST ? &f->test
                                 : t->s.validation == VAL_NONE ? NULL : &f->validation;
    ctvk_loader_options lo = {.n = f->train.n, .paths = (const char *const *)f->train.paths,
                              .labels = f->train.labels, .batch = t->s.batch, .size = t->size,
                              .resize = t->resize, .values = t->values, .shuffle = t->s.shuffle, .seed = t->s.seed,
                              .epochs = t->s.epochs, .threads = t->s.loader_threads, .skip_bad = t->s.skip_bad,
                              .part = t->rank, .parts = t->ranks};
    ctvk_loader *probe;
    CTVK_TRY(ctvk_loader_create(&lo, &probe));
    long per_epoch = (long)ctvk_loader_batches_per_epoch(probe);
    ctvk_loader_destroy(probe);
    long steps = t->s.max_steps && t->s.max_steps < per_epoch ? t->s.max_steps : per_epoch;
    ctvk_status s = CTVK_OK;
    while (!s && t->epoch < t->s.epochs) {
        int e = t->epoch;
        lo.start_batch = (long long)e * per_epoch + t->step;
        lo.epochs = e + 1;
        ctvk_loader *l;
        CTVK_TRY(ctvk_loader_create(&lo, &l));
        /* the running sums are global: rank 0 carries those of an interrupted epoch */
        double t0 = ctvk__now() - t->partial_seconds, st[3] = {t->partial[0], t->partial[1], t->partial[2]};
        if (t->step == 0) s = ctvk_net_stats(t->net, st, 1);
        if (!s) s = epoch_steps(t, l, e, steps, st, t0, out);
        char bad[512];
        double skipped = (double)ctvk_loader_skipped(l, bad, sizeof bad);
        ctvk_loader_destroy(l);
        if (s) break;
        CTVK_TRY(ctvk_dist_sum_f64(&skipped, 1));
        if (skipped > 0 && t->out)
            fprintf(t->out, "epoch %d: skipped %.0f unreadable slices ([data] skip_bad)%s%s\n", e + 1, skipped,
                    !*bad ? "" : t->ranks > 1 ? ", the last rank 0 saw: " : ", the last: ", bad);
        int stop = 0;
        CTVK_TRY(end_epoch(t, val, e, st, t0, &stop, out));
        if (stop) break;
        double stop_now = ctvk_interrupt_requested;     /* Ctrl-C may reach the ranks at different times */
        CTVK_TRY(ctvk_dist_max_f64(&stop_now, 1));
        if (stop_now > 0) {
            out->interrupted = 1;
            return ctvk_dist_agree(ctvk__fail(CTVK_ERR_INTERRUPTED, "interrupted after epoch %d: saved %s; continue "
                                              "with --resume", e + 1, t->last_path));
        }
    }
    return s;
}

/* The settings, the data, the model config and the fold, and the fold's folder (not yet holding a run
 * unless resuming). */
static ctvk_status open_fold(trainer *t, const ctvk_config *cfg, int k, const char *run_dir, int resume,
                             ctvk_data_options *dopt, ctvk_model_config *mc, ctvk_dataset **ds, const ctvk_fold **f)
{
    ctvk_status s = read_settings(cfg, &t->s);
    if (!s && t->s.batch < t->ranks)
        s = ctvk__fail(CTVK_ERR_ARG, "config %s: [train] batch %d is smaller than the %d ranks: each rank needs a "
                       "sample of every batch", ctvk_config_path(cfg), t->s.batch, t->ranks);
    t->bar = t->out && (t->s.progress == PROGRESS_BAR || (t->s.progress == PROGRESS_AUTO && isatty(fileno(t->out))));
    if (t->s.progress == PROGRESS_NONE) t->out = NULL;
    t->local_max = (t->s.batch + t->ranks - 1) / t->ranks;
    if (t->s.micro_batch && t->s.micro_batch < t->local_max) t->local_max = t->s.micro_batch;
    if (!s) s = ctvk_data_from_config(cfg, dopt);
    if (!s) settings_text(&t->s, dopt->resize, t->settings, sizeof t->settings);
    if (!s) s = ctvk_model_config_load(cfg, mc);
    if (!s && (mc->height != mc->width || mc->channels != 1))
        s = ctvk__fail(CTVK_ERR_ARG, "config %s: [model] training needs a square 1-channel input (got %dx%dx%d)",
                       ctvk_config_path(cfg), mc->height, mc->width, mc->channels);
    if (!s) s = ctvk_dataset_open(dopt, ds);
    for (int i = 0; !s && i < (*ds)->nfolds; i++) if ((*ds)->folds[i].k == k) *f = &(*ds)->folds[i];
    if (!s && !*f) s = ctvk__fail(CTVK_ERR_ARG, "config %s: the dataset has no fold %d (it has %d)", ctvk_config_path(cfg), k,
                                 (*ds)->nfolds);
    if (!s && (*f)->train.n == 0) s = ctvk__fail(CTVK_ERR_ARG, "fold %d has no training images", k);
    if (!s) {
        snprintf(t->dir, sizeof t->dir, "%s/fold%d", run_dir, k);
        snprintf(t->last_path, sizeof t->last_path, "%s/last.ckpt", t->dir);
        snprintf(t->best_path, sizeof t->best_path, "%s/best.ckpt", t->dir);
        s = ctvk__mkdirs(t->dir);
    }
    if (!s && !(resume & 1) && ctvk__exists(t->last_path))
        s = ctvk__fail(CTVK_ERR_ARG, "%s already holds a training run: continue it with --resume, or train into another "
                       "folder (--set output.dir=...)", t->dir);
    return s;
}

/* The graph, the net, the batch tensors and the host buffers. */
static ctvk_status create_net(trainer *t, const ctvk_model_config *mc, const ctvk_data_options *dopt)
{
    ctvk_status s = ctvk_graph_build(mc, &t->g);
    if (!s) {
        t->size = mc->height;
        t->resize = dopt->resize;
        t->values = dopt->values;
        t->classes = mc->classes;
        s = ctvk_net_create(t->ctx, &t->g, t->local_max, 1, &t->net);
    }
    if (!s) {
        ctvk_net_set_optimizer(t->net, &t->s.opt);
        s = ctvk_net_set_sync_bn(t->net, t->s.sync_bn && t->ranks > 1);
    }
    if (!s) s = ctvk_tensor_create(t->ctx, CTVK_U16, (ctvk_shape){t->local_max, t->size, t->size, 1}, "slices", &t->pixels);
    if (!s)
        s = ctvk_tensor_create(t->ctx, CTVK_F32, (ctvk_shape){1, 1, t->local_max, CTVK_AUGMENT_RECORD}, "augment", &t->augp);
    if (!s) {
        t->labels = malloc((size_t)t->s.batch * (size_t)t->classes * sizeof *t->labels);
        t->recs = malloc((size_t)t->s.batch * CTVK_AUGMENT_RECORD * sizeof *t->recs);
        if (!t->labels || !t->recs) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    return s;
}

/* The weights to start from: last.ckpt when resuming, else the initialisation (and [model] weights). */
static ctvk_status start_weights(trainer *t, int resume, int allow_changes)
{
    ctvk_status s = CTVK_OK;
    if (resume && ctvk__exists(t->last_path)) {
        s = ctvk__train_resume_from(t, allow_changes);
        if (!s && t->out) fprintf(t->out, "resuming %s at epoch %d, step %d\n", t->last_path, t->epoch + 1, t->step);
    } else {
        float *p = malloc(t->g.params_total * sizeof *p);
        if (!p) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        if (!s) ctvk_graph_init_params(&t->g, p, t->s.seed);
        if (!s && t->s.weights && *t->s.weights) {
            ctvk_keras_report rep;
            s = ctvk_keras_import(t->s.weights, &t->g, p, t->s.conv1, &rep);
            if (!s && t->out)
                fprintf(t->out, "loaded %d weight tensors from %s (%d skipped, %d left at their initialisation)\n",
                        rep.weights_loaded, t->s.weights, rep.weights_skipped, rep.weights_missing);
            if (!s && !t->s.weights_partial)
                s = ctvk_keras_check_complete(t->s.weights, &t->g, &rep, "[model] weights_partial = true");
            ctvk_keras_report_free(&rep);
        }
        if (!s) s = ctvk_net_set_params(t->net, p);
        free(p);
    }
    return s;
}

/* What is about to be trained, on what. */
static void announce(const trainer *t, int k, const ctvk_fold *f, const ctvk_model_config *mc)
{
    if (!t->out) return;
    fprintf(t->out, "fold %d: %zu training images, %zu validation images, %s %dx%d, batch %d, %d epochs, on %s\n", k,
            f->train.n, t->s.validation == VAL_NONE ? (size_t)0 : t->s.validation == VAL_TEST ? f->test.n
            : f->validation.n, mc->arch, t->size, t->size, t->s.batch, t->s.epochs, ctvk_device(t->ctx)->name);
    if (t->ranks > 1)
        fprintf(t->out, "data parallel: %d ranks, up to %d samples each per step, %s batch norm\n", t->ranks,
                (t->s.batch + t->ranks - 1) / t->ranks, t->s.sync_bn ? "synchronised" : "per-rank");
    if (t->local_max < (t->s.batch + t->ranks - 1) / t->ranks)
        fprintf(t->out, "micro-batches of up to %d samples, gradients added before each Nadam step\n", t->local_max);
}

/* Every rank must start from the same run folder state. */
static ctvk_status same_start(trainer *t)
{
    ctvk_status s = CTVK_OK;
    if (t->ranks > 1) {
        int same;
        s = ctvk_dist_same_u64(mix((uint64_t)t->epoch, (uint64_t)t->step, (uint64_t)t->nhist), &same);
        if (!s && !same)
            s = ctvk__fail(CTVK_ERR_ARG, "the ranks found different training states in %s (epoch %d, step %d on rank "
                           "%d): the run folder must be on a file system every rank sees", t->dir, t->epoch + 1, t->step,
                           t->rank);
    }
    return s;
}

static void trainer_free(trainer *t)
{
    ctvk_tensor_destroy(t->v_pixels);
    ctvk_tensor_destroy(t->v_input);
    ctvk_tensor_destroy(t->v_augp);
    ctvk_tensor_destroy(t->pixels);
    ctvk_tensor_destroy(t->augp);
    ctvk_net_destroy(t->net);
    ctvk_graph_free(&t->g);
    free(t->labels);
    free(t->recs);
    free(t->hist);
}

ctvk_status ctvk_train_fold(ctvk_ctx *ctx, const ctvk_config *cfg, int k, const char *run_dir, int resume,
                            void *progress, ctvk_train_result *out)
{
    memset(out, 0, sizeof *out);
    trainer t;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.out = progress;
    t.rank = ctvk_dist_rank();
    t.ranks = ctvk_dist_size();
    if (t.rank != 0) t.out = NULL;        /* rank 0 reports for all */
    /* Until the agreement below, a failure on any rank (a bad config fails on all) goes on to it, so
     * that every rank stops together with one message. */
    ctvk_data_options dopt;
    ctvk_dataset *ds = NULL;
    ctvk_model_config mc;
    const ctvk_fold *f = NULL;
    ctvk_status s = open_fold(&t, cfg, k, run_dir, resume, &dopt, &mc, &ds, &f);
    if (!s) s = create_net(&t, &mc, &dopt);
    if (!s) s = start_weights(&t, resume & 1, (resume & CTVK_RESUME_ALLOW_CHANGES) != 0);
    if (!s) announce(&t, k, f, &mc);
    if (!s) s = same_start(&t);
    s = ctvk_dist_agree(s);              /* every rank is ready, or all stop */
    if (!s) {
        s = run(&t, f, out);
        /* every failure of a distributed run is agreed by all ranks or, when one rank failed alone
         * (the others may be waiting in a collective), ends the job */
        if (s && t.ranks > 1 && !ctvk_dist_failure_agreed()) {
            fprintf(stderr, "ctvk train: rank %d of %d: %s\n", t.rank, t.ranks, ctvk_error());
            ctvk_dist_abort(1);
        }
    }
    out->epochs_run = t.nhist;
    out->best_epoch = t.best_epoch;
    out->best_val_accuracy = t.best_val_acc;
    out->validated = t.s.validation != VAL_NONE;
    snprintf(out->best_checkpoint, sizeof out->best_checkpoint, "%s", t.best_path);
    char *msg = s ? strdup(ctvk_error()) : NULL;
    trainer_free(&t);
    ctvk_dataset_free(ds);
    if (s) {
        if (!msg) return ctvk__fail(s, "training failed (out of host memory for its message)");
        ctvk__fail(s, "%s", msg);
        free(msg);
        return s;
    }
    return CTVK_OK;
}
