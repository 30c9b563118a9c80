/* ctvk report: one self-contained HTML file of a run folder (inline CSS and SVG, the selection
 * montage as a data URI; no external resources). Missing pieces are shown as "not available". */
#include "ctvk/ct.h"
#include "ctvk/config.h"
#include "ctvk/util.h"
#include "tools/cli.h"
#include "tools/report.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char cmd_report_help[] =
    "usage: ctvk report RUN_DIR\n\n"
    "Writes RUN_DIR/report.html, one self-contained file (no external resources, works offline):\n"
    "per fold (RUN_DIR/foldK) the loss and accuracy curves of training and validation\n"
    "(train_log.csv), the confusion matrix and image-level metrics (eval.json), the ROC curves of\n"
    "both levels with the operating points marked, the reliability diagram and the 95% intervals\n"
    "(eval.json, eval_roc.csv, eval_reliability.csv), each test patient's\n"
    "fraction of COVID slices against the threshold [eval] covid_fraction (eval_patients.csv); the\n"
    "cross-validation summary (summary.csv) with the pooled curves (summary.json, summary_*.csv); and the slice-selection contact sheet of a sample\n"
    "sequence of the run's dataset (config.ini [data]). Missing pieces are marked not available.\n";

/* ------------------------------------------------------------------------------------ helpers */
char *report_slurp(const char *path, size_t *len)
{
    FILE *f = ctvk_fopen_regular(path, NULL);
    if (!f) return NULL;
    char *s = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(s, cap);
            if (!t) { free(s); fclose(f); return NULL; }
            s = t;
        }
        size_t k = fread(s + n, 1, 4096, f);
        n += k;
        if (k < 4096) break;
    }
    fclose(f);
    s[n] = 0;
    if (len) *len = n;
    return s;
}

void report_html(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else if (*s == '\'') fputs("&#39;", f);
        else fputc(*s, f);
    }
}

double report_json_num(const char *js, const char *key)
{
    char k[112];
    snprintf(k, sizeof k, "\"%.100s\":", key);
    const char *p = js ? strstr(js, k) : NULL;
    if (!p) return NAN;
    char *end;
    double v = strtod(p + strlen(k), &end);
    return end == p + strlen(k) ? NAN : v;
}

void report_base64(FILE *f, const unsigned char *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        fputc(t[v >> 18 & 63], f);
        fputc(t[v >> 12 & 63], f);
        fputc(i + 1 < n ? t[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? t[v & 63] : '=', f);
    }
}

/* ------------------------------------------------------------------------------------ charts */
typedef struct series { const double *y; const char *name, *color; } series;

/* A line chart of up to two series over x = 1..n (NaN values are gaps). */
static void line_chart(FILE *f, const char *title, int n, const double *x, const series *s, int ns, int unit_range)
{
    const double W = 440, H = 230, L = 52, R = 12, T = 26, B = 36;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < n; i++)
            if (isfinite(s[k].y[i])) lo = fmin(lo, s[k].y[i]), hi = fmax(hi, s[k].y[i]);
    if (unit_range) lo = fmin(lo, 0.0), hi = fmax(hi, 1.0);
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (hi - lo < 1e-12) hi = lo + 1;
    if (!unit_range) lo = fmin(lo, 0.0);
    double x0 = n ? x[0] : 0, x1 = n ? x[n - 1] : 1;
    if (x1 <= x0) x1 = x0 + 1;
    fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"16\" class=\"t\">", L);
    report_html(f, title);
    fprintf(f, "</text>\n<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n", L, T,
            W - L - R, H - T - B);
    for (int g = 0; g <= 4; g++) {
        double v = lo + (hi - lo) * g / 4, y = H - B - (H - T - B) * g / 4;
        fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%.3g</text>\n",
                L, W - R, y, y, L - 4, y + 4, v);
    }
    int step = n > 10 ? (n + 9) / 10 : 1;
    for (int i = 0; i < n; i += step) {
        double px = L + (W - L - R) * (x[i] - x0) / (x1 - x0);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">%g</text>\n", px, H - B + 14, x[i]);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">epoch</text>\n", L + (W - L - R) / 2,
            H - 6);
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", s[k].color);
        for (int i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double px = L + (W - L - R) * (x[i] - x0) / (x1 - x0), py = H - B - (H - T - B) * (s[k].y[i] - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", px, py);
        }
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double px = L + (W - L - R) * (x[i] - x0) / (x1 - x0), py = H - B - (H - T - B) * (s[k].y[i] - lo) / (hi - lo);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>%s epoch %g: %.4g</title></circle>\n",
                    px, py, s[k].color, s[k].name, x[i], s[k].y[i]);
        }
        fprintf(f, "<rect x=\"%.0f\" y=\"%d\" width=\"10\" height=\"3\" fill=\"%s\"/><text x=\"%.0f\" y=\"%d\" "
                   "class=\"ax\">%s</text>\n", W - R - 150 + 75 * k, 12, s[k].color, W - R - 136 + 75 * k, 16, s[k].name);
    }
    fprintf(f, "</svg>\n");
}

