/* SPDX-License-Identifier: BSD-3-Clause */
/* The emulated device checks itself: each scenario is a small kernel with a
 * known defect (or none), run through the real launch path (ax_cuda_launch,
 * kernels/cuda/emulate/runtime.cpp), and the emulator must report exactly that
 * defect, or nothing for the correct kernels. Scenarios that must abort run in a
 * child process; the parent matches the child's message.
 *
 * Built in the emulated configuration only (AXON_CUDA=EMULATE), compiled as
 * device code like kernels/cuda/*.cu; run by ctest as emulator_selftest.
 *
 *   emulator_selftest            every scenario
 *   emulator_selftest NAME ...   only those (-l lists them) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"

extern "C" void ax_error(const char *fmt, ...) {
  (void)fmt;
  fprintf(stderr, "ax_error\n");
}

namespace {

/* ---- kernels: correct ones ---- */

/* zero-fill, barrier, one thread adds into a slot another thread zeroed: no race */
__global__ void k_fill_then_owner(float *out) {
  AX_DYNAMIC_SMEM(float, acc);
  acc[threadIdx.x] = 0.f;
  __syncthreads();
  float v = __shfl_sync(0xffffffffu, (float)threadIdx.x, 0);
  if (threadIdx.x == 7) acc[31] += v + 1.f;
  __syncthreads();
  out[threadIdx.x] = acc[threadIdx.x];
}

/* a block sum with its barriers in place */
__global__ void k_block_sum(const float *x, float *out, int n, bool skip_barrier) {
  AX_SHARED(float, s, [256]);
  float v = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) v += x[i];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) s[threadIdx.x] += s[threadIdx.x + o];
    if (!skip_barrier) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

/* every thread counts into one shared word with atomics: not a race */
__global__ void k_shared_atomics(int *out) {
  AX_SHARED(int, count, );
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  atomicAdd(&count, 1);
  __syncthreads();
  if (threadIdx.x == 0) *out = count;
}

/* reads shared memory nobody wrote: the poison (NaN) comes out */
__global__ void k_read_unwritten(float *out) {
  AX_SHARED(float, s, [64]);
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void k_write(float *p, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) p[i] = 1.f;
}

/* ---- kernels: defects ---- */

/* two threads store to one shared slot between barriers */
__global__ void k_ww_race(float *out) {
  AX_SHARED(float, s, [32]);
  s[threadIdx.x / 2] = (float)threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x / 2];
}

/* threads reach different numbers of barriers */
__global__ void k_divergent_barrier(float *out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
    __syncthreads();
  }
  out[threadIdx.x] = 1.f;
}

/* a full-mask warp reduction in a block of 48 threads: lanes 16..31 of warp 1 do not exist */
__global__ void k_partial_warp_shuffle(float *out) {
  float v = 1.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}

