#!/usr/bin/env bash
# ctvk against PyTorch (CPU, 2 threads) on the paper's ResNet50V2 + FPN: runs `ctvk bench` and
# tools/bench_torch.py with the same network, input size, batch and mode, and prints both times and
# their ratio.
#
# usage: tools/bench-vs-pytorch.sh [--train [--micro-batch M]] [--batch N] [--reps R] [--size S] [--threads T]
#   --micro-batch M: ctvk runs each training step in micro-batches of M samples (devices that cannot
#   hold the whole batch, e.g. batch 14 at 512x512 on lavapipe); PyTorch runs the whole batch
#   CTVK_BIN   the ctvk binary (default: build/ctvk next to this script's folder, else ctvk in PATH)
#   PYTHON     the Python interpreter (default: python3, else /usr/bin/python3, whichever has torch)
# Needs PyTorch: on Debian `apt-get install -y python3-torch` (run as root, the script does it
# itself when it can), elsewhere `pip install torch`. ctvk runs on the default Vulkan device;
# LP_NUM_THREADS defaults to the thread count so that lavapipe uses as many cores as PyTorch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
train="" batch="" reps=3 size=512 threads=2 micro=""
while [ $# -gt 0 ]; do
    case "$1" in
        --train) train=--train; shift ;;
        --batch) batch=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --micro-batch) micro="--micro-batch $2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "bench-vs-pytorch: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ -n "$batch" ] || { [ -n "$train" ] && batch=14 || batch=1; }
py=${PYTHON:-python3}
ctvk=${CTVK_BIN:-}
if [ -z "$ctvk" ]; then
    if [ -x "$here/../build/ctvk" ]; then ctvk="$here/../build/ctvk"; else ctvk=$(command -v ctvk || true); fi
fi
[ -n "$ctvk" ] && [ -x "$ctvk" ] || { echo "bench-vs-pytorch: no ctvk binary (build it, or set CTVK_BIN)" >&2; exit 1; }

# the first interpreter that has torch: $PYTHON, python3, then Debian's own (python3-torch installs
# there, which a pyenv or venv python3 in PATH does not see)
find_torch() {
    for c in ${PYTHON:-} python3 /usr/bin/python3; do
        if command -v "$c" >/dev/null && "$c" -c 'import torch' 2>/dev/null; then py=$c; return 0; fi
    done
    return 1
}
if ! find_torch; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench-vs-pytorch: PyTorch missing, installing python3-torch with apt-get" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch >&2; }
    fi
    find_torch || {
        echo "bench-vs-pytorch: PyTorch is not installed: 'apt-get install python3-torch' (Debian, as root) or" \
             "'pip install torch'" >&2
        exit 1
    }
fi

export LP_NUM_THREADS=${LP_NUM_THREADS:-$threads}
echo "== ctvk ($ctvk)"
ctvk_out=$("$ctvk" bench $train $micro --batch "$batch" --reps "$reps" --set model.input_size="$size" 2>&1) ||
    { echo "$ctvk_out"; exit 1; }
echo "$ctvk_out"
echo "== PyTorch"
torch_out=$("$py" "$here/bench_torch.py" $train --batch "$batch" --reps "$reps" --size "$size" \
            --threads "$threads" 2>&1) || { echo "$torch_out"; exit 1; }
echo "$torch_out"

c=$(echo "$ctvk_out" | sed -n 's/^time: min \([0-9.]*\) ms.*/\1/p')
t=$(echo "$torch_out" | sed -n 's/^torch: min \([0-9.]*\) ms.*/\1/p')
[ -n "$c" ] && [ -n "$t" ] || { echo "bench-vs-pytorch: could not read the times" >&2; exit 1; }
echo "== $([ -n "$train" ] && echo "training step" || echo "inference"), ${size}x${size}, batch $batch," \
     "min of $reps: ctvk $c ms, PyTorch $t ms: ctvk/PyTorch = $(awk -v a="$c" -v b="$t" 'BEGIN{printf "%.2f", a/b}')"
