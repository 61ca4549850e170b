#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# GPT training on the CPU, Axon against PyTorch on this machine (issue 5's CPU goal):
# a 4-layer, 4-head, 256-wide GPT, block 128, batch 32, AdamW, the fortunes corpus,
# each trained for the same wall-clock budget of training time (default 600 s) with
# the same thread count, one after the other. Prints both runs' validation losses and
# tokens/s, then a summary. The PyTorch side is skipped when torch is not installed.
#   sh benchmarks/compare_gpt.sh [SECONDS] [THREADS]
set -e
SECONDS_LIMIT=${1:-600}
THREADS=${2:-2}
BUILD=${BUILD:-build}
OUT=${OUT:-/tmp/axon_compare_gpt}
mkdir -p "$OUT"
rm -f "$OUT/axon.jsonl" "$OUT/torch.jsonl"
echo "== axon ($THREADS threads, $SECONDS_LIMIT s)"
OMP_NUM_THREADS=$THREADS "$BUILD/axon" train --model gpt --threads "$THREADS" --time-limit "$SECONDS_LIMIT" \
  --steps 2000 --eval-every 250 --log-every 50 --metrics "$OUT/axon.jsonl" --save "$OUT/gpt.safetensors" --device cpu
if python3 -c 'import torch' 2>/dev/null; then
  echo "== pytorch ($THREADS threads, $SECONDS_LIMIT s)"
  python3 "$(dirname "$0")/bench_gpt_torch.py" --threads "$THREADS" --time-limit "$SECONDS_LIMIT" --steps 2000 \
    --eval-every 250 | tee "$OUT/torch.jsonl"
  python3 - "$OUT" <<'PY'
import json, sys
d = sys.argv[1]
a = [json.loads(l) for l in open(d + "/axon.jsonl")][-1]
t = [json.loads(l) for l in open(d + "/torch.jsonl") if '"final"' in l][-1]
print(f"axon : val loss {a['val_loss']:.4f} after {a['step']} steps, {a['tokens_per_sec']:.0f} tok/s")
print(f"torch: val loss {t['val_loss']:.4f} after {t['steps']} steps, {t['tokens_per_sec']:.0f} tok/s (torch {t['torch']})")
print(f"tokens/s ratio axon/torch: {a['tokens_per_sec'] / t['tokens_per_sec']:.2f}; "
      f"val loss axon - torch: {a['val_loss'] - t['val_loss']:+.4f}")
PY
else
  echo "== pytorch not installed: skipped"
fi
