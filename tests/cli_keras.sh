#!/usr/bin/env bash
# ctvk import-keras / export-keras through the binary: usage errors exit 2, bad files exit 1 naming
# the file; a Keras file (written by test_keras --fixture: a small_resnet with an RGB conv1_conv
# kernel, a layer the model lacks, no head) imports with the skipped and missing weights reported;
# conv1_from_rgb=sum; export -> import -> export reproduces the same file byte for byte; a damaged
# checkpoint is refused.
set -u
. "$(dirname "$0")/lib_cli.sh"
FIXTURE=${CTVK_BUILD_DIR:-.}/test_keras
[ -x "$FIXTURE" ] || { echo "cli_keras: $FIXTURE not built; skipping"; exit 77; }

"$FIXTURE" --fixture "$T/w.h5" || { echo "cli_keras: cannot write the fixture"; exit 1; }
cat > "$T/model.ini" <<'INI'
[model]
arch = small_resnet
input_size = 16
stages = 2
blocks = 1,1
widths = 4,8
INI
echo "not hdf5" > "$T/text.h5"

# usage errors
expect 2 "missing the Keras weight file" -- "$BIN" import-keras
expect 2 "missing --out CKPT" -- "$BIN" import-keras "$T/w.h5"
expect 2 "unknown option '--bogus'" -- "$BIN" import-keras "$T/w.h5" --bogus
expect 2 "--config needs a file name" -- "$BIN" import-keras "$T/w.h5" --out "$T/x.ckpt" --config
expect 2 "unexpected argument 'extra'" -- "$BIN" import-keras "$T/w.h5" extra --out "$T/x.ckpt"
expect 2 "section.key=value" -- "$BIN" import-keras "$T/w.h5" --out "$T/x.ckpt" --set nodot
expect 2 "missing the checkpoint" -- "$BIN" export-keras
expect 2 "missing --out WEIGHTS.h5" -- "$BIN" export-keras "$T/x.ckpt"
expect 2 "unknown option '--set'" -- "$BIN" export-keras "$T/x.ckpt" --set a.b=c --out "$T/x.h5"
expect 0 "usage: ctvk import-keras WEIGHTS.h5" -- "$BIN" import-keras --help
expect 0 "usage: ctvk export-keras CKPT" -- "$BIN" help export-keras

# bad files
expect 1 "keras weights $T/missing.h5: cannot read it: No such file" -- \
    "$BIN" import-keras "$T/missing.h5" --config "$T/model.ini" --out "$T/x.ckpt"
expect 1 "keras weights $T/text.h5: not an HDF5 file" -- \
    "$BIN" import-keras "$T/text.h5" --config "$T/model.ini" --out "$T/x.ckpt"
expect 1 "config $T/nothere.ini: cannot read it" -- "$BIN" import-keras "$T/w.h5" --config "$T/nothere.ini" --out "$T/x.ckpt"
expect 1 "conv1_from_rgb = 'rgb': expected skip or sum" -- \
    "$BIN" import-keras "$T/w.h5" --config "$T/model.ini" --out "$T/x.ckpt" --set model.conv1_from_rgb=rgb
expect 1 "checkpoint: cannot write $T/no/such/dir/x.ckpt: No such file or directory \(a temporary file cannot be created in the folder '$T/no/such/dir'\)" -- \
    "$BIN" import-keras "$T/w.h5" --config "$T/model.ini" --out "$T/no/such/dir/x.ckpt" --allow-partial
check "no checkpoint written after failures" test ! -e "$T/x.ckpt"
expect 1 "checkpoint $T/missing.ckpt: cannot open it" -- "$BIN" export-keras "$T/missing.ckpt" --out "$T/x.h5"
expect 1 "checkpoint $T/text.h5 is not a ctvk checkpoint \(bad magic\)" -- "$BIN" export-keras "$T/text.h5" --out "$T/x.h5"

# import: what loaded, what was skipped and why, what keeps its initialisation; a partial import is
# refused (nothing written) unless --allow-partial
expect 1 "keras weights $T/w.h5: a partial import: 41 of the small_resnet model's 44 weights loaded \([0-9]+ of [0-9]+ values\), 1 weight of the file skipped, 1 of its layers not in the model, 2 model weights left at their initialisation; refused \(--allow-partial to accept it\)" -- \
    "$BIN" import-keras "$T/w.h5" --config "$T/model.ini" --out "$T/a.ckpt"
