/* SPDX-License-Identifier: BSD-3-Clause */
/* CUDA runtime layer: devices, streams, events, the caching allocator, host
 * transfers. (The vendor handles are in vendor.cu.)
 *
 * Devices: a machine with the toolkit but no GPU (or no driver) makes
 * cudaGetDeviceCount fail ("driver version is insufficient", "no CUDA-capable
 * device"): that counts as zero devices, so a CUDA build still runs all of its
 * CPU work.
 *
 * Streams: each device has one stream of its own, created on first use; a
 * thread may substitute its own with ax_cuda_set_stream. The streams are
 * blocking (not cudaStreamNonBlocking) so that anything queued on the legacy
 * default stream, by a library or by code that forgot the stream argument,
 * stays ordered with our work.
 *
 * Allocator: like PyTorch's, without block splitting. Sizes up to 1 MiB round
 * up to 512 B, larger ones to 2 MiB multiples. A freed block goes back to a
 * free list of its device and of the stream it was allocated on, and is handed
 * out again only for that stream, where stream order alone makes the reuse
 * safe (no event per block, no synchronization). When cudaMalloc fails, every
 * cached block of the device is released and the allocation retried once;
 * after a second failure the allocation returns NULL and the reason is left in
 * ax_cuda_alloc_failure() for the op layer's error message.
 *
 * Transfers go through two pinned host buffers per device so that the copies
 * are real asynchronous DMA on the stream: host to device returns as soon as
 * the source bytes are in a pinned buffer (the caller may free its memory);
 * device to host waits for the stream, as it must.
 *
 * Every CUDA call is checked and reported with its call site. */
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/runtime.h"

#define AX_MAX_CUDA_DEVICES 64

/* On the emulated device the allocator tells it which bytes of a block the
 * tensor uses, so that it can poison them and catch writes past them. */
#if defined(AX_CUDA_EMULATE)
extern "C" void ax_emu_block_handed_out(void *p, size_t nbytes, size_t size);
extern "C" void ax_emu_block_returned(void *p);
#define AX_EMU_HANDED_OUT(p, nbytes, size) ax_emu_block_handed_out(p, nbytes, size)
#define AX_EMU_RETURNED(p) ax_emu_block_returned(p)
#else
#define AX_EMU_HANDED_OUT(p, nbytes, size) ((void)0)
#define AX_EMU_RETURNED(p) ((void)0)
#endif

/* ------------------------------------------------------------------------ */
/* devices                                                                  */

static std::once_flag count_once;
static int device_count;

extern "C" int ax_cuda_runtime_device_count(void) {
  std::call_once(count_once, [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError(); /* clear it: no GPU is not an error for us */
      n = 0;
    }
    device_count = n > AX_MAX_CUDA_DEVICES ? AX_MAX_CUDA_DEVICES : n;
  });
  return device_count;
}

extern "C" int ax_cuda_current_device(void) {
  int d = 0;
  if (cudaGetDevice(&d) != cudaSuccess) {
    cudaGetLastError();
    d = 0;
  }
  return d >= 0 && d < AX_MAX_CUDA_DEVICES ? d : 0;
}

static bool valid_device(int dev) { return dev >= 0 && dev < ax_cuda_runtime_device_count(); }

/* Makes dev current on this thread; cudaSetDevice only when it is not already. */
static cudaError_t set_device(int dev) {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur == dev) return cudaSuccess;
  return cudaSetDevice(dev);
}
static bool use_device(int dev) { return AX_CUDA_CHECK(set_device(dev)); }

