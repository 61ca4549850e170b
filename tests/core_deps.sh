#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# libaxon.so, the core, needs no vendor library: no libcuda*, cuBLAS, cuDNN, NCCL or MPI
# (those belong to libaxon_cuda and libaxon_mpi; docs/architecture.md, "Components").
#   core_deps.sh LIBRARY        exits 77 (skipped) without readelf
lib="$1"
command -v readelf >/dev/null 2>&1 || { echo "core_deps: no readelf: skipped"; exit 77; }
needed=$(readelf -d "$lib" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')
echo "core_deps: $lib needs: $needed"
vendor=$(echo "$needed" | tr ' ' '\n' | grep -Ei 'cuda|cublas|cudnn|nccl|mpi|stdc\+\+')
[ -z "$vendor" ] || { echo "core_deps: the core needs vendor libraries: $vendor"; exit 1; }
undef=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | grep -E '^(cuda|nccl|MPI|cublas|cudnn)' | head -5)
[ -z "$undef" ] || { echo "core_deps: the core calls vendor functions: $undef"; exit 1; }
echo "core_deps: only libc, libm, OpenMP, zlib and cJSON"
