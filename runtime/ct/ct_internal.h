/* Private helpers shared by the CT data files (runtime/ct/). Host code only. */
#ifndef CTVK_RUNTIME_CT_INTERNAL_H
#define CTVK_RUNTIME_CT_INTERNAL_H

#include "ctvk/ct.h"
#include "runtime/base/array.h"      /* CTVK__GROW */
#include "runtime/base/fileio.h"     /* folders, atomic writes */
#include "runtime/base/base.h"   /* ctvk__fail, CTVK_TRY */
#include "runtime/base/rng.h"    /* ctvk__rng */
#include <stdio.h>

/* malloc'ed "a/b" (no doubled slash; b alone when a is "" or NULL). NULL when out of memory. */
char *ctvk__path_join(const char *a, const char *b);
/* One CSV field: as is, or quoted (quotes doubled) when it holds a comma, quote or line break. */
void ctvk__csv_field(FILE *f, const char *s);
/* Natural order: digit runs compare by value ("IM2" < "IM10"), the rest bytewise. */
int ctvk__natcmp(const char *a, const char *b);
/* Online CPUs (>= 1). */
int ctvk__ncpu(void);
/* ctvk__rng, ctvk__rng_unit: runtime/base/rng.h. A seed mixed from several values. */
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
/* ctvk_tiff_read_values, with the setting that names the size in a size mismatch ("[data]
 * image_size", "[model] input_size" for the network's input). */
ctvk_status ctvk__tiff_read_named(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                                  size_t *clamped, const char *size_name);
/* ctvk_slice_read, the same way (TIFF slices name size_name; DICOM and NIfTI readers [data] image_size). */
ctvk_status ctvk__slice_read_named(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                                   size_t *clipped, const char *size_name);

/* 1 when a slice path names a TIFF file (or anything that is neither DICOM nor a NIfTI slice) */
int ctvk__slice_is_tiff(const char *path);

/* DICOM (dicom.c): "DICM" at byte 128; one slice read as stored values; series of a file list. */
int ctvk__is_dicom(const char *path);
/* The file's element structure is sound (checked before GDCM, which aborts on some malformed files). */
ctvk_status ctvk__dicom_check(const char *path);
ctvk_status ctvk__dicom_read(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                             size_t *clipped);
typedef struct ctvk__dseries {
    char uid[72], description[80], patient_id[72];
    int number;               /* SeriesNumber (0 when absent) */
    size_t n;
    size_t *file;             /* into the file list, in slice order */
    int *instance;            /* InstanceNumber per slice, -1 when absent */
    double *pos;              /* position along the slice normal (mm), NaN when unknown */
    char problem[1600];       /* why the series cannot be used ("" when it can) */
} ctvk__dseries;
typedef struct ctvk__dstudy {
    ctvk__dseries *v;         /* CT image series, in SeriesInstanceUID order */
    int n;
    ctvk__strs notes;         /* skipped series */
} ctvk__dstudy;
/* NIfTI (nifti.c): slices are named "volume.nii[.gz]#k", k = 0 the most superior. */
int ctvk__nifti_slice_name(const char *path, char *file, size_t n, long *k);
/* Axial slices of a volume, the position (mm, superior) of slice 0 and the step from slice to slice. */
ctvk_status ctvk__nifti_probe(const char *path, int64_t *slices, double *first_pos, double *step);
ctvk_status ctvk__nifti_read(const char *slice, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                             size_t *clipped);
/* Writes an int16 HU volume (x = column toward the patient's left, y = row from the bottom, z = from the
 * most inferior slice) with an sform saying so; each flip reverses that voxel axis in the file (tests). */
ctvk_status ctvk__phantom_nifti_axes(const char *path, int size, int slices, const int16_t *hu, int flip_lr, int flip_ap,
                                     int flip_si);
ctvk_status ctvk__phantom_nifti(const char *path, int size, int slices, const int16_t *hu);

/* The phantom's DICOM files (phantom.c): the shuffled file name of a slice, and one slice written
 * (localizer: the patient's one-image localizer series). */
void ctvk__phantom_dicom_name(uint64_t seed, int p, int sq, int i, char *buf, size_t n);
ctvk_status ctvk__phantom_dicom(const char *path, uint64_t seed, int p, int sq, int i, int size, int slices,
                                int localizer, const uint16_t *stored);
ctvk_status ctvk__dicom_group(const char *const *paths, size_t n, ctvk__dstudy *out);
void ctvk__dstudy_free(ctvk__dstudy *s);
#endif
