/* SPDX-License-Identifier: BSD-3-Clause */
/* GEMM on the GPU, written by us (the ax_gemm_args contract of kernels/backend.h:
 * row-major, transposes, leading dimensions, strided batches, alpha/beta).
 *
 * Two kernels:
 *  - gemm_simt: CUDA-core tiles for f32 and f64 (and the fallback for bf16/f16
 *    operands the tensor-core kernel cannot take). A block computes a BM x BN
 *    tile of C in steps of BK = 8; every thread owns a TT x TT register tile
 *    (8x8 for f32, 4x4 for f64, whose 8x8 would spill) split in four quarters
 *    (rows ty*TT/2 and BM/2 + ty*TT/2) so that a warp's vector reads of shared
 *    memory are conflict-free. The next k-step is loaded from
 *    global memory into registers while the current one is multiplied (double
 *    buffered shared memory, one barrier per step).
 *  - gemm_tc: bf16/f16 on tensor cores (sm_80+): mma.sync m16n8k16 with f32
 *    accumulators, fragments read with ldmatrix, a 3-stage cp.async pipeline.
 *    128x128x32 block tile, 8 warps of 64x32.
 *  - gemm_wgmma (gemm_wgmma.cuh): bf16/f16 on Hopper's warpgroup MMA (wgmma,
 *    sm_90a only): 128x256x64 block tile (128x128x64 when the product has fewer
 *    tiles than SMs), two warpgroups, a 4-stage cp.async ring into 128-byte-
 *    swizzled shared memory read through matrix descriptors.
 *
 * Transposes cost nothing: each operand tile is either "K-major" (k is the
 * contiguous dim: A not transposed, B transposed) or "MN-major" (A transposed,
 * B not transposed), and the loaders read either form into the layout the
 * inner loop wants. Edge tiles are guarded (out-of-range elements load as 0,
 * out-of-range outputs are not written), so any m, n, k works. Batches run
 * over blockIdx.z with the operands' strides (0 broadcasts). beta == 0 never
 * reads C (it may hold NaN).
 *
 * Which implementation runs (ours or cuBLAS, gemm_cublas.cu) is chosen per
 * dtype: AXON_GEMM=native|cublas in the environment (read once) or
 * ax_cuda_gemm_set_impl() from tests and the benchmark. Without either, every
 * dtype runs on cuBLAS (on the emulated device, which has none, here) until a
 * GPU benchmark shows ours faster (docs/benchmarks.md).
 *
 * Native bf16/f16 with 16-byte aligned rows run gemm_wgmma on a compute
 * capability 9.0 device when the build has sm_90a code (CMAKE_CUDA_ARCHITECTURES
 * with 90a, the default; a one-time probe kernel tells), gemm_tc otherwise.
 * AXON_GEMM_WGMMA=0 in the environment (read once) keeps Hopper on gemm_tc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "axon/settings.h"

/* ---- parameters shared by both kernels ---- */

struct gemm_params {
  const void *a, *b;
  void *c;
  int64_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
  double alpha, beta;
  int tiles_m, tiles_n;
  bool vec_a, vec_b, vec_c; /* 4-element vector access is aligned for this operand */
  bool pair_c;              /* 2-element access to C is aligned */
};

/* Tile (tm, tn) of linear block id `pid`, walking the tiles in column strips of
 * GROUP_M tile rows so that blocks running together share A and B panels in L2. */
__device__ __forceinline__ void gemm_tile_of(int pid, int tiles_m, int tiles_n, int *tm, int *tn) {
  const int GROUP_M = 8;
  int per_group = GROUP_M * tiles_n;
  int group = pid / per_group;
  int first_m = group * GROUP_M;
  int size_m = min(tiles_m - first_m, GROUP_M);
  int in_group = pid - group * per_group;
  *tm = first_m + in_group % size_m;
  *tn = in_group / size_m;
}

