#!/usr/bin/env bash
# The statistics of eval and cv through the binary, and the model identity of every decision: the AUCs in eval.json and summary.json equal a
# Mann-Whitney U computed here from eval_images.csv and eval_patients.csv (ties count half); the
# bootstrap intervals are reproducible for a seed and move with it; the report draws the ROC curves,
# operating points and reliability diagrams, checked in headless Chromium (the screenshot is kept
# in the build tree's test-output/cli_stats/ to be looked at).
set -u
. "$(dirname "$0")/lib_cli.sh"
FIXTURE=${CTVK_BUILD_DIR:-.}/test_eval
[ -x "$FIXTURE" ] || { echo "cli_stats: $FIXTURE not built; skipping"; exit 77; }
PY=
for p in python3 /usr/bin/python3; do command -v "$p" >/dev/null && "$p" -c "import json" 2>/dev/null && { PY=$p; break; }; done
[ -n "$PY" ] || { echo "cli_stats: python3 missing; skipping"; exit 77; }

"$BIN" phantom --out "$T/ph" --covid 8 --normal 8 --slices 6 --size 32 --seed 5 >/dev/null || { echo "phantom failed"; exit 1; }
CK=$T/run/fold1/best.ckpt
mkdir -p "$T/run/fold1"
"$FIXTURE" --fixture "$CK" 32 || { echo "cannot write the checkpoint"; exit 1; }
# fold 1's test list: every patient (so both classes have several patients to resample)
cp -r "$T/ph/folds" "$T/folds"
{ echo "filename,class"; for k in 1 2 3 4 5; do tail -n +2 "$T/ph/folds/test$k.csv"; done; } > "$T/folds/test1.csv"
echo "filename,class" > "$T/folds/train1.csv"; echo "filename,class" > "$T/folds/validation1.csv"
{ sed "s|^folds_dir = .*|folds_dir = $T/folds|" "$T/ph/dataset.ini"; printf 'scale = 0.001\noffset = -1\n[eval]\nbatch = 8\nbootstrap = 500\n'; } > "$T/c.ini"
grep -q "folds_dir = $T/folds" "$T/c.ini" && good || bad "config points at the merged folds"

# Mann-Whitney from the CSVs of one or more folders: prints "image_auc patient_auc"
mw() {
    "$PY" - "$@" <<'PYEOF'
import csv, sys
def auc(pairs):
    pos = [s for s, y in pairs if y]; neg = [s for s, y in pairs if not y]
    u = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return u / (len(pos) * len(neg))
img, pat = [], []
for d in sys.argv[1:]:
    with open(d + "/eval_images.csv") as f:
        img += [(float(r["prob_covid"]), r["label"] == "covid") for r in csv.DictReader(f)]
    with open(d + "/eval_patients.csv") as f:
        pat += [(float(r["fraction"]), r["label"] == "covid") for r in csv.DictReader(f)]
print("%.12f %.12f" % (auc(img), auc(pat)))
PYEOF
}
# "auc_image auc_patient lo hi plo phi" of a JSON object (the file's, or its "pooled" one)
js_auc() {
    "$PY" - "$1" "${2:-}" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
if sys.argv[2]: j = j[sys.argv[2]]
print("%.12f %.12f %r %r %r %r" % (j["auc_image"], j["auc_patient"], j["auc_image_ci"][0], j["auc_image_ci"][1],
      j["auc_patient_ci"][0], j["auc_patient_ci"][1]))
PYEOF
}

