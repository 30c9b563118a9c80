/* ctvk CT data: 16-bit TIFF slices, the slice-selection algorithm, the COVID-CTset layouts and fold
 * lists, synthetic phantoms, contact sheets and a background batch loader.
 *
 * This is host code only (no device work). The exact rules are those of docs/method.md sections 1 and 2:
 * slices are one-channel uint16 TIFFs of raw stored values (HU = value - 1024); selection counts the
 * "dark" pixels (raw value strictly < 300) in rows [240, 340) x columns [120, 370) of each slice and
 * keeps a slice iff its count is strictly greater than (max - min) / 1.5 over its sequence.
 *
 * Promises:
 *  - Every function returns a ctvk_status; on failure ctvk_error() holds one line that names the file
 *    (and the CSV line, where there is one) and what was found. Nothing here prints or exits.
 *  - Files are written under a temporary name in the destination folder and renamed into place, so a
 *    reader never sees a half-written CSV, PNG or TIFF.
 *  - Everything random (phantoms, shuffles) is a pure function of the seed.
 */
#ifndef CTVK_CT_H
#define CTVK_CT_H

#include "ctvk/config.h"
#include "ctvk/ctvk.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ classes */
/* Class indices in alphabetical order, as Keras assigns them: covid = 0, normal = 1. */
enum { CTVK_CLASS_UNKNOWN = -1, CTVK_CLASS_COVID = 0, CTVK_CLASS_NORMAL = 1 };
/* "covid", "normal" or "unknown". */
const char *ctvk_class_name(int cls);
/* The class named by a dataset name part: one that contains "covid" is COVID, one that contains
 * "normal" is normal (so "137covid", "covid2", "normalcd3", "cdunnormal"); else UNKNOWN. */
int ctvk_class_from_name(const char *s);
/* The patient id of a path or flat file name: the last "patientN" path component or the first
 * "_patientN_" part of a file name (N decimal). Writes "patientN" to id; 0 if there is none. */
int ctvk_patient_from_path(const char *path, char *id, size_t idsize);

/* ------------------------------------------------------------------------------------ values */
/* What a slice's numbers mean. ctvk works on COVID-CTset's stored values, HU + 1024 as uint16 (the
 * dataset's DICOM RescaleIntercept was -1024): selection's dark level and the network's input are on
 * that scale. HU from a signed or float TIFF, a DICOM series (after RescaleSlope/Intercept) or a NIfTI
 * volume (after scl_slope/scl_inter) are mapped to it: stored = round(HU + hu_offset), clipped to
 * 0..65535 and the clipped samples counted. NaN and infinite samples are refused, naming the file. */
typedef enum ctvk_values {
    CTVK_VALUES_AUTO = 0,     /* [data] values = auto: uint8/uint16 TIFF samples are stored values,
                                 int16/float32 TIFF samples are HU; DICOM and NIfTI are HU */
    CTVK_VALUES_STORED = 1,   /* every TIFF sample is a stored value (a negative one is refused) */
    CTVK_VALUES_HU = 2        /* every TIFF sample is HU */
} ctvk_values;
#define CTVK_HU_OFFSET 1024   /* COVID-CTset: stored = HU + 1024 */
typedef struct ctvk_value_options {
    ctvk_values values;       /* [data] values (auto) */
    int hu_offset;            /* [data] hu_offset: stored = HU + hu_offset; 0 -> 1024 */
} ctvk_value_options;         /* all zero: the defaults */
const char *ctvk_values_name(ctvk_values v);   /* "auto", "stored", "hu" */
/* Reads [data] values = auto | stored | hu and [data] hu_offset (1..32768, default 1024). */
ctvk_status ctvk_values_from_config(const ctvk_config *cfg, ctvk_value_options *v);

