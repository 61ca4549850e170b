/* SPDX-License-Identifier: BSD-3-Clause */
/* The tensor-core forward of attention.cu (included there, after its helpers):
 * FlashAttention-2 for bf16 / f16 with D = 64 or 128.
 *
 * One CTA of 4 warps per 64 query rows of one head; warp w owns rows 16w..16w+15
 * and keeps them in mma.sync m16n8k16 fragments: Q as A fragments (loaded once),
 * the 16 x 64 score tile S and the 16 x D output O as f32 accumulators. K and V
 * tiles of 64 keys are copied with cp.async into two shared buffers, so the next
 * tile loads while this one is multiplied. Shared rows are padded by 8 elements
 * (16 bytes), which makes the fragment loads below conflict-free.
 *
 * Fragment layouts (PTX ISA, mma.m16n8k16, g = lane / 4, t = lane % 4):
 *   A (16 x 16, row):  a0 = (g, 2t..2t+1)   a1 = (g+8, 2t..)   a2 = (g, 2t+8..)   a3 = (g+8, 2t+8..)
 *   B (16 x 8, col):   b0 = (k 2t..2t+1, n g)   b1 = (k 2t+8..2t+9, n g)
 *   C (16 x 8, f32):   c0, c1 = (g, 2t..2t+1)   c2, c3 = (g+8, 2t..2t+1)
 * S = Q K^T takes B straight from K's rows (k = d is contiguous); O += P V takes A
 * from two neighbouring S accumulators (the C layout of n-tiles 2kb, 2kb+1 is the
 * A layout of k-block kb) and B from V's columns (two 16-bit loads per register).
 * Each row's max and sum are reduced over the 4 threads of a quad (shuffles 1, 2).
 */

namespace {

constexpr int MMA_BM = 64, MMA_BN = 64, MMA_THREADS = 128;

/* The PTX both tensor-core kernels use, one wrapper each. Built with
 * AX_CUDA_EMULATE (tests/parity/attention_emulate.cpp), the kernels compile as
 * host C++ and the ax_emu_* functions of tests/parity/cuda_emulate.h stand in
 * for the PTX, so the fragment, tile and pipeline index math runs without a GPU. */
template <typename T> struct mma_op;
template <> struct mma_op<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(AX_CUDA_EMULATE)
    ax_emu_mma_16816<__nv_bfloat16>(c, a, b0, b1);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
  }
};
template <> struct mma_op<__half> {
  static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(AX_CUDA_EMULATE)
    ax_emu_mma_16816<__half>(c, a, b0, b1);
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *(uint32_t *)&v;
  }
};

#if defined(AX_CUDA_EMULATE)
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) {
  ax_emu_cp_async(smem, gmem, 16, valid ? 16 : 0);
}
__device__ __forceinline__ void cp_async4(void *smem, const void *gmem, bool valid) {
  ax_emu_cp_async(smem, gmem, 4, valid ? 4 : 0);
}
__device__ __forceinline__ void cp_async_commit() { ax_emu_cp_async_commit(); }
template <int N> __device__ __forceinline__ void cp_async_wait() { ax_emu_cp_async_wait(N); }
template <bool TRANS> __device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *smem) {
  ax_emu_ldmatrix_x4(r, smem, TRANS);
}
#else
/* 16 bytes global -> shared, zero-filled when !valid (src must still be a mapped address). */
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool valid) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 16 : 0));
}
/* 4 bytes (one f32 of lse / D_i), same contract. */
__device__ __forceinline__ void cp_async4(void *smem, const void *gmem, bool valid) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
/* Four 8x8 b16 matrices from shared memory; lanes 8j..8j+7 give the row addresses of
 * matrix j, and lane l receives M_j[l/4][2(l%4)..+1] (TRANS: M_j[2(l%4)..+1][l/4]). */