extern "C" int ax_cuda_device_name(int dev, char *buf, size_t n) {
  cudaDeviceProp p;
  if (!valid_device(dev) || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  snprintf(buf, n, "%s (sm_%d%d, %d SMs, %.1f GiB)", p.name, p.major, p.minor, p.multiProcessorCount,
           (double)p.totalGlobalMem / (1 << 30));
  return 0;
}

extern "C" int ax_cuda_device_info_get(int dev, ax_cuda_device_info *out) {
  memset(out, 0, sizeof *out);
  cudaDeviceProp p;
  if (!valid_device(dev) || !AX_CUDA_CHECK(cudaGetDeviceProperties(&p, dev))) return -1;
  snprintf(out->name, sizeof out->name, "%s", p.name);
  out->major = p.major;
  out->minor = p.minor;
  out->sm_count = p.multiProcessorCount;
  out->total_bytes = p.totalGlobalMem;
  out->l2_bytes = (size_t)p.l2CacheSize;
  out->smem_per_block_optin = p.sharedMemPerBlockOptin;
  int clock = 0, bus = 0;
  if (cudaDeviceGetAttribute(&clock, cudaDevAttrMemoryClockRate, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, dev) != cudaSuccess)
    cudaGetLastError(); /* optional facts */
  out->memory_clock_khz = clock;
  out->memory_bus_bits = bus;
  out->peak_bandwidth_gbs = 2.0 * clock * 1e3 * (bus / 8.0) / 1e9;
  int prev = ax_cuda_current_device();
  if (set_device(dev) == cudaSuccess) {
    size_t fr = 0, total = 0;
    if (cudaMemGetInfo(&fr, &total) == cudaSuccess) out->free_bytes = fr;
    set_device(prev);
  }
  cudaGetLastError();
  return 0;
}

/* ------------------------------------------------------------------------ */
/* streams and events                                                       */

static cudaStream_t device_streams[AX_MAX_CUDA_DEVICES];
static std::once_flag stream_once[AX_MAX_CUDA_DEVICES];
static thread_local cudaStream_t user_streams[AX_MAX_CUDA_DEVICES];

/* dev must be the current device (the stream is created there). */
static cudaStream_t stream_of(int dev) {
  if (user_streams[dev]) return user_streams[dev];
  std::call_once(stream_once[dev], [dev] {
    if (!AX_CUDA_CHECK(cudaStreamCreateWithFlags(&device_streams[dev], cudaStreamDefault))) device_streams[dev] = 0;
  });
  return device_streams[dev];
}

extern "C" cudaStream_t ax_cuda_stream(void) { return stream_of(ax_cuda_current_device()); }
extern "C" void *ax_cuda_get_stream(void) { return (void *)ax_cuda_stream(); }
extern "C" void ax_cuda_set_stream(void *stream) { user_streams[ax_cuda_current_device()] = (cudaStream_t)stream; }
extern "C" void *ax_cuda_stream_create(void) {
  cudaStream_t st;
  if (!AX_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamDefault))) return NULL;
  return (void *)st;
}
extern "C" void ax_cuda_stream_destroy(void *stream) {
  if (stream) AX_CUDA_CHECK(cudaStreamDestroy((cudaStream_t)stream));
}

extern "C" void *ax_cuda_event_create(void) {
  cudaEvent_t e;
  if (!AX_CUDA_CHECK(cudaEventCreate(&e))) return NULL;
  return (void *)e;
}
extern "C" void ax_cuda_event_destroy(void *e) {
  if (e) AX_CUDA_CHECK(cudaEventDestroy((cudaEvent_t)e));
}
extern "C" void ax_cuda_event_record(void *e) { AX_CUDA_CHECK(cudaEventRecord((cudaEvent_t)e, ax_cuda_stream())); }
extern "C" void ax_cuda_event_synchronize(void *e) { AX_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)e)); }
extern "C" float ax_cuda_event_elapsed_ms(void *start, void *end) {
  float ms = -1;
  if (!AX_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)end))) return -1;
  if (!AX_CUDA_CHECK(cudaEventElapsedTime(&ms, (cudaEvent_t)start, (cudaEvent_t)end))) return -1;
  return ms;
}

