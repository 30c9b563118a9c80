/* ctvk report: the statistics of an evaluation (eval.json + eval_roc.csv + eval_reliability.csv of a
 * fold, or summary.json's "pooled" object + summary_roc.csv + summary_reliability.csv of the run):
 * the ROC curves of both levels with the operating points marked, the reliability diagram, and a
 * table of the AUCs and the Wilson intervals. Inline SVG, like the rest of the report. */
#include "tools/report.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>



/* "key": [lo, hi] (null entries NaN) */
static void pair(const char *js, const char *key, double *lo, double *hi)
{
    char k[112];
    snprintf(k, sizeof k, "\"%.100s\": [", key);
    const char *p = js ? strstr(js, k) : NULL;
    *lo = *hi = NAN;
    if (!p) return;
    p += strlen(k);
    char *end;
    double a = strtod(p, &end);
    if (end != p) *lo = a;
    p = strchr(p, ',');
    if (!p) return;
    p++;
    double b = strtod(p, &end);
    if (end != p) *hi = b;
}

typedef struct curve { int n, cap; double *x, *y; } curve;

static void push(curve *c, double x, double y)
{
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        double *nx = realloc(c->x, (size_t)cap * sizeof *nx);
        if (!nx) return;
        c->x = nx;
        double *ny = realloc(c->y, (size_t)cap * sizeof *ny);
        if (!ny) return;
        c->y = ny;
        c->cap = cap;
    }
    c->x[c->n] = x, c->y[c->n++] = y;
}

/* level,threshold,fpr,tpr */
static int read_roc(const char *path, curve *img, curve *pat)
{
    FILE *in = fopen(path, "r");
    if (!in) return 0;
    char line[512], level[16];
    double t, x, y;
    while (fgets(line, sizeof line, in))
        if (sscanf(line, "%15[^,],%lf,%lf,%lf", level, &t, &x, &y) == 4)
            push(!strcmp(level, "patient") ? pat : img, x, y);
    fclose(in);
    return img->n + pat->n > 0;
}

static const double W = 330, H = 380, L = 44, R = 14, T = 26, B = 92;
#define PX(v) (L + (W - L - R) * (v))
#define PY(v) (H - B - (H - T - B) * (v))

static void frame(FILE *f, const char *title, const char *xl, const char *yl)
{
    fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n<text x=\"%.0f\" y=\"16\" class=\"t\">%s</text>\n"
               "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n",
            W, H, W, H, L, title, L, T, W - L - R, H - T - B);
    for (int g = 0; g <= 4; g++) {
        double v = g / 4.0;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" class=\"grid\"/><line x1=\"%.0f\" x2=\"%.0f\" "
                   "y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%.1f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">"
                   "%.2g</text><text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%.2g</text>\n",
                PX(v), PX(v), T, H - B, L, W - R, PY(v), PY(v), PX(v), H - B + 13, v, L - 4, PY(v) + 4, v);
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#bbb\" stroke-dasharray=\"3 3\"/>\n", PX(0),
            PY(0), PX(1), PY(1));
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">%s</text>\n<text x=\"12\" y=\"%.0f\" "
               "class=\"ax\" text-anchor=\"middle\" transform=\"rotate(-90 12 %.0f)\">%s</text>\n",
            PX(0.5), H - B + 28, xl, PY(0.5), PY(0.5), yl);
}

static void roc_chart(FILE *f, const char *title, const curve *c, const char *const *names, const char *const *colors,
                      const double *opx, const double *opy, const double *auc, int nc)
{
    frame(f, title, "1 - specificity (false positive rate)", "sensitivity (true positive rate)");
    for (int k = 0; k < nc; k++) {
        if (!c[k].n) continue;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[k]);
        for (int i = 0; i < c[k].n; i++) fprintf(f, "%.1f,%.1f ", PX(c[k].x[i]), PY(c[k].y[i]));
        fprintf(f, "\"/>\n");
        if (isfinite(opx[k]) && isfinite(opy[k]))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"white\" stroke=\"%s\" stroke-width=\"2.5\"><title>%s "
                       "operating point: sensitivity %.3f, specificity %.3f</title></circle>\n",
                    PX(opx[k]), PY(opy[k]), colors[k], names[k], opy[k], 1 - opx[k]);
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"3\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\" "
                   "class=\"ax\">%s, AUC %.3f</text>\n", L, H - B + 40 + 14.0 * k, colors[k], L + 14,
                H - B + 44 + 14.0 * k, names[k], auc[k]);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"ax\">circles: the operating points used</text>\n</svg>\n", L,
            H - B + 72);
}

