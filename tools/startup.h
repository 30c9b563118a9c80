/* The start of an inference run, phase by phase, for `ctvk bench --startup` and `ctvk warmup`:
 * device setup, network and parameters (or a checkpoint), then the slice classification that
 * `ctvk infer` runs (a synthetic phantom slice at the network's input size, decoded in the
 * background, the forward pass in [eval] batches), with the pipelines it created. */
#ifndef CTVK_TOOLS_STARTUP_H
#define CTVK_TOOLS_STARTUP_H
#include "tools/cli.h"
#include <stddef.h>
#include <stdint.h>

#define STARTUP_SLOWEST 30
#define STARTUP_LAYERS 48

typedef struct startup_run {
    char device[256];
    char arch[64];
    int size, batch;
    double device_ms;        /* ctvk_create: instance, device, pipeline cache read */
    double checkpoint_ms;    /* with a checkpoint: read, network, parameters upload and transforms */
    double net_ms;           /* without: the network (graph, tensors, plan) */
    double params_ms;        /* without: random parameters uploaded, weight transforms */
    double first_ms;         /* the first classification: slice read, first dispatches (compiles) */
    double second_ms;        /* the same again, warm (0 when not run) */
    double identity_ms;      /* with a checkpoint: after the first slice, the wait for the model identity
                                (its SHA-256, started before the device as `ctvk infer` does) */
    int sha256_remembered;   /* the SHA-256 came from the cache folder (this boot, the file unchanged) */
    double destroy_ms;       /* ctvk_destroy: pipeline cache written, driver caches flushed */
    uint64_t pipelines_setup, pipelines_first, pipelines;   /* created by the end of each phase */
    double pipeline_ms;      /* host time in vkCreateComputePipelines, all phases */
    uint64_t cache_hits;     /* creations the driver served from ctvk's pipeline cache */
    uint64_t prewarmed;      /* pipelines created ahead by ctvk_prewarm's worker */
    double prewarm_wait_ms;  /* time dispatches waited for the worker */
    uint64_t helpers;        /* compile helpers started (a cold start on lavapipe) */
    double helpers_wait_ms;  /* time the first submit waited for them */
    int cache_state;         /* 1 ctvk's pipeline cache was read, 0 no file, -1 rejected */
    char cache_note[256];
    int weights_state;       /* the weights cache (CPU devices): ctvk_stats' weights_cache_state at the end */
    char weights_note[320];
    int weights_trusted;     /* a hit whose checksums were verified earlier in this boot */
    int nslowest;
    char slowest[STARTUP_SLOWEST][160];
    double slowest_ms[STARTUP_SLOWEST];
    float prob;              /* P(covid) of the slice (a check that the pass ran) */
    int nlayers;             /* with the profile on: the first slice's slowest labels, device time */
    char layer[STARTUP_LAYERS][96];
    double layer_ms[STARTUP_LAYERS];
    double layers_total_ms;  /* all the first slice's dispatches */
} startup_run;

/* One run as `ctvk infer` makes it, of the network of config (or of checkpoint when not NULL), with
 * the device options of the config and com; classifications: 1 or 2, each of `slices` slices (the
 * same synthetic slice; lavapipe compiles a kernel anew for each distinct batch size, as it folds
 * push constants into the shader). The synthetic slice is written
 * to a temporary folder first (not timed). Prints errors as `ctvk CMD: ...`; returns 0 or an exit
 * status. */
int startup_run_once(const char *cmd, const char *config, const char *checkpoint, const cli_common *com,
                     int classifications, int slices, startup_run *r);

/* What a `ctvk` process costs before main and at exit (dynamic loading, the libraries' static
 * initialisers, exit handlers): the median of three runs of `ctvk --version` in a child (this
 * executable), in ms; 0 where no child could be run. Part of every `ctvk infer`. */
double startup_process_ms(void);

/* The folder of Mesa's on-disk shader cache as Mesa 22 finds it ($MESA_SHADER_CACHE_DIR,
 * $XDG_CACHE_HOME or ~/.cache, then mesa_shader_cache), and the cache files in it now (the index
 * file not counted); -1 where the folder does not exist. */
long startup_mesa_entries(char *dir, size_t n);
#endif