/* lanes of one warp in different collectives */
__global__ void k_divergent_shuffle(float *out) {
  float v = 1.f;
  if (threadIdx.x % 2) v = __shfl_xor_sync(0xffffffffu, v, 1);
  else v = __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

/* one element past the end of a device buffer */
__global__ void k_global_overrun(float *p, int n) {
  if (threadIdx.x == 0) p[n] = 1.f;
}

/* one element past the dynamic shared memory */
__global__ void k_smem_overrun(float *out, int n) {
  AX_DYNAMIC_SMEM(float, s);
  s[threadIdx.x] = 1.f;
  if (threadIdx.x == 0) s[n] = 2.f;
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void k_trap(float *) { __trap(); }

/* int8 arithmetic: __dp4a per thread, and one warp's mma.m16n8k32 s8 with the PTX ISA's
 * fragment layout (A [16][32] row-major, B [32][8] stored column-major as Bt [8][32]) */
__global__ void k_dp4a(const int *a, const int *b, int *out) {
  out[threadIdx.x] = __dp4a(a[threadIdx.x], b[threadIdx.x], (int)threadIdx.x - 16);
}
__global__ void k_mma_s8(const int8_t *A, const int8_t *Bt, int *C) {
  int lane = threadIdx.x, g = lane / 4, q = lane % 4;
  uint32_t a[4], b[2];
  memcpy(&a[0], A + g * 32 + 4 * q, 4);
  memcpy(&a[1], A + (g + 8) * 32 + 4 * q, 4);
  memcpy(&a[2], A + g * 32 + 16 + 4 * q, 4);
  memcpy(&a[3], A + (g + 8) * 32 + 16 + 4 * q, 4);
  memcpy(&b[0], Bt + g * 32 + 4 * q, 4);
  memcpy(&b[1], Bt + g * 32 + 16 + 4 * q, 4);
  int c[4] = {1, 2, 3, 4};
  ax_emu_mma_16832_s8(c, a, b[0], b[1]);
  int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * q, 2 * q + 1, 2 * q, 2 * q + 1};
  for (int i = 0; i < 4; i++) C[rows[i] * 8 + cols[i]] = c[i];
}

/* the same defects in template kernels (their static shared arrays are the ones
 * a plain static would hide from the checks) */
template <typename T> __global__ void k_tmpl_ww_race(T *out) {
  AX_SHARED(T, st, [32]);
  st[threadIdx.x / 2] = (T)threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = st[threadIdx.x / 2];
}
template <typename T> __global__ void k_tmpl_read_unwritten(T *out) {
  AX_SHARED(T, st, [2][32]);
  if (threadIdx.x < 32) st[0][threadIdx.x] = (T)1;
  __syncthreads();
  out[threadIdx.x] = st[1][threadIdx.x % 32];
}
template <int N> __global__ void k_tmpl_static_overrun(float *out) {
  AX_SHARED(float, st, [N]);
  st[threadIdx.x] = 1.f; /* a block of N + 1 threads: one past the end */
  __syncthreads();
  out[threadIdx.x] = st[threadIdx.x % N];
}
/* 2 x 32 KB of static shared arrays: over the 48 KB a kernel may declare */
__global__ void k_static_too_big(float *out) {
  AX_SHARED(float, a, [8192]);
  AX_SHARED(float, b, [8192]);
  a[threadIdx.x] = b[threadIdx.x] = 1.f;
  out[threadIdx.x] = a[threadIdx.x] + b[threadIdx.x];
}

/* ---- harness ---- */

struct scenario {
  const char *name;
  const char *expect; /* substring of the child's stderr; NULL: must succeed */
  void (*run)(void);
  const char *why;
};

int fails;

void check(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "  check failed: %s\n", what);
    exit(3);
  }
}

float *device_floats(int n) {
  void *p = NULL;
  check(cudaMalloc(&p, (size_t)n * sizeof(float)) == cudaSuccess, "cudaMalloc");
  return (float *)p;
}

std::vector<float> to_host(const float *d, int n) {
  std::vector<float> h((size_t)n);
  check(cudaMemcpy(h.data(), d, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess, "cudaMemcpy");
  return h;
}

template <typename T> T *device_copy(const std::vector<T> &h) {
  void *p = NULL;
  check(cudaMalloc(&p, h.size() * sizeof(T)) == cudaSuccess, "cudaMalloc");
  check(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess, "copy");
  return (T *)p;
}

void run_dp4a(void) {
  std::vector<int> a(32), b(32), out(32);
  for (int i = 0; i < 32; i++) a[i] = (int)(0x80FF7F01u * (unsigned)(i + 1)), b[i] = (int)(0x807F01FFu ^ (unsigned)(i * 77));
  int *da = device_copy(a), *db = device_copy(b), *dout = device_copy(out);
  check(ax_cuda_launch(k_dp4a, 1, 32, 0, 0, (const int *)da, (const int *)db, dout) == cudaSuccess, "launch");
  check(cudaMemcpy(out.data(), dout, sizeof(int) * 32, cudaMemcpyDeviceToHost) == cudaSuccess, "copy");
  for (int i = 0; i < 32; i++) {
    int want = i - 16;
    for (int k = 0; k < 4; k++) want += (int8_t)(a[i] >> (8 * k)) * (int8_t)(b[i] >> (8 * k));
    check(out[i] == want, "dp4a: c + the dot product of four signed bytes");
  }
}

void run_mma_s8(void) {
  std::vector<int8_t> A(16 * 32), Bt(8 * 32);
  for (int i = 0; i < 16 * 32; i++) A[i] = (int8_t)(i * 37 + 11);
  for (int i = 0; i < 8 * 32; i++) Bt[i] = (int8_t)(i * 53 - 7);
  A[0] = Bt[0] = -128;
  std::vector<int> C(16 * 8);
  int8_t *dA = device_copy(A), *dB = device_copy(Bt);
  int *dC = device_copy(C);
  check(ax_cuda_launch(k_mma_s8, 1, 32, 0, 0, (const int8_t *)dA, (const int8_t *)dB, dC) == cudaSuccess, "launch");
  check(cudaMemcpy(C.data(), dC, sizeof(int) * C.size(), cudaMemcpyDeviceToHost) == cudaSuccess, "copy");
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 8; c++) {
      int want = 1 + (c % 2) + (r >= 8 ? 2 : 0);
      for (int k = 0; k < 32; k++) want += A[r * 32 + k] * Bt[c * 32 + k];
      check(C[r * 8 + c] == want, "mma.m16n8k32 s8: C + A B, exact");
    }
}

