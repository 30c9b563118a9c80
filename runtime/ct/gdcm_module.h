/* What runtime/ct/gdcm_io.cxx, built as the module libctvk-gdcm.so, gives runtime/ct/gdcm_load.c:
 * one exported function returning this table. The module is loaded on the first DICOM file
 * (gdcm_load.c), so that no other ctvk process pays for GDCM: its libraries and their static
 * initialisers (DICOM's data dictionary, built at load) take 38 ms of each process's start on the
 * development VM, two thirds of what `ctvk --version` costs (docs/measurements.md). */
#ifndef CTVK_RUNTIME_CT_GDCM_MODULE_H
#define CTVK_RUNTIME_CT_GDCM_MODULE_H
#include "runtime/ct/gdcm_io.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Changed with the table or the structures of gdcm_io.h: a module of another ABI or ctvk
 * version is refused by name. */
#define CTVK_GDCM_ABI 1u
#define CTVK_GDCM_MODULE_SYMBOL "ctvk_gdcm_module"

typedef struct ctvk_gdcm_table {
    unsigned abi;
    size_t header_size, slice_size;   /* sizeof the structures as the module saw them */
    const char *version;              /* ctvk's, CTVK_VERSION_STRING */
    int (*read_header)(const char *path, ctvk_gdcm_header *h, char *err, size_t errsize);
    int (*read_image)(const char *path, ctvk_gdcm_header *h, void **pixels, int *type, char *err, size_t errsize);
    int (*write)(const char *path, const ctvk_gdcm_slice *s, const void *pixels, char *err, size_t errsize);
} ctvk_gdcm_table;

typedef const ctvk_gdcm_table *(*ctvk_gdcm_module_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
