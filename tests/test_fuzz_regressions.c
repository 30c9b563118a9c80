/* Replays every input in tests/fuzz/regressions/<target>/ (inputs that once crashed, hung, leaked or
 * hit UB in a fuzz target, kept after the fix) and the seed corpora in tests/fuzz/corpus/<target>/
 * through the fuzz targets' entry functions, without libFuzzer. A regression shows as a crash or a
 * sanitizer report (the CI's ASan + UBSan build), or as an input that takes too long. */
#include "tests/check.h"
#include "tests/fuzz/targets.c"
#include <dirent.h>
#include <time.h>

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    size_t cap = 0, len = 0, r;
    do {
        if (len == cap) {
            unsigned char *nb = realloc(b, cap = cap ? cap * 2 : 4096);
            if (!nb) { free(b); fclose(f); return NULL; }
            b = nb;
        }
        r = fread(b + len, 1, cap - len, f);
        len += r;
    } while (r);
    fclose(f);
    *n = len;
    return b;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of dir through fn; returns how many ran. */
static int replay(const char *dir, const char *target, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        unsigned char *b = slurp(path, &len);
        CHECK(b != NULL, "%s: cannot read it", path);
        if (b) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int rc = fn(b, len);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
            CHECK(rc == 0, "%s %s: returned %d", target, path, rc);
            /* libFuzzer's -timeout is 10 s under ASan; a plain build has no excuse for 20 s */
            CHECK(s < 20.0, "%s %s: took %.1f s (a hang that came back?)", target, path, s);
        }
        free(b);
        free(names[i]);
    }
    return n;
}

int main(void)
{
    const char *src = getenv("CTVK_SOURCE");
    if (!src || !*src) src = "..";
    int total_seeds = 0, total_regressions = 0;
    for (const ctvk_fuzz_target *t = ctvk_fuzz_targets; t->name; t++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src, t->name);
        int seeds = replay(dir, t->name, t->fn);
        CHECK(seeds > 0, "%s: no seed corpus in %s", t->name, dir);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regressions/%s", src, t->name);
        int regs = replay(dir, t->name, t->fn);
        printf("%-10s %3d seeds, %3d regression inputs\n", t->name, seeds, regs);
        total_seeds += seeds, total_regressions += regs;
    }
    CHECK(total_seeds >= 10, "%d seeds", total_seeds);
    return check_done("test_fuzz_regressions");
}