void run_fill_then_owner(void) {
  float *out = device_floats(32);
  for (int launch = 0; launch < 3; launch++) /* the race check samples the lockstep blocks */
    check(ax_cuda_launch(k_fill_then_owner, 1, 32, 32 * sizeof(float), 0, out) == cudaSuccess, "launch");
  std::vector<float> h = to_host(out, 32);
  check(h[31] == 1.f && h[0] == 0.f, "values");
}

void run_block_sum(bool skip_barrier) {
  const int n = 1000;
  std::vector<float> x((size_t)n);
  double want = 0;
  for (int i = 0; i < n; i++) x[i] = (float)(i % 7) - 3.f, want += x[i];
  float *dx = device_floats(n), *out = device_floats(3);
  check(cudaMemcpy(dx, x.data(), sizeof(float) * n, cudaMemcpyHostToDevice) == cudaSuccess, "copy");
  /* three blocks: one of each schedule (lockstep, warp-greedy forward, backward) */
  check(ax_cuda_launch(k_block_sum, 3, 256, 0, 0, (const float *)dx, out, n, skip_barrier) == cudaSuccess, "launch");
  std::vector<float> h = to_host(out, 3);
  for (int b = 0; b < 3; b++)
    if (h[b] != (float)want) {
      fprintf(stderr, "block sum: block %d got %g, want %g (a schedule exposed the missing barrier)\n", b, h[b], want);
      exit(4);
    }
}

void run_good_sum(void) { run_block_sum(false); }
void run_missing_barrier(void) { run_block_sum(true); }

void run_shared_atomics(void) {
  int *out = NULL;
  check(cudaMalloc((void **)&out, sizeof(int)) == cudaSuccess, "cudaMalloc");
  for (int launch = 0; launch < 3; launch++) check(ax_cuda_launch(k_shared_atomics, 1, 128, 0, 0, out) == 0, "launch");
  int h = 0;
  check(cudaMemcpy(&h, out, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess, "copy");
  check(h == 128, "count");
}

void run_read_unwritten(void) {
  float *out = device_floats(64);
  check(ax_cuda_launch(k_read_unwritten, 1, 64, 0, 0, out) == cudaSuccess, "launch");
  std::vector<float> h = to_host(out, 64);
  for (float v : h) check(v != v, "unwritten shared memory reads as NaN");
}

void run_fresh_memory_is_poisoned(void) {
  float *p = device_floats(10);
  std::vector<float> h = to_host(p, 10);
  for (float v : h) check(v != v, "cudaMalloc'ed memory reads as NaN");
}

void run_async_copy_waits(void) {
  float *d = device_floats(256), *pinned = NULL;
  check(cudaMallocHost((void **)&pinned, 256 * sizeof(float)) == cudaSuccess, "cudaMallocHost");
  memset(pinned, 0, 256 * sizeof(float));
  cudaStream_t st;
  check(cudaStreamCreateWithFlags(&st, cudaStreamDefault) == cudaSuccess, "stream");
  check(ax_cuda_launch(k_write, 1, 64, 0, st, d, 256) == cudaSuccess, "launch");
  check(cudaMemcpyAsync(pinned, d, 256 * sizeof(float), cudaMemcpyDeviceToHost, st) == cudaSuccess, "copy");
  /* not synchronized yet: the kernel and the copy are still queued */
  check(pinned[0] == 0.f, "an asynchronous copy into pinned memory has not landed before the host waits");
  check(cudaStreamSynchronize(st) == cudaSuccess, "sync");
  check(pinned[0] == 1.f && pinned[255] == 1.f, "it has after cudaStreamSynchronize");
  cudaStreamDestroy(st);
  cudaFreeHost(pinned);
}

void run_bad_block(void) {
  float *out = device_floats(1);
  check(ax_cuda_launch(k_write, 1, 2048, 0, 0, out, 1) == cudaErrorInvalidConfiguration, "2048 threads refused");
  check(cudaGetLastError() == cudaErrorInvalidConfiguration, "and reported by cudaGetLastError");
  check(cudaGetLastError() == cudaSuccess, "which then clears");
}

void run_smem_optin(void) {
  float *out = device_floats(32);
  size_t big = 64 * 1024;
  check(ax_cuda_launch(k_fill_then_owner, 1, 32, big, 0, out) == cudaErrorInvalidValue, "64 KB without the opt-in");
  cudaGetLastError();
  check(cudaFuncSetAttribute(k_fill_then_owner, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)big) == 0, "opt in");
  check(ax_cuda_launch(k_fill_then_owner, 1, 32, big, 0, out) == cudaSuccess, "64 KB with it");
  check(cudaFuncSetAttribute(k_fill_then_owner, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024) != 0,
        "past 227 KB refused");
  cudaGetLastError();
  cudaDeviceSynchronize();
}

