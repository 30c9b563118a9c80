#!/usr/bin/env bash
# Earlier results are never changed or lost without an explicit flag: a run folder is locked by its
# writer (a second train or cv is refused naming the folder and the holder, and changes nothing); a
# refused train leaves config.ini as it was; a fold folder with results but no last.ckpt is not
# overwritten without --overwrite; --resume with other training settings lists them and is refused
# without --allow-changes; cv checks every fold of --folds before training any; what --set puts into
# config.ini reads back, and what could not is refused; with validation = none the best accuracy is
# called a training accuracy.
set -u
. "$(dirname "$0")/lib_cli.sh"

"$BIN" phantom --out "$T/data" --covid 5 --normal 5 --slices 6 --size 48 --seed 7 >/dev/null || bad phantom
small_config "$T/c.ini" "$T/data"
cat >> "$T/c.ini" <<INI
[train]
epochs = 1
batch = 4
lr = 1e-3
max_steps_per_epoch = 2
[output]
progress = lines
dir = $T/run
INI
R=$T/run
sum() { sha256sum < "$1"; }

expect 0 "fold 1: 1 epochs, best validation accuracy [0-9.]+ at epoch 1" -- "$BIN" train "$T/c.ini" --fold 1
cfg_before=$(sum "$R/config.ini")
best_before=$(sum "$R/fold1/best.ckpt")

# a second train over the finished run: refused, and config.ini is not rewritten
expect 1 "$R/fold1 already holds a training run \(last.ckpt, best.ckpt, train_log.csv, train_log.json\): continue it with --resume, start it again with --overwrite" -- \
    "$BIN" train "$T/c.ini" --fold 1 --set train.lr=0.5
ok "the refused train left config.ini as it was" '[ "$(sum "$R/config.ini")" = "$cfg_before" ]'

# results without last.ckpt: not overwritten unless --overwrite
rm "$R/fold1/last.ckpt"
expect 1 "$R/fold1 holds the results of an earlier run \(best.ckpt, train_log.csv, train_log.json\) and no last.ckpt to resume from: replace them with --overwrite" -- \
    "$BIN" train "$T/c.ini" --fold 1
expect 1 "holds the results of an earlier run" -- "$BIN" train "$T/c.ini" --fold 1 --resume
ok "best.ckpt kept" '[ "$(sum "$R/fold1/best.ckpt")" = "$best_before" ]'
ok "config.ini kept" '[ "$(sum "$R/config.ini")" = "$cfg_before" ]'
expect 2 "--resume and --overwrite exclude each other" -- "$BIN" train "$T/c.ini" --fold 1 --resume --overwrite
expect 2 "--allow-changes goes with --resume" -- "$BIN" train "$T/c.ini" --fold 1 --allow-changes
expect 0 "fold 1: 1 epochs" -- "$BIN" train "$T/c.ini" --fold 1 --overwrite
ok "--overwrite trained it again" '[ -s "$R/fold1/last.ckpt" ]'

# --resume with other training settings: listed, refused unless --allow-changes; more epochs are fine
last_before=$(sum "$R/fold1/last.ckpt")
expect 1 "checkpoint $R/fold1/last.ckpt was trained with other settings than the config's now \(train.lr 0.001 -> 0.0005, augment.enabled 1 -> 0\): .*--allow-changes" -- \
    "$BIN" train "$T/c.ini" --fold 1 --resume --set train.epochs=2 --set train.lr=5e-4 --set augment.enabled=false
ok "the refused resume left last.ckpt as it was" '[ "$(sum "$R/fold1/last.ckpt")" = "$last_before" ]'
expect 0 "resuming $R/fold1/last.ckpt with changed settings \(--allow-changes\): train.lr 0.001 -> 0.0005.*fold 1: 2 epochs" -- \
    bash -c "'$BIN' train '$T/c.ini' --fold 1 --resume --allow-changes --set train.epochs=2 --set train.lr=5e-4 2>&1 | tr '\n' ' '"
expect 0 "fold 1: 3 epochs" -- "$BIN" train "$T/c.ini" --fold 1 --resume --set train.epochs=3 --set train.lr=5e-4

# the run folder is locked by its writer: a second train (another fold too) or cv is refused
"$BIN" train "$T/c.ini" --fold 2 --set train.epochs=1000 --set train.max_steps_per_epoch=0 >/dev/null 2>&1 &
pid=$!
for i in $(seq 600); do grep -q "pid $pid" "$R/.ctvk.lock" 2>/dev/null && [ -d "$R/fold2" ] && break; sleep 0.1; done
cfg_now=$(sum "$R/config.ini")
expect 1 "$R is in use by another ctvk \(pid $pid on [^ ]+: ctvk train $T/c.ini --fold 2 --set train.epochs=1000" -- \
    "$BIN" train "$T/c.ini" --fold 3 --set train.lr=0.25
expect 1 "$R is in use by another ctvk \(pid $pid" -- "$BIN" cv "$T/c.ini" --folds 3
ok "the refused writers changed nothing" '[ "$(sum "$R/config.ini")" = "$cfg_now" ] && [ ! -e "$R/fold3" ]'
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null

# cv checks every fold of the list first: fold 9 is refused before fold 1 trains
expect 2 "--folds: the dataset has no fold 9 \(it has 5" -- "$BIN" cv "$T/c.ini" --folds 4,9 --set output.dir="$T/cv"
ok "nothing trained" '[ ! -e "$T/cv/fold4" ] && [ ! -e "$T/cv/config.ini" ]'
expect 2 "--folds names fold 4 twice" -- "$BIN" cv "$T/c.ini" --folds 4,4

# what --set writes into config.ini reads back; what could not is refused before anything
seg=$(printf 'x%.0s' $(seq 200))
L="$T/long/a;b #c/$seg/$seg/$seg/$seg"          # about 900 characters, with ';' and '#'
expect 0 "fold 1: 1 epochs" -- "$BIN" train "$T/c.ini" --fold 1 --set "output.dir=$L"
ok "config.ini holds the long value, quoted" 'grep -qF "dir = \"$L\"" "$L/config.ini"'
expect 2 "--folds: the dataset has no fold 9" -- "$BIN" cv "$L/config.ini" --folds 9
toolong=$(printf 'y%.0s' $(seq 1100))
expect 2 "--set data.series_root=...: the value \(1100 characters\) cannot be written into a config and read back" -- \
    "$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/toolong" --set "data.series_root=$toolong"
ok "nothing written" '[ ! -e "$T/toolong" ]'

# validation = none: the best accuracy is the training accuracy, and said so
expect 0 "fold 1: 1 epochs, best training \(no validation: \[train\] validation = none\) accuracy" -- \
    "$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/noval" --set train.validation=none

# a slice of another size names the setting the size comes from (the network's input, not [data])
expect 1 "the slice is 48x48, expected 32x32 \(the network's input size, \[model\] input_size = 32; set \[data\] resize = true" -- \
    "$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/size" --set model.input_size=32

finish cli_run_folder
