/* ctvk warmup: fills the driver's shader cache and ctvk's pipeline cache with everything the
 * inference of the given configs needs, so that the first real `ctvk infer` starts warm. Each pass
 * is the start of an inference run (tools/startup.h) in a fresh child process; passes repeat until
 * one adds nothing to Mesa's shader cache (see the README, "Caches": Mesa 22's llvmpipe puts stack
 * bytes into the keys of compute shaders that read several texel buffers, so one run does not leave
 * the keys the next run looks up). */
#include "tools/startup.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CTVK_CONFIG_DIR
#define CTVK_CONFIG_DIR "/usr/local/share/ctvk/configs"
#endif

const char cmd_warmup_help[] =
    "usage: ctvk warmup [CONFIG...] [--passes N] [--slices S] [--set s.k=v] [--device D]\n\n"
    "Compiles every kernel the inference of each CONFIG's network needs (default: the paper's configs,\n"
    "configs/paper-*.ini in the current folder, else in " CTVK_CONFIG_DIR "), so that the\n"
    "first `ctvk infer` afterwards finds the driver's shader cache and ctvk's pipeline cache warm.\n"
    "Each pass runs what infer runs (device, network of [eval] batch, random parameters, one synthetic\n"
    "slice classified) in a fresh process; with a Mesa driver, passes repeat until one adds no entry to\n"
    "Mesa's shader cache (at most --passes, default 6). Prints per pass its time and the cache entries\n"
    "added. Run it once after installing, and again after a driver or ctvk upgrade.\n"
    "--slices S classifies S slices per pass (default 1). lavapipe folds push constants into its shaders,\n"
    "so a batch of another size (the last, partial batch of [eval] batch) compiles its kernels anew:\n"
    "warm up with the slice counts your patients have (S mod batch is the last batch's size).\n";

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* One pass in a child process: 0, or the child's exit status. */
static int pass_in_child(const char *config, const cli_common *com, int slices, startup_run *out)
{
    int fd[2];
    if (pipe(fd) != 0) { fprintf(stderr, "ctvk warmup: cannot create a pipe\n"); return 1; }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); fprintf(stderr, "ctvk warmup: cannot fork\n"); return 1; }
    if (pid == 0) {
        close(fd[0]);
        startup_run r;
        int rc = startup_run_once("warmup", config, NULL, com, 1, slices, &r);
        uint32_t msgs = ctvk_validation_messages_total();
        if (!rc && msgs) {
            fprintf(stderr, "ctvk warmup: the Vulkan validation layer reported %u problem(s) (above)\n", msgs);
            rc = 3;
        }
        if (!rc && write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) rc = 1;
        close(fd[1]);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t k = read(fd[0], (char *)out + got, sizeof *out - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {}
    if (!WIFEXITED(status)) {
        fprintf(stderr, "ctvk warmup: the pass on %s ended by signal %d\n", config, WTERMSIG(status));
        return 1;
    }
    if (WEXITSTATUS(status)) return WEXITSTATUS(status);
    if (got != sizeof *out) { fprintf(stderr, "ctvk warmup: the pass on %s reported nothing\n", config); return 1; }
    return 0;
}

int cmd_warmup(int argc, char **argv)
{
    cli_common com = {0};
    const char *configs[64];
    int nconfigs = 0;
    long passes = 6, slices = 1;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("warmup", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        if ((!strcmp(argv[i], "--passes") || !strcmp(argv[i], "--slices")) && i + 1 < argc) {
            char *end;
            long *v = argv[i][2] == 'p' ? &passes : &slices;
            *v = strtol(argv[i + 1], &end, 10);
            if (*end || *v < 1 || *v > (v == &passes ? 20 : 1000))
                return cli_usage_error("warmup", "%s: 1 to %d", argv[i], v == &passes ? 20 : 1000);
            i += 2;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("warmup", "unknown option '%s'", argv[i]);
        if (nconfigs == 64) return cli_usage_error("warmup", "at most 64 configs");
        configs[nconfigs++] = argv[i++];
    }
    if (ctvk_dist_enabled())
        return cli_usage_error("warmup", "warmup runs its passes as child processes of one process: not under MPI");
    static char defaults[3][4200];
    if (!nconfigs) {
        static const char *names[3] = {"paper-resnet50.ini", "paper-resnet50v2.ini", "paper-resnet50v2-fpn.ini"};
        const char *dir = file_exists("configs/paper-resnet50v2-fpn.ini") ? "configs" : CTVK_CONFIG_DIR;
        for (int k = 0; k < 3; k++) {
            snprintf(defaults[k], sizeof defaults[k], "%s/%s", dir, names[k]);
            if (!file_exists(defaults[k]))
                return cli_usage_error("warmup", "no CONFIG given and the paper's config %s is missing", defaults[k]);
            configs[nconfigs++] = defaults[k];
        }
    }
    char mesa_dir[4200];
    for (int c = 0; c < nconfigs; c++) {
        long before = startup_mesa_entries(mesa_dir, sizeof mesa_dir), total_added = 0;
        int p, converged = 0;
        startup_run r = {0};
        for (p = 1; p <= passes && !converged; p++) {
            int rc = pass_in_child(configs[c], &com, (int)slices, &r);
            if (rc) return rc;
            long after = startup_mesa_entries(mesa_dir, sizeof mesa_dir);
            long added = before >= 0 && after >= 0 ? after - before : after >= 0 ? after : -1;
            if (p == 1)
                printf("warmup %s: %s %dx%d, batch %d, on %s\n", configs[c], r.arch, r.size, r.size, r.batch, r.device);
            printf("  pass %d: %.1f s (device %.0f ms, network %.0f ms, parameters %.0f ms, first slice %.0f ms), "
                   "%llu pipelines", p, (r.device_ms + r.net_ms + r.params_ms + r.first_ms + r.destroy_ms) / 1e3,
                   r.device_ms, r.net_ms, r.params_ms, r.first_ms, (unsigned long long)r.pipelines);
            if (added >= 0) printf(", %ld new Mesa shader cache entries\n", added);
            else printf(" (no Mesa shader cache folder)\n");
            fflush(stdout);
            if (added > 0) total_added += added;
            /* without a Mesa cache one pass leaves what there is to leave (ctvk's pipeline cache) */
            converged = added <= 0;
            before = after;
        }
        if (converged && before < 0)
            printf("warmup %s: one pass; no Mesa shader cache (%s): what stays compiled is what the driver puts "
                   "in ctvk's pipeline cache\n", configs[c], mesa_dir);
        else if (converged)
            printf("warmup %s: warm after %d pass%s (%ld entries added to %s)\n", configs[c], p - 1,
                   p - 1 == 1 ? "" : "es", total_added, mesa_dir);
        else
            printf("warmup %s: still adding Mesa cache entries after %ld passes (run it again)\n", configs[c], passes);
    }
    return 0;
}
