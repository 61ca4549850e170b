#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The second call of a GPU session, if time is left after session1.sh (docs/gpu_session.md):
#   1. the vendor alternates: gemm and autocast under AXON_GEMM=cublas (the default where
#      cuBLAS is there), conv's cuDNN half is in the conv family already;
#   2. reruns with the tensor-core paths off (AXON_GEMM_WGMMA=0 AXON_ATTN_MMA=0), only
#      for the families session1 saw fail (from $OUT/parity_*.txt);
#   3. DDP through NCCL at world size 1 against the plain run (a small GPT), and
#      NCCL's all_reduce bandwidth.
#   run(command="bash scripts/gpu/session2.sh", carry=["gpu-carry"], timeout_s=420)
source "$(dirname "$0")/common.sh"
tier=()
[ "$DRY" = 1 ] && tier=(--tier emulate)
failed=()
for f in "$OUT"/parity_*.txt; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .txt)
  name=${name#parity_}
  case "$name" in *_cublas|*_no_tc) continue ;; esac
  if grep -qE '^exit [1-9]|[1-9][0-9]* failed|TIMED OUT' "$f" ||
     grep -qE "^parity_$name +exit [1-9]" "$SUMMARY" 2>/dev/null; then failed+=("$name"); fi
done
plan "parity gemm (cublas)" 25
plan "parity autocast (cublas)" 15
for f in "${failed[@]}"; do plan "parity $f (tensor cores off)" 25; done
plan "ddp plain" 40
plan "ddp nccl" 40
plan "allreduce" 30
print_plan 420
[ ${#failed[@]} -gt 0 ] && echo "families that failed in session 1: ${failed[*]}" | tee -a "$SUMMARY"

if [ "$DRY" = 1 ]; then # no cuBLAS on the emulated device: the same step on a cheap family
  step parity_gemm_cublas 25 env AXON_GEMM=cublas "${PARITY[@]}" "${tier[@]}" -v errors
else
  step parity_gemm_cublas 25 env AXON_GEMM=cublas "${PARITY[@]}" -v gemm
  step parity_autocast_cublas 15 env AXON_GEMM=cublas "${PARITY[@]}" -v autocast
fi
for f in "${failed[@]}"; do
  step "parity_${f}_no_tc" 25 env AXON_GEMM_WGMMA=0 AXON_ATTN_MMA=0 AXON_GEMM=native "${PARITY[@]}" "${tier[@]}" -v "$f"
done

text=$CARRY/data/fortunes.txt
[ -s "$text" ] || text=/usr/share/games/fortunes/fortunes
small=(--model gpt --dataset "text:$text" --n-layer 2 --n-embd 128 --steps 30 --eval-every 0 --eval-batches 2 --device cuda)
[ "$DRY" = 1 ] && small=(--model gpt --dataset "text:$text" --n-layer 1 --n-embd 32 --n-head 2 --block-size 32
                         --batch-size 2 --steps 2 --eval-every 0 --eval-batches 1 --device cuda)
step ddp_plain 40 "${AXON[@]}" train "${small[@]}" --save "$OUT/gpt_plain.safetensors"
if [ "$DRY" = 1 ]; then
  echo "ddp_nccl: not run in the dry run (no NCCL on the emulated device)" | tee -a "$SUMMARY"
else
  step ddp_nccl 40 "${AXON[@]}" train "${small[@]}" --ddp --save "$OUT/gpt_ddp.safetensors"
  { cmp -s "$OUT/gpt_plain.safetensors" "$OUT/gpt_ddp.safetensors" && echo "--ddp (NCCL) at world size 1: identical weights" \
      || echo "--ddp (NCCL) at world size 1: weights differ from the plain run"; } | tee -a "$SUMMARY"
  step allreduce 30 "${RUN[@]}" "$BIN/bench_allreduce" cuda
fi
echo "== done; results in $OUT"