/* ------------------------------------------------------------------------------------ TIFF */
/* Sample types ctvk reads: the dataset's uint16 plus uint8, int16 and float32. */
typedef enum ctvk_sample { CTVK_SAMPLE_U16 = 0, CTVK_SAMPLE_U8 = 1, CTVK_SAMPLE_I16 = 2, CTVK_SAMPLE_F32 = 3 } ctvk_sample;
const char *ctvk_sample_name(ctvk_sample s);   /* "uint16", ... */

typedef struct ctvk_tiff_info {
    int width, height;        /* as stored */
    ctvk_sample sample;
    int compression;          /* libtiff COMPRESSION_* code (1 = none) */
    int tile_width, tile_height; /* 0 for strip images */
    int rows_per_strip;       /* strip images */
    int big_endian;           /* "MM" byte order */
} ctvk_tiff_info;

/* Reads the header of the first image and checks that ctvk can read it: one sample per pixel
 * (grayscale), a supported sample type, a non-zero size. RGB, palette, multi-sample and zero-sized
 * images fail with a message that names the file and what it found. Strips or tiles, either byte
 * order and every compression libtiff decodes are accepted; min-is-white grayscale is read as
 * stored (not inverted). Only the first image of a multi-page file is read. */
ctvk_status ctvk_tiff_probe(const char *path, ctvk_tiff_info *info);

/* Reads the first image as size x size uint16 stored values into out (size * size values), with
 * the default value options (ctvk_tiff_read_values with NULL): uint16 samples are kept as stored,
 * uint8 widened; int16 and float32 samples are HU, mapped to HU + 1024, rounded to nearest and
 * clipped into 0..65535; *clamped (may be NULL) counts clipped samples. NaN or infinite samples,
 * and negative samples read as stored values, fail naming the file.
 * A stored size other than size x size fails unless resize is set: then the image is resampled
 * bilinearly with pixel centres aligned (src = (dst + 0.5) * in / out - 0.5, edges replicated). */
ctvk_status ctvk_tiff_read(const char *path, int size, int resize, uint16_t *out, size_t *clamped);
/* The same with value options (NULL: the defaults). */
ctvk_status ctvk_tiff_read_values(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                                  size_t *clamped);

/* Reads rows [y0, y1) of an image that must be stored as width x height, decoding only the strips
 * or tiles those rows touch (uncompressed strips are read with one pread); out holds
 * (y1 - y0) * width values, converted as ctvk_tiff_read converts them. */
ctvk_status ctvk_tiff_read_rows(const char *path, int width, int height, int y0, int y1, uint16_t *out);

typedef struct ctvk_tiff_write_options {
    ctvk_sample sample;       /* type of pixels[] and of the file's samples (default uint16) */
    int compression;          /* libtiff COMPRESSION_* code; 0 or 1: none */
    int predictor;            /* 2: horizontal differencing (LZW, deflate, zstd, lzma); else none */
    int tile;                 /* 0: strips; else square tiles of this size (a multiple of 16) */
    int rows_per_strip;       /* strips: rows per strip; 0: the whole image in one strip */
    int big_endian;           /* 1: big-endian ("MM") file; 0: little-endian ("II") */
} ctvk_tiff_write_options;

/* Writes one grayscale image (width * height samples of o->sample; NULL options: uint16,
 * uncompressed, one strip, little-endian), through a temporary file renamed into place. */
ctvk_status ctvk_tiff_write(const char *path, int width, int height, const void *pixels,
                            const ctvk_tiff_write_options *o);

/* Reads one slice of any kind ctvk reads (a TIFF file; a DICOM file; a slice of a NIfTI volume,
 * named "volume.nii[.gz]#k") as ctvk_tiff_read_values reads a TIFF: size x size stored values. */
ctvk_status ctvk_slice_read(const char *path, int size, int resize, const ctvk_value_options *v, uint16_t *out,
                            size_t *clipped);

/* Bilinear resampling of a uint16 image (the rule of ctvk_tiff_read). */
void ctvk_resize_u16(const uint16_t *src, int sw, int sh, uint16_t *dst, int dw, int dh);

