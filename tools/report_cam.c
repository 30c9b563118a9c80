/* ctvk report: the Grad-CAM gallery of one evaluation (eval_cam.csv and cam/, written by ctvk eval
 * and ctvk cv): each test patient's slice with the highest P(COVID) next to its overlay. */
#include "tools/report.h"
#include <stdlib.h>
#include <string.h>

/* Splits one CSV line into at most max fields in place (quoted fields with doubled quotes). */
static int csv_split(char *line, char **field, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p;
        field[n++] = p;
        if (*p == '"') {
            char *q = p + 1;
            for (;;) {
                if (!*q) break;
                if (*q == '"' && q[1] == '"') { *out++ = '"'; q += 2; continue; }
                if (*q == '"') { q++; break; }
                *out++ = *q++;
            }
            p = q;
        } else {
            while (*p && *p != ',' && *p != '\r' && *p != '\n') *out++ = *p++;
        }
        int more = *p == ',';
        *out = 0;
        if (!more) break;
        p++;
    }
    return n;
}

static void image(FILE *f, const char *dir, const char *rel, const char *alt)
{
    if (strstr(rel, "..") || rel[0] == '/') return;   /* only files inside the evaluation's folder */
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    size_t len = 0;
    unsigned char *d = (unsigned char *)report_slurp(path, &len);
    if (!d) {
        fprintf(f, "<p class=\"na\">%s: not available</p>", alt);
        return;
    }
    fprintf(f, "<img alt=\"%s\" height=\"240\" src=\"data:image/png;base64,", alt);
    report_base64(f, d, len);
    fputs("\"/>", f);
    free(d);
}

void report_cam_section(FILE *f, const char *dir)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/eval_cam.csv", dir);
    char *all = report_slurp(path, NULL);
    if (!all) return;      /* an evaluation without Grad-CAM ([eval] cam = false) */
    fprintf(f, "<h3>Grad-CAM: each test patient's slice with the highest P(COVID)</h3>\n<div class=\"charts\">\n");
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fl[11];
        if (csv_split(line, fl, 11) != 11 || !strcmp(fl[0], "patient")) continue;
        fprintf(f, "<figure style=\"margin:4px\"><div class=\"row\">");
        image(f, dir, fl[6], "slice");
        image(f, dir, fl[7], "Grad-CAM overlay");
        fprintf(f, "</div><figcaption><small>patient ");
        report_html(f, fl[0]);
        fprintf(f, " (%s, decided %s): P(COVID) %.3f at layer ", fl[1], fl[2], atof(fl[4]));
        report_html(f, fl[5]);
        if (atoi(fl[9]) >= 0) fprintf(f, ", peak at x %d, y %d", atoi(fl[9]), atoi(fl[10]));
        else fprintf(f, ", no positive evidence");
        fprintf(f, "<br>");
        report_html(f, fl[3]);
        fprintf(f, "</small></figcaption></figure>\n");
        rows++;
    }
    if (!rows) fprintf(f, "<p class=\"na\">Grad-CAM: eval_cam.csv has no rows</p>\n");
    fprintf(f, "</div>\n");
    free(all);
}
