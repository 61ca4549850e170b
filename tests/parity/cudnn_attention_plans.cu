/* SPDX-License-Identifier: BSD-3-Clause */
/* Checks, without a GPU, that cuDNN plans the attention graphs of
 * kernels/cuda/attention_cudnn.cu (AXON_ATTN=cudnn) for an H100.
 *
 * cuDNN 9.8 and later pick engines and build execution plans for a device
 * described by a device-properties JSON instead of a live GPU. For each case this
 * program derives the plan key from ax_kt views as the library does (its Call
 * struct, so the stride and mask-layout logic is the library's), builds the
 * forward or backward graph with the library's builders, asks heuristics mode A
 * for engine configs on the described device and finalizes the first config's
 * plan. A case passes when that plan gets as far as loading the engine's freshly
 * NVRTC-compiled module, which the toolkit's stub libcuda refuses
 * (CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER, "cuLibraryLoadData"; with a real
 * driver the plan finalizes), and its engine is the one the pass's reference
 * case (GPT-2's shape, the first of each pass) gets first: cuDNN 9.19 also
 * compiles some graphs the fused flash engine refuses (f32 I/O, D 1000) with
 * another engine, which must not count. Negative controls, each a legal case
 * with one thing broken past the library's own checks, must fail that test.
 *
 * What it proves: the graphs are well formed, match the fused flash-attention
 * patterns of this cuDNN and compile for sm_90. What it does not: that they
 * compute attention. A graph that keeps the pattern but has a wrong comparison
 * or sign plans just as well, and cuDNN does not check that a bias or Stats
 * tensor broadcasts against the scores; numerics, workspace, binding and
 * execution are for `axon_parity attention_cudnn` on a GPU.
 *
 * ctest runs it as cudnn_attention_plans (tests/parity/CMakeLists.txt) with a
 * libcuda.so.1 -> stubs/libcuda.so link first on its LD_LIBRARY_PATH when the
 * machine has no driver. Exit 0: all passed; 1: a failure; 77: this cuDNN is
 * older than deviceless planning (skipped). */
#ifndef AXON_HAVE_CUDNN
#define AXON_HAVE_CUDNN 1
#endif
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "kernels/cuda/attention_cudnn.cu"

/* ---- what the included file needs from the runtime (never called for a device here) ---- */

static char last_error[1024];

