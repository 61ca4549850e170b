/* CUDA runtime layer: device discovery, memory, transfers.
 *
 * A machine with the toolkit but no GPU (or no driver) makes
 * cudaGetDeviceCount fail ("driver version is insufficient", "no CUDA-capable
 * device"): that counts as zero devices, so a CUDA build still runs all of
 * its CPU work. Every CUDA call is checked and reported with its call site.
 *
 * Status: memory and transfers only. The kernel entries of ax_cuda_backend are
 * filled by the CUDA backend issue; until then the op layer reports
 * "not implemented on the cuda backend yet" for each op. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"

extern "C" void ax_error(const char *fmt, ...);

#define AX_CUDA_CHECK(call)                                                                           \
  ax_cuda_check((call), #call, __FILE__, __LINE__)

static bool ax_cuda_check(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return true;
  ax_error("CUDA error %s (%s) in %s at %s:%d", cudaGetErrorName(e), cudaGetErrorString(e), what, file, line);
  return false;
}

static int device_count = -1;

/* Until streams land, everything runs on the legacy default stream of the current device. */
extern "C" cudaStream_t ax_cuda_stream(void) { return 0; }
extern "C" int ax_cuda_current_device(void) {
  int d = 0;
  cudaGetDevice(&d);
  return d;
}

extern "C" int ax_cuda_runtime_device_count(void) {
  if (device_count < 0) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError(); /* clear the sticky error: no GPU is not an error for us */
      n = 0;
    }
    device_count = n;
  }
  return device_count;
}

#define AX_MAX_CUDA_DEVICES 64
static ax_memory_stats stats[AX_MAX_CUDA_DEVICES];

static void *cuda_alloc(size_t nbytes, int dev) {
  void *p = NULL;
  if (!AX_CUDA_CHECK(cudaSetDevice(dev))) return NULL;
  if (nbytes == 0) nbytes = 1;
  cudaError_t e = cudaMalloc(&p, nbytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    ax_memory_stats *s = &stats[dev % AX_MAX_CUDA_DEVICES];
    ax_error("CUDA out of memory on cuda:%d: asked for %zu bytes with %zu live and %zu cached", dev, nbytes,
             s->live_bytes, s->cached_bytes);
    return NULL;
  }
  ax_memory_stats *s = &stats[dev % AX_MAX_CUDA_DEVICES];
  s->live_bytes += nbytes;
  s->os_allocs++;
  if (s->live_bytes > s->peak_bytes) s->peak_bytes = s->live_bytes;
  return p;
}

static void cuda_free(void *p, size_t nbytes, int dev) {
  if (!p) return;
  if (nbytes == 0) nbytes = 1;
  AX_CUDA_CHECK(cudaSetDevice(dev));
  AX_CUDA_CHECK(cudaFree(p));
  stats[dev % AX_MAX_CUDA_DEVICES].live_bytes -= nbytes;
}

static void cuda_copy_from_host(void *dst, const void *src, size_t n, int dev) {
  if (!n) return;
  AX_CUDA_CHECK(cudaSetDevice(dev));
  AX_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
}

static void cuda_copy_to_host(void *dst, const void *src, size_t n, int dev) {
  if (!n) return;
  AX_CUDA_CHECK(cudaSetDevice(dev));
  AX_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
}

static void cuda_synchronize(int dev) {
  AX_CUDA_CHECK(cudaSetDevice(dev));
  AX_CUDA_CHECK(cudaDeviceSynchronize());
}

static ax_memory_stats cuda_memory_stats(int dev) { return stats[dev % AX_MAX_CUDA_DEVICES]; }
static void cuda_empty_cache(int dev) { (void)dev; /* no cache yet: blocks go straight back to cudaFree */ }

extern "C" void ax_cuda_runtime_fill_table(ax_backend *b) {
  b->alloc = cuda_alloc;
  b->free = cuda_free;
  b->copy_from_host = cuda_copy_from_host;
  b->copy_to_host = cuda_copy_to_host;
  b->synchronize = cuda_synchronize;
  b->memory_stats = cuda_memory_stats;
  b->empty_cache = cuda_empty_cache;
}

extern "C" int ax_cuda_device_name(int dev, char *buf, size_t n) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  snprintf(buf, n, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor, (double)p.totalGlobalMem / (1 << 30));
  return 0;
}
