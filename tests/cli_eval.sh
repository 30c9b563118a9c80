#!/usr/bin/env bash
# ctvk eval, infer and report through the binary: a phantom dataset and a small checkpoint (written
# by test_eval --fixture), the two tables and the three files of eval (counts consistent with each
# other), infer's table and JSON on one patient (with and without selection), report.html of a
# hand-written run folder (self-contained, "not available" for missing pieces), usage errors exit 2,
# failures exit 1 naming the file.
set -u
. "$(dirname "$0")/lib_cli.sh"
FIXTURE=${CTVK_BUILD_DIR:-.}/test_eval
[ -x "$FIXTURE" ] || { echo "cli_eval: $FIXTURE not built; skipping"; exit 77; }

"$BIN" phantom --out "$T/ph" --covid 5 --normal 5 --slices 6 --size 32 --seed 3 >/dev/null || { echo "phantom failed"; exit 1; }
mkdir -p "$T/run/fold1"
CK=$T/run/fold1/best.ckpt
"$FIXTURE" --fixture "$CK" 32 || { echo "cannot write the checkpoint"; exit 1; }
{ cat "$T/ph/dataset.ini"; printf 'scale = 0.001\noffset = -1\n[eval]\nbatch = 4\n'; } > "$T/c.ini"
PAT=$T/ph/full/covid1/patient1

# usage errors and failures
expect 0 "usage: ctvk eval CONFIG" -- "$BIN" eval --help
expect 2 "CONFIG is required" -- "$BIN" eval --checkpoint "$CK" --fold 1
expect 2 "--checkpoint is required" -- "$BIN" eval "$T/c.ini" --fold 1
expect 2 "--fold is required" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK"
expect 2 "--fold 'x'" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold x
expect 2 "unknown option '--bogus'" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --bogus
expect 2 "--out needs a value" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out
expect 1 "$T/missing.ckpt" -- "$BIN" eval "$T/c.ini" --checkpoint "$T/missing.ckpt" --fold 1
expect 1 "no fold 9 \(5 folds" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 9
expect 1 "config $T/none.ini" -- "$BIN" eval "$T/none.ini" --checkpoint "$CK" --fold 1
expect 1 "batch" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --set eval.batch=0
expect 0 "usage: ctvk infer" -- "$BIN" infer --help
expect 2 "PATH .* is required" -- "$BIN" infer --checkpoint "$CK"
expect 2 "--checkpoint is required" -- "$BIN" infer "$PAT"
expect 2 "unknown option '--fast'" -- "$BIN" infer --checkpoint "$CK" "$PAT" --fast
expect 1 "$T/missing.ckpt" -- "$BIN" infer --checkpoint "$T/missing.ckpt" "$PAT"
expect 1 "holds 10 patients" -- "$BIN" infer --checkpoint "$CK" "$T/ph/full" --config "$T/c.ini"
expect 1 "$T/nothing: cannot read" -- "$BIN" infer --checkpoint "$CK" "$T/nothing" --config "$T/c.ini"
expect 0 "usage: ctvk report RUN_DIR" -- "$BIN" report --help
expect 2 "RUN_DIR is required" -- "$BIN" report
expect 2 "unknown option" -- "$BIN" report --x
expect 1 "not a run folder" -- "$BIN" report "$T/norun"

