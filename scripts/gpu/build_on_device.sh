#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The fallback when the carried binaries cannot run on the device machine (a loader
# or glibc error in session1's info step): build there, for that GPU only, into
# gpu-carry/ as build_carry.sh lays it out, then run session1.sh as usual. It costs
# device minutes (about 5-8 on 16 cores), so it is not part of the plan.
#   run(command="bash scripts/gpu/build_on_device.sh && bash scripts/gpu/session1.sh", timeout_s=600)
# The architecture comes from nvidia-smi (compute capability 9.0 -> 90a, Hopper's
# wgmma; 8.0 -> 80, ...); cuDNN and NCCL from the Python site-packages' nvidia/ wheels.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
[ -n "$cap" ] || { echo "build_on_device: nvidia-smi gave no compute capability" >&2; exit 1; }
[ "$cap" = 90 ] && cap=90a
hints=()
for s in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
  [ -d "$s/nvidia/cudnn" ] && hints+=("-DAXON_CUDNN_ROOT=$s/nvidia/cudnn")
  [ -d "$s/nvidia/nccl" ] && hints+=("-DAXON_NCCL_ROOT=$s/nvidia/nccl")
done
echo "build_on_device: sm_$cap ${hints[*]}"
AXON_CARRY_ARCHS=$cap AXON_CARRY_BUILD=build-device AXON_CARRY_CMAKE_ARGS="${hints[*]}" \
  bash scripts/gpu/build_carry.sh
