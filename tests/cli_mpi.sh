#!/usr/bin/env bash
# Data-parallel training and parallel folds over MPI (ctvk built with -DCTVK_MPI=ON; skipped, exit
# 77, otherwise). Two ranks train what one rank trains with the same global batch (synchronised
# batch norm), the ranks stay identical, an interrupted 2-rank run resumes exactly, a bad slice on
# any rank stops every rank with one message, and `mpirun -np 2 ctvk cv` gives the sequential
# summary.
set -u
. "$(dirname "$0")/lib_cli.sh"
[ "${CTVK_TEST_MPI:-OFF}" = ON ] || { echo "cli_mpi: ctvk was built without MPI (-DCTVK_MPI=ON): skipped"; exit 77; }
MPI=(mpirun --allow-run-as-root --oversubscribe -np 2 -x LP_NUM_THREADS=1)
export CLI_TIMEOUT=300

"$BIN" phantom --out "$T/data" --covid 8 --normal 8 --slices 12 --size 48 --seed 3 >/dev/null || bad "phantom"
small_config "$T/dp.ini" "$T/data"
cat >> "$T/dp.ini" <<INI
[train]
epochs = 2
batch = 7
lr = 1e-3
seed = 7
sync_bn = true
[output]
progress = lines
INI
# 36 training images in batches of 7: shares of 4 and 3, and a last batch of one image, which
# leaves rank 0 without a sample (it still takes part in every collective)
expect 0 "fold 1: 2 epochs" -- "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/one"
expect 0 "epoch 2: weights identical on 2 ranks" -- "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/two"
ok "one summary line, from rank 0" '[ "$(grep -c "^fold 1: 2 epochs" <<<"$("${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 \
    --set output.dir="$T/two-again" 2>&1)")" -eq 1 ]'

# The same weights within float tolerance. The runs differ only in the order of float additions
# (gradients summed over two ranks, BN statistics merged in double). Parameters with a gradient
# agree to a few ulps (measured 1.2e-7); require 1e-5. Two kinds of tensors have no gradient at all:
# conv biases whose output a batch norm normalises (BN removes any constant shift, so their exact
# gradient is 0 and the computed one is rounding noise, which Nadam scales up to steps of up to
# (1 - beta1) / sqrt(1 - beta2) * lr = 3.2e-3 each), and the moving means those biases shift. For
# them only the Nadam bound holds: 2 * 3.2e-3 * 12 steps = 0.077 (measured 8e-4).
"$BIN" compare "$T/one/fold1/last.ckpt" "$T/two/fold1/last.ckpt" --tensors > "$T/cmp.txt" 2>&1 || bad "compare"
w=$(worst "$T/cmp.txt" 0); n=$(worst "$T/cmp.txt" 1)
echo "2 ranks vs 1 rank: largest difference $w (parameters with a gradient), $n (zero-gradient biases, moving means)"
ok "2 ranks vs 1 rank: parameters with a gradient differ by $w > 1e-5" "awk 'BEGIN { exit !($w <= 1e-5) }'"
ok "2 ranks vs 1 rank: zero-gradient tensors differ by $n > 0.077" "awk 'BEGIN { exit !($n <= 0.077) }'"
ok "2 ranks vs 1 rank: nothing compared" "[ \$(grep -c kernel:0 $T/cmp.txt) -ge 8 ]"
paste -d, "$T/one/fold1/train_log.csv" "$T/two/fold1/train_log.csv" | awk -F, 'NR > 1 { for (i = 2; i <= 5; i++) {
    d = $i - $(i + 7); if (d < 0) d = -d; if (d > 1e-4) bad = 1 } } END { exit bad }' && good \
    || bad "2 ranks: the epoch metrics (loss, accuracy, val_loss, val_accuracy) differ from 1 rank's by more than 1e-4"

# The gradient sum through host copies (the discrete-GPU path; lavapipe's unified memory is reduced
# in place): the same bits
expect 0 "fold 1: 2 epochs" -- "${MPI[@]}" -x CTVK_FORCE_STAGING=1 "$BIN" train "$T/dp.ini" --fold 1 \
    --set output.dir="$T/staged"
expect 0 "0 differ" -- "$BIN" compare "$T/two/fold1/last.ckpt" "$T/staged/fold1/last.ckpt"

# The control: per-rank batch norm (each rank normalises its own share) is a different computation,
# and the same check sees it: the weights with a gradient move apart by far more than 1e-5.
expect 0 "fold 1: 2 epochs" -- "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/perrank" \
    --set train.sync_bn=false