typedef struct patient_row { char id[64], label[16], decision[16]; int slices, covid; double fraction; } patient_row;

static void dot_plot(FILE *f, const patient_row *p, int n, double thr)
{
    const double W = 560, L = 110, R = 20, T = 44, row = 16;
    double H = T + row * n + 30, X = W - L - R;
    fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"14\" class=\"t\">fraction of COVID slices per test patient</text>\n"
               "<text x=\"%.0f\" y=\"28\" class=\"ax\">red: COVID, blue: normal; hollow: wrong decision</text>\n",
            L - 100, L - 100);
    for (int g = 0; g <= 10; g += 2) {
        double x = L + X * g / 10.0;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" class=\"grid\"/><text x=\"%.1f\" y=\"%.0f\" "
                   "class=\"ax\" text-anchor=\"middle\">%.1f</text>\n", x, x, T - 4, H - 24, x, H - 10, g / 10.0);
    }
    double tx = L + X * thr;
    fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>"
               "<text x=\"%.1f\" y=\"%.0f\" class=\"ax\">f = %g</text>\n", tx, tx, T - 6, H - 24, tx + 3, T - 8, thr);
    for (int i = 0; i < n; i++) {
        double y = T + row * i + row / 2, x = L + X * fmin(fmax(p[i].fraction, 0), 1);
        int covid = !strcmp(p[i].label, "covid"), right = !strcmp(p[i].label, p[i].decision);
        const char *c = covid ? "#c0392b" : "#2471a3";
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">", L - 6, y + 4);
        report_html(f, p[i].id);
        fprintf(f, "</text><circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" stroke=\"%s\" stroke-width=\"2\">"
                   "<title>", x, y, right ? c : "white", c);
        report_html(f, p[i].id);
        fprintf(f, " (");
        report_html(f, p[i].label);                  /* everything that comes from a file is escaped */
        fprintf(f, "): %d of %d slices COVID = %.3f, decided ", p[i].covid, p[i].slices, p[i].fraction);
        report_html(f, p[i].decision);
        fprintf(f, "</title></circle>\n");
    }
    fprintf(f, "</svg>\n");
}

/* ------------------------------------------------------------------------------------ sections */
static void na(FILE *f, const char *what) { fprintf(f, "<p class=\"na\">%s: not available</p>\n", what); }