/* Element conversion between storage type T and the accumulation type. */
__device__ __forceinline__ float gemm_in(float v) { return v; }
__device__ __forceinline__ double gemm_in(double v) { return v; }
__device__ __forceinline__ float gemm_in(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float gemm_in(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T gemm_out(float v) { return ax_from_f<T>(v); }
template <typename T> __device__ __forceinline__ T gemm_out(double v) { return (T)v; }

template <typename T, int N> struct alignas(N * sizeof(T)) gemm_vec { T v[N]; };
template <typename T> using gemm_vec4 = gemm_vec<T, 4>;

/* ---- gemm_simt: CUDA cores ---- */
/* A thread owns a TT x TT register tile made of four (TT/2)x(TT/2) quarters. */

#define SIMT_BK 8
#define SIMT_PAD 4 /* keeps the transposing stores of K-major tiles conflict-free */

/* Loads one operand's BMN x BK tile (mn0, k0) from global memory into registers
 * and stores it to shared memory as s[k][mn]. */
template <typename T, typename Acc, bool KMAJOR, int BMN, int THREADS>
struct simt_loader {
  static constexpr int GROUPS = BMN * SIMT_BK / 4 / THREADS;
  static_assert(GROUPS * THREADS * 4 == BMN * SIMT_BK, "the threads split the tile evenly");
  Acc r[GROUPS][4];

  /* position (mn, kk) of the first of the 4 consecutive elements of group c */
  __device__ __forceinline__ static void where(int c, int *mn, int *kk) {
    if (KMAJOR) {
      *mn = c / (SIMT_BK / 4);
      *kk = (c % (SIMT_BK / 4)) * 4;
    } else {
      *kk = c / (BMN / 4);
      *mn = (c % (BMN / 4)) * 4;
    }
  }

  __device__ __forceinline__ void load(const T *p, int64_t ld, int64_t mn0, int64_t k0, int64_t MN, int64_t K,
                                       bool vec) {
#pragma unroll
    for (int g = 0; g < GROUPS; g++) {
      int mn, kk;
      where(threadIdx.x + g * THREADS, &mn, &kk);
      int64_t gm = mn0 + mn, gk = k0 + kk;
      const T *src = KMAJOR ? p + gm * ld + gk : p + gk * ld + gm;
      bool full = KMAJOR ? (gm < MN && gk + 3 < K) : (gk < K && gm + 3 < MN);
      if (vec && full) {
        gemm_vec4<T> x = *reinterpret_cast<const gemm_vec4<T> *>(src);
#pragma unroll
        for (int i = 0; i < 4; i++) r[g][i] = gemm_in(x.v[i]);
      } else {
#pragma unroll
        for (int i = 0; i < 4; i++) {
          bool ok = KMAJOR ? (gm < MN && gk + i < K) : (gk < K && gm + i < MN);
          r[g][i] = ok ? (Acc)gemm_in(src[i]) : (Acc)0;
        }
      }
    }
  }

  __device__ __forceinline__ void store(Acc (*s)[BMN + SIMT_PAD]) const {
#pragma unroll
    for (int g = 0; g < GROUPS; g++) {
      int mn, kk;
      where(threadIdx.x + g * THREADS, &mn, &kk);
#pragma unroll
      for (int i = 0; i < 4; i++) {
        if (KMAJOR) s[kk + i][mn] = r[g][i];
        else s[kk][mn + i] = r[g][i];
      }
    }
  }
};

template <typename T, typename Acc, int BM, int BN, int TT, bool TA, bool TB>
__global__ void __launch_bounds__((BM / TT) * (BN / TT)) gemm_simt(gemm_params p) {
  constexpr int THREADS = (BM / TT) * (BN / TT), H = TT / 2;
  static_assert(BM * SIMT_BK / 4 >= THREADS && BN * SIMT_BK / 4 >= THREADS, "every thread loads a group");
  AX_SHARED_ALIGNED(32, Acc, As, [2][SIMT_BK][BM + SIMT_PAD]);
  AX_SHARED_ALIGNED(32, Acc, Bs, [2][SIMT_BK][BN + SIMT_PAD]);

  int tm, tn;
  gemm_tile_of(blockIdx.x, p.tiles_m, p.tiles_n, &tm, &tn);
  const int64_t m0 = (int64_t)tm * BM, n0 = (int64_t)tn * BN;
  const int tx = threadIdx.x % (BN / TT), ty = threadIdx.x / (BN / TT);
  const int ntiles = (int)((p.k + SIMT_BK - 1) / SIMT_BK);
  const Acc alpha = (Acc)p.alpha, beta = (Acc)p.beta;

  for (int64_t bz = blockIdx.z; bz < p.batch; bz += gridDim.z) {
    const T *a = (const T *)p.a + bz * p.stride_a;
    const T *b = (const T *)p.b + bz * p.stride_b;
    T *c = (T *)p.c + bz * p.stride_c;

    simt_loader<T, Acc, !TA, BM, THREADS> la;
    simt_loader<T, Acc, TB, BN, THREADS> lb;
    Acc acc[TT][TT];
#pragma unroll
    for (int i = 0; i < TT; i++)
#pragma unroll
      for (int j = 0; j < TT; j++) acc[i][j] = 0;

    if (ntiles > 0) {
      la.load(a, p.lda, m0, 0, p.m, p.k, p.vec_a);
      lb.load(b, p.ldb, n0, 0, p.n, p.k, p.vec_b);
      la.store(As[0]);
      lb.store(Bs[0]);
      __syncthreads();
    }
    for (int t = 0; t < ntiles; t++) {
      const int cur = t & 1;
      const bool more = t + 1 < ntiles;
      if (more) {
        la.load(a, p.lda, m0, (int64_t)(t + 1) * SIMT_BK, p.m, p.k, p.vec_a);
        lb.load(b, p.ldb, n0, (int64_t)(t + 1) * SIMT_BK, p.n, p.k, p.vec_b);
      }
#pragma unroll
      for (int kk = 0; kk < SIMT_BK; kk++) {
        typedef gemm_vec<Acc, H> vec;
        vec a_lo = *reinterpret_cast<const vec *>(&As[cur][kk][ty * H]);
        vec a_hi = *reinterpret_cast<const vec *>(&As[cur][kk][BM / 2 + ty * H]);
        vec b_lo = *reinterpret_cast<const vec *>(&Bs[cur][kk][tx * H]);
        vec b_hi = *reinterpret_cast<const vec *>(&Bs[cur][kk][BN / 2 + tx * H]);
        Acc av[TT], bv[TT];
#pragma unroll
        for (int i = 0; i < H; i++) {
          av[i] = a_lo.v[i];
          av[i + H] = a_hi.v[i];
          bv[i] = b_lo.v[i];
          bv[i + H] = b_hi.v[i];
        }
#pragma unroll
        for (int i = 0; i < TT; i++)
#pragma unroll
          for (int j = 0; j < TT; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
      }
      if (more) {
        la.store(As[cur ^ 1]);
        lb.store(Bs[cur ^ 1]);
      }
      __syncthreads();
    }

    /* epilogue: C = alpha acc + beta C, vectorized where aligned and in range
     * (vec_c is the 4-element alignment, which implies H-element alignment) */
#pragma unroll
    for (int i = 0; i < TT; i++) {
      int64_t row = m0 + (i / H) * (BM / 2) + ty * H + (i % H);
      if (row >= p.m) continue;
#pragma unroll
      for (int h = 0; h < 2; h++) {
        int64_t col = n0 + h * (BN / 2) + tx * H;
        T *dst = c + row * p.ldc + col;
        if (p.vec_c && col + H - 1 < p.n) {
          gemm_vec<T, H> o, old;
          if (beta != (Acc)0) old = *reinterpret_cast<const gemm_vec<T, H> *>(dst);
#pragma unroll
          for (int j = 0; j < H; j++) {
            Acc v = alpha * acc[i][h * H + j];
            if (beta != (Acc)0) v += beta * (Acc)gemm_in(old.v[j]);
            o.v[j] = gemm_out<T>(v);
          }
          *reinterpret_cast<gemm_vec<T, H> *>(dst) = o;
        } else {
#pragma unroll
          for (int j = 0; j < H; j++) {
            if (col + j >= p.n) break;
            Acc v = alpha * acc[i][h * H + j];
            if (beta != (Acc)0) v += beta * (Acc)gemm_in(dst[j]);
            dst[j] = gemm_out<T>(v);
          }
        }
      }
    }
  }
}

/* ---- gemm_tc: tensor cores, bf16/f16 in, f32 accumulate ---- */

#define TC_BM 128
#define TC_BN 128
#define TC_BK 32
#define TC_PAD 8 /* 16 bytes: rows land on distinct bank groups for ldmatrix */
#define TC_STAGES 3
#define TC_THREADS 256

/* shared-memory elements of one stage of an operand tile, K-major [BMN][BK+PAD] or MN-major [BK][BMN+PAD] */
__host__ __device__ constexpr int tc_tile_elems(bool kmajor, int bmn) {
  return kmajor ? bmn * (TC_BK + TC_PAD) : TC_BK * (bmn + TC_PAD);
}

/* The PTX the tensor-core kernel uses, one wrapper each. Built with
 * AX_GEMM_EMULATE (tests/parity/gemm_emulate.cpp), the kernels compile as host
 * C++ and these come from the emulator (tests/parity/cuda_emulate.h), which runs a
 * block as one coroutine per CUDA thread: the tile, pipeline and fragment index
 * math is checked without a GPU. */
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800) || defined(AX_CUDA_EMULATE)
#define AX_GEMM_HAVE_TC 1
#else
#define AX_GEMM_HAVE_TC 0
#endif

#if defined(AX_CUDA_EMULATE)
static inline void cp_async16(void *dst, const void *src, int src_bytes) { ax_emu_cp_async(dst, src, 16, src_bytes); }
static inline void cp_async_commit(void) { ax_emu_cp_async_commit(); }
template <int N> static inline void cp_async_wait(void) { ax_emu_cp_async_wait(N); }
template <bool TRANS> static inline void ldmatrix_x4(unsigned r[4], const void *p) { ax_emu_ldmatrix_x4(r, p, TRANS); }
template <typename T> static inline void mma_16816(float c[4], const unsigned a[4], const unsigned b[2]) {
  ax_emu_mma_16816<T>(c, a, b[0], b[1]);
}
#else

__device__ __forceinline__ unsigned smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared, asynchronously; bytes past src_bytes (0 or 16 here) are zero-filled */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
#if AX_GEMM_HAVE_TC
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
#endif
}
__device__ __forceinline__ void cp_async_commit(void) {
#if AX_GEMM_HAVE_TC
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
/* wait until at most N of this thread's committed groups are still in flight */
template <int N> __device__ __forceinline__ void cp_async_wait(void) {
#if AX_GEMM_HAVE_TC
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

template <bool TRANS>
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], const void *p) {
#if AX_GEMM_HAVE_TC
  if (TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
#endif
}

template <typename T> __device__ __forceinline__ void mma_16816(float c[4], const unsigned a[4], const unsigned b[2]);
template <> __device__ __forceinline__ void mma_16816<__nv_bfloat16>(float c[4], const unsigned a[4], const unsigned b[2]) {
#if AX_GEMM_HAVE_TC
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
template <> __device__ __forceinline__ void mma_16816<__half>(float c[4], const unsigned a[4], const unsigned b[2]) {
#if AX_GEMM_HAVE_TC
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
#endif /* AX_CUDA_EMULATE */

/* One 16-byte chunk (8 elements) global -> shared of which `valid` elements lie inside
 * the matrix: cp.async when it is all in or all out (zero-filled), else element by
 * element (a chunk cut by the edge of a padded row); the barrier that publishes the
 * cp.async data publishes these stores too. */
template <typename T>
__device__ __forceinline__ void gemm_copy_chunk(T *dst, const T *src, const T *base, int64_t valid) {
  valid = valid < 0 ? 0 : valid > 8 ? 8 : valid;
  if (valid == 8 || valid == 0) {
    /* src-size 0 zero-fills without reading; keep the address inside the operand anyway */
    cp_async16(dst, valid ? src : base, (int)valid * 2);
  } else {
#pragma unroll
    for (int e = 0; e < 8; e++) dst[e] = e < valid ? src[e] : ax_from_f<T>(0.f);
  }
}

/* Copies one operand's tile (mn0, k0) into shared memory with cp.async, 16 bytes
 * (8 elements) per copy; the part past the matrix edge is zero-filled and never read. */
template <typename T, bool KMAJOR, int BMN>
__device__ __forceinline__ void tc_load_tile(T *s, const T *p, int64_t ld, int64_t mn0, int64_t k0, int64_t MN,
                                             int64_t K) {
#if AX_GEMM_HAVE_TC
  constexpr int CHUNKS = BMN * TC_BK / 8;
#pragma unroll
  for (int i = 0; i < CHUNKS / TC_THREADS; i++) {
    const int c = threadIdx.x + i * TC_THREADS;
    T *dst;
    const T *src;
    int64_t valid;
    if (KMAJOR) {
      int row = c / (TC_BK / 8), kc = (c % (TC_BK / 8)) * 8;
      dst = s + row * (TC_BK + TC_PAD) + kc;
      src = p + (mn0 + row) * ld + (k0 + kc);
      valid = mn0 + row < MN ? K - (k0 + kc) : 0;
    } else {
      int kr = c / (BMN / 8), mc = (c % (BMN / 8)) * 8;
      dst = s + kr * (BMN + TC_PAD) + mc;
      src = p + (k0 + kr) * ld + (mn0 + mc);
      valid = k0 + kr < K ? MN - (mn0 + mc) : 0;
    }
    gemm_copy_chunk(dst, src, p, valid);
  }
#endif
}

template <typename T, bool TA, bool TB>
__global__ void __launch_bounds__(TC_THREADS) gemm_tc(gemm_params p) {
#if AX_GEMM_HAVE_TC
  constexpr bool A_K = !TA, B_K = TB; /* is k the contiguous dim of the stored tile */
  constexpr int A_ELEMS = tc_tile_elems(A_K, TC_BM), B_ELEMS = tc_tile_elems(B_K, TC_BN);
  AX_DYNAMIC_SMEM(unsigned char, tc_smem);
  T *sA = reinterpret_cast<T *>(tc_smem);
  T *sB = sA + TC_STAGES * A_ELEMS;

  int tm, tn;
  gemm_tile_of(blockIdx.x, p.tiles_m, p.tiles_n, &tm, &tn);
  const int64_t m0 = (int64_t)tm * TC_BM, n0 = (int64_t)tn * TC_BN;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32; /* this warp's 64x32 piece of the tile */
  const int ntiles = (int)((p.k + TC_BK - 1) / TC_BK);
  const float alpha = (float)p.alpha, beta = (float)p.beta;

  for (int64_t bz = blockIdx.z; bz < p.batch; bz += gridDim.z) {
    const T *a = (const T *)p.a + bz * p.stride_a;
    const T *b = (const T *)p.b + bz * p.stride_b;
    T *c = (T *)p.c + bz * p.stride_c;

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
      for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++) acc[i][j][r] = 0.f;

    /* prologue: stages 0 .. STAGES-2 in flight (one commit group each, possibly empty) */
#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
      if (s < ntiles) {
        tc_load_tile<T, A_K, TC_BM>(sA + s * A_ELEMS, a, p.lda, m0, (int64_t)s * TC_BK, p.m, p.k);
        tc_load_tile<T, B_K, TC_BN>(sB + s * B_ELEMS, b, p.ldb, n0, (int64_t)s * TC_BK, p.n, p.k);
      }
      cp_async_commit();
    }

    for (int t = 0; t < ntiles; t++) {
      /* tile t has landed (for this thread), then for every thread; the barrier also
       * tells us everyone is done with tile t-1, whose stage the next load reuses */
      cp_async_wait<TC_STAGES - 2>();
      __syncthreads();
      int next = t + TC_STAGES - 1;
      if (next < ntiles) {
        int st = next % TC_STAGES;
        tc_load_tile<T, A_K, TC_BM>(sA + st * A_ELEMS, a, p.lda, m0, (int64_t)next * TC_BK, p.m, p.k);
        tc_load_tile<T, B_K, TC_BN>(sB + st * B_ELEMS, b, p.ldb, n0, (int64_t)next * TC_BK, p.n, p.k);
      }
      cp_async_commit();

      const T *tA = sA + (t % TC_STAGES) * A_ELEMS;
      const T *tB = sB + (t % TC_STAGES) * B_ELEMS;
#pragma unroll
      for (int ks = 0; ks < TC_BK; ks += 16) {
        unsigned af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; mi++) {
          int mb = wm + mi * 16;
          if (A_K)
            ldmatrix_x4<false>(af[mi], tA + (mb + lane % 16) * (TC_BK + TC_PAD) + ks + (lane / 16) * 8);
          else
            ldmatrix_x4<true>(af[mi], tA + (ks + lane % 8 + (lane / 16) * 8) * (TC_BM + TC_PAD) + mb +
                                          ((lane / 8) % 2) * 8);
        }
#pragma unroll
        for (int nj = 0; nj < 2; nj++) {
          int nb = wn + nj * 16;
          unsigned r[4];
          if (B_K)
            ldmatrix_x4<false>(r, tB + (nb + lane % 8 + (lane / 16) * 8) * (TC_BK + TC_PAD) + ks +
                                      ((lane / 8) % 2) * 8);
          else
            ldmatrix_x4<true>(r, tB + (ks + lane % 8 + ((lane / 8) % 2) * 8) * (TC_BN + TC_PAD) + nb +
                                     (lane / 16) * 8);
          bf[2 * nj][0] = r[0];
          bf[2 * nj][1] = r[1];
          bf[2 * nj + 1][0] = r[2];
          bf[2 * nj + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < 4; mi++)
#pragma unroll
          for (int ni = 0; ni < 4; ni++) mma_16816<T>(acc[mi][ni], af[mi], bf[ni]);
      }
    }
    /* drain (only empty groups can be pending) and free the stages for the next batch */
    cp_async_wait<0>();
    __syncthreads();

    /* epilogue: thread holds rows g and g+8, columns 2q and 2q+1 of each 16x8 piece */
    const int g = lane / 4, q = lane % 4;
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
#pragma unroll
      for (int ni = 0; ni < 4; ni++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          int64_t row = m0 + wm + mi * 16 + g + h * 8;
          int64_t col = n0 + wn + ni * 8 + 2 * q;
          if (row >= p.m) continue;
#pragma unroll
          for (int j = 0; j < 2; j++) {
            if (col + j >= p.n) continue;
            T *dst = c + row * p.ldc + col + j;
            float v = alpha * acc[mi][ni][2 * h + j];
            if (beta != 0.f) v += beta * gemm_in(*dst);
            *dst = ax_from_f<T>(v);
          }
        }
  }
#else
  __trap(); /* the host never launches this below sm_80 */
#endif
}

#include "kernels/cuda/gemm_wgmma.cuh"

/* ---- host side ---- */

#define AX_GEMM_MAX_DEVICES 64

static int device_attr(cudaDeviceAttr attr, int dev, int *cache) {
  if (dev < 0 || dev >= AX_GEMM_MAX_DEVICES) dev = 0;
  if (cache[dev] <= 0) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, attr, dev) != cudaSuccess) {
      cudaGetLastError();
      v = 0;
    }
    cache[dev] = v > 0 ? v : 1;
  }
  return cache[dev];
}
static int sm_count(int dev) {
  static int cache[AX_GEMM_MAX_DEVICES];
  return device_attr(cudaDevAttrMultiProcessorCount, dev, cache);
}
static int cc_major(int dev) {
  static int cache[AX_GEMM_MAX_DEVICES];
  return device_attr(cudaDevAttrComputeCapabilityMajor, dev, cache);
}

