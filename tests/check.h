/* A tiny test harness: CHECK records a failure with file:line and keeps going; check_done() prints
 * "NAME: N passed, N failed" and returns the exit status. Tests assert real numbers. */
#ifndef CTVK_TESTS_CHECK_H
#define CTVK_TESTS_CHECK_H
#include <stddef.h>
#include <stdint.h>

void check_record(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int check_done(const char *name);
int check_failed(void);

#define CHECK(cond, ...) check_record(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Worst relative error max|a-b| / max(max|b|, floor), the measure every kernel test prints. */
double check_rel_err(const float *got, const float *want, size_t n, double floor_abs);

/* Deterministic random numbers for test data (splitmix64). */
uint64_t check_rng_next(uint64_t *state);
float check_rng_uniform(uint64_t *state, float lo, float hi);
void check_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Whole networks (ctvk/net.h): random but well-scaled parameters (He-uniform kernels, BN statistics
 * away from the identity, small classifier and residual-branch weights), and the moving BN
 * statistics calibrated to a batch of n inputs xd (double, NHWC), so that the inference pass of a
 * deep random network stays well scaled. */
struct ctvk_graph;
void check_net_params(const struct ctvk_graph *g, float *p, uint64_t seed);
void check_net_calibrate(const struct ctvk_graph *g, float *pf, int n, const double *xd);
/* The networks the whole-network tests run: the small ResNet (20x20, three stages of 1, 2, 1 blocks,
 * widths 4, 6, 8), and the paper's three at the smallest inputs they take (resnet50 and resnet50v2
 * at 64, resnet50v2_fpn at 72), which run unless CTVK_TEST_BIG=0. */
struct ctvk_model_config;
void check_small_resnet(struct ctvk_model_config *mc);
/* The smallest small_resnet of the checkpoint tests: two stages of one block, widths 4 and 8, at
 * size x size. */
void check_tiny_resnet(struct ctvk_model_config *mc, int size);
#define CHECK_PAPER_NETS 3
void check_paper_net(int i, struct ctvk_model_config *mc);
int check_big_nets(void);

/* A fresh temporary directory (under $TMPDIR or /tmp), created; the caller owns the string. */
char *check_tmpdir(const char *tag);
/* Files under dir and its subfolders, Mesa's shader cache in mind: one per compiled kernel, not
 * its index or a temporary file; 0 where dir does not exist. */
long check_cache_entries(const char *dir);
/* Removes dir and everything under it (a failure is a failed check) and frees the string. */
void check_remove_tree(char *dir);
#endif

#include "ctvk/ctvk.h"
#include "ctvk/net.h"

/* Writes a checkpoint of mc with parameters from ctvk_graph_init_params (seed 7): CTVK_OK or the
 * failure, with ctvk_error() set. */
ctvk_status check_write_checkpoint(const char *path, const struct ctvk_model_config *mc);
/* The same with parameters of another seed. */
ctvk_status check_write_checkpoint_seed(const char *path, const struct ctvk_model_config *mc, uint64_t seed);
/* Device tests: a context on the default device (CTVK_DEVICE picks another) with the options'
 * other fields as given; NULL options mean defaults. Validation follows CTVK_VALIDATION (ctest
 * turns it on). check_ctx_done asserts that the validation layer said nothing, then destroys. */
ctvk_ctx *check_ctx(const ctvk_options *o);
/* check_ctx with default options and this pipeline cache folder ("" for none). */
ctvk_ctx *check_ctx_cache(const char *cache_dir);
void check_ctx_done(ctvk_ctx *ctx);
/* A tensor with this shape holding these floats (fp32); NULL data leaves it unset. */
ctvk_tensor *check_tensor(ctvk_ctx *ctx, ctvk_shape s, const float *data, const char *name);
/* Downloads a fp32 tensor into a fresh malloc'ed array. */
float *check_download(ctvk_tensor *t);