static void train_section(FILE *f, const char *dir)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/train_log.csv", dir);
    FILE *in = ctvk_fopen_regular(path, NULL);
    if (!in) { na(f, "training log (train_log.csv)"); return; }
    int cap = 64, n = 0;
    double *v[5];
    for (int k = 0; k < 5; k++) v[k] = malloc((size_t)cap * sizeof(double));
    char line[1024];
    int first = 1;
    while (fgets(line, sizeof line, in)) {
        if (first) { first = 0; if (!strncmp(line, "epoch", 5)) continue; }
        double e, a[4];
        char *p = line, *end;
        e = strtod(p, &end);
        if (end == p) continue;
        int ok = 1;
        for (int k = 0; k < 4; k++) {
            p = end;
            if (*p != ',') { ok = 0; break; }
            p++;
            a[k] = strtod(p, &end);
            if (end == p) a[k] = NAN;
        }
        if (!ok) continue;
        if (n == cap) {
            cap *= 2;
            for (int k = 0; k < 5; k++) v[k] = realloc(v[k], (size_t)cap * sizeof(double));
        }
        v[0][n] = e;
        for (int k = 0; k < 4; k++) v[k + 1][n] = a[k];
        n++;
    }
    fclose(in);
    if (!n) na(f, "training log (train_log.csv has no rows)");
    else {
        series loss[2] = {{v[1], "train", "#2471a3"}, {v[3], "validation", "#e67e22"}};
        series acc[2] = {{v[2], "train", "#2471a3"}, {v[4], "validation", "#e67e22"}};
        fprintf(f, "<div class=\"charts\">\n");
        line_chart(f, "loss", n, v[0], loss, 2, 0);
        line_chart(f, "accuracy", n, v[0], acc, 2, 1);
        fprintf(f, "</div>\n");
        int best = 0;
        for (int i = 1; i < n; i++)
            if (v[4][i] > v[4][best]) best = i;
        fprintf(f, "<p>%d epochs; best validation accuracy %.2f%% at epoch %g</p>\n", n, 100 * v[4][best], v[0][best]);
    }
    for (int k = 0; k < 5; k++) free(v[k]);
}

static void eval_section(FILE *f, const char *dir)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/eval.json", dir);
    char *js = report_slurp(path, NULL);
    if (!js) { na(f, "evaluation (eval.json)"); return; }
    double acc = report_json_num(js, "accuracy"), sc = report_json_num(js, "sens_covid"), sn = report_json_num(js, "sens_normal");
    long c[4] = {-1, -1, -1, -1};
    const char *p = strstr(js, "\"confusion\":");
    if (p) sscanf(p, "\"confusion\": [[%ld, %ld], [%ld, %ld]]", &c[0], &c[1], &c[2], &c[3]);
    fprintf(f, "<div class=\"row\"><table><tr><th>images</th><th>accuracy</th><th>COVID sensitivity</th>"
               "<th>normal sensitivity</th></tr><tr><td>%.0f</td><td>%.2f%%</td><td>%.2f%%</td><td>%.2f%%</td></tr>"
               "</table>\n", report_json_num(js, "images"), 100 * acc, 100 * sc, 100 * sn);
    if (c[0] >= 0)
        fprintf(f, "<table class=\"cm\"><tr><th>true \\ predicted</th><th>covid</th><th>normal</th></tr>"
                   "<tr><th>covid</th><td class=\"ok\">%ld</td><td class=\"bad\">%ld</td></tr>"
                   "<tr><th>normal</th><td class=\"bad\">%ld</td><td class=\"ok\">%ld</td></tr></table>\n",
                c[0], c[1], c[2], c[3]);
    else na(f, "confusion matrix");
    fprintf(f, "<table><tr><th></th><th>cases</th><th>correct</th><th>wrong</th></tr>"
               "<tr><th>normal patients</th><td>%.0f</td><td>%.0f</td><td>%.0f</td></tr>"
               "<tr><th>COVID patients</th><td>%.0f</td><td>%.0f</td><td>%.0f</td></tr></table></div>\n",
            report_json_num(js, "normal_cases"), report_json_num(js, "normal_correct"), report_json_num(js, "normal_wrong"),
            report_json_num(js, "covid_cases"), report_json_num(js, "covid_correct"), report_json_num(js, "covid_wrong"));
    free(js);
}

static void patients_section(FILE *f, const char *dir, double thr)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/eval_patients.csv", dir);
    FILE *in = ctvk_fopen_regular(path, NULL);
    if (!in) { na(f, "per-patient results (eval_patients.csv)"); return; }
    int n = 0, cap = 0;
    patient_row *rows = NULL;
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        patient_row r;
        if (sscanf(line, "%63[^,],%15[^,],%d,%d,%lf,%15[^\r\n]", r.id, r.label, &r.slices, &r.covid, &r.fraction,
                   r.decision) != 6)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            patient_row *t = realloc(rows, (size_t)cap * sizeof *rows);
            if (!t) break;
            rows = t;
        }
        rows[n++] = r;
    }
    fclose(in);
    if (!n) na(f, "per-patient results (eval_patients.csv has no rows)");
    else dot_plot(f, rows, n, thr);
    free(rows);
}

