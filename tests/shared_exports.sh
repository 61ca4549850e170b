#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The shared library exports the public API only: no ax__ internals, no CUB / thrust /
# CuTe (C++ template) symbols, nothing outside ax_* (and the emulated device's cuda*
# runtime API in an AXON_CUDA=EMULATE build); and it does export the public API.
#   shared_exports.sh LIBRARY ["SYMBOLS it must export"]   (default: a few of the core's)
# Exits 77 (skipped) when the library was not built or nm is missing.
lib="$1"
[ -f "$lib" ] || { echo "shared_exports: no shared library at '$lib': skipped"; exit 77; }
command -v nm >/dev/null 2>&1 || { echo "shared_exports: no nm: skipped"; exit 77; }
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 {print $3}' | sed 's/@.*//')
n=$(printf '%s\n' "$syms" | grep -c .)
internal=$(printf '%s\n' "$syms" | grep -c '^ax__')
vendor=$(printf '%s\n' "$syms" | grep -Ec 'N3cub|N6thrust|N4cute|^cub|^thrust|^cute')
other=$(printf '%s\n' "$syms" | grep -v '^ax_[^_]' | grep -v '^cuda' | grep -v '^_init$' | grep -v '^_fini$' | grep -c .)
status=0
echo "shared_exports: $n symbols exported, $internal ax__, $vendor CUB/thrust/CuTe, $other others"
if [ "$internal" -ne 0 ]; then
  printf '%s\n' "$syms" | grep '^ax__' | head -20
  echo "shared_exports: internal ax__ symbols are exported"; status=1
fi
if [ "$vendor" -ne 0 ]; then echo "shared_exports: CUB / thrust / CuTe symbols are exported"; status=1; fi
if [ "$other" -ne 0 ]; then
  printf '%s\n' "$syms" | grep -v '^ax_[^_]' | grep -v '^cuda' | grep -v '^_init$' | grep -v '^_fini$' | head -20
  echo "shared_exports: symbols outside the public API are exported"; status=1
fi
for s in ${2:-ax_matmul ax_scope_begin_at ax_settings_get ax_error ax_load_safetensors ax_nn_sequential}; do
  printf '%s\n' "$syms" | grep -qx "$s" || { echo "shared_exports: the public $s is not exported"; status=1; }
done
[ $status -eq 0 ] && echo "shared_exports: only the public API is exported"
exit $status