/* ------------------------------------------------------------------------ */
/* the caching allocator                                                    */

static const size_t SMALL_MAX = (size_t)1 << 20, SMALL_ROUND = 512, LARGE_ROUND = (size_t)2 << 20;

static size_t round_size(size_t n) {
  if (n == 0) n = 1;
  if (n <= SMALL_MAX) return (n + SMALL_ROUND - 1) / SMALL_ROUND * SMALL_ROUND;
  return (n + LARGE_ROUND - 1) / LARGE_ROUND * LARGE_ROUND;
}

/* Whether a cached block of `have` bytes may serve a request rounded to
 * `want`: small requests take their exact class (a small request never
 * strands a big block), large ones a block at most 1/8 larger. */
static bool block_fits(size_t have, size_t want) { return want <= SMALL_MAX ? have == want : have <= want + want / 8; }

struct block_info {
  size_t size;
  int dev;
  cudaStream_t stream;
  bool in_use;
  std::vector<cudaStream_t> used_on; /* streams other than `stream` it was recorded on (ax_cuda_record_stream) */
};
/* A freed block that other streams used: back to its free list once every event completed. */
struct pending_free {
  void *p;
  std::vector<cudaEvent_t> events;
};
typedef std::multimap<std::pair<cudaStream_t, size_t>, void *> free_list; /* (stream, size) -> block */
struct alloc_state {
  std::mutex lock;
  std::unordered_map<void *, block_info> blocks; /* every block we hold, in use or cached */
  free_list free_blocks[AX_MAX_CUDA_DEVICES];
  std::vector<pending_free> pending[AX_MAX_CUDA_DEVICES];
  std::vector<cudaEvent_t> spare_events[AX_MAX_CUDA_DEVICES]; /* completed, for the next deferred free */
  ax_memory_stats stats[AX_MAX_CUDA_DEVICES];
  ax_cuda_alloc_counters counters[AX_MAX_CUDA_DEVICES];
};
/* Never destroyed: tensors may still be released by atexit code after static destructors ran. */
static alloc_state &allocator() {
  static alloc_state *s = new alloc_state();
  return *s;
}

static thread_local char alloc_failure[512];
extern "C" const char *ax_cuda_alloc_failure(void) { return alloc_failure; }

static void note_failure(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(alloc_failure, sizeof alloc_failure, fmt, ap);
  va_end(ap);
}

static const char *fmt_bytes(size_t n, char *buf, size_t cap) {
  if (n >= ((size_t)1 << 30))
    snprintf(buf, cap, "%.2f GiB", (double)n / (1 << 30));
  else if (n >= ((size_t)1 << 20))
    snprintf(buf, cap, "%.2f MiB", (double)n / (1 << 20));
  else
    snprintf(buf, cap, "%zu bytes", n);
  return buf;
}

/* With A.lock held: the deferred frees of dev whose events have all completed
 * go back to their free lists (wait: synchronize the events first, for a
 * release of the whole cache). Never blocks otherwise: cudaEventQuery only. */
static void collect_pending(alloc_state &A, int dev, bool wait) {
  std::vector<pending_free> &pl = A.pending[dev];
  size_t keep = 0;
  for (size_t i = 0; i < pl.size(); i++) {
    pending_free &pf = pl[i];
    bool done = true;
    for (cudaEvent_t e : pf.events) {
      cudaError_t r = wait ? cudaEventSynchronize(e) : cudaEventQuery(e);
      if (r == cudaErrorNotReady) {
        done = false;
        break;
      }
      if (r != cudaSuccess) cudaGetLastError(); /* a broken event: the device reports its error elsewhere */
    }
    if (!done) {
      if (keep != i) pl[keep] = std::move(pf);
      keep++;
      continue;
    }
    for (cudaEvent_t e : pf.events) A.spare_events[dev].push_back(e);
    block_info &b = A.blocks[pf.p];
    A.free_blocks[dev].insert(std::make_pair(std::make_pair(b.stream, b.size), pf.p));
  }
  pl.resize(keep);
}

