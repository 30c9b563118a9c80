/* Small utilities of the library for its command line (tools/) and for embedding programs: the
 * clock, setting the error message, files written atomically or read only when regular, folders
 * and their locks, integer lists, and the project's random numbers. The library itself uses their
 * private forms (runtime/base/); these are the same functions. */
#ifndef CTVK_UTIL_H
#define CTVK_UTIL_H
#include "ctvk/ctvk.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic seconds since an arbitrary start. */
double ctvk_now(void);
/* Sets the message ctvk_error() returns (printf format) and returns s. */
ctvk_status ctvk_fail(ctvk_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* mkdir -p; fails with a message naming the folder. */
ctvk_status ctvk_mkdirs(const char *path);
/* 1 if path exists (any kind). */
int ctvk_path_exists(const char *path);
/* Replaces path atomically with data: a temporary file beside it, synced, renamed over path, the
 * folder synced; on failure the earlier file stays and the message names path and the cause. */
ctvk_status ctvk_write_file_atomic(const char *path, const void *data, size_t len);
/* The same for a file written piecewise: ctvk_file_begin opens the temporary file (its name in tmp),
 * ctvk_file_commit closes it and replaces path with it (or removes it and says why). */
ctvk_status ctvk_file_begin(const char *path, char *tmp, size_t tmpsize, FILE **f);
ctvk_status ctvk_file_commit(FILE *f, const char *tmp, const char *path);
/* Opens path for binary reading only when it is a regular file (never blocks on a FIFO or a
 * device); NULL with *err (may be NULL) and errno set otherwise. */
FILE *ctvk_fopen_regular(const char *path, int *err);
/* Locks folder dir for this process until it ends (dir/.ctvk.lock names the holder); fails naming
 * the folder and the holder when another process holds it. */
ctvk_status ctvk_lock_dir(const char *dir, const char *holder);

/* A comma-separated list of decimal integers in [lo, hi], at most max of them (rules: runtime/base/list.h):
 * their count, or -1. */
int ctvk_parse_ints(const char *text, int *out, int max, long lo, long hi);
/* The next value of the splitmix64 generator with state *state (the project's random numbers). */
uint64_t ctvk_splitmix64(uint64_t *state);

/* Pipelines the context has created so far (n, in creation order): each one's key (kernel,
 * binding signature, specialization constants) and the milliseconds vkCreateComputePipelines took.
 * NULL past the end. */
int ctvk_pipeline_count(const ctvk_ctx *ctx);
const char *ctvk_pipeline_info(const ctvk_ctx *ctx, int i, double *create_ms);

/* Starts creating, on a worker thread, the pipelines that the last context of this `workload`
 * (any name: "infer resnet50v2_fpn 512x512x1 batch 10") created on this device, in that order,
 * while the caller goes on (builds its network, reads its checkpoint); a dispatch that needs one of
 * them takes it from the worker, waiting if the worker is creating it. The list lives next to the
 * pipeline cache (pipelines-VVVV-DDDD-HASH.keys, written atomically by ctvk_destroy with what this
 * context created; a list for other shaders or that cannot be read is ignored). Nothing happens
 * without a cache folder; a pipeline the worker fails to create is created again where it is
 * needed, with its error. Once per context. */
ctvk_status ctvk_prewarm(ctvk_ctx *ctx, const char *workload);

#ifdef __cplusplus
}
#endif
#endif
