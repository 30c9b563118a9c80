/* The C interface to GDCM (runtime/ct/gdcm_io.cxx, the only C++ file, a module loaded on first use by
 * runtime/ct/gdcm_load.c): DICOM headers, decoded pixel data and writing one CT slice. Every function
 * returns 0 on success, else -1 with one line in err (also when the module cannot be loaded). */
#ifndef CTVK_RUNTIME_CT_GDCM_IO_H
#define CTVK_RUNTIME_CT_GDCM_IO_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctvk_gdcm_header {
    char modality[32], image_type[160], sop_class[72], transfer_syntax[72];
    char series_uid[72], series_description[80], patient_id[72], photometric[32];
    int series_number, has_series_number;
    int instance, has_instance;
    double ipp[3];
    int has_ipp;
    double iop[6];
    int has_iop;
    int rows, cols, bits_allocated, pixel_representation, samples_per_pixel, frames;
    double slope, intercept;  /* 1 and 0 when absent */
} ctvk_gdcm_header;

/* The header up to the pixel data. */
int ctvk_gdcm_read_header(const char *path, ctvk_gdcm_header *h, char *err, size_t errsize);

/* Sample types of decoded pixels. */
enum { CTVK_GDCM_U8, CTVK_GDCM_I8, CTVK_GDCM_U16, CTVK_GDCM_I16, CTVK_GDCM_U32, CTVK_GDCM_I32 };
/* The header and the decoded pixel data of a one-frame grayscale image: *pixels (malloc'ed,
 * rows * cols samples of *type, native byte order). */
int ctvk_gdcm_read_image(const char *path, ctvk_gdcm_header *h, void **pixels, int *type, char *err, size_t errsize);

enum { CTVK_GDCM_RAW = 0, CTVK_GDCM_RLE = 1, CTVK_GDCM_JPEGLS = 2, CTVK_GDCM_JPEG_LOSSLESS = 3, CTVK_GDCM_IMPLICIT = 4 };
typedef struct ctvk_gdcm_slice {
    int rows, cols, is_signed;  /* 16-bit samples */
    double slope, intercept;
    const char *modality, *image_type, *study_uid, *series_uid, *sop_uid, *frame_uid;
    const char *patient_id, *patient_name, *series_description;
    int series_number, instance;
    double ipp[3], iop[6], spacing, thickness;
    int compression;            /* CTVK_GDCM_* */
} ctvk_gdcm_slice;
/* Writes one CT Image Storage file (DICOM Part 10) with rows * cols 16-bit samples. */
int ctvk_gdcm_write(const char *path, const ctvk_gdcm_slice *s, const void *pixels, char *err, size_t errsize);

/* Whether the module is loaded in this process (a DICOM file was read or written): for tests. */
int ctvk_gdcm_loaded(void);

#ifdef __cplusplus
}
#endif
#endif