/* ------------------------------------------------------------------------------------ selection */
typedef enum ctvk_group_by { CTVK_GROUP_SEQUENCE = 0, CTVK_GROUP_PATIENT = 1 } ctvk_group_by;

typedef struct ctvk_select_params {
    int y0, y1, x0, x1;       /* region, end-exclusive, in 512 x 512 coordinates: 240, 340, 120, 370 */
    int dark_level;           /* a pixel is dark iff its raw value < dark_level: 300 */
    double divisor;           /* threshold = (max - min) / divisor: 1.5 */
    ctvk_group_by group;      /* the unit whose counts set one threshold: one sequence (SR_k folder) */
    ctvk_value_options values;/* how slices are read ([data] values, hu_offset) */
} ctvk_select_params;

void ctvk_select_defaults(ctvk_select_params *p);
/* Reads [selection] region_y0 region_y1 region_x0 region_x1 dark_level divisor group over the
 * defaults and checks them (0 <= y0 < y1 <= 512, same for x; 1 <= dark_level <= 65536;
 * 0 < divisor <= 1e6; group = sequence | patient), and [data] values and hu_offset (ctvk_values_from_config). */
ctvk_status ctvk_select_from_config(const ctvk_config *cfg, ctvk_select_params *p);

/* The region in an image of w x h pixels: the 512-pixel coordinates scaled by w / 512 (columns)
 * and h / 512 (rows), rounded down, at least one pixel; exactly the configured region at 512. */
void ctvk_select_region(const ctvk_select_params *p, int w, int h, int *y0, int *y1, int *x0, int *x1);
/* Dark pixels of one w x h image in the region. */
uint32_t ctvk_dark_count(const uint16_t *img, int w, int h, const ctvk_select_params *p);
/* Dark pixels of rows already cut to the region's rows: rows of width w, columns [x0, x1). */
uint32_t ctvk_dark_count_rows(const uint16_t *rows, int nrows, int w, int x0, int x1, int dark_level);
/* One group: threshold = (max - min) / divisor as a double (0 for n = 0), keep[i] = counts[i] >
 * threshold. Returns the threshold. */
double ctvk_select_group(const uint32_t *counts, size_t n, double divisor, uint8_t *keep);

/* ------------------------------------------------------------------------------------ series */
/* The slices found under a path, grouped into sequences and patients. A sequence is one folder of
 * TIFF slices (an SR_k folder), or, for files named like the flat Train&Validation folder
 * (<group>_<patientN>_<SR_k>_<IMxxxxx>.tif), one <group>_<patientN>_<SR_k> prefix; or one DICOM
 * series (the files of one SeriesInstanceUID in one folder, whatever their names: CT image series
 * only, localizers and other modalities skipped with a note); or one NIfTI volume. A patient is one
 * patient id (ctvk_patient_from_path), else for DICOM the PatientID, else the sequence's parent
 * folder (for DICOM: the folder of the files). Patients are in natural order of id, sequences (DICOM:
 * by SeriesNumber, then) in
 * natural order of name, TIFF slices in natural order of file name ("IM2" before "IM10"), DICOM
 * slices by ImagePositionPatient along the slice normal, head first (InstanceNumber when a
 * position is missing; never the file name), NIfTI slices from superior to inferior. */
typedef enum ctvk_series_kind { CTVK_SERIES_TIFF = 0, CTVK_SERIES_DICOM = 1, CTVK_SERIES_NIFTI = 2 } ctvk_series_kind;

typedef struct ctvk_series {
    char *name;               /* relative to the scanned path ("covid1/patient5/SR_2"), or the flat prefix;
                                 DICOM: "<folder>/<SeriesInstanceUID>"; NIfTI: the file */
    int patient;              /* index into patients */
    int label;                /* CTVK_CLASS_* from the path or name (ctvk_class_from_name) */
    size_t first, count;      /* range in slices[] */
    ctvk_series_kind kind;
    char *uid;                /* DICOM SeriesInstanceUID (NULL otherwise) */
    char *description;        /* DICOM SeriesDescription (NULL otherwise) */
    int number;               /* DICOM SeriesNumber (0 otherwise) */
} ctvk_series;

