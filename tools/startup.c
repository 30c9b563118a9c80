/* The start of an inference run, phase by phase (tools/startup.h). */
#include "tools/startup.h"
#include "ctvk/checkpoint.h"
#include "ctvk/ct.h"
#include "ctvk/identity.h"
#include "ctvk/pipeline.h"
#include "ctvk/util.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static double ms_since(double t0) { return 1e3 * (ctvk_now() - t0); }

static long count_files(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "index")) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0) continue;
        if (S_ISREG(st.st_mode) && !strstr(e->d_name, ".tmp")) n++;
        else if (S_ISDIR(st.st_mode) && depth < 4) {
            long k = count_files(path, depth + 1);
            if (k > 0) n += k;
        }
    }
    closedir(d);
    return n;
}

long startup_mesa_entries(char *dir, size_t n)
{
    const char *m = getenv("MESA_SHADER_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (m && *m) snprintf(dir, n, "%s/mesa_shader_cache", m);
    else if (xdg && *xdg) snprintf(dir, n, "%s/mesa_shader_cache", xdg);
    else if (home && *home) snprintf(dir, n, "%s/.cache/mesa_shader_cache", home);
    else { snprintf(dir, n, "(none)"); return -1; }
    return count_files(dir, 0);
}

double startup_process_ms(void)
{
    double ms[3];
    for (int i = 0; i < 3; i++) {
        double t = ctvk_now();
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) { dup2(null, 1); dup2(null, 2); }
            execl("/proc/self/exe", "ctvk", "--version", (char *)NULL);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 0;
        ms[i] = ms_since(t);
    }
    for (int i = 0; i < 2; i++)   /* sorted: the median is ms[1] */
        for (int j = 0; j < 2 - i; j++)
            if (ms[j] > ms[j + 1]) { double x = ms[j]; ms[j] = ms[j + 1]; ms[j + 1] = x; }
    return ms[1];
}

/* The slowest pipeline creations, by host time (storage twins are in the list too). */
static void slowest(const ctvk_ctx *ctx, startup_run *r)
{
    r->nslowest = 0;
    for (int i = 0; i < ctvk_pipeline_count(ctx); i++) {
        double ms;
        const char *key = ctvk_pipeline_info(ctx, i, &ms);
        int at = r->nslowest;
        while (at > 0 && r->slowest_ms[at - 1] < ms) at--;
        if (at >= STARTUP_SLOWEST) continue;
        int last = r->nslowest < STARTUP_SLOWEST ? r->nslowest : STARTUP_SLOWEST - 1;
        for (int j = last; j > at; j--) {
            r->slowest_ms[j] = r->slowest_ms[j - 1];
            memcpy(r->slowest[j], r->slowest[j - 1], sizeof r->slowest[j]);
        }
        r->slowest_ms[at] = ms;
        snprintf(r->slowest[at], sizeof r->slowest[at], "%s", key);
        if (r->nslowest < STARTUP_SLOWEST) r->nslowest++;
    }
}

static int cmp_row(const void *a, const void *b)
{
    double x = ((const ctvk_profile_row *)a)->ms, y = ((const ctvk_profile_row *)b)->ms;
    return x > y ? -1 : x < y;
}

/* The first slice's slowest labels (layers) by device time: on lavapipe that time holds the
 * kernels' compilation at their first dispatch. */
static ctvk_status first_profile(ctvk_ctx *ctx, startup_run *r)
{
    ctvk_profile_row *rows;
    int n;
    double total;
    ctvk_status s = ctvk_profile_get(ctx, &rows, &n, &total);
    if (s) return s;
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    r->layers_total_ms = 0;
    for (int i = 0; i < n; i++) r->layers_total_ms += rows[i].ms;
    for (int i = 0; i < n && i < STARTUP_LAYERS; i++) {
        snprintf(r->layer[i], sizeof r->layer[i], "%s", rows[i].label);
        r->layer_ms[i] = rows[i].ms;
        r->nlayers = i + 1;
    }
    free(rows);
    return CTVK_OK;
}

/* A phantom slice (patient 0, a COVID one, its middle slice) of size x size as a TIFF in dir. */
static int write_slice(const char *cmd, const char *dir, int size, char *path, size_t n)
{
    ctvk_phantom_options po;
    ctvk_phantom_defaults(&po);
    po.covid = 1;
    po.normal = 0;
    po.size = size;
    po.slices = 3;
    uint16_t *px = malloc((size_t)size * (size_t)size * sizeof *px);
    if (!px) { fprintf(stderr, "ctvk %s: out of host memory\n", cmd); return 1; }
    snprintf(path, n, "%s/slice.tif", dir);
    int rc = ctvk_phantom_slice(&po, 0, 0, 1, px, NULL) || ctvk_tiff_write(path, size, size, px, NULL);
    free(px);
    if (rc) return cli_fail(cmd);
    return 0;
}