template <bool TRANS> __device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *smem) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  if (TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
#endif

/* Rows [r0, r0 + N) of a [B, H, T, D] view into shared memory (row stride D + 8),
 * 16 bytes per cp.async; rows at or past `limit` are zero-filled. */
template <typename T, int D, int N>
__device__ __forceinline__ void cp_async_rows(T *dst, const Rows &src, int b, int h, int r0, int limit) {
  constexpr int LD = D + 8, CHUNKS = D / 8;
  for (int idx = threadIdx.x; idx < N * CHUNKS; idx += MMA_THREADS) {
    int r = idx / CHUNKS, c = (idx % CHUNKS) * 8;
    bool valid = r0 + r < limit;
    cp_async16(dst + r * LD + c, row_ptr<T>(src, b, h, valid ? r0 + r : 0) + c, valid);
  }
}

/* Keys [j0, j0 + MMA_BN) of K and V into one pair of shared buffers. */
template <typename T, int D>
__device__ __forceinline__ void load_kv_tile(T *ks, T *vs, const Args &a, int b, int h, int j0) {
  cp_async_rows<T, D, MMA_BN>(ks, a.k, b, h, j0, a.tk);
  cp_async_rows<T, D, MMA_BN>(vs, a.v, b, h, j0, a.tk);
}

template <typename T, int D>
__global__ void __launch_bounds__(MMA_THREADS) mma_forward_kernel(Args a, int tiles) {
  constexpr int LD = D + 8, KSTEPS = D / 16, SN = MMA_BN / 8, ON = D / 8;
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  T *kbuf = (T *)smem_raw, *vbuf = kbuf + 2 * MMA_BN * LD;
  const int bh = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * MMA_BM, b = bh / a.h, h = bh % a.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = i0 + warp * 16 + g, row1 = row0 + 8; /* this thread's two query rows */

  uint32_t qf[KSTEPS][4];
  {
    const T *q0 = row_ptr<T>(a.q, b, h, min(row0, a.tq - 1)), *q1 = row_ptr<T>(a.q, b, h, min(row1, a.tq - 1));
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ks++) {
      int c = ks * 16 + 2 * t;
      qf[ks][0] = row0 < a.tq ? *(const uint32_t *)(q0 + c) : 0u;
      qf[ks][1] = row1 < a.tq ? *(const uint32_t *)(q1 + c) : 0u;
      qf[ks][2] = row0 < a.tq ? *(const uint32_t *)(q0 + c + 8) : 0u;
      qf[ks][3] = row1 < a.tq ? *(const uint32_t *)(q1 + c + 8) : 0u;
    }
  }
  float o[ON][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0, 0};
#pragma unroll
  for (int n = 0; n < ON; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0;

  const int last = min(i0 + MMA_BM, a.tq) - 1, kend = visible_end(a, last);
  const int first_hidden = visible_end(a, i0); /* keys from here on need the causal test */
  const int ntiles = (kend + MMA_BN - 1) / MMA_BN;
  const float scale = (float)a.scale;
  if (ntiles > 0) load_kv_tile<T, D>(kbuf, vbuf, a, b, h, 0);
  cp_async_commit();
  for (int it = 0; it < ntiles; it++) {
    const int j0 = it * MMA_BN, cur = it & 1;
    if (it + 1 < ntiles) {
      load_kv_tile<T, D>(kbuf + (cur ^ 1) * MMA_BN * LD, vbuf + (cur ^ 1) * MMA_BN * LD, a, b, h, j0 + MMA_BN);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T *ks_ = kbuf + cur * MMA_BN * LD, *vs_ = vbuf + cur * MMA_BN * LD;

    float s[SN][4];
#pragma unroll
    for (int n = 0; n < SN; n++) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0;
      const T *krow = ks_ + (n * 8 + g) * LD + 2 * t;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; kk++)
        mma_op<T>::run(s[n], qf[kk], *(const uint32_t *)(krow + kk * 16), *(const uint32_t *)(krow + kk * 16 + 8));
    }
    const bool need_mask = a.mask || j0 + MMA_BN > min(first_hidden, a.tk);
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int n = 0; n < SN; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        float v = s[n][e] * scale;
        if (need_mask) v = masked_score<T, float>(a, b, h, e < 2 ? row0 : row1, j0 + n * 8 + 2 * t + (e & 1), v);
        s[n][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
    float corr[2], base[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      base[r] = mx[r] == -INFINITY ? 0.f : mx[r]; /* a row that sees nothing yet: exp(-inf - 0) = 0 */
      corr[r] = __expf(m[r] - base[r]);
      m[r] = mx[r];
      l[r] *= corr[r];
    }
    uint32_t pf[MMA_BN / 16][4];
#pragma unroll
    for (int n = 0; n < SN; n++) {
      float p[4];
#pragma unroll
      for (int e = 0; e < 4; e++) {
        p[e] = __expf(s[n][e] - base[e >> 1]);
        l[e >> 1] += p[e];
        if (a.dropout_p > 0)
          p[e] *= dropout_factor<float>(a, b, h, e < 2 ? row0 : row1, j0 + n * 8 + 2 * t + (e & 1));
      }
      pf[n / 2][(n & 1) * 2 + 0] = mma_op<T>::pack(p[0], p[1]);
      pf[n / 2][(n & 1) * 2 + 1] = mma_op<T>::pack(p[2], p[3]);
    }
#pragma unroll
    for (int n = 0; n < ON; n++) {
      o[n][0] *= corr[0], o[n][1] *= corr[0], o[n][2] *= corr[1], o[n][3] *= corr[1];
    }
    const unsigned short *vraw = (const unsigned short *)vs_;
#pragma unroll
    for (int kb = 0; kb < MMA_BN / 16; kb++) {
      const unsigned short *v0 = vraw + (kb * 16 + 2 * t) * LD + g;
#pragma unroll
      for (int n = 0; n < ON; n++) {
        const unsigned short *vc = v0 + n * 8;
        uint32_t b0 = (uint32_t)vc[0] | ((uint32_t)vc[LD] << 16);
        uint32_t b1 = (uint32_t)vc[8 * LD] | ((uint32_t)vc[9 * LD] << 16);
        mma_op<T>::run(o[n], pf[kb], b0, b1);
      }
    }
    __syncthreads(); /* the next iteration's cp.async overwrites this buffer pair */
  }
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    inv[r] = l[r] > 0 ? 1.f / l[r] : 0.f;
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int i = r ? row1 : row0;
    if (i >= a.tq) continue;
    T *orow = row_mut<T>(a.out, b, h, i);
#pragma unroll
    for (int n = 0; n < ON; n++)
      *(uint32_t *)(orow + n * 8 + 2 * t) = mma_op<T>::pack(o[n][2 * r] * inv[r], o[n][2 * r + 1] * inv[r]);
    if (t == 0) ((float *)a.lse)[(int64_t)bh * a.tq + i] = l[r] > 0 ? m[r] + logf(l[r]) : INFINITY;
  }
}

