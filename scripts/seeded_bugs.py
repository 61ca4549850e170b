#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The seeded-bug check of the emulated device (docs/emulator.md).

Plants one deliberate bug at a time in a CUDA kernel, rebuilds the emulated
build, runs the parity family (emulate tier) or check that should catch it, and
expects it to fail; then restores the file, whatever happened. Every bug must be
caught: the script exits 1 if one is not.

    python3 scripts/seeded_bugs.py [BUILD_DIR] [BUG ...]

BUILD_DIR is a build configured with -DAXON_CUDA=EMULATE (default build-emu).
Each run recompiles one kernel file and relinks axon_parity: about a minute a bug
on two cores. Not part of ctest (it edits the source tree); run it by hand when
the emulator or the parity tier changes.
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, file, the exact text to replace (must occur once), its replacement,
# the axon_parity family that must fail, what the bug is
BUGS = [
    ("grid_stride_off_by_one", "kernels/cuda/pool.cu",
     "void max_fwd(T *y, int64_t *ind, const T *x, ax_pool_params p, int64_t total) {\n  typedef typename ax_acc<T>::type acc;\n"
     "  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {\n"
     "    int64_t ow = i % p.ow, t = i / p.ow, oh = t % p.oh, pl = t / p.oh;\n    const T *xp = x + pl * p.h * p.w;\n"
     "    int64_t h0",
     "void max_fwd(T *y, int64_t *ind, const T *x, ax_pool_params p, int64_t total) {\n  typedef typename ax_acc<T>::type acc;\n"
     "  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i <= total; i += (int64_t)gridDim.x * blockDim.x) {\n"
     "    int64_t ow = i % p.ow, t = i / p.ow, oh = t % p.oh, pl = t / p.oh;\n    const T *xp = x + pl * p.h * p.w;\n"
     "    int64_t h0",
     "pool", "max_pool2d forward: a grid-stride loop that runs one element past the end (i <= total)"),
    ("missing_syncthreads", "kernels/cuda/rows.cuh",
     "  if (lane == 0) sh[w] = v;\n  __syncthreads();\n",
     "  if (lane == 0) sh[w] = v;\n",
     "softmax", "block_reduce: the barrier between the warps' partial writes and warp 0's read removed"),
    ("wrong_shuffle_width", "kernels/cuda/norm.cu",
     "    x += __shfl_down_sync(0xffffffffu, x, o);\n    y += __shfl_down_sync(0xffffffffu, y, o);\n  }\n  int lane",
     "    x += __shfl_down_sync(0xffffffffu, x, o, 16);\n    y += __shfl_down_sync(0xffffffffu, y, o, 16);\n  }\n  int lane",
     "norm", "batch_norm block_sum2: the warp reduction shuffles with width 16 instead of 32"),
    ("broadcast_stride", "kernels/cuda/loops.cuh",
     "  if (F::nin > 1 && b1) s1 = *(const I1 *)p1;",
     "  if (F::nin > 1 && b1) s1 = ((const I1 *)p1)[threadIdx.x % 2];",
     "elementwise", "contiguous elementwise kernel: a broadcast second input read with stride 1 instead of 0"),
    ("unguarded_tail", "kernels/cuda/loops.cuh",
     "  const int64_t nvec = n / VEC;",
     "  const int64_t nvec = (n + VEC - 1) / VEC;",
     "elementwise", "contiguous elementwise kernel: the vector loop covers the tail without a bound check"),
    ("shared_memory_race", "kernels/cuda/layernorm.cu",
     "  sh[0][threadIdx.y][threadIdx.x] = s0;\n  sh[1][threadIdx.y][threadIdx.x] = s1;",
     "  sh[0][threadIdx.y / 2][threadIdx.x] = s0;\n  sh[1][threadIdx.y][threadIdx.x] = s1;",
     "layernorm", "column_sums_kernel: two threads store one shared slot (row y/2) between barriers"),
    ("non_contiguous_offset", "kernels/cuda/loops.cuh",
     "      int64_t r = (int64_t)(i - q * (uint32_t)size[d]);\n#pragma unroll\n      for (int k = 0; k < N; k++) off[k] += r * stride[d][k];",
     "      int64_t r = (int64_t)(i - q * (uint32_t)size[d]);\n#pragma unroll\n      for (int k = 0; k < N; k++) off[k] += r * stride[0][k];",
     "copy", "ax_plan::offsets32: every dim of a strided view stepped with the innermost dim's stride"),
    ("bf16_rounding", "kernels/cuda/copy.cu",
     "  static __device__ __forceinline__ T st(double v) { return __float2bfloat16((float)v); }",
     "  static __device__ __forceinline__ T st(double v) { return __float2bfloat16_rz((float)v); }",
     "copy", "cast to bf16 truncates (round toward zero) instead of rounding to nearest even"),
    ("reduction_skips_a_block", "kernels/cuda/reduce.cu",
     "    for (int s = 1; s < a.splits; s++) acc = op(acc, p[s]);",
     "    for (int s = 2; s < a.splits; s++) acc = op(acc, p[s]);",
     "reduce", "reduce_combine_kernel: the partial of the second block of a split reduction is skipped"),
    ("cp_async_wait_too_early", "kernels/cuda/gemm.cu",
     "      cp_async_wait<TC_STAGES - 2>();",
     "      cp_async_wait<TC_STAGES - 1>();",
     "gemm", "gemm_tc pipeline: waits for one cp.async group too few, so a stage is read before its data lands"),
]


