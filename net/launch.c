#include "net/launch.h"

ctvk_status ctvk__need_dtype(const char *kernel, const ctvk_tensor *t, ctvk_dtype dt)
{
    static const char *names[] = {"fp32", "fp16", "uint16", "uint32"};
    if (t->dtype != dt)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensor '%s' is %s, expected %s", kernel, t->name, names[t->dtype],
                          names[dt]);
    return CTVK_OK;
}

ctvk_status ctvk__need_same_count(const char *kernel, const ctvk_tensor *a, const ctvk_tensor *b)
{
    if (a->count != b->count)
        return ctvk__fail(CTVK_ERR_ARG, "%s: tensors '%s' (%zu elements) and '%s' (%zu) differ in size", kernel,
                          a->name, a->count, b->name, b->count);
    return CTVK_OK;
}

void ctvk__grid_1d(uint64_t items, uint32_t local, uint32_t *gx, uint32_t *gy)
{
    uint64_t groups = (items + local - 1) / local;
    if (groups == 0) groups = 1;
    uint64_t x = groups < 65535 ? groups : 65535;
    *gx = (uint32_t)x;
    *gy = (uint32_t)((groups + x - 1) / x);
}

int ctvk__vec4_ok(const ctvk_tensor *t)
{
    if (!t) return 1;
    uint64_t align = t->ctx->props.limits.minTexelBufferOffsetAlignment;
    return (t->dtype == CTVK_F32 || t->dtype == CTVK_F16 || t->dtype == CTVK_U32) && t->count % 4 == 0 && t->count >= 4 &&
           (align == 0 || t->offset % align == 0);
}
