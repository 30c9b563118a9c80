/* The ctvk command line: one small file per subcommand (tools/cmd_*.c), each exposing
 * `int cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand) and a help text. Only tools/
 * prints and exits; the library reports through ctvk_error(). Exit codes: 0 ok, 1 failure, 3 the
 * validation layer (CTVK_VALIDATION=1) reported a problem,
 * 2 usage error. */
#ifndef CTVK_TOOLS_CLI_H
#define CTVK_TOOLS_CLI_H
#include "ctvk/config.h"
#include "ctvk/dist.h"
#include "ctvk/ctvk.h"
#include "ctvk/net.h"

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *help;          /* full text for `ctvk NAME --help` */
} cli_command;

extern const cli_command cli_commands[];

/* Prints "ctvk CMD: message" (and a usage hint) to stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ctvk CMD: <ctvk_error()>" to stderr; returns 1. */
int cli_fail(const char *cmd);
/* 1 if argv[i] is --help or -h. */
int cli_is_help(const char *arg);
/* Prints the help of a command; returns 0. */
int cli_print_help(const char *cmd);

/* Common options every command understands. `--set s.k=v` (repeatable), `--device D`,
 * `--profile`, `--validation`. cli_common_take returns how many argv entries it consumed at i
 * (0 if argv[i] is not a common option, -1 on a usage error, already reported). */
typedef struct cli_common {
    const char *sets[64];
    int nsets;
    const char *device;
    int profile, validation, renderdoc;
} cli_common;
int cli_common_take(const char *cmd, cli_common *c, int argc, char **argv, int i);
/* Loads the config at path (NULL: none) and applies --set overrides; prints errors. */
int cli_load_config(const char *cmd, const char *path, const cli_common *c, ctvk_config **out);
/* Device options from the config's [device] section and the common flags. */
int cli_device_options(const char *cmd, const ctvk_config *cfg, const cli_common *c, ctvk_options *o);

/* Creates folder dir (its parent must exist) or accepts it when it exists and is empty; otherwise
 * prints why (naming the option) and returns 1. */
int cli_empty_folder(const char *cmd, const char *option, const char *dir);
/* ctvk_prewarm for the inference of the network of mc in batches of `batch` (infer, eval,
 * bench --startup, warmup: one list of pipelines per architecture, input and batch). */
ctvk_status cli_prewarm_inference(ctvk_ctx *ctx, const ctvk_model_config *mc, int batch);
/* ctvk bench op (tools/cmd_bench_op.c), reached through ctvk bench. */
int cmd_bench_op(int argc, char **argv);
extern const char cmd_bench_op_help[];
/* 1 if stderr is a terminal (progress bars), 0 in logs. */
int cli_is_tty(void);
#endif
