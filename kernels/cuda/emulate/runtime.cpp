/* SPDX-License-Identifier: BSD-3-Clause */
/* The emulated device's CUDA runtime (AXON_CUDA=EMULATE): the part of the CUDA
 * runtime API that kernels/cuda/ uses, implemented on the host, so that
 * runtime.cu (devices, streams, the caching allocator, staging buffers) and
 * every kernel run unchanged without a GPU or driver.
 *
 *  - One device, cuda:0, with an H100's properties (sm_90, 132 SMs, 48 KB of
 *    dynamic shared memory per block by default and 227 KB with the opt-in,
 *    warp size 32), named so that nobody takes it for hardware.
 *  - Device memory is host memory (malloc), filled with 0xFF (NaN in every
 *    float type) when allocated. Without AddressSanitizer each allocation has a
 *    guard zone on both sides, checked after every kernel; with it, ASan's own
 *    red zones catch the overrun at the faulting access, and the tail of each
 *    caching-allocator block past the tensor it holds is poisoned too.
 *  - Work is queued, not run: kernels, copies, memsets and event records go to
 *    one FIFO in call order and run when the host waits (stream or event
 *    synchronize, a synchronous copy, a device-to-host copy into pageable
 *    memory, cudaFree). So stream order and event order hold, and a host that
 *    reads a result without waiting for it reads stale data, as on a GPU.
 *    Host-to-device copies from pageable memory read their source at the call,
 *    as the real runtime stages them. (One FIFO for every stream is stronger
 *    ordering than CUDA's: a missing cross-stream wait is not caught.)
 *  - A launch checks its configuration at the call (block size, grid limits,
 *    dynamic shared memory against the kernel's opt-in) and fails the way the
 *    runtime does (cudaErrorInvalidConfiguration / InvalidValue, returned by
 *    cudaGetLastError). Each kernel's launches are counted under its name, read
 *    from the ELF symbol table, for ax_cuda_kernel_counts().
 *  - Vendor libraries (cuBLAS, cuDNN, NCCL) do not exist here: vendor.cpp. */
#include <cuda_runtime.h>
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/emulate/device.h"
#include "kernels/cuda/runtime.h"
#include "axon/settings.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

extern "C" void ax_error(const char *fmt, ...);

namespace {

const char *const DEVICE_NAME = "emulated H100 (AXON_CUDA=EMULATE: host CPU, not a GPU)";
const int SM_COUNT = 132;
const size_t GUARD = EMU_ASAN ? 0 : 256; /* bytes each side of an allocation */
const unsigned char GUARD_BYTE = 0xA5, POISON_BYTE = 0xFF, TAIL_BYTE = 0x5A;

size_t memory_limit(void) {
  static size_t limit = [] {
    double gb = ax_settings_get()->emu_memory_gb; /* AXON_EMU_MEMORY_GB, read once */
    return (size_t)(gb * (1 << 30));
  }();
  return limit;
}

struct allocation {
  size_t size;
  bool host; /* cudaMallocHost (pinned) */
  size_t tensor_bytes; /* the caching allocator's request (<= size), or size */
};

struct event_state {
  bool recorded, done;
  int polls; /* cudaEventQuery answers "not ready" since the latest record */
  double ms; /* host clock when the queue reached it */
};

struct kernel_stats {
  unsigned long long launches, blocks, threads;
};

struct emu_state {
  std::recursive_mutex lock;
  std::map<uintptr_t, allocation> allocs; /* base (user pointer) -> allocation */
  size_t used = 0;
  std::deque<std::function<void()>> queue;
  bool running = false;
  cudaError_t last_error = cudaSuccess;
  int current_device = 0;
  std::set<cudaStream_t> streams;
  std::unordered_map<const void *, int> smem_optin; /* kernel -> max dynamic shared memory */
  std::unordered_map<const void *, kernel_stats> kernels;
  std::unordered_map<const void *, int> race_checked; /* launches that got the race check */
  std::string running_kernel;
  ax_cuda_emu_counters counters = {0, 0, 0}; /* ax_cuda_emu_counters_get */
};

emu_state &S() {
  static emu_state *s = new emu_state(); /* never destroyed: atexit code may still free */
  return *s;
}

typedef std::lock_guard<std::recursive_mutex> guard;

cudaError_t fail(cudaError_t e) {
  S().last_error = e;
  return e;
}

double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ---- kernel names from the ELF symbol table ---- */

struct symtab {
  std::map<uint64_t, std::string> funcs; /* st_value -> mangled name */
};

bool load_symtab(const char *path, symtab &out) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
    close(fd);
    return false;
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return false;
  const unsigned char *base = (const unsigned char *)map;
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
  size_t size = (size_t)st.st_size;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) <= size) {
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
      const Elf64_Shdr &strs = sh[sh[i].sh_link];
      if (sh[i].sh_offset + sh[i].sh_size > size || strs.sh_offset + strs.sh_size > size) continue;
      const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
      size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
      for (size_t k = 0; k < n; k++)
        if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_value && sym[k].st_name < strs.sh_size)
          out.funcs[sym[k].st_value] = (const char *)(base + strs.sh_offset + sym[k].st_name);
    }
  }
  munmap(map, size);
  return true;
}