extern "C" void ax_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
}
extern "C" void ax_cuda_error(const char *fmt, ...) { /* kernel files report through this (common.cuh) */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
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
extern "C" void *ax_cuda_scratch_alloc(size_t) { return nullptr; }
extern "C" void ax_cuda_scratch_free(void *) {}
extern "C" cudnnHandle_t ax_cuda_cudnn(void) { return nullptr; }
extern "C" cublasHandle_t ax_cuda_cublas(void) { return nullptr; }

enum { SKIP = 77 };

#if CUDNN_VERSION < 90800

int main() {
  printf("cudnn_attention_plans: skipped: built against cuDNN %d, deviceless planning needs 9.8\n", CUDNN_VERSION);
  return SKIP;
}

#else

/* Device properties as cudaGetDeviceProperties reports them (cuDNN's JSON schema). */
static const char H100_JSON[] =
    "{\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],\"regsPerBlock\":65536,"
    "\"multiProcessorCount\":132,\"smClockRateKHz\":1980000,\"memClockRateKHz\":2619000,\"l2CacheSize\":52428800,"
    "\"warpSize\":32,\"maxSharedMemoryPerBlock\":49152,\"maxSharedMemoryPerBlockOptin\":232448,"
    "\"reservedSharedMemoryPerBlock\":1024,\"maxRegistersPerSM\":65536,\"pciDeviceId\":0,\"maxCtasPerSM\":32,"
    "\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,\"totalGlobalMem\":85029158912,\"supportCoopLaunch\":1,"
    "\"isTccDriver\":0,\"cudaDeviceId\":0,\"deviceVer\":900,\"driverVer\":13000,"
    "\"deviceName\":\"NVIDIA H100 80GB HBM3\"}";

/* The same sm_90 part with 141 GB of HBM3e. */
static const char H200_JSON[] =
    "{\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],\"regsPerBlock\":65536,"
    "\"multiProcessorCount\":132,\"smClockRateKHz\":1980000,\"memClockRateKHz\":3201000,\"l2CacheSize\":52428800,"
    "\"warpSize\":32,\"maxSharedMemoryPerBlock\":49152,\"maxSharedMemoryPerBlockOptin\":232448,"
    "\"reservedSharedMemoryPerBlock\":1024,\"maxRegistersPerSM\":65536,\"pciDeviceId\":0,\"maxCtasPerSM\":32,"
    "\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,\"totalGlobalMem\":150754820096,\"supportCoopLaunch\":1,"
    "\"isTccDriver\":0,\"cudaDeviceId\":0,\"deviceVer\":900,\"driverVer\":13000,\"deviceName\":\"NVIDIA H200\"}";

enum Device { H100, H200 };

/* ---- cases ---- */

enum Layout { CONTIG, GPT_QKV }; /* q/k/v contiguous, or views of GPT's [B, T, 3, H, D] buffer */
enum Mask { NO_MASK, FLOAT_BIAS, KEY_PADDING, BOOL_MASK };
/* Negative controls: a legal case with one thing broken past the library's own checks. */
enum Break { NONE, D60, D1000, F32_IO, MIXED_K, V_ROWS, O_HEAD, DV_ROWS };

struct Case {
  int pass, dtype;
  int64_t b, h, tq, tk, d;
  int causal, layout, mask;
  double dropout;
  int device, brk;
};

#define FWD FORWARD, AX_BF16
#define BWD BACKWARD, AX_BF16

/* The first case of each pass is its reference: the engine it gets first is the
 * fused flash-attention engine every other case of that pass must get first. */
static const Case cases[] = {
    /* GPT-2 124M training: B 4, H 12, T 1024, D 64, causal, q/k/v views of c_attn's output */
    {FWD, 4, 12, 1024, 1024, 64, 1, GPT_QKV, NO_MASK, 0, H100, NONE},
    {BWD, 4, 12, 1024, 1024, 64, 1, GPT_QKV, NO_MASK, 0, H100, NONE},
    {FWD, 1, 12, 4096, 4096, 64, 1, GPT_QKV, NO_MASK, 0, H100, NONE},
    {BWD, 1, 12, 4096, 4096, 64, 1, GPT_QKV, NO_MASK, 0, H100, NONE},
    {FWD, 2, 16, 1024, 1024, 128, 1, CONTIG, NO_MASK, 0, H100, NONE},
    {BWD, 2, 16, 1024, 1024, 128, 1, CONTIG, NO_MASK, 0, H100, NONE},
    {FORWARD, AX_F16, 2, 2, 129, 129, 64, 1, GPT_QKV, NO_MASK, 0, H100, NONE},
    {BACKWARD, AX_F16, 2, 2, 129, 129, 64, 1, GPT_QKV, NO_MASK, 0, H100, NONE},
    /* Tq < Tk causal: the bottom-right diagonal of a KV cache */
    {FWD, 2, 2, 70, 200, 64, 1, CONTIG, NO_MASK, 0, H100, NONE},
    {BWD, 2, 2, 70, 200, 64, 1, CONTIG, NO_MASK, 0, H100, NONE},
    {FWD, 2, 2, 200, 64, 64, 0, CONTIG, NO_MASK, 0, H100, NONE}, /* Tq > Tk */
    {BWD, 2, 2, 200, 64, 64, 0, CONTIG, NO_MASK, 0, H100, NONE},
    /* a float [Tq, Tk] bias, bound in place */
    {FORWARD, AX_F16, 2, 2, 96, 96, 128, 1, CONTIG, FLOAT_BIAS, 0, H100, NONE},
    {BACKWARD, AX_F16, 2, 2, 96, 96, 128, 1, CONTIG, FLOAT_BIAS, 0, H100, NONE},
    /* a [B, 1, 1, Tk] key-padding mask (and a bool mask): copied to a [B, 1, Tq, ld] bias */
    {FWD, 2, 2, 64, 129, 64, 0, CONTIG, KEY_PADDING, 0, H100, NONE},
    {BWD, 2, 2, 64, 129, 64, 0, CONTIG, KEY_PADDING, 0, H100, NONE},
    {FWD, 2, 2, 64, 64, 64, 1, CONTIG, BOOL_MASK, 0, H100, NONE},
    {FWD, 1, 2, 128, 128, 128, 1, CONTIG, NO_MASK, 0.1, H100, NONE},
    {BWD, 1, 2, 128, 128, 128, 1, CONTIG, NO_MASK, 0.1, H100, NONE},
    {FWD, 1, 2, 64, 64, 256, 0, CONTIG, NO_MASK, 0, H100, NONE},
    {BWD, 1, 2, 64, 64, 256, 0, CONTIG, NO_MASK, 0, H100, NONE},
    {FWD, 1, 2, 64, 64, 72, 0, CONTIG, NO_MASK, 0, H100, NONE}, /* a multiple of 8, no power of 2 */
    {BWD, 1, 2, 64, 64, 72, 0, CONTIG, NO_MASK, 0, H100, NONE},
    {FWD, 4, 12, 1024, 1024, 64, 1, GPT_QKV, NO_MASK, 0, H200, NONE},
    {BWD, 4, 12, 1024, 1024, 64, 1, GPT_QKV, NO_MASK, 0, H200, NONE},
    /* negative controls: none may get its pass's fused engine up to a module */
    {FWD, 1, 2, 64, 64, 60, 0, CONTIG, NO_MASK, 0, H100, D60},
    {BWD, 1, 2, 64, 64, 60, 0, CONTIG, NO_MASK, 0, H100, D60},
    {FWD, 1, 2, 64, 64, 1000, 0, CONTIG, NO_MASK, 0, H100, D1000},
    {BWD, 1, 2, 64, 64, 1000, 0, CONTIG, NO_MASK, 0, H100, D1000},
    {FWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, F32_IO},
    {BWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, F32_IO},
    {FWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, MIXED_K},
    {BWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, MIXED_K},
    {FWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, V_ROWS},
    {FWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, O_HEAD},
    {BWD, 1, 2, 64, 64, 64, 0, CONTIG, NO_MASK, 0, H100, DV_ROWS},
};
constexpr int N_CASES = (int)(sizeof cases / sizeof cases[0]);

static const char *break_name(int b) {
  switch (b) {
    case D60: return "NEGATIVE D not a multiple of 8";
    case D1000: return "NEGATIVE D past 256";
    case F32_IO: return "NEGATIVE f32 q/k/v/o";
    case MIXED_K: return "NEGATIVE k f16 in a bf16 graph";
    case V_ROWS: return "NEGATIVE v with Tk + 8 rows";
    case O_HEAD: return "NEGATIVE o with D / 2 columns";
    case DV_ROWS: return "NEGATIVE dV with Tk + 8 rows";
    default: return "";
  }
}

static void describe_case(char *buf, size_t n, const Case &c) {
  const char *mask = c.mask == FLOAT_BIAS    ? " float-bias"
                     : c.mask == KEY_PADDING ? " key-padding"
                     : c.mask == BOOL_MASK   ? " bool-mask"
                                             : "";
  snprintf(buf, n, "%s%s%s %s B%lld H%lld Tq%lld Tk%lld D%lld%s%s%s%s%s", break_name(c.brk), c.brk ? ": " : "",
           c.pass == FORWARD ? "fwd" : "bwd", c.brk == F32_IO ? "f32" : c.dtype == AX_BF16 ? "bf16" : "f16", (long long)c.b, (long long)c.h,
           (long long)c.tq, (long long)c.tk, (long long)c.d, c.causal ? " causal" : "",
           c.layout == GPT_QKV ? " qkv-views" : "", mask, c.dropout > 0 ? " dropout" : "",
           c.device == H200 ? " H200" : "");
}

/* ---- views, as the op layer hands them to the backend ---- */

/* A 16-byte aligned address that is never dereferenced. */
static void *const FAKE = (void *)(uintptr_t)0x10000;

static ax_kt view4(int dtype, int64_t b, int64_t h, int64_t t, int64_t d, int64_t sb, int64_t sh, int64_t st,
                   int64_t sd) {
  ax_kt v;
  memset(&v, 0, sizeof v);
  v.data = FAKE, v.dtype = dtype, v.ndim = 4;
  const int64_t shape[4] = {b, h, t, d}, strides[4] = {sb, sh, st, sd};
  memcpy(v.shape, shape, sizeof shape);
  memcpy(v.strides, strides, sizeof strides);
  return v;
}

static ax_kt contiguous(int dtype, int64_t b, int64_t h, int64_t t, int64_t d) {
  return view4(dtype, b, h, t, d, h * t * d, t * d, d, 1);
}

/* q, k or v as ax__attention_run makes them: [B, T, 3, H, D] permuted to [B, H, T, D]. */
static ax_kt qkv_view(int dtype, int64_t b, int64_t h, int64_t t, int64_t d) {
  return view4(dtype, b, h, t, d, t * 3 * h * d, d, 3 * h * d, 1);
}

/* D 60 / 1000: past Call's checks, for cuDNN's engines to refuse. */
static void set_head_dim(Key *k, int64_t d) {
  k->d = d;
  int64_t *q_like[4] = {k->qs, k->os, k->dos, k->dqs}, *k_like[4] = {k->ks, k->vs, k->dks, k->dvs};
  for (int i = 0; i < 4; i++) {
    q_like[i][0] = k->h * k->tq * d, q_like[i][1] = k->tq * d, q_like[i][2] = d;
    k_like[i][0] = k->h * k->tk * d, k_like[i][1] = k->tk * d, k_like[i][2] = d;
  }
}

/* The plan key of a case, derived from views by the library's Call; false (the
 * library's message in last_error) when the library itself refuses the case. */
static bool key_of(Case c, Key *key) {
  bool bad_d = c.brk == D60 || c.brk == D1000;
  int64_t broken_d = c.d;
  if (bad_d) c.d = 64; /* what Call accepts; the key gets the bad D afterwards */
  ax_attn_params p;
  memset(&p, 0, sizeof p);
  p.b = c.b, p.h = c.h, p.tq = c.tq, p.tk = c.tk, p.d = c.d, p.causal = c.causal;
  p.scale = 1.0 / sqrt((double)c.d), p.dropout_p = c.dropout, p.seed = 1234;
  bool gpt = c.layout == GPT_QKV;
  ax_kt q = gpt ? qkv_view(c.dtype, c.b, c.h, c.tq, c.d) : contiguous(c.dtype, c.b, c.h, c.tq, c.d);
  ax_kt k = gpt ? qkv_view(c.dtype, c.b, c.h, c.tk, c.d) : contiguous(c.dtype, c.b, c.h, c.tk, c.d);
  /* the output is [B, H, T, D] over [B, T, H, D] storage (ops_attention.c); lse is [B, H, Tq] */
  ax_kt out = view4(c.dtype, c.b, c.h, c.tq, c.d, c.tq * c.h * c.d, c.d, c.h * c.d, 1);
  ax_kt lse = view4(AX_F32, c.b, c.h, c.tq, 1, c.h * c.tq, c.tq, 1, 1);
  lse.ndim = 3;
  ax_kt mask, *m = nullptr;
  if (c.mask == FLOAT_BIAS) mask = view4(c.dtype, c.b, c.h, c.tq, c.tk, 0, 0, c.tk, 1), m = &mask;
  if (c.mask == KEY_PADDING) mask = view4(c.dtype, c.b, c.h, c.tq, c.tk, c.tk, 0, 0, 1), m = &mask;
  if (c.mask == BOOL_MASK) mask = view4(AX_BOOL, c.b, c.h, c.tq, c.tk, 0, 0, c.tk, 1), m = &mask;

  last_error[0] = 0;
  Call call(c.pass, &q, &k, &k, m, &p);
  call.rows("out", &out, call.key.os);
  call.stats(&lse);
  if (c.pass == BACKWARD) {
    ax_kt gq = contiguous(c.dtype, c.b, c.h, c.tq, c.d), gk = contiguous(c.dtype, c.b, c.h, c.tk, c.d);
    call.rows("the output gradient", &gq, call.key.dos);
    call.rows("gq", &gq, call.key.dqs);
    call.rows("gk", &gk, call.key.dks);
    call.rows("gv", &gk, call.key.dvs);
  }
  call.bias_layout();
  *key = call.key;
  if (bad_d) set_head_dim(key, broken_d);
  return call.ok;
}

/* The builders reuse a bound tensor by UID, so binding one first with a wrong
 * shape or type breaks that tensor alone in the graph they then build. */
static void seed_broken_tensor(Plan &p, cudnnDataType_t io, int brk) {
  Builder g{p, io}, g16{p, CUDNN_DATA_HALF};
  const Key &k = p.key;
  const int64_t longer[3] = {k.h * (k.tk + 8) * k.d, (k.tk + 8) * k.d, k.d};
  if (brk == MIXED_K) g16.bound_t(U_K, k.b, k.h, k.tk, k.d, k.ks);
  if (brk == V_ROWS) g.bound(U_V, io, k.b, k.h, k.tk + 8, k.d, longer);
  if (brk == O_HEAD) g.bound(U_O, io, k.b, k.h, k.tq, k.d / 2, k.os);
  if (brk == DV_ROWS) g.bound(U_DV, io, k.b, k.h, k.tk + 8, k.d, longer);
}

/* ---- planning for a described device ---- */

struct Outcome {
  bool built = false;                          /* the library's builders reported no error */
  int64_t configs = 0;                         /* engine configs heuristics mode A offered */
  int64_t engine = -1;                         /* the global index of the first one's engine */
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS; /* where that failed: heuristics or its plan's finalize */
  char detail[512] = "";                       /* cuDNN's (or the library's) message */
};

static void last_cudnn_error(char *buf, size_t n) {
  cudnnGetLastErrorString(buf, n);
  for (char *s = buf; *s; s++)
    if (*s == '\n' || *s == '\r') *s = ' ';
}

static int64_t engine_index(Desc cfg) {
  Desc eng = nullptr;
  int64_t n = 0, idx = -1;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) return -1;
  if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &eng) ==
      CUDNN_STATUS_SUCCESS)
    cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &idx);
  cudnnBackendDestroyDescriptor(eng);
  return idx;
}

