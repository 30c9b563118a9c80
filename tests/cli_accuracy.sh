#!/usr/bin/env bash
# The method works end to end: on a phantom dataset, configs/demo.ini's small ResNet trained on
# fold 1 classifies the fold's test patients (patient rule f = 0.1) far better than the same network
# untrained, which the test measures too and requires to fall short of the bound.
set -u
. "$(dirname "$0")/lib_cli.sh"
SRC=${CTVK_SOURCE:?}
"$BIN" phantom --out "$T/runs/demo-data" --covid 20 --normal 20 --slices 24 --size 64 --seed 1 >/dev/null \
    || { echo "phantom failed"; exit 1; }
cd "$T"
# patients correct on fold 1's test list, from `ctvk eval`'s Table 4 row: "Fold 1  N c w  C c w"
patients_correct() { awk '$1 == "Fold" && $2 == "1" && NF >= 8 && $3 ~ /^[0-9]+$/ { print $4 + $7 " " $3 + $6 }' <<<"$1" | tail -1; }

out=$("$BIN" train "$SRC/configs/demo.ini" --fold 1 --set output.dir="$T/untrained" --set train.epochs=1 \
      --set train.max_steps_per_epoch=1 --set output.progress=none 2>&1) || bad "untrained run: $out"
ev=$("$BIN" eval "$SRC/configs/demo.ini" --checkpoint "$T/untrained/fold1/best.ckpt" --fold 1 2>&1)
read -r u_ok u_all <<<"$(patients_correct "$ev")"
echo "untrained: $u_ok of $u_all test patients correct"

out=$("$BIN" train "$SRC/configs/demo.ini" --fold 1 --set output.dir="$T/trained" --set output.progress=none 2>&1) \
    || bad "training: $out"
ev=$("$BIN" eval "$SRC/configs/demo.ini" --checkpoint "$T/trained/fold1/best.ckpt" --fold 1 2>&1)
echo "$ev" | tail -12
read -r t_ok t_all <<<"$(patients_correct "$ev")"
echo "trained: $t_ok of $t_all test patients correct"

# the bound: at least 7 of 8 patients (87.5 %); a network that says one class for everything gets 4
[ -n "$u_all" ] && [ "$u_all" -eq 8 ] && good || bad "expected 8 test patients, got '$u_all'"
[ -n "$u_ok" ] && [ "$u_ok" -lt 7 ] && good || bad "the untrained network already reaches the bound ($u_ok of 8)"
[ -n "$t_ok" ] && [ "$t_ok" -ge 7 ] && good || bad "trained: $t_ok of 8 patients, the bound is 7"
acc=$(awk '$1 == "Fold" && $2 == "1" && $3 ~ /%$/ { print $3 }' <<<"$ev" | head -1 | tr -d %)
awk -v a="$acc" 'BEGIN { exit !(a >= 80) }' && good || bad "trained image accuracy $acc% < 80%"
expect 0 "\"decision\": \"covid\"" -- "$BIN" infer --checkpoint "$T/trained/fold1/best.ckpt" --json \
    "$(ls -d "$T"/runs/demo-data/full/covid*/patient* | head -1)"
finish cli_accuracy
