/* Fused softmax + categorical cross-entropy with accuracy counting (shaders/loss.comp) and its
 * plain-C reference. */
#include "net/ops.h"
#include "net/launch.h"
#include <math.h>

typedef struct { uint32_t B, C; float total; } loss_push;

ctvk_status ctvk_softmax_ce(ctvk_ctx *ctx, const ctvk_tensor *logits, const ctvk_tensor *labels, ctvk_tensor *probs,
                            ctvk_tensor *dlogits, ctvk_tensor *stats, int accumulate)
{
    return ctvk_softmax_ce_part(ctx, logits, labels, probs, dlogits, stats, accumulate, 0);
}

ctvk_status ctvk_softmax_ce_part(ctvk_ctx *ctx, const ctvk_tensor *logits, const ctvk_tensor *labels,
                                 ctvk_tensor *probs, ctvk_tensor *dlogits, ctvk_tensor *stats, int accumulate, int total)
{
    const ctvk_tensor *t[] = {logits, labels, probs, dlogits, stats};
    CTVK_TRY(ctvk__ops_f32("softmax_ce", t, 5));
    int B = logits->shape.n;
    if (B < 1 || logits->count % (size_t)B || logits->count / (size_t)B < 1)
        return ctvk__fail(CTVK_ERR_ARG, "softmax_ce: logits '%s' hold no classes", logits->name);
    CTVK_TRY(ctvk__need_same_count("softmax_ce", logits, labels));
    CTVK_TRY(ctvk__need_same_count("softmax_ce", logits, probs));
    CTVK_TRY(ctvk__need_same_count("softmax_ce", logits, dlogits));
    CTVK_TRY(ctvk__ops_count("softmax_ce", stats, 3, "sum loss, correct, samples"));
    if (logits->count > UINT32_MAX / 2) return ctvk__fail(CTVK_ERR_ARG, "softmax_ce: too many logits");
    if (total != 0 && total < B)
        return ctvk__fail(CTVK_ERR_ARG, "softmax_ce: a part of %d samples of a batch of only %d", B, total);
    loss_push pc = {(uint32_t)B, (uint32_t)(logits->count / (size_t)B), (float)(total ? total : B)};
    int32_t spec[1] = {accumulate != 0};
    ctvk_pipeline *p;
    CTVK_TRY(ctvk__pipeline_get(ctx, "loss", accumulate ? "uuwwb" : "uuwww", sizeof pc, spec, 1, &p));
    const ctvk_tensor *bind[5] = {logits, labels, probs, dlogits, stats};
    return ctvk__dispatch(ctx, p, bind, &pc, 1, 1, 1);
}

void ctvk_ref_softmax_ce(const double *logits, const double *labels, int batch, int classes, double *probs,
                         double *dlogits, double *stats, int accumulate)
{
    double loss = 0, correct = 0;
    for (int b = 0; b < batch; b++) {
        const double *z = logits + (size_t)b * classes, *y = labels + (size_t)b * classes;
        int am = 0, ay = 0;
        for (int c = 1; c < classes; c++) {
            if (z[c] > z[am]) am = c;
            if (y[c] > y[ay]) ay = c;
        }
        double se = 0;
        for (int c = 0; c < classes; c++) se += exp(z[c] - z[am]);
        double lse = log(se);
        for (int c = 0; c < classes; c++) {
            double p = exp(z[c] - z[am]) / se;
            probs[(size_t)b * classes + c] = p;
            dlogits[(size_t)b * classes + c] = (p - y[c]) / batch;
            loss -= y[c] * (z[c] - z[am] - lse);
        }
        correct += am == ay;
    }
    if (accumulate) {
        stats[0] += loss; stats[1] += correct; stats[2] += batch;
    } else {
        stats[0] = loss; stats[1] = correct; stats[2] = batch;
    }
}
