#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The portable build (run-time ISA dispatch, the default) against -march=native on this
# machine: builds both CPU-only into separate folders, then alternates them ROUNDS times
# over `axon bench` (GEMM and conv) and a short `axon train` (CNN, wall clock), and prints
# per row the median time of each and the ratio portable/native (issue 18: within 5%).
#   scripts/bench_portable.sh [ROUNDS]       # default 3 rounds; run on a quiet machine
#   BENCH_QUICK=1 scripts/bench_portable.sh 1   # a smoke test: --quick sizes, 256 images
# Env: BENCH_DIR (default build-bench), BENCH_TRAIN_IMAGES (default 6000), BENCH_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
dir="${BENCH_DIR:-build-bench}"
quick=()
images="${BENCH_TRAIN_IMAGES:-6000}"
if [ "${BENCH_QUICK:-0}" = 1 ]; then quick=(--quick); images="${BENCH_TRAIN_IMAGES:-256}"; fi
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)

for cfg in portable native; do
  march=""; [ "$cfg" = native ] && march=native
  cmake -S . -B "$dir/$cfg" -DCMAKE_BUILD_TYPE=Release -DAXON_CUDA=OFF -DAXON_MPI=OFF -DAXON_MARCH="$march" \
    -DAXON_BUILD_TESTS=OFF -DAXON_BUILD_BENCHMARKS=OFF "${launcher[@]}" >/dev/null
  cmake --build "$dir/$cfg" -j"${BENCH_JOBS:-$(nproc)}" --target axon >/dev/null
  echo "bench_portable: $cfg: $("$dir/$cfg/axon" info | grep -E '^(build|cpu isa):' | tr '\n' ' ')"
done

out="$dir/results"
rm -rf "$out" && mkdir -p "$out"
for r in $(seq 1 "$rounds"); do
  order="portable native"; [ $((r % 2)) = 0 ] && order="native portable" # alternate who goes first
  for cfg in $order; do
    "$dir/$cfg/axon" bench --device cpu "${quick[@]}" --json "$out/bench.$cfg.$r.json" gemm conv >/dev/null
    t0=$(date +%s.%N)
    "$dir/$cfg/axon" train --device cpu --epochs 1 --limit-train "$images" --limit-test 64 --plain \
      --save "$out/cnn.$cfg.safetensors" >"$out/train.$cfg.$r.log"
    t1=$(date +%s.%N)
    echo "$cfg $r $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >>"$out/train.times"
    echo "bench_portable: round $r/$rounds $cfg done"
  done
done

python3 - "$out" "$rounds" "$images" <<'PY'
import json, statistics, sys
out, rounds, images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for cfg in ("portable", "native"):
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{out}/bench.{cfg}.{r}.json"))["results"]:
            if row.get("us") is None: continue
            rows.setdefault((row["op"], row["shape"], row["dtype"]), {}).setdefault(cfg, []).append(row["us"])
for line in open(f"{out}/train.times"):
    cfg, _, s = line.split()
    rows.setdefault(("train cnn", f"{images} images, 1 epoch", "f32"), {}).setdefault(cfg, []).append(float(s) * 1e6)
worst = 0.0
print(f"{'op':<14} {'shape':<28} {'dtype':<5} {'portable':>12} {'native':>12} {'ratio':>7}")
for (op, shape, dt), v in rows.items():
    if "portable" not in v or "native" not in v: continue
    p, n = statistics.median(v["portable"]), statistics.median(v["native"])
    ratio = p / n
    worst = max(worst, ratio)
    print(f"{op:<14} {shape[:28]:<28} {dt:<5} {p:>10.1f}us {n:>10.1f}us {ratio:>7.3f}")
print(f"worst ratio portable/native: {worst:.3f} ({'within' if worst <= 1.05 else 'NOT within'} 5%; medians of {rounds} rounds)")
PY