/* bin,lo,hi,count,mean_prob,frac_covid */
static int reliability_chart(FILE *f, const char *path, double brier)
{
    FILE *in = fopen(path, "r");
    if (!in) return 0;
    char line[512], title[96];
    snprintf(title, sizeof title, "reliability of P(COVID) (Brier %.4f)", brier);
    double mp[32], fc[32];
    long cnt[32], total = 0, most = 1;
    int n = 0;
    while (fgets(line, sizeof line, in) && n < 32) {
        int b;
        double lo, hi;
        char a[32], c[32];
        if (sscanf(line, "%d,%lf,%lf,%ld,%31[^,],%31[^\r\n]", &b, &lo, &hi, &cnt[n], a, c) != 6) continue;
        mp[n] = strtod(a, NULL), fc[n] = strtod(c, NULL);
        total += cnt[n];
        if (cnt[n] > most) most = cnt[n];
        n++;
    }
    fclose(in);
    frame(f, title, "mean predicted P(COVID) in the bin", "observed fraction of COVID slices");
    for (int b = 0; b < n; b++) {   /* the bins' counts as grey bars along the bottom */
        double h = 0.25 * (double)cnt[b] / (double)most;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ddd\"><title>bin %d: %ld slices"
                   "</title></rect>\n", PX((double)b / n) + 1, PY(h), (W - L - R) / n - 2, PY(0) - PY(h), b + 1, cnt[b]);
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#8e44ad\" stroke-width=\"2\" points=\"");
    for (int b = 0; b < n; b++)
        if (cnt[b] && isfinite(mp[b]) && isfinite(fc[b])) fprintf(f, "%.1f,%.1f ", PX(mp[b]), PY(fc[b]));
    fprintf(f, "\"/>\n");
    for (int b = 0; b < n; b++)
        if (cnt[b] && isfinite(mp[b]) && isfinite(fc[b]))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#8e44ad\"><title>bin %d: %ld slices, mean P %.3f, "
                       "COVID %.3f</title></circle>\n", PX(mp[b]), PY(fc[b]), 2.5 + 3.5 * sqrt((double)cnt[b] / (double)most),
                    b + 1, cnt[b], mp[b], fc[b]);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"ax\">%ld slices in %d bins of P(COVID)</text>\n"
               "<text x=\"%.0f\" y=\"%.0f\" class=\"ax\">grey: slices per bin; dashed: calibrated</text>\n</svg>\n",
            L, H - B + 44, total, n, L, H - B + 58);
    return 1;
}

static void cell_ci(FILE *f, const char *js, const char *key, int pct)
{
    double v = report_json_num(js, key), lo, hi;
    char k[112];
    snprintf(k, sizeof k, "%.100s_ci", key);
    pair(js, k, &lo, &hi);
    double m = pct ? 100 : 1;
    if (isnan(v)) fprintf(f, "<td>n/a</td>");
    else if (isnan(lo)) fprintf(f, pct ? "<td>%.2f%%</td>" : "<td>%.4f</td>", m * v);
    else fprintf(f, pct ? "<td>%.2f%% <small>[%.2f, %.2f]</small></td>" : "<td>%.4f <small>[%.4f, %.4f]</small></td>", m * v,
                 m * lo, m * hi);
}