/* "gemm_simt<float, float, 64, 64, 8, false, false>" for a kernel's address: the
 * demangled name without its parameter list and without (anonymous namespace)::. */
std::string kernel_name(const void *fn) {
  static std::map<std::string, symtab> tables;
  Dl_info info;
  memset(&info, 0, sizeof info);
  char buf[64];
  snprintf(buf, sizeof buf, "kernel@%p", fn);
  if (!dladdr(fn, &info) || !info.dli_fname) return buf;
  std::string path = info.dli_fname;
  if (path.empty() || path.find('/') == std::string::npos) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0, path = self;
  }
  auto it = tables.find(path);
  if (it == tables.end()) {
    it = tables.emplace(path, symtab()).first;
    load_symtab(path.c_str(), it->second);
  }
  const std::map<uint64_t, std::string> &f = it->second.funcs;
  uint64_t a = (uint64_t)(uintptr_t)fn, rel = a - (uint64_t)(uintptr_t)info.dli_fbase;
  auto hit = f.find(rel);
  if (hit == f.end()) hit = f.find(a);
  if (hit == f.end()) return info.dli_sname ? info.dli_sname : buf;
  int status = 0;
  char *dem = abi::__cxa_demangle(hit->second.c_str(), NULL, NULL, &status);
  std::string name = status == 0 && dem ? dem : hit->second;
  free(dem);
  for (const char *strip : {"(anonymous namespace)::"}) {
    size_t p;
    while ((p = name.find(strip)) != std::string::npos) name.erase(p, strlen(strip));
  }
  if (name.compare(0, 5, "void ") == 0) name.erase(0, 5); /* a template's demangled return type */
  /* drop the parameter list: the last top-level '(' */
  int depth = 0;
  for (size_t i = 0; i < name.size(); i++) {
    char c = name[i];
    if (c == '<') depth++;
    else if (c == '>') depth--;
    else if (c == '(' && depth == 0 && i > 0) {
      name.resize(i);
      break;
    }
  }
  return name;
}

/* ---- the queue ---- */

void check_guards(void);

void run_queue(void) {
  emu_state &s = S();
  if (s.running) return; /* a queued op never waits on the queue */
  s.running = true;
  while (!s.queue.empty()) {
    std::function<void()> op = std::move(s.queue.front());
    s.queue.pop_front();
    op();
  }
  s.running = false;
}

/* The host waits for the device: counted (ax_cuda_emu_counters_get), then the queue runs. */
void host_wait(void) {
  S().counters.host_waits++;
  run_queue();
}

