/* SPDX-License-Identifier: BSD-3-Clause */
/* gemm_wgmma: bf16/f16 GEMM on Hopper's warpgroup tensor cores (wgmma, sm_90a),
 * f32 accumulation; included by gemm.cu, whose gemm_params, tile order, chunk
 * copy and conversions it shares.
 *
 * A block of two warpgroups (256 threads) computes a 128 x BN tile of C (BN 256
 * for large products, 128 when that would leave SMs idle); warpgroup w owns rows
 * 64w .. 64w+63 and issues wgmma.mma_async.m64nBNk16 with A and B read from shared
 * memory through matrix descriptors, BN/2 f32 accumulators per thread. k advances
 * in steps of 64 through a 4-stage cp.async ring (48 KiB a stage at BN 256: 193 KiB
 * of shared memory with the 1 KiB spent on alignment; 129 KiB at BN 128): every
 * thread copies its 16-byte chunks of tile t+2 while the tensor cores work on
 * tiles t and t-1.
 *
 * Shared-memory layout: the 128-byte swizzle, the one fast Hopper kernels use
 * (cuBLAS, CUTLASS): a 64-deep k-tile of 16-bit elements is exactly one 128-byte
 * swizzle row, so plain 16-byte cp.async copies fill it and both those stores and
 * the tensor cores' reads spread over all banks. An operand tile is stored with
 * its contiguous dimension in 128-byte rows (64 elements) and the 16-byte chunk j
 * of row r lands at chunk j ^ (r % 8); the hardware applies this XOR to bits 4-6
 * of the absolute shared address, so tiles start on 1024-byte boundaries. K-major
 * tiles (A, or B transposed) are BMN rows of the 64 k values: 8-row groups 1024
 * bytes apart (the descriptor's stride offset), a k16 step moves the start by 32
 * bytes. MN-major tiles (A transposed, B) are 64-wide column blocks of 64 k rows:
 * 8-k groups 1024 bytes apart (stride offset), column blocks 8 KiB apart (leading
 * offset), a k16 step moves the start by 2 KiB. wgmma's transpose flags say which
 * form each operand has, so no transpose is ever copied.
 *
 * Ordering, per k-tile t: cp.async.wait_group (this thread's copies of tile t
 * landed), fence.proxy.async (they become visible to the tensor cores, which read
 * through the async proxy), __syncthreads (everyone's did, and every warpgroup's
 * wgmma of tile t-2 has completed: its stage is free), wgmma.fence, four
 * mma_async on tile t, commit_group, the copies of tile t+2 into the free stage,
 * and wait_group 1, which retires tile t-1 and leaves tile t's group in flight
 * into the next iteration. The accumulators are read only after wait_group 0. */

#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || defined(AX_CUDA_EMULATE)
#define AX_GEMM_HAVE_WGMMA 1
#else
#define AX_GEMM_HAVE_WGMMA 0
#endif

#define WG_BM 128
#define WG_BK 64 /* 128 bytes of 16-bit elements: one swizzle row */
#define WG_STAGES 4
#define WG_THREADS 256
#define WG_ROW_BYTES 128
#define WG_A_BYTES (WG_BM * WG_BK * 2)
/* BN (128 or 256) is the block tile's width and the wgmma N; a thread holds BN/2 accumulators */
__host__ __device__ constexpr int wg_b_bytes(int bn) { return bn * WG_BK * 2; }
__host__ __device__ constexpr size_t wg_smem_bytes(int bn) {
  return (size_t)WG_STAGES * (WG_A_BYTES + wg_b_bytes(bn)) + 1024;
}

#if defined(AX_CUDA_EMULATE)
static inline unsigned wg_smem_addr(const void *p) { return ax_emu_smem_addr(p); }
static inline void fence_proxy_async(void) { ax_emu_fence_proxy_async(); }
static inline void wgmma_fence(void) { ax_emu_wgmma_fence(); }
static inline void wgmma_commit(void) { ax_emu_wgmma_commit(); }
template <int N> static inline void wgmma_wait(void) { ax_emu_wgmma_wait(N); }
template <typename T, int N, int TRANS_A, int TRANS_B>
static inline void wgmma_m64k16(float (&d)[N / 2], uint64_t da, uint64_t db) {
  ax_emu_wgmma<T>(d, N, da, db, TRANS_A, TRANS_B, true);
}
template <int N> static inline void wg_fence_acc(float (&)[N]) {}
#else
__device__ __forceinline__ unsigned wg_smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