"$BIN" compare "$T/one/fold1/last.ckpt" "$T/perrank/fold1/last.ckpt" --tensors > "$T/cmp2.txt" 2>&1 || bad "compare"
w2=$(worst "$T/cmp2.txt" 0)
echo "per-rank BN vs 1 rank: largest difference $w2"
ok "per-rank BN should differ from 1 rank (got $w2)" "awk 'BEGIN { exit !($w2 > 1e-4) }'"

# Per-rank BN over 2 ranks of 3 is what micro-batches of 3 compute on one rank: the same trainable
# weights (the moving statistics differ: averaged over ranks vs updated per micro-batch). Batches of
# 6 divide the 36 images, so every step splits the same way.
expect 0 "micro-batches of up to 3 samples" -- "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/micro" \
    --set train.batch=6 --set train.micro_batch=3
expect 0 "fold 1: 2 epochs" -- "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/perrank6" \
    --set train.sync_bn=false --set train.batch=6
"$BIN" compare "$T/micro/fold1/last.ckpt" "$T/perrank6/fold1/last.ckpt" --tensors > "$T/cmp3.txt" 2>&1 || bad "compare"
w3=$(awk '$2 ~ /^(kernel|gamma|beta):0$/ && $3 > m { m = $3 } END { printf "%g\n", m + 0 }' "$T/cmp3.txt")
echo "micro-batches vs per-rank BN: largest difference $w3 (kernels, gammas, betas)"
ok "micro-batches of 3 vs 2 ranks of 3: trainable weights differ by $w3 > 1e-5" "awk 'BEGIN { exit !($w3 <= 1e-5) }'"

# Interrupted (as Ctrl-C on every rank), then resumed on 2 ranks: the uninterrupted run's weights
expect 130 "interrupted at epoch 1, step 3: saved .*last.ckpt" -- \
    env CTVK_FAULT=interrupt:3 "${MPI[@]}" -x CTVK_FAULT "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/int"
expect 0 "resuming .* at epoch 1, step 3" -- "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --resume --set output.dir="$T/int"
expect 0 "0 differ" -- "$BIN" compare "$T/two/fold1/last.ckpt" "$T/int/fold1/last.ckpt"

# A rank whose weights drift (injected on rank 1 after epoch 1) is caught by the checksum and gets
# rank 0's weights and optimizer state: the run ends exactly as the undisturbed one
expect 0 "warning: after epoch 1 the 2 ranks' weights differ" -- \
    env CTVK_FAULT=diverge "${MPI[@]}" -x CTVK_FAULT "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/drift"
expect 0 "0 differ" -- "$BIN" compare "$T/two/fold1/last.ckpt" "$T/drift/fold1/last.ckpt"

# A corrupt slice: whichever rank reads it, every rank stops (no rank left waiting), one message
# naming the file
cp -r "$T/data" "$T/bad"
victim=$(sed -n 2p "$T/bad/folds/train1.csv" | cut -d, -f1)
printf 'not a tiff' > "$T/bad/flat/$victim"
expect 1 "rank .*: loader: epoch 1, batch .*$victim|loader: epoch 1, batch .*$victim" -- "${MPI[@]}" "$BIN" train "$T/dp.ini" \
    --fold 1 --set output.dir="$T/badrun" --set data.root="$T/bad/flat"

# A device failure on one rank in the middle of a step (the other rank is then inside a collective):
# the job is aborted with the failing rank's message, never left hanging
expect 1 "rank 1 of 2: the Vulkan device was lost" -- mpirun --allow-run-as-root --oversubscribe -x LP_NUM_THREADS=1 \
    -np 1 "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/lost" : \
    -np 1 -x CTVK_FAULT=submit:20 "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/lost"

# Devices by local rank: entry r of a comma list goes to local rank r (here rank 1 gets the bad one)
expect 1 "\\[1,1\\]<stderr>:ctvk devices: no Vulkan device matches 'nosuch'" -- \
    mpirun --allow-run-as-root --oversubscribe --tag-output -np 2 "$BIN" devices --device "llvmpipe,nosuch"

# ...or, with skip_bad, skipped on whichever rank reads it: the ranks' shares close up after the
# hole (augmentation draws and dropout masks follow the kept samples), so 2 ranks still train what
# one rank trains on the same data (the tolerance of the first comparison)
expect 0 "skipped 1 unreadable slices" -- "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/skip1" \
    --set data.root="$T/bad/flat" --set data.skip_bad=true