void enqueue(std::function<void()> op) {
  emu_state &s = S();
  s.queue.push_back(std::move(op));
  if (s.queue.size() > 4096) run_queue(); /* bounded memory; order is unchanged */
}

allocation *find_alloc(const void *p, size_t n, uintptr_t *base_out) {
  emu_state &s = S();
  uintptr_t a = (uintptr_t)p;
  auto it = s.allocs.upper_bound(a);
  if (it == s.allocs.begin()) return NULL;
  --it;
  if (a < it->first || a + n > it->first + it->second.size) return NULL;
  if (base_out) *base_out = it->first;
  return &it->second;
}

bool is_pinned(const void *p) {
  allocation *a = find_alloc(p, 1, NULL);
  return a && a->host;
}
bool is_device(const void *p, size_t n) {
  allocation *a = find_alloc(p, n ? n : 1, NULL);
  return a && !a->host;
}

void check_guard_of(uintptr_t base, const allocation &a) {
  if (!GUARD) return;
  const unsigned char *lo = (const unsigned char *)base - GUARD, *hi = (const unsigned char *)base + a.size;
  for (size_t i = 0; i < GUARD; i++)
    if (lo[i] != GUARD_BYTE || hi[i] != GUARD_BYTE) {
      bool below = lo[i] != GUARD_BYTE;
      fprintf(stderr,
              "cuda emulator: out-of-bounds write %s a device allocation of %zu bytes at %p (%zu bytes %s it)%s%s\n",
              below ? "before" : "past the end of", a.size, (void *)base, below ? GUARD - i : i + 1,
              below ? "before" : "past", S().running_kernel.empty() ? "" : ", found after kernel ",
              S().running_kernel.c_str());
      abort();
    }
}

void check_guards(void) {
  for (auto &kv : S().allocs)
    if (!kv.second.host) check_guard_of(kv.first, kv.second);
}

void check_tail(uintptr_t base, const allocation &a) {
  if (EMU_ASAN || a.tensor_bytes >= a.size) return;
  const unsigned char *p = (const unsigned char *)base;
  for (size_t i = a.tensor_bytes; i < a.size; i++)
    if (p[i] != TAIL_BYTE) {
      fprintf(stderr,
              "cuda emulator: out-of-bounds write past a %zu-byte tensor, %zu bytes into the unused tail of its "
              "%zu-byte cached block at %p%s%s\n",
              a.tensor_bytes, i - a.tensor_bytes + 1, a.size, (void *)base,
              S().running_kernel.empty() ? "" : ", found after kernel ", S().running_kernel.c_str());
      abort();
    }
}

void check_tails(void) {
  for (auto &kv : S().allocs)
    if (!kv.second.host) check_tail(kv.first, kv.second);
}

cudaError_t copy_now(void *dst, const void *src, size_t n) {
  if (n) memmove(dst, src, n);
  return cudaSuccess;
}

} /* namespace */

/* ---- launches (device.h's ax_emu_launch_kernel) ---- */

/* A test hook: the next launch fails as a real one can (cudaErrorLaunchFailure), so
 * a test can see the failure reach the op (tests/test_emulated_runtime.c). */
static std::atomic<bool> emu_fail_next_launch{false};
extern "C" void ax_emulate_fail_next_launch(void) { emu_fail_next_launch = true; }