/* Whether a plan's finalize got a loadable module: finalized (a real driver), or
 * compiled and then refused by the driver when loaded (the stub libcuda). */
static bool reached_module(cudnnStatus_t s, const char *detail) {
  return s == CUDNN_STATUS_SUCCESS ||
         (s == CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER && strstr(detail, "Load") != nullptr);
}

/* Builds the graph (no handle), asks heuristics mode A for devprop's device and
 * finalizes the first config's plan for it. */
static Outcome plan_for_device(const Key &key, cudnnDataType_t io, int brk, Desc devprop) {
  Outcome o;
  Plan p;
  p.key = key;
  last_error[0] = 0;
  seed_broken_tensor(p, io, brk);
  if (key.pass == FORWARD)
    build_forward(p, io);
  else
    build_backward(p, io);
  o.built = p.ok;
  if (!o.built) {
    snprintf(o.detail, sizeof o.detail, "%s", last_error);
    return o;
  }
  char drain[1024];
  last_cudnn_error(drain, sizeof drain);
  Desc graph = nullptr, heur = nullptr, plan = nullptr;
  std::vector<Desc> cfgs;
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &graph);
  if (!s)
    s = cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 (int64_t)p.ops.size(), p.ops.data());
  if (!s) s = cudnnBackendFinalize(graph);
  if (!s) s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur);
  if (!s)
    s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  if (!s) s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (!s)
    s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &devprop);
  if (!s) s = cudnnBackendFinalize(heur);
  if (!s)
    s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &o.configs,
                                 nullptr);
  for (int64_t i = 0; !s && i < o.configs; i++) {
    cfgs.push_back(nullptr);
    s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs.back());
  }
  if (!s && o.configs > 0)
    s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, o.configs,
                                 &o.configs, cfgs.data());
  if (s) o.configs = 0; /* the graph or heuristics failed */
  if (!s && o.configs > 0) {
    o.engine = engine_index(cfgs[0]);
    s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan);
    if (!s)
      s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                   &cfgs[0]);
    if (!s)
      s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                   &devprop);
    if (!s) s = cudnnBackendFinalize(plan);
  }
  o.status = s;
  if (s) last_cudnn_error(o.detail, sizeof o.detail);
  if (plan) cudnnBackendDestroyDescriptor(plan);
  for (Desc c : cfgs)
    if (c) cudnnBackendDestroyDescriptor(c);
  if (heur) cudnnBackendDestroyDescriptor(heur);
  if (graph) cudnnBackendDestroyDescriptor(graph);
  return o;
}

