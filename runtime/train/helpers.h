/* Compile helpers (helpers.c): threads with their own devices that compile a network's kernels
 * ahead of the main context on a cold start. */
#ifndef CTVK_TRAIN_HELPERS_H
#define CTVK_TRAIN_HELPERS_H

#include "ctvk/net.h"
#include "runtime/vk/internal.h"

/* How many helpers ctvk__compile_helpers_start would start for ctx now (0: none pay here). */
int ctvk__compile_helpers_wanted(const ctvk_ctx *ctx);
/* Starts them for an inference network of config mc at this batch; the main context joins them
 * before its first submit. Nothing to check: a helper that cannot run leaves its kernels to ctx. */
void ctvk__compile_helpers_start(ctvk_ctx *ctx, const ctvk_model_config *mc, int batch);

#endif
