#!/usr/bin/env bash
# Installs every Debian 12 package ctvk needs to build, test and run (as root).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config \
  libvulkan-dev libvulkan-volk-dev glslang-tools spirv-tools \
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools \
  libtiff-dev libiniparser-dev libhdf5-dev libpng-dev zlib1g-dev libgdcm-dev libnifti2-dev libssl-dev libxxhash-dev \
  python3-numpy python3-tifffile valgrind librenderdoc \
  libopenmpi-dev openmpi-bin \
  chromium >/dev/null
# chromium brings SwiftShader, a second conformant Vulkan implementation on the CPU
# (/usr/lib/chromium/vk_swiftshader_icd.json, chosen with VK_ICD_FILENAMES), which the tests also
# run on, and a browser for checking the HTML report.
