#include "tools/run_common.h"
#include "runtime/fileio.h"
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
    if (ctvk__mkdirs(dir) || ctvk_config_save(cfg, path)) return cli_fail(cmd);
    return 0;
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

int run_begin(const char *cmd, const char *config, const cli_common *com, ctvk_config **cfg, char *dir, size_t n,
              ctvk_ctx **ctx)
{
    *cfg = NULL;
    *ctx = NULL;
    int rc = cli_load_config(cmd, config, com, cfg);
    if (rc) return rc;
    run_dir_of(*cfg, config, dir, n);
    ctvk_options o;
    if ((rc = run_prepare(cmd, *cfg, dir)) || (rc = cli_device_options(cmd, *cfg, com, &o))) goto fail;
    if (ctvk_create(&o, ctx)) { rc = cli_fail(cmd); goto fail; }
    run_install_sigint();
    return 0;
fail:
    ctvk_config_free(*cfg);
    *cfg = NULL;
    return rc;
}