static bool aligned_for(const void *ptr, int64_t ld, int64_t stride, int64_t elems, size_t elem_size) {
  size_t bytes = (size_t)elems * elem_size;
  return (uintptr_t)ptr % bytes == 0 && ld % elems == 0 && stride % elems == 0;
}

static gemm_params make_params(const ax_gemm_args *g, int bm, int bn, size_t es) {
  gemm_params p;
  p.a = g->a, p.b = g->b, p.c = g->c;
  p.m = g->m, p.n = g->n, p.k = g->k;
  p.lda = g->lda, p.ldb = g->ldb, p.ldc = g->ldc;
  p.stride_a = g->stride_a, p.stride_b = g->stride_b, p.stride_c = g->stride_c;
  p.batch = g->batch;
  p.alpha = g->alpha, p.beta = g->beta;
  p.tiles_m = (int)((g->m + bm - 1) / bm);
  p.tiles_n = (int)((g->n + bn - 1) / bn);
  p.vec_a = aligned_for(g->a, g->lda, g->stride_a, 4, es);
  p.vec_b = aligned_for(g->b, g->ldb, g->stride_b, 4, es);
  p.vec_c = aligned_for(g->c, g->ldc, g->stride_c, 4, es);
  p.pair_c = aligned_for(g->c, g->ldc, g->stride_c, 2, es);
  return p;
}

