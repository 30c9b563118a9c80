/* The project's one piece of each kind of plumbing, pinned to the values every result rests on:
 *  - the RNG (splitmix64): the published first values from state 0, the uniform double's 53 bits;
 *  - FNV-1a 64 and CRC-32 against their published check values;
 *  - growable arrays: the doubling policy;
 *  - the integer-list parser: each rule of runtime/base/list.h, accepted and refused;
 *  - the model config as a checkpoint stores it: read by the config reader itself, with its ranges;
 *  - atomic replacement: a finished write replaces the file, an injected fault (CTVK_FAULT) keeps
 *    the previous file, leaves no temporary file and names the file and the cause. */
#include "check.h"
#include "ctvk/checkpoint.h"
#include "runtime/base/array.h"
#include "runtime/base/fileio.h"
#include "runtime/vk/internal.h"
#include "runtime/base/list.h"
#include "runtime/base/rng.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void rng_and_hashes(void)
{
    uint64_t s = 0;
    /* splitmix64 from 0 (the reference implementation's published outputs) */
    CHECK(ctvk__rng(&s) == 0xE220A8397B1DCDAFull, "splitmix64 first value");
    CHECK(ctvk__rng(&s) == 0x6E789E6AA1B965F4ull, "splitmix64 second value");
    CHECK(ctvk__rng(&s) == 0x06C45D188009454Full, "splitmix64 third value");
    CHECK(s == 3 * CTVK__GOLDEN, "the state advances by the golden gamma");
    s = 0;
    double u = ctvk__rng_unit(&s);
    CHECK(u == (double)(0xE220A8397B1DCDAFull >> 11) * 0x1.0p-53, "uniform: the top 53 bits (%.17g)", u);
    CHECK(check_rng_next(&(uint64_t){0}) == 0xE220A8397B1DCDAFull, "the tests' generator is the same one");
    /* FNV-1a 64: "" is the offset basis, "a" and "foobar" the published values */
    CHECK(ctvk__fnv1a(CTVK__FNV_BASIS, "", 0) == 0xCBF29CE484222325ull, "fnv1a('')");
    CHECK(ctvk__fnv1a(CTVK__FNV_BASIS, "a", 1) == 0xAF63DC4C8601EC8Cull, "fnv1a('a')");
    CHECK(ctvk__fnv1a(CTVK__FNV_BASIS, "foobar", 6) == 0x85944171F73967E8ull, "fnv1a('foobar')");
    CHECK(ctvk__hash64("foobar", 6, 0) == 0x85944171F73967E8ull, "hash64 from 0 starts at the basis");
    CHECK(ctvk__fnv1a(ctvk__fnv1a(CTVK__FNV_BASIS, "foo", 3), "bar", 3) == 0x85944171F73967E8ull, "fnv1a chains");
    /* CRC-32 (IEEE): the check value, chaining, and an empty buffer leaves the crc */
    CHECK(ctvk_crc32(0, "123456789", 9) == 0xCBF43926u, "crc32 check value %08x", ctvk_crc32(0, "123456789", 9));
    CHECK(ctvk_crc32(ctvk_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u, "crc32 chains");
    CHECK(ctvk_crc32(0x1234u, NULL, 0) == 0x1234u, "crc32 of nothing");
}

static void arrays(void)
{
    CHECK(ctvk__grow_cap(0, 1, 64) == 64 && ctvk__grow_cap(64, 65, 64) == 128 && ctvk__grow_cap(16, 100, 16) == 128,
          "doubling from first");
    CHECK(ctvk__grow_cap(8, 8, 64) == 8, "enough already");
    CHECK(ctvk__realloc_n(NULL, SIZE_MAX / 2, 4) == NULL, "an overflowing size fails like a full memory");
    int *v = NULL, cap = 0, n = 0, fails = 0;
    for (int i = 0; i < 1000; i++) {
        CTVK__GROW(v, cap, n + 1, 16, fails++; break);
        v[n++] = i;
    }
    CHECK(!fails && n == 1000 && cap == 1024 && v[999] == 999, "1000 pushes: cap %d", cap);
    free(v);
}

static void lists(void)
{
    int v[8];
    struct { const char *text; int n; int first, last; } ok[] = {
        {"1,3,5", 3, 1, 5}, {"1, 3, 5", 3, 1, 5}, {" 1 ,3 ", 2, 1, 3}, {"1 3", 2, 1, 3}, {"2,", 1, 2, 2},
        {"", 0, 0, 0}, {"   ", 0, 0, 0}, {"-2,7", 2, -2, 7},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int n = ctvk__parse_ints(ok[i].text, v, 8, -5, 10);
        CHECK(n == ok[i].n && (!n || (v[0] == ok[i].first && v[n - 1] == ok[i].last)), "'%s': %d items", ok[i].text, n);
    }
    const char *bad[] = {"1,,2", ",1", "1,2,,", "a", "1;2", "1.5", "11", "-6", "99999999999999999999", "1,x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(ctvk__parse_ints(bad[i], v, 8, -5, 10) == -1, "'%s' refused", bad[i]);
    CHECK(ctvk__parse_ints("1,2,3", v, 2, 0, 9) == -1 && ctvk__parse_ints("1,2", v, 2, 0, 9) == 2, "at most max");
}

static void atomic(void)
{
    char *dir = check_tmpdir("plumbing");
    char path[600];
    snprintf(path, sizeof path, "%s/a.txt", dir);
    CHECK(ctvk__write_file_atomic(path, "first", 5) == CTVK_OK, "write: %s", ctvk_error());
    CHECK(slurp(path) && !strcmp(slurp(path), "first"), "written");
    CHECK(ctvk__write_file_atomic(path, "second", 6) == CTVK_OK && !strcmp(slurp(path), "second"), "replaced");
    setenv("CTVK_FAULT", "file-write", 1);
    ctvk_status s = ctvk__write_file_atomic(path, "third", 5);
    unsetenv("CTVK_FAULT");
    CHECK(s == CTVK_ERR_IO && strstr(ctvk_error(), path) && strstr(ctvk_error(), "injected fault") &&
          strstr(ctvk_error(), "the disk is full") && strstr(ctvk_error(), "unchanged"), "fault: %s", ctvk_error());
    CHECK(!strcmp(slurp(path), "second"), "the previous file stays");
    CHECK(count_entries(dir) == 1, "%d entries (a temporary file left behind?)", count_entries(dir));
    /* the stdio form, a library-written form, and a folder in the way */
    char tmp[4200];
    FILE *f;
    CHECK(ctvk__open_tmp(path, tmp, sizeof tmp, &f) == CTVK_OK, "open_tmp");
    fputs("fourth", f);
    CHECK(ctvk__close_commit(f, tmp, path) == CTVK_OK && !strcmp(slurp(path), "fourth"), "close_commit");
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK(ctvk__mkdirs(sub) == CTVK_OK, "mkdirs");
    s = ctvk__write_file_atomic(sub, "x", 1);
    CHECK(s == CTVK_ERR_IO && strstr(ctvk_error(), sub) && strstr(ctvk_error(), "renaming"), "over a folder: %s",
          ctvk_error());
    snprintf(sub, sizeof sub, "%s/none/b.txt", dir);
    s = ctvk__write_file_atomic(sub, "x", 1);
    CHECK(s == CTVK_ERR_IO && strstr(ctvk_error(), sub) && strstr(ctvk_error(), "No such file"), "no folder: %s",
          ctvk_error());
    CHECK(count_entries(dir) == 2, "%d entries", count_entries(dir));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    free(dir);
}

static void model_text(void)
{
    ctvk_model_config c, back;
    ctvk_model_config_default(&c, "small_resnet");
    c.height = 8, c.width = 4096, c.classes = 3, c.dropout = 0.25f, c.input_scale = 0.5f, c.input_offset = -1;
    char text[1024];
    size_t n = ctvk_model_config_to_text(&c, text, sizeof text);
    CHECK(n > 0 && n < sizeof text && ctvk_model_config_from_text(text, "text", &back) == CTVK_OK, "round trip: %s",
          ctvk_error());
    CHECK(!strcmp(back.arch, c.arch) && !strcmp(back.head, c.head) && back.height == 8 && back.width == 4096 &&
          back.classes == 3 && back.stages == c.stages && back.blocks[2] == c.blocks[2] && back.widths[2] == c.widths[2] &&
          back.dropout == c.dropout && back.bn_eps == c.bn_eps && back.input_scale == 0.5f && back.input_offset == -1 &&
          back.input_recorded, "round trip: the same config");
    CHECK(ctvk_model_config_from_text("arch=small_resnet\nheight=64\n", "old", &back) == CTVK_OK && !back.input_recorded,
          "no input transform recorded: %s", ctvk_error());
    /* the config reader's ranges: height 8..4096, stages 1..7 */
    const char *bad[] = {"arch=small_resnet\nheight=4\n", "arch=small_resnet\nheight=8192\n", "arch=small_resnet\nstages=0\n",
                         "arch=small_resnet\nstages=8\n", "arch=small_resnet\nblocks=1,,2\n", "arch=vgg\n", "height=64\n",
                         "arch=small_resnet\nheight\n", "arch=small_resnet\nmodel.height=64\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ctvk_status s = ctvk_model_config_from_text(bad[i], "ckpt", &back);
        CHECK(s == CTVK_ERR_FORMAT && strstr(ctvk_error(), "ckpt") && strstr(ctvk_error(), "corrupt"), "'%s': %s",
              bad[i], ctvk_error());
    }
    CHECK(ctvk_model_config_from_text("arch=small_resnet\nstages=7\nblocks=1\nwidths=8\n", "t", &back) == CTVK_OK &&
          back.stages == 7 && back.blocks[6] == 1 && back.widths[6] == 512, "stages=7 with short lists: %s", ctvk_error());
}

int main(void)
{
    rng_and_hashes();
    arrays();
    lists();
    model_text();
    atomic();
    return check_done("test_plumbing");
}