void report_stats_section(FILE *f, const char *dir, const char *prefix, const char *json_path, const char *anchor)
{
    char *all = report_slurp(json_path, NULL);
    const char *js = all && anchor ? strstr(all, anchor) : all;
    if (!js || isnan(report_json_num(js, "image_tp"))) {
        fprintf(f, "<p class=\"na\">ROC curves, intervals and calibration (%s statistics): not available</p>\n", prefix);
        free(all);
        return;
    }
    char path[4600];
    snprintf(path, sizeof path, "%s/%s_roc.csv", dir, prefix);
    curve c[2] = {{0}};
    read_roc(path, &c[0], &c[1]);
    double itp = report_json_num(js, "image_tp"), ifn = report_json_num(js, "image_fn");
    double ifp = report_json_num(js, "image_fp"), itn = report_json_num(js, "image_tn");
    double ptp = report_json_num(js, "patient_tp"), pfn = report_json_num(js, "patient_fn");
    double pfp = report_json_num(js, "patient_fp"), ptn = report_json_num(js, "patient_tn");
    double opx[2] = {ifp / (ifp + itn), pfp / (pfp + ptn)}, opy[2] = {itp / (itp + ifn), ptp / (ptp + pfn)};
    double auc[2] = {report_json_num(js, "auc_image"), report_json_num(js, "auc_patient")};
    const char *names[2] = {"images: P(COVID)", "patients: COVID fraction"}, *colors[2] = {"#2471a3", "#c0392b"};
    fprintf(f, "<div class=\"charts\">\n");
    if (c[0].n || c[1].n) roc_chart(f, "ROC curves", c, names, colors, opx, opy, auc, 2);
    else fprintf(f, "<p class=\"na\">ROC curves (%s_roc.csv, needs both classes): not available</p>\n", prefix);
    snprintf(path, sizeof path, "%s/%s_reliability.csv", dir, prefix);
    if (!reliability_chart(f, path, report_json_num(js, "brier")))
        fprintf(f, "<p class=\"na\">reliability diagram (%s_reliability.csv): not available</p>\n", prefix);
    fprintf(f, "</div>\n<table><tr><th>95%% intervals</th><th>AUC</th><th>sensitivity (COVID)</th><th>specificity (normal)"
               "</th><th>PPV</th><th>NPV</th></tr>\n");
    const char *lv[2] = {"image", "patient"};
    for (int k = 0; k < 2; k++) {
        char key[64];
        fprintf(f, "<tr><th>%s level</th>", k ? "patient" : "image");
        snprintf(key, sizeof key, "auc_%s", lv[k]);
        cell_ci(f, js, key, 0);
        const char *m[4] = {"sensitivity", "specificity", "ppv", "npv"};
        for (int j = 0; j < 4; j++) {
            snprintf(key, sizeof key, "%s_%s", lv[k], m[j]);
            cell_ci(f, js, key, 1);
        }
        fprintf(f, "</tr>\n");
    }
    double reps = report_json_num(js, "bootstrap_replicates"), seed = report_json_num(js, "bootstrap_seed");
    fprintf(f, "</table>\n<p class=\"note\">AUC intervals: stratified bootstrap over patients (%.0f replicates, seed %.0f); "
               "proportions: Wilson score intervals. Operating points: argmax of the softmax (images) and the patient "
               "rule (patients).</p>\n", reps, seed);
    for (int k = 0; k < 2; k++) free(c[k].x), free(c[k].y);
    free(all);
}

/* "key": "value" (JSON escapes other than \" and \\ kept as written); 0 when absent or null */
static int str_field(const char *js, const char *key, char *out, size_t n)
{
    char k[112];
    snprintf(k, sizeof k, "\"%.100s\": \"", key);
    const char *p = js ? strstr(js, k) : NULL;
    if (!p || !n) return 0;
    p += strlen(k);
    size_t i = 0;
    for (; *p && *p != '"' && i + 1 < n; p++) {
        if (*p == '\\' && p[1]) p++;
        out[i++] = *p;
    }
    out[i] = 0;
    return 1;
}

void report_identity(FILE *f, const char *json_path)
{
    char *js = report_slurp(json_path, NULL);
    char arch[64], sha[80], cfg[4300], csha[80], ver[64], dev[300], ck[4300];
    if (!js || !str_field(js, "arch", arch, sizeof arch) || !str_field(js, "checkpoint_sha256", sha, sizeof sha)) {
        fprintf(f, "<p class=\"na\">model identity (eval.json \"model\"): not available</p>\n");
        free(js);
        return;
    }
    if (!str_field(js, "checkpoint", ck, sizeof ck)) snprintf(ck, sizeof ck, "?");
    if (!str_field(js, "ctvk_version", ver, sizeof ver)) snprintf(ver, sizeof ver, "?");
    if (!str_field(js, "device", dev, sizeof dev)) snprintf(dev, sizeof dev, "?");
    fprintf(f, "<p class=\"note\">model: <b>");
    report_html(f, arch);
    fprintf(f, "</b>, checkpoint ");
    report_html(f, ck);
    fprintf(f, " (SHA-256 <code>");
    report_html(f, sha);
    fprintf(f, "</code>); trained with ");
    if (str_field(js, "train_config", cfg, sizeof cfg) && str_field(js, "train_config_sha256", csha, sizeof csha)) {
        report_html(f, cfg);
        fprintf(f, " (SHA-256 <code>");
        report_html(f, csha);
        fprintf(f, "</code>), seed %.0f", report_json_num(js, "train_seed"));
    } else fprintf(f, "a config that is not available");
    fprintf(f, "; ctvk ");
    report_html(f, ver);
    fprintf(f, " on ");
    report_html(f, dev);
    fprintf(f, ". <b>Research use only, not for diagnosis.</b></p>\n");
    free(js);
}