/* cudaFree every cached block of dev (the current device). cudaFree waits for
 * the device, so blocks still used by queued kernels are safe to release. */
static bool release_cache(int dev, bool report) {
  alloc_state &A = allocator();
  std::vector<void *> victims;
  {
    std::lock_guard<std::mutex> g(A.lock);
    collect_pending(A, dev, true);
    for (auto &kv : A.free_blocks[dev]) {
      victims.push_back(kv.second);
      A.blocks.erase(kv.second);
    }
    A.free_blocks[dev].clear();
    A.stats[dev].cached_bytes = 0;
  }
  bool ok = true;
  for (void *p : victims) {
    cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) {
      ok = false;
      if (report)
        ax_cuda_check_at(e, "cudaFree(cached block)", __FILE__, __LINE__);
      else
        cudaGetLastError();
    }
  }
  return ok;
}

extern "C" void *ax_cuda_alloc(size_t nbytes, int dev) {
  alloc_failure[0] = '\0';
  if (!valid_device(dev)) {
    note_failure("cuda:%d is not an available device", dev);
    return NULL;
  }
  cudaError_t e = set_device(dev);
  if (e != cudaSuccess) {
    cudaGetLastError();
    note_failure("CUDA error %s (%s) in cudaSetDevice(%d)", cudaGetErrorName(e), cudaGetErrorString(e), dev);
    return NULL;
  }
  size_t size = round_size(nbytes);
  cudaStream_t st = stream_of(dev);
  alloc_state &A = allocator();
  {
    std::lock_guard<std::mutex> g(A.lock);
    if (!A.pending[dev].empty()) collect_pending(A, dev, false);
    free_list &fl = A.free_blocks[dev];
    auto it = fl.lower_bound(std::make_pair(st, size));
    if (it != fl.end() && it->first.first == st && block_fits(it->first.second, size)) {
      void *p = it->second;
      size_t have = it->first.second;
      fl.erase(it);
      A.blocks[p].in_use = true;
      ax_memory_stats &s = A.stats[dev];
      s.cached_bytes -= have;
      s.live_bytes += have;
      if (s.live_bytes > s.peak_bytes) s.peak_bytes = s.live_bytes;
      A.counters[dev].cache_hits++;
      AX_EMU_HANDED_OUT(p, nbytes, have);
      return p;
    }
  }
  void *p = NULL;
  e = cudaMalloc(&p, size);
  size_t cached_before = 0;
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    {
      std::lock_guard<std::mutex> g(A.lock);
      cached_before = A.stats[dev].cached_bytes;
      A.counters[dev].oom_retries++;
    }
    release_cache(dev, false);
    e = cudaMalloc(&p, size);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    char a[32], l[32], c[32], t[32], f[32];
    size_t fr = 0, total = 0;
    if (cudaMemGetInfo(&fr, &total) != cudaSuccess) cudaGetLastError();
    size_t live;
    {
      std::lock_guard<std::mutex> g(A.lock);
      live = A.stats[dev].live_bytes;
    }
    if (e == cudaErrorMemoryAllocation)
      note_failure("CUDA out of memory on cuda:%d: asked for %s with %s live and %s cached (the cache was emptied "
                   "and the allocation retried; GPU total %s, free %s)",
                   dev, fmt_bytes(size, a, 32), fmt_bytes(live, l, 32), fmt_bytes(cached_before, c, 32),
                   fmt_bytes(total, t, 32), fmt_bytes(fr, f, 32));
    else
      note_failure("CUDA error %s (%s) in cudaMalloc of %s on cuda:%d", cudaGetErrorName(e), cudaGetErrorString(e),
                   fmt_bytes(size, a, 32), dev);
    return NULL;
  }
  std::lock_guard<std::mutex> g(A.lock);
  A.blocks[p] = block_info{size, dev, st, true, {}};
  ax_memory_stats &s = A.stats[dev];
  s.live_bytes += size;
  s.os_allocs++;
  if (s.live_bytes > s.peak_bytes) s.peak_bytes = s.live_bytes;
  A.counters[dev].cache_misses++;
  AX_EMU_HANDED_OUT(p, nbytes, size);
  return p;
}

