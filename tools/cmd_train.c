/* ctvk train: train one fold of a config. */
#include "tools/run_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_train_help[] =
    "usage: ctvk train CONFIG --fold K [--resume [--allow-changes]] [--overwrite] [--set section.key=value ...]\n"
    "                  [--device D]\n\n"
    "Trains fold K of the config's dataset into RUN/foldK (RUN = [output] dir, default runs/<config name>):\n"
    "a progress bar per epoch on a terminal (loss, accuracy, images/s, ETA) or one line per epoch in a log,\n"
    "validation after each epoch, RUN/foldK/best.ckpt (best validation accuracy), RUN/foldK/last.ckpt\n"
    "(latest state), RUN/foldK/train_log.csv and .json. Ctrl-C saves last.ckpt at the end of the current\n"
    "step and exits; --resume continues from it and reaches the same weights as an uninterrupted run.\n"
    "Early stopping ([train] early_stopping) follows Keras: val_loss, patience, min_delta.\n"
    "A fold folder that holds an earlier run is never overwritten: --resume continues it (refused when the\n"
    "training settings differ from last.ckpt's, listing them, unless --allow-changes), --overwrite removes\n"
    "its results and starts again. The run folder is locked while a train or cv writes into it: a second\n"
    "one is refused, naming the holder.\n\n"
    "Data parallel (ctvk built with -DCTVK_MPI=ON): mpirun -np N ctvk train CONFIG --fold K runs N ranks,\n"
    "each on its own device (the local rank picks among the best devices; [device] name or --device may\n"
    "give a comma list, one entry per local rank), each taking its share of every [train] batch; the\n"
    "gradients are summed over the ranks before each Nadam step. [train] sync_bn = true computes batch\n"
    "statistics over all ranks (N ranks then train what one rank would); rank 0 writes checkpoints and\n"
    "logs, and a weight checksum compared after every epoch shows the ranks stay identical.\n";

int cmd_train(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    int fold = 0, resume = 0, overwrite = 0;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("train", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (!strcmp(argv[i], "--fold")) {
            if (i + 1 >= argc) return cli_usage_error("train", "--fold needs a number");
            char *end;
            long f = strtol(argv[i + 1], &end, 10);
            if (*end || f < 1 || f > 1000) return cli_usage_error("train", "--fold %s: expected 1, 2, ...", argv[i + 1]);
            fold = (int)f;
            i += 2;
            continue;
        }
        if (!strcmp(argv[i], "--resume")) { resume |= 1; i++; continue; }
        if (!strcmp(argv[i], "--allow-changes")) { resume |= CTVK_RESUME_ALLOW_CHANGES; i++; continue; }
        if (!strcmp(argv[i], "--overwrite")) { overwrite = 1; i++; continue; }
        if (argv[i][0] == '-') return cli_usage_error("train", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("train", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    if (!config) return cli_usage_error("train", "a config file is required");
    if (!fold) return cli_usage_error("train", "--fold K is required");
    if (resume == CTVK_RESUME_ALLOW_CHANGES) return cli_usage_error("train", "--allow-changes goes with --resume");
    if ((resume & 1) && overwrite) return cli_usage_error("train", "--resume and --overwrite exclude each other");
    ctvk_config *cfg;
    ctvk_ctx *ctx = NULL;
    char dir[4096];
    int rc = run_load("train", config, &com, &cfg, dir, sizeof dir);
    if (rc) return rc;
    if ((rc = run_lock("train", dir, argc, argv)) || (rc = run_check_fold("train", dir, fold, resume, overwrite)) ||
        (rc = run_start("train", cfg, &com, dir, &ctx)))
        goto out;
    ctvk_train_result r;
    if (ctvk_train_fold(ctx, cfg, fold, dir, resume, stderr, &r)) {
        rc = cli_fail("train");
        if (r.interrupted) rc = 130;
        goto out;
    }
    if (ctvk_dist_rank() == 0)
        printf("fold %d: %d epochs, best %s accuracy %.4f at epoch %d%s: %s\n", fold, r.epochs_run,
               r.validated ? "validation" : "training (no validation: [train] validation = none)", r.best_val_accuracy,
               r.best_epoch, r.stopped_early ? " (stopped early)" : "", r.best_checkpoint);
out:
    ctvk_destroy(ctx);
    ctvk_config_free(cfg);
    return rc;
}
