#include "tools/run_common.h"
#include "ctvk/util.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void run_dir_of(const ctvk_config *cfg, const char *config_path, char *out, size_t n)
{
    const char *dir;
    ctvk_config_str(cfg, "output", "dir", NULL, &dir);
    if (dir && *dir) { snprintf(out, n, "%s", dir); return; }
    const char *base = strrchr(config_path ? config_path : "run", '/');
    base = base ? base + 1 : (config_path ? config_path : "run");
    size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".ini")) len -= 4;
    snprintf(out, n, "runs/%.*s", (int)len, base);
}

int run_prepare(const char *cmd, const ctvk_config *cfg, const char *dir)
{
    if (ctvk_config_check(cfg)) return cli_fail(cmd);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    if (ctvk_mkdirs(dir) || ctvk_config_save(cfg, path)) return cli_fail(cmd);
    return 0;
}

/* A failure on world rank 0 (which alone locks and checks the run folder) reaches every rank. */
static int agreed(const char *cmd, ctvk_status s)
{
    if (ctvk_dist_world_size() > 1) s = ctvk_dist_agree(s);
    return s ? cli_fail(cmd) : 0;
}

int run_lock(const char *cmd, const char *dir, int argc, char **argv)
{
    ctvk_status s = CTVK_OK;
    if (ctvk_dist_world_rank() == 0) {
        char holder[600], host[128] = "?";
        gethostname(host, sizeof host - 1);
        int n = snprintf(holder, sizeof holder, "pid %ld on %s: ctvk", (long)getpid(), host);
        for (int i = 0; i < argc && n > 0 && (size_t)n < sizeof holder; i++)
            n += snprintf(holder + n, sizeof holder - (size_t)n, " %s", argv[i]);
        s = ctvk_mkdirs(dir);
        if (!s) s = ctvk_lock_dir(dir, holder);   /* held until the process ends */
    }
    return agreed(cmd, s);
}

int run_check_fold(const char *cmd, const char *dir, int k, int resume, int overwrite)
{
    ctvk_status s = CTVK_OK;
    if (ctvk_dist_world_rank() == 0) {
        static const char *results[] = {"last.ckpt", "best.ckpt", "train_log.csv", "train_log.json", "eval.json",
                                        "eval_images.csv", "eval_patients.csv"};
        char path[4300], found[256] = "";
        int has_last = 0;
        for (size_t i = 0; i < sizeof results / sizeof *results; i++) {
            snprintf(path, sizeof path, "%s/fold%d/%s", dir, k, results[i]);
            if (!ctvk_path_exists(path)) continue;
            if (i == 0) has_last = 1;
            size_t l = strlen(found);
            snprintf(found + l, sizeof found - l, "%s%s", l ? ", " : "", results[i]);
        }
        if (overwrite) {
            for (size_t i = 0; i < sizeof results / sizeof *results; i++) {
                snprintf(path, sizeof path, "%s/fold%d/%s", dir, k, results[i]);
                if (ctvk_path_exists(path) && unlink(path) != 0 && !s)
                    s = ctvk_fail(CTVK_ERR_IO, "--overwrite: cannot remove %s (%s)", path, strerror(errno));
            }
        } else if (has_last && !resume) {
            s = ctvk_fail(CTVK_ERR_ARG, "%s/fold%d already holds a training run (%s): continue it with --resume, "
                           "start it again with --overwrite, or train into another folder (--set output.dir=...)", dir,
                           k, found);
        } else if (!has_last && *found) {
            s = ctvk_fail(CTVK_ERR_ARG, "%s/fold%d holds the results of an earlier run (%s) and no last.ckpt to "
                           "resume from: replace them with --overwrite, or train into another folder (--set "
                           "output.dir=...)", dir, k, found);
        }
    }
    return agreed(cmd, s);
}

static void on_sigint(int sig)
{
    (void)sig;
    if (ctvk_interrupt_requested) _exit(130);
    ctvk_interrupt_requested = 1;
    static const char msg[] = "\nctvk: stopping after this step (Ctrl-C again to quit at once)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

void run_install_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int run_load(const char *cmd, const char *config, const cli_common *com, ctvk_config **cfg, char *dir, size_t n)
{
    *cfg = NULL;
    int rc = cli_load_config(cmd, config, com, cfg);
    if (rc) return rc;
    if (ctvk_config_check(*cfg)) {
        rc = cli_fail(cmd);
        ctvk_config_free(*cfg);
        *cfg = NULL;
        return rc;
    }
    run_dir_of(*cfg, config, dir, n);
    return 0;
}

int run_start(const char *cmd, const ctvk_config *cfg, const cli_common *com, const char *dir, ctvk_ctx **ctx)
{
    *ctx = NULL;
    ctvk_options o;
    int rc;
    if ((rc = run_prepare(cmd, cfg, dir)) || (rc = cli_device_options(cmd, cfg, com, &o))) return rc;
    if (ctvk_create(&o, ctx)) return cli_fail(cmd);
    run_install_sigint();
    return 0;
}
