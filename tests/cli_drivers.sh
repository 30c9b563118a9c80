#!/usr/bin/env bash
# One small training, from the same seed, on three device paths: lavapipe as it is, lavapipe under
# the limits clamp (CTVK_LIMITS=minimum: every input over 65536 elements through storage buffers,
# pooled descriptor sets, staging with flush/invalidate, 128-invocation workgroups) and SwiftShader
# (a second conformant Vulkan implementation, Chromium's, selected with VK_ICD_FILENAMES). Compares
# the weights and the per-slice probabilities, with tolerances argued below, and a control that the
# same checks reject. Skipped (exit 77) where SwiftShader is not installed, unless
# CTVK_REQUIRE_SWIFTSHADER=1 (as in .ci/run), where that is a failure.
set -u
. "$(dirname "$0")/lib_cli.sh"
SWIFT=/usr/lib/chromium/vk_swiftshader_icd.json
if [ ! -e "$SWIFT" ]; then
    [ "${CTVK_REQUIRE_SWIFTSHADER:-0}" = 1 ] && { echo "cli_drivers: $SWIFT missing ('apt-get install chromium')"; exit 1; }
    echo "cli_drivers: SwiftShader ($SWIFT, Debian package chromium) not installed: skipped"; exit 77
fi
export CLI_TIMEOUT=600
unset CTVK_LIMITS VK_ICD_FILENAMES

"$BIN" phantom --out "$T/data" --covid 5 --normal 5 --slices 6 --size 48 --seed 3 >/dev/null || bad "phantom"
small_config "$T/d.ini" "$T/data"
cat >> "$T/d.ini" <<INI
[train]
epochs = 2
batch = 4
max_steps_per_epoch = 3
seed = 5
[output]
progress = none
INI
run() {   # run NAME ENV... : train fold 1 into $T/NAME with that environment
    local name=$1; shift
    expect 0 "fold 1: 2 epochs" -- env "$@" "$BIN" train "$T/d.ini" --fold 1 --set output.dir="$T/$name"
}
run lavapipe X=1
run clamp CTVK_LIMITS=minimum
run swift VK_ICD_FILENAMES="$SWIFT"
expect 0 "SwiftShader" -- env VK_ICD_FILENAMES="$SWIFT" "$BIN" devices
expect 0 "limits clamp: the Vulkan 1.1 required minimums" -- env CTVK_LIMITS=minimum "$BIN" devices

# lavapipe and lavapipe under the clamp run the same SPIR-V arithmetic: only where the inputs are
# loaded from changes (a texel fetch of an R32F view and a storage-buffer load both return the
# stored float), and how bytes move (staging and pooled descriptor sets move them unchanged).
# So the weights are the same bits; any difference is a bug.
expect 0 " 0 differ" -- "$BIN" compare "$T/lavapipe/fold1/last.ckpt" "$T/clamp/fold1/last.ckpt"
ok "clamp: the same epoch metrics" 'diff <(cut -d, -f1-5 "$T/lavapipe/fold1/train_log.csv") <(cut -d, -f1-5 "$T/clamp/fold1/train_log.csv")'

# SwiftShader compiles the same SPIR-V with another code generator: fused multiply-adds contracted
# differently, exp and log (softmax cross-entropy) and sqrt and division (batch norm, Nadam) within
# the precision Vulkan allows (a few ulp). Parameters with a gradient then agree to rounding
# amplified over 6 steps (measured 1.2e-7; require 1e-5). Conv biases that a batch norm normalises and
# the moving means they shift have an exact gradient of 0: the computed one is rounding noise,
# which Nadam scales to steps of up to (1 - beta1) / sqrt(1 - beta2) * lr = 3.2e-4 each, so for them
# only 2 * 3.2e-4 * 6 steps = 3.8e-3 holds (measured 1.1e-4).
"$BIN" compare "$T/lavapipe/fold1/last.ckpt" "$T/swift/fold1/last.ckpt" --tensors > "$T/cmp.txt" 2>&1 || bad "compare"
w=$(worst "$T/cmp.txt" 0); n=$(worst "$T/cmp.txt" 1)
echo "SwiftShader vs lavapipe: largest difference $w (parameters with a gradient), $n (zero-gradient biases, moving means)"
ok "SwiftShader: parameters with a gradient differ by $w > 1e-5" "awk 'BEGIN { exit !($w <= 1e-5) }'"
ok "SwiftShader: zero-gradient tensors differ by $n > 3.8e-3" "awk 'BEGIN { exit !($n <= 3.8e-3) }'"
ok "SwiftShader: nothing compared" "[ \$(grep -c kernel:0 $T/cmp.txt) -ge 8 ]"

