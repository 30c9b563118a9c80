/* Pieces of `ctvk report` in their own files. */
#ifndef CTVK_TOOLS_REPORT_H
#define CTVK_TOOLS_REPORT_H
#include <stddef.h>
#include <stdio.h>

/* A whole file (a regular file only) as a NUL-terminated malloc'ed string (*len: its bytes), or NULL. */
char *report_slurp(const char *path, size_t *len);
/* The number after "key": in a JSON text (the first occurrence), NaN when absent or null. */
double report_json_num(const char *js, const char *key);

/* The statistics of one evaluation: ROC curves of both levels with the operating points, the
 * reliability diagram and the table of intervals, from json_path (from the first `anchor` on, NULL:
 * the whole file) and dir/PREFIX_roc.csv, dir/PREFIX_reliability.csv. "not available" when absent. */
void report_stats_section(FILE *f, const char *dir, const char *prefix, const char *json_path, const char *anchor);
/* The Grad-CAM gallery from dir/eval_cam.csv and its images (nothing when absent). */
void report_cam_section(FILE *f, const char *dir);
/* s with < > & " escaped for HTML text and attributes. */
void report_html(FILE *f, const char *s);
/* d as base64. */
void report_base64(FILE *f, const unsigned char *d, size_t n);
/* The model identity of an eval.json ("model" object) as one paragraph with the notice. */
void report_identity(FILE *f, const char *json_path);
#endif
