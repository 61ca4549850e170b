/* SPDX-License-Identifier: BSD-3-Clause */
/* The tensor-core backward of attention.cu (included there, after
 * attention_mma.cuh, whose wrappers and tile loader it uses): FlashAttention-2
 * for bf16 / f16 with D = 64 or 128, mma.sync m16n8k16 accumulating in f32.
 *
 * Three launches, deterministic (no atomics: every gradient element is summed by
 * one thread in a fixed order and rounded once):
 *  1. row_dot_kernel: D_i = rowsum(dO_i * O_i) in f32.
 *  2. mma_dkdv_kernel: one CTA of 4 warps per 64 keys of one head; warp w owns
 *     keys 16w..16w+15. K and V stay in shared memory; the query tiles (QT rows of
 *     Q and dO, their lse and D_i) are double-buffered with cp.async. Per tile,
 *     transposed so that the keys are the mma rows:
 *       S^T = K Q^T, P^T = exp(S^T * scale (+ mask) - lse), dP^T = V dO^T,
 *       dV += (P Z)^T dO, dS^T = P^T (dP^T Z - D), dK += dS^T Q
 *     (Z: the dropout factors). The C fragments of P^T and dS^T are the A
 *     fragments of the next products, as in the forward.
 *  3. mma_dq_kernel: one CTA per 64 query rows (warp w: rows 16w..16w+15) with Q
 *     and dO in shared memory, walking double-buffered K / V tiles of 64 keys:
 *       S = Q K^T, dP = dO V^T, dS = P (dP Z - D), dQ += dS K.
 * Operands come from shared memory with ldmatrix (.trans where the contraction
 * runs over rows: dO and Q in the dK/dV products, K in dQ); rows are padded by 8
 * elements, so the 8 rows of each 8x8 matrix fall on distinct banks.
 * Causal: a key tile starts at the first query row that sees it; a query tile
 * stops at its last visible key. Scores go through masked_score (attention.cu)
 * only on tiles that touch the diagonal, the edges or a mask; dropout_factor
 * (the forward's Philox draw) runs on every score when p > 0.
 *
 * Shared memory (bytes): dK/dV  2*64*(D+8)*2 + 4*QT*(D+8)*2 + 16*QT
 *                                = 56,320 (D 64, QT 64) / 70,144 (D 128, QT 32)
 *                        dQ     6*64*(D+8)*2 = 55,296 (D 64) / 104,448 (D 128)
 * so 2 or more CTAs fit an H100 SM (227 KB). QT is 32 for D = 128 to keep the
 * f32 accumulators (dK, dV: 2 * D/2 registers a thread; S^T, dP^T: QT/4 each)
 * clear of spilling. ptxas (nvcc 13, sm_80): dK/dV 239 (D 64) / 248 (D 128)
 * registers, dQ 168 / 246, no spills but 8 bytes in dQ D 64; registers limit
 * an SM to 2 CTAs (3 for dQ at D 64).
 */

