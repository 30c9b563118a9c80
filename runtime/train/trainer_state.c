/* One fold's training state on disk and across ranks: the per-epoch logs, last.ckpt and best.ckpt
 * with the progress they carry, resuming (and refusing a resume with other settings), the progress
 * display, and the agreement of data-parallel ranks. */
#include "ctvk/dist.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include "runtime/train/trainer.h"
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- logs and checkpoints */
static ctvk_status write_logs(trainer *t)
{
    size_t cap = 256 + (size_t)t->nhist * 256;
    char *csv = malloc(cap), *json = malloc(cap);
    if (!csv || !json) { free(csv); free(json); return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory"); }
    size_t a = (size_t)snprintf(csv, cap, "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s\n");
    size_t j = (size_t)snprintf(json, cap, "[");
    for (int i = 0; i < t->nhist; i++) {
        const ctvk_epoch_metrics *m = &t->hist[i];
        a += (size_t)snprintf(csv + a, cap - a, "%d,%.6f,%.6f,%.6f,%.6f,%.3f,%.2f\n", m->epoch, m->loss, m->accuracy,
                              m->val_loss, m->val_accuracy, m->seconds, m->images_per_s);
        j += (size_t)snprintf(json + j, cap - j,
                              "%s\n  {\"epoch\": %d, \"loss\": %.6f, \"accuracy\": %.6f, \"val_loss\": %.6f, "
                              "\"val_accuracy\": %.6f, \"seconds\": %.3f, \"images_per_s\": %.2f}",
                              i ? "," : "", m->epoch, m->loss, m->accuracy, isnan(m->val_loss) ? -1.0 : m->val_loss,
                              isnan(m->val_accuracy) ? -1.0 : m->val_accuracy, m->seconds, m->images_per_s);
    }
    j += (size_t)snprintf(json + j, cap - j, "\n]\n");
    char path[4200];
    snprintf(path, sizeof path, "%s/train_log.csv", t->dir);
    ctvk_status s = ctvk__write_file_atomic(path, csv, a);
    snprintf(path, sizeof path, "%s/train_log.json", t->dir);
    if (!s) s = ctvk__write_file_atomic(path, json, j);
    free(csv);
    free(json);
    return s;
}

static char *progress_text(const trainer *t)
{
    size_t cap = 512 + sizeof t->settings + (size_t)t->nhist * 160;
    char *m = malloc(cap);
    if (!m) return NULL;
    size_t a = (size_t)snprintf(m, cap,
                                "best_val_accuracy=%.17g\nbest_val_loss=%.17g\nbest_epoch=%d\nwait=%d\n"
                                "partial_loss=%.17g\npartial_correct=%.17g\npartial_count=%.17g\npartial_seconds=%.17g\n",
                                t->best_val_acc, t->best_val_loss, t->best_epoch, t->wait, t->partial[0],
                                t->partial[1], t->partial[2], t->partial_seconds);
    for (int i = 0; i < t->nhist; i++) {
        const ctvk_epoch_metrics *e = &t->hist[i];
        a += (size_t)snprintf(m + a, cap - a, "epoch=%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", e->epoch, e->loss,
                              e->accuracy, e->val_loss, e->val_accuracy, e->seconds, e->images_per_s);
    }
    snprintf(m + a, cap - a, "%s", t->settings);
    return m;
}

static ctvk_status parse_progress(trainer *t, const char *text)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        char line[512];
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= sizeof line) len = sizeof line - 1;
        memcpy(line, p, len);
        line[len] = 0;
        p = nl ? nl + 1 : NULL;
        double x;
        if (sscanf(line, "best_val_accuracy=%lf", &x) == 1) t->best_val_acc = x;
        else if (sscanf(line, "best_val_loss=%lf", &x) == 1) t->best_val_loss = x;
        else if (sscanf(line, "best_epoch=%d", &t->best_epoch) == 1) {}
        else if (sscanf(line, "wait=%d", &t->wait) == 1) {}
        else if (sscanf(line, "partial_loss=%lf", &t->partial[0]) == 1) {}
        else if (sscanf(line, "partial_correct=%lf", &t->partial[1]) == 1) {}
        else if (sscanf(line, "partial_count=%lf", &t->partial[2]) == 1) {}
        else if (sscanf(line, "partial_seconds=%lf", &t->partial_seconds) == 1) {}
        else if (!strncmp(line, "setting=", 8)) {
            size_t have = strlen(t->saved_settings);
            snprintf(t->saved_settings + have, sizeof t->saved_settings - have, "%s\n", line);
        } else if (!strncmp(line, "epoch=", 6)) {
            ctvk_epoch_metrics e;
            if (sscanf(line, "epoch=%d,%lf,%lf,%lf,%lf,%lf,%lf", &e.epoch, &e.loss, &e.accuracy, &e.val_loss,
                       &e.val_accuracy, &e.seconds, &e.images_per_s) != 7)
                return ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s: bad progress line '%s'", t->last_path, line);
            ctvk_epoch_metrics *h = realloc(t->hist, (size_t)(t->nhist + 1) * sizeof *h);
            if (!h) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
            t->hist = h;
            t->hist[t->nhist++] = e;
        }
    }
    return CTVK_OK;
}

