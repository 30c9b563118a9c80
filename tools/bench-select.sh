#!/usr/bin/env bash
# Selection throughput: `ctvk select` against the authors' algorithm in plain numpy + tifffile
# (tools/bench_select.py, Debian's python3-numpy and python3-tifffile), on the same phantom slices
# (512 x 512 uint16, uncompressed, page cache warm), in the same command. Both must produce the same
# CSV rows. Usage: tools/bench-select.sh [PATIENTS_PER_CLASS [SLICES_PER_SEQUENCE]]
#   CTVK_BIN (default build/ctvk), BENCH_DIR (default a temporary folder, removed afterwards),
#   BENCH_THREADS (ctvk select --threads; default one per CPU).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${CTVK_BIN:-$here/../build/ctvk}
per_class=${1:-4}
slices=${2:-60}
threads=${BENCH_THREADS:-0}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench-select: no ctvk binary at $bin (build first, or set CTVK_BIN)" >&2; exit 1; }
"$py" -c 'import numpy, tifffile' 2>/dev/null || { echo "bench-select: needs python3-numpy and python3-tifffile" >&2; exit 1; }
if [ -n "${BENCH_DIR:-}" ]; then dir=$BENCH_DIR; rm -rf "$dir"; mkdir -p "$dir"; else dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT; fi

"$bin" phantom --out "$dir/ph" --covid "$per_class" --normal "$per_class" --series 2 --slices "$slices" --size 512 >/dev/null
n=$(find "$dir/ph/full" -name '*.tif' | wc -l)
echo "data: $n slices of 512x512 uint16 in $((2 * per_class * 2)) sequences ($(du -sh "$dir/ph/full" | cut -f1)), $(nproc) CPUs"
cat "$dir/ph/full"/*/*/*/*.tif > /dev/null            # warm the page cache for both

best=""
for i in 1 2 3 4 5; do
  line=$("$bin" select "$dir/ph/full" --threads "$threads" --out "$dir/ctvk.csv")
  rate=$(sed -n 's/.*(\([0-9]*\) slices\/s).*/\1/p' <<<"$line")
  if [ -z "$best" ] || [ "$rate" -gt "$best" ]; then best=$rate; fi
done
echo "ctvk select:    $n slices, $best slices/s (best of 5, threads: ${threads/#0/one per CPU})"
ref=$("$py" "$here/bench_select.py" "$dir/ph/full" --out "$dir/ref.csv" --repeat 3)
echo "$ref"
refrate=$(sed -n 's/.*(\([0-9]*\) slices\/s.*/\1/p' <<<"$ref")
if diff <(sort "$dir/ctvk.csv") <(sort "$dir/ref.csv") > /dev/null; then
  echo "outputs: identical CSV rows ($(($(wc -l < "$dir/ctvk.csv") - 1)) slices, $(grep -c ',1$' "$dir/ctvk.csv") selected)"
else
  echo "outputs: DIFFER"; diff <(sort "$dir/ctvk.csv") <(sort "$dir/ref.csv") | head; exit 1
fi
awk -v a="$best" -v b="$refrate" 'BEGIN { printf "speed-up: %.1fx\n", a / b }'

# one thread each, for a like-for-like comparison
best1=""
for i in 1 2 3; do
  line=$("$bin" select "$dir/ph/full" --threads 1 --out "$dir/ctvk1.csv")
  rate=$(sed -n 's/.*(\([0-9]*\) slices\/s).*/\1/p' <<<"$line")
  if [ -z "$best1" ] || [ "$rate" -gt "$best1" ]; then best1=$rate; fi
done
awk -v a="$best1" -v b="$refrate" 'BEGIN { printf "one thread:    %d slices/s (best of 3), %.1fx\n", a, a / b }'
