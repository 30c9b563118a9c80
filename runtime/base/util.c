/* The public forms of the base layer's utilities (include/ctvk/util.h). */
#include "ctvk/util.h"
#include "runtime/base/base.h"
#include "runtime/base/fileio.h"
#include "runtime/base/list.h"
#include "runtime/base/rng.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

double ctvk_now(void) { return ctvk__now(); }

ctvk_status ctvk_fail(ctvk_status s, const char *fmt, ...)
{
    char *msg = malloc(CTVK_ERROR_MAX);
    if (!msg) return ctvk__fail(s, "%s", fmt);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, CTVK_ERROR_MAX, fmt, ap);
    va_end(ap);
    ctvk__fail(s, "%s", msg);
    free(msg);
    return s;
}

ctvk_status ctvk_mkdirs(const char *path) { return ctvk__mkdirs(path); }
int ctvk_path_exists(const char *path) { return ctvk__exists(path); }
ctvk_status ctvk_write_file_atomic(const char *path, const void *data, size_t len)
{
    return ctvk__write_file_atomic(path, data, len);
}
ctvk_status ctvk_file_begin(const char *path, char *tmp, size_t tmpsize, FILE **f)
{
    return ctvk__open_tmp(path, tmp, tmpsize, f);
}
ctvk_status ctvk_file_commit(FILE *f, const char *tmp, const char *path) { return ctvk__close_commit(f, tmp, path); }
FILE *ctvk_fopen_regular(const char *path, int *err) { return ctvk__fopen_regular(path, err); }
ctvk_status ctvk_lock_dir(const char *dir, const char *holder)
{
    int fd;
    return ctvk__lock_dir(dir, holder, &fd);
}
int ctvk_parse_ints(const char *text, int *out, int max, long lo, long hi)
{
    return ctvk__parse_ints(text, out, max, lo, hi);
}
uint64_t ctvk_splitmix64(uint64_t *state) { return ctvk__rng(state); }

uint64_t ctvk__xxh3(const void *data, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(data, n, seed); }
