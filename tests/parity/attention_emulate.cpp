/* SPDX-License-Identifier: BSD-3-Clause */
/* Runs kernels/cuda/attention.cu on the host, without a GPU (kernels/cuda/emulate/device.h):
 * ax_cuda_attention and ax_cuda_attention_backward, dispatch included, compiled
 * as host C++ with AX_CUDA_EMULATE, against a naive double-precision reference
 * (softmax over the visible keys, the same Philox dropout draw, the analytic
 * gradients). Covers the tensor-core forward (attention_mma.cuh) and backward
 * (attention_mma_bwd.cuh) for bf16 and f16 at D = 64 and 128: causal or not,
 * Tq == Tk and Tq != Tk both ways (rows that see no key), a bool mask with a
 * fully masked row, a float mask, dropout 0.2, q/k/v as strided views of one
 * [B, T, 3, H, D] buffer; plus two cases on misaligned rows, which take the
 * warp kernels (a check of the reference itself). Errors as NMSE against the
 * reference with the GPU parity suite's bounds (tests/parity/parity.c:
 * bf16 1e-4, f16 1e-5). Built and run by ctest (attention_emulate, label
 * "cpu;emulate") when the CUDA toolkit's headers are there:
 *
 *   g++ -std=c++17 -O2 -fno-strict-aliasing -DAX_CUDA_EMULATE -I/usr/local/cuda/include -I include -I . \
 *       -x c++ tests/parity/attention_emulate.cpp -o attention_emulate && ./attention_emulate
 */
#include "kernels/cuda/emulate/device.h"

/* launches run at once here (the emulated runtime queues them) */
cudaError_t ax_emu_submit(const void *, dim3, dim3, size_t, cudaStream_t, std::function<void()> run) {
  run();
  return cudaSuccess;
}
extern "C" cudaError_t cudaGetLastError(void) { return cudaSuccess; }
extern "C" cudaError_t cudaPeekAtLastError(void) { return cudaSuccess; }
extern "C" const char *cudaGetErrorName(cudaError_t) { return "?"; }
extern "C" const char *cudaGetErrorString(cudaError_t) { return "?"; }
extern "C" cudaError_t cudaFuncSetAttribute(const void *, cudaFuncAttribute, int) { return cudaSuccess; }
extern "C" cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr, int) {
  *v = 9;
  return cudaSuccess;
}

#include <stdarg.h>

static int kernel_errors;

#include "kernels/cuda/attention.cu"

/* ---- what attention.cu needs from the rest of the library ---- */

extern "C" void ax_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ax_error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  kernel_errors++;
}
extern "C" void ax_cuda_error(const char *fmt, ...) { /* kernel files report through this (common.cuh) */
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ax_error("%s", msg);
}
/* the library's settings as their defaults (AXON_ATTN_MMA=1: the mma.sync kernels run) */
extern "C" const ax_settings *ax_settings_get(void) {
  static ax_settings s = [] {
    ax_settings d = {};
    d.gemm_wgmma = d.attn_mma = true;
    d.dist_timeout = 60;
    d.emu_memory_gb = 8;
    d.emu_race_launches = 4;
    return d;
  }();
  return &s;
}
extern "C" cudaStream_t ax_cuda_stream(void) { return 0; }
extern "C" int ax_cuda_current_device(void) { return 0; }
extern "C" void *ax_cuda_scratch_alloc(size_t nbytes) { return malloc(nbytes); }
extern "C" void ax_cuda_scratch_free(void *p) { free(p); }
/* the kernel status of the entries (runtime.cu's is thread-local; one thread here) */
static ax_kstatus kstatus = AX_K_OK;
extern "C" void ax_cuda_entry_begin(void) { kstatus = AX_K_OK; }
extern "C" void ax_cuda_entry_end(void) {}
extern "C" void ax_cuda_note_failure(ax_kstatus s, const char *, cudaError_t) {
  if (kstatus == AX_K_OK) kstatus = s;
}
extern "C" ax_kstatus ax_cuda_kstatus(void) { return kstatus; }
extern "C" bool ax_cuda_cudnn_attention_selected(const ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *,
                                                 const ax_attn_params *) {
  return false;
}
extern "C" void ax_cuda_cudnn_attention(ax_kt *, ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *,
                                        const ax_attn_params *) {
  abort();
}
extern "C" void ax_cuda_cudnn_attention_backward(ax_kt *, ax_kt *, ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *,
                                                 const ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *,
                                                 const ax_attn_params *) {
  abort();
}

