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
/* What train and cv do, in this order, so that a refused command changes nothing:
 * run_load: the config with the --set overrides, checked against the schema, and its run folder
 *   (dir, n bytes);
 * run_lock: creates the run folder and locks it for this process (RUN/.ctvk.lock, naming the
 *   holder: pid, host, command line); a second writer is refused naming the folder and the holder;
 * run_check_fold: refuses to train fold k over an earlier run (last.ckpt without --resume, results
 *   without a last.ckpt to resume) unless overwrite, which removes them;
 * run_start: saves RUN/config.ini, creates the device context and installs the Ctrl-C handler.
 * Each returns the exit code on failure (already reported), 0 otherwise; under MPI world rank 0
 * locks and checks and every rank learns the outcome. */
int run_load(const char *cmd, const char *config, const cli_common *com, ctvk_config **cfg, char *dir, size_t n);
int run_lock(const char *cmd, const char *dir, int argc, char **argv);
int run_check_fold(const char *cmd, const char *dir, int k, int resume, int overwrite);
int run_start(const char *cmd, const ctvk_config *cfg, const cli_common *com, const char *dir, ctvk_ctx **ctx);
#endif