static dim3 grid_of(const gemm_params &p) {
  int64_t z = p.batch < 65535 ? p.batch : 65535;
  return dim3((unsigned)((int64_t)p.tiles_m * p.tiles_n), 1, (unsigned)z);
}

#if !defined(AX_GEMM_EMULATE)
template <typename T, typename Acc, int BM, int BN, int TT>
static void launch_simt(const ax_gemm_args *g) {
  gemm_params p = make_params(g, BM, BN, sizeof(T));
  dim3 grid = grid_of(p), block((BM / TT) * (BN / TT));
  cudaStream_t st = ax_cuda_stream();
  int sel = (g->trans_a ? 2 : 0) | (g->trans_b ? 1 : 0);
  switch (sel) {
  case 0: ax_cuda_launch(gemm_simt<T, Acc, BM, BN, TT, false, false>, grid, block, 0, st, p); break;
  case 1: ax_cuda_launch(gemm_simt<T, Acc, BM, BN, TT, false, true>, grid, block, 0, st, p); break;
  case 2: ax_cuda_launch(gemm_simt<T, Acc, BM, BN, TT, true, false>, grid, block, 0, st, p); break;
  default: ax_cuda_launch(gemm_simt<T, Acc, BM, BN, TT, true, true>, grid, block, 0, st, p); break;
  }
  AX_CUDA_LAUNCH_CHECK("gemm_simt");
}