/* With A.lock held: adds st to the streams b is used on (not its own stream). */
static void note_stream(block_info &b, cudaStream_t st) {
  if (st == b.stream) return;
  for (cudaStream_t u : b.used_on)
    if (u == st) return;
  b.used_on.push_back(st);
}

extern "C" int ax_cuda_record_stream(void *ptr, void *stream) {
  alloc_state &A = allocator();
  std::lock_guard<std::mutex> g(A.lock);
  auto it = A.blocks.find(ptr);
  if (it == A.blocks.end() || !it->second.in_use) return -1;
  note_stream(it->second, (cudaStream_t)stream);
  return 0;
}

extern "C" void ax_cuda_free(void *p, size_t nbytes, int dev) {
  (void)nbytes;
  (void)dev; /* the block knows its device and stream */
  if (!p) return;
  alloc_state &A = allocator();
  std::unique_lock<std::mutex> g(A.lock);
  auto it = A.blocks.find(p);
  if (it == A.blocks.end() || !it->second.in_use) {
    g.unlock();
    ax_error("CUDA allocator: freeing %p, which is not a block in use (freed twice, or not ours)", p);
    return;
  }
  block_info &b = it->second;
  /* the stream current now may have used the block last (a tensor made on the
   * device's stream, used and dropped under ax_cuda_set_stream) */
  if (user_streams[b.dev]) note_stream(b, user_streams[b.dev]);
  b.in_use = false;
  AX_EMU_RETURNED(p);
  A.stats[b.dev].live_bytes -= b.size;
  A.stats[b.dev].cached_bytes += b.size;
  if (b.used_on.empty()) {
    A.free_blocks[b.dev].insert(std::make_pair(std::make_pair(b.stream, b.size), p));
    return;
  }
  /* used on other streams: an event on each, and the block waits in pending
   * until they have all completed (stream order alone protects only its own stream) */
  pending_free pf;
  pf.p = p;
  int prev = ax_cuda_current_device();
  bool ok = set_device(b.dev) == cudaSuccess;
  for (cudaStream_t u : b.used_on) {
    cudaEvent_t e = nullptr;
    std::vector<cudaEvent_t> &spare = A.spare_events[b.dev];
    if (!spare.empty()) {
      e = spare.back();
      spare.pop_back();
    } else if (!ok || cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) {
      ok = false;
      break;
    }
    pf.events.push_back(e);
    if (cudaEventRecord(e, u) != cudaSuccess) {
      ok = false;
      break;
    }
  }
  if (!ok) { /* no event: wait for the device instead, the block is then free for anyone */
    cudaGetLastError();
    cudaDeviceSynchronize();
    for (cudaEvent_t e : pf.events) cudaEventDestroy(e);
    pf.events.clear();
  }
  if (prev != b.dev) set_device(prev);
  b.used_on.clear();
  A.counters[b.dev].deferred_frees++;
  if (pf.events.empty())
    A.free_blocks[b.dev].insert(std::make_pair(std::make_pair(b.stream, b.size), p));
  else
    A.pending[b.dev].push_back(std::move(pf));
}

#if !defined(AX_CUDA_EMULATE)
extern "C" int ax_cuda_is_emulated(void) { return 0; }
extern "C" int ax_cuda_emu_counters_get(ax_cuda_emu_counters *out) {
  memset(out, 0, sizeof *out);
  return -1;
}
extern "C" int ax_cuda_kernel_counts(ax_cuda_kernel_count *out, int cap) { return -1; }
#endif