def run(cmd, log):
    with open(log, "w") as f:
        return subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)


def last_lines(log, n=3):
    with open(log, errors="replace") as f:
        lines = [l.rstrip() for l in f if l.strip()]
    interesting = [l for l in lines if "FAIL" in l or "emulator" in l or "ERROR" in l or "race" in l]
    return (interesting[:2] + lines[-1:]) if interesting else lines[-n:]


def main():
    args = sys.argv[1:]
    build = args.pop(0) if args and not any(args[0] == b[0] for b in BUGS) else "build-emu"
    build = os.path.join(ROOT, build) if not os.path.isabs(build) else build
    wanted = [b for b in BUGS if not args or b[0] in args]
    logdir = os.path.join(build, "seeded-bugs")
    os.makedirs(logdir, exist_ok=True)
    env_ok = subprocess.call(["cmake", "--build", build, "-j2", "--target", "axon_parity"], cwd=ROOT,
                             stdout=subprocess.DEVNULL)
    if env_ok != 0:
        print("the unmodified build does not build")
        return 2
    missed = 0
    for name, path, old, new, family, what in wanted:
        full = os.path.join(ROOT, path)
        with open(full) as f:
            original = f.read()
        if original.count(old) != 1:
            print(f"{name}: the text to replace occurs {original.count(old)} times in {path}; update the script")
            missed += 1
            continue
        t0 = time.time()
        try:
            with open(full, "w") as f:
                f.write(original.replace(old, new))
            blog = os.path.join(logdir, name + ".build.log")
            if run(["cmake", "--build", build, "-j2", "--target", "axon_parity"], blog) != 0:
                verdict, detail = "caught (does not compile)", last_lines(blog)
            else:
                plog = os.path.join(logdir, name + ".log")
                rc = run([os.path.join(build, "axon_parity"), "--tier", "emulate", family], plog)
                verdict = "caught" if rc != 0 else "MISSED"
                detail = last_lines(plog)
        finally:
            with open(full, "w") as f:
                f.write(original)
        if verdict == "MISSED":
            missed += 1
        print(f"{verdict:8s} {name:26s} {family:12s} {time.time() - t0:5.0f} s  {what}")
        for line in detail:
            print("           " + line[:200])
        sys.stdout.flush()
    subprocess.call(["cmake", "--build", build, "-j2", "--target", "axon_parity"], cwd=ROOT, stdout=subprocess.DEVNULL)
    print(f"{len(wanted) - missed} of {len(wanted)} seeded bugs caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