int startup_run_once(const char *cmd, const char *config, const char *checkpoint, const cli_common *com,
                     int classifications, int slices, startup_run *r)
{
    memset(r, 0, sizeof *r);
    ctvk_model_config mc;
    ctvk_config *cfg = NULL;
    int rc = cli_load_config(cmd, config, com, &cfg);
    if (rc) return rc;
    ctvk_eval_options eo;
    ctvk_options dev;
    rc = 1;
    if (checkpoint ? ctvk_checkpoint_peek_config(checkpoint, &mc) : ctvk_model_config_load(cfg, &mc)) {
        ctvk_config_free(cfg);
        return cli_fail(cmd);
    }
    if (ctvk_eval_options_from_config(cfg, &eo) || (checkpoint && ctvk_eval_options_from_model(cfg, &mc, checkpoint, &eo))) {
        ctvk_config_free(cfg);
        return cli_fail(cmd);
    }
    if ((rc = cli_device_options(cmd, cfg, com, &dev))) { ctvk_config_free(cfg); return rc; }
    ctvk_config_free(cfg);
    rc = 1;
    if (mc.height != mc.width || mc.channels != 1 || mc.classes != 2) {
        fprintf(stderr, "ctvk %s: the network of %s takes %dx%dx%d input and has %d classes; the inference "
                "start is measured on square 1-channel input and 2 classes\n", cmd, checkpoint ? checkpoint : config,
                mc.height, mc.width, mc.channels, mc.classes);
        return 1;
    }
    snprintf(r->arch, sizeof r->arch, "%s", mc.arch);
    r->size = mc.height;
    r->batch = eo.batch;
    char tmp[] = "/tmp/ctvk-startup-XXXXXX", slice[256];
    if (!mkdtemp(tmp)) { fprintf(stderr, "ctvk %s: cannot create a temporary folder in /tmp\n", cmd); return 1; }
    if (write_slice(cmd, tmp, mc.height, slice, sizeof slice)) { rmdir(tmp); return 1; }
    ctvk_ctx *ctx = NULL;
    ctvk_net *net = NULL;
    ctvk_graph g = {0};
    float *params = NULL;
    ctvk_stats st;
    const char **paths = calloc((size_t)slices, sizeof *paths);
    float *prob = calloc((size_t)slices, sizeof *prob);
    uint8_t *pred = calloc((size_t)slices, 1);
    ctvk_identity_job *who = NULL;   /* as `ctvk infer`: the model identity from the start, on a thread */
    double t = ctvk_now();
    if (!paths || !prob || !pred) { ctvk_fail(CTVK_ERR_NOMEM, "out of host memory"); goto fail; }
    for (int i = 0; i < slices; i++) paths[i] = slice;
    t = ctvk_now();
    if (checkpoint && ctvk_model_identity_start(checkpoint, dev.cache_dir, &who)) goto fail;
    if (ctvk_create(&dev, &ctx) || cli_prewarm_inference(ctx, &mc, eo.batch)) goto fail;
    r->device_ms = ms_since(t);
    snprintf(r->device, sizeof r->device, "%s", ctvk_device(ctx)->name);
    t = ctvk_now();
    if (checkpoint) {
        if (ctvk_net_from_checkpoint(ctx, checkpoint, eo.batch, &g, &net)) goto fail;
        r->checkpoint_ms = ms_since(t);
    } else {
        if (ctvk_graph_build(&mc, &g) || ctvk_net_create(ctx, &g, eo.batch, 0, &net)) goto fail;
        r->net_ms = ms_since(t);
        params = malloc((g.params_total ? g.params_total : 1) * sizeof *params);
        if (!params) { ctvk_fail(CTVK_ERR_NOMEM, "out of host memory"); goto fail; }
        ctvk_graph_init_params(&g, params, 1);
        t = ctvk_now();
        if (ctvk_net_set_params(net, params) || ctvk_sync(ctx)) goto fail;
        r->params_ms = ms_since(t);
    }
    ctvk_get_stats(ctx, &st);
    r->pipelines_setup = st.pipelines_created;
    if (dev.profile) ctvk_profile_reset(ctx);
    for (int k = 0; k < classifications && k < 2; k++) {
        t = ctvk_now();
        if (ctvk_classify_slices(ctx, net, (size_t)slices, paths, &eo, prob, pred)) goto fail;
        r->prob = prob[0];
        if (k == 0) r->first_ms = ms_since(t);
        else r->second_ms = ms_since(t);
        if (k == 0 && who) {
            ctvk_model_identity id;
            t = ctvk_now();
            ctvk_status s = ctvk_model_identity_finish(who, ctvk_device(ctx)->name, &id);
            who = NULL;
            if (s) goto fail;
            r->identity_ms = ms_since(t);
            r->sha256_remembered = id.checkpoint_sha256_remembered;
        }
        if (k == 0 && dev.profile && first_profile(ctx, r)) goto fail;
        ctvk_get_stats(ctx, &st);
        if (k == 0) r->pipelines_first = st.pipelines_created;
    }
    r->pipelines = st.pipelines_created;
    r->pipeline_ms = (double)st.pipeline_create_ns * 1e-6;
    r->cache_hits = st.pipeline_cache_hits;
    r->prewarmed = st.pipelines_prewarmed;
    r->prewarm_wait_ms = (double)st.prewarm_wait_ns * 1e-6;
    r->helpers = st.compile_helpers;
    r->helpers_wait_ms = (double)st.compile_helpers_wait_ns * 1e-6;
    r->cache_state = st.pipeline_cache_state;
    snprintf(r->cache_note, sizeof r->cache_note, "%s", st.pipeline_cache_note);
    slowest(ctx, r);
    t = ctvk_now();
    ctvk_net_destroy(net);   /* a new weights cache entry is written here */
    net = NULL;
    ctvk_get_stats(ctx, &st);
    r->weights_state = st.weights_cache_state;
    r->weights_trusted = st.weights_cache_trusted;
    snprintf(r->weights_note, sizeof r->weights_note, "%s", st.weights_cache_note);
    ctvk_destroy(ctx);
    ctx = NULL;
    r->destroy_ms = ms_since(t);
    rc = 0;
fail:
    if (rc) cli_fail(cmd);
    (void)ctvk_model_identity_finish(who, NULL, NULL);
    free(paths);
    free(prob);
    free(pred);
    free(params);
    ctvk_net_destroy(net);
    ctvk_graph_free(&g);
    ctvk_destroy(ctx);
    remove(slice);
    rmdir(tmp);
    return rc;
}
