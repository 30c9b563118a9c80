/* Parameter initialisation as Keras does it (docs/method.md sections 3 and 4). */
#include "ctvk/checkpoint.h"
#include "runtime/base/rng.h"
#include <math.h>
#include <string.h>

static uint64_t fnv1a(uint64_t h, const char *s) { return ctvk__fnv1a(h, s, strlen(s)); }

void ctvk_graph_init_params(const ctvk_graph *g, float *params, uint64_t seed)
{
    memset(params, 0, g->params_total * sizeof *params);
    int fpn = !strcmp(g->cfg.head, "fpn");
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        for (int k = 0; k < l->nparams; k++) {
            const ctvk_param *p = &l->params[k];
            float *x = params + p->offset;
            if (!strcmp(p->name, "gamma:0") || !strcmp(p->name, "moving_variance:0")) {
                for (size_t j = 0; j < p->count; j++) x[j] = 1.0f;
                continue;
            }
            if (strcmp(p->name, "kernel:0")) continue;     /* bias, beta, moving_mean: zeros */
            uint64_t s = fnv1a(fnv1a(fnv1a(CTVK__FNV_BASIS ^ seed, l->name), "/"), p->name);
            ctvk__rng(&s);
            if (l->op == CTVK_OP_DENSE && fpn) {
                /* RandomNormal(stddev=0.001), Box-Muller */
                for (size_t j = 0; j < p->count; j += 2) {
                    double u1 = ctvk__rng_unit(&s), u2 = ctvk__rng_unit(&s);
                    double r = sqrt(-2.0 * log(1.0 - u1)), t = 6.283185307179586 * u2;
                    x[j] = (float)(0.001 * r * cos(t));
                    if (j + 1 < p->count) x[j + 1] = (float)(0.001 * r * sin(t));
                }
                continue;
            }
            /* glorot uniform: limit sqrt(6 / (fan_in + fan_out)); conv HWIO: receptive field x in/out */
            double fan_in, fan_out;
            if (p->ndim == 4) {
                double rf = (double)p->dims[0] * p->dims[1];
                fan_in = rf * p->dims[2];
                fan_out = rf * p->dims[3];
            } else if (p->ndim == 2) {
                fan_in = p->dims[0];
                fan_out = p->dims[1];
            } else {
                fan_in = fan_out = (double)p->count;
            }
            double limit = sqrt(6.0 / (fan_in + fan_out));
            for (size_t j = 0; j < p->count; j++) x[j] = (float)((2.0 * ctvk__rng_unit(&s) - 1.0) * limit);
        }
    }
}