/* this thread's generic-proxy writes to shared memory (cp.async, st.shared) become
 * visible to the async proxy the tensor cores read through */
__device__ __forceinline__ void fence_proxy_async(void) {
#if AX_GEMM_HAVE_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_fence(void) {
#if AX_GEMM_HAVE_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit(void) {
#if AX_GEMM_HAVE_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N> __device__ __forceinline__ void wgmma_wait(void) {
#if AX_GEMM_HAVE_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
/* keeps the compiler from moving accumulator accesses across the fence/wait above */
template <int N> __device__ __forceinline__ void wg_fence_acc(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}

#define WG_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
                 "+f"(d[i + 6]), "+f"(d[i + 7])
/* wgmma.mma_async.m64n<N>k16.f32.<ty>.<ty> with the accumulators first, then the two
 * descriptors, scale-d (1: accumulate) and the transpose flags */
#define WG_MMA_(ty, N, REGS, DA, DB, SCALE, TA, TB, ...)                                         \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SCALE ", 0;\n"                                 \
               "wgmma.mma_async.sync.aligned.m64n" N "k16.f32." ty "." ty " {" REGS "}, " DA ", " DB \
               ", p, 1, 1, " TA ", " TB ";\n}\n"                                                    \
               : __VA_ARGS__                                                                       \
               : "l"(da), "l"(db), "r"(1), "n"(TRANS_A), "n"(TRANS_B))
#define WG_REGS64 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define WG_REGS128 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define WG_OUT64 WG_D8(0), WG_D8(8), WG_D8(16), WG_D8(24), WG_D8(32), WG_D8(40), WG_D8(48), WG_D8(56)
#define WG_OUT128 \
  WG_OUT64, WG_D8(64), WG_D8(72), WG_D8(80), WG_D8(88), WG_D8(96), WG_D8(104), WG_D8(112), WG_D8(120)
#define WG_MMA(...) WG_MMA_(__VA_ARGS__) /* expands WG_IN and WG_OUT into their operands first */
#define WG_IN64 "%64", "%65", "%66", "%67", "%68"
#define WG_IN128 "%128", "%129", "%130", "%131", "%132"

/* D (64 x N, f32) += A (64 x 16) B (16 x N); TRANS_A / TRANS_B are the instruction's
 * imm-trans-a / imm-trans-b: 0 for a K-major operand, 1 for M-major A / N-major B. */
template <typename T, int N, int TRANS_A, int TRANS_B>
__device__ __forceinline__ void wgmma_m64k16(float (&d)[N / 2], uint64_t da, uint64_t db) {
  static_assert(N == 128 || N == 256, "the wgmma shapes wrapped here");
#if AX_GEMM_HAVE_WGMMA
  constexpr bool f16 = std::is_same<T, __half>::value;
  if constexpr (N == 128 && f16) WG_MMA("f16", "128", WG_REGS64, WG_IN64, WG_OUT64);
  else if constexpr (N == 128) WG_MMA("bf16", "128", WG_REGS64, WG_IN64, WG_OUT64);
  else if constexpr (f16) WG_MMA("f16", "256", WG_REGS128, WG_IN128, WG_OUT128);
  else WG_MMA("bf16", "256", WG_REGS128, WG_IN128, WG_OUT128);
#endif
}
#endif /* AX_GEMM_EMULATE */

/* the 128-byte swizzle: bits 4-6 (16-byte chunk) ^= bits 7-9 (row within 8) */
__host__ __device__ __forceinline__ unsigned wg_swizzle(unsigned off) { return off ^ ((off >> 3) & 0x70u); }

