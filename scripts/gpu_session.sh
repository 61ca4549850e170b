#!/usr/bin/env bash
# Everything a session with a lent GPU should run, in one command (the device
# machine starts bare: CMake and nvcc, no apt, no Criterion; cuDNN and NCCL may
# live inside PyTorch's Python packages). Builds for sm_90a (wgmma), runs the whole GPU
# parity suite (native and vendor alternates), the kernel benchmarks and the
# GPT-2 124M training benchmark against the PyTorch found there, and leaves the
# logs in $OUT (default ./gpu-out) for docs/benchmarks.md.
#   OUT=/tmp/out bash scripts/gpu_session.sh [parity|bench|gpt|dist|all]   # default all
# The GPT benchmark reads text from $AXON_TEXT (default: Debian's fortunes; carry a
# copy to a machine that lacks it). From a session with the `device` tool:
#   mkdir -p gpu-data && cp -r /usr/share/games/fortunes gpu-data/      # ignored by git
#   run(command="AXON_TEXT=gpu-data/fortunes OUT=$OUT bash scripts/gpu_session.sh all",
#       carry=["gpu-data"], timeout_s=600)
# It has never run on a GPU yet; an estimate is 10 minutes on 16 cores (build, parity, benchmarks):
# if a call's limit is tight, run `parity`, `bench` and `gpt` as separate calls (each
# rebuilds only what changed in build-gpu, which persists between calls on a warm machine).
# Then record date, GPU, commit and the numbers in docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# cuDNN / NCCL from the toolkit, else from pip's nvidia-* packages
site=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
hints=()
for s in $site; do
  [ -d "$s/nvidia/cudnn" ] && hints+=("-DAXON_CUDNN_ROOT=$s/nvidia/cudnn")
  [ -d "$s/nvidia/nccl" ] && hints+=("-DAXON_NCCL_ROOT=$s/nvidia/nccl")