/* Saves params (and, for last.ckpt, the optimizer and progress) atomically. */
static ctvk_status save(trainer *t, const char *path, int with_state)
{
    ctvk_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.model = t->g.cfg;
    ck.params_total = t->g.params_total;
    unsigned char blob[16];
    ck.params = malloc(t->g.params_total * sizeof(float));
    ctvk_status s = ck.params ? CTVK_OK : ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) s = ctvk_net_get_params(t->net, ck.params);
    if (!s && with_state) {
        ck.opt_m = malloc(t->g.params_total * sizeof(float));
        ck.opt_v = malloc(t->g.params_total * sizeof(float));
        if (!ck.opt_m || !ck.opt_v) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
        if (!s) s = ctvk_net_get_optimizer_state(t->net, ck.opt_m, ck.opt_v, blob);
        ck.opt_blob = blob;
        ck.opt_blob_size = sizeof blob;
        ck.epoch = t->epoch;
        ck.step = t->step;
        ck.rng[0] = t->s.seed;
        ck.metrics = progress_text(t);
        if (!ck.metrics && !s) s = ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    }
    if (!s) s = ctvk_checkpoint_save(path, &t->g, &ck);
    free(ck.params);
    free(ck.opt_m);
    free(ck.opt_v);
    free(ck.metrics);
    return s;
}

/* The settings last.ckpt was trained with against those of now (a checkpoint written before they were
 * saved has none: nothing to compare). */
static ctvk_status compare_settings(trainer *t, int allow_changes)
{
    char diff[1536] = "";
    int ndiff = 0;
    for (const char *p = t->saved_settings; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p += len + (nl ? 1 : 0);
        char *eq = strchr(line + 8, '=');
        if (!eq) continue;
        size_t klen = (size_t)(eq - line) + 1;          /* "setting=section.key=" */
        const char *now = NULL;
        char v[256];
        for (const char *q = t->settings; *q;) {
            const char *qn = strchr(q, '\n');
            if (!strncmp(q, line, klen)) {
                snprintf(v, sizeof v, "%.*s", (int)((qn ? qn : q + strlen(q)) - q - (ptrdiff_t)klen), q + klen);
                now = v;
                break;
            }
            q = qn ? qn + 1 : q + strlen(q);
        }
        if (now && strcmp(now, eq + 1)) {
            size_t have = strlen(diff);
            *eq = 0;
            snprintf(diff + have, sizeof diff - have, "%s%s %s -> %s", ndiff ? ", " : "", line + 8, eq + 1, now);
            ndiff++;
        }
    }
    if (!ndiff) return CTVK_OK;
    if (!allow_changes)
        return ctvk__fail(CTVK_ERR_ARG, "checkpoint %s was trained with other settings than the config's now (%s): "
                          "resume with the settings it was trained with, or give --allow-changes to continue with the "
                          "new ones", t->last_path, diff);
    if (t->out) fprintf(t->out, "resuming %s with changed settings (--allow-changes): %s\n", t->last_path, diff);
    return CTVK_OK;
}

ctvk_status ctvk__train_resume_from(trainer *t, int allow_changes)
{
    ctvk_checkpoint ck;
    CTVK_TRY(ctvk_checkpoint_load(t->last_path, &t->g, &ck));
    ctvk_status s = CTVK_OK;
    if (!ck.opt_m || !ck.opt_v || ck.opt_blob_size != 16)
        s = ctvk__fail(CTVK_ERR_FORMAT, "checkpoint %s has no optimizer state: it cannot be resumed", t->last_path);
    if (!s && ck.rng[0] != t->s.seed)
        s = ctvk__fail(CTVK_ERR_ARG, "checkpoint %s was trained with seed %llu, the config says %llu", t->last_path,
                       (unsigned long long)ck.rng[0], (unsigned long long)t->s.seed);
    if (!s) s = parse_progress(t, ck.metrics ? ck.metrics : "");
    if (!s) s = compare_settings(t, allow_changes);
    if (!s) s = ctvk_net_set_params(t->net, ck.params);
    if (!s) s = ctvk_net_set_optimizer_state(t->net, ck.opt_m, ck.opt_v, ck.opt_blob);
    if (!s) {
        t->epoch = (int)ck.epoch;
        t->step = (int)ck.step;
        /* the interrupted epoch's sums are global: rank 0 carries them, the others start from zero */
        double zero[3] = {0, 0, 0};
        if (t->step) s = ctvk_net_set_stats(t->net, t->rank == 0 ? t->partial : zero);
    }
    ctvk_checkpoint_free(&ck);
    return s;
}