cudaError_t ax_emu_submit(const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                          std::function<void()> run) {
  emu_state &s = S();
  guard g(s.lock);
  if (emu_fail_next_launch) { /* the test hook below */
    emu_fail_next_launch = false;
    return fail(cudaErrorLaunchFailure);
  }
  unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  if (!grid.x || !grid.y || !grid.z || !threads) return fail(cudaErrorInvalidConfiguration);
  if (threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64) return fail(cudaErrorInvalidConfiguration);
  if (grid.y > 65535 || grid.z > 65535 || grid.x > 2147483647u) return fail(cudaErrorInvalidConfiguration);
  int optin = 48 * 1024;
  auto oi = s.smem_optin.find(kernel);
  if (oi != s.smem_optin.end()) optin = oi->second;
  if (smem > (size_t)optin) return fail(cudaErrorInvalidValue);
  kernel_stats &k = s.kernels[kernel];
  k.launches++;
  k.blocks += (unsigned long long)grid.x * grid.y * grid.z;
  k.threads += threads * grid.x * grid.y * grid.z;
  (void)st;
  enqueue([kernel, run = std::move(run)] {
    emu_state &s2 = S();
    static std::unordered_map<const void *, std::string> names;
    auto it = names.find(kernel);
    if (it == names.end()) it = names.emplace(kernel, kernel_name(kernel)).first;
    s2.running_kernel = it->second;
    emu_kernel_name = it->second.c_str();
    static const int race_launches = ax_settings_get()->emu_race_launches; /* AXON_EMU_RACE_LAUNCHES */
    emu_race_launch = race_launches < 0 || s2.race_checked[kernel]++ < race_launches;
    run();
    check_guards();
    check_tails();
    s2.running_kernel.clear();
  });
  return cudaSuccess;
}

/* Every kernel compiled into the module that holds this runtime: the function
 * symbols whose name, without namespaces, template arguments and parameters, is
 * one of the __global__ functions of kernels/cuda (CMake lists them from the
 * sources into AX_EMU_KERNEL_NAMES). */
#ifndef AX_EMU_KERNEL_NAMES
#define AX_EMU_KERNEL_NAMES ""
#endif
static std::string base_name(std::string n) {
  size_t lt = n.find('<');
  if (lt != std::string::npos) n.resize(lt);
  size_t c = n.rfind("::");
  if (c != std::string::npos) n.erase(0, c + 2);
  return n;
}

static std::set<std::string> source_kernel_names(void) {
  std::set<std::string> names;
  std::string list = AX_EMU_KERNEL_NAMES;
  for (size_t p = 0; p < list.size();) {
    size_t q = list.find(',', p);
    if (q == std::string::npos) q = list.size();
    if (q > p) names.insert(list.substr(p, q - p));
    p = q + 1;
  }
  return names;
}

static std::vector<const void *> compiled_kernels(void) {
  std::vector<const void *> out;
  std::set<std::string> names = source_kernel_names();
  Dl_info info;
  if (!dladdr((const void *)&ax_emu_submit, &info) || !info.dli_fname) return out;
  std::string path = info.dli_fname;
  if (path.find('/') == std::string::npos) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) self[n] = 0, path = self;
  }
  symtab t;
  if (!load_symtab(path.c_str(), t)) return out;
  uintptr_t base = (uintptr_t)info.dli_fbase;
  bool pie = (uintptr_t)&ax_emu_submit - base < (uintptr_t)1 << 40; /* symbol values are offsets */
  for (auto &kv : t.funcs) {
    const void *fn = (const void *)(pie ? kv.first + base : kv.first);
    if (names.count(base_name(kernel_name(fn)))) out.push_back(fn);
  }
  return out;
}

/* ---- the C interface of runtime.h that only the emulated device has ---- */

extern "C" int ax_cuda_is_emulated(void) { return 1; }

extern "C" int ax_cuda_emu_counters_get(ax_cuda_emu_counters *out) {
  guard g(S().lock);
  *out = S().counters;
  return 0;
}