done
for s in $site; do
  for lib in "$s"/nvidia/*/lib; do [ -d "$lib" ] && export LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"; done
done
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DAXON_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a "${hints[@]}" \
  > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
grep -E '^-- Axon' "$OUT/configure.txt"
cmake --build build-gpu -j"$(nproc)" > "$OUT/build.txt" 2>&1 || { grep -E 'error' "$OUT/build.txt" | head -30; exit 1; }
./build-gpu/axon info | tee "$OUT/info.txt"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "commit $commit, $(date -u +%Y-%m-%d)" | tee -a "$OUT/info.txt"

# Each parity family runs in its own process under a time limit, so a kernel that hangs
# or faults on real hardware costs its family's log, not the session's other results.
families=$(./build-gpu/axon_parity --help 2>&1 | sed -n 's/^families://p')
parity_family() { # LOG [VAR=VALUE ...]: $family with that environment; its exit status (124: timed out) ends LOG
  local log=$1; shift
  env "$@" timeout "${PARITY_TIMEOUT:-120}" ./build-gpu/axon_parity -v "$family" >> "$log" 2>&1
  echo "exit $? ($family)" >> "$log"
}
if [ "$what" = all ] || [ "$what" = parity ]; then
  echo "== parity, one process per family (per-family logs in $OUT/parity_*.txt)"
  for family in $families; do
    parity_family "$OUT/parity_$family.txt"
    printf '%-16s %s  %s\n' "$family" "$(grep -E 'cases, [0-9]+ passed' "$OUT/parity_$family.txt" | tail -1)" \
      "$(grep -E '^exit' "$OUT/parity_$family.txt" | tail -1)"
  done | tee "$OUT/parity_summary.txt"
  echo "== vendor alternates (cuBLAS GEMM, cuDNN convolution) and the tensor-core paths off"
  for family in gemm autocast; do parity_family "$OUT/parity_cublas.txt" AXON_GEMM=cublas; done
  family=conv; parity_family "$OUT/parity_cudnn_conv.txt" AXON_CONV=cudnn
  for family in gemm attention; do parity_family "$OUT/parity_no_tensor_core_paths.txt" AXON_GEMM_WGMMA=0 AXON_ATTN_MMA=0; done
  grep -h -E '^(exit|FAIL)' "$OUT/parity_cublas.txt" "$OUT/parity_cudnn_conv.txt" "$OUT/parity_no_tensor_core_paths.txt" | head -40
fi

if [ "$what" = all ] || [ "$what" = bench ]; then
  echo "== kernel benchmarks"
  timeout 400 ./build-gpu/axon bench --device cuda --json "$OUT/bench.json" > "$OUT/bench.txt" 2>&1
  echo "exit $?" >> "$OUT/bench.txt"
  tail -60 "$OUT/bench.txt"
  [ -x ./build-gpu/benchmarks/bench_attention ] && ./build-gpu/benchmarks/bench_attention > "$OUT/bench_attention.txt" 2>&1
fi

if [ "$what" = all ] || [ "$what" = gpt ]; then
  text=${AXON_TEXT:-/usr/share/games/fortunes}
  echo "== GPT-2 124M (12 layers, 768 wide, T=1024, vocabulary 50257, bf16) on the bytes of $text"
  gpt=(--n-layer 12 --n-head 12 --n-embd 768 --block-size 1024 --batch-size 16 --vocab-size 50257)
  timeout 300 ./build-gpu/axon train --model gpt --dataset "text:$text" "${gpt[@]}" --precision bf16 --steps 40 --log-every 5 \
    --eval-every 0 --eval-batches 2 --warmup-steps 5 --no-save --device cuda --metrics "$OUT/axon_gpt2.jsonl" \
    > "$OUT/axon_gpt2.txt" 2>&1
  tail -12 "$OUT/axon_gpt2.txt"
  if python3 -c 'import torch' 2>/dev/null; then
    for mode in "" "--compile"; do
      python3 benchmarks/bench_gpt_torch.py --data "$text" --device cuda --dtype bf16 $mode --n-layer 12 --n-head 12 \
        --n-embd 768 --block-size 1024 --batch-size 16 --vocab-size 50257 --steps 40 --skip-steps 5 --eval-every 1000 --eval-batches 2 \
        --time-limit 300 --peak-tflops 989 2>&1 | tail -1 | tee -a "$OUT/torch_gpt2.jsonl"
    done
  fi
fi
if [ "$what" = all ] || [ "$what" = dist ]; then
  text=${AXON_TEXT:-/usr/share/games/fortunes}
  echo "== DDP through NCCL at world size 1 (--ddp) against the plain run: a small GPT, 30 steps"
  small=(--model gpt --dataset "text:$text" --n-layer 2 --n-embd 128 --steps 30 --eval-every 0 --eval-batches 2 --device cuda)
  for run in plain plain2 ddp; do
    flag=(); [ "$run" = ddp ] && flag=(--ddp)
    timeout 200 ./build-gpu/axon train "${small[@]}" "${flag[@]}" --save "$OUT/gpt_$run.safetensors" > "$OUT/dist_$run.txt" 2>&1
  done
  { cmp -s "$OUT/gpt_plain.safetensors" "$OUT/gpt_plain2.safetensors" && echo "plain twice: identical weights" \
      || echo "plain twice: weights differ (the GPU run is not deterministic: compare --ddp with a tolerance)"
    cmp -s "$OUT/gpt_plain.safetensors" "$OUT/gpt_ddp.safetensors" && echo "--ddp (NCCL): identical weights" \
      || echo "--ddp (NCCL): weights differ from the plain run"
    grep -h "data parallel" "$OUT/dist_ddp.txt"; } | tee "$OUT/dist.txt"
  echo "== NCCL all_reduce bandwidth, one rank"
  timeout 120 ./build-gpu/bench_allreduce cuda > "$OUT/allreduce.txt" 2>&1; tail -20 "$OUT/allreduce.txt"
fi

echo "== logs in $OUT"
