#!/usr/bin/env bash
# The network's input transform travels with it: a checkpoint records [data] scale and offset, and
# infer and eval feed the network what it was trained on, with or without the training config. A
# config that asks for another transform is refused, naming both values (before this, infer without
# --config fed a network trained on scale 0.001 the raw values and answered with confidence).
set -u
. "$(dirname "$0")/lib_cli.sh"
"$BIN" phantom --out "$T/data" --covid 5 --normal 5 --slices 6 --size 48 --seed 3 >/dev/null || bad "phantom"
small_config "$T/d.ini" "$T/data"          # [data] scale = 0.001
cat >> "$T/d.ini" <<INI
[train]
epochs = 1
batch = 4
max_steps_per_epoch = 2
seed = 5
[output]
progress = none
INI
expect 0 "fold 1: 1 epochs" -- "$BIN" train "$T/d.ini" --fold 1 --set output.dir="$T/run"
C="$T/run/fold1/last.ckpt"
P="$T/data/full/normal1/patient6"
probs() { "$BIN" infer --checkpoint "$C" "$P" --json "$@" 2>/dev/null |
          python3 -c 'import json, sys; [print(s["prob_covid"]) for s in json.load(sys.stdin)["slices"]]'; }
probs --config "$T/d.ini" > "$T/with"
probs > "$T/without"
ok "infer without the training config: probabilities" '[ "$(wc -l < "$T/without")" -ge 2 ]'
ok "infer without the training config gives the config's answer" 'cmp -s "$T/with" "$T/without"'
ok "the answer is no saturated guess" 'awk "{ if (\$1 < 0.01 || \$1 > 0.99) bad = 1 } END { exit bad }" "$T/with"'
expect 1 "\[data\] scale = 1, but the network of .*last.ckpt was trained on scale = 0.001" -- \
    "$BIN" infer --checkpoint "$C" "$P" --set data.scale=1
expect 1 "\[data\] offset = 5, but the network of .*last.ckpt was trained on offset = 0" -- \
    "$BIN" infer --checkpoint "$C" "$P" --config "$T/d.ini" --set data.offset=5
expect 0 "patients" -- "$BIN" eval "$T/d.ini" --checkpoint "$C" --fold 1 --out "$T/eval1"
expect 1 "\[data\] scale = 0.5, but the network" -- "$BIN" eval "$T/d.ini" --checkpoint "$C" --fold 1 \
    --set data.scale=0.5 --out "$T/eval2"
finish cli_model_input
