#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs the libFuzzer targets of a build made with AXON_FUZZ=ON (tests/fuzz/README.md):
#   tests/fuzz/run.sh BUILD_DIR SECONDS [JOBS [TARGET...]]
# Each target starts from the seeds Axon writes (BUILD_DIR/fuzz-seeds/<t>), the committed
# regression corpus (tests/fuzz/regressions/<t>) and its own growing corpus
# (BUILD_DIR/fuzz-corpus/<t>), runs for SECONDS, JOBS targets at a time (default 2).
# Crashing inputs land in BUILD_DIR/fuzz-artifacts/; copy each into regressions/<t>/ once
# fixed. Prints each target's executions, coverage (cov, ft) and findings; exits 1 if any
# target found something.
set -uo pipefail
build=$(cd "$1" && pwd); secs=$2; jobs=${3:-2}; shift 3 2>/dev/null || shift $#
src=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors ckpt_image ckpt_lm idx idx_gz text shards gpt_config npy npz csv tokenizer)
seeds="$build/fuzz-seeds"
rm -rf "$seeds" && mkdir -p "$seeds/ckpt_image" "$seeds/ckpt_lm" "$build/fuzz-logs" "$build/fuzz-artifacts/earlier"
for t in "${targets[@]}"; do # findings of earlier runs are kept, out of this run's count
  for f in "$build/fuzz-artifacts/$t-"*; do [ -e "$f" ] && mv "$f" "$build/fuzz-artifacts/earlier/"; done
done
# No leak checking in the clang build: clang 14's LeakSanitizer cannot stop the world on
# these machines (its tracer faults: "LeakSanitizer has encountered a fatal error"), in
# the LM trainer's seed writer even with one thread. Leaks are checked instead by the
# gcc ASan build, where ctest replays every seed and regression input (label fuzz) with
# detect_leaks=1. Set ASAN_OPTIONS=detect_leaks=1 to try here.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1
"$build/tests/fuzz/fuzz_seeds" "$seeds" >/dev/null &&
  "$build/tests/fuzz/fuzz_seeds_ckpt_image" "$seeds/ckpt_image" &&
  "$build/tests/fuzz/fuzz_seeds_ckpt_lm" "$seeds/ckpt_lm" || { echo "fuzz: writing the seeds failed"; exit 1; }
run() {
  local t=$1
  mkdir -p "$build/fuzz-corpus/$t"
  OMP_NUM_THREADS=1 "$build/tests/fuzz/fuzz_$t" "$build/fuzz-corpus/$t" "$seeds/$t" "$src/regressions/$t" \
    -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" >"$build/fuzz-logs/$t.log" 2>&1
}
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
bad=0
for t in "${targets[@]}"; do
  log="$build/fuzz-logs/$t.log"
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
  found=$(ls "$build/fuzz-artifacts/$t-"* 2>/dev/null | wc -l)
  printf '%-12s executions %-9s %s; findings %s\n' "$t" "${execs:-?}" \
    "$(echo "$last" | grep -oE 'cov: [0-9]+ ft: [0-9]+')" "$found"
  if [ "$found" -gt 0 ] || grep -qE 'ERROR: (AddressSanitizer|libFuzzer)|runtime error:' "$log"; then
    bad=1
    grep -E 'ERROR:|runtime error:|SUMMARY' "$log" | head -5
  fi
done
exit $bad