/* Above 48 KiB of dynamic shared memory a kernel must opt in, once per device;
 * `opted_in` is the calling kernel's own bit set of devices. */
static bool opt_in_smem(const void *kernel, size_t smem, int dev, uint64_t *opted_in) {
  uint64_t bit = 1ull << (dev % 64);
  if (*opted_in & bit) return true;
  if (!AX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem)))
    return false;
  *opted_in |= bit;
  return true;
}

template <typename T, bool TA, bool TB>
static void launch_tc_variant(const gemm_params &p, int dev) {
  constexpr size_t smem =
      (size_t)TC_STAGES * (tc_tile_elems(!TA, TC_BM) + tc_tile_elems(TB, TC_BN)) * sizeof(T);
  static uint64_t opted_in;
  if (!opt_in_smem((const void *)gemm_tc<T, TA, TB>, smem, dev, &opted_in)) return;
  ax_cuda_launch(gemm_tc<T, TA, TB>, grid_of(p), TC_THREADS, smem, ax_cuda_stream(), p);
  AX_CUDA_LAUNCH_CHECK("gemm_tc");
}

template <typename T>
static void launch_tc(const ax_gemm_args *g, int dev) {
  gemm_params p = make_params(g, TC_BM, TC_BN, sizeof(T));
  switch ((g->trans_a ? 2 : 0) | (g->trans_b ? 1 : 0)) {
  case 0: launch_tc_variant<T, false, false>(p, dev); break;
  case 1: launch_tc_variant<T, false, true>(p, dev); break;
  case 2: launch_tc_variant<T, true, false>(p, dev); break;
  default: launch_tc_variant<T, true, true>(p, dev); break;
  }
}

