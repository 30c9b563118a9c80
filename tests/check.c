#include "check.h"
#include "ctvk/checkpoint.h"
#include "ctvk/net.h"
#include "ctvk/util.h"
#include "net/exec.h"
#include "runtime/base/rng.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

static int n_pass, n_fail;

void check_record(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) { n_pass++; return; }
    n_fail++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int check_failed(void) { return n_fail; }

int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, n_pass, n_fail);
    return n_fail == 0 && n_pass > 0 ? 0 : 1;
}

double check_rel_err(const float *got, const float *want, size_t n, double floor_abs)
{
    double maxdiff = 0.0, maxref = floor_abs;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= maxdiff)) maxdiff = d;     /* NaN propagates as a failure */
        if (fabs((double)want[i]) > maxref) maxref = fabs((double)want[i]);
    }
    return maxdiff / maxref;
}

uint64_t check_rng_next(uint64_t *s)
{
    return ctvk__rng(s);
}

float check_rng_uniform(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)((check_rng_next(s) >> 40) * (1.0 / 16777216.0));
}

void check_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = check_rng_uniform(&seed, lo, hi);
}

char *check_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t len = strlen(base) + strlen(tag) + 32;
    char *p = malloc(len);
    if (!p) return NULL;
    snprintf(p, len, "%s/ctvk-%s-XXXXXX", base, tag);
    if (!mkdtemp(p)) { free(p); return NULL; }
    return p;
}

ctvk_ctx *check_ctx(const ctvk_options *o)
{
    ctvk_options d;
    if (!o) { ctvk_options_default(&d); o = &d; }
    ctvk_ctx *ctx = NULL;
    if (ctvk_create(o, &ctx) != CTVK_OK) {
        fprintf(stderr, "FAIL: cannot create a device context: %s\n", ctvk_error());
        exit(1);
    }
    return ctx;
}

ctvk_ctx *check_ctx_cache(const char *cache_dir)
{
    ctvk_options o;
    ctvk_options_default(&o);
    o.cache_dir = cache_dir;
    return check_ctx(&o);
}

void check_ctx_done(ctvk_ctx *ctx)
{
    if (!ctx) return;
    CHECK(ctvk_sync(ctx) == CTVK_OK, "final sync: %s", ctvk_error());
    uint32_t msgs = ctvk_validation_messages(ctx);
    CHECK(msgs == 0, "%u validation messages", msgs);
    ctvk_destroy(ctx);
}

ctvk_tensor *check_tensor(ctvk_ctx *ctx, ctvk_shape s, const float *data, const char *name)
{
    ctvk_tensor *t = NULL;
    if (ctvk_tensor_create(ctx, CTVK_F32, s, name, &t) != CTVK_OK) {
        fprintf(stderr, "FAIL: tensor %s: %s\n", name, ctvk_error());
        exit(1);
    }
    if (data && ctvk_tensor_upload(t, data, ctvk_tensor_bytes(t)) != CTVK_OK) {
        fprintf(stderr, "FAIL: upload %s: %s\n", name, ctvk_error());
        exit(1);
    }
    return t;
}