/* ---- cases ---- */

enum { NO_MASK, BOOL_MASK, FLOAT_MASK };

struct acase {
  int b, h, tq, tk, causal, mask;
  double dropout;
  bool qkv_views; /* q, k, v as views of one [B, T, 3, H, D] buffer (needs tq == tk) */
  bool misaligned; /* rows off by one element: the warp kernels */
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform() { /* [-1, 1) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) / (double)(1ull << 52) - 1.0;
}

/* A [B, H, T, D] view into a buffer of T elements, and its values as doubles. */
template <typename T> struct view {
  std::vector<T> *buf;
  int64_t off, sb, sh, st;
  T &at(int b, int h, int i, int c) const { return (*buf)[off + b * sb + h * sh + (int64_t)i * st + c]; }
  double get(int b, int h, int i, int c) const { return (double)(float)at(b, h, i, c); }
};

template <typename T> static ax_kt kt_of(const view<T> &v, int dtype, int B, int H, int t, int D) {
  ax_kt k;
  memset(&k, 0, sizeof k);
  k.data = v.buf->data() + v.off;
  k.dtype = dtype;
  k.ndim = 4;
  int64_t shape[4] = {B, H, t, D}, strides[4] = {v.sb, v.sh, v.st, 1};
  memcpy(k.shape, shape, sizeof shape);
  memcpy(k.strides, strides, sizeof strides);
  return k;
}

struct result { double out, lse, gq, gk, gv; };

static double nmse(const std::vector<double> &ref, const std::vector<double> &got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    if (std::isnan(got[i]) || ((std::isinf(got[i]) || std::isinf(ref[i])) && got[i] != ref[i])) return INFINITY;
    if (std::isinf(ref[i])) continue; /* lse of a row that sees nothing: checked equal above */
    num += (ref[i] - got[i]) * (ref[i] - got[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

template <typename T>
static result run_case(int dtype, int D, const acase &c, bool *took_mma) {
  const int B = c.b, H = c.h, TQ = c.tq, TK = c.tk;
  const int pad = c.misaligned ? 1 : 0;
  std::vector<T> qkv, qb, kb, vb;
  view<T> q, k, v;
  if (c.qkv_views) {
    qkv.resize((size_t)B * TQ * 3 * H * D + pad);
    for (auto &x : qkv) x = (T)(float)uniform();
    int64_t sb = (int64_t)TQ * 3 * H * D, st = 3 * H * D;
    q = {&qkv, pad, sb, D, st}, k = {&qkv, pad + H * D, sb, D, st}, v = {&qkv, pad + 2 * H * D, sb, D, st};
  } else {
    qb.resize((size_t)B * H * TQ * D + pad), kb.resize((size_t)B * H * TK * D + pad), vb.resize(kb.size());
    for (auto *bf : {&qb, &kb, &vb})
      for (auto &x : *bf) x = (T)(float)uniform();
    q = {&qb, pad, (int64_t)H * TQ * D, (int64_t)TQ * D, D};
    k = {&kb, pad, (int64_t)H * TK * D, (int64_t)TK * D, D};
    v = {&vb, pad, (int64_t)H * TK * D, (int64_t)TK * D, D};
  }
  /* out as the op layer lays it out: [B, Tq, H, D] storage seen as [B, H, Tq, D]; poisoned */
  const T nan = (T)NAN;
  std::vector<T> ob((size_t)B * TQ * H * D, nan), gob((size_t)B * H * TQ * D);
  std::vector<T> gqb((size_t)B * H * TQ * D, nan), gkb((size_t)B * H * TK * D, nan), gvb(gkb.size(), nan);
  std::vector<float> lse((size_t)B * H * TQ, NAN);
  for (auto &x : gob) x = (T)(float)uniform();
  view<T> o = {&ob, 0, (int64_t)TQ * H * D, D, (int64_t)H * D}, go = {&gob, 0, (int64_t)H * TQ * D, (int64_t)TQ * D, D};
  view<T> gq = {&gqb, 0, (int64_t)H * TQ * D, (int64_t)TQ * D, D}, gk = {&gkb, 0, (int64_t)H * TK * D, (int64_t)TK * D, D},
          gv = {&gvb, 0, (int64_t)H * TK * D, (int64_t)TK * D, D};

  /* masks: bool [B, 1, Tq, Tk] with row 0 of batch 0 fully masked; float [Tq, Tk] */
  std::vector<uint8_t> mbool;
  std::vector<T> mfloat;
  ax_kt mk;
  memset(&mk, 0, sizeof mk);
  mk.ndim = 4;
  int64_t mshape[4] = {B, H, TQ, TK};
  memcpy(mk.shape, mshape, sizeof mshape);
  if (c.mask == BOOL_MASK) {
    mbool.resize((size_t)B * TQ * TK);
    for (size_t i = 0; i < mbool.size(); i++) mbool[i] = i >= (size_t)TK && uniform() > -0.5;
    mk.data = mbool.data(), mk.dtype = AX_BOOL;
    int64_t s[4] = {(int64_t)TQ * TK, 0, TK, 1};
    memcpy(mk.strides, s, sizeof s);
  } else if (c.mask == FLOAT_MASK) {
    mfloat.resize((size_t)TQ * TK);
    for (auto &x : mfloat) x = (T)(float)(2 * uniform());
    mk.data = mfloat.data(), mk.dtype = dtype;
    int64_t s[4] = {0, 0, TK, 1};
    memcpy(mk.strides, s, sizeof s);
  }
  auto mask_of = [&](int b, int h, int i, int j, double s, bool *hidden) {
    (void)h;
    *hidden = c.causal && j >= i + TK - TQ + 1;
    if (c.mask == BOOL_MASK) *hidden = *hidden || !mbool[(size_t)b * TQ * TK + (size_t)i * TK + j];
    if (c.mask == FLOAT_MASK) s += (double)(float)mfloat[(size_t)i * TK + j];
    return s;
  };

  ax_attn_params p;
  memset(&p, 0, sizeof p);
  p.b = B, p.h = H, p.tq = TQ, p.tk = TK, p.d = D, p.scale = 1 / sqrt((double)D), p.causal = c.causal;
  p.dropout_p = c.dropout, p.seed = 1234, p.offset = 77;

  ax_kt kq = kt_of(q, dtype, B, H, TQ, D), kk = kt_of(k, dtype, B, H, TK, D), kv = kt_of(v, dtype, B, H, TK, D);
  ax_kt ko = kt_of(o, dtype, B, H, TQ, D), kgo = kt_of(go, dtype, B, H, TQ, D), kgq = kt_of(gq, dtype, B, H, TQ, D),
        kgk = kt_of(gk, dtype, B, H, TK, D), kgv = kt_of(gv, dtype, B, H, TK, D);
  ax_kt kl;
  memset(&kl, 0, sizeof kl);
  kl.data = lse.data(), kl.dtype = AX_F32, kl.ndim = 3;
  long long before = emu_mma_count;
  ax_cuda_attention(&ko, &kl, &kq, &kk, &kv, c.mask ? &mk : NULL, &p);
  long long between = emu_mma_count;
  ax_cuda_attention_backward(&kgq, &kgk, &kgv, &kgo, &kq, &kk, &kv, &ko, &kl, c.mask ? &mk : NULL, &p);
  took_mma[0] = between > before, took_mma[1] = emu_mma_count > between;

  /* the reference, in double, from the same rounded inputs */
  std::vector<double> r_out, g_out, r_lse, g_lse, r_gq, g_gq;
  std::vector<double> r_gk((size_t)B * H * TK * D, 0), r_gv(r_gk.size(), 0), g_gk, g_gv;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < TQ; i++) {
        std::vector<double> s(TK), pr(TK, 0), z(TK, 1), dp(TK);
        double m = -INFINITY;
        for (int j = 0; j < TK; j++) {
          double dot = 0;
          for (int e = 0; e < D; e++) dot += q.get(b, h, i, e) * k.get(b, h, j, e);
          bool hidden;
          s[j] = mask_of(b, h, i, j, dot * p.scale, &hidden);
          if (hidden) s[j] = -INFINITY;
          m = std::max(m, s[j]);
        }
        double l = 0;
        for (int j = 0; j < TK; j++) l += s[j] == -INFINITY ? 0 : exp(s[j] - m);
        r_lse.push_back(l > 0 ? m + log(l) : INFINITY);
        g_lse.push_back(lse[((size_t)b * H + h) * TQ + i]);
        for (int j = 0; j < TK; j++) {
          pr[j] = l > 0 && s[j] != -INFINITY ? exp(s[j] - m) / l : 0;
          if (p.dropout_p > 0) {
            uint64_t idx = (((uint64_t)b * H + h) * TQ + i) * TK + j;
            ax_philox4 r = ax_philox4x32_10(idx, p.offset, p.seed);
            z[j] = ax_uint_to_unit_float(r.v[0]) < (float)p.dropout_p ? 0 : 1 / (1 - p.dropout_p);
          }
        }
        double di = 0;
        std::vector<double> orow(D, 0);
        for (int e = 0; e < D; e++) {
          for (int j = 0; j < TK; j++) orow[e] += pr[j] * z[j] * v.get(b, h, j, e);
          r_out.push_back(orow[e]);
          g_out.push_back(o.get(b, h, i, e));
          di += orow[e] * go.get(b, h, i, e);
        }
        for (int j = 0; j < TK; j++) {
          double dov = 0;
          for (int e = 0; e < D; e++) dov += go.get(b, h, i, e) * v.get(b, h, j, e);
          dp[j] = pr[j] * (dov * z[j] - di) * p.scale; /* dS * scale */
        }
        for (int e = 0; e < D; e++) {
          double acc = 0;
          for (int j = 0; j < TK; j++) {
            acc += dp[j] * k.get(b, h, j, e);
            size_t kj = (((size_t)b * H + h) * TK + j) * D + e;
            r_gk[kj] += dp[j] * q.get(b, h, i, e);
            r_gv[kj] += pr[j] * z[j] * go.get(b, h, i, e);
          }
          r_gq.push_back(acc);
          g_gq.push_back(gq.get(b, h, i, e));
        }
      }
      for (int j = 0; j < TK; j++)
        for (int e = 0; e < D; e++) g_gk.push_back(gk.get(b, h, j, e)), g_gv.push_back(gv.get(b, h, j, e));
    }
  return {nmse(r_out, g_out), nmse(r_lse, g_lse), nmse(r_gq, g_gq), nmse(r_gk, g_gk), nmse(r_gv, g_gv)};
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  unsetenv("AXON_ATTN_MMA"); /* this program checks the tensor-core kernels, whatever the environment says */
  const acase cases[] = {
      /* b, h, tq, tk, causal, mask, dropout, qkv views, misaligned */
      {1, 2, 130, 130, 1, NO_MASK, 0, true, false},
      {1, 1, 65, 130, 0, BOOL_MASK, 0, false, false},
      {1, 1, 130, 65, 1, FLOAT_MASK, 0, false, false},
      {2, 1, 7, 70, 1, NO_MASK, 0.2, false, false},
      {1, 1, 65, 65, 0, BOOL_MASK, 0.2, false, false},
      {1, 1, 1, 1, 0, NO_MASK, 0, false, false},
      {2, 2, 200, 200, 1, NO_MASK, 0.2, true, false},
      {1, 1, 130, 200, 0, FLOAT_MASK, 0, false, false},
      {1, 1, 7, 65, 1, NO_MASK, 0, false, true},
      {1, 1, 33, 33, 0, FLOAT_MASK, 0.2, false, true},
  };
  const char *masks[] = {"", " bool-mask", " float-mask"};
  int failures = 0, runs = 0;
  for (int dt = 0; dt < 2; dt++)
    for (int D : {64, 128})
      for (const acase &c : cases) {
        if (c.misaligned && D == 128) continue; /* the warp kernels: one head dim is enough */
        bool took[2] = {false, false}; /* forward, backward ran mma.sync */
        result r = dt == 0 ? run_case<__nv_bfloat16>(AX_BF16, D, c, took) : run_case<__half>(AX_F16, D, c, took);
        bool right_path = took[0] == !c.misaligned && took[1] == !c.misaligned;
        double bound = dt == 0 ? 1e-4 : 1e-5;
        double errs[5] = {r.out, r.lse, r.gq, r.gk, r.gv};
        bool ok = kernel_errors == 0 && right_path;
        for (double e : errs) ok = ok && e <= bound;
        runs++;
        failures += !ok;
        printf("%s %s D%d B%d H%d Tq%d Tk%d%s%s%s%s%s: nmse out %.2e lse %.2e gq %.2e gk %.2e gv %.2e%s\n",
               ok ? "ok  " : "FAIL", dt == 0 ? "bf16" : "f16", D, c.b, c.h, c.tq, c.tk, c.causal ? " causal" : "",
               masks[c.mask], c.dropout > 0 ? " dropout" : "", c.qkv_views ? " qkv-views" : "",
               c.misaligned ? " misaligned(warp kernels)" : " (mma)", r.out, r.lse, r.gq, r.gk, r.gv,
               right_path ? "" : " [wrong path]");
        kernel_errors = 0;
      }
  printf("%d cases, %d failed\n", runs, failures);
  return failures != 0;
}
