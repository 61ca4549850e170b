/* SPDX-License-Identifier: BSD-3-Clause */
/* The CUDA runtime's C interface for code outside kernels/cuda (tools, the
 * benchmark harness, tests): device facts, streams, events, allocator counters.
 * Plain C and free of CUDA headers: streams and events are opaque pointers
 * (cudaStream_t / cudaEvent_t). Every function exists only in a CUDA build;
 * code that must also link without one declares what it uses weak. */
#ifndef AXON_KERNELS_CUDA_RUNTIME_H
#define AXON_KERNELS_CUDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_cuda_device_info {
  char name[256];
  int major, minor;               /* compute capability */
  int sm_count;
  size_t total_bytes, free_bytes; /* global memory */
  size_t l2_bytes;
  size_t smem_per_block_optin;    /* the most shared memory one block may ask for */
  int memory_clock_khz, memory_bus_bits;
  double peak_bandwidth_gbs;      /* 2 * clock * bus width: the datasheet number, not a measurement */
} ax_cuda_device_info;

int ax_cuda_runtime_device_count(void);                  /* 0 when CUDA is unusable */
int ax_cuda_device_name(int dev, char *buf, size_t n);   /* 0, or -1 if unreadable */
int ax_cuda_device_info_get(int dev, ax_cuda_device_info *out); /* 0, or -1 */

/* Streams. Work on the current device goes to its stream: the device's own
 * (created on first use) unless this thread has set another with
 * ax_cuda_set_stream (NULL goes back to the device's own). */
void *ax_cuda_get_stream(void);
void ax_cuda_set_stream(void *stream);
/* A new stream on the current device (blocking, like the device's own); NULL
 * after reporting an error. Destroy it only after the tensors used on it. */
void *ax_cuda_stream_create(void);
void ax_cuda_stream_destroy(void *stream);

/* Events for timing: recorded on the current stream; elapsed waits for `end`.
 * create returns NULL after reporting an error; elapsed returns -1 then. */
void *ax_cuda_event_create(void);
void ax_cuda_event_destroy(void *event);
void ax_cuda_event_record(void *event);
void ax_cuda_event_synchronize(void *event);
float ax_cuda_event_elapsed_ms(void *start, void *end);

/* Caching allocator counters beyond ax_memory_stats. */
typedef struct ax_cuda_alloc_counters {
  size_t cache_hits;   /* allocations served from the cache */
  size_t cache_misses; /* allocations that called cudaMalloc */
  size_t oom_retries;  /* cudaMalloc failures that emptied the cache and retried */
  size_t deferred_frees; /* frees of blocks used on other streams, held until an event on each completed */
  size_t pending_blocks; /* such blocks still waiting now (not in any free list) */
} ax_cuda_alloc_counters;
ax_cuda_alloc_counters ax_cuda_alloc_counters_get(int dev);

/* Stream recording (PyTorch's record_stream): the block holding `ptr` (the
 * start of a tensor's storage or of scratch from the caching allocator) is used
 * by work queued on `stream`, which is not the stream it was allocated on. When
 * it is freed, an event is recorded on each such stream and the block goes back
 * to its free list only once every event has completed (polled at later
 * allocations), so it is never handed out while that work may still read or
 * write it. Freeing a block while another stream than its own is current records
 * that stream implicitly. Returns 0, or -1 if ptr is not a block in use. */
int ax_cuda_record_stream(void *ptr, void *stream);

/* Why the latest failed allocation on this thread failed ("" if none); the op
 * layer puts it in its out-of-memory error. */
const char *ax_cuda_alloc_failure(void);

/* What the emulated device's runtime has done since the program started (for
 * tests that assert an op needs no host round trip): cudaMallocAsync calls,
 * copies into host memory (device to host, from a symbol), and host waits (a
 * stream, event or device synchronize, a synchronous copy or memset, a pageable
 * device-to-host copy, cudaFree). Returns 0, or -1 in a real CUDA build. */
typedef struct ax_cuda_emu_counters {
  unsigned long long malloc_async, device_to_host, host_waits;
} ax_cuda_emu_counters;
int ax_cuda_emu_counters_get(ax_cuda_emu_counters *out);

/* The emulated device (AXON_CUDA=EMULATE, kernels/cuda/emulate/): 1 when cuda:0
 * is the host emulator rather than a GPU, 0 in a real CUDA build. */
int ax_cuda_is_emulated(void);

/* Every kernel instantiation compiled into the library, by name (demangled,
 * e.g. "gemm_simt<float, float, 64, 64, 8, false, false>"), in name order, with
 * what the emulated device has launched of it so far (zeros for a kernel never
 * launched). Fills up to cap entries and returns how many there are; -1 in a
 * real CUDA build, which does not count launches. */
typedef struct ax_cuda_kernel_count {
  const char *name; /* valid until the next call */
  unsigned long long launches, blocks, threads;
} ax_cuda_kernel_count;
int ax_cuda_kernel_counts(ax_cuda_kernel_count *out, int cap);

/* A test hook of the emulated device only (kernels/cuda/emulate/runtime.cpp; not
 * defined in a real CUDA build): the next kernel launch fails with
 * cudaErrorLaunchFailure, as a real one can, so a test can see the failure turn
 * into a NULL result from the op that launched it. */
void ax_emulate_fail_next_launch(void);

#ifdef __cplusplus
}
#endif
#endif
