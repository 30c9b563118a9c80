/* Shared by the commands that run a config (train, cv): the run folder, Ctrl-C, the context. */
#ifndef CTVK_TOOLS_RUN_COMMON_H
#define CTVK_TOOLS_RUN_COMMON_H
#include "ctvk/pipeline.h"
#include "tools/cli.h"

/* [output] dir, or runs/<config name without .ini>. */
void run_dir_of(const ctvk_config *cfg, const char *config_path, char *out, size_t n);
/* Checks the config's schema, creates the run folder and saves the effective config there. */
int run_prepare(const char *cmd, const ctvk_config *cfg, const char *dir);
/* The first Ctrl-C asks training to save and stop; a second one ends the process. */
void run_install_sigint(void);
/* What train and cv do first: load the config with the --set overrides, find and prepare the run
 * folder (dir, n bytes), create the device context and install the Ctrl-C handler. Returns the
 * exit code on failure (already reported), 0 with *cfg and *ctx set otherwise. */
int run_begin(const char *cmd, const char *config, const cli_common *com, ctvk_config **cfg, char *dir, size_t n,
              ctvk_ctx **ctx);
#endif
