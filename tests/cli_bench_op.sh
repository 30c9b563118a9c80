#!/usr/bin/env bash
# ctvk bench op: every kernel of the per-op benchmark runs on the device and agrees with its plain-C
# reference (the command fails above 1e-3; here each printed error is checked too); --list names
# them; an unknown op and a bad shape are refused. Times are printed, never asserted.
set -u
. "$(dirname "$0")/lib_cli.sh"
n=$("$BIN" bench op --list | wc -l)
ok "--list names the ops ($n)" '[ "$n" -ge 12 ]'
out=$("$BIN" bench op all --reps 2 --shape 2,12,10,8 2>&1); rc=$?
ok "bench op all exits 0" '[ $rc -eq 0 ]' || echo "$out" | tail -5
rows=$(awk 'NR > 2 && NF >= 6 && $6 + 0 <= 1e-3 { n++ } END { print n + 0 }' <<<"$out")
ok "every op agrees with its reference ($rows of $n rows with an error <= 1e-3)" '[ "$rows" -eq "$n" ]'
ok "the input shape is the one asked" 'grep -q "^input 2x12x10x8 on " <<<"$out" && grep -qE "^conv_backward_weights +3x3x8x8 " <<<"$out" && grep -qE "^maxpool +2x5x4x8 " <<<"$out"'
expect 0 "^relu +1x4x4x3 " -- "$BIN" bench op relu --shape 1,4,4,3 --reps 1
expect 1 "no op 'nope' \(ctvk bench op --list names them\)" -- "$BIN" bench op nope
expect 2 "--shape: N,H,W,C, not '1,2,3'" -- "$BIN" bench op relu --shape 1,2,3
expect 1 "shape 1x2x8x8: N, C >= 1, H, W >= 3" -- "$BIN" bench op relu --shape 1,2,8,8
finish cli_bench_op
