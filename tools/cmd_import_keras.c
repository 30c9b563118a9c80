/* ctvk import-keras: Keras HDF5 weights (e.g. ImageNet) into a ctvk checkpoint. */
#include "ctvk/checkpoint.h"
#include "tools/cli.h"
#include "ctvk/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SEED 42

const char cmd_import_keras_help[] =
    "usage: ctvk import-keras WEIGHTS.h5 --out CKPT [--config CONFIG] [--set section.key=value] ...\n\n"
    "Reads a Keras HDF5 weight file (what model.save_weights writes, or a whole-model ModelCheckpoint file\n"
    "with /model_weights) into a new checkpoint of the network of the config's [model] section, as Keras'\n"
    "load_weights(by_name=True, skip_mismatch=True): layers are matched by name and their weights in order;\n"
    "a weight whose shape differs (the 1-channel conv1_conv kernel against the RGB ImageNet one) is skipped\n"
    "while the layer's other weights load. Weights the file lacks keep their initialisation (glorot-uniform\n"
    "kernels, N(0, 0.001) for the FPN head's dense kernels, zero biases; seed [train] seed, default 42).\n"
    "Prints what was loaded and what was skipped, and why.\n\n"
    "  --out CKPT       the checkpoint to write (through a temporary file and a rename)\n"
    "  --allow-partial  write it even when the file did not fill every model weight or some of the\n"
    "                   file's weights were not used (refused otherwise: a transfer to a 1-channel\n"
    "                   input or another head is partial, a file of another model is mostly unused)\n"
    "  --config CONFIG  the INI config ([model] arch, input_size, ...; default: resnet50v2_fpn, 512x512x1)\n"
    "  --set model.conv1_from_rgb=sum   sum an RGB conv1_conv kernel over its input channels instead of\n"
    "                   skipping it (default skip)\n";

static void print_lines(const char *title, int count, const char *lines, int limit)
{
    if (!count) return;
    printf("%s: %d\n", title, count);
    int n = 0;
    for (const char *p = lines; p && *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (n++ < limit) printf("  %.*s\n", len, p);
        p += len + (nl ? 1 : 0);
    }
    if (n > limit) printf("  ... and %d more\n", n - limit);
}

int cmd_import_keras(int argc, char **argv)
{
    const char *cmd = "import-keras";
    cli_common com = {0};
    const char *weights = NULL, *config = NULL, *out = NULL;
    int allow_partial = 0;
    for (int i = 1; i < argc;) {
        int k = cli_common_take(cmd, &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a file name", argv[i]);
            *(argv[i][2] == 'c' ? &config : &out) = argv[i + 1];
            i += 2;
            continue;
        }
        if (!strcmp(argv[i], "--allow-partial")) { allow_partial = 1; i++; continue; }
        if (argv[i][0] == '-') return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (weights) return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        weights = argv[i++];
    }
    if (!weights) return cli_usage_error(cmd, "missing the Keras weight file (WEIGHTS.h5)");
    if (!out) return cli_usage_error(cmd, "missing --out CKPT");

    ctvk_config *cfg = NULL;
    int rc = cli_load_config(cmd, config, &com, &cfg);
    if (rc) return rc;
    ctvk_model_config mc;
    ctvk_graph g;
    const char *mode;
    long seed;
    if (ctvk_model_config_load(cfg, &mc) || ctvk_config_str(cfg, "model", "conv1_from_rgb", "skip", &mode) ||
        ctvk_config_int(cfg, "train", "seed", DEFAULT_SEED, 0, 0x7FFFFFFFL, &seed)) {
        ctvk_config_free(cfg);
        return cli_fail(cmd);
    }
    ctvk_conv1_from_rgb conv1 = !strcmp(mode, "sum") ? CTVK_CONV1_SUM : CTVK_CONV1_SKIP;
    if (strcmp(mode, "sum") && strcmp(mode, "skip")) {
        fprintf(stderr, "ctvk %s: config %s: [model] conv1_from_rgb = '%s': expected skip or sum\n", cmd,
                ctvk_config_path(cfg), mode);
        ctvk_config_free(cfg);
        return 1;
    }
    ctvk_config_free(cfg);
    if (ctvk_graph_build(&mc, &g)) return cli_fail(cmd);

    ctvk_checkpoint ck = {0};
    ck.params_total = g.params_total;
    ck.params = malloc((g.params_total ? g.params_total : 1) * sizeof(float));
    if (!ck.params) { ctvk_graph_free(&g); fprintf(stderr, "ctvk %s: out of host memory\n", cmd); return 1; }
    ctvk_graph_init_params(&g, ck.params, (uint64_t)seed);
    ctvk_keras_report rep;
    if (ctvk_keras_import(weights, &g, ck.params, conv1, &rep)) {
        free(ck.params);
        ctvk_graph_free(&g);
        return cli_fail(cmd);
    }
    printf("keras weights %s: %d layers in the file, %d of them in the %s model\n", weights, rep.file_layers,
           rep.matched_layers, g.cfg.arch);
    printf("loaded: %d weights (%zu floats)", rep.weights_loaded, rep.floats_loaded);
    if (rep.weights_summed) printf(", conv1_conv/kernel:0 summed over its input channels (conv1_from_rgb = sum)");
    printf("\n");
    print_lines("skipped (the model's weights keep their initialisation)", rep.weights_skipped, rep.skipped, 1000);
    int nun = 0;
    for (const char *p = rep.unmatched; p && *p; p++) nun += *p == '\n';
    print_lines("layers with weights in the file but not in the model (ignored)", nun, rep.unmatched, 20);
    char title[128];
    snprintf(title, sizeof title, "model weights not in the file (initialised, seed %ld)", seed);
    print_lines(title, rep.weights_missing, rep.missing, 20);
    if (!allow_partial && ctvk_keras_check_complete(weights, &g, &rep, "--allow-partial")) {
        ctvk_keras_report_free(&rep);
        free(ck.params);
        ctvk_graph_free(&g);
        return cli_fail(cmd);
    }

    char metrics[1536];
    snprintf(metrics, sizeof metrics, "imported_from=%s\nweights_loaded=%d\nweights_skipped=%d\nweights_initialised=%d\n"
             "init_seed=%ld\n", weights, rep.weights_loaded, rep.weights_skipped, rep.weights_missing, seed);
    ck.metrics = metrics;
    uint64_t st = (uint64_t)seed;
    for (int i = 0; i < 4; i++) ck.rng[i] = ctvk_splitmix64(&st);  /* splitmix64 of the seed: a defined RNG state */
    ctvk_status s = ctvk_checkpoint_save(out, &g, &ck);
    ck.metrics = NULL;
    ctvk_keras_report_free(&rep);
    free(ck.params);
    if (s) { ctvk_graph_free(&g); return cli_fail(cmd); }
    printf("wrote %s (%s, head %s, input %dx%dx%d, %zu parameters)\n", out, g.cfg.arch, g.cfg.head, g.cfg.height,
           g.cfg.width, g.cfg.channels, g.params_count);
    ctvk_graph_free(&g);
    return 0;
}
