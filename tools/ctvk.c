/* ctvk: the command line. `ctvk help` lists the subcommands; `ctvk CMD --help` explains one. */
#include "tools/cli.h"
#include "ctvk/dist.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

int cmd_devices(int argc, char **argv);
int cmd_smoke(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_phantom(int argc, char **argv);
int cmd_select(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_cv(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_import_keras(int argc, char **argv);
int cmd_export_keras(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_warmup(int argc, char **argv);
extern const char cmd_devices_help[], cmd_smoke_help[], cmd_summary_help[], cmd_bench_help[];
extern const char cmd_import_keras_help[], cmd_export_keras_help[];
extern const char cmd_phantom_help[], cmd_select_help[], cmd_dataset_help[], cmd_train_help[], cmd_cv_help[];
extern const char cmd_eval_help[], cmd_infer_help[], cmd_report_help[], cmd_compare_help[], cmd_warmup_help[];

const cli_command cli_commands[] = {
    {"devices", cmd_devices, "list Vulkan devices and which one would be chosen", cmd_devices_help},
    {"smoke", cmd_smoke, "run the first kernels on the device and compare with the C reference", cmd_smoke_help},
    {"phantom", cmd_phantom, "write a synthetic CT phantom dataset", cmd_phantom_help},
    {"select", cmd_select, "run the slice-selection algorithm on CT series", cmd_select_help},
    {"dataset", cmd_dataset, "print images and patients per class for each fold", cmd_dataset_help},
    {"summary", cmd_summary, "print a network's layers, shapes and parameter counts", cmd_summary_help},
    {"train", cmd_train, "train one fold", cmd_train_help},
    {"cv", cmd_cv, "5-fold cross-validation with patient-level results", cmd_cv_help},
    {"eval", cmd_eval, "evaluate a checkpoint on a fold's test set", cmd_eval_help},
    {"infer", cmd_infer, "classify one patient's CT series", cmd_infer_help},
    {"import-keras", cmd_import_keras, "import Keras HDF5 weights into a checkpoint", cmd_import_keras_help},
    {"export-keras", cmd_export_keras, "export a checkpoint as Keras HDF5 weights", cmd_export_keras_help},
    {"compare", cmd_compare, "how far apart the weights of two checkpoints are", cmd_compare_help},
    {"bench", cmd_bench, "measure kernel and network speed on the device", cmd_bench_help},
    {"warmup", cmd_warmup, "compile the kernels of configs ahead of the first run", cmd_warmup_help},
    {"report", cmd_report, "write an HTML report of a run", cmd_report_help},
    {NULL, NULL, NULL, NULL}};

static int help(void)
{
    printf("ctvk: convolutional networks on any Vulkan device, for COVID-19 detection from lung CT.\n\n"
           "usage: ctvk COMMAND [ARGS]   (ctvk COMMAND --help for details)\n\ncommands:\n");
    for (const cli_command *c = cli_commands; c->name; c++)
        printf("  %-13s %s%s\n", c->name, c->summary, c->run ? "" : " (not yet available)");
    printf("\nenvironment: CTVK_DEVICE (index or name), CTVK_VALIDATION=1 (Khronos validation layer),\n"
           "  CTVK_CACHE_DIR (pipeline cache folder), CTVK_RENDERDOC=1 (RenderDoc capture),\n"
           "  CTVK_VULKAN_LIBRARY (Vulkan loader to load), LP_NUM_THREADS (lavapipe threads)\n");
    return 0;
}

/* The value shown for an option at argv[i]: "--x=v" as it is, "--x v" with its value. */
static void shown(int argc, char **argv, int i, char *buf, size_t n)
{
    if (!strchr(argv[i], '=') && i + 1 < argc && strncmp(argv[i + 1], "--", 2))
        snprintf(buf, n, "%s %s", argv[i], argv[i + 1]);
    else
        snprintf(buf, n, "%s", argv[i]);
}

/* An option given twice (--set twice for the same key) is a usage error naming both: the command
 * would otherwise take one of them silently. argv[0] is the command. */
static int repeated_option(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) continue;
        size_t n = strcspn(a, "=");
        int set = n == 5 && !strncmp(a, "--set", 5);
        const char *sv = set ? (a[5] == '=' ? a + 6 : i + 1 < argc ? argv[i + 1] : "") : NULL;
        for (int j = 1; j < i; j++) {
            const char *b = argv[j];
            if (strncmp(b, a, n) || (b[n] && b[n] != '=')) continue;
            if (j > 1 && !strcmp(argv[j - 1], "--set")) continue;   /* a value, not an option */
            if (set) {
                const char *bv = b[5] == '=' ? b + 6 : j + 1 < argc ? argv[j + 1] : "";
                size_t ka = strcspn(sv, "="), kb = strcspn(bv, "=");
                if (ka != kb || strncasecmp(sv, bv, ka)) continue;
                return cli_usage_error(argv[0], "--set %.*s is given twice (argument %d: %s, argument %d: %s)", (int)ka,
                                       sv, j, bv, i, sv);
            }
            char x[512], y[512];
            shown(argc, argv, j, x, sizeof x);
            shown(argc, argv, i, y, sizeof y);
            return cli_usage_error(argv[0], "%.*s is given twice (argument %d: %s, argument %d: %s)", (int)n, a, j, x,
                                   i, y);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help();
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || cli_is_help(name)) {
        if (argc > 2 && !cli_print_help(argv[2])) return 0;
        return argc > 2 ? cli_usage_error("help", "unknown command '%s'", argv[2]) : help();
    }
    if (!strcmp(name, "--version")) { printf("ctvk 0.1.0\n"); return 0; }
    for (const cli_command *c = cli_commands; c->name; c++) {
        if (strcmp(c->name, name)) continue;
        if (argc > 2 && cli_is_help(argv[2])) return cli_print_help(name);
        if (!c->run) {
            fprintf(stderr, "ctvk %s: not available in this version yet\n", name);
            return 1;
        }
        /* under an MPI launcher (mpirun, srun) every rank runs the command: include/ctvk/dist.h */
        if (repeated_option(argc - 1, argv + 1)) return 2;
        if (ctvk_dist_init(&argc, &argv)) return cli_fail(name);
        int rc = c->run(argc - 1, argv + 1);
        uint32_t msgs = ctvk_validation_messages_total();
        if (msgs) {   /* the validation layer found misuse of Vulkan: a bug to report, not a success */
            fprintf(stderr, "ctvk %s: the Vulkan validation layer reported %u problem(s) (above)\n", name, msgs);
            if (rc == 0) rc = 3;
        }
        /* a failure the other ranks do not know of would leave them waiting: stop them */
        if (rc && ctvk_dist_world_size() > 1 && !ctvk_dist_failure_agreed()) ctvk_dist_abort(rc);
        ctvk_dist_finalize();
        return rc;
    }
    fprintf(stderr, "ctvk: unknown command '%s'\nusage: ctvk COMMAND [ARGS]; 'ctvk help' lists the commands\n", name);
    return 2;
}