# eval: the tables, the files beside the checkpoint, consistent counts
out=$("$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 2>&1); rc=$?
ok "eval exits 0" '[ $rc -eq 0 ]'
ok "Table 2 layout" 'grep -qE "^Fold +Accuracy \[95% CI\] +COVID sensitivity \[95% CI\] +Normal sensitivity \[95% CI\] +AUC \[95% CI\]" <<<"$out" && grep -qE "^Fold 1 +[0-9.]+% \[[0-9.]+, [0-9.]+\] +[0-9.]+% \[[0-9.]+, [0-9.]+\] +[0-9.]+% \[" <<<"$out"'
ok "Table 4 layout" 'grep -qE "^Fold +Normal cases +Correct +Wrong +COVID cases +Correct +Wrong" <<<"$out"'
ok "three files" '[ -s "$T/run/fold1/eval.json" ] && [ -s "$T/run/fold1/eval_images.csv" ] && [ -s "$T/run/fold1/eval_patients.csv" ] && ! ls -a "$T/run/fold1" | grep -q tmp'
n_test=$(($(wc -l < "$T/ph/folds/test1.csv") - 1))
ok "one image row per test image ($n_test)" '[ "$(($(wc -l < "$T/run/fold1/eval_images.csv") - 1))" -eq "$n_test" ]'
ok "eval.json images = test images" 'grep -q "\"images\": $n_test," "$T/run/fold1/eval.json"'
# the Table 4 row equals the per-patient CSV's counts
row=$(grep -E "^Fold 1 +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+( |$)" <<<"$out" | awk '{print $3, $4, $5, $6, $7, $8}')
want=$(awk -F, 'NR>1 { if ($2=="normal") { nc++; if ($6=="normal") nk++; else nw++ } else { cc++; if ($6=="covid") ck++; else cw++ } }
                END { print nc+0, nk+0, nw+0, cc+0, ck+0, cw+0 }' "$T/run/fold1/eval_patients.csv")
ok "Table 4 row ($row) = eval_patients.csv ($want)" '[ -n "$row" ] && [ "$row" = "$want" ]'
# each patient's decision follows the rule at f = 0.1 and its slices are its image rows
ok "patient rule at 0.1" 'awk -F, "NR>1 { d = (\$4 >= 0.1 * \$3 - 1e-9) ? \"covid\" : \"normal\"; if (d != \$6 || \$5 != \$4 / \$3) exit 1 }" "$T/run/fold1/eval_patients.csv"'
ok "image accuracy = correct rows / rows" 'awk -F, "NR>1 { n++; if (\$2 == \$4) c++ } END { exit !(n > 0) }" "$T/run/fold1/eval_images.csv"'
# a second eval without --out does not replace the first one's results (cv's, say) unless --overwrite
cp "$T/run/fold1/eval.json" "$T/first.json"
expect 1 "$T/run/fold1/eval.json already holds the results of an evaluation .*--out DIR, or replace them with --overwrite" -- \
    "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --set eval.covid_fraction=1
check "the refused eval left eval.json as it was" cmp -s "$T/first.json" "$T/run/fold1/eval.json"
expect 0 "wrote $T/run/fold1/eval.json" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --overwrite --set eval.covid_fraction=1
check "--overwrite replaced it" bash -c "! cmp -s '$T/first.json' '$T/run/fold1/eval.json'"
expect 0 "COVID iff COVID slices >= 1 x slices" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 2 --out "$T/o2" --set eval.covid_fraction=1
ok "--out DIR gets the files" '[ -s "$T/o2/eval.json" ] && [ -s "$T/o2/eval_patients.csv" ]'
expect 0 "their patients' selected slices" -- "$BIN" eval "$T/c.ini" --checkpoint "$CK" --fold 1 --out "$T/sel" --set eval.selection=true
ok "selection: slices from the full tree" 'grep -q "/full/" "$T/sel/eval_images.csv" && ! grep -q "/flat/" "$T/sel/eval_images.csv"'

# infer: table, JSON, --no-select
expect 0 "^decision: (COVID|normal)$" -- "$BIN" infer --checkpoint "$CK" "$PAT" --config "$T/c.ini"
expect 0 "selection kept [0-9]+ " -- "$BIN" infer --checkpoint "$CK" "$PAT" --config "$T/c.ini"
js=$("$BIN" infer --checkpoint "$CK" "$PAT" --config "$T/c.ini" --json 2>&1); rc=$?
ok "infer --json exits 0" '[ $rc -eq 0 ]'
ok "one JSON object line" '[ "$(wc -l <<<"$js")" -eq 1 ] && grep -q "^{\"path\": \"$PAT\", \"patient\": \"patient1\"" <<<"$js"'
if command -v python3 >/dev/null; then
    ok "JSON parses, decision follows the rule, slices as kept" 'python3 -c "
import json, sys
j = json.loads(sys.argv[1])
n = j[\"slices_classified\"]; c = j[\"covid_slices\"]
assert j[\"slices_total\"] == 6 and 0 < n <= 6 and len(j[\"slices\"]) == n and j[\"selection\"] is True
assert c == sum(s[\"pred\"] == \"covid\" for s in j[\"slices\"])
assert all((s[\"prob_covid\"] >= 0.5) == (s[\"pred\"] == \"covid\") for s in j[\"slices\"])
assert j[\"decision\"] == (\"covid\" if c >= 0.1 * n - 1e-9 else \"normal\") and j[\"threshold\"] == 0.1
assert abs(j[\"fraction\"] - c / n) < 1e-12
" "$js"'
fi
js2=$("$BIN" infer --checkpoint "$CK" "$PAT" --config "$T/c.ini" --json --no-select 2>&1)
ok "--no-select classifies all 6 slices" 'grep -q "\"slices_classified\": 6," <<<"$js2" && grep -q "\"selection\": false" <<<"$js2"'
expect 0 "threshold f = 0.5" -- "$BIN" infer --checkpoint "$CK" "$PAT/SR_2" --config "$T/c.ini" --set eval.covid_fraction=0.5

# report: a run folder written by hand (no trainer needed)
R=$T/rep
mkdir -p "$R/fold1" "$R/fold2"
{ cat "$T/ph/dataset.ini"; printf '[eval]\ncovid_fraction = 0.2\n'; } > "$R/config.ini"
cat > "$R/fold1/train_log.csv" <<'CSV'
epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s
1,0.69,0.55,0.68,0.60,1.5,40
2,0.52,0.74,0.55,0.71,1.4,42
3,0.31,0.88,0.40,0.83,1.4,42
CSV
cat > "$R/fold1/eval.json" <<'JSON'
{
  "images": 20,
  "accuracy": 0.85,
  "sens_covid": 0.8,
  "sens_normal": 0.9,
  "confusion": [[8, 2], [1, 9]],
  "normal_cases": 2,
  "normal_correct": 2,
  "normal_wrong": 0,
  "covid_cases": 2,
  "covid_correct": 1,
  "covid_wrong": 1
}
JSON
cat > "$R/fold1/eval_patients.csv" <<'CSV'
patient,label,slices,covid_slices,fraction,decision
patient1,covid,5,4,0.8,covid
patient3,covid,5,0,0,normal
patient7,normal,5,0,0,normal
patient8,normal,5,0.0,0,normal
patient9,<i>normal</i>,5,1,0.2,<b>covid</b>
CSV
cat > "$R/fold2/train_log.csv" <<'CSV'
epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s
1,0.70,0.50,0.69,0.52,1.5,40
CSV
printf 'fold,accuracy,sens_covid,sens_normal\n1,85.00,80.00,90.00\nmean,85.00,80.00,90.00\n' > "$R/summary.csv"
expect 0 "^report: $R/report.html \(2 folds\)" -- "$BIN" report "$R"
H=$R/report.html
ok "report.html exists" '[ -s "$H" ]'
ok "inline SVG charts" '[ "$(grep -o "<svg" "$H" | wc -l)" -ge 5 ]'
ok "no external references" '! grep -qE "https?://" "$H" && ! grep -qiE "<script|<link|src=\"[^d]" "$H"'
ok "metrics and confusion from eval.json" 'grep -q "85.00%" "$H" && grep -q ">8</td>" "$H" && grep -q ">9</td>" "$H"'
ok "patients in the dot plot, threshold 0.2" 'grep -q "patient3" "$H" && grep -q "f = 0.2" "$H"'
ok "fold 2's missing evaluation is not available" 'grep -q "evaluation (eval.json): not available" "$H"'
ok "summary table" 'grep -q "<td>mean</td>" "$H"'
ok "the contact sheet as a data URI" 'grep -q "src=\"data:image/png;base64,iVBORw0KGgo" "$H"'
ok "no temporary files left" '! ls -a "$R" | grep -qE "tmp|montage"'
ok "text from the CSVs is escaped" '! grep -qE "<i>normal|<b>covid" "$H" && grep -q "&lt;i&gt;normal&lt;/i&gt;" "$H" && grep -q "decided &lt;b&gt;covid&lt;/b&gt;" "$H"'
# an empty run folder: a report that says so
mkdir -p "$T/empty"
expect 0 "report: .*\(0 folds\)" -- "$BIN" report "$T/empty"
ok "empty run: not available" 'grep -q "folds (no foldK folders): not available" "$T/empty/report.html" && grep -q "contact sheet" "$T/empty/report.html"'

finish cli_eval
