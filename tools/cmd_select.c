/* ctvk select: the slice-selection algorithm on a sequence, a patient or a whole dataset. */
#include "ctvk/ct.h"
#include "ctvk/util.h"
#include "tools/cli.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_select_help[] =
    "usage: ctvk select PATH [--config C] [--out FILE.csv] [--montage FILE.png] [--group sequence|patient]\n"
    "                   [--threads N] [--series UID|INDEX] [--set section.key=value]\n\n"
    "Runs the slice selection of docs/method.md section 2 on every slice under PATH (one SR_k sequence\n"
    "folder, a patient folder, a whole dataset in the full layout, a flat Train&Validation folder, a\n"
    "folder of DICOM files (each CT series one sequence) or a NIfTI volume):\n"
    "  count     = pixels in rows [region_y0, region_y1) x columns [region_x0, region_x1) with raw value\n"
    "              strictly < dark_level (defaults 240, 340, 120, 370 and 300)\n"
    "  threshold = (max(count) - min(count)) / divisor over the group (divisor 1.5; no + min)\n"
    "  selected  = count strictly > threshold\n"
    "A group is one sequence by default, one patient with --group patient ([selection] group).\n"
    "The region is given in 512 x 512 coordinates and scaled with the image size for other sizes.\n"
    "Slices must be [data] image_size square (512) unless [data] resize = true.\n\n"
    "Writes the CSV path,dark_count,threshold,selected to FILE (default: standard output) and a summary\n"
    "line of how many slices were kept (to standard error when the CSV goes to standard output).\n\n"
    "  --config C        config file ([selection] and [data] keys)\n"
    "  --out FILE.csv    write the CSV there (through a temporary file)\n"
    "  --montage FILE    a PNG contact sheet of the group (PATH must hold one group): every slice, the\n"
    "                    removed ones framed and crossed in red, the region outlined in green\n"
    "  --group G         sequence or patient (overrides [selection] group)\n"
    "  --threads N       reading threads (default: one per CPU)\n"
    "  --series S        only this sequence: a DICOM SeriesInstanceUID, a sequence name, or its index\n"
    "                    (1-based, in the CSV's order)\n"
    "  --set s.k=v       override a config key (repeatable)\n";

int cmd_select(int argc, char **argv)
{
    cli_common com = {0};
    const char *path = NULL, *config = NULL, *out = NULL, *montage = NULL, *group = NULL, *series = NULL;
    int threads = 0;
    for (int i = 1; i < argc;) {
        int k = cli_common_take("select", &com, argc, argv, i);
        if (k < 0) return 2;
        if (k > 0) { i += k; continue; }
        const char *a = argv[i];
        if (a[0] != '-') {
            if (path) return cli_usage_error("select", "unexpected argument '%s' (one PATH)", a);
            path = a;
            i++;
            continue;
        }
        const char **dst = !strcmp(a, "--config") ? &config : !strcmp(a, "--out") ? &out
                         : !strcmp(a, "--montage") ? &montage : !strcmp(a, "--group") ? &group
                         : !strcmp(a, "--series") ? &series : NULL;
        if (!dst && strcmp(a, "--threads")) return cli_usage_error("select", "unknown option '%s'", a);
        if (i + 1 >= argc) return cli_usage_error("select", "%s needs a value", a);
        if (dst) *dst = argv[i + 1];
        else {
            char *end;
            errno = 0;
            long t = strtol(argv[i + 1], &end, 10);
            if (errno || *end || end == argv[i + 1] || t < 0 || t > 256)
                return cli_usage_error("select", "--threads '%s': 0 .. 256", argv[i + 1]);
            threads = (int)t;
        }
        i += 2;
    }
    if (!path) return cli_usage_error("select", "PATH is required");
    if (group && strcmp(group, "sequence") && strcmp(group, "patient"))
        return cli_usage_error("select", "--group '%s': expected sequence or patient", group);
    ctvk_config *cfg = NULL;
    int rc = cli_load_config("select", config, &com, &cfg);
    if (rc) return rc;
    ctvk_select_params p;
    ctvk_data_options d;
    if (ctvk_select_from_config(cfg, &p) || ctvk_data_from_config(cfg, &d)) {
        ctvk_config_free(cfg);
        return cli_fail("select");
    }
    if (group) p.group = !strcmp(group, "patient") ? CTVK_GROUP_PATIENT : CTVK_GROUP_SEQUENCE;
    ctvk_series_set *set = NULL;
    ctvk_selection sel = {0};
    rc = 1;
    double t0 = ctvk_now();
    ctvk_scan_options so = {.series = series};
    if (ctvk_series_scan_ex(path, &so, &set) || ctvk_select_run(set, &p, d.image_size, d.resize, threads, &sel)) {
        rc = cli_fail("select");
        goto done;
    }
    double dt = ctvk_now() - t0;
    if (montage && sel.ngroups != 1) {
        fprintf(stderr, "ctvk select: --montage draws one %s, and %s holds %d (give one SR_k folder%s)\n",
                p.group == CTVK_GROUP_PATIENT ? "patient" : "sequence", path, sel.ngroups,
                p.group == CTVK_GROUP_PATIENT ? "" : ", or --group patient for a patient folder");
        goto done;
    }
    if (out ? ctvk_selection_write_csv(out, set, &sel) : ctvk_selection_print_csv(stdout, set, &sel)) {
        rc = cli_fail("select");
        goto done;
    }
    int y0, y1, x0, x1;
    ctvk_select_region(&p, d.image_size, d.image_size, &y0, &y1, &x0, &x1);
    FILE *sum = out ? stdout : stderr;
    for (int i = 0; i < set->nnotes; i++) fprintf(sum, "note: %s\n", set->notes[i]);
    fprintf(sum, "selected %zu of %zu slices (%.1f%%) in %d %s%s; region rows %d..%d, columns %d..%d of %d; dark < %d; "
            "threshold (max - min) / %g; %.3f s (%.0f slices/s)\n", sel.kept, sel.n,
            sel.n ? 100.0 * (double)sel.kept / (double)sel.n : 0.0, sel.ngroups,
            p.group == CTVK_GROUP_PATIENT ? "patient" : "sequence", sel.ngroups == 1 ? "" : "s", y0, y1 - 1, x0, x1 - 1,
            d.image_size, p.dark_level, p.divisor, dt, dt > 0 ? (double)sel.n / dt : 0.0);
    if (sel.clipped)
        fprintf(sum, "note: %zu samples in %zu slices lay outside the stored-value range 0..65535 (HU %d..%d with "
                "[data] hu_offset = %d) and were clipped to it\n", sel.clipped, sel.clipped_slices,
                -(p.values.hu_offset ? p.values.hu_offset : CTVK_HU_OFFSET),
                65535 - (p.values.hu_offset ? p.values.hu_offset : CTVK_HU_OFFSET),
                p.values.hu_offset ? p.values.hu_offset : CTVK_HU_OFFSET);
    if (montage) {
        if (ctvk_montage_write(montage, (const char *const *)set->slices, set->nslices, sel.keep, &p, d.image_size,
                               d.resize)) {
            rc = cli_fail("select");
            goto done;
        }
        fprintf(sum, "contact sheet: %s\n", montage);
    }
    rc = 0;
done:
    ctvk_selection_free(&sel);
    ctvk_series_free(set);
    ctvk_config_free(cfg);
    return rc;
}