check "a refused partial import writes nothing" test ! -e "$T/a.ckpt"
expect 2 "--allow-partial is given twice \(argument 2: --allow-partial, argument 3: --allow-partial\)" -- "$BIN" import-keras "$T/w.h5" --allow-partial --allow-partial --out "$T/a.ckpt"
expect 0 "loaded: 41 weights .*skipped \(the model's weights keep their initialisation\): 1 +conv1_conv/kernel:0: shape \(3, 3, 3, 4\) in the file, \(3, 3, 1, 4\) in the model .*not in the model \(ignored\): 1 +extra_dense \(2 weights\) .*not in the file \(initialised, seed 42\): 2 +predictions/kernel:0 +predictions/bias:0 .*wrote $T/a.ckpt \(small_resnet" -- \
    bash -c "'$BIN' import-keras '$T/w.h5' --config '$T/model.ini' --out '$T/a.ckpt' --allow-partial | tr '\n' ' '"
expect 0 "loaded: 42 weights .*conv1_conv/kernel:0 summed over its input channels" -- \
    "$BIN" import-keras "$T/w.h5" --config "$T/model.ini" --out "$T/sum.ckpt" --set model.conv1_from_rgb=sum --allow-partial
expect 0 "initialised, seed 7" -- "$BIN" import-keras "$T/w.h5" --config "$T/model.ini" --out "$T/s7.ckpt" --set train.seed=7 --allow-partial
check "seed changes the initialised weights" bash -c "! cmp -s '$T/a.ckpt' '$T/s7.ckpt'"
# the network comes from the config: resnet50v2 has the same layer names but none of the shapes
expect 0 "33 of them in the resnet50v2 model loaded: 0 weights .*skipped \(the model's weights keep their initialisation\): 42" -- \
    bash -c "'$BIN' import-keras '$T/w.h5' --out '$T/r.ckpt' --set model.arch=resnet50v2 --set model.input_size=32 --allow-partial | tr '\n' ' '"

# export, re-import, export again: the same bytes
expect 0 "wrote $T/e.h5: 34 layers, 44 weights" -- "$BIN" export-keras "$T/a.ckpt" --out "$T/e.h5"
expect 0 "loaded: 44 weights" -- "$BIN" import-keras "$T/e.h5" --config "$T/model.ini" --out "$T/b.ckpt"
expect 0 "wrote $T/e2.h5" -- "$BIN" export-keras "$T/b.ckpt" --out "$T/e2.h5"
check "export -> import -> export reproduces the file" cmp -s "$T/e.h5" "$T/e2.h5"
check "no temporary files left" bash -c "! ls '$T' | grep -q tmp"

# a damaged checkpoint is refused, naming the file and the damaged tensor
cp "$T/a.ckpt" "$T/bad.ckpt"
off=$(grep -abo DATA "$T/bad.ckpt" | head -1 | cut -d: -f1)
printf '\x55' | dd of="$T/bad.ckpt" bs=1 seek=$((off + 17)) conv=notrunc status=none
expect 1 "checkpoint $T/bad.ckpt: tensor conv1_conv/kernel:0: CRC mismatch \(corrupt\)" -- \
    "$BIN" export-keras "$T/bad.ckpt" --out "$T/x.h5"
head -c 1000 "$T/a.ckpt" > "$T/short.ckpt"
expect 1 "checkpoint $T/short.ckpt is truncated" -- "$BIN" export-keras "$T/short.ckpt" --out "$T/x.h5"
check "nothing exported from bad checkpoints" test ! -e "$T/x.h5"
expect 1 "keras weights: cannot write $T/no/dir/x.h5: No such file or directory" -- "$BIN" export-keras "$T/a.ckpt" --out "$T/no/dir/x.h5"

# a full disk: said so, no partial or temporary file, the previous file kept, exit 1 (no HDF5 dump)
cp "$T/e.h5" "$T/full.h5"
out=$(CTVK_FAULT=file-write "$BIN" export-keras "$T/a.ckpt" --out "$T/full.h5" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "cannot write $T/full.h5: No space left on device: the disk is full" <<<"$out" && \
    ! grep -qi "HDF5-DIAG\|H5F" <<<"$out" && good || { bad "full disk (fault): exit $rc"; echo "$out" | tail -3; }
check "the previous file is kept" cmp -s "$T/e.h5" "$T/full.h5"
check "no temporary file after the full disk" bash -c "! ls -a '$T' | grep -q tmp"
# ... and a real one where a private mount namespace is allowed (root): a 32 KiB tmpfs
mkdir -p "$T/mnt"
if unshare -m true 2>/dev/null; then
    out=$(unshare -m bash -c "mount -t tmpfs -o size=32k tmpfs '$T/mnt' && '$BIN' export-keras '$T/a.ckpt' --out '$T/mnt/w.h5'; echo \"rc=\$?\"; ls -A '$T/mnt'" 2>&1)
    grep -q "rc=1" <<<"$out" && grep -q "No space left on device: the disk is full" <<<"$out" && \
        ! grep -q "w.h5" <<<"$(tail -1 <<<"$out")" && good || { bad "full tmpfs"; echo "$out" | tail -3; }
else
    echo "cli_keras: no private mount namespace here: the real full-disk check is skipped (the fault injection ran)"
fi

finish cli_keras
