#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Installs a build into a fresh prefix and builds programs against it the way a user
# would, on a view of the machine without CUDA and MPI (CI's install step, .ci/run):
#   - libaxon.so needs no libcuda* / libcublas / libcudnn / libnccl / libmpi (readelf -d)
#   - pkg-config: the README example linked to libaxon.so, and with --static to libaxon.a
#     (the result needs no libaxon.so and runs without LD_LIBRARY_PATH)
#   - find_package(axon) with CMAKE_PREFIX_PATH the prefix alone and CUDAToolkit / MPI
#     made unfindable: examples/CMakeLists.txt (axon::axon, axon::axon_static)
#   scripts/check_install.sh BUILD_DIR [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:?usage: scripts/check_install.sh BUILD_DIR [PREFIX]}"
prefix="${2:-$(mktemp -d)}"
fail() { echo "check_install: $*" >&2; exit 1; }
cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(ls "$prefix"/lib*/libaxon.so 2>/dev/null | head -1)
[ -n "$lib" ] || fail "no libaxon.so under $prefix"
libdir=$(dirname "$lib")
vendor=$(readelf -d "$lib" | grep NEEDED | grep -Ei 'cuda|cublas|cudnn|nccl|mpi' || true)
[ -z "$vendor" ] || fail "libaxon.so needs vendor libraries: $vendor"
echo "check_install: libaxon.so needs $(readelf -d "$lib" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')"

# pkg-config (the prefix alone on the path)
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_LIBDIR="$libdir/pkgconfig"
out="$prefix/check"
mkdir -p "$out"
cc -std=c11 -o "$out/example_shared" examples/readme_example.c $(pkg-config --cflags --libs axon)
LD_LIBRARY_PATH="$libdir" "$out/example_shared" >/dev/null
cc -std=c11 -o "$out/example_static" examples/readme_example.c $(pkg-config --cflags --libs --static axon)
! readelf -d "$out/example_static" | grep -q 'libaxon' || fail "pkg-config --static axon linked libaxon.so"
env -u LD_LIBRARY_PATH "$out/example_static" >/dev/null || fail "the static example does not run"
# the components the install has: linked with their pkg-config modules (not run: a CUDA
# component needs its vendor libraries, maybe a GPU); the program must need the library
for comp in cuda mpi; do
  [ -f "$libdir/pkgconfig/axon-$comp.pc" ] || continue
  cc -std=c11 -o "$out/example_$comp" examples/readme_example.c $(pkg-config --cflags --libs axon-$comp) \
    -Wl,--allow-shlib-undefined
  readelf -d "$out/example_$comp" | grep -q "libaxon_$comp.so" || fail "pkg-config axon-$comp did not link libaxon_$comp.so"
  echo "check_install: pkg-config axon-$comp links libaxon_$comp.so"
done
echo "check_install: pkg-config: shared and --static (needs: $(readelf -d "$out/example_static" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' '))"

# find_package, without CUDA and MPI in view
env -u CUDA_PATH -u CUDAToolkit_ROOT PATH=/usr/bin:/bin cmake -S examples -B "$out/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON >"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log"; fail "find_package(axon) failed without CUDA and MPI"; }
cmake --build "$out/cmake" -j2 >/dev/null
"$out/cmake/readme_example" >/dev/null
env -u LD_LIBRARY_PATH "$out/cmake/readme_example_static" >/dev/null
! readelf -d "$out/cmake/readme_example_static" | grep -q 'libaxon' || fail "axon::axon_static linked libaxon.so"
readelf -d "$out/cmake/readme_example" | grep -q 'libaxon.so' || fail "axon::axon did not link libaxon.so"
echo "check_install: find_package(axon) without CUDA / MPI: axon::axon (shared) and axon::axon_static built and ran"
echo "check_install: passed ($prefix)"