template <typename T, int BN, bool TA, bool TB>
static void launch_wgmma_variant(const gemm_params &p, int dev) {
  static uint64_t opted_in;
  if (!opt_in_smem((const void *)gemm_wgmma<T, BN, TA, TB>, wg_smem_bytes(BN), dev, &opted_in)) return;
  ax_cuda_launch(gemm_wgmma<T, BN, TA, TB>, grid_of(p), WG_THREADS, wg_smem_bytes(BN), ax_cuda_stream(), p);
  AX_CUDA_LAUNCH_CHECK("gemm_wgmma");
}

template <typename T, int BN>
static void launch_wgmma(const ax_gemm_args *g, int dev) {
  gemm_params p = make_params(g, WG_BM, BN, sizeof(T));
  switch ((g->trans_a ? 2 : 0) | (g->trans_b ? 1 : 0)) {
  case 0: launch_wgmma_variant<T, BN, false, false>(p, dev); break;
  case 1: launch_wgmma_variant<T, BN, false, true>(p, dev); break;
  case 2: launch_wgmma_variant<T, BN, true, false>(p, dev); break;
  default: launch_wgmma_variant<T, BN, true, true>(p, dev); break;
  }
}

/* cp.async copies 16 bytes = 8 elements: every operand's rows must start on 16-byte boundaries. */
static bool tc_ok(const ax_gemm_args *g, int dev) {
  return cc_major(dev) >= 8 && aligned_for(g->a, g->lda, g->stride_a, 8, 2) &&
         aligned_for(g->b, g->ldb, g->stride_b, 8, 2);
}

