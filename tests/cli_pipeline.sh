#!/usr/bin/env bash
# The pipeline end to end on a tiny phantom dataset: train, the same config and seed twice give
# identical weights and metrics, an interrupted-then-resumed run ends with the same weights as an
# uninterrupted one, an existing run is never overwritten, config errors name file/section/key,
# and eval and infer run on the trained checkpoint.
set -u
. "$(dirname "$0")/lib_cli.sh"

"$BIN" phantom --out "$T/data" --covid 8 --normal 8 --slices 12 --size 48 --seed 3 >/dev/null || bad "phantom"
small_config "$T/tiny.ini" "$T/data"
cat >> "$T/tiny.ini" <<INI
[train]
epochs = 2
batch = 8
lr = 1e-3
seed = 7
[output]
progress = lines
INI

# train, twice: identical weights and metrics
expect 0 "fold 1: 2 epochs, best validation accuracy" -- "$BIN" train "$T/tiny.ini" --fold 1 --set output.dir="$T/a"
for f in best.ckpt last.ckpt train_log.csv train_log.json; do [ -s "$T/a/fold1/$f" ] && good || bad "missing $f"; done
[ -s "$T/a/config.ini" ] && good || bad "missing config.ini"
[ "$(wc -l < "$T/a/fold1/train_log.csv")" -eq 3 ] && good || bad "train_log.csv should have a header and 2 epochs"
expect 0 "fold 1: 2 epochs" -- "$BIN" train "$T/tiny.ini" --fold 1 --set output.dir="$T/b"
cmp -s "$T/a/fold1/best.ckpt" "$T/b/fold1/best.ckpt" && good || bad "same seed, different best.ckpt"
diff <(cut -d, -f1-5 "$T/a/fold1/train_log.csv") <(cut -d, -f1-5 "$T/b/fold1/train_log.csv") >/dev/null && good \
    || bad "same seed, different metrics"

# early stopping as Keras' EarlyStopping(monitor=val_loss, patience=0): an improvement smaller than
# min_delta does not count, so the run stops after its second epoch
expect 0 "early stopping: val_loss did not improve for 1 epoch" -- "$BIN" train "$T/tiny.ini" --fold 1 \
    --set output.dir="$T/es" --set train.epochs=5 --set train.early_stopping=true --set train.min_delta=1000
[ "$(wc -l < "$T/es/fold1/train_log.csv")" -eq 3 ] && good || bad "early stopping: expected 2 epochs in the log"

# an existing run is not overwritten
expect 1 "already holds a training run \(last.ckpt[^)]*\): continue it with --resume" -- \
    "$BIN" train "$T/tiny.ini" --fold 1 --set output.dir="$T/a"

# interrupt after 3 steps (as Ctrl-C would), resume: the same final weights
expect 130 "interrupted at epoch 1, step 3: saved .*last.ckpt; continue with --resume" -- \
    env CTVK_FAULT=interrupt:3 "$BIN" train "$T/tiny.ini" --fold 1 --set output.dir="$T/c"
expect 0 "resuming .* at epoch 1, step 3" -- "$BIN" train "$T/tiny.ini" --fold 1 --resume --set output.dir="$T/c"
"$BIN" export-keras "$T/a/fold1/last.ckpt" --out "$T/a.h5" >/dev/null 2>&1 && \
    "$BIN" export-keras "$T/c/fold1/last.ckpt" --out "$T/c.h5" >/dev/null 2>&1 && \
    cmp -s "$T/a.h5" "$T/c.h5" && good || bad "interrupted + resumed weights differ from the uninterrupted run"
cmp -s "$T/a/fold1/best.ckpt" "$T/c/fold1/best.ckpt" && good || bad "resumed best.ckpt differs"
diff <(cut -d, -f1-5 "$T/a/fold1/train_log.csv") <(cut -d, -f1-5 "$T/c/fold1/train_log.csv") >/dev/null && good \
    || bad "resumed metrics differ"

# config errors name the file, the section and the key
printf '[train]\nepochz = 3\n' > "$T/e1.ini"
expect 1 "config $T/e1.ini: \[train\] epochz is not a known key" -- "$BIN" train "$T/e1.ini" --fold 1
printf '[trainning]\nepochs = 3\n' > "$T/e2.ini"
expect 1 "config $T/e2.ini: unknown section \[trainning\]" -- "$BIN" train "$T/e2.ini" --fold 1
expect 1 "\[train\] lr = 50 is out of range" -- "$BIN" train "$T/tiny.ini" --fold 1 --set train.lr=50
expect 1 "\[model\] arch = 'resnet51': expected one of" -- "$BIN" train "$T/tiny.ini" --fold 1 --set model.arch=resnet51
expect 1 "\[augment\] enabled = 'maybe' is not a boolean" -- "$BIN" cv "$T/tiny.ini" --set augment.enabled=maybe
printf '[model]\narch = small_resnet\n' > "$T/e3.ini"
expect 1 "\[data\] root" -- "$BIN" train "$T/e3.ini" --fold 1 --set output.dir="$T/e3"
expect 1 "the dataset has no fold 9" -- "$BIN" train "$T/tiny.ini" --fold 9 --set output.dir="$T/f9"
expect 2 "--fold K is required" -- "$BIN" train "$T/tiny.ini"
expect 2 "unknown option '--bogus'" -- "$BIN" cv "$T/tiny.ini" --bogus

# evaluation and inference on the trained checkpoint
expect 0 "COVID" -- "$BIN" eval "$T/tiny.ini" --checkpoint "$T/a/fold1/best.ckpt" --fold 1
patient=$(ls -d "$T"/data/full/covid*/patient* | head -1)
expect 0 "\"decision\"" -- "$BIN" infer --checkpoint "$T/a/fold1/best.ckpt" "$patient" --json

finish cli_pipeline