extern "C" int ax_cuda_kernel_counts(ax_cuda_kernel_count *out, int cap) {
  emu_state &s = S();
  guard g(s.lock);
  std::map<std::string, kernel_stats> byname;
  std::set<std::string> unseen = source_kernel_names();
  for (const void *k : compiled_kernels()) {
    std::string n = kernel_name(k);
    byname[n]; /* never launched: zeros */
    unseen.erase(base_name(n));
  }
  /* a __global__ of the sources with no instantiation in this program (its object
   * was not linked in, or no template instantiates it) cannot have run either */
  for (const std::string &n : unseen) byname[n + " (in kernels/cuda, not in this program)"];
  for (auto &kv : s.kernels) {
    kernel_stats &b = byname[kernel_name(kv.first)];
    b.launches += kv.second.launches;
    b.blocks += kv.second.blocks;
    b.threads += kv.second.threads;
  }
  static std::vector<std::string> keep; /* the names handed out stay valid */
  keep.clear();
  for (auto &kv : byname) keep.push_back(kv.first);
  int n = 0;
  for (auto &kv : byname) {
    if (n < cap && out) {
      out[n].name = keep[(size_t)n].c_str();
      out[n].launches = kv.second.launches;
      out[n].blocks = kv.second.blocks;
      out[n].threads = kv.second.threads;
    }
    n++;
  }
  return n;
}

/* The caching allocator (runtime.cu) hands block p of `size` bytes out for a
 * tensor of `nbytes`: in stream order, the tensor's bytes become 0xFF and the
 * rest of the block a pattern that must survive (or, under ASan, unaddressable). */
extern "C" void ax_emu_block_handed_out(void *p, size_t nbytes, size_t size) {
  emu_state &s = S();
  guard g(s.lock);
  enqueue([p, nbytes, size] {
    uintptr_t base = 0;
    allocation *a = find_alloc(p, size, &base);
    if (!a || base != (uintptr_t)p) return;
    size_t t = nbytes < size ? nbytes : size;
#if EMU_ASAN
    /* the unaddressable tail starts at the next 4-byte boundary: a byte atomic is a
     * 32-bit compare-and-swap on the word holding the byte, as CUDA's own are */
    size_t tp = (t + 3) & ~(size_t)3;
    if (tp > size) tp = size;
    ASAN_UNPOISON_MEMORY_REGION(p, size);
    memset(p, POISON_BYTE, t);
    ASAN_POISON_MEMORY_REGION((char *)p + tp, size - tp);
#else
    memset(p, POISON_BYTE, t);
    memset((char *)p + t, TAIL_BYTE, size - t);
#endif
    a->tensor_bytes = t;
  });
}
/* ... and takes it back: the tail is checked, then the whole block is usable again. */
extern "C" void ax_emu_block_returned(void *p) {
  emu_state &s = S();
  guard g(s.lock);
  enqueue([p] {
    uintptr_t base = 0;
    allocation *a = find_alloc(p, 1, &base);
    if (!a || base != (uintptr_t)p) return;
    check_tail(base, *a);
#if EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, a->size);
#endif
    a->tensor_bytes = a->size;
  });
}

/* ---- the CUDA runtime API ---- */

extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int *dev) {
  *dev = S().current_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) {
  if (dev != 0) return fail(cudaErrorInvalidDevice);
  S().current_device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties_v2(cudaDeviceProp *p, int dev);
cudaError_t cudaGetDeviceProperties_v2(cudaDeviceProp *p, int dev) {
  if (dev != 0) return fail(cudaErrorInvalidDevice);
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", DEVICE_NAME);
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = SM_COUNT;
  p->totalGlobalMem = memory_limit();
  p->l2CacheSize = 50 << 20;
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->regsPerBlock = 65536;
  p->maxThreadsPerMultiProcessor = 2048;
  p->memoryBusWidth = 5120;
  p->totalConstMem = 65536;
  return cudaSuccess;
}
#undef cudaGetDeviceProperties
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) { return cudaGetDeviceProperties_v2(p, dev); }

cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int dev) {
  if (dev != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *v = SM_COUNT; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrMemoryClockRate: *v = 2619000; break;
    case cudaDevAttrGlobalMemoryBusWidth: *v = 5120; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = 48 * 1024; break;
    case cudaDevAttrWarpSize: *v = 32; break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrL2CacheSize: *v = 50 << 20; break;
    case cudaDevAttrClockRate: *v = 1980000; break;
    default: return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total) {
  emu_state &s = S();
  guard g(s.lock);
  *total = memory_limit();
  *free_bytes = s.used < *total ? *total - s.used : 0;
  return cudaSuccess;
}

static cudaError_t emu_malloc(void **p, size_t n, bool host) {
  emu_state &s = S();
  guard g(s.lock);
  *p = NULL;
  if (!host && (n > memory_limit() || s.used + n > memory_limit())) return fail(cudaErrorMemoryAllocation);
  size_t len = n ? n : 1;
  unsigned char *raw = (unsigned char *)malloc(len + 2 * GUARD);
  if (!raw) return fail(cudaErrorMemoryAllocation);
  memset(raw, GUARD_BYTE, GUARD);
  memset(raw + GUARD, POISON_BYTE, len);
  memset(raw + GUARD + len, GUARD_BYTE, GUARD);
  *p = raw + GUARD;
  s.allocs[(uintptr_t)*p] = allocation{len, host, len};
  if (!host) s.used += len;
  return cudaSuccess;
}

static cudaError_t emu_free(void *p, bool host) {
  if (!p) return cudaSuccess;
  emu_state &s = S();
  guard g(s.lock);
  host_wait(); /* cudaFree waits for the device */
  auto it = s.allocs.find((uintptr_t)p);
  if (it == s.allocs.end() || it->second.host != host) return fail(cudaErrorInvalidValue);
  if (!host) {
    check_guard_of(it->first, it->second);
    s.used -= it->second.size;
  }
#if EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, it->second.size);
#endif
  s.allocs.erase(it);
  free((unsigned char *)p - GUARD);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t n) { return emu_malloc(p, n, false); }
cudaError_t cudaFree(void *p) { return emu_free(p, false); }
cudaError_t cudaMallocHost(void **p, size_t n) { return emu_malloc(p, n, true); }
cudaError_t cudaHostAlloc(void **p, size_t n, unsigned int) { return emu_malloc(p, n, true); }
cudaError_t cudaFreeHost(void *p) { return emu_free(p, true); }
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t) {
  guard g(S().lock);
  S().counters.malloc_async++;
  return emu_malloc(p, n, false);
}
cudaError_t cudaFreeAsync(void *p, cudaStream_t) { return emu_free(p, false); }

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t st) {
  emu_state &s = S();
  guard g(s.lock);
  (void)st;
  if (!n) return cudaSuccess;
  if (kind == cudaMemcpyDefault)
    kind = is_device(dst, n) ? (is_device(src, n) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                             : (is_device(src, n) ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((dst_dev && !is_device(dst, n)) || (src_dev && !is_device(src, n))) return fail(cudaErrorInvalidValue);
  if (kind == cudaMemcpyHostToDevice && !is_pinned(src)) { /* pageable: the source is read now */
    std::vector<unsigned char> copy((const unsigned char *)src, (const unsigned char *)src + n);
    enqueue([dst, copy = std::move(copy)] { copy_now(dst, copy.data(), copy.size()); });
    return cudaSuccess;
  }
  if (kind == cudaMemcpyDeviceToHost) s.counters.device_to_host++;
  enqueue([dst, src, n] { copy_now(dst, src, n); });
  if (kind == cudaMemcpyDeviceToHost && !is_pinned(dst)) host_wait(); /* pageable: synchronous */
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
  guard g(S().lock);
  cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, 0);
  host_wait();
  return e;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
  guard g(S().lock);
  if (!n) return cudaSuccess;
  if (!is_device(p, n)) return fail(cudaErrorInvalidValue);
  enqueue([p, v, n] { memset(p, v, n); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void *p, int v, size_t n) {
  guard g(S().lock);
  cudaError_t e = cudaMemsetAsync(p, v, n, 0);
  host_wait();
  return e;
}
/* __device__ variables are host globals here: the symbol is its own address */
cudaError_t cudaMemcpyToSymbolAsync(const void *symbol, const void *src, size_t n, size_t offset, cudaMemcpyKind,
                                    cudaStream_t) {
  guard g(S().lock);
  std::vector<unsigned char> copy((const unsigned char *)src, (const unsigned char *)src + n);
  enqueue([symbol, offset, copy = std::move(copy)] { copy_now((char *)symbol + offset, copy.data(), copy.size()); });
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const void *symbol, size_t n, size_t offset, cudaMemcpyKind,
                                      cudaStream_t) {
  guard g(S().lock);
  S().counters.device_to_host++;
  enqueue([dst, symbol, n, offset] { copy_now(dst, (const char *)symbol + offset, n); });
  if (!is_pinned(dst)) host_wait();
  return cudaSuccess;
}
cudaError_t cudaMemcpyToSymbol(const void *symbol, const void *src, size_t n, size_t offset, cudaMemcpyKind k) {
  guard g(S().lock);
  cudaMemcpyToSymbolAsync(symbol, src, n, offset, k, 0);
  host_wait();
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbol(void *dst, const void *symbol, size_t n, size_t offset, cudaMemcpyKind k) {
  guard g(S().lock);
  cudaMemcpyFromSymbolAsync(dst, symbol, n, offset, k, 0);
  host_wait();
  return cudaSuccess;
}

/* streams: handles only; every stream feeds the one queue */
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *st, unsigned int) {
  guard g(S().lock);
  *st = (cudaStream_t) new char(0);
  S().streams.insert(*st);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *st) { return cudaStreamCreateWithFlags(st, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t st) {
  guard g(S().lock);
  if (!S().streams.erase(st)) return fail(cudaErrorInvalidResourceHandle);
  host_wait();
  delete (char *)st;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  guard g(S().lock);
  host_wait();
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t) {
  guard g(S().lock);
  host_wait();
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  guard g(S().lock);
  host_wait();
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; /* one FIFO */ }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int) {
  *e = (cudaEvent_t) new event_state{false, false, 0, 0};
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  guard g(S().lock);
  host_wait(); /* a queued record still points at it */
  delete (event_state *)e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  guard g(S().lock);
  event_state *ev = (event_state *)e;
  ev->recorded = true;
  ev->done = false;
  ev->polls = 0;
  enqueue([ev] { ev->done = true, ev->ms = now_ms(); });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  guard g(S().lock);
  if (((event_state *)e)->recorded) host_wait();
  return cudaSuccess;
}
/* An event whose record is still queued is not ready, as on a GPU where the work
 * before it is still running (the caching allocator's deferred frees rely on
 * seeing that). Progress: after 64 "not ready" answers for one record the queue
 * runs, so a host loop polling it does not spin forever. */
cudaError_t cudaEventQuery(cudaEvent_t e) {
  guard g(S().lock);
  event_state *ev = (event_state *)e;
  if (!ev->recorded || ev->done) return cudaSuccess;
  if (++ev->polls < 64) return cudaErrorNotReady; /* not sticky: cudaGetLastError stays as it was */
  host_wait();
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
  guard g(S().lock);
  event_state *x = (event_state *)a, *y = (event_state *)b;
  if (!x->done || !y->done) return fail(cudaErrorNotReady);
  *ms = (float)(y->ms - x->ms);
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *fn, cudaFuncAttribute attr, int value) {
  guard g(S().lock);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024) return fail(cudaErrorInvalidValue);
    S().smem_optin[fn] = value;
  }
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  guard g(S().lock);
  cudaError_t e = S().last_error;
  S().last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return S().last_error; }

const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}
const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument (emulated device)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated device; AXON_EMU_MEMORY_GB sets its size)";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument (emulated device)";
    case cudaErrorInvalidDevice: return "invalid device ordinal (the emulated device is cuda:0 only)";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle (emulated device)";
    case cudaErrorNotReady: return "device not ready (emulated device)";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulated device: ax_emulate_fail_next_launch)";
    default: return "unknown error (emulated device)";
  }
}

} /* extern "C" */