/* Whether gemm_wgmma runs on device dev: compute capability 9.x, AXON_GEMM_WGMMA not
 * 0, and the code the driver picked for the device has wgmma (the probe kernel says
 * so, asked once per device: the build may have only plain sm_90 code, and sm_90a
 * code loads on 9.0 only). */
static int forced_wgmma = -1; /* ax_cuda_gemm_set_wgmma: -1 AXON_GEMM_WGMMA decides, 0 off, 1 on */

/* Tests only: the parity runner's emulated H100 takes gemm_wgmma for every aligned
 * bf16/f16 product, so it turns wgmma off for some cases to run gemm_tc too
 * (AXON_GEMM_WGMMA is read once per process). -1 gives the choice back. */
extern "C" void ax_cuda_gemm_set_wgmma(int on) { forced_wgmma = on < 0 ? -1 : on != 0; }

static bool wgmma_ok(int dev) {
  bool env = ax_settings_get()->gemm_wgmma; /* AXON_GEMM_WGMMA */
  static signed char built[AX_GEMM_MAX_DEVICES]; /* 0 unknown, 1 yes, -1 no */
  if (!(forced_wgmma < 0 ? env : forced_wgmma) || cc_major(dev) != 9) return false;
  if (dev < 0 || dev >= AX_GEMM_MAX_DEVICES) return false;
  if (!built[dev]) {
    built[dev] = -1;
    cudaStream_t st = ax_cuda_stream();
    int *flag = (int *)ax_cuda_scratch_alloc(sizeof(int)), host = 0;
    if (!flag) return false;
    ax_cuda_launch(gemm_wgmma_probe, 1, 1, 0, st, flag);
    if (AX_CUDA_LAUNCH_CHECK("gemm_wgmma_probe") &&
        AX_CUDA_CHECK(cudaMemcpyAsync(&host, flag, sizeof(int), cudaMemcpyDeviceToHost, st)) &&
        AX_CUDA_CHECK(cudaStreamSynchronize(st)))
      built[dev] = host == 1 ? 1 : -1;
    ax_cuda_scratch_free(flag);
  }
  return built[dev] == 1;
}