void run_kernel_list(void) {
  ax_cuda_kernel_count k[4096];
  int n = ax_cuda_kernel_counts(k, 4096);
  check(n >= 0, "the emulated runtime counts kernels (a real CUDA build returns -1)");
}

void run_ww_race(void) {
  float *out = device_floats(64);
  for (int launch = 0; launch < 3; launch++) ax_cuda_launch(k_ww_race, 1, 64, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_tmpl_ww_race(void) {
  float *out = device_floats(64);
  for (int launch = 0; launch < 3; launch++) ax_cuda_launch(k_tmpl_ww_race<float>, 1, 64, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_tmpl_read_unwritten(void) {
  float *out = device_floats(64);
  check(ax_cuda_launch(k_tmpl_read_unwritten<float>, 2, 64, 0, 0, out) == cudaSuccess, "launch");
  std::vector<float> h = to_host(out, 64);
  for (float v : h) check(v != v, "a template kernel's unwritten static shared array reads as NaN");
}
void run_tmpl_static_overrun(void) {
  float *out = device_floats(64);
  ax_cuda_launch(k_tmpl_static_overrun<32>, 1, 33, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_static_too_big(void) {
  float *out = device_floats(32);
  ax_cuda_launch(k_static_too_big, 1, 32, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_divergent_barrier(void) {
  float *out = device_floats(64);
  ax_cuda_launch(k_divergent_barrier, 1, 64, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_partial_warp_shuffle(void) {
  float *out = device_floats(48);
  ax_cuda_launch(k_partial_warp_shuffle, 1, 48, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_divergent_shuffle(void) {
  float *out = device_floats(32);
  ax_cuda_launch(k_divergent_shuffle, 1, 32, 0, 0, out);
  cudaDeviceSynchronize();
}
void run_global_overrun(void) {
  float *p = device_floats(100);
  ax_cuda_launch(k_global_overrun, 1, 32, 0, 0, p, 100);
  cudaDeviceSynchronize();
}
void run_smem_overrun(void) {
  float *out = device_floats(32);
  ax_cuda_launch(k_smem_overrun, 1, 32, 32 * sizeof(float), 0, out, 32);
  cudaDeviceSynchronize();
}
void run_trap(void) {
  float *out = device_floats(1);
  ax_cuda_launch(k_trap, 1, 1, 0, 0, out);
  cudaDeviceSynchronize();
}

const scenario scenarios[] = {
    {"fill_then_owner", NULL, run_fill_then_owner, "a write after a barrier to a slot another thread zeroed"},
    {"block_sum", NULL, run_good_sum, "a block reduction with its barriers"},
    {"shared_atomics", NULL, run_shared_atomics, "atomics on one shared word are not a race"},
    {"read_unwritten_shared", NULL, run_read_unwritten, "unwritten shared memory is NaN"},
    {"fresh_memory_poisoned", NULL, run_fresh_memory_is_poisoned, "cudaMalloc'ed memory is NaN"},
    {"async_copy_waits", NULL, run_async_copy_waits, "queued work runs when the host waits"},
    {"bad_block_size", NULL, run_bad_block, "a 2048-thread block is a launch error"},
    {"smem_optin", NULL, run_smem_optin, "dynamic shared memory past 48 KB needs the opt-in"},
    {"kernel_list", NULL, run_kernel_list, "the kernel list exists"},
    {"dp4a", NULL, run_dp4a, "__dp4a: four signed byte products, exact"},
    {"mma_s8", NULL, run_mma_s8, "mma.m16n8k32 s8 (int8 tensor cores), exact"},
    {"template_unwritten_shared", NULL, run_tmpl_read_unwritten, "a template kernel's static shared array is NaN"},
    {"write_write_race", "shared-memory race", run_ww_race, "two threads store one shared slot between barriers"},
    {"template_write_write_race", "of the shared array st (", run_tmpl_ww_race,
     "the same race in a template kernel, named by its array"},
    {"template_static_overrun", "write past the end of the shared array st|index 32 out of bounds for type 'float [32]'",
     run_tmpl_static_overrun, "a store one past a template kernel's static shared array (UBSan, when on, first)"},
    {"static_over_48k", "over the 48 KB a kernel can declare", run_static_too_big, "64 KB of static shared arrays"},
    {"missing_barrier", "a schedule exposed the missing barrier", run_missing_barrier,
     "a block reduction without its __syncthreads"},
    {"divergent_barrier", "barrier divergence", run_divergent_barrier, "threads wait at different barriers"},
    {"partial_warp_shuffle", "lanes that do not exist", run_partial_warp_shuffle,
     "a full-mask shuffle in a 48-thread block"},
    {"divergent_shuffle", "different collectives", run_divergent_shuffle, "lanes in different shuffles"},
#if defined(__SANITIZE_ADDRESS__)
    {"global_overrun", "heap-buffer-overflow", run_global_overrun, "a store one past a device buffer (ASan)"},
#else
    {"global_overrun", "out-of-bounds write past the end", run_global_overrun, "a store one past a device buffer"},
#endif
    {"smem_overrun", "past the end of dynamic shared memory", run_smem_overrun, "a store one past dynamic smem"},
    {"trap", "__trap()", run_trap, "__trap in a kernel"},
};

bool run_one(const scenario &s) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return false;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    dup2(pipefd[1], 2);
    s.run();
    cudaDeviceSynchronize();
    _exit(0);
  }
  close(pipefd[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) err.append(buf, (size_t)n);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  /* expect may list alternatives, "a|b": the emulator's own report, or a sanitizer's that comes first */
  size_t at = std::string::npos;
  if (s.expect)
    for (std::string alts = s.expect; at == std::string::npos && !alts.empty();) {
      size_t bar = alts.find('|');
      at = err.find(alts.substr(0, bar));
      alts = bar == std::string::npos ? "" : alts.substr(bar + 1);
    }
  bool ok = s.expect ? !clean && at != std::string::npos : clean;
  printf("%s %-24s %s\n", ok ? "ok  " : "FAIL", s.name, s.why);
  if (!ok) {
    printf("     expected %s; the child %s, and said:\n%s\n", s.expect ? s.expect : "success",
           clean ? "exited 0" : "failed", err.c_str());
  } else if (s.expect) {
    size_t bol = err.rfind('\n', at), eol = err.find('\n', at);
    bol = bol == std::string::npos ? 0 : bol + 1;
    printf("     reported: %s\n", err.substr(bol, eol == std::string::npos ? std::string::npos : eol - bol).c_str());
  }
  return ok;
}

}  // namespace

int main(int argc, char **argv) {
  int ran = 0;
  for (const scenario &s : scenarios) {
    bool wanted = argc < 2;
    for (int i = 1; i < argc; i++) {
      if (!strcmp(argv[i], "-l")) {
        printf("%s\n", s.name);
        continue;
      }
      if (!strcmp(argv[i], s.name)) wanted = true;
    }
    if (!wanted) continue;
    ran++;
    if (!run_one(s)) fails++;
  }
  printf("%d scenarios, %d failed\n", ran, fails);
  return fails ? 1 : 0;
}
