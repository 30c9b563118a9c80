#!/usr/bin/env bash
# The start of an inference run: `ctvk bench --startup` prints its phases; `ctvk warmup` fills empty
# Mesa and ctvk caches in passes until one adds nothing, after which an infer of one slice and a
# second warmup add no Mesa shader cache entry and ctvk's pipeline cache is read. Counts, not times.
set -u
. "$(dirname "$0")/lib_cli.sh"

"$BIN" phantom --out "$T/data" --covid 8 --normal 8 --slices 12 --size 48 --seed 3 >/dev/null || bad "phantom"
small_config "$T/tiny.ini" "$T/data"
cat >> "$T/tiny.ini" <<INI
[train]
epochs = 1
batch = 8
seed = 7
[output]
progress = lines
INI
slice=$(ls "$T"/data/full/covid*/patient*/SR_*/*.tif | head -1)
mesa_files() { find "$1" -type f ! -name index ! -name '*.tmp' 2>/dev/null | wc -l; }

# bench --startup from empty caches: every phase with a number, pipelines created, Mesa's cache filled
mkdir -p "$T/c0/ctvk"
out=$(MESA_SHADER_CACHE_DIR="$T/c0/mesa" CTVK_CACHE_DIR="$T/c0/ctvk" "$BIN" bench --startup "$T/tiny.ini" 2>&1); rc=$?
ok "bench --startup exits 0 (got $rc)" '[ $rc -eq 0 ]'
for phase in "device setup" network parameters "first slice" "second slice" shutdown "one infer run"; do
    ok "bench --startup phase '$phase'" 'grep -qE "^  $phase +[0-9]+\.[0-9] ms" <<<"$out"'
done
created=$(sed -nE 's/^pipelines: ([0-9]+) created.*/\1/p' <<<"$out")
ok "bench --startup counts the pipelines created (got '$created')" '[ "${created:-0}" -gt 0 ]'
ok "bench --startup names the slowest pipelines" 'grep -qE "^ +[0-9]+\.[0-9] ms  [a-z_0-9.]+/[a-zA-Z]+/" <<<"$out"'
ok "bench --startup reports no ctvk pipeline cache on a cold start" 'grep -q "(no file)" <<<"$out"'
added=$(sed -nE 's/^Mesa shader cache .*: 0 entries before, ([0-9]+) after.*/\1/p' <<<"$out")
ok "a cold bench --startup fills Mesa's empty cache (got '$added')" '[ "${added:-0}" -gt 0 ]'
[ "${added:-0}" -eq "$(mesa_files "$T/c0/mesa")" ] && good || bad "bench --startup miscounts Mesa's cache entries"

# warmup fills empty caches, pass after pass until one adds nothing
mkdir -p "$T/w/ctvk"
W=(env MESA_SHADER_CACHE_DIR="$T/w/mesa" CTVK_CACHE_DIR="$T/w/ctvk")
expect 0 "warmup $T/tiny.ini: warm after [0-9]+ passes? " -- "${W[@]}" "$BIN" warmup "$T/tiny.ini" --passes 8
n0=$(mesa_files "$T/w/mesa")
ok "warmup filled Mesa's empty cache (got $n0 entries)" '[ "$n0" -gt 0 ]'
ok "warmup wrote ctvk's pipeline cache" 'ls "$T"/w/ctvk/pipelines-*.bin >/dev/null 2>&1'
expect 0 "pass 1: .* 0 new Mesa shader cache entries" -- "${W[@]}" "$BIN" warmup "$T/tiny.ini" --passes 1
ok "a second warmup adds no Mesa cache entry" '[ "$(mesa_files "$T/w/mesa")" -eq "$n0" ]'

# an infer of one slice after warmup: no new Mesa entry; ctvk's pipeline cache is read
expect 0 "fold 1: 1 epoch" -- "$BIN" train "$T/tiny.ini" --fold 1 --set output.dir="$T/run"
expect 0 "decision" -- "${W[@]}" "$BIN" infer --checkpoint "$T/run/fold1/best.ckpt" "$slice" --no-select
ok "infer after warmup adds no Mesa cache entry ($(mesa_files "$T/w/mesa") vs $n0)" '[ "$(mesa_files "$T/w/mesa")" -eq "$n0" ]'
expect 0 "pipelines: [0-9]+ created .*\(read\)" -- "${W[@]}" "$BIN" bench --startup --checkpoint "$T/run/fold1/best.ckpt"
n1=$(mesa_files "$T/w/mesa")
expect 0 "Mesa shader cache .*: $n1 entries before, $n1 after \(\+0\)" -- "${W[@]}" "$BIN" bench --startup "$T/tiny.ini"

# usage and input errors
expect 2 "--startup measures inference" -- "$BIN" bench --startup "$T/tiny.ini" --train
expect 2 "--checkpoint goes with --startup" -- "$BIN" bench "$T/tiny.ini" --checkpoint "$T/run/fold1/best.ckpt"
expect 2 "--passes: 1 to 20" -- "$BIN" warmup "$T/tiny.ini" --passes 0
expect 2 "unknown option '--bogus'" -- "$BIN" warmup --bogus
expect 1 "$T/missing.ini" -- "$BIN" warmup "$T/missing.ini"
printf 'not a checkpoint\n' > "$T/bad.ckpt"
expect 1 "$T/bad.ckpt" -- "$BIN" bench --startup --checkpoint "$T/bad.ckpt"

finish cli_warmup
