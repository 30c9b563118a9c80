#include "tools/cli.h"
#include "ctvk/util.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ctvk %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nusage: see 'ctvk %s --help'\n", cmd);
    va_end(ap);
    return 2;
}

int cli_fail(const char *cmd)
{
    /* a failure every rank of a distributed run knows of is printed once, by rank 0 */
    if (!(ctvk_dist_failure_agreed() && ctvk_dist_world_rank() != 0))
        fprintf(stderr, "ctvk %s: %s\n", cmd, *ctvk_error() ? ctvk_error() : "failed");
    return 1;
}

int cli_empty_folder(const char *cmd, const char *option, const char *dir)
{
    if (mkdir(dir, 0777) == 0) return 0;
    int e = errno;
    struct stat st;
    if (e != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ctvk %s: %s %s: %s\n", cmd, option, dir,
                e == EEXIST ? "exists and is not a folder" : strerror(e));
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "ctvk %s: %s %s: %s\n", cmd, option, dir, strerror(errno));
        return 1;
    }
    int files = 0;
    for (struct dirent *de; (de = readdir(d));) files += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    if (!files) return 0;
    fprintf(stderr, "ctvk %s: %s %s is not empty: give a new or empty folder (earlier results are never "
            "replaced)\n", cmd, option, dir);
    return 1;
}

int cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int cli_print_help(const char *cmd)
{
    for (const cli_command *c = cli_commands; c->name; c++)
        if (!strcmp(c->name, cmd)) { fputs(c->help, stdout); return 0; }
    return 2;
}

int cli_common_take(const char *cmd, cli_common *c, int argc, char **argv, int i)
{
    const char *a = argv[i];
    if (!strcmp(a, "--set")) {
        if (i + 1 >= argc) { cli_usage_error(cmd, "--set needs section.key=value"); return -1; }
        if (c->nsets == 64) { cli_usage_error(cmd, "too many --set options"); return -1; }
        c->sets[c->nsets++] = argv[i + 1];
        return 2;
    }
    if (!strncmp(a, "--set=", 6)) {
        if (c->nsets == 64) { cli_usage_error(cmd, "too many --set options"); return -1; }
        c->sets[c->nsets++] = a + 6;
        return 1;
    }
    if (!strcmp(a, "--device")) {
        if (i + 1 >= argc) { cli_usage_error(cmd, "--device needs an index or a name"); return -1; }
        c->device = argv[i + 1];
        return 2;
    }
    if (!strcmp(a, "--profile")) { c->profile = 1; return 1; }
    if (!strcmp(a, "--validation")) { c->validation = 1; return 1; }
    if (!strcmp(a, "--renderdoc")) { c->renderdoc = 1; return 1; }
    return 0;
}

int cli_load_config(const char *cmd, const char *path, const cli_common *c, ctvk_config **out)
{
    if (ctvk_config_load(path, out)) return cli_fail(cmd);
    for (int i = 0; i < c->nsets; i++) {
        if (ctvk_config_set(*out, c->sets[i])) {
            ctvk_config_free(*out);
            *out = NULL;
            fprintf(stderr, "ctvk %s: %s\n", cmd, ctvk_error());
            return 2;
        }
    }
    return 0;
}

int cli_device_options(const char *cmd, const ctvk_config *cfg, const cli_common *c, ctvk_options *o)
{
    ctvk_options_default(o);
    if (cfg && ctvk_config_device_options(cfg, o)) return cli_fail(cmd);
    if (c->device) o->device = c->device;
    o->share = ctvk_dist_local_rank();     /* MPI ranks on one machine take different devices */
    if (c->profile) o->profile = 1;
    if (c->validation) o->validation = 1;
    if (c->renderdoc) o->renderdoc = 1;
    return 0;
}

int cli_is_tty(void) { return isatty(STDERR_FILENO); }

ctvk_status cli_prewarm_inference(ctvk_ctx *ctx, const ctvk_model_config *mc, int batch)
{
    char name[128];
    snprintf(name, sizeof name, "inference %s %dx%dx%d batch %d", mc->arch, mc->height, mc->width, mc->channels,
             batch);
    return ctvk_prewarm(ctx, name);
}
