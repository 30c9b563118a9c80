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

/* Sample types of the readers, and the mapping to stored values (values.c). */
typedef enum ctvk__type { CTVK__U8, CTVK__I8, CTVK__U16, CTVK__I16, CTVK__U32, CTVK__I32, CTVK__F32, CTVK__F64 } ctvk__type;
typedef struct ctvk__rescale {
    double slope, intercept;  /* value = sample * slope + intercept */
    int hu;                   /* value is HU: stored = value + offset; else value is the stored value */
    int offset;               /* hu_offset (for the mapping and the messages) */
} ctvk__rescale;
/* n samples (native byte order) -> stored uint16 values; *clipped (may be NULL) is increased by the
 * samples clipped into 0..65535. Fails naming path on NaN or infinite values and, when !hu, on
 * negative ones. */
ctvk_status ctvk__to_stored(const char *path, const void *src, ctvk__type type, size_t n, const ctvk__rescale *r,
                            uint16_t *dst, size_t *clipped);
/* v->hu_offset, or 1024 when v is NULL or it is 0 */
int ctvk__hu_offset(const ctvk_value_options *v);

/* TIFF internals (tiff.c): an open, validated slice. */
typedef struct ctvk__tiff ctvk__tiff;
ctvk_status ctvk__tiff_open(const char *path, ctvk__tiff **out, ctvk_tiff_info *info);
/* How ctvk__tiff_rows maps samples (NULL or never called: the defaults). */
void ctvk__tiff_set_values(ctvk__tiff *t, const ctvk_value_options *v);
/* rows [y0, y1) as uint16 (full width) */
ctvk_status ctvk__tiff_rows(ctvk__tiff *t, int y0, int y1, uint16_t *out, size_t *clamped);
void ctvk__tiff_close(ctvk__tiff *t);
#endif
