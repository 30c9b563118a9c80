#!/usr/bin/env bash
# The README's main job: install what ctvk needs, build it, write the built-in phantom dataset,
# run 5-fold cross-validation with configs/demo.ini and write the HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/ctvk devices
if [ ! -f runs/demo-data/dataset.ini ]; then
    rm -rf runs/demo-data
    ./build/ctvk phantom --out runs/demo-data --covid 20 --normal 20 --slices 24 --size 64 --seed 1
fi
# a previous demo run is kept: continue it (finished folds are only evaluated again)
resume=""
[ -d runs/demo ] && resume="--resume"
./build/ctvk cv configs/demo.ini $resume
./build/ctvk report runs/demo