extern "C" ax_memory_stats ax_cuda_memory_stats(int dev) {
  ax_memory_stats s;
  memset(&s, 0, sizeof s);
  if (dev < 0 || dev >= AX_MAX_CUDA_DEVICES) return s;
  alloc_state &A = allocator();
  std::lock_guard<std::mutex> g(A.lock);
  return A.stats[dev];
}

extern "C" ax_cuda_alloc_counters ax_cuda_alloc_counters_get(int dev) {
  ax_cuda_alloc_counters c;
  memset(&c, 0, sizeof c);
  if (dev < 0 || dev >= AX_MAX_CUDA_DEVICES) return c;
  alloc_state &A = allocator();
  std::lock_guard<std::mutex> g(A.lock);
  c = A.counters[dev];
  c.pending_blocks = A.pending[dev].size();
  return c;
}

extern "C" void ax_cuda_empty_cache(int dev) {
  if (!valid_device(dev) || !use_device(dev)) return;
  release_cache(dev, true);
}

extern "C" void *ax_cuda_scratch_alloc(size_t nbytes) {
  void *p = ax_cuda_alloc(nbytes, ax_cuda_current_device());
  if (!p) ax_error("CUDA scratch allocation: %s", alloc_failure);
  return p;
}
extern "C" void ax_cuda_scratch_free(void *p) { ax_cuda_free(p, 0, 0); }

/* ------------------------------------------------------------------------ */
/* the device status word (common.cuh): errors found by kernels, read lazily  */

struct status_slot {
  std::once_flag once;
  std::mutex lock;      /* one reader at a time of host_word */
  bool ok;
  ax_cuda_status *dev_word, *host_word; /* device memory; its pinned copy */
  std::atomic<bool> armed; /* a kernel that may set it was queued since the last read */
};
static status_slot status_slots[AX_MAX_CUDA_DEVICES];

extern "C" ax_cuda_status *ax_cuda_status_arm(void) {
  int dev = ax_cuda_current_device();
  status_slot &s = status_slots[dev];
  std::call_once(s.once, [&s, dev] {
    s.ok = AX_CUDA_CHECK(cudaMalloc((void **)&s.dev_word, sizeof(ax_cuda_status))) &&
           AX_CUDA_CHECK(cudaMallocHost((void **)&s.host_word, sizeof(ax_cuda_status))) &&
           AX_CUDA_CHECK(cudaMemsetAsync(s.dev_word, 0, sizeof(ax_cuda_status), stream_of(dev)));
    if (s.ok) memset(s.host_word, 0, sizeof(ax_cuda_status));
  });
  if (!s.ok) return NULL;
  s.armed.store(true);
  return s.dev_word;
}

/* Before the host waits for st: if a kernel may have set dev's status word,
 * queue a copy of it into pinned memory (s.lock is then held until status_end). */
static bool status_begin(int dev, cudaStream_t st) {
  status_slot &s = status_slots[dev];
  if (!s.armed.load()) return false;
  s.lock.lock();
  s.armed.store(false);
  if (cudaMemcpyAsync(s.host_word, s.dev_word, sizeof(ax_cuda_status), cudaMemcpyDeviceToHost, st) != cudaSuccess) {
    cudaGetLastError();
    s.armed.store(true);
    s.lock.unlock();
    return false;
  }
  return true;
}

static const char *status_op_name(int op) {
  switch (op) {
    case AX_STATUS_INDEX_SELECT: return "ax_index_select";
    case AX_STATUS_GATHER: return "ax_gather";
    case AX_STATUS_EMBEDDING: return "ax_embedding";
    case AX_STATUS_INDEX_ADD: return "index_add (ax_index_select's gradient)";
    case AX_STATUS_SCATTER_ADD: return "ax_scatter_add";
    case AX_STATUS_EMBEDDING_BACKWARD: return "ax_embedding's gradient";
    default: return "an index kernel";
  }
}