out=$("$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/e1" 2>&1); rc=$?
ok "eval exits 0" '[ $rc -eq 0 ]' || echo "$out" | tail -5
ok "eval.json parses" '"$PY" -c "import json,sys; json.load(open(sys.argv[1]))" "$T/e1/eval.json"'
ok "16 patients, image rows carry their patient" '[ "$(($(wc -l < "$T/e1/eval_patients.csv") - 1))" -eq 16 ] && head -1 "$T/e1/eval_images.csv" | grep -q "^path,label,prob_covid,pred,patient$"'
read -r mwi mwp <<<"$(mw "$T/e1")"
read -r ai ap lo hi plo phi <<<"$(js_auc "$T/e1/eval.json")"
ok "image AUC $ai = Mann-Whitney $mwi" '[ -n "$ai" ] && [ "$ai" = "$mwi" ]'
ok "patient AUC $ap = Mann-Whitney $mwp" '[ -n "$ap" ] && [ "$ap" = "$mwp" ]'
ok "intervals around the AUCs: [$lo, $hi], [$plo, $phi]" '"$PY" -c "
import sys; a, lo, hi, p, plo, phi = map(float, sys.argv[1:])
assert 0 <= lo < hi <= 1 and lo <= a <= hi and 0 <= plo <= p <= phi <= 1" "$ai" "$lo" "$hi" "$ap" "$plo" "$phi"'
# (the fixture's untrained network calls nearly every slice alike, so the patients' fractions may all
# be equal and their interval a point; test_stats checks the patient bootstrap on spread data)
ok "Table 2 with intervals beside" 'grep -qE "^Fold 1 +[0-9.]+% \[[0-9.]+, [0-9.]+\] +[0-9.]+% \[[0-9.]+, [0-9.]+\] +[0-9.]+% \[[0-9.]+, [0-9.]+\] +[0-9.]+ \[[0-9.]+, [0-9.]+\]$" <<<"$out"'
ok "Table 4 counts first, then intervals" 'grep -qE "^Fold 1 +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+% \[" <<<"$out"'
ok "Wilson interval of the COVID sensitivity" '"$PY" -c "
import json, math, sys
j = json.load(open(sys.argv[1])); k, n = j[\"image_tp\"], j[\"image_tp\"] + j[\"image_fn\"]; z = 1.959963984540054
p = k / n; c = (p + z*z/(2*n)) / (1 + z*z/n); h = z / (1 + z*z/n) * math.sqrt(p*(1-p)/n + z*z/(4*n*n))
lo, hi = j[\"image_sensitivity_ci\"]
assert abs(lo - max(0, c - h)) < 1e-12 and abs(hi - min(1, c + h)) < 1e-12, (lo, hi, c - h, c + h)
assert abs(j[\"brier\"] - 0) >= 0 and sum(b[\"count\"] for b in j[\"reliability\"]) == j[\"images\"]" "$T/e1/eval.json"'
ok "ROC and reliability CSVs" '[ "$(head -1 "$T/e1/eval_roc.csv")" = "level,threshold,fpr,tpr" ] && grep -q "^patient," "$T/e1/eval_roc.csv" && [ "$(wc -l < "$T/e1/eval_reliability.csv")" -eq 11 ]'

# reproducible for a seed, different for another, none with bootstrap = 0
"$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/e2" >/dev/null 2>&1
"$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/e3" --set eval.bootstrap_seed=77 >/dev/null 2>&1
ok "same seed, same intervals" '[ "$(js_auc "$T/e2/eval.json")" = "$(js_auc "$T/e1/eval.json")" ] && diff <(grep _ci "$T/e1/eval.json") <(grep _ci "$T/e2/eval.json") >/dev/null'
ok "seed 77, other intervals, same AUCs" 'a=$(js_auc "$T/e3/eval.json"); [ "$a" != "$(js_auc "$T/e1/eval.json")" ] && [ "${a%% *}" = "$ai" ] && grep -q "\"bootstrap_seed\": 77," "$T/e3/eval.json"'
expect 0 "no AUC intervals" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/e4" --set eval.bootstrap=0
ok "bootstrap = 0: null intervals" 'grep -q "\"auc_image_ci\": \[null, null\]" "$T/e4/eval.json"'
expect 1 "\[eval\] bootstrap" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/e5" --set eval.bootstrap=-1

# a test list of one class: no AUC (null, "n/a"), no curve, and the report says so
cp -r "$T/ph/folds" "$T/f1"
{ echo "filename,class"; grep ",covid" "$T/ph/folds/test1.csv"; } > "$T/f1/test1.csv"
sed "s|^folds_dir = .*|folds_dir = $T/f1|" "$T/c.ini" > "$T/c1.ini"
expect 0 "AUC \[95% CI\].*" -- "$BIN" eval "$T/c1.ini" --checkpoint "$CK" --fold 1 --out "$T/one/fold1"
ok "one class: null AUCs, an empty ROC file" 'grep -q "\"auc_image\": null," "$T/one/fold1/eval.json" && grep -q "\"auc_patient_ci\": \[null, null\]," "$T/one/fold1/eval.json" && [ "$(wc -l < "$T/one/fold1/eval_roc.csv")" -eq 1 ]'
"$BIN" report "$T/one" >/dev/null 2>&1
ok "one class: the report marks the ROC not available" 'grep -q "ROC curves (eval_roc.csv, needs both classes): not available" "$T/one/report.html" && grep -q "<td>n/a</td>" "$T/one/report.html"'

# cv: per-fold and pooled statistics, then the report in a browser
"$BIN" phantom --out "$T/d48" --covid 8 --normal 8 --slices 8 --size 48 --seed 3 >/dev/null || bad "phantom 48"
small_config "$T/tiny.ini" "$T/d48"
printf '[train]\nepochs = 1\nbatch = 8\nlr = 1e-3\nseed = 7\n[eval]\nbootstrap = 300\n[output]\nprogress = none\n' >> "$T/tiny.ini"
expect 0 "^pooled .*\[" -- "$BIN" cv "$T/tiny.ini" --folds 1,2 --set output.dir="$T/cv"
read -r pmwi pmwp <<<"$(mw "$T/cv/fold1" "$T/cv/fold2")"
read -r pai pap _ <<<"$(js_auc "$T/cv/summary.json" pooled)"
ok "pooled AUCs ($pai, $pap) = Mann-Whitney over both folds ($pmwi, $pmwp)" '[ -n "$pai" ] && [ "$pai" = "$pmwi" ] && [ "$pap" = "$pmwp" ]'
ok "summary.csv: fold rows' AUCs = their eval.json" '"$PY" -c "
import csv, json, sys
rows = {r[\"fold\"]: r for r in csv.DictReader(open(sys.argv[1] + \"/summary.csv\"))}
for k in (\"1\", \"2\"):
    e = json.load(open(sys.argv[1] + \"/fold\" + k + \"/eval.json\"))
    assert abs(float(rows[k][\"auc_image\"]) - e[\"auc_image\"]) < 1e-6 and abs(float(rows[k][\"auc_patient\"]) - e[\"auc_patient\"]) < 1e-6
    assert abs(float(rows[k][\"auc_image_lo\"]) - e[\"auc_image_ci\"][0]) < 1e-6
assert \"pooled\" in rows and json.load(open(sys.argv[1] + \"/summary.json\"))[\"pooled\"][\"images\"] > 0
" "$T/cv"'
ok "pooled curves" '[ -s "$T/cv/summary_roc.csv" ] && [ -s "$T/cv/summary_reliability.csv" ]'
expect 0 "report: .*\(2 folds\)" -- "$BIN" report "$T/cv"
H=$T/cv/report.html
ok "ROC charts per fold and pooled" '[ "$(grep -o ">ROC curves<" "$H" | wc -l)" -eq 3 ] && [ "$(grep -o ">reliability of P(COVID)" "$H" | wc -l)" -eq 3 ]'
ok "operating points marked" '[ "$(grep -o "operating point: sensitivity" "$H" | wc -l)" -ge 6 ]'
ok "interval tables" '[ "$(grep -o "<th>95% intervals</th>" "$H" | wc -l)" -eq 3 ] && grep -q "All folds pooled" "$H"'
# who made this answer: model identity and notice in eval, cv's eval.json, infer, report
sha=$(sha256sum "$CK" | cut -d" " -f1)
ok "eval.json: checkpoint SHA-256 = sha256sum, notice" '"$PY" -c "
import json, sys
j = json.load(open(sys.argv[1])); m = j[\"model\"]
assert m[\"checkpoint_sha256\"] == sys.argv[2] and m[\"arch\"] == \"small_resnet\" and m[\"train_config\"] is None
assert m[\"ctvk_version\"] and m[\"device\"] and j[\"notice\"] == \"research use only, not for diagnosis\"" "$T/e1/eval.json" "$sha"'
ok "eval prints the identity and the notice" 'grep -q "^model: small_resnet 32x32, checkpoint .*(SHA-256 $sha)$" <<<"$out" && grep -q "^notice: research use only, not for diagnosis$" <<<"$out"'
csha=$(sha256sum "$T/cv/config.ini" | cut -d" " -f1)
ok "cv's eval.json: training config, its SHA-256 and seed 7" '"$PY" -c "
import json, sys
m = json.load(open(sys.argv[1] + \"/fold2/eval.json\"))[\"model\"]
assert m[\"train_config\"] == sys.argv[1] + \"/config.ini\" and m[\"train_config_sha256\"] == sys.argv[2] and m[\"train_seed\"] == 7, m" "$T/cv" "$csha"'
ok "summary.json carries the notice" 'grep -q "\"notice\": \"research use only, not for diagnosis\"" "$T/cv/summary.json"'
PAT=$T/d48/full/covid1/patient1
inf=$("$BIN" infer --checkpoint "$T/cv/fold1/best.ckpt" "$PAT" --config "$T/tiny.ini" 2>&1)
ok "infer text: identity, training seed, notice" 'grep -q "^trained with: $T/cv/config.ini (SHA-256 $csha), seed 7$" <<<"$inf" && grep -q "^notice: research use only, not for diagnosis$" <<<"$inf" && grep -q "^decision: " <<<"$inf"'
inj=$("$BIN" infer --checkpoint "$T/cv/fold1/best.ckpt" "$PAT" --config "$T/tiny.ini" --json 2>/dev/null)
ok "infer JSON: identity and notice" '"$PY" -c "
import json, sys
j = json.loads(sys.argv[1]); m = j[\"model\"]
assert j[\"notice\"] == \"research use only, not for diagnosis\" and m[\"train_seed\"] == 7 and len(m[\"checkpoint_sha256\"]) == 64 and j[\"decision\"] in (\"covid\", \"normal\")" "$inj"'
ok "report: notice and each fold's model" 'grep -q "Research use only, not for diagnosis" "$H" && [ "$(grep -o "model: <b>small_resnet</b>" "$H" | wc -l)" -eq 2 ] && grep -q "$(sha256sum "$T/cv/fold2/best.ckpt" | cut -d" " -f1)" "$H"'
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
    SHOTS=${CTVK_BUILD_DIR:-.}/test-output/cli_stats
    mkdir -p "$SHOTS"
    rm -f "$SHOTS/report.png"
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --user-data-dir="$T/chrome" --screenshot="$SHOTS/report.png" --window-size=1200,4000 \
        "file://$H" >/dev/null 2>&1
    ok "Chromium renders the report ($SHOTS/report.png)" '[ -s "$SHOTS/report.png" ] && [ "$(stat -c %s "$SHOTS/report.png")" -gt 50000 ]'
    cp "$H" "$SHOTS/report.html" 2>/dev/null
else
    echo "cli_stats: chromium not installed: the browser check is skipped"
fi

finish cli_stats
