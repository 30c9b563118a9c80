#!/usr/bin/env bash
# Soak test: builds tests/soak.c against build/libctvk.a (not a ctest test) and runs STEPS tiny
# training steps (small_resnet 16x16, batch 2) with validation, sampling host RSS and device memory
# every SAMPLE steps; fails when either grows after the warm-up.
#   tools/soak.sh [STEPS=2000] [SAMPLE=100] [WARMUP=200]
# Set CTVK_VALIDATION=1 to run under the validation layer (slower). BUILD=dir picks the build tree.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
[ -f "$B/CMakeCache.txt" ] || cmake -S . -B "$B" >/dev/null
nice make -C "$B" -j1 ctvk 2>&1 | grep -E 'error:|warning:' && exit 2
cc -std=c11 -O2 -Wall -Wextra -D_POSIX_C_SOURCE=200809L -Iinclude -o "$B/soak" tests/soak.c "$B/libctvk.a" \
   $(pkg-config --libs libtiff-4 libpng hdf5) -liniparser -ldl -lpthread -lm
export LP_NUM_THREADS=${LP_NUM_THREADS:-2}
export CTVK_CACHE_DIR=${CTVK_CACHE_DIR:-$PWD/$B/test-cache}
exec nice "$B/soak" "${1:-2000}" "${2:-100}" "${3:-200}"