typedef struct ctvk_patient {
    char *id;                 /* "patient5" */
    int label;                /* CTVK_CLASS_*; UNKNOWN when its sequences disagree or say nothing */
    int first_series, nseries;/* range in series[] */
    size_t first, count;      /* range in slices[] */
} ctvk_patient;

typedef struct ctvk_series_set {
    size_t nslices;
    char **slices;            /* paths: the scanned path joined with the relative path */
    int nseries;
    ctvk_series *series;
    int npatients;
    ctvk_patient *patients;
    int *instance;            /* per slice: DICOM InstanceNumber; -1 for TIFF, NIfTI or none */
    double *position;         /* per slice: position along the slice normal in mm (DICOM, NIfTI); NaN for TIFF */
    int nnotes;
    char **notes;             /* what the scan skipped (non-CT series, localizers), one line each */
} ctvk_series_set;

/* Scans a slice file, a sequence folder, a patient folder or a whole dataset (recursively; files
 * ending in .tif or .tiff, any case; DICOM Part 10 files, any name; .nii and .nii.gz volumes;
 * hidden entries skipped). Fails when no slice is found, when a file given by name is none of
 * these, and when a DICOM series in the set has duplicate positions, a gap in its spacing, mixed
 * sizes or mixed orientations (naming the files). */
ctvk_status ctvk_series_scan(const char *path, ctvk_series_set **out);

typedef struct ctvk_scan_options {
    const char *series;       /* keep only this sequence: a SeriesInstanceUID, a sequence name, or a
                                 1-based index into the set's sequences; NULL: all */
    int one_series;           /* refuse a patient with several DICOM or NIfTI series and no choice
                                 (the series are listed, with their index, in the message) */
} ctvk_scan_options;
/* ctvk_series_scan with options (NULL: none). */
ctvk_status ctvk_series_scan_ex(const char *path, const ctvk_scan_options *o, ctvk_series_set **out);
void ctvk_series_free(ctvk_series_set *s);

/* ------------------------------------------------------------------------------------ selection run */
typedef struct ctvk_selection {
    size_t n, kept;           /* slices, slices kept */
    uint32_t *counts;         /* per slice: dark pixels in the region */
    uint8_t *keep;            /* per slice */
    int ngroups;              /* sequences or patients, as params.group says */
    size_t *group_first, *group_count; /* each group's slice range (groups are contiguous) */
    double *threshold;        /* per group */
    const char **group_name;  /* per group: the sequence name or patient id (owned by the set) */
    size_t clipped;           /* samples clipped into 0..65535 by the stored-value mapping (ctvk_values) */
    size_t clipped_slices;    /* slices with any such sample */
} ctvk_selection;

/* Runs selection over every slice of a set with `threads` threads (0: one per CPU). Each slice is
 * read as size x size (ctvk_tiff_read's rule; when the stored size is right, only the region's
 * rows are decoded). Fails on the first slice that cannot be read, naming it. */
ctvk_status ctvk_select_run(const ctvk_series_set *set, const ctvk_select_params *p, int size, int resize,
                            int threads, ctvk_selection *out);
void ctvk_selection_free(ctvk_selection *s);

/* Writes the CSV `path,dark_count,threshold,selected` (one row per slice, threshold as the
 * shortest decimal that reads back as the same double, selected 1 or 0). */
ctvk_status ctvk_selection_write_csv(const char *csv_path, const ctvk_series_set *set, const ctvk_selection *s);
/* The same CSV to an open stream (stdout). */
ctvk_status ctvk_selection_print_csv(FILE *f, const ctvk_series_set *set, const ctvk_selection *s);

/* A Grad-CAM overlay as PNG: the size x size slice (stored values, HU = stored - hu_offset) in the
 * lung window, the map (mh x mw, 0..1) upsampled bilinearly over it in the jet colour map, a colour
 * bar from 0 to 1 and the caption (capitals, digits and . - _ ( ) : = % /) above it. Slices under
 * 256 pixels are drawn enlarged (whole pixels). map NULL: the slice and the caption alone. */