/* After the host waited for st (begun: status_begin's answer): reports an error
 * the word holds, and clears it. false when one was reported. */
static bool status_end(int dev, cudaStream_t st, bool begun, bool waited) {
  if (!begun) return true;
  status_slot &s = status_slots[dev];
  ax_cuda_status w = *s.host_word;
  memset(s.host_word, 0, sizeof w);
  if (!waited) s.armed.store(true); /* the copy may not have landed: read it next time */
  if (!waited || !w.flag) {
    s.lock.unlock();
    return true;
  }
  AX_CUDA_CHECK(cudaMemsetAsync(s.dev_word, 0, sizeof(ax_cuda_status), st));
  s.lock.unlock();
  if (w.op == AX_STATUS_EMBEDDING || w.op == AX_STATUS_EMBEDDING_BACKWARD)
    ax_error("%s: index %lld is out of range for %lld embeddings on cuda:%d (found on the device at the next "
             "synchronization)", status_op_name(w.op), w.index, w.size, dev);
  else
    ax_error("%s: index %lld is out of range for dim %d of size %lld on cuda:%d (found on the device at the next "
             "synchronization)", status_op_name(w.op), w.index, w.dim, w.size, dev);
  return false;
}

/* ------------------------------------------------------------------------ */
/* transfers through pinned staging buffers                                 */

#define STAGE_BYTES ((size_t)8 << 20)

struct staging {
  std::mutex lock;
  bool tried, ok;
  void *buf[2];
  cudaEvent_t done[2]; /* recorded after the last transfer that used buf[k] */
  int next;
};
static staging stages[AX_MAX_CUDA_DEVICES];

/* With s.lock held and dev current. Without pinned memory, transfers fall back to pageable copies. */
static bool staging_ready(staging &s) {
  if (s.tried) return s.ok;
  s.tried = true;
  s.ok = true;
  for (int k = 0; k < 2; k++) {
    if (!AX_CUDA_CHECK(cudaMallocHost(&s.buf[k], STAGE_BYTES)) ||
        !AX_CUDA_CHECK(cudaEventCreateWithFlags(&s.done[k], cudaEventDisableTiming))) {
      s.ok = false;
      return false;
    }
  }
  return true;
}

extern "C" void ax_cuda_copy_from_host(void *dst, const void *src, size_t n, int dev) {
  if (!n || !use_device(dev)) return;
  cudaStream_t st = stream_of(dev);
  staging &s = stages[dev];
  std::lock_guard<std::mutex> g(s.lock);
  if (!staging_ready(s)) { /* pageable: returns once the source has been read */
    AX_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st));
    return;
  }
  for (size_t off = 0; off < n; off += STAGE_BYTES) {
    size_t len = n - off < STAGE_BYTES ? n - off : STAGE_BYTES;
    int b = s.next;
    s.next ^= 1;
    if (!AX_CUDA_CHECK(cudaEventSynchronize(s.done[b]))) return; /* its previous transfer is done */
    memcpy(s.buf[b], (const char *)src + off, len);
    if (!AX_CUDA_CHECK(cudaMemcpyAsync((char *)dst + off, s.buf[b], len, cudaMemcpyHostToDevice, st))) return;
    if (!AX_CUDA_CHECK(cudaEventRecord(s.done[b], st))) return;
  }
}

static bool copy_to_host_on(void *dst, const void *src, size_t n, int dev, cudaStream_t st);

/* 0, or -1 after reporting an error: the copy's, or one a kernel left in the
 * device's status word (an index out of range) since the last synchronization. */
extern "C" int ax_cuda_copy_to_host(void *dst, const void *src, size_t n, int dev) {
  if (!use_device(dev)) return -1;
  cudaStream_t st = stream_of(dev);
  bool begun = status_begin(dev, st);
  bool waited = copy_to_host_on(dst, src, n, dev, st) && (!begun || n || AX_CUDA_CHECK(cudaStreamSynchronize(st)));
  if (!status_end(dev, st, begun, waited)) return -1;
  return waited ? 0 : -1;
}

