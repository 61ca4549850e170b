#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs a binary built by scripts/gpu/build_carry.sh on the device machine:
#   scripts/gpu/launch.sh gpu-carry/bin/axon info
# The library path gets exactly the folders that hold what the binaries load: the
# carried lib/ (libaxon.so, libgomp), and for each vendor library named in
# gpu-carry/NEEDED (libcublas.so.13, libcudnn.so.9, libnccl.so.2, ...) the first
# folder holding it among the Python site-packages' nvidia/ wheels (PyTorch's), then
# the CUDA toolkit's lib64. Never every nvidia/*/lib. A library found nowhere is
# named on stderr, and the binary still runs (its vendor paths then fail with
# the loader's message).
set -uo pipefail
bin=${1:?usage: launch.sh BINARY [ARGS...]}
shift
carry=$(cd "$(dirname "$bin")/.." && pwd)
paths="$carry/lib"
if [ -s "$carry/NEEDED" ]; then
  roots=$(python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
  while read -r lib; do
    [ -n "$lib" ] || continue
    dir=""
    for r in $roots; do
      [ -d "$r/nvidia" ] || continue
      hit=$(find "$r/nvidia" -maxdepth 4 -name "$lib" 2>/dev/null | head -1)
      if [ -n "$hit" ]; then dir=$(dirname "$hit"); break; fi
    done
    if [ -z "$dir" ]; then
      for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
        if [ -e "$d/$lib" ]; then dir=$d; break; fi
      done
    fi
    if [ -z "$dir" ]; then
      echo "launch.sh: $lib not found in site-packages/nvidia or the CUDA toolkit" >&2
      continue
    fi
    case ":$paths:" in *":$dir:"*) ;; *) paths="$paths:$dir" ;; esac
  done < "$carry/NEEDED"
fi
export LD_LIBRARY_PATH="$paths${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$bin" "$@"
