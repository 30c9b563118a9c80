#!/usr/bin/env bash
# ctvk phantom: usage errors (exit 2), the written layouts and their counts, determinism for a seed,
# refusal of a non-empty folder (exit 1).
set -u
. "$(dirname "$0")/lib_cli.sh"

expect 0 "usage: ctvk phantom --out DIR" -- "$BIN" phantom --help
expect 0 "usage: ctvk phantom" -- "$BIN" help phantom
expect 2 "unknown option '--bogus'" -- "$BIN" phantom --out "$T/x" --bogus 1
expect 2 "--out DIR is required" -- "$BIN" phantom --covid 1
expect 2 "--size '8': expected an integer in 16 .. 4096" -- "$BIN" phantom --out "$T/x" --size 8
expect 2 "--slices 'many'" -- "$BIN" phantom --out "$T/x" --slices many
expect 2 "--seed '-3'" -- "$BIN" phantom --out "$T/x" --seed -3
expect 2 "no patients" -- "$BIN" phantom --out "$T/x" --covid 0 --normal 0
expect 2 "unexpected argument 'extra'" -- "$BIN" phantom --out "$T/x" extra
expect 2 "--covid needs a value" -- "$BIN" phantom --out "$T/x" --covid

expect 0 "10 patients \(5 covid, 5 normal\), 2 sequences of 6 slices each, 64x64, seed 9" -- \
    "$BIN" phantom --out "$T/a" --covid 5 --normal 5 --slices 6 --series 2 --size 64 --seed 9
ok "120 slices in full/" '[ "$(find "$T/a/full" -name "IM*.tif" | wc -l)" -eq 120 ]'
ok "full layout paths" '[ -f "$T/a/full/covid1/patient1/SR_2/IM00001.tif" ] && [ -f "$T/a/full/covid2/patient2/SR_3/IM00006.tif" ] && [ -f "$T/a/full/normal1/patient6/SR_2/IM00003.tif" ]'
flat=$(find "$T/a/flat" -name '*.tif' | wc -l)
ok "flat count printed" 'timeout 60 "$BIN" phantom --out "$T/a2" --covid 5 --normal 5 --slices 6 --series 2 --size 64 --seed 9 | grep -q "flat/  $flat slices"'
ok "flat names" '[ -f "$T/a/flat/normal1_patient6_SR_2_IM00003.tif" ] && ! ls "$T/a/flat" | grep -q "_IM00001.tif"'
ok "15 fold CSVs in the official format" '[ "$(ls "$T/a/folds" | wc -l)" -eq 15 ] && head -1 "$T/a/folds/train3.csv" | grep -q "^filename,class" && grep -qE "^covid[12]_patient[0-9]+_SR_[23]_IM[0-9]{5}\.tif,covid" "$T/a/folds/train1.csv"'
ok "every flat slice is in exactly one test list" '[ "$(cat "$T"/a/folds/test*.csv | grep -vc filename)" -eq "$flat" ]'
ok "same seed, same bytes" 'diff -r "$T/a/full" "$T/a2/full" >/dev/null && diff -r "$T/a/folds" "$T/a2/folds" >/dev/null'
ok "dataset.ini" 'grep -q "^layout = flat" "$T/a/dataset.ini" && grep -q "^image_size = 64" "$T/a/dataset.ini" && grep -q "^series_root = .*/full" "$T/a/dataset.ini"'
expect 0 "" -- "$BIN" phantom --out "$T/b" --covid 5 --normal 5 --slices 6 --series 2 --size 64 --seed 10
ok "another seed, other bytes" '! cmp -s "$T/a/full/covid1/patient1/SR_2/IM00003.tif" "$T/b/full/covid1/patient1/SR_2/IM00003.tif"'
expect 1 "is not empty" -- "$BIN" phantom --out "$T/a" --covid 1 --normal 1 --slices 4 --size 64
expect 0 "folds/ not written: five folds need at least 5 patients of each class" -- \
    "$BIN" phantom --out "$T/c" --covid 1 --normal 2 --slices 4 --size 32
: > "$T/file"
expect 1 "exists and is not a folder" -- "$BIN" phantom --out "$T/file" --size 32

finish cli_ct_phantom
