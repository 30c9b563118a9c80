/* Private helpers shared by the CT data files (runtime/ct/). Host code only. */
#ifndef CTVK_RUNTIME_CT_INTERNAL_H
#define CTVK_RUNTIME_CT_INTERNAL_H

#include "ctvk/ct.h"
#include "runtime/fileio.h"     /* folders, atomic writes */
#include "runtime/internal.h"   /* ctvk__fail, CTVK_TRY */
#include <stdio.h>

/* malloc'ed "a/b" (no doubled slash; b alone when a is "" or NULL). NULL when out of memory. */
char *ctvk__path_join(const char *a, const char *b);
/* Natural order: digit runs compare by value ("IM2" < "IM10"), the rest bytewise. */
int ctvk__natcmp(const char *a, const char *b);
/* Online CPUs (>= 1). */
int ctvk__ncpu(void);
/* splitmix64 */
uint64_t ctvk__rng(uint64_t *state);
/* Uniform in [0, 1). */
double ctvk__rng_unit(uint64_t *state);
/* A seed mixed from several values. */
uint64_t ctvk__mix(uint64_t a, uint64_t b);

/* A growable array of owned strings. */
typedef struct ctvk__strs {
    char **v;
    size_t n, cap;
} ctvk__strs;
ctvk_status ctvk__strs_push(ctvk__strs *s, const char *str);   /* copies */
void ctvk__strs_free(ctvk__strs *s);

/* Adds a formatted warning to a string list (out-of-memory is ignored: warnings are advisory). */
void ctvk__strs_pushf(ctvk__strs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A string -> int hash map (keys copied). */
typedef struct ctvk__map {
    char **keys;
    int *vals;
    size_t cap, n;
} ctvk__map;
/* 1 and *val when key is present, else 0. */
int ctvk__map_get(const ctvk__map *m, const char *key, int *val);
ctvk_status ctvk__map_put(ctvk__map *m, const char *key, int val);
void ctvk__map_free(ctvk__map *m);

/* TIFF internals (tiff.c): an open, validated slice. */
typedef struct ctvk__tiff ctvk__tiff;
ctvk_status ctvk__tiff_open(const char *path, ctvk__tiff **out, ctvk_tiff_info *info);
/* rows [y0, y1) as uint16 (full width) */
ctvk_status ctvk__tiff_rows(ctvk__tiff *t, int y0, int y1, uint16_t *out, size_t *clamped);
void ctvk__tiff_close(ctvk__tiff *t);
/* ctvk_tiff_read, with the setting that names the size in a size mismatch ("[data] image_size",
 * "[model] input_size" for the network's input). */
ctvk_status ctvk__tiff_read_named(const char *path, int size, int resize, uint16_t *out, size_t *clamped,
                                  const char *size_name);
#endif