/* The copy itself, on st; true once the bytes are in dst (the stream has passed
 * everything queued before the copy). */
static bool copy_to_host_on(void *dst, const void *src, size_t n, int dev, cudaStream_t st) {
  if (!n) return true;
  staging &s = stages[dev];
  std::lock_guard<std::mutex> g(s.lock);
  if (!staging_ready(s))
    return AX_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, st)) &&
           AX_CUDA_CHECK(cudaStreamSynchronize(st));
  /* double buffered: chunk i lands in one buffer while chunk i-1 is copied out of the other */
  size_t pend_off[2] = {0, 0}, pend_len[2] = {0, 0};
  bool pend[2] = {false, false};
  auto drain = [&](int b) -> bool {
    if (!AX_CUDA_CHECK(cudaEventSynchronize(s.done[b]))) return false;
    if (pend[b]) memcpy((char *)dst + pend_off[b], s.buf[b], pend_len[b]);
    pend[b] = false;
    return true;
  };
  for (size_t off = 0; off < n; off += STAGE_BYTES) {
    size_t len = n - off < STAGE_BYTES ? n - off : STAGE_BYTES;
    int b = s.next;
    s.next ^= 1;
    if (!drain(b)) return false;
    if (!AX_CUDA_CHECK(cudaMemcpyAsync(s.buf[b], (const char *)src + off, len, cudaMemcpyDeviceToHost, st))) return false;
    if (!AX_CUDA_CHECK(cudaEventRecord(s.done[b], st))) return false;
    pend[b] = true;
    pend_off[b] = off;
    pend_len[b] = len;
  }
  /* s.next is now the buffer written first of the two last chunks */
  int first = s.next;
  return drain(first) && drain(first ^ 1);
}

extern "C" void ax_cuda_synchronize(int dev) {
  if (!valid_device(dev) || !use_device(dev)) return;
  cudaStream_t st = stream_of(dev);
  bool begun = status_begin(dev, st);
  status_end(dev, st, begun, AX_CUDA_CHECK(cudaStreamSynchronize(st)));
}

/* ---------------- kernel status (common.cuh: AX_CUDA_ENTRY, ax_cuda_kstatus) ---------------- */

/* The first failure on this thread since the outermost kernel entry began: an entry
 * that calls another keeps the outer one's record. */
static thread_local struct {
  int depth;
  ax_kstatus status;
  char detail[256];
} kfail;

extern "C" void ax_cuda_entry_begin(void) {
  if (kfail.depth++ == 0) kfail.status = AX_K_OK, kfail.detail[0] = 0;
}
extern "C" void ax_cuda_entry_end(void) { kfail.depth--; }

extern "C" void ax_cuda_note_failure(ax_kstatus status, const char *what, cudaError_t e) {
  if (kfail.status != AX_K_OK) return; /* the first one is the cause */
  kfail.status = status;
  snprintf(kfail.detail, sizeof kfail.detail, "%s: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

extern "C" void ax_cuda_error(const char *fmt, ...) {
  char msg[sizeof kfail.detail];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ax_error("%s", msg);
  if (kfail.status == AX_K_OK) {
    kfail.status = AX_K_UNSUPPORTED;
    snprintf(kfail.detail, sizeof kfail.detail, "%s", msg);
  }
}

extern "C" ax_kstatus ax_cuda_kstatus(void) {
  cudaError_t e = cudaGetLastError(); /* a launch nobody checked */
  if (e != cudaSuccess) ax_cuda_note_failure(AX_K_LAUNCH, "kernel launch", e);
  return kfail.status;
}

extern "C" const char *ax_cuda_last_error(void) { return kfail.detail; }