ctvk_status ctvk_cam_overlay_write(const char *png_path, const uint16_t *slice, int size, int hu_offset,
                                   const float *map, int mh, int mw, const char *caption);
/* A PNG contact sheet (the paper's Figure 8) of n slices: one thumbnail per slice in order (lung
 * window HU -1350..150, box-filtered down to at most 128 px), the selection region outlined in
 * green, removed slices (keep[i] == 0) framed and crossed in red, each labelled with its index.
 * Slices are read with ctvk_tiff_read(size, resize). */
ctvk_status ctvk_montage_write(const char *png_path, const char *const *paths, size_t n, const uint8_t *keep,
                               const ctvk_select_params *p, int size, int resize);

/* ------------------------------------------------------------------------------------ datasets */
typedef enum ctvk_layout { CTVK_LAYOUT_FLAT = 0, CTVK_LAYOUT_FULL = 1 } ctvk_layout;

typedef struct ctvk_data_options {
    const char *root;         /* [data] root: the flat Train&Validation folder or the full tree */
    ctvk_layout layout;       /* [data] layout = flat (default) | full */
    const char *folds_dir;    /* [data] folds_dir: train{k}.csv, validation{k}.csv, test{k}.csv;
                                 "" -> root for the flat layout, no folds for the full layout */
    const char *series_root;  /* [data] series_root: a full-layout tree of whole series (for patient
                                 evaluation) beside a flat root; "" none */
    int image_size;           /* [data] image_size: slices are image_size x image_size (512) */
    int resize;               /* [data] resize: resample other sizes instead of refusing them (false) */
    int check_files;          /* [data] check_files: every CSV row's file must exist (true) */
    ctvk_value_options values;/* [data] values, hu_offset */
} ctvk_data_options;

void ctvk_data_defaults(ctvk_data_options *o);
/* Reads [data] over the defaults; the strings point into cfg. image_size 16..4096. */
ctvk_status ctvk_data_from_config(const ctvk_config *cfg, ctvk_data_options *o);

typedef struct ctvk_image_list {
    size_t n;
    char **paths;             /* root joined with the CSV's file name */
    uint8_t *labels;          /* CTVK_CLASS_COVID or CTVK_CLASS_NORMAL */
    int *patients;            /* index into ctvk_dataset.patient_ids */
    int *lines;               /* the CSV line of each row */
} ctvk_image_list;

typedef struct ctvk_fold {
    int k;                    /* 1-based, as in train{k}.csv */
    ctvk_image_list train, validation, test;   /* validation.n == 0 when validation{k}.csv is absent */
} ctvk_fold;

typedef struct ctvk_dataset {
    ctvk_layout layout;
    int image_size, resize;
    int npatients;
    char **patient_ids;       /* "patientN", natural order */
    int *patient_labels;
    int nfolds;
    ctvk_fold *folds;
    ctvk_series_set *series;  /* the full layout (root or series_root), or NULL */
    int nwarnings;
    char **warnings;          /* things worth saying that are not errors (the validation leak) */
} ctvk_dataset;

/* Opens a dataset: reads the fold CSVs (header `filename,class`; CRLF or LF), checks each row and
 * scans the full layout. Errors name the CSV file and line: a malformed row, an unknown class, a
 * duplicate row, a file name without a _patientN_ part, a file that does not exist (check_files),
 * a patient labelled with both classes, a patient in both train and test of one fold. A patient
 * in both train and validation, and validation images that are also test images (the published
 * lists' leak) are warnings. */
ctvk_status ctvk_dataset_open(const ctvk_data_options *o, ctvk_dataset **out);
void ctvk_dataset_free(ctvk_dataset *d);

