/* ctvk summary: a Keras-like table of a network's layers, output shapes and parameters. */
#include "ctvk/net.h"
#include "tools/cli.h"
#include <stdio.h>
#include <string.h>

const char cmd_summary_help[] =
    "usage: ctvk summary [CONFIG] [--set model.arch=resnet50v2_fpn] [--set model.input_size=512] ...\n\n"
    "Prints the network of the config's [model] section layer by layer (Keras layer name and type,\n"
    "output shape, parameters, inputs) and the totals. Keys: arch (resnet50, resnet50v2, resnet50v2_fpn,\n"
    "small_resnet), head (fpn, gap, none), input_size or height/width, channels, classes, dropout,\n"
    "bn_eps; for small_resnet: stages, blocks, widths.\n";

int cmd_summary(int argc, char **argv)
{
    cli_common com = {0};
    const char *config = NULL;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("summary", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if (argv[i][0] == '-') return cli_usage_error("summary", "unknown option '%s'", argv[i]);
        if (config) return cli_usage_error("summary", "unexpected argument '%s'", argv[i]);
        config = argv[i++];
    }
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("summary", config, &com, &cfg);
    if (rc) return rc;
    ctvk_model_config mc;
    ctvk_graph g;
    if (ctvk_model_config_load(cfg, &mc) || ctvk_graph_build(&mc, &g)) {
        ctvk_config_free(cfg);
        return cli_fail("summary");
    }
    ctvk_graph_summary(&g, stdout);
    ctvk_graph_free(&g);
    ctvk_config_free(cfg);
    return 0;
}