bool rows_aligned(const Rows &r) {
  return ((uintptr_t)r.data % 16) == 0 && r.sb % 8 == 0 && r.sh % 8 == 0 && r.st % 8 == 0;
}

/* Whether the tensor-core kernels take this call: bf16 / f16, D = 64 or 128, sm_80+
 * (mma.sync bf16), and not turned off with AXON_ATTN_MMA=0 (read once). */
bool mma_applies(int dtype, int d) {
  if ((dtype != AX_BF16 && dtype != AX_F16) || (d != 64 && d != 128)) return false;
  if (!ax_settings_get()->attn_mma) return false; /* AXON_ATTN_MMA */
  static int arch = -1;
  if (arch < 0) {
    int dev = ax_cuda_current_device(), major = 0;
    arch = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess ? major : 0;
  }
  return arch >= 8;
}

template <typename T, int D> bool mma_forward_launch(const Args &a) {
  int tiles = (a.tq + MMA_BM - 1) / MMA_BM;
  size_t smem = sizeof(T) * (size_t)(4 * MMA_BN * (D + 8));
  return launch(mma_forward_kernel<T, D>, "launch of attention mma_forward_kernel", (int64_t)a.b * a.h * tiles,
                smem, a, tiles);
}

/* Runs the tensor-core forward when it applies (returns false to leave the call to the other path). */
bool ax_attn_mma_forward(const Args &a, int dtype) {
  if (!mma_applies(dtype, a.d)) return false;
  if (!rows_aligned(a.q) || !rows_aligned(a.k) || !rows_aligned(a.v) || !rows_aligned(a.out)) return false;
  if (dtype == AX_BF16) return a.d == 64 ? mma_forward_launch<__nv_bfloat16, 64>(a) : mma_forward_launch<__nv_bfloat16, 128>(a);
  return a.d == 64 ? mma_forward_launch<__half, 64>(a) : mma_forward_launch<__half, 128>(a);
}

} /* namespace */