/* bf16/f16: tensor cores when rows are 16-byte aligned, CUDA cores otherwise. On
 * Hopper, wgmma's 128x256 tile when that still gives every SM a block, else its
 * 128x128 tile. */
template <typename T>
static void native_half(const ax_gemm_args *g, int dev) {
  if (!tc_ok(g, dev)) launch_simt<T, float, 64, 64, 8>(g);
  else if (!wgmma_ok(dev)) launch_tc<T>(g, dev);
  else if (((g->m + WG_BM - 1) / WG_BM) * ((g->n + 255) / 256) * g->batch >= sm_count(dev))
    launch_wgmma<T, 256>(g, dev);
  else
    launch_wgmma<T, 128>(g, dev);
}

/* The f32 tile: 128x128 when that still gives every SM a block, else 64x64. */
static void native_f32(const ax_gemm_args *g, int dev) {
  int64_t big_tiles = ((g->m + 127) / 128) * ((g->n + 127) / 128) * g->batch;
  if (big_tiles >= sm_count(dev)) launch_simt<float, float, 128, 128, 8>(g);
  else launch_simt<float, float, 64, 64, 8>(g);
}

static void gemm_native(const ax_gemm_args *g) {
  int dev = ax_cuda_current_device();
  switch (g->dtype) {
  case AX_F32: native_f32(g, dev); break;
  case AX_F64: launch_simt<double, double, 32, 32, 4>(g); break;
  case AX_BF16: native_half<__nv_bfloat16>(g, dev); break;
  case AX_F16: native_half<__half>(g, dev); break;
  default: ax_cuda_error("ax_cuda_gemm: dtype %s is not supported", ax_dtype_name((ax_dtype)g->dtype));
  }
}

/* ---- implementation choice ---- */

static int forced_impl = AX_GEMM_IMPL_DEFAULT;

extern "C" void ax_cuda_gemm_set_impl(int impl) { forced_impl = impl; }

extern "C" int ax_cuda_gemm_impl(int dtype) {
  if (forced_impl == AX_GEMM_IMPL_NATIVE || forced_impl == AX_GEMM_IMPL_CUBLAS) return forced_impl;
  ax_impl env = ax_settings_get()->gemm; /* AXON_GEMM (docs/settings.md) */
  if (env == AX_IMPL_NATIVE) return AX_GEMM_IMPL_NATIVE;
  if (env == AX_IMPL_VENDOR) return AX_GEMM_IMPL_CUBLAS;
  /* cuBLAS for every dtype until a GPU benchmark shows ours faster (docs/benchmarks.md) */
  return AX_CUDA_HAVE_VENDOR ? AX_GEMM_IMPL_CUBLAS : AX_GEMM_IMPL_NATIVE;
}

extern "C" ax_kstatus ax_cuda_gemm(const ax_gemm_args *g) {
  AX_CUDA_ENTRY;
  if (g->m <= 0 || g->n <= 0 || g->batch <= 0) return ax_cuda_kstatus();
  /* cuBLAS declines what its int arguments cannot describe; ours takes it then */
  if (ax_cuda_gemm_impl(g->dtype) == AX_GEMM_IMPL_CUBLAS && ax_cuda_gemm_cublas(g)) return ax_cuda_kstatus();
  gemm_native(g);
  return ax_cuda_kstatus();
}
#endif /* !AX_GEMM_EMULATE */
