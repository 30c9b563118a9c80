#!/usr/bin/env bash
# ctvk dataset: the official fold lists counted from the CSVs reproduce the published table of
# configs/covid-ctset/README.md row for row, with the validation leak as warnings, also through the
# paper's config; a phantom dataset; fold-list errors named with CSV and line; usage errors.
set -u
. "$(dirname "$0")/lib_cli.sh"
SRC=${CTVK_SOURCE:?CTVK_SOURCE must point at the repository}
FOLDS=$SRC/configs/covid-ctset

expect 0 "usage: ctvk dataset" -- "$BIN" dataset --help
expect 2 "unknown option '--bogus'" -- "$BIN" dataset --bogus
expect 2 "unexpected argument" -- "$BIN" dataset a.ini b.ini
expect 1 "root and folds_dir are both unset" -- "$BIN" dataset
expect 1 "\[data\] root is unset, so the CSVs' files cannot be checked" -- "$BIN" dataset --set data.folds_dir="$FOLDS"

out=$("$BIN" dataset --set data.folds_dir="$FOLDS" --set data.check_files=false 2>"$T/err"); rc=$?
ok "official folds: exit 0" '[ $rc -eq 0 ]'
ok "official folds: 377 patients" 'grep -q "5 folds, 377 patients (95 covid, 282 normal)" <<<"$out"'
ok "the published table, row for row" 'diff <(grep -E "^\| [1-5] \| [0-9]+ \(" "$FOLDS/README.md") <(grep -E "^\| [1-5] \| [0-9]+ \([0-9]+\) \| [0-9]+ \([0-9]+\) \| [0-9]+ \(" <<<"$out")'
ok "the published header" 'grep -qF "| fold | train covid | train normal | test covid | test normal |" <<<"$out"'
ok "validation table" 'grep -qF "| 1 | 462 (18) | 450 (188) |" <<<"$out"'
ok "five leak warnings" '[ "$(grep -c "warning: fold [1-5]: [0-9]* of [0-9]* validation images are also test images" "$T/err")" -eq 5 ]'
# the paper's configs find the shipped lists from the repository root
for arch in resnet50v2-fpn resnet50v2 resnet50; do
    out=$(cd "$SRC" && "$BIN" dataset "configs/paper-$arch.ini" --set data.check_files=false 2>/dev/null); rc=$?
    ok "paper-$arch.ini: the published table" '[ $rc -eq 0 ] && diff <(grep -E "^\| [1-5] \| [0-9]+ \(" "$FOLDS/README.md") <(grep -E "^\| [1-5] \| [0-9]+ \([0-9]+\) \| [0-9]+ \([0-9]+\) \| [0-9]+ \(" <<<"$out")'
done

"$BIN" phantom --out "$T/ph" --covid 5 --normal 5 --slices 6 --size 32 --seed 2 >/dev/null || { echo "phantom failed"; exit 1; }
expect 0 "5 folds, 10 patients \(5 covid, 5 normal\)" -- "$BIN" dataset "$T/ph/dataset.ini"
out=$("$BIN" dataset "$T/ph/dataset.ini" 2>&1)
ok "phantom: no warnings, series table" '! grep -q warning <<<"$out" && grep -qF "| covid | 5 | 5 | 30 |" <<<"$out"'
expect 0 "full layout.*\| normal \| 5 \| 5 \| 30 \|" -- bash -c "'$BIN' dataset --set data.layout=full --set data.root='$T/ph/full' | tr '\n' ' '"
cp -r "$T/ph/folds" "$T/f2"
row=$(tail -1 "$T/f2/test4.csv" | sed 's/_IM[0-9]*\.tif/_IM00077.tif/')      # a patient of this test list
printf '%s\n' "$row" >> "$T/f2/test4.csv"
n=$(wc -l < "$T/f2/test4.csv")
expect 1 "$T/f2/test4.csv line $n: the file $T/ph/flat/${row%%,*} does not exist" -- \
    "$BIN" dataset "$T/ph/dataset.ini" --set data.folds_dir="$T/f2"
expect 0 "5 folds" -- "$BIN" dataset "$T/ph/dataset.ini" --set data.folds_dir="$T/f2" --set data.check_files=false
printf 'covid1_patient1_SR_2_IM00005.tif,flu\n' >> "$T/f2/train2.csv"
expect 1 "train2.csv line [0-9]+: unknown class 'flu'" -- "$BIN" dataset "$T/ph/dataset.ini" --set data.folds_dir="$T/f2" --set data.check_files=false
expect 1 "layout = 'tree': expected flat" -- "$BIN" dataset "$T/ph/dataset.ini" --set data.layout=tree

finish cli_ct_dataset
