#!/usr/bin/env bash
# The README's main job: install what ctvk needs, build it, and run it on the built-in data.
# Today that is: list the Vulkan devices and run the first kernels against their C references.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/ctvk devices
./build/ctvk smoke --profile
