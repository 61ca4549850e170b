#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The GPU session's scripts (scripts/gpu/session1.sh, session2.sh) run against the
# emulated device, with a stand-in for nvidia-smi, so that a broken script never costs
# a GPU run. Checks: the first call's planned limits add up to at most 8 minutes, every
# step ran and exited 0, the parity families it ran passed, every benchmark group wrote
# its JSON with rows, the GPT step wrote its metrics, and the second call ran too.
#   tests/gpu_dry_run.sh BUILD_DIR     (an AXON_CUDA=EMULATE build with axon and axon_parity)
set -uo pipefail
bin=$(cd "${1:?usage: gpu_dry_run.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/path"
cat > "$work/path/nvidia-smi" <<'SMI'
#!/bin/sh
# stand-in for the dry run (tests/gpu_dry_run.sh): the emulated device is no GPU
case "$*" in
  *--query-gpu*) echo "name, memory.total [MiB], driver_version, compute_cap"
                 echo "emulated H100 (AXON_CUDA=EMULATE: host CPU, not a GPU), 8192 MiB, none, 9.0" ;;
  *) echo "stand-in nvidia-smi for the dry run: no GPU here (the emulated device)" ;;
esac
SMI
chmod +x "$work/path/nvidia-smi"
export PATH="$work/path:$PATH" AXON_GPU_DRY=1 BIN="$bin" OUT="$work/out" OMP_NUM_THREADS=2
# the steps run under stdbuf, which preloads libstdbuf: a sanitized build must let it
# come before ASan's runtime (it only sets the buffering of stdout and stderr)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

bash "$src/scripts/gpu/session1.sh" > "$work/session1.log" 2>&1 || bad "session1.sh exited $?"
cat "$work/session1.log"
planned=$(awk '$1 == "total" { print $2 }' "$work/out/plan.txt" 2>/dev/null)
[ -n "$planned" ] && [ "$planned" -le 480 ] || bad "the first call's plan is ${planned:-missing} s, over 480 s"
grep -q "exit [1-9]" "$work/out/summary.txt" && bad "a step failed: $(grep 'exit [1-9]' "$work/out/summary.txt" | head -3)"
for f in copy loss attention_cudnn errors; do
  grep -qE "cases, ([0-9]+) passed, 0 failed" "$work/out/parity_$f.txt" || bad "parity $f did not pass"
done
for g in memory gemm attention conv; do
  j="$work/out/bench_$g.json"
  [ -s "$j" ] || { bad "bench $g wrote no JSON"; continue; }
  rows=$(grep -c '"op":' "$j")
  [ "$rows" -ge 1 ] || bad "bench $g: no rows in its JSON"
  grep -q '"us": null' "$j" && bad "bench $g: a row failed: $(grep '"us": null' "$j" | head -2)"
done
[ "$(wc -l < "$work/out/gpt2_124m_axon.jsonl" 2>/dev/null || echo 0)" -ge 1 ] || bad "the GPT step wrote no metrics"
[ -s "$work/out/nvidia-smi.txt" ] || bad "nvidia-smi's output is missing"

bash "$src/scripts/gpu/session2.sh" > "$work/session2.log" 2>&1 || bad "session2.sh exited $?"
cat "$work/session2.log"
planned2=$(awk '$1 == "total" { print $2 }' "$work/out/plan.txt" 2>/dev/null)
[ -n "$planned2" ] && [ "$planned2" -le 420 ] || bad "the second call's plan is ${planned2:-missing} s, over 420 s"
grep -qE "^ddp_plain +exit 0" "$work/out/summary.txt" || bad "the second call's plain GPT run failed"
[ "$fail" = 0 ] && echo "dry run passed: first call planned at $planned s (at most 480), second at $planned2 s"
exit $fail