namespace {

constexpr int BWD_BN = 64; /* keys per dK/dV CTA, 16 per warp; also the key tile of dQ */
constexpr int BWD_BM = 64; /* query rows per dQ CTA, 16 per warp */

/* query rows per dK/dV step */
template <int D> struct bwd_qt { static constexpr int value = D == 64 ? 64 : 32; };

/* P (p), its dropout-scaled value (pz, the weight of v_j) and the score gradient ds
 * (scale not applied) of query i, key j: pair_grads of the warp kernels in f32. */
template <typename T>
__device__ __forceinline__ void mma_pair_grads(const Args &a, int b, int h, int i, int j, bool need_mask, float qk,
                                               float dov, float lse_i, float di_i, float &pz, float &ds) {
  float s = qk * (float)a.scale;
  if (need_mask) s = masked_score<T, float>(a, b, h, i, j, s);
  float p = s == -INFINITY || lse_i == INFINITY ? 0.f : __expf(s - lse_i);
  float z = a.dropout_p > 0 && p != 0 ? dropout_factor<float>(a, b, h, i, j) : 1.f;
  pz = p * z;
  ds = p * (dov * z - di_i);
}

/* The A fragment of k-block kb from the f32 C fragments of n-tiles 2kb, 2kb+1. */
template <typename T> __device__ __forceinline__ void c_to_a(uint32_t (&f)[4], const float (&c0)[4], const float (&c1)[4]) {
  f[0] = mma_op<T>::pack(c0[0], c0[1]);
  f[1] = mma_op<T>::pack(c0[2], c0[3]);
  f[2] = mma_op<T>::pack(c1[0], c1[1]);
  f[3] = mma_op<T>::pack(c1[2], c1[3]);
}

/* acc[n] += A (16 x 16, rows of `a_rows`, columns 16 kk..) * B^T for N/8 n-tiles, where B's
 * rows are the 8 n-rows each of `b_rows` (row stride LD): the S = Q K^T shape. */
template <typename T, int LD, int N>
__device__ __forceinline__ void mma_abt_step(float (&acc)[N / 8][4], const uint32_t (&af)[4], const T *b_rows, int kk,
                                             int lane) {
  const T *bp = b_rows + ((lane / 16) * 8 + lane % 8) * LD + kk * 16 + ((lane / 8) & 1) * 8;
#pragma unroll
  for (int np = 0; np < N / 16; np++) {
    uint32_t bf[4];
    ldmatrix_x4<false>(bf, bp + np * 16 * LD);
    mma_op<T>::run(acc[2 * np], af, bf[0], bf[1]);
    mma_op<T>::run(acc[2 * np + 1], af, bf[2], bf[3]);
  }
}

/* acc[n] += A (16 x 16, k-block kb) * B for the D/8 n-tiles of B's rows 16 kb.. (row
 * stride LD, contraction over rows): the O = P V shape, B read with ldmatrix.trans. */
template <typename T, int LD, int D>
__device__ __forceinline__ void mma_ab_step(float (&acc)[D / 8][4], const uint32_t (&af)[4], const T *b_rows, int kb,
                                            int lane) {
  const T *bp = b_rows + (kb * 16 + ((lane / 8) & 1) * 8 + lane % 8) * LD + (lane / 16) * 8;
#pragma unroll
  for (int np = 0; np < D / 16; np++) {
    uint32_t bf[4];
    ldmatrix_x4<true>(bf, bp + np * 16);
    mma_op<T>::run(acc[2 * np], af, bf[0], bf[1]);
    mma_op<T>::run(acc[2 * np + 1], af, bf[2], bf[3]);
  }
}

/* The A fragment of rows 16.. of a shared tile (row stride LD) at k-step kk. */
template <typename T, int LD>
__device__ __forceinline__ void load_a(uint32_t (&f)[4], const T *rows, int kk, int lane) {
  ldmatrix_x4<false>(f, rows + (lane % 16) * LD + kk * 16 + (lane / 16) * 8);
}

/* Stores a warp's 16 x D f32 accumulator rows r0 (this thread's g, g + 8) times mul. */
template <typename T, int D>
__device__ __forceinline__ void store_rows(const Rows &dst, int b, int h, int r0, int limit, const float (&acc)[D / 8][4],
                                           float mul, int g, int t) {
#pragma unroll
  for (int r = 0; r < 2; r++) {
    int i = r0 + g + 8 * r;
    if (i >= limit) continue;
    T *row = row_mut<T>(dst, b, h, i);
#pragma unroll
    for (int n = 0; n < D / 8; n++)
      *(uint32_t *)(row + n * 8 + 2 * t) = mma_op<T>::pack(acc[n][2 * r] * mul, acc[n][2 * r + 1] * mul);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(MMA_THREADS) mma_dkdv_kernel(Args a, int tiles) {
  constexpr int LD = D + 8, QT = bwd_qt<D>::value, DN = D / 8, QN = QT / 8;
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  T *ks = (T *)smem_raw, *vs = ks + BWD_BN * LD, *qbuf = vs + BWD_BN * LD, *gbuf = qbuf + 2 * QT * LD;
  float *lbuf = (float *)(gbuf + 2 * QT * LD), *dbuf = lbuf + 2 * QT;
  const int bh = blockIdx.x / tiles, j0 = (blockIdx.x % tiles) * BWD_BN, b = bh / a.h, h = bh % a.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int key0 = j0 + warp * 16 + g; /* this thread's keys: key0, key0 + 8 */
  const float *lse = (const float *)a.lse + (int64_t)bh * a.tq, *di = (const float *)a.di + (int64_t)bh * a.tq;

  /* under causal, query i sees key j0 once i >= j0 - (tk - tq) */
  int istart = a.causal ? max(0, j0 - (a.tk - a.tq)) : 0;
  istart -= istart % QT;
  const int ntiles = istart < a.tq ? (a.tq - istart + QT - 1) / QT : 0;
  auto load_q_tile = [&](int buf, int i0) {
    cp_async_rows<T, D, QT>(qbuf + buf * QT * LD, a.q, b, h, i0, a.tq);
    cp_async_rows<T, D, QT>(gbuf + buf * QT * LD, a.gout, b, h, i0, a.tq);
    for (int r = threadIdx.x; r < 2 * QT; r += MMA_THREADS) {
      int i = i0 + r % QT;
      bool valid = i < a.tq;
      cp_async4((r < QT ? lbuf : dbuf) + buf * QT + r % QT, (r < QT ? lse : di) + (valid ? i : 0), valid);
    }
  };
  cp_async_rows<T, D, BWD_BN>(ks, a.k, b, h, j0, a.tk);
  cp_async_rows<T, D, BWD_BN>(vs, a.v, b, h, j0, a.tk);
  if (ntiles > 0) load_q_tile(0, istart);
  cp_async_commit();

  float dk[DN][4], dv[DN][4];
#pragma unroll
  for (int n = 0; n < DN; n++)
#pragma unroll
    for (int e = 0; e < 4; e++) dk[n][e] = dv[n][e] = 0;
  const T *kw = ks + warp * 16 * LD, *vw = vs + warp * 16 * LD;

  for (int it = 0; it < ntiles; it++) {
    const int i0 = istart + it * QT, cur = it & 1;
    if (it + 1 < ntiles) {
      load_q_tile(cur ^ 1, i0 + QT);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T *qs = qbuf + cur * QT * LD, *gs = gbuf + cur * QT * LD;
    const float *ls = lbuf + cur * QT, *ds_ = dbuf + cur * QT;

    float s[QN][4], dp[QN][4]; /* S^T and dP^T: rows = this warp's keys, columns = queries */
#pragma unroll
    for (int n = 0; n < QN; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[n][e] = dp[n][e] = 0;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      uint32_t kf[4], vf[4];
      load_a<T, LD>(kf, kw, kk, lane);
      load_a<T, LD>(vf, vw, kk, lane);
      mma_abt_step<T, LD, QT>(s, kf, qs, kk, lane);
      mma_abt_step<T, LD, QT>(dp, vf, gs, kk, lane);
    }
    /* every (query, key) of this step visible: no masked_score calls */
    const bool need_mask = a.mask || i0 + QT > a.tq || j0 + BWD_BN > visible_end(a, i0);
#pragma unroll
    for (int n = 0; n < QN; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int c = n * 8 + 2 * t + (e & 1);
        mma_pair_grads<T>(a, b, h, i0 + c, key0 + 8 * (e >> 1), need_mask, s[n][e], dp[n][e], ls[c], ds_[c],
                          s[n][e], dp[n][e]);
      }
#pragma unroll
    for (int kb = 0; kb < QT / 16; kb++) {
      uint32_t pf[4], df[4];
      c_to_a<T>(pf, s[2 * kb], s[2 * kb + 1]);
      c_to_a<T>(df, dp[2 * kb], dp[2 * kb + 1]);
      mma_ab_step<T, LD, D>(dv, pf, gs, kb, lane);
      mma_ab_step<T, LD, D>(dk, df, qs, kb, lane);
    }
    __syncthreads(); /* the next iteration's cp.async overwrites this buffer */
  }
  store_rows<T, D>(a.gk, b, h, j0 + warp * 16, a.tk, dk, (float)a.scale, g, t);
  store_rows<T, D>(a.gv, b, h, j0 + warp * 16, a.tk, dv, 1.f, g, t);
}

template <typename T, int D>
__global__ void __launch_bounds__(MMA_THREADS) mma_dq_kernel(Args a, int tiles) {
  constexpr int LD = D + 8, DN = D / 8, SN = BWD_BN / 8;
  AX_DYNAMIC_SMEM(unsigned char, smem_raw);
  T *qs = (T *)smem_raw, *gs = qs + BWD_BM * LD, *kbuf = gs + BWD_BM * LD, *vbuf = kbuf + 2 * BWD_BN * LD;
  const int bh = blockIdx.x / tiles, i0 = (blockIdx.x % tiles) * BWD_BM, b = bh / a.h, h = bh % a.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = i0 + warp * 16 + g; /* this thread's rows: row0, row0 + 8 */
  float lse[2], di[2];
#pragma unroll
  for (int r = 0; r < 2; r++) { /* a row past the end sees nothing: p = 0 */
    int i = row0 + 8 * r;
    lse[r] = i < a.tq ? ((const float *)a.lse)[(int64_t)bh * a.tq + i] : INFINITY;
    di[r] = i < a.tq ? ((const float *)a.di)[(int64_t)bh * a.tq + i] : 0.f;
  }

  const int last = min(i0 + BWD_BM, a.tq) - 1, kend = visible_end(a, last);
  const int first_hidden = visible_end(a, i0); /* keys from here on need the causal test */
  const int ntiles = (kend + BWD_BN - 1) / BWD_BN;
  if (ntiles > 0) { /* else these rows see no key: dQ = 0 */
    cp_async_rows<T, D, BWD_BM>(qs, a.q, b, h, i0, a.tq);
    cp_async_rows<T, D, BWD_BM>(gs, a.gout, b, h, i0, a.tq);
    load_kv_tile<T, D>(kbuf, vbuf, a, b, h, 0);
  }
  cp_async_commit();

  float dq[DN][4];
#pragma unroll
  for (int n = 0; n < DN; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0;
  const T *qw = qs + warp * 16 * LD, *gw = gs + warp * 16 * LD;

  for (int it = 0; it < ntiles; it++) {
    const int j0 = it * BWD_BN, cur = it & 1;
    if (it + 1 < ntiles) {
      load_kv_tile<T, D>(kbuf + (cur ^ 1) * BWD_BN * LD, vbuf + (cur ^ 1) * BWD_BN * LD, a, b, h, j0 + BWD_BN);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T *ks = kbuf + cur * BWD_BN * LD, *vs = vbuf + cur * BWD_BN * LD;

    float s[SN][4], dp[SN][4];
#pragma unroll
    for (int n = 0; n < SN; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) s[n][e] = dp[n][e] = 0;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      uint32_t qf[4], gf[4];
      load_a<T, LD>(qf, qw, kk, lane);
      load_a<T, LD>(gf, gw, kk, lane);
      mma_abt_step<T, LD, BWD_BN>(s, qf, ks, kk, lane);
      mma_abt_step<T, LD, BWD_BN>(dp, gf, vs, kk, lane);
    }
    const bool need_mask = a.mask || j0 + BWD_BN > min(first_hidden, a.tk);
#pragma unroll
    for (int n = 0; n < SN; n++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        float pz;
        mma_pair_grads<T>(a, b, h, row0 + 8 * (e >> 1), j0 + n * 8 + 2 * t + (e & 1), need_mask, s[n][e], dp[n][e],
                          lse[e >> 1], di[e >> 1], pz, dp[n][e]);
      }
#pragma unroll
    for (int kb = 0; kb < BWD_BN / 16; kb++) {
      uint32_t df[4];
      c_to_a<T>(df, dp[2 * kb], dp[2 * kb + 1]);
      mma_ab_step<T, LD, D>(dq, df, ks, kb, lane);
    }
    __syncthreads(); /* the next iteration's cp.async overwrites this buffer pair */
  }
  store_rows<T, D>(a.gq, b, h, i0 + warp * 16, a.tq, dq, (float)a.scale, g, t);
}

template <typename T, int D> bool mma_backward_launch(const Args &a) {
  constexpr int LD = D + 8, QT = bwd_qt<D>::value;
  int64_t rows = (int64_t)a.b * a.h * a.tq;
  if (!launch(row_dot_kernel<T>, "launch of attention row_dot_kernel", (rows + WARPS - 1) / WARPS, 0, a, 0))
    return true;
  int ktiles = (a.tk + BWD_BN - 1) / BWD_BN, qtiles = (a.tq + BWD_BM - 1) / BWD_BM;
  size_t smem_kv = sizeof(T) * (size_t)(2 * BWD_BN + 4 * QT) * LD + sizeof(float) * 4 * QT;
  size_t smem_q = sizeof(T) * (size_t)(2 * BWD_BM + 4 * BWD_BN) * LD;
  if (!launch(mma_dkdv_kernel<T, D>, "launch of attention mma_dkdv_kernel", (int64_t)a.b * a.h * ktiles, smem_kv, a,
              ktiles))
    return true;
  launch(mma_dq_kernel<T, D>, "launch of attention mma_dq_kernel", (int64_t)a.b * a.h * qtiles, smem_q, a, qtiles);
  return true;
}

/* Runs the tensor-core backward when it applies (returns false to leave the call to the
 * warp kernels). a.di must hold B*H*Tq floats of scratch. */
bool ax_attn_mma_backward(const Args &a, int dtype) {
  if (!mma_applies(dtype, a.d)) return false;
  const Rows *all[] = {&a.q, &a.k, &a.v, &a.out, &a.gout, &a.gq, &a.gk, &a.gv};
  for (const Rows *r : all)
    if (!rows_aligned(*r)) return false;
  if (dtype == AX_BF16)
    return a.d == 64 ? mma_backward_launch<__nv_bfloat16, 64>(a) : mma_backward_launch<__nv_bfloat16, 128>(a);
  return a.d == 64 ? mma_backward_launch<__half, 64>(a) : mma_backward_launch<__half, 128>(a);
}

} /* namespace */