static Desc make_devprop(const char *json) {
  Desc d = nullptr;
  cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &d);
  if (!s)
    s = cudnnBackendSetAttribute(d, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, (int64_t)strlen(json),
                                 json);
  if (!s) s = cudnnBackendFinalize(d);
  if (s) {
    char detail[512] = "";
    last_cudnn_error(detail, sizeof detail);
    printf("cudnn_attention_plans: cuDNN refused the device properties: %s %s\n", cudnnGetErrorString(s), detail);
    if (d) cudnnBackendDestroyDescriptor(d);
    return nullptr;
  }
  return d;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  size_t version = cudnnGetVersion();
  if (version < 90800) {
    printf("cudnn_attention_plans: skipped: cuDNN %zu is loaded, deviceless planning needs 9.8 (90800)\n", version);
    return SKIP;
  }
  Desc devprops[2] = {make_devprop(H100_JSON), make_devprop(H200_JSON)};
  if (!devprops[H100] || !devprops[H200]) return 1;
  printf("cudnn_attention_plans: cuDNN %zu, %d cases, plans for sm_90 from device properties\n", version, N_CASES);

  int failed = 0;
  const Case *reference[2] = {nullptr, nullptr}; /* by pass: its first case */
  for (const Case &c : cases)
    if (!reference[c.pass]) reference[c.pass] = &c;
  int64_t fused_engine[2] = {-2, -2}; /* by pass: the engine the reference case got first */
  for (const Case &c : cases) {
    double t0 = now();
    char name[160];
    describe_case(name, sizeof name, c);
    Key key;
    Outcome o;
    bool legal = key_of(c, &key);
    if (!legal) snprintf(o.detail, sizeof o.detail, "%s", last_error);
    cudnnDataType_t io = c.dtype == AX_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
    if (c.brk == F32_IO) io = CUDNN_DATA_FLOAT;
    if (legal) o = plan_for_device(key, io, c.brk, devprops[c.device]);
    bool compiled = legal && o.built && o.configs > 0 && reached_module(o.status, o.detail);
    if (&c == reference[c.pass]) fused_engine[c.pass] = compiled ? o.engine : -2; /* -2: every case fails */
    bool accepted = compiled && o.engine == fused_engine[c.pass];
    bool pass = c.brk == NONE ? accepted : !accepted;
    failed += !pass;

    char what[300];
    if (!legal)
      snprintf(what, sizeof what, "refused by the library's own checks");
    else if (!o.built)
      snprintf(what, sizeof what, "graph did not build");
    else if (o.configs == 0)
      snprintf(what, sizeof what, "no engine config%s%s", o.status ? ": " : "",
               o.status ? cudnnGetErrorString(o.status) : "");
    else if (!compiled)
      snprintf(what, sizeof what, "engine %lld (of %lld configs): plan refused, %s", (long long)o.engine,
               (long long)o.configs, cudnnGetErrorString(o.status));
    else
      snprintf(what, sizeof what, "engine %lld (of %lld configs)%s: %s", (long long)o.engine, (long long)o.configs,
               o.engine == fused_engine[c.pass] ? "" : " (not the fused one)",
               o.status == CUDNN_STATUS_SUCCESS ? "plan finalized" : "compiled, module load refused by the stub driver");
    printf("%s  %-58s %s [%.1f s]\n", pass ? "pass" : "FAIL", name, what, now() - t0);
    if (!pass || (c.brk && !compiled && o.detail[0])) printf("        %.300s\n", o.detail);
  }
  for (Desc d : devprops) cudnnBackendDestroyDescriptor(d);
  printf("cudnn_attention_plans: %d of %d cases failed\n", failed, N_CASES);
  return failed ? 1 : 0;
}

#endif /* CUDNN_VERSION >= 90800 */