static void summary_section(FILE *f, const char *run)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/summary.csv", run);
    FILE *in = ctvk_fopen_regular(path, NULL);
    fprintf(f, "<h2>Cross-validation summary</h2>\n");
    if (!in) { na(f, "summary.csv (written by ctvk cv)"); return; }
    fprintf(f, "<div style=\"overflow-x:auto\"><table>\n");
    char line[4096];
    int first = 1;
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        fprintf(f, "<tr>");
        for (char *tok = line, *next; tok; tok = next) {
            next = strchr(tok, ',');
            if (next) *next++ = 0;
            fprintf(f, first ? "<th>" : "<td>");
            report_html(f, tok);
            fprintf(f, first ? "</th>" : "</td>");
        }
        fprintf(f, "</tr>\n");
        first = 0;
    }
    fprintf(f, "</table></div>\n");
    fclose(in);
}

static void montage_section(FILE *f, const char *run, const ctvk_config *cfg)
{
    fprintf(f, "<h2>Slice selection of a sample sequence</h2>\n");
    ctvk_data_options d;
    ctvk_select_params sp;
    if (!cfg || ctvk_data_from_config(cfg, &d) || ctvk_select_from_config(cfg, &sp)) {
        na(f, "the contact sheet (no usable [data] section in config.ini)");
        return;
    }
    const char *root = d.series_root && *d.series_root ? d.series_root : d.layout == CTVK_LAYOUT_FULL ? d.root : NULL;
    ctvk_series_set *set = NULL;
    if (!root || !*root || ctvk_series_scan(root, &set)) {
        na(f, "the contact sheet (no full series: [data] series_root or layout = full)");
        return;
    }
    /* the first sequence of the first COVID patient, else the first sequence */
    int pick = 0;
    for (int i = 0; i < set->nseries; i++)
        if (set->series[i].label == CTVK_CLASS_COVID) { pick = i; break; }
    const ctvk_series *se = &set->series[pick];
    ctvk_series_set one = {0};
    ctvk_series s1 = *se;
    ctvk_patient p1 = set->patients[se->patient];
    s1.first = 0, s1.patient = 0;
    p1.first = 0, p1.count = se->count, p1.first_series = 0, p1.nseries = 1;
    one.nslices = se->count, one.slices = set->slices + se->first, one.nseries = 1, one.series = &s1;
    one.npatients = 1, one.patients = &p1;
    ctvk_selection sel = {0};
    char png[4300];
    snprintf(png, sizeof png, "%s/.report-montage-%ld.png", run, (long)getpid());
    size_t len = 0;
    unsigned char *data = NULL;
    if (ctvk_select_run(&one, &sp, d.image_size, d.resize, 0, &sel) == CTVK_OK &&
        ctvk_montage_write(png, (const char *const *)one.slices, one.nslices, sel.keep, &sp, d.image_size, d.resize) ==
            CTVK_OK)
        data = (unsigned char *)report_slurp(png, &len);
    unlink(png);
    if (!data) {
        fprintf(f, "<p class=\"na\">the contact sheet: not available (");
        report_html(f, ctvk_error());
        fprintf(f, ")</p>\n");
    } else {
        fprintf(f, "<p>");
        report_html(f, se->name);
        fprintf(f, ": %zu of %zu slices kept (removed slices framed and crossed in red; region in green)</p>\n"
                   "<img alt=\"selection contact sheet\" src=\"data:image/png;base64,", sel.kept, sel.n);
        report_base64(f, data, len);
        fprintf(f, "\"/>\n");
    }
    free(data);
    ctvk_selection_free(&sel);
    ctvk_series_free(set);
}