float *check_download(ctvk_tensor *t)
{
    float *p = malloc(ctvk_tensor_bytes(t) ? ctvk_tensor_bytes(t) : 1);
    if (!p || ctvk_tensor_download(t, p, ctvk_tensor_bytes(t)) != CTVK_OK) {
        fprintf(stderr, "FAIL: download %s: %s\n", ctvk_tensor_name(t), ctvk_error());
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------ whole-network fixtures */
/* Random but well-scaled parameters: He-uniform kernels, BN statistics away from the identity. */
void check_net_params(const ctvk_graph *g, float *p, uint64_t seed)
{
    memset(p, 0, g->params_total * sizeof *p);
    for (int i = 0; i < g->nlayers; i++) {
        const ctvk_layer *l = &g->layers[i];
        for (int k = 0; k < l->nparams; k++) {
            const ctvk_param *q = &l->params[k];
            float *x = p + q->offset;
            float lo = -0.1f, hi = 0.1f;
            if (!strcmp(q->name, "kernel:0")) {
                size_t fan_in = q->count / (size_t)q->dims[q->ndim - 1];
                hi = (float)sqrt(6.0 / (double)fan_in);
                lo = -hi;
            } else if (!strcmp(q->name, "gamma:0") || !strcmp(q->name, "moving_variance:0")) {
                lo = 0.5f; hi = 1.5f;
            }
            /* small classifier weights keep the logits O(1), so the softmax is not saturated and the
             * comparison means something */
            if (l->op == CTVK_OP_DENSE && !strcmp(q->name, "kernel:0")) { lo *= 0.05f; hi *= 0.05f; }
            /* residual branches start small (the usual "zero-init residual" practice), so that 50
             * random layers do not sit in an exploding-gradient regime that amplifies rounding */
            size_t nl = strlen(l->name);
            if (nl > 7 && !strcmp(l->name + nl - 7, "_3_conv") && !strcmp(q->name, "kernel:0")) { lo *= 0.2f; hi *= 0.2f; }
            if (nl > 5 && !strcmp(l->name + nl - 5, "_3_bn") && !strcmp(q->name, "gamma:0")) { lo = 0.1f; hi = 0.2f; }
            check_fill_uniform(x, q->count, seed + (uint64_t)i * 31 + (uint64_t)k, lo, hi);
        }
    }
}

/* A reference training pass with momentum 0 sets the moving statistics to the batch's. */
void check_net_calibrate(const ctvk_graph *g, float *pf, int n, const double *xd)
{
    size_t P = g->params_total;
    ctvk_graph cal = *g;
    cal.layers = malloc((size_t)g->nlayers * sizeof *cal.layers);
    double *pd = malloc(P * sizeof *pd), *probs = malloc((size_t)n * (size_t)g->cfg.classes * sizeof *probs);
    CHECK(cal.layers && pd && probs, "out of memory");
    if (cal.layers && pd && probs) {
        memcpy(cal.layers, g->layers, (size_t)g->nlayers * sizeof *cal.layers);
        for (int i = 0; i < g->nlayers; i++) cal.layers[i].momentum = 0;
        for (size_t i = 0; i < P; i++) pd[i] = pf[i];
        CHECK(ctvk_ref_net_forward(&cal, pd, n, xd, 1, 99, probs) == CTVK_OK, "calibration");
        for (size_t i = 0; i < P; i++) pf[i] = (float)pd[i];
    }
    free(cal.layers);
    free(pd);
    free(probs);
}

void check_small_resnet(ctvk_model_config *mc)
{
    ctvk_model_config_default(mc, "small_resnet");
    mc->height = mc->width = 20;
    mc->stages = 3;
    mc->blocks[0] = 1; mc->blocks[1] = 2; mc->blocks[2] = 1;
    mc->widths[0] = 4; mc->widths[1] = 6; mc->widths[2] = 8;
}

void check_tiny_resnet(ctvk_model_config *mc, int size)
{
    ctvk_model_config_default(mc, "small_resnet");
    mc->height = mc->width = size;
    mc->stages = 2;
    mc->blocks[0] = 1, mc->blocks[1] = 1;
    mc->widths[0] = 4, mc->widths[1] = 8;
}

ctvk_status check_write_checkpoint(const char *path, const ctvk_model_config *mc)
{
    return check_write_checkpoint_seed(path, mc, 7);
}

ctvk_status check_write_checkpoint_seed(const char *path, const ctvk_model_config *mc, uint64_t seed)
{
    ctvk_graph g;
    ctvk_status s = ctvk_graph_build(mc, &g);
    if (s) return s;
    float *params = malloc((g.params_total ? g.params_total : 1) * sizeof *params);
    if (!params) s = ctvk_fail(CTVK_ERR_NOMEM, "out of host memory");
    if (!s) {
        ctvk_graph_init_params(&g, params, seed);
        ctvk_checkpoint ck = {0};
        ck.params = params, ck.params_total = g.params_total;
        s = ctvk_checkpoint_save(path, &g, &ck);
    }
    free(params);
    ctvk_graph_free(&g);
    return s;
}

void check_paper_net(int i, ctvk_model_config *mc)
{
    static const char *archs[CHECK_PAPER_NETS] = {"resnet50", "resnet50v2", "resnet50v2_fpn"};
    static const int sizes[CHECK_PAPER_NETS] = {64, 64, 72};
    ctvk_model_config_default(mc, archs[i]);
    mc->height = mc->width = sizes[i];
}

int check_big_nets(void)
{
    const char *big = getenv("CTVK_TEST_BIG");
    return !big || strcmp(big, "0");
}

long check_cache_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "index") || strstr(e->d_name, ".tmp")) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        n += S_ISDIR(st.st_mode) ? check_cache_entries(path) : 1;
    }
    closedir(d);
    return n;
}

void check_remove_tree(char *dir)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "remove %s", dir);
    free(dir);
}
