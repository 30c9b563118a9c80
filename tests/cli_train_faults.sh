#!/usr/bin/env bash
# Training when things go wrong: a NaN loss stops with the step named and the last good checkpoint
# intact; a process killed with SIGKILL mid-training resumes from its last checkpoint and ends with
# the same weights as an uninterrupted run; a checkpoint that cannot be written stops training with
# the reason and leaves the previous one intact; a corrupt slice mid-epoch is named, or skipped and
# counted when [data] skip_bad asks for that; a FIFO named as a slice is refused at once, not waited
# on; SIGTERM stops training as Ctrl-C does.
set -u
. "$(dirname "$0")/lib_cli.sh"

"$BIN" phantom --out "$T/data" --covid 6 --normal 6 --slices 10 --size 48 --seed 5 >/dev/null || bad phantom
small_config "$T/c.ini" "$T/data"
cat >> "$T/c.ini" <<INI
[train]
epochs = 3
batch = 6
lr = 1e-3
[output]
progress = lines
INI

# the reference: an uninterrupted run
"$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/ref" >/dev/null 2>&1 && good || bad "reference run"

# NaN at the 3rd step of epoch 2: stop naming it; epoch 1's last.ckpt stays as it was
"$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/nan" --set train.epochs=1 >/dev/null 2>&1 || bad "nan setup"
before=$(sha256sum < "$T/nan/fold1/last.ckpt")
out=$(CTVK_FAULT=nan-loss:3 "$BIN" train "$T/c.ini" --fold 1 --resume --set output.dir="$T/nan" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "training diverged: the loss is NaN at epoch 2, step 3; the last good checkpoint is $T/nan/fold1/last.ckpt" <<<"$out" \
    && good || { bad "NaN: exit $rc"; echo "$out" | tail -3; }
[ "$(sha256sum < "$T/nan/fold1/last.ckpt")" = "$before" ] && good || bad "NaN: last.ckpt changed"

# SIGKILL after the first epoch's checkpoint, then --resume: the same weights as the reference
"$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/kill" >/dev/null 2>&1 &
pid=$!
for i in $(seq 600); do [ -s "$T/kill/fold1/last.ckpt" ] && break; sleep 0.1; done   # renamed into place whole
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -s "$T/kill/fold1/last.ckpt" ] && good || bad "no last.ckpt after the kill"
ls "$T/kill/fold1" | grep -q tmp && bad "a temporary file was left behind" || good
"$BIN" train "$T/c.ini" --fold 1 --resume --set output.dir="$T/kill" >/dev/null 2>&1 && good || bad "resume after SIGKILL"
"$BIN" export-keras "$T/ref/fold1/last.ckpt" --out "$T/ref.h5" >/dev/null 2>&1
"$BIN" export-keras "$T/kill/fold1/last.ckpt" --out "$T/kill.h5" >/dev/null 2>&1
cmp -s "$T/ref.h5" "$T/kill.h5" && good || bad "killed + resumed weights differ from the uninterrupted run"

# a checkpoint that cannot be written: training stops with the reason; the previous file stays
"$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/w" --set train.epochs=1 >/dev/null 2>&1 || bad "write setup"
before=$(sha256sum < "$T/w/fold1/last.ckpt")
out=$(CTVK_FAULT='checkpoint-write:*' "$BIN" train "$T/c.ini" --fold 1 --resume --set output.dir="$T/w" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -qi "checkpoint" <<<"$out" && good || { bad "write fault: exit $rc"; echo "$out" | tail -3; }
[ "$(sha256sum < "$T/w/fold1/last.ckpt")" = "$before" ] && good || bad "write fault: last.ckpt changed"

# a slice that cannot be decoded in the middle of an epoch: an error naming it, or a counted skip
cp -r "$T/data" "$T/bad"
victim=$(sed -n 5p "$T/bad/folds/train1.csv" | cut -d, -f1)
rm -f "$T/bad/flat/$victim" && printf 'not a tiff' > "$T/bad/flat/$victim"
out=$("$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/b1" --set data.root="$T/bad/flat" \
      --set data.folds_dir="$T/bad/folds" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "loader: epoch 1, batch .*$victim" <<<"$out" && good || { bad "corrupt slice: exit $rc"; echo "$out" | tail -2; }
out=$("$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/b2" --set data.root="$T/bad/flat" \
      --set data.folds_dir="$T/bad/folds" --set data.skip_bad=true 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "epoch 1: skipped 1 unreadable slices (\[data\] skip_bad), the last: .*$victim" <<<"$out" \
    && good || { bad "skip_bad: exit $rc"; echo "$out" | tail -3; }

# a FIFO named as a slice: refused at once naming it (never a blocking open), with or without check_files
cp -r "$T/data" "$T/fifo"
victim=$(sed -n 3p "$T/fifo/folds/train1.csv" | cut -d, -f1)
rm -f "$T/fifo/flat/$victim" && mkfifo "$T/fifo/flat/$victim"
out=$(timeout 120 "$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/f1" --set data.root="$T/fifo/flat" \
      --set data.folds_dir="$T/fifo/folds" --set data.check_files=false 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "$victim.*not a regular file" <<<"$out" && good || { bad "FIFO slice: exit $rc"; echo "$out" | tail -2; }
out=$(timeout 120 "$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/f2" --set data.root="$T/fifo/flat" \
      --set data.folds_dir="$T/fifo/folds" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "the file .*$victim is not a regular file" <<<"$out" && good || { bad "FIFO slice, check_files: exit $rc"; echo "$out" | tail -2; }

# SIGTERM stops training as Ctrl-C does: last.ckpt saved, exit 130, and --resume continues
"$BIN" train "$T/c.ini" --fold 1 --set output.dir="$T/term" --set train.epochs=200 >"$T/term.log" 2>&1 &
pid=$!
for i in $(seq 600); do [ -s "$T/term/fold1/last.ckpt" ] && break; sleep 0.1; done
kill -TERM $pid
for i in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid; rc=$?
[ $rc -eq 130 ] && grep -q "interrupted .*saved $T/term/fold1/last.ckpt; continue with --resume" "$T/term.log" && good \
    || { bad "SIGTERM: exit $rc"; tail -2 "$T/term.log"; }

finish cli_train_faults