expect 0 "skipped 1 unreadable slices" -- "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/skip2" \
    --set data.root="$T/bad/flat" --set data.skip_bad=true
"$BIN" compare "$T/skip1/fold1/last.ckpt" "$T/skip2/fold1/last.ckpt" --tensors > "$T/cmp4.txt" 2>&1 || bad "compare"
w4=$(worst "$T/cmp4.txt" 0)
echo "skip_bad, 2 ranks vs 1 rank: largest difference $w4"
ok "skip_bad: 2 ranks vs 1 rank differ by $w4 > 1e-5" "awk 'BEGIN { exit !($w4 <= 1e-5) }'"

# Partial last batches split every way over the 2 ranks, with augmentation on: each rank's share of a
# global batch gets the augmentation draws (and dropout masks) of those samples in the global batch,
# so 2 ranks train what one rank trains. 36 images: batch 17 leaves 2 (1 + 1), batch 11 leaves 3
# (1 + 2), batch 8 leaves 4 (2 + 2), batch 10 leaves 6 (3 + 3).
for b in 17 11 8 10; do
    "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/p$b-1" --set train.batch=$b --set train.epochs=1 \
        >/dev/null 2>&1 || bad "batch $b: 1 rank"
    "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/p$b-2" --set train.batch=$b --set train.epochs=1 \
        >/dev/null 2>&1 || bad "batch $b: 2 ranks"
    "$BIN" compare "$T/p$b-1/fold1/last.ckpt" "$T/p$b-2/fold1/last.ckpt" --tensors > "$T/cmp-p$b.txt" 2>&1 || bad "compare $b"
    wp=$(worst "$T/cmp-p$b.txt" 0)
    echo "batch $b (partial last batch over 2 ranks): 2 ranks vs 1 rank, largest difference $wp"
    ok "batch $b, partial last batch over 2 ranks: 2 ranks vs 1 rank differ by $wp > 1e-5" "awk 'BEGIN { exit !($wp <= 1e-5) }'"
done
# ... and in micro-batches of 2: per-rank BN over the ranks' micro-batches is what one rank's
# micro-batches compute when they hold the same samples: batch 8 (full shares 2 + 2 micro-batches
# per rank, the last shares one each) and batch 11 (shares of 5 and 6 in micro-batches of 1-2, a last
# batch of 3 as 1 + 2). The trainable weights agree (the moving statistics are averaged over ranks).
for b in 8 11; do
    "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/m$b-1" --set train.batch=$b --set train.epochs=1 \
        --set train.micro_batch=2 >/dev/null 2>&1 || bad "micro $b: 1 rank"
    "${MPI[@]}" "$BIN" train "$T/dp.ini" --fold 1 --set output.dir="$T/m$b-2" --set train.batch=$b --set train.epochs=1 \
        --set train.micro_batch=2 --set train.sync_bn=false >/dev/null 2>&1 || bad "micro $b: 2 ranks"
    "$BIN" compare "$T/m$b-1/fold1/last.ckpt" "$T/m$b-2/fold1/last.ckpt" --tensors > "$T/cmp-m$b.txt" 2>&1 || bad "compare m$b"
    wm=$(awk '$2 ~ /^(kernel|gamma|beta):0$/ && $3 > m { m = $3 } END { printf "%g\n", m + 0 }' "$T/cmp-m$b.txt")
    echo "batch $b in micro-batches of 2, partial last batch over 2 ranks: largest difference $wm (kernels, gammas, betas)"
    ok "batch $b, micro-batches of 2 over 2 ranks vs 1 rank: trainable weights differ by $wm > 1e-5" \
        "awk 'BEGIN { exit !($wm <= 1e-5) }'"
done

# Parallel folds: the same summary as one process running them in turn
expect 0 "patients correct" -- "$BIN" cv "$T/dp.ini" --folds 1,2,3 --set train.epochs=1 --set output.dir="$T/cv1"
expect 0 "patients correct" -- "${MPI[@]}" "$BIN" cv "$T/dp.ini" --folds 1,2,3 --set train.epochs=1 --set output.dir="$T/cv2"
cmp -s "$T/cv1/summary.csv" "$T/cv2/summary.csv" && good || bad "parallel folds: summary.csv differs from the sequential one"
ok "parallel folds: a summary per run" '[ -s "$T/cv2/summary.json" ] && [ -s "$T/cv2/fold3/eval.json" ]'
finish cli_mpi
