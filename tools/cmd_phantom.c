/* ctvk phantom: write a synthetic CT dataset in the COVID-CTset layouts. */
#include "ctvk/ct.h"
#include "tools/cli.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_phantom_help[] =
    "usage: ctvk phantom --out DIR [--covid N] [--normal M] [--slices S] [--series K] [--size PX]\n"
    "                    [--seed X] [--threads T] [--format tiff|dicom|nifti]\n\n"
    "Writes a synthetic CT dataset, a pure function of the seed:\n"
    "  DIR/full/<covid1|covid2|normal1..normal10>/patientN/SR_k/IM00001.tif   the full COVID-CTset layout\n"
    "  DIR/flat/<group>_patientN_SR_k_IM00001.tif   the Train&Validation folder: the slices selection\n"
    "      keeps, and for COVID patients only those showing a lesion (hard links into full/)\n"
    "  DIR/folds/train{k}.csv validation{k}.csv test{k}.csv   five patient-disjoint folds in the\n"
    "      official format (written when each class has at least 5 patients)\n"
    "  DIR/dataset.ini   a [data] section for these files (ctvk dataset DIR/dataset.ini)\n"
    "Slices are uint16 TIFFs of HU + 1024: a body ellipse around HU 40, air outside, two lungs around\n"
    "HU -850 that grow then shrink along each sequence (selection drops the first and last slices),\n"
    "vessels, noise, and ground-glass opacities (HU -500..-300) and consolidations in middle slices of\n"
    "COVID patients. The anatomy is drawn in the 512-pixel frame and sampled at --size, so the lungs\n"
    "fall in the selection region (which scales with the image) at every size.\n\n"
    "  --out DIR      folder to create (absent or empty)\n"
    "  --covid N      COVID patients (default 10), patient1..patientN\n"
    "  --normal M     normal patients (default 10), numbered after the COVID ones\n"
    "  --slices S     slices per sequence (default 32)\n"
    "  --series K     sequences per patient, SR_2, SR_3, ... (default 1)\n"
    "  --size PX      image size (default 512; 64 or 128 make fast test data)\n"
    "  --seed X       random seed (default 1)\n"
    "  --threads T    writer threads (default: one per CPU)\n"
    "  --format F     full/ as tiff (default); dicom: DIR/full/<group>/patientN/ holds each sequence as\n"
    "                 one CT series (SeriesNumber k for SR_k) under shuffled file names, plus a localizer\n"
    "                 series; the sequences cycle through uncompressed (RescaleIntercept -1024), RLE\n"
    "                 (int16 HU, the intercept changing from slice to slice) and JPEG-LS lossless\n"
    "                 (slope 0.5); nifti: DIR/full/<group>/patientN/SR_k.nii.gz, int16 HU volumes.\n"
    "                 flat/ is TIFF in every format, the same slices\n";

static int int_arg(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return cli_usage_error("phantom", "%s '%s': expected an integer in %ld .. %ld", flag, v, lo, hi);
    *out = x;
    return 0;
}

int cmd_phantom(int argc, char **argv)
{
    cli_common com = {0};
    ctvk_phantom_options o;
    ctvk_phantom_defaults(&o);
    for (int i = 1; i < argc;) {
        int k = cli_common_take("phantom", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        const char *a = argv[i];
        if (a[0] != '-') return cli_usage_error("phantom", "unexpected argument '%s'", a);
        if (i + 1 >= argc) return cli_usage_error("phantom", "%s needs a value", a);
        const char *v = argv[i + 1];
        long x;
        if (!strcmp(a, "--out")) o.out = v;
        else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "tiff")) o.format = CTVK_PHANTOM_TIFF;
            else if (!strcmp(v, "dicom")) o.format = CTVK_PHANTOM_DICOM;
            else if (!strcmp(v, "nifti")) o.format = CTVK_PHANTOM_NIFTI;
            else return cli_usage_error("phantom", "--format '%s': expected tiff, dicom or nifti", v);
        }
        else if (!strcmp(a, "--covid")) { if (int_arg(a, v, 0, 100000, &x)) return 2; o.covid = (int)x; }
        else if (!strcmp(a, "--normal")) { if (int_arg(a, v, 0, 100000, &x)) return 2; o.normal = (int)x; }
        else if (!strcmp(a, "--slices")) { if (int_arg(a, v, 1, 99999, &x)) return 2; o.slices = (int)x; }
        else if (!strcmp(a, "--series")) { if (int_arg(a, v, 1, 9, &x)) return 2; o.series = (int)x; }
        else if (!strcmp(a, "--size")) { if (int_arg(a, v, 16, 4096, &x)) return 2; o.size = (int)x; }
        else if (!strcmp(a, "--threads")) { if (int_arg(a, v, 0, 256, &x)) return 2; o.threads = (int)x; }
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] < '0' || v[0] > '9')
                return cli_usage_error("phantom", "--seed '%s': expected a non-negative decimal integer", v);
            o.seed = (uint64_t)s;
        } else return cli_usage_error("phantom", "unknown option '%s'", a);
        i += 2;
    }
    if (!o.out) return cli_usage_error("phantom", "--out DIR is required");
    if (o.covid + o.normal < 1) return cli_usage_error("phantom", "--covid and --normal are both 0: no patients");
    ctvk_phantom_report r;
    if (ctvk_phantom_write(&o, &r)) return cli_fail("phantom");
    printf("phantom %s: %d patients (%d covid, %d normal), %d sequence%s of %d slices each, %dx%d, seed %llu\n", o.out,
           o.covid + o.normal, o.covid, o.normal, o.series, o.series == 1 ? "" : "s", o.slices, o.size, o.size,
           (unsigned long long)o.seed);
    printf("  full/  %zu slices\n  flat/  %zu slices\n", r.full_images, r.flat_images);
    if (r.folds) printf("  folds/ %d patient-disjoint folds\n", r.folds);
    else printf("  folds/ not written: five folds need at least 5 patients of each class\n");
    printf("  dataset.ini  (ctvk dataset %s/dataset.ini)\n", o.out);
    return 0;
}
