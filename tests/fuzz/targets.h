/* Fuzz entry points shared by the libFuzzer programs (tests/fuzz/fuzz_*.c, -DCTVK_FUZZ=ON) and the
 * plain regression test (tests/test_fuzz_regressions.c). Each takes one input, feeds it to the
 * library the way a user's file would reach it, and returns 0; a crash, hang, leak or UB report is
 * the failure. The library's own refusals (a status other than CTVK_OK) are expected outcomes. */
#ifndef CTVK_FUZZ_TARGETS_H
#define CTVK_FUZZ_TARGETS_H
#include <stddef.h>
#include <stdint.h>

int ctvk_fuzz_tiff(const uint8_t *data, size_t size);        /* a TIFF file */
int ctvk_fuzz_ini(const uint8_t *data, size_t size);         /* an INI config */
int ctvk_fuzz_csv(const uint8_t *data, size_t size);         /* fold CSVs: train, validation and test split at '\f' */
int ctvk_fuzz_checkpoint(const uint8_t *data, size_t size);  /* a checkpoint (CRCs fixed up when byte 0 is odd) */
int ctvk_fuzz_keras(const uint8_t *data, size_t size);       /* a Keras HDF5 weight file */
int ctvk_fuzz_dicom(const uint8_t *data, size_t size);       /* a DICOM file (scan, series, slice read) */
int ctvk_fuzz_nifti(const uint8_t *data, size_t size);       /* a NIfTI-1/2 volume (.nii) */

typedef struct ctvk_fuzz_target {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} ctvk_fuzz_target;
extern const ctvk_fuzz_target ctvk_fuzz_targets[];   /* NULL-terminated */

/* The small_resnet every graph-taking target uses: 16x16x1, stages 2, blocks 1,1, widths 4,8. */
struct ctvk_model_config;
void ctvk_fuzz_small_config(struct ctvk_model_config *c);
#endif