# Per-slice probabilities of one patient, each checkpoint classified on its own driver, and the
# lavapipe checkpoint also on SwiftShader: BN removes the biases' noise (the moving mean follows
# it), so the probabilities move only with the weights that have a gradient and with the drivers'
# own rounding; about 0.5 here, where dp/dlogit = 1/4. Measured 4.2e-5 (and 0 for one checkpoint
# classified on both drivers); require 1e-3.
probs() {   # probs CKPT ENV...: the patient's per-slice P(COVID), one per line
    local c=$1; shift
    env "$@" "$BIN" infer --config "$T/d.ini" --checkpoint "$c" "$T/data/full/normal1/patient6" --json 2>/dev/null |
        python3 -c 'import json, sys; [print(s["prob_covid"]) for s in json.load(sys.stdin)["slices"]]'
}
probs "$T/lavapipe/fold1/last.ckpt" X=1 > "$T/p.lavapipe"
probs "$T/clamp/fold1/last.ckpt" CTVK_LIMITS=minimum > "$T/p.clamp"
probs "$T/swift/fold1/last.ckpt" VK_ICD_FILENAMES="$SWIFT" > "$T/p.swift"
probs "$T/lavapipe/fold1/last.ckpt" VK_ICD_FILENAMES="$SWIFT" > "$T/p.swift-infer"
maxdiff() { paste "$1" "$2" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ } END { if (n < 2) print 1; else printf "%g\n", m + 0 }'; }
ok "probabilities: a patient's slices were classified" '[ "$(wc -l < "$T/p.lavapipe")" -ge 2 ]'
ok "probabilities under the clamp: the same bits" 'cmp -s "$T/p.lavapipe" "$T/p.clamp"'
d=$(maxdiff "$T/p.lavapipe" "$T/p.swift"); echo "probabilities, trained and classified on SwiftShader vs lavapipe: $d"
ok "probabilities on SwiftShader differ by $d > 1e-3" "awk 'BEGIN { exit !($d <= 1e-3) }'"
d=$(maxdiff "$T/p.lavapipe" "$T/p.swift-infer"); echo "probabilities, one checkpoint classified on SwiftShader vs lavapipe: $d"
ok "inference on SwiftShader differs by $d > 1e-3" "awk 'BEGIN { exit !($d <= 1e-3) }'"

# The control: another seed is a different training, and the same checks see it.
expect 0 "fold 1: 2 epochs" -- "$BIN" train "$T/d.ini" --fold 1 --set output.dir="$T/seed6" --set train.seed=6
"$BIN" compare "$T/lavapipe/fold1/last.ckpt" "$T/seed6/fold1/last.ckpt" --tensors > "$T/cmp6.txt" 2>&1 || bad "compare"
w=$(worst "$T/cmp6.txt" 0)
ok "control: another seed's weights differ by only $w" "awk 'BEGIN { exit !($w > 1e-2) }'"
probs "$T/seed6/fold1/last.ckpt" X=1 > "$T/p.seed6"
d=$(maxdiff "$T/p.lavapipe" "$T/p.seed6")
ok "control: another seed's probabilities differ by only $d" "awk 'BEGIN { exit !($d > 1e-3) }'"

finish cli_drivers
