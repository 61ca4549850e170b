#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Builds, on this machine, everything a GPU session runs, into gpu-carry/ (git-ignored),
# so that the device machine compiles nothing (docs/gpu_session.md):
#   gpu-carry/bin/   axon, axon_parity, bench_allreduce (stripped)
#   gpu-carry/lib/   libaxon.so, libaxon_cuda.so (the kernels for sm_90a and sm_80, once) and libgomp
#   gpu-carry/data/  the text the GPT benchmark reads (Debian's fortunes)
#   gpu-carry/NEEDED the vendor libraries the binaries load (cuBLAS, cuDNN, NCCL), which
#                    scripts/gpu/launch.sh finds in the device machine's site-packages
#   gpu-carry/BUILD  commit, date, compiler, architectures, size
# The CUDA runtime is linked statically (the device machine's driver is all it needs), MPI
# is left out (no MPI there), and the CPU code is built for x86-64-v3 (AVX2), not for this
# machine's CPU. Everything sent to the device machine must fit in 64 MiB.
#   bash scripts/gpu/build_carry.sh            # about 30-60 minutes on 2 cores, from scratch
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
out=gpu-carry
build=${AXON_CARRY_BUILD:-build-carry}
archs=${AXON_CARRY_ARCHS:-90a;80}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DAXON_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$archs" \
  -DAXON_CUDART_STATIC=ON -DAXON_LINK_TOOLS_SHARED=ON -DAXON_MPI=OFF -DAXON_MARCH=x86-64-v3 \
  -DAXON_BUILD_TESTS=ON ${AXON_CARRY_CMAKE_ARGS:-} >/dev/null
grep -E '^(AXON_HAVE|AXON_CUDNN_LIBRARY|AXON_NCCL_LIBRARY)' "$build/CMakeCache.txt" || true
cmake --build "$build" -j"$(nproc)" --target axon axon_parity bench_allreduce
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/data"
cp "$build/axon" "$build/axon_parity" "$build/bench_allreduce" "$out/bin/"
cp -L "$build"/libaxon.so.[0-9] "$build"/libaxon_cuda.so.[0-9] "$out/lib/" # the core and the CUDA component
gomp=$(gcc -print-file-name=libgomp.so.1)
[ -f "$gomp" ] && cp -L "$gomp" "$out/lib/"
strip --strip-unneeded "$out"/bin/* "$out"/lib/*
for f in /usr/share/games/fortunes/*; do
  case "$f" in *.dat|*.u8) ;; *) [ -f "$f" ] && cat "$f" ;; esac
done > "$out/data/fortunes.txt" 2>/dev/null || true
# the shared libraries the binaries load that are neither carried nor part of every Linux system
for f in "$out"/bin/* "$out"/lib/libaxon*.so.*; do readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'; done |
  sort -u | grep -E '^lib(cublas|cublasLt|cudnn|nccl)' > "$out/NEEDED" || true
# cuBLAS loads cuBLASLt (same version) itself: its folder must be on the path too
sed -n 's/^libcublas\.so\.\([0-9]*\)$/libcublasLt.so.\1/p' "$out/NEEDED" >> "$out/NEEDED"
sort -u -o "$out/NEEDED" "$out/NEEDED"
size=$(du -sb "$out" | cut -f1)
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!gpu-carry' || echo ' (with uncommitted changes)')"
  echo "built $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m), $(nvcc --version | tail -1)"
  echo "architectures $archs; cudart static; MPI off; CPU code x86-64-v3"
  echo "size $size bytes ($((size / 1048576)) MiB)"
} > "$out/BUILD"
cat "$out/BUILD" "$out/NEEDED"
ls -la "$out/bin" "$out/lib"
limit=$((56 * 1048576)) # 64 MiB with the working tree (a few MiB) beside it
if [ "$size" -gt "$limit" ]; then
  echo "build_carry: $out is $((size / 1048576)) MiB, over the 56 MiB it may take of the 64 MiB a device call carries" >&2
  exit 1
fi
