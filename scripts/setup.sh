#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs what Axon needs on a fresh Debian/Ubuntu machine and builds it into
# build/. Safe to run again: installed packages and an existing build are reused.
#   AXON_CMAKE_ARGS="-DAXON_CUDA=OFF" bash scripts/setup.sh   # extra CMake options
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libcriterion-dev libopenblas-dev zlib1g-dev dataset-fashion-mnist fortunes libopenmpi-dev openmpi-bin libcairo2-dev libcjson-dev fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# nvcc is often installed outside PATH
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${AXON_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built into build/; $(./build/axon info | grep '^backends')"