typedef struct ctvk_split_counts {
    size_t images[2];         /* per class (covid, normal) */
    int patients[2];          /* distinct patients per class */
} ctvk_split_counts;
void ctvk_image_list_counts(const ctvk_dataset *d, const ctvk_image_list *l, ctvk_split_counts *c);

/* ------------------------------------------------------------------------------------ phantoms */
typedef enum ctvk_phantom_format { CTVK_PHANTOM_TIFF = 0, CTVK_PHANTOM_DICOM = 1, CTVK_PHANTOM_NIFTI = 2 } ctvk_phantom_format;

typedef struct ctvk_phantom_options {
    const char *out;          /* folder to write (created; must be empty or absent) */
    ctvk_phantom_format format; /* of full/: TIFF slices (default), DICOM series or NIfTI volumes */
    int covid, normal;        /* patients per class: 10, 10 */
    int slices;               /* slices per sequence: 32 */
    int series;               /* sequences per patient (SR_2, SR_3, ...): 1 */
    int size;                 /* image size: 512 */
    uint64_t seed;            /* 1 */
    int threads;              /* 0: one per CPU */
} ctvk_phantom_options;
void ctvk_phantom_defaults(ctvk_phantom_options *o);

/* What one generated slice holds (for tests and the generator's own picks). */
typedef struct ctvk_phantom_slice_info {
    int label;                /* CTVK_CLASS_* of the patient */
    size_t lung_pixels;       /* pixels inside the lungs */
    size_t lesion_pixels;     /* lung pixels covered by a ground-glass opacity or consolidation */
} ctvk_phantom_slice_info;

/* Generates one slice (size * size uint16 raw values, HU + 1024) of patient p (0 .. covid-1 are
 * COVID, then the normal ones), sequence s, slice i: body ellipse around HU 40, air outside, two
 * lungs around HU -850 whose area grows then shrinks along the sequence, vessels, ground-glass
 * opacities (HU -500..-300) and consolidations in middle slices of COVID patients, noise. */
ctvk_status ctvk_phantom_slice(const ctvk_phantom_options *o, int p, int s, int i, uint16_t *out,
                               ctvk_phantom_slice_info *info);

typedef struct ctvk_phantom_report {
    size_t full_images;       /* slices in full/ */
    size_t flat_images;       /* slices linked into flat/ */
    int folds;                /* fold CSV triples written (5, or 0 with fewer than 5 patients per class) */
} ctvk_phantom_report;

/* Writes a phantom dataset under o->out:
 *   full/<covid1|covid2|normal1..normal10>/patientN/SR_k/IM00001.tif   the full COVID-CTset layout
 *   flat/<group>_patientN_SR_k_IM00001.tif   the Train&Validation folder (hard links, else copies):
 *        the slices selection keeps; for COVID patients only those that show a lesion
 *   folds/train{k}.csv validation{k}.csv test{k}.csv   five patient-disjoint folds (k = 1..5):
 *        test = patient group k, validation = group k % 5 + 1, train = the other three
 *   dataset.ini   [data] root, layout, folds_dir, series_root, image_size for these files
 * uint16 little-endian uncompressed TIFFs, one strip. With format DICOM, full/<group>/patientN/
 * holds instead every sequence as one DICOM CT series (SeriesNumber k for SR_k; the files under
 * shuffled hexadecimal names, half without an extension) and a one-image localizer series; the
 * sequences cycle through uncompressed uint16 (RescaleIntercept -1024), RLE int16 HU (the intercept
 * changing from slice to slice) and JPEG-LS lossless (slope 0.5), and flat/ holds TIFF copies. With
 * format NIfTI, full/<group>/patientN/SR_k.nii.gz is each sequence as one int16 HU volume. */
ctvk_status ctvk_phantom_write(const ctvk_phantom_options *o, ctvk_phantom_report *report);

