/* ctvk export-keras: a ctvk checkpoint as a Keras HDF5 weight file. */
#include "ctvk/checkpoint.h"
#include "tools/cli.h"
#include <stdio.h>
#include <string.h>

const char cmd_export_keras_help[] =
    "usage: ctvk export-keras CKPT --out WEIGHTS.h5\n\n"
    "Writes the parameters of a checkpoint as a Keras HDF5 weight file, the layout model.save_weights writes\n"
    "(root attributes layer_names, backend, keras_version; one group per layer with its weight_names;\n"
    "float32 datasets in Keras shapes: conv HWIO, dense (in, out)), so that Keras' model.load_weights can\n"
    "read the trained weights into the same architecture. Written to a temporary file, then renamed.\n";

int cmd_export_keras(int argc, char **argv)
{
    const char *cmd = "export-keras";
    const char *ckpt = NULL, *out = NULL;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--out")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "--out needs a file name");
            out = argv[i + 1];
            i += 2;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (ckpt) return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        ckpt = argv[i++];
    }
    if (!ckpt) return cli_usage_error(cmd, "missing the checkpoint (CKPT)");
    if (!out) return cli_usage_error(cmd, "missing --out WEIGHTS.h5");
    ctvk_checkpoint ck;
    if (ctvk_checkpoint_load(ckpt, NULL, &ck)) return cli_fail(cmd);
    ctvk_graph g;
    if (ctvk_graph_build(&ck.model, &g)) { ctvk_checkpoint_free(&ck); return cli_fail(cmd); }
    ctvk_status s = ctvk_keras_export(out, &g, ck.params);
    ctvk_checkpoint_free(&ck);
    if (s) { ctvk_graph_free(&g); return cli_fail(cmd); }
    int tensors = 0;
    for (int i = 0; i < g.nlayers; i++) tensors += g.layers[i].nparams;
    printf("wrote %s: %d layers, %d weights, %zu parameters (%s, input %dx%dx%d)\n", out, g.nlayers, tensors,
           g.params_count, g.cfg.arch, g.cfg.height, g.cfg.width, g.cfg.channels);
    ctvk_graph_free(&g);
    return 0;
}
