/* ctvk compare: how far apart the parameters of two checkpoints of one architecture are. */
#include "ctvk/checkpoint.h"
#include "tools/cli.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_compare_help[] =
    "usage: ctvk compare A.ckpt B.ckpt [--tolerance T] [--relative-to INIT.ckpt | --seed S]\n\n"
    "Compares the parameters of two checkpoints of the same architecture (e.g. the same training on one\n"
    "and on several MPI ranks) tensor by tensor and prints the largest absolute difference, where it\n"
    "is, and how many values differ at all. With --relative-to (another checkpoint, e.g. the starting\n"
    "weights) or --seed (the Keras initialisation of that seed, as `ctvk train` starts from), it also\n"
    "prints how far training moved the weights, max |A - INIT|, and the ratio of the two: the share of\n"
    "the training's own movement by which the runs disagree. --tolerance T exits 1 when the largest\n"
    "difference (or, with a reference, the ratio) exceeds T. --tensors lists every tensor's largest\n"
    "difference.\n";

int cmd_compare(int argc, char **argv)
{
    const char *cmd = "compare", *path[2] = {NULL, NULL}, *ref = NULL;
    double tol = -1;
    int tensors = 0;
    long long seed = -1;
    int np = 0;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--tolerance") || !strcmp(argv[i], "--relative-to") || !strcmp(argv[i], "--seed")) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", argv[i]);
            char *end;
            if (!strcmp(argv[i], "--relative-to")) ref = argv[i + 1];
            else if (!strcmp(argv[i], "--seed")) {
                seed = strtoll(argv[i + 1], &end, 10);
                if (*end || seed < 0) return cli_usage_error(cmd, "--seed %s: expected a number >= 0", argv[i + 1]);
            } else {
                tol = strtod(argv[i + 1], &end);
                if (*end || !(tol >= 0)) return cli_usage_error(cmd, "--tolerance %s: expected a number >= 0", argv[i + 1]);
            }
            i += 2;
            continue;
        }
        if (!strcmp(argv[i], "--tensors")) { tensors = 1; i++; continue; }
        if (argv[i][0] == '-') return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (np == 2) return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        path[np++] = argv[i++];
    }
    if (np < 2) return cli_usage_error(cmd, "two checkpoints are needed");
    if (ref && seed >= 0) return cli_usage_error(cmd, "--relative-to and --seed exclude each other");
    ctvk_checkpoint a, b, r;
    memset(&r, 0, sizeof r);
    if (ctvk_checkpoint_load(path[0], NULL, &a)) return cli_fail(cmd);
    ctvk_graph g;
    if (ctvk_graph_build(&a.model, &g)) { ctvk_checkpoint_free(&a); return cli_fail(cmd); }
    int rc = 0;
    if (ctvk_checkpoint_load(path[1], &g, &b)) { rc = cli_fail(cmd); goto out_a; }
    if (ref && ctvk_checkpoint_load(ref, &g, &r)) { rc = cli_fail(cmd); goto out_b; }
    if (seed >= 0) {
        r.params = malloc(g.params_total * sizeof *r.params);
        if (!r.params) { fprintf(stderr, "ctvk compare: out of host memory\n"); rc = 1; goto out_b; }
        ctvk_graph_init_params(&g, r.params, (uint64_t)seed);
    }
    double worst = 0, moved = 0;
    size_t differ = 0, count = 0;
    char where[CTVK_NAME_MAX + 40] = "-";
    for (int i = 0; i < g.nlayers; i++) {
        const ctvk_layer *l = &g.layers[i];
        for (int k = 0; k < l->nparams; k++) {
            const ctvk_param *p = &l->params[k];
            double tw = 0;
            for (size_t j = 0; j < p->count; j++) {
                double x = a.params[p->offset + j], y = b.params[p->offset + j];
                double d = fabs(x - y);
                if (!(d <= tw)) tw = isnan(d) ? INFINITY : d;
                if (!(d <= worst)) {   /* NaN counts as the worst */
                    worst = isnan(d) ? INFINITY : d;
                    snprintf(where, sizeof where, "%s/%s[%zu]", l->name, p->name, j);
                }
                differ += x != y;
                if (r.params) {
                    double m = fabs(x - r.params[p->offset + j]);
                    if (m > moved) moved = m;
                }
            }
            count += p->count;
            if (tensors) printf("%-40s %-24s %.3g\n", l->name, p->name, tw);
        }
    }
    printf("%zu parameters, %zu differ; largest difference %.3g at %s\n", count, differ, worst, where);
    double measure = worst;
    if (r.params) {
        measure = moved > 0 ? worst / moved : (worst > 0 ? INFINITY : 0);
        printf("training moved the weights by up to %.3g; the difference is %.3g of that\n", moved, measure);
    }
    if (tol >= 0 && !(measure <= tol)) {
        fprintf(stderr, "ctvk compare: %.3g exceeds the tolerance %g\n", measure, tol);
        rc = 1;
    }
    if (seed >= 0) free(r.params);
    else ctvk_checkpoint_free(&r);
out_b:
    ctvk_checkpoint_free(&b);
out_a:
    ctvk_checkpoint_free(&a);
    ctvk_graph_free(&g);
    return rc;
}
