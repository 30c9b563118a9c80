/* "Who made this answer": the identity of the model behind a decision, which every output that
 * carries one (infer's text and JSON, eval's tables and eval.json, the report) states together with
 * CTVK_NOTICE.
 *
 * The identity: the architecture and input size (from the checkpoint), the checkpoint's path and
 * SHA-256 (OpenSSL's libcrypto), the training config (the run folder's config.ini when the
 * checkpoint sits in RUN/foldK/, as `ctvk train` and `ctvk cv` write it, with its SHA-256 and
 * [train] seed; "not available" otherwise, e.g. for an import-keras checkpoint elsewhere), the ctvk
 * version and the device that computed the answer. */
#ifndef CTVK_IDENTITY_H
#define CTVK_IDENTITY_H
#include "ctvk/ctvk.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CTVK_NOTICE "research use only, not for diagnosis"

typedef struct ctvk_model_identity {
    char arch[32];
    int height, width;
    char checkpoint[4096];
    char checkpoint_sha256[65];   /* lower-case hex */
    char train_config[4200];      /* "" when not found */
    char train_config_sha256[65];
    int has_seed;
    uint64_t train_seed;          /* [train] seed of train_config (its default 1 when the key is absent) */
    char version[32];             /* ctvk's */
    char device[256];
    int checkpoint_sha256_remembered;   /* 1: ctvk_model_identity_start found it in ctvk's cache folder,
                                           computed earlier in this boot of the same unchanged file */
} ctvk_model_identity;

/* The library's version ("0.1.0"). */
const char *ctvk_version(void);
/* SHA-256 of n bytes / of a file's contents, as 64 lower-case hex digits and a NUL. */
ctvk_status ctvk_sha256_hex(const void *data, size_t n, char hex[65]);
ctvk_status ctvk_sha256_file(const char *path, char hex[65]);
/* The identity of checkpoint `ckpt` answering on `device` (a name; NULL: "unknown"). Fails naming
 * the file when the checkpoint cannot be read; a training config that cannot be read is "not
 * available", not an error. */
ctvk_status ctvk_model_identity_get(const char *ckpt, const char *device, ctvk_model_identity *id);
/* The same on a thread of its own, so that the checkpoint's SHA-256 (0.1 s for the FPN's 136 MB)
 * overlaps the caller's work: `ctvk infer` starts it before the device is set up, which on a CPU
 * device leaves a core idle. The SHA-256 is remembered in ctvk's cache folder (cache_dir as
 * ctvk_options.cache_dir: NULL the default, "" none) for the rest of the boot, and taken from there
 * while the file's inode, size and modification and change times are unchanged; a file changed in
 * the last 2 s is not remembered. start reads the checkpoint's model config on the caller's thread
 * (HDF5 is not thread safe), the thread only plain files; it fails only when out of host memory
 * (where no thread can be started, finish computes the identity itself; a checkpoint that cannot be
 * read fails in finish). finish waits for it, fills id as
 * ctvk_model_identity_get would (device as there) and frees the job; with id NULL it only waits
 * and frees (an error path), and a NULL job does nothing. Every started job is finished once. */
typedef struct ctvk_identity_job ctvk_identity_job;
ctvk_status ctvk_model_identity_start(const char *ckpt, const char *cache_dir, ctvk_identity_job **job);
ctvk_status ctvk_model_identity_finish(ctvk_identity_job *job, const char *device, ctvk_model_identity *id);
/* `"model": {...}, "notice": "..."` (no trailing comma) / a few lines of text ending in the notice. */
void ctvk_model_identity_json(FILE *f, const ctvk_model_identity *id);
void ctvk_model_identity_text(FILE *f, const ctvk_model_identity *id);

#ifdef __cplusplus
}
#endif
#endif
