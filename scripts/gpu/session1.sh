#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The first call of a GPU session (docs/gpu_session.md): at most 8 minutes of step limits,
# in order of value, every result in $OUT the moment it exists. Nothing is compiled.
#   run(command="bash scripts/gpu/session1.sh", carry=["gpu-carry"], timeout_s=540)
#   1. nvidia-smi and axon info
#   2. the parity families, cheapest and most depended-on first (our kernels: the
#      conv and attention families select native themselves; gemm runs both)
#   3. benchmarks, one process per group: memory-bound ops, GEMM against cuBLAS,
#      attention against cuDNN, conv against cuDNN (JSON rewritten after every row)
#   4. GPT-2 124M, 20 steps, Axon and then PyTorch eager: tokens/s and MFU
source "$(dirname "$0")/common.sh"
families=(copy elementwise reduce softmax loss layernorm gemm attention index optim dropout norm pool conv autocast
          attention_cudnn errors)
declare -A limit=([copy]=8 [elementwise]=14 [reduce]=10 [softmax]=8 [loss]=8 [layernorm]=10 [gemm]=22 [attention]=22
                  [index]=8 [optim]=6 [dropout]=6 [norm]=10 [pool]=8 [conv]=24 [autocast]=12 [attention_cudnn]=14
                  [errors]=6)
groups=(memory gemm attention conv)
declare -A blimit=([memory]=40 [gemm]=45 [attention]=35 [conv]=25)
tier=()
dry_families=" copy loss attention_cudnn errors " # the dry run: a few cheap families (the emulate tier ran them all), the same loop
if [ "$DRY" = 1 ]; then tier=(--tier emulate); fi

plan info 15
for f in "${families[@]}"; do plan "parity $f" "${limit[$f]}"; done
for g in "${groups[@]}"; do plan "bench $g" "${blimit[$g]}"; done
plan "gpt2-124m axon" 50
plan "gpt2-124m pytorch" 50
print_plan 480
: > "$SUMMARY"

# 1. the machine and the build
{ nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv; nvidia-smi; } > "$OUT/nvidia-smi.txt" 2>&1
head -2 "$OUT/nvidia-smi.txt"
[ -f "$CARRY/BUILD" ] && cp "$CARRY/BUILD" "$OUT/build.txt"
step info 15 "${AXON[@]}" info

# 2. parity, one process per family
for f in "${families[@]}"; do
  if [ "$DRY" = 1 ] && [[ "$dry_families" != *" $f "* ]]; then
    echo "parity_$f: not run in the dry run" > "$OUT/parity_$f.txt"
    continue
  fi
  step "parity_$f" "${limit[$f]}" "${PARITY[@]}" "${tier[@]}" -v "$f"
  grep -E 'cases, [0-9]+ passed' "$OUT/parity_$f.txt" | tail -1 | sed "s/^/    $f: /" | tee -a "$SUMMARY"
done

# 3. benchmarks, one process per group
quick=()
[ "$DRY" = 1 ] && quick=(--quick)
for g in "${groups[@]}"; do
  step "bench_$g" "${blimit[$g]}" "${AXON[@]}" bench --device cuda "${quick[@]}" --json "$OUT/bench_$g.json" "$g"
done

# 4. GPT-2 124M: Axon, then PyTorch eager on the same text
text=$CARRY/data/fortunes.txt
[ -s "$text" ] || text=/usr/share/games/fortunes/fortunes
gpt=(--n-layer 12 --n-head 12 --n-embd 768 --block-size 1024 --batch-size 16 --vocab-size 50257 --steps 20)
[ "$DRY" = 1 ] && gpt=(--n-layer 1 --n-head 2 --n-embd 32 --block-size 32 --batch-size 2 --vocab-size 256 --steps 2)
step gpt2_124m_axon 50 "${AXON[@]}" train --model gpt --dataset "text:$text" "${gpt[@]}" --precision bf16 --log-every 1 \
  --eval-every 0 --eval-batches 1 --warmup-steps 2 --no-save --device cuda --metrics "$OUT/gpt2_124m_axon.jsonl"
if [ "$DRY" != 1 ] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  step gpt2_124m_pytorch 50 env PYTHONUNBUFFERED=1 python3 benchmarks/bench_gpt_torch.py --data "$text" --device cuda \
    --dtype bf16 "${gpt[@]}" --skip-steps 3 --eval-every 1000 --eval-batches 1 --time-limit 40 --peak-tflops 989
else
  echo "gpt2_124m_pytorch: $([ "$DRY" = 1 ] && echo 'not run in the dry run' || echo 'no CUDA PyTorch here')" | tee -a "$SUMMARY"
fi
echo "== done; results in $OUT (summary.txt first)"
