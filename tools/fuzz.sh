#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and UBSan in build-fuzz/ and
# runs each for SECONDS (default 60), niced, on one core, starting from tests/fuzz/corpus/<target>.
#   tools/fuzz.sh [SECONDS] [TARGET...]
# New coverage goes to build-fuzz/corpus/<target> (not committed); a crash, leak, timeout or OOM
# input is written to build-fuzz/crashes/<target>/. Copy one into tests/fuzz/regressions/<target>/
# once fixed: test_fuzz_regressions replays them. Exit status: 0 when no target found anything.
set -u
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(tiff ini csv checkpoint keras dicom nifti)
B=build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed" >&2; exit 2; }
if [ ! -f $B/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B $B -DCTVK_FUZZ=ON >/dev/null || exit 2
fi
nice make -C $B -j1 "${TARGETS[@]/#/fuzz_}" 2>&1 | grep -E 'error:|warning:' && { echo "fuzz.sh: build failed" >&2; exit 2; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export HDF5_USE_FILE_LOCKING=FALSE
# the targets write each input to a file: keep those in memory where possible
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
status=0
printf '%-11s %8s %8s %8s %6s  %s\n' target seconds execs cov corpus result
for t in "${TARGETS[@]}"; do
  mkdir -p $B/corpus/$t $B/crashes/$t
  log=$B/fuzz_$t.log
  nice -n 19 $B/fuzz_$t -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix=$B/crashes/$t/ $B/corpus/$t tests/fuzz/corpus/$t >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  n=$(ls $B/corpus/$t | wc -l)
  if [ $rc -eq 0 ]; then res=ok; else res="FOUND (rc $rc): $(ls -t $B/crashes/$t | head -1) see $log"; status=1; fi
  printf '%-11s %8s %8s %8s %6s  %s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${cov:-?}" "$n" "$res"
done
exit $status
