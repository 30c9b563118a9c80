/* Private: one fold's training state, shared by trainer.c (settings, setup, the epochs) and
 * trainer_state.c (logs, checkpoints, resuming, progress, agreement between ranks). */
#ifndef CTVK_RUNTIME_TRAIN_TRAINER_H
#define CTVK_RUNTIME_TRAIN_TRAINER_H
#include "ctvk/checkpoint.h"
#include "ctvk/pipeline.h"
#include "net/train_ops.h"
#include <stdint.h>
#include <stdio.h>

typedef struct settings {
    int epochs, batch, eval_batch, shuffle, validation, early, patience, loader_threads, aug, progress, skip_bad;
    int micro_batch, sync_bn;
    long max_steps;
    double min_delta;
    uint64_t seed;
    ctvk_optimizer opt;
    ctvk_augment_config augc;
    float scale, offset;
    const char *weights;
    int weights_partial;
    ctvk_conv1_from_rgb conv1;
} settings;

enum { VAL_VALIDATION, VAL_TEST, VAL_NONE };
enum { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES, PROGRESS_NONE };

/* ---------------------------------------------------------------- the state of a fold */
typedef struct trainer {
    ctvk_ctx *ctx;
    settings s;
    ctvk_graph g;
    ctvk_net *net;
    int size, resize, classes;
    ctvk_value_options values;
    int rank, ranks;                      /* data-parallel ranks (ctvk_dist); 1 without MPI */
    int local_max;                        /* samples one backprop takes: the rank's share or a micro-batch */
    float *recs;                          /* augmentation records of a whole global batch */
    ctvk_tensor *pixels, *augp;          /* uint16 batch, augmentation records */
    ctvk_tensor *v_pixels, *v_input, *v_augp;   /* views for the current batch size */
    int vn;
    float *labels;
    char dir[4096], last_path[4200], best_path[4200];
    char settings[2048], saved_settings[2048];   /* now, and those last.ckpt was trained with */
    /* progress of the run (saved in last.ckpt) */
    int epoch, step;                      /* next step to run */
    double best_val_acc, best_val_loss;
    int best_epoch, wait;
    double partial[3], partial_seconds;   /* training sums of the interrupted epoch */
    ctvk_epoch_metrics *hist;
    int nhist;
    FILE *out;
    int bar;
} trainer;

/* trainer_state.c */
/* Loads last.ckpt into the net and the progress (refusing another seed, or changed settings unless
 * allow_changes). */
ctvk_status ctvk__train_resume_from(trainer *t, int allow_changes);
/* The progress bar (a terminal) and the epoch line. */
void ctvk__train_show_step(trainer *t, int e, int step, int steps, const double st[3], double secs);
void ctvk__train_show_epoch(trainer *t, const ctvk_epoch_metrics *m, int best);
/* Before validation and every checkpoint: the ranks' BN statistics averaged, weights proven equal. */
ctvk_status ctvk__train_sync_ranks(trainer *t, int epoch);
/* A checkpoint / the logs written by rank 0, the outcome agreed by all ranks. */
ctvk_status ctvk__train_save_agreed(trainer *t, const char *path, int with_state);
ctvk_status ctvk__train_logs_agreed(trainer *t);
#endif