/* ------------------------------------------------------------------------------------ command */
int cmd_report(int argc, char **argv)
{
    const char *run = NULL;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') return cli_usage_error("report", "unknown option '%s'", argv[i]);
        if (run) return cli_usage_error("report", "unexpected argument '%s' (one RUN_DIR)", argv[i]);
        run = argv[i];
    }
    if (!run) return cli_usage_error("report", "RUN_DIR is required");
    struct stat st;
    if (stat(run, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ctvk report: %s: not a run folder (%s)\n", run, stat(run, &st) ? strerror(errno) : "not a folder");
        return 1;
    }
    char cpath[4300], out[4300], tmp[4400];
    snprintf(cpath, sizeof cpath, "%s/config.ini", run);
    ctvk_config *cfg = NULL;
    if (access(cpath, R_OK) == 0 && ctvk_config_load(cpath, &cfg)) {
        fprintf(stderr, "ctvk report: warning: %s\n", ctvk_error());
        cfg = NULL;
    }
    double thr = 0.1;
    if (cfg && ctvk_config_double(cfg, "eval", "covid_fraction", 0.1, 0, 1, &thr)) thr = 0.1;
    snprintf(out, sizeof out, "%s/report.html", run);
    snprintf(tmp, sizeof tmp, "%s/.report.html.tmp-%ld", run, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "ctvk report: %s: cannot write (%s)\n", out, strerror(errno));
        ctvk_config_free(cfg);
        return 1;
    }
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ctvk report: ");
    report_html(f, run);
    fprintf(f, "</title>\n<style>\nbody{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}"
               "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}"
               "table{border-collapse:collapse;margin:8px 16px 8px 0}td,th{border:1px solid #bbb;padding:3px 8px;"
               "text-align:right}th{background:#f2f2f2}.cm td.ok{background:#d5f5e3}.cm td.bad{background:#fadbd8}"
               ".row,.charts{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px}.na{color:#999;font-style:italic}"
               "svg{font-size:11px}svg .t{font-weight:bold;font-size:12px}svg .ax{fill:#555}"
               ".note{color:#555;font-size:13px}.warn{background:#fdebd0;border:1px solid #e59866;padding:6px 10px;font-weight:bold}small{color:#555}svg .grid{stroke:#eee}svg .frame{fill:none;stroke:#999}img{max-width:100%%;image-rendering:pixelated}\n"
               "</style></head><body>\n<h1>ctvk run report: ");
    report_html(f, run);
    fprintf(f, "</h1>\n<p class=\"warn\">Research use only, not for diagnosis: these results come from a research "
               "tool and must not be used to diagnose or treat anyone.</p>\n<p>config: %s; patient threshold f = %g (COVID iff COVID slices &gt;= f &times; slices)</p>\n",
            cfg ? "config.ini" : "config.ini not available", thr);
    int folds = 0;
    for (int k = 1; k <= 99; k++) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/fold%d", run, k);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        folds++;
        fprintf(f, "<h2>Fold %d</h2>\n", k);
        train_section(f, dir);
        char js[4500];
        snprintf(js, sizeof js, "%s/eval.json", dir);
        if (access(js, R_OK) == 0) report_identity(f, js);
        eval_section(f, dir);
        report_stats_section(f, dir, "eval", js, NULL);
        patients_section(f, dir, thr);
        report_cam_section(f, dir);
    }
    if (!folds) na(f, "folds (no foldK folders)");
    summary_section(f, run);
    if (folds) {
        char js[4400];
        snprintf(js, sizeof js, "%s/summary.json", run);
        fprintf(f, "<h3>All folds pooled</h3>\n");
        report_stats_section(f, run, "summary", js, "\"pooled\":");
    }
    montage_section(f, run, cfg);
    fprintf(f, "</body></html>\n");
    ctvk_config_free(cfg);
    if (ctvk_file_commit(f, tmp, out)) {
        fprintf(stderr, "ctvk report: %s\n", ctvk_error());
        return 1;
    }
    printf("report: %s (%d fold%s)\n", out, folds, folds == 1 ? "" : "s");
    return 0;
}