/* A shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"), 128-byte swizzle. */
__device__ __forceinline__ uint64_t wg_desc(const unsigned char *tile, unsigned offset, unsigned lbo, unsigned sbo) {
  unsigned addr = wg_smem_addr(tile) + offset;
  return (uint64_t)((addr & 0x3FFFFu) >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32 |
         (uint64_t)1 << 62;
}

/* The descriptor of k16 step ks of a tile whose MN extent starts at mn (a multiple of 64). */
template <bool KMAJOR>
__device__ __forceinline__ uint64_t wg_tile_desc(const unsigned char *tile, int mn, int ks) {
  if (KMAJOR) /* rows of 128 bytes, 8-row groups 1024 apart; leading offset unused (1) */
    return wg_desc(tile, mn * WG_ROW_BYTES + ks * 32, 16, 8 * WG_ROW_BYTES);
  /* 64-wide column blocks of WG_BK rows; 8-k groups 1024 apart */
  return wg_desc(tile, (mn / 64) * WG_BK * WG_ROW_BYTES + ks * 16 * WG_ROW_BYTES, WG_BK * WG_ROW_BYTES,
                 8 * WG_ROW_BYTES);
}

/* Copies one operand's BMN x WG_BK tile (mn0, k0) into the swizzled layout above. */
template <typename T, bool KMAJOR, int BMN>
__device__ __forceinline__ void wg_load_tile(unsigned char *s, const T *p, int64_t ld, int64_t mn0, int64_t k0,
                                             int64_t MN, int64_t K) {
  constexpr int CHUNKS = BMN * WG_BK / 8;
  static_assert(CHUNKS % WG_THREADS == 0, "the threads split the tile evenly");
#pragma unroll
  for (int i = 0; i < CHUNKS / WG_THREADS; i++) {
    const int c = threadIdx.x + i * WG_THREADS;
    const T *src;
    unsigned linear;
    int64_t valid;
    if (KMAJOR) {
      int row = c / (WG_BK / 8), kc = c % (WG_BK / 8);
      linear = row * WG_ROW_BYTES + kc * 16;
      src = p + (mn0 + row) * ld + (k0 + kc * 8);
      valid = mn0 + row < MN ? K - (k0 + kc * 8) : 0;
    } else {
      int kr = c / (BMN / 8), mc = c % (BMN / 8);
      linear = (mc / 8) * (WG_BK * WG_ROW_BYTES) + kr * WG_ROW_BYTES + (mc % 8) * 16;
      src = p + (k0 + kr) * ld + (mn0 + mc * 8);
      valid = k0 + kr < K ? MN - (mn0 + mc * 8) : 0;
    }
    gemm_copy_chunk(reinterpret_cast<T *>(s + wg_swizzle(linear)), src, p, valid);
  }
}

template <typename T, int BN, bool TA, bool TB>
__global__ void __launch_bounds__(WG_THREADS, 1) gemm_wgmma(gemm_params p) {
#if AX_GEMM_HAVE_WGMMA
  constexpr bool A_K = !TA, B_K = TB; /* is k the contiguous dim of the stored tile */
  constexpr int IMM_TRANS_A = A_K ? 0 : 1, IMM_TRANS_B = B_K ? 0 : 1;
  constexpr int AHEAD = WG_STAGES - 2; /* tiles in flight: the stage of tile t-1 may still be read */
  AX_DYNAMIC_SMEM(unsigned char, wg_raw);
  unsigned char *sA = wg_raw + ((1024u - (wg_smem_addr(wg_raw) & 1023u)) & 1023u);
  unsigned char *sB = sA + WG_STAGES * WG_A_BYTES;
  constexpr int B_BYTES = wg_b_bytes(BN);

  int tm, tn;
  gemm_tile_of(blockIdx.x, p.tiles_m, p.tiles_n, &tm, &tn);
  const int64_t m0 = (int64_t)tm * WG_BM, n0 = (int64_t)tn * BN;
  const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const int ntiles = (int)((p.k + WG_BK - 1) / WG_BK);
  const float alpha = (float)p.alpha, beta = (float)p.beta;

  for (int64_t bz = blockIdx.z; bz < p.batch; bz += gridDim.z) {
    const T *a = (const T *)p.a + bz * p.stride_a;
    const T *b = (const T *)p.b + bz * p.stride_b;
    T *c = (T *)p.c + bz * p.stride_c;

    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;

#pragma unroll
    for (int s = 0; s < AHEAD; s++) {
      if (s < ntiles) {
        wg_load_tile<T, A_K, WG_BM>(sA + s * WG_A_BYTES, a, p.lda, m0, (int64_t)s * WG_BK, p.m, p.k);
        wg_load_tile<T, B_K, BN>(sB + s * B_BYTES, b, p.ldb, n0, (int64_t)s * WG_BK, p.n, p.k);
      }
      cp_async_commit();
    }

    for (int t = 0; t < ntiles; t++) {
      cp_async_wait<AHEAD - 1>();
      fence_proxy_async();
      __syncthreads();
      /* the tensor cores start on tile t, then the copies of tile t+2 go out behind them */
      const unsigned char *tA = sA + (t % WG_STAGES) * WG_A_BYTES, *tB = sB + (t % WG_STAGES) * B_BYTES;
      wg_fence_acc(acc);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < WG_BK / 16; ks++)
        wgmma_m64k16<T, BN, IMM_TRANS_A, IMM_TRANS_B>(acc, wg_tile_desc<A_K>(tA, wg * 64, ks),
                                                      wg_tile_desc<B_K>(tB, 0, ks));
      wgmma_commit();

      const int next = t + AHEAD;
      if (next < ntiles) {
        const int st = next % WG_STAGES;
        wg_load_tile<T, A_K, WG_BM>(sA + st * WG_A_BYTES, a, p.lda, m0, (int64_t)next * WG_BK, p.m, p.k);
        wg_load_tile<T, B_K, BN>(sB + st * B_BYTES, b, p.ldb, n0, (int64_t)next * WG_BK, p.n, p.k);
      }
      cp_async_commit();
      wgmma_wait<1>();
      wg_fence_acc(acc);
    }
    wgmma_wait<0>();
    wg_fence_acc(acc);
    /* drain (only empty groups can be pending) and free the stages for the next batch */
    cp_async_wait<0>();
    __syncthreads();

    /* epilogue: register 4j + 2h + e holds row 16 warp + g + 8h, column 8j + 2q + e of
     * this warpgroup's 64 x 128 piece (the m64nNk16 accumulator layout) */
    const int g = lane / 4, q = lane % 4;
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t row = m0 + wg * 64 + warp * 16 + g + h * 8;
      if (row >= p.m) continue;
#pragma unroll
      for (int j = 0; j < BN / 8; j++) {
        const int64_t col = n0 + j * 8 + 2 * q;
        T *dst = c + row * p.ldc + col;
        float v0 = alpha * acc[4 * j + 2 * h], v1 = alpha * acc[4 * j + 2 * h + 1];
        if (p.pair_c && col + 1 < p.n) {
          gemm_vec<T, 2> o;
          if (beta != 0.f) {
            o = *reinterpret_cast<const gemm_vec<T, 2> *>(dst);
            v0 += beta * gemm_in(o.v[0]);
            v1 += beta * gemm_in(o.v[1]);
          }
          o.v[0] = ax_from_f<T>(v0);
          o.v[1] = ax_from_f<T>(v1);
          *reinterpret_cast<gemm_vec<T, 2> *>(dst) = o;
        } else {
          if (col < p.n) dst[0] = ax_from_f<T>(beta != 0.f ? v0 + beta * gemm_in(dst[0]) : v0);
          if (col + 1 < p.n) dst[1] = ax_from_f<T>(beta != 0.f ? v1 + beta * gemm_in(dst[1]) : v1);
        }
      }
    }
  }
#else
  __trap(); /* the host launches this only where the probe found sm_90a code */
#endif
}

#if !defined(AX_GEMM_EMULATE)
/* Written by every device pass: tells the host whether the code running on a device has wgmma. */
__global__ void gemm_wgmma_probe(int *out) { *out = AX_GEMM_HAVE_WGMMA; }
#endif