/* ------------------------------------------------------------------------------------ loader */
/* A background loader: `threads` threads decode the next batches of slices (uint16, size x size)
 * and their labels into a ring of `depth` (>= 2) buffers while the caller uses the current one.
 * The stream runs epoch after epoch (or `epochs` of them); each epoch visits every image once, in
 * the list's order or, with shuffle, in a permutation that is a pure function of (seed, epoch).
 * Batches come out in order whatever the thread count. The caller keeps paths and labels alive
 * until ctvk_loader_destroy, holds at most depth - 1 batches at a time, and calls next and release
 * from one thread. */
typedef struct ctvk_loader ctvk_loader;

typedef struct ctvk_loader_options {
    size_t n;                 /* images */
    const char *const *paths;
    const uint8_t *labels;    /* may be NULL (labels then read 0) */
    int batch;                /* images per batch (the last batch of an epoch may be short) */
    int drop_last;            /* drop a short last batch instead */
    int size, resize;         /* ctvk_tiff_read's size and resize */
    ctvk_value_options values;/* how samples are read (all zero: the defaults) */
    int shuffle;
    uint64_t seed;
    int epochs;               /* 0: endless */
    long long start_batch;    /* resume: the stream starts at this global batch number
                                 (epoch * batches_per_epoch + index); 0: the beginning */
    int depth;                /* ring buffers: 0 -> 3; at least 2 */
    int threads;              /* decoding threads: 0 -> 1 */
    uint16_t *const *slots;   /* optional: depth (3 when depth is 0) caller-owned buffers of
                                 batch * size * size values each (e.g. mapped staging memory);
                                 NULL: the loader allocates them */
    int skip_bad;             /* a slice that fails to decode is skipped and counted (ctvk_loader_skipped)
                                 instead of failing the stream: its batch comes out short (a batch
                                 left with no image is not handed out). 0: the stream fails. */
    int part, parts;          /* data-parallel ranks: with parts > 1 every batch holds only images
                                 [n * part / parts, n * (part + 1) / parts) of the full batch of n
                                 (ctvk_batch.offset, .global_n), and a share that is empty (short
                                 last batch, skipped images) is still handed out, so that every
                                 part sees the same batches; the end is then b->ended. 0, 0: all */
} ctvk_loader_options;

typedef struct ctvk_batch {
    int n;                    /* images in this batch; 0: the stream has ended */
    int epoch, index;         /* epoch (0-based) and batch number within it */
    int last;                 /* the epoch's last batch */
    const uint16_t *pixels;   /* n * size * size values, image after image */
    const uint8_t *labels;    /* n labels */
    const size_t *images;     /* n indices into the options' lists */
    int slot;                 /* ring slot (for ctvk_loader_release and caller-owned slots) */
    int offset, global_n;     /* parts: this share starts at image `offset` of a batch of global_n
                                 (before skipped images); without parts 0 and n */
    int ended;                /* the stream has ended (n is then 0) */
} ctvk_batch;

ctvk_status ctvk_loader_create(const ctvk_loader_options *o, ctvk_loader **out);
/* Waits for the next batch (b->n == 0 and b->ended once a finite stream has ended). A slice that fails to
 * decode fails the call with a message naming the file, the epoch and the batch (both 1-based in
 * the message); the stream cannot go on after that. With skip_bad, such a slice is skipped instead. */
ctvk_status ctvk_loader_next(ctvk_loader *l, ctvk_batch *b);
/* skip_bad: slices skipped so far (a bad file counts once per epoch); last (may be NULL) gets the
 * message of the latest skip, which names the file, epoch and batch ("" when none). */
size_t ctvk_loader_skipped(ctvk_loader *l, char *last, size_t lastsize);
/* Gives the batch's buffer back to the ring (each batch from ctvk_loader_next, once). */
void ctvk_loader_release(ctvk_loader *l, const ctvk_batch *b);
size_t ctvk_loader_batches_per_epoch(const ctvk_loader *l);
/* The permutation of an epoch (perm holds n indices), as the loader uses it. */
void ctvk_loader_permutation(uint64_t seed, int epoch, size_t n, int shuffle, size_t *perm);
void ctvk_loader_destroy(ctvk_loader *l);

#ifdef __cplusplus
}
#endif
#endif