/* ---------------------------------------------------------------- progress */
void ctvk__train_show_step(trainer *t, int e, int step, int steps, const double st[3], double secs)
{
    if (!t->out || !t->bar) return;
    double ips = secs > 0 ? st[2] / secs : 0, left = ips > 0 ? (steps - step) * (st[2] / step) / ips : 0;
    int width = 24, done = steps ? width * step / steps : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '=' : i == done ? '>' : ' ';
    bar[width] = 0;
    fprintf(t->out, "\repoch %d/%d [%s] %d/%d loss %.4f acc %.4f %.1f img/s ETA %d:%02d  ", e + 1, t->s.epochs, bar,
            step, steps, st[0] / st[2], st[1] / st[2], ips, (int)left / 60, (int)left % 60);
    fflush(t->out);
}

void ctvk__train_show_epoch(trainer *t, const ctvk_epoch_metrics *m, int best)
{
    if (!t->out) return;
    if (t->bar) fprintf(t->out, "\r%*s\r", 110, "");
    fprintf(t->out, "epoch %d/%d: loss %.4f accuracy %.4f", m->epoch, t->s.epochs, m->loss, m->accuracy);
    if (!isnan(m->val_loss)) fprintf(t->out, " val_loss %.4f val_accuracy %.4f", m->val_loss, m->val_accuracy);
    fprintf(t->out, " (%.1f s, %.1f img/s)%s\n", m->seconds, m->images_per_s, best ? " best" : "");
    fflush(t->out);
}

/* ---------------------------------------------------------------- ranks */
/* FNV-1a over the parameters' bytes: equal on every rank when the ranks stay identical. */
static uint64_t checksum(const float *p, size_t n)
{
    return ctvk__fnv1a(CTVK__FNV_BASIS, p, n * sizeof *p);
}

/* Per-rank batch norm leaves each rank its own moving statistics: they become the ranks' mean
 * (before validation and every checkpoint), and then the weights of all ranks must agree bit for
 * bit, which the checksum proves. Ranks can still drift apart (devices of different kinds round
 * Nadam's square roots differently): then rank 0's weights and optimizer state go to every rank,
 * with a warning. */
ctvk_status ctvk__train_sync_ranks(trainer *t, int epoch)
{
    if (t->ranks < 2) return CTVK_OK;
    size_t n = t->g.params_total;
    float *p = malloc(3 * n * sizeof *p);
    if (!p) return ctvk__fail(CTVK_ERR_NOMEM, "out of host memory");
    ctvk_status s = ctvk_net_get_params(t->net, p);
    for (int i = 0; !s && !t->s.sync_bn && i < t->g.nlayers; i++) {
        const ctvk_layer *l = &t->g.layers[i];
        for (int k = 0; !s && k < l->nparams; k++) {
            if (l->params[k].trainable) continue;
            float *v = p + l->params[k].offset;
            s = ctvk_dist_sum_f32(v, l->params[k].count);
            for (size_t j = 0; j < l->params[k].count; j++) v[j] /= (float)t->ranks;
        }
    }
    if (!s && t->rank == 1 && ctvk__fault("diverge")) p[0] += 1e-3f;   /* tests: a rank drifts */
    if (!s && !t->s.sync_bn) s = ctvk_net_set_params(t->net, p);
    uint64_t h = s ? 0 : checksum(p, n);
    int same = 1;
    if (!s) s = ctvk_dist_same_u64(h, &same);
    if (!s && !same) {
        unsigned char blob[16];
        if (t->out)
            fprintf(t->out, "warning: after epoch %d the %d ranks' weights differ (rank 0's checksum %016llx): "
                    "rank 0's weights and optimizer state now go to every rank\n", epoch, t->ranks,
                    (unsigned long long)h);
        s = ctvk_net_get_optimizer_state(t->net, p + n, p + 2 * n, blob);
        if (!s) s = ctvk_dist_bcast(p, 3 * n * sizeof *p);
        if (!s) s = ctvk_dist_bcast(blob, sizeof blob);
        if (!s) s = ctvk_net_set_params(t->net, p);
        if (!s) s = ctvk_net_set_optimizer_state(t->net, p + n, p + 2 * n, blob);
        if (!s) s = ctvk_dist_same_u64(h = checksum(p, n), &same);
        if (!s && !same)
            s = ctvk__fail(CTVK_ERR_DIST, "the ranks' weights still differ after rank 0's were sent to all");
    } else if (!s && t->out && epoch > 0) {
        fprintf(t->out, "epoch %d: weights identical on %d ranks (checksum %016llx)\n", epoch, t->ranks,
                (unsigned long long)h);
    }
    free(p);
    return s;
}

/* Checkpoints and logs come from rank 0; every rank learns whether that worked. */
ctvk_status ctvk__train_save_agreed(trainer *t, const char *path, int with_state)
{
    ctvk_status s = t->rank == 0 ? save(t, path, with_state) : CTVK_OK;
    return ctvk_dist_agree(s);
}

ctvk_status ctvk__train_logs_agreed(trainer *t)
{
    return ctvk_dist_agree(t->rank == 0 ? write_logs(t) : CTVK_OK);
}
