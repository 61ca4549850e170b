/* SPDX-License-Identifier: BSD-3-Clause */
/* The emulated device's CUDA execution model (AXON_CUDA=EMULATE): every file of
 * kernels/cuda/ compiles as host C++ with this header included first (-include),
 * and kernels/cuda/emulate/runtime.cpp stands in for the CUDA runtime. The same
 * header serves the standalone tensor-core checks (tests/parity/gemm_emulate.cpp,
 * attention_emulate.cpp), which run single kernels against naive references.
 *
 *  - Every CUDA thread of a block is a coroutine (its own stack; ucontext to
 *    start it, _setjmp/_longjmp to switch), run by one OS thread. A thread runs
 *    until it reaches __syncthreads or a warp collective, then another runs.
 *    Blocks rotate through three schedules: lockstep (each thread one step a
 *    sweep, alternating direction), and warp-greedy from the first or from the
 *    last warp (that warp runs until it waits at a barrier, so it gets as far
 *    ahead of the others as the barriers allow): a missing __syncthreads shows
 *    up as a warp reading data another has not written yet or has already
 *    replaced. (Threads as pthreads, the first version, spent their time in
 *    futex waits: gemm_emulate took 37 s on 2 cores, 1 s with coroutines.)
 *  - Blocks may be 1-, 2- or 3-D (up to 1024 threads); warps are formed from
 *    the linear thread index, as on the hardware.
 *  - Shared memory: static shared arrays (AX_SHARED in common.cuh; a plain
 *    `__shared__` does not compile here) get a slot in a per-launch arena the
 *    first time a thread of a block reaches their declaration, each slot
 *    followed by a guard; dynamic shared memory (AX_DYNAMIC_SMEM) is a buffer
 *    with a guard zone. Both are filled with 0xFF (NaN in f32, bf16 and f16)
 *    before every block, so a read of an element no thread wrote shows up as
 *    NaN, and a write into a guard is reported with the array's name. Static
 *    arrays over 48 KB in all, or static plus dynamic over 227 KB, fail the launch.
 *  - Race check (racecheck's write-write hazards): on sampled lockstep blocks
 *    (one block of each of the first launches of each kernel, AXON_EMU_RACE_LAUNCHES)
 *    the shared memory a thread changes between two of its scheduling points is
 *    attributed to it; a byte changed by two threads of the block between two
 *    barriers, not through an atomic, is reported with the kernel, the shared
 *    address and both threads. Read-write hazards are not attributed (plain
 *    loads cannot be seen); the rotating schedules turn them into wrong results.
 *  - Warp collectives (mma.sync, ldmatrix, shuffles) gather the 32 lanes'
 *    operands in a per-warp exchange table; the last lane to arrive computes
 *    every lane's result from the PTX ISA's fragment layouts. A collective
 *    that lanes reach in different kinds, or a barrier that some threads never
 *    reach, aborts with a message (divergence / deadlock). A shuffle whose mask
 *    names a lane that is not there, or that reads such a lane, is an error.
 *  - cp.async poisons its destination (0xFF) when issued and writes the data
 *    when a cp.async.wait_group retires its group, so reading a buffer before
 *    its wait, or refilling one that another warp still reads, shows up as NaN.
 *  - Warpgroup MMA (wgmma, sm_90a): fence, mma_async, commit_group and
 *    wait_group are collectives of the 128 threads of a warpgroup. mma_async
 *    decodes its matrix descriptors as the PTX ISA defines them (start address,
 *    leading and stride byte offsets, swizzle mode applied to the absolute
 *    shared address, whose dynamic window starts at an address that is not
 *    1024-aligned, so a kernel must align its swizzled tiles itself) and its
 *    transpose flags; the accumulators turn NaN when it is issued and receive
 *    the result (m64nNk16 register layout) only when a wait_group retires its
 *    group and no later wgmma on them is still in flight. An mma_async needs a
 *    wgmma.fence since the accumulators were last handed back; shared memory it
 *    reads must not change before its wait_group (checked there); cp.async data
 *    it reads must have been fenced (fence.proxy.async) by the copying thread.
 *  - Atomics are read-modify-writes of the one running coroutine (a block runs
 *    on one OS thread, and one kernel runs at a time), so they are atomic.
 * It checks index math, fragment layouts, pipelining and barrier placement; it
 * cannot check timing, bank conflicts, register spills or the hardware's
 * memory model. A real GPU's parity run remains the final word. */
#ifndef AXON_KERNELS_CUDA_EMULATE_DEVICE_H
#define AXON_KERNELS_CUDA_EMULATE_DEVICE_H

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <setjmp.h>
#include <stdint.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

using std::fma;
using std::max;
using std::min;

#if defined(__SANITIZE_ADDRESS__)
#define AX_EMU_ASAN 1
extern "C" void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#else
#define AX_EMU_ASAN 0
#endif

/* ---- the thread model ---- */

struct emu_dim3 { unsigned x, y, z; };

struct emu_copy { void *dst; unsigned char data[16]; int bytes; };

struct emu_thread {
  uint3 idx;     /* threadIdx */
  unsigned tid;  /* linear index in the block: x + y bx + z bx by */
  jmp_buf jb;
  ucontext_t uc;
  bool started, done;
  const unsigned *wait_gen_ptr; /* blocked until *wait_gen_ptr != wait_gen */
  unsigned wait_gen;
  std::vector<emu_copy> open;                 /* cp.async issued, not yet committed */
  std::vector<std::vector<emu_copy>> groups;  /* committed groups, oldest first */
  std::vector<emu_copy> unfenced;             /* landed cp.async data not yet fence.proxy.async'ed */
};

enum {
  EMU_MAX_THREADS = 1024,
  EMU_STACK = 256 * 1024,
  EMU_SMEM_DEFAULT = 48 * 1024,  /* dynamic shared memory without an opt-in */
  EMU_SMEM_LIMIT = 227 * 1024,   /* with cudaFuncAttributeMaxDynamicSharedMemorySize */
  EMU_GUARD = 4096
};

/* the per-warp exchange: double-buffered by generation parity, so a lane that
 * leaves a collective early cannot overwrite operands others still read */
struct emu_warp_slot {
  int kind[32];
  unsigned mask[32];
  unsigned char in[32][48];
  unsigned char out[32][16];
};
struct emu_warp {
  int arrived, live;
  unsigned gen;
  emu_warp_slot slot[2];
};

inline emu_thread *emu_cur;
inline dim3 emu_block_idx, emu_grid_dim, emu_block_dim;
inline std::vector<emu_thread> emu_threads;
inline std::vector<emu_warp> emu_warps;
struct emu_wg;
inline std::vector<emu_wg> emu_wgs;
inline void emu_wg_reset(unsigned nthreads);
inline void emu_wg_exit(void);
inline int emu_block_arrived, emu_block_live;
inline unsigned emu_block_gen;
inline jmp_buf emu_sched;
inline std::function<void()> emu_body;
inline std::vector<unsigned char> emu_smem;
inline std::vector<unsigned char> emu_generic; /* per shared byte: landed cp.async writes not proxy-fenced */
inline size_t emu_smem_bytes;
inline char *emu_stacks;
inline long long emu_mma_count; /* warp-wide mma.sync and warpgroup wgmma executed so far */
inline int emu_policy;          /* the schedule of the block being run (see emu_run_block) */
inline unsigned long emu_blocks_run;
inline const char *emu_kernel_name = "kernel"; /* for messages; set by the runtime */
#if AX_EMU_ASAN
inline void *emu_fake_stack;
inline const void *emu_sched_bottom;
inline size_t emu_sched_size;
#endif

/* A plain static `__shared__` would be an ordinary static here, which the
 * emulator can neither poison nor watch (GCC puts the statics of templates in
 * their own COMDAT sections); kernels declare them with AX_SHARED (common.cuh). */
#undef __shared__
#define __shared__ _Pragma("GCC error \"write a static shared array as AX_SHARED(type, name, [dims]) (kernels/cuda/common.cuh)\"")
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __forceinline__
#define __forceinline__ inline
#undef __constant__
#define __constant__
#define threadIdx (emu_cur->idx)
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim
#define __syncthreads() ax_emu_syncthreads(__FILE__, __LINE__)
#define __trap() emu_fail("__trap() in a kernel")
#define __launch_bounds__(...)
/* Kernels: ordinary functions (never inlined, so each instantiation keeps its
 * symbol, by which the runtime lists and names them: ax_cuda_kernel_counts). */
#undef __global__
#define __global__ __attribute__((noinline))

[[noreturn]] inline void emu_fail(const char *what) {
  fprintf(stderr,
          "cuda emulator: %s\n  in %s, block (%u,%u,%u) of (%u,%u,%u), thread (%u,%u,%u) of (%u,%u,%u), %zu bytes of "
          "dynamic shared memory\n",
          what, emu_kernel_name, emu_block_idx.x, emu_block_idx.y, emu_block_idx.z, emu_grid_dim.x, emu_grid_dim.y,
          emu_grid_dim.z, emu_cur ? emu_cur->idx.x : 0u, emu_cur ? emu_cur->idx.y : 0u, emu_cur ? emu_cur->idx.z : 0u,
          emu_block_dim.x, emu_block_dim.y, emu_block_dim.z, emu_smem_bytes);
  fflush(stderr);
  abort();
}

/* Back to the scheduler; the running thread resumes at its _setjmp. */
inline void emu_yield(void) {
  if (!_setjmp(emu_cur->jb)) {
#if AX_EMU_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, emu_sched_bottom, emu_sched_size);
#endif
    _longjmp(emu_sched, 1);
  }
#if AX_EMU_ASAN
  __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

/* Parks the running thread until *gen_ptr moves past gen. */
inline void emu_block_on(const unsigned *gen_ptr, unsigned gen) {
  emu_cur->wait_gen_ptr = gen_ptr;
  emu_cur->wait_gen = gen;
  emu_yield();
}

inline void emu_race_barrier(void); /* a block-wide barrier completed (race check) */

/* Where the threads waiting at the current barrier are: every thread of a block
 * must wait at the same __syncthreads (a barrier in divergent code is undefined). */
inline const char *emu_barrier_file;
inline int emu_barrier_line;

inline void ax_emu_syncthreads(const char *file = "?", int line = 0) {
  unsigned gen = emu_block_gen;
  if (emu_block_arrived == 0) {
    emu_barrier_file = file, emu_barrier_line = line;
  } else if (line != emu_barrier_line || strcmp(file, emu_barrier_file) != 0) {
    char msg[1024];
    snprintf(msg, sizeof msg, "barrier divergence: this thread waits at the __syncthreads of %s:%d, other threads of its "
             "block at the one of %s:%d", file, line, emu_barrier_file, emu_barrier_line);
    emu_fail(msg);
  }
  if (++emu_block_arrived == emu_block_live) {
    emu_block_arrived = 0;
    emu_block_gen++;
    emu_race_barrier();
    return;
  }
  emu_block_on(&emu_block_gen, gen);
}

inline int emu_lane(void) { return (int)(emu_cur->tid % 32); }
inline unsigned emu_live_mask(const emu_warp &w) { return w.live >= 32 ? 0xFFFFFFFFu : (1u << w.live) - 1u; }

/* One warp collective: this lane's operands in, its result out; the last lane to
 * arrive runs compute(slot) for all lanes. mask: the lanes the instruction names
 * (__shfl_*_sync's first argument; the full live warp for mma and ldmatrix). */
template <typename F>
inline void emu_collective(int kind, unsigned mask, const void *in, size_t in_bytes, void *out, size_t out_bytes,
                           F compute) {
  emu_warp &w = emu_warps[emu_cur->tid / 32];
  unsigned gen = w.gen;
  emu_warp_slot &s = w.slot[gen & 1];
  int l = emu_lane();
  s.kind[l] = kind;
  s.mask[l] = mask;
  memcpy(s.in[l], in, in_bytes);
  if (++w.arrived == w.live) {
    for (int i = 0; i < w.live; i++)
      if (s.kind[i] != kind) emu_fail("lanes of a warp reached different collectives (divergence)");
    for (int i = 0; i < w.live; i++)
      if (s.mask[i] != s.mask[0]) emu_fail("lanes of a warp gave different member masks to one collective");
    if (s.mask[0] & ~emu_live_mask(w))
      emu_fail("a warp collective's member mask names lanes that do not exist (block size not a multiple of 32?)");
    if ((s.mask[0] & emu_live_mask(w)) != emu_live_mask(w))
      emu_fail("a warp collective reached by lanes its member mask leaves out");
    compute(s);
    w.arrived = 0;
    w.gen++;
  } else {
    emu_block_on(&w.gen, gen);
  }
  memcpy(out, s.out[l], out_bytes);
}

/* ---- race check (write-write hazards on shared memory) ---- */

struct emu_range { unsigned char *p; size_t n; };
inline void emu_smem_describe(char *buf, size_t n, const unsigned char *p);
inline bool emu_race_on;                  /* this block is checked */
inline std::vector<emu_range> emu_race_ranges; /* the shared memory watched */
inline std::vector<unsigned char> emu_race_snap;   /* its bytes before the running thread's step */
inline std::vector<int> emu_race_owner;            /* per byte: tid+1 of its writer this epoch, -1 atomic, 0 none */
inline std::vector<unsigned> emu_race_stamp;       /* per byte: the epoch of emu_race_owner */
inline unsigned emu_race_gen;
inline size_t emu_race_total;

inline void emu_race_snapshot(void);
inline void emu_race_diff(unsigned tid);
/* The running thread completed a barrier: what it wrote before it belongs to the
 * epoch that ends here (it keeps running without a scheduling point), then a new
 * epoch starts. */
inline void emu_race_barrier(void) {
  if (!emu_race_on || emu_policy != 0 || !emu_cur) {
    emu_race_gen++;
    return;
  }
  emu_race_diff(emu_cur->tid);
  emu_race_gen++;
  emu_race_snapshot();
}

inline void emu_race_begin(void) {
  size_t total = 0;
  for (const emu_range &r : emu_race_ranges) total += r.n;
  emu_race_total = total;
  emu_race_snap.resize(total);
  emu_race_owner.assign(total, 0);
  emu_race_stamp.assign(total, 0);
  emu_race_gen = 1;
}
inline void emu_race_snapshot(void) {
  size_t o = 0;
  for (const emu_range &r : emu_race_ranges) memcpy(&emu_race_snap[o], r.p, r.n), o += r.n;
}
inline void emu_race_thread_name(char *buf, size_t n, unsigned tid) {
  unsigned bx = emu_block_dim.x, by = emu_block_dim.y;
  snprintf(buf, n, "(%u,%u,%u)", tid % bx, tid / bx % by, tid / (bx * by));
}
/* After thread tid ran a step: which bytes it changed, and whether another thread
 * changed them since the last barrier. */
inline void emu_race_diff(unsigned tid) {
  size_t o = 0;
  for (const emu_range &r : emu_race_ranges) {
    const unsigned char *now = r.p;
    unsigned char *was = &emu_race_snap[o];
    for (size_t i = 0; i < r.n; i++) {
      if ((i & 63) == 0 && i + 64 <= r.n && !memcmp(now + i, was + i, 64)) { i += 63; continue; }
      if (now[i] == was[i]) continue;
      was[i] = now[i]; /* the snapshot follows: the next step starts from memory as it is */
      size_t k = o + i;
      int prev = emu_race_stamp[k] == emu_race_gen ? emu_race_owner[k] : 0;
      if (prev > 0 && prev != (int)tid + 1) {
        char msg[512], a[48], b[48];
        emu_race_thread_name(a, sizeof a, (unsigned)prev - 1);
        emu_race_thread_name(b, sizeof b, tid);
        char where[256];
        emu_smem_describe(where, sizeof where, r.p + i);
        snprintf(msg, sizeof msg,
                 "shared-memory race: threads %s and %s both write %s between two barriers "
                 "(a write-write hazard; no atomic)",
                 a, b, where);
        emu_fail(msg);
      }
      if (prev >= 0) emu_race_owner[k] = (int)tid + 1;
      emu_race_stamp[k] = emu_race_gen;
    }
    o += r.n;
  }
}
/* An atomic on p: its bytes may be written by many threads this epoch. */
inline void emu_race_atomic(const void *p, size_t n) {
  if (!emu_race_on) return;
  size_t o = 0;
  for (const emu_range &r : emu_race_ranges) {
    if ((const unsigned char *)p >= r.p && (const unsigned char *)p + n <= r.p + r.n) {
      size_t k = o + (size_t)((const unsigned char *)p - r.p);
      for (size_t i = 0; i < n; i++) emu_race_owner[k + i] = -1, emu_race_stamp[k + i] = emu_race_gen;
      /* the atomic's own change must not be charged to this thread's step */
      memcpy(&emu_race_snap[k], p, n);
      return;
    }
    o += r.n;
  }
}

inline void emu_entry(void) {
#if AX_EMU_ASAN
  __sanitizer_finish_switch_fiber(NULL, &emu_sched_bottom, &emu_sched_size);
#endif
  emu_body();
  emu_thread *t = emu_cur;
  size_t pending = t->open.size();
  for (const std::vector<emu_copy> &g : t->groups) pending += g.size();
  if (pending) emu_fail("thread exited with cp.async copies never waited for");
  t->done = true;
  /* an exited thread no longer counts at barriers */
  emu_block_live--;
  emu_warp &w = emu_warps[t->tid / 32];
  w.live--;
  if (emu_block_arrived > 0 && emu_block_arrived == emu_block_live)
    emu_block_arrived = 0, emu_block_gen++, emu_race_barrier();
  if (w.arrived > 0 && w.arrived == w.live) emu_fail("a lane exited while its warp waits in a collective");
  emu_wg_exit();
#if AX_EMU_ASAN
  __sanitizer_start_switch_fiber(NULL, emu_sched_bottom, emu_sched_size); /* this stack is done */
#endif
  _longjmp(emu_sched, 1);
}

inline bool emu_runnable(const emu_thread &t) {
  return !t.done && (!t.wait_gen_ptr || *t.wait_gen_ptr != t.wait_gen);
}

inline void emu_run_block(unsigned nthreads) {
  emu_threads.assign(nthreads, emu_thread());
  emu_warps.assign((nthreads + 31) / 32, emu_warp());
  for (unsigned w = 0; w < emu_warps.size(); w++) emu_warps[w].live = (int)std::min(32u, nthreads - 32 * w);
  emu_wg_reset(nthreads);
  emu_block_arrived = 0, emu_block_live = (int)nthreads, emu_block_gen = 0;
  unsigned bx = emu_block_dim.x, by = emu_block_dim.y;
  for (unsigned i = 0; i < nthreads; i++) {
    emu_thread &t = emu_threads[i];
    t.tid = i;
    t.idx = make_uint3(i % bx, i / bx % by, i / (bx * by));
    if (getcontext(&t.uc) != 0) emu_fail("getcontext");
    t.uc.uc_stack.ss_sp = emu_stacks + (size_t)i * EMU_STACK;
    t.uc.uc_stack.ss_size = EMU_STACK;
    t.uc.uc_link = NULL;
    makecontext(&t.uc, emu_entry, 0);
  }
  unsigned remaining = nthreads;
  bool race = emu_race_on && emu_policy == 0;
  if (race) emu_race_begin(), emu_race_snapshot();
  auto step = [&](emu_thread &t) { /* runs t until it blocks or exits */
    t.wait_gen_ptr = NULL;
    emu_cur = &t;
    if (!_setjmp(emu_sched)) {
#if AX_EMU_ASAN
      void *fake = NULL;
      __sanitizer_start_switch_fiber(&fake, emu_stacks + (size_t)t.tid * EMU_STACK, EMU_STACK);
      (void)fake;
#endif
      if (!t.started) {
        t.started = true;
        setcontext(&t.uc);
      }
      _longjmp(t.jb, 1);
    }
#if AX_EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    if (race) emu_race_diff(t.tid);
    if (t.done) remaining--;
  };
  const unsigned nwarps = (unsigned)emu_warps.size();
  for (int sweep = 0; remaining > 0; sweep++) {
    bool progress = false;
    if (emu_policy == 0) { /* lockstep: every thread one step per sweep, alternating direction */
      for (unsigned k = 0; k < nthreads; k++) {
        emu_thread &t = emu_threads[sweep & 1 ? nthreads - 1 - k : k];
        if (emu_runnable(t)) step(t), progress = true;
      }
    } else { /* greedy: the first warp (in policy order) that can run goes as far as it can */
      for (unsigned wk = 0; wk < nwarps && !progress; wk++) {
        unsigned w = emu_policy == 1 ? wk : nwarps - 1 - wk;
        for (bool again = true; again;) {
          again = false;
          for (unsigned i = 32 * w; i < std::min(nthreads, 32 * w + 32); i++)
            if (emu_runnable(emu_threads[i])) step(emu_threads[i]), again = progress = true;
        }
      }
    }
    if (!progress) emu_fail("deadlock: a __syncthreads or warp collective that not every thread reaches");
  }
  emu_cur = NULL;
}

/* How many blocks of one launch get the race check (it compares the watched
 * shared memory after every step of every thread: costly on big tiles), and
 * whether this launch gets it at all (the runtime checks the first launches of
 * each kernel: AXON_EMU_RACE_LAUNCHES, default 4). */
inline int emu_race_blocks = 1;
inline bool emu_race_launch = true;
inline size_t emu_race_max_bytes = 64 * 1024;

/* ---- static shared memory (AX_SHARED) ----
 * One arena: each declaration (each instantiation of a template) gets a slot the
 * first time a thread of a block reaches it, keyed by a static byte beside it.
 * The layout lives for one launch, as the hardware's does; every block starts
 * with the slots and their guards filled with 0xFF. */
struct emu_static_slot {
  const void *key;
  size_t off, bytes;
  const char *name, *file;
  int line;
};
enum { EMU_STATIC_LIMIT = 48 * 1024, EMU_STATIC_GUARD = 256, EMU_STATIC_ARENA = 80 * 1024 };
inline std::vector<emu_static_slot> emu_static_slots;
alignas(1024) inline unsigned char emu_static_arena[EMU_STATIC_ARENA];
inline size_t emu_static_used;  /* arena bytes in slots and guards */
inline size_t emu_static_bytes; /* bytes in slots: what the hardware would count */

inline void emu_race_add(unsigned char *p, size_t n);

inline void *ax_emu_static_smem(const void *key, size_t bytes, size_t align, const char *name, const char *file,
                                int line) {
  for (const emu_static_slot &s : emu_static_slots)
    if (s.key == key) return emu_static_arena + s.off;
  if (align < 16) align = 16;
  size_t off = (emu_static_used + align - 1) / align * align;
  char msg[384];
  if (emu_static_bytes + bytes > EMU_STATIC_LIMIT || off + bytes + EMU_STATIC_GUARD > EMU_STATIC_ARENA) {
    snprintf(msg, sizeof msg,
             "static shared arrays over the 48 KB a kernel can declare: %s (%s:%d, %zu bytes) after %zu bytes", name,
             file, line, bytes, emu_static_bytes);
    emu_fail(msg);
  }
  if (emu_static_bytes + bytes + emu_smem_bytes > EMU_SMEM_LIMIT) {
    snprintf(msg, sizeof msg, "static (%zu bytes with %s) plus dynamic (%zu bytes) shared memory over the 227 KB of a block",
             emu_static_bytes + bytes, name, emu_smem_bytes);
    emu_fail(msg);
  }
  emu_static_slots.push_back({key, off, bytes, name, file, line});
  memset(emu_static_arena + emu_static_used, 0xFF, off + bytes + EMU_STATIC_GUARD - emu_static_used);
  emu_static_used = off + bytes + EMU_STATIC_GUARD;
  emu_static_bytes += bytes;
  emu_race_add(emu_static_arena + off, bytes);
  return emu_static_arena + off;
}

/* Which shared array, and which byte of it, p is (for messages). */
inline void emu_smem_describe(char *buf, size_t n, const unsigned char *p) {
  if (p >= emu_smem.data() && p < emu_smem.data() + emu_smem.size()) {
    snprintf(buf, n, "dynamic shared memory byte %zu", (size_t)(p - emu_smem.data()));
    return;
  }
  for (const emu_static_slot &s : emu_static_slots)
    if (p >= emu_static_arena + s.off && p < emu_static_arena + s.off + s.bytes) {
      snprintf(buf, n, "byte %zu of the shared array %s (%s:%d)", (size_t)(p - emu_static_arena - s.off), s.name,
               s.file, s.line);
      return;
    }
  snprintf(buf, n, "shared memory at %p", (const void *)p);
}

/* A shared range that appears while a block runs joins the race check. */
inline void emu_race_add(unsigned char *p, size_t n) {
  if (!emu_race_on) return;
  if (emu_race_total + n > emu_race_max_bytes) return; /* too big to watch here (later blocks decide by size) */
  emu_race_ranges.push_back({p, n});
  emu_race_snap.resize(emu_race_total + n);
  memcpy(&emu_race_snap[emu_race_total], p, n);
  emu_race_owner.resize(emu_race_total + n, 0);
  emu_race_stamp.resize(emu_race_total + n, 0);
  emu_race_total += n;
}

/* After a block: a write into a slot's guard names the array. */
inline void emu_static_check_guards(void) {
  for (size_t k = 0; k < emu_static_slots.size(); k++) {
    const emu_static_slot &s = emu_static_slots[k];
    size_t end = k + 1 < emu_static_slots.size() ? emu_static_slots[k + 1].off : emu_static_used;
    for (size_t i = s.off + s.bytes; i < end; i++)
      if (emu_static_arena[i] != 0xFF) {
        char msg[384];
        snprintf(msg, sizeof msg, "write past the end of the shared array %s (%s:%d, %zu bytes): byte %zu", s.name,
                 s.file, s.line, s.bytes, i - s.off);
        emu_fail(msg);
      }
  }
}

/* Runs body() as every thread of every block of the grid, one block after another. */
inline void ax_emu_run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body) {
  unsigned threads = block.x * block.y * block.z;
  if (threads == 0 || threads > EMU_MAX_THREADS) emu_fail("bad block size");
  if (smem > EMU_SMEM_LIMIT) emu_fail("dynamic shared memory over the 227 KB a block can have");
  if (!emu_stacks) {
    emu_stacks = (char *)malloc((size_t)EMU_MAX_THREADS * EMU_STACK);
    if (!emu_stacks) emu_fail("out of host memory for the emulated threads' stacks");
  }
  emu_body = body;
  emu_grid_dim = grid;
  emu_block_dim = block;
  emu_smem_bytes = smem;
  emu_static_slots.clear(); /* the static layout is the launch's */
  emu_static_used = emu_static_bytes = 0;
  unsigned long in_launch = 0;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        emu_block_idx = dim3(x, y, z);
        emu_smem.assign(smem + EMU_GUARD, 0xFF);
        emu_generic.assign(emu_smem.size(), 0);
        memset(emu_static_arena, 0xFF, emu_static_used);
        emu_policy = (int)(emu_blocks_run++ % 3);
        /* a launch that gets the race check starts with a lockstep block, the schedule the check runs on */
        if (emu_race_launch && (int)in_launch < emu_race_blocks) emu_policy = 0;
        emu_race_ranges.clear();
        emu_race_on = false;
        if (emu_race_launch && (int)in_launch < 3 * emu_race_blocks && emu_policy == 0 &&
            smem + emu_static_bytes <= emu_race_max_bytes) {
          emu_race_on = true; /* static arrays first declared in this block join as they appear (emu_race_add) */
          if (smem) emu_race_ranges.push_back({emu_smem.data(), smem});
          for (const emu_static_slot &sl : emu_static_slots)
            emu_race_ranges.push_back({emu_static_arena + sl.off, sl.bytes});
        }
        in_launch++;
        emu_run_block(threads);
        emu_race_on = false;
        for (size_t i = smem; i < smem + EMU_GUARD; i++)
          if (emu_smem[i] != 0xFF) emu_fail("write past the end of dynamic shared memory");
        emu_static_check_guards();
      }
}

inline unsigned char *ax_emu_dynamic_smem(void) { return emu_smem.data(); }

/* ---- kernel launches ---- */

/* cuda_runtime.h has these overloads for nvcc only */
template <class T>
inline cudaError_t cudaMemcpyToSymbolAsync(const T &symbol, const void *src, size_t count, size_t offset = 0,
                                           cudaMemcpyKind kind = cudaMemcpyHostToDevice, cudaStream_t stream = 0) {
  return cudaMemcpyToSymbolAsync((const void *)&symbol, src, count, offset, kind, stream);
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const T &symbol, size_t count, size_t offset = 0,
                                             cudaMemcpyKind kind = cudaMemcpyDeviceToHost, cudaStream_t stream = 0) {
  return cudaMemcpyFromSymbolAsync(dst, (const void *)&symbol, count, offset, kind, stream);
}
template <class T> inline cudaError_t cudaFuncSetAttribute(T *entry, cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute((const void *)entry, attr, value);
}

/* The runtime's half (kernels/cuda/emulate/runtime.cpp, or a standalone test):
 * checks the configuration now, then queues run() on the stream. */
cudaError_t ax_emu_submit(const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                          std::function<void()> run);

/* ax_cuda_launch (common.cuh) under the emulator: the arguments are converted to
 * the kernel's parameter types and copied now, as a real launch does. */
template <typename... P, typename... A>
inline cudaError_t ax_emu_launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                                        A &&...args) {
  std::tuple<typename std::decay<P>::type...> params(std::forward<A>(args)...);
  return ax_emu_submit((const void *)kernel, grid, block, smem, st, [kernel, params, grid, block, smem]() {
    ax_emu_run_grid(grid, block, smem, [&] { std::apply(kernel, params); });
  });
}

/* ---- cp.async ---- */

inline void ax_emu_cp_async(void *dst, const void *src, int bytes, int src_bytes) {
  emu_copy c;
  c.dst = dst, c.bytes = bytes;
  memset(c.data, 0, sizeof c.data);
  memcpy(c.data, src, (size_t)src_bytes);
  memset(dst, 0xFF, (size_t)bytes);
  emu_cur->open.push_back(c);
}
inline void ax_emu_cp_async_commit(void) {
  emu_cur->groups.push_back(emu_cur->open);
  emu_cur->open.clear();
}
inline void emu_mark_generic(const emu_copy &c, int delta) {
  size_t off = (size_t)((unsigned char *)c.dst - emu_smem.data());
  if (off >= emu_smem.size()) return; /* not dynamic shared memory */
  for (int i = 0; i < c.bytes; i++) emu_generic[off + i] += delta;
}
inline void ax_emu_cp_async_wait(int n) {
  std::vector<std::vector<emu_copy>> &g = emu_cur->groups;
  while ((int)g.size() > n) {
    for (const emu_copy &c : g.front()) {
      memcpy(c.dst, c.data, (size_t)c.bytes);
      emu_mark_generic(c, 1);
      emu_cur->unfenced.push_back(c);
    }
    g.erase(g.begin());
  }
}
/* fence.proxy.async: this thread's landed copies become visible to the tensor cores */
inline void ax_emu_fence_proxy_async(void) {
  for (const emu_copy &c : emu_cur->unfenced) emu_mark_generic(c, -1);
  emu_cur->unfenced.clear();
}

/* ---- warp collectives ---- */

enum { EMU_MMA_BF16 = 1, EMU_MMA_F16, EMU_LDMATRIX, EMU_LDMATRIX_T, EMU_SHFL, EMU_VOTE, EMU_MMA_S8 };

inline uint16_t emu_b16_at(const unsigned char *row, int col) {
  uint16_t v;
  memcpy(&v, row + 2 * col, 2);
  return v;
}

/* ldmatrix .x4: lanes 8j..8j+7 give the row addresses of matrix j; lane l receives
 * M_j[l/4][2(l%4)], M_j[l/4][2(l%4)+1] (.trans: M_j[2(l%4)][l/4], M_j[2(l%4)+1][l/4]) */
inline void ax_emu_ldmatrix_x4(uint32_t *r, const void *p, bool trans) {
  emu_collective(trans ? EMU_LDMATRIX_T : EMU_LDMATRIX, 0xFFFFFFFFu, &p, sizeof p, r, 16, [trans](emu_warp_slot &s) {
    const unsigned char *addr[32];
    for (int l = 0; l < 32; l++) {
      memcpy(&addr[l], s.in[l], sizeof addr[l]);
      if ((uintptr_t)addr[l] % 16) emu_fail("ldmatrix row address not 16-byte aligned");
    }
    for (int l = 0; l < 32; l++) {
      int g = l / 4, q = l % 4;
      uint32_t out[4];
      for (int j = 0; j < 4; j++) {
        uint16_t lo, hi;
        if (!trans) {
          lo = emu_b16_at(addr[8 * j + g], 2 * q);
          hi = emu_b16_at(addr[8 * j + g], 2 * q + 1);
        } else {
          lo = emu_b16_at(addr[8 * j + 2 * q], g);
          hi = emu_b16_at(addr[8 * j + 2 * q + 1], g);
        }
        out[j] = (uint32_t)lo | ((uint32_t)hi << 16);
      }
      memcpy(s.out[l], out, 16);
    }
  });
}

template <typename T> inline float emu_b16_to_float(uint16_t v) {
  T x;
  memcpy((void *)&x, &v, 2);
  return (float)x;
}

/* mma.m16n8k16 row.col, f32 accumulators: lane l (g = l/4, q = l%4) holds A[g][2q..],
 * A[g+8][2q..], A[g][2q+8..], A[g+8][2q+8..]; B[2q..][g], B[2q+8..][g]; C[g][2q],
 * C[g][2q+1], C[g+8][2q], C[g+8][2q+1] (PTX ISA, "Matrix Fragments for mma.m16n8k16") */
template <typename T> inline void ax_emu_mma_16816(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
  unsigned char in[40];
  uint32_t b[2] = {b0, b1};
  memcpy(in, a, 16);
  memcpy(in + 16, b, 8);
  memcpy(in + 24, c, 16);
  int kind = std::is_same<T, __half>::value ? EMU_MMA_F16 : EMU_MMA_BF16;
  emu_collective(kind, 0xFFFFFFFFu, in, sizeof in, c, 16, [](emu_warp_slot &s) {
    emu_mma_count++;
    float A[16][16], B[16][8];
    for (int lane = 0; lane < 32; lane++) {
      uint32_t ra[4], rb[2];
      memcpy(ra, s.in[lane], 16);
      memcpy(rb, s.in[lane] + 16, 8);
      int g = lane / 4, q = lane % 4;
      for (int h = 0; h < 2; h++) {
        A[g][2 * q + h] = emu_b16_to_float<T>((uint16_t)(ra[0] >> (16 * h)));
        A[g + 8][2 * q + h] = emu_b16_to_float<T>((uint16_t)(ra[1] >> (16 * h)));
        A[g][2 * q + 8 + h] = emu_b16_to_float<T>((uint16_t)(ra[2] >> (16 * h)));
        A[g + 8][2 * q + 8 + h] = emu_b16_to_float<T>((uint16_t)(ra[3] >> (16 * h)));
        B[2 * q + h][g] = emu_b16_to_float<T>((uint16_t)(rb[0] >> (16 * h)));
        B[2 * q + 8 + h][g] = emu_b16_to_float<T>((uint16_t)(rb[1] >> (16 * h)));
      }
    }
    for (int lane = 0; lane < 32; lane++) {
      int g = lane / 4, q = lane % 4;
      int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * q, 2 * q + 1, 2 * q, 2 * q + 1};
      float cv[4];
      memcpy(cv, s.in[lane] + 24, 16);
      for (int i = 0; i < 4; i++) {
        float acc = cv[i];
        for (int k = 0; k < 16; k++) acc += A[rows[i]][k] * B[k][cols[i]];
        cv[i] = acc;
      }
      memcpy(s.out[lane], cv, 16);
    }
  });
}

/* mma.m16n8k32 row.col s32.s8.s8.s32 (int8 tensor cores): lane l (g = l/4, q = l%4) holds
 * the bytes A[g][4q..4q+3], A[g+8][4q..], A[g][16+4q..], A[g+8][16+4q..] in a[0..3];
 * B[4q..4q+3][g], B[16+4q..][g] in b0, b1; C as in m16n8k16 (PTX ISA, "Matrix Fragments
 * for mma.m16n8k32"). int32 accumulation wraps like the hardware's (no .satfinite). */
inline void ax_emu_mma_16832_s8(int *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
  unsigned char in[40];
  uint32_t b[2] = {b0, b1};
  memcpy(in, a, 16);
  memcpy(in + 16, b, 8);
  memcpy(in + 24, c, 16);
  emu_collective(EMU_MMA_S8, 0xFFFFFFFFu, in, sizeof in, c, 16, [](emu_warp_slot &s) {
    emu_mma_count++;
    int A[16][32], B[32][8];
    for (int lane = 0; lane < 32; lane++) {
      uint32_t ra[4], rb[2];
      memcpy(ra, s.in[lane], 16);
      memcpy(rb, s.in[lane] + 16, 8);
      int g = lane / 4, q = lane % 4;
      for (int h = 0; h < 4; h++) {
        A[g][4 * q + h] = (int8_t)(ra[0] >> (8 * h));
        A[g + 8][4 * q + h] = (int8_t)(ra[1] >> (8 * h));
        A[g][16 + 4 * q + h] = (int8_t)(ra[2] >> (8 * h));
        A[g + 8][16 + 4 * q + h] = (int8_t)(ra[3] >> (8 * h));
        B[4 * q + h][g] = (int8_t)(rb[0] >> (8 * h));
        B[16 + 4 * q + h][g] = (int8_t)(rb[1] >> (8 * h));
      }
    }
    for (int lane = 0; lane < 32; lane++) {
      int g = lane / 4, q = lane % 4;
      int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * q, 2 * q + 1, 2 * q, 2 * q + 1};
      int cv[4];
      memcpy(cv, s.in[lane] + 24, 16);
      for (int i = 0; i < 4; i++) {
        uint32_t acc = (uint32_t)cv[i];
        for (int k = 0; k < 32; k++) acc += (uint32_t)(A[rows[i]][k] * B[k][cols[i]]);
        cv[i] = (int)acc;
      }
      memcpy(s.out[lane], cv, 16);
    }
  });
}

/* Shuffles: lane l reads the value of lane src(l) (its own when src is outside its
 * width segment, as __shfl_*_sync define it). Reading a lane that does not exist
 * (a partial last warp) is an error: the hardware returns an undefined value. */
template <typename T> inline T emu_shfl(unsigned mask, T v, int src, int width, int mode) {
  static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
  if (width < 1 || width > 32 || (width & (width - 1))) emu_fail("shuffle width not a power of 2 in 1..32");
  unsigned char in[12];
  memcpy(in, &v, sizeof v);
  memcpy(in + 8, &src, 4);
  T r;
  int live = emu_warps[emu_cur->tid / 32].live;
  /* the mode (idx, up, down, xor) and width are part of the collective: lanes of one
   * warp in different shuffles is divergence */
  emu_collective(EMU_SHFL + 16 * (mode + 4 * width), mask, in, sizeof in, &r, sizeof r, [width, live](emu_warp_slot &s) {
    for (int l = 0; l < live; l++) {
      int src_l;
      memcpy(&src_l, s.in[l] + 8, 4);
      int seg = l / width * width;
      int from = src_l >= seg && src_l < seg + width ? src_l : l;
      if (from >= live) emu_fail("a shuffle reads a lane that does not exist (block size not a multiple of 32?)");
      memcpy(s.out[l], s.in[from], sizeof(T));
    }
  });
  return r;
}
template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return emu_shfl(mask, v, emu_lane() ^ lane_mask, width, 3);
}
template <typename T> inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return emu_shfl(mask, v, emu_lane() / width * width + src_lane % width, width, 0);
}
template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return emu_shfl(mask, v, emu_lane() + (int)delta, width, 2);
}
template <typename T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int l = emu_lane(), seg = l / width * width;
  return emu_shfl(mask, v, l - (int)delta >= seg ? l - (int)delta : l, width, 1);
}
/* Votes */
inline unsigned __ballot_sync(unsigned mask, int pred) {
  int p = pred != 0;
  unsigned r = 0;
  emu_collective(EMU_VOTE, mask, &p, sizeof p, &r, sizeof r, [](emu_warp_slot &s) {
    unsigned bits = 0;
    for (int l = 0; l < 32; l++)
      if (s.mask[0] >> l & 1) {
        int v;
        memcpy(&v, s.in[l], sizeof v);
        if (v) bits |= 1u << l;
      }
    for (int l = 0; l < 32; l++) memcpy(s.out[l], &bits, sizeof bits);
  });
  return r & mask;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == (mask & emu_live_mask(emu_warps[emu_cur->tid / 32])); }
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu) {
  int z = 0;
  emu_collective(EMU_VOTE + 1, mask, &z, sizeof z, &z, sizeof z, [](emu_warp_slot &) {});
}

/* ---- atomics: one coroutine runs at a time, so a plain read-modify-write is atomic ---- */

template <typename T> inline T emu_atomic_rmw(T *p, T v, int op) {
  emu_race_atomic(p, sizeof(T));
  T old = *p;
  switch (op) {
    case 0: *p = (T)(old + v); break;
    case 1: *p = old < v ? old : v; break;
    case 2: *p = old > v ? old : v; break;
    case 3: *p = v; break;
  }
  emu_race_atomic(p, sizeof(T));
  return old;
}
inline float atomicAdd(float *p, float v) { return emu_atomic_rmw(p, v, 0); }
inline double atomicAdd(double *p, double v) { return emu_atomic_rmw(p, v, 0); }
inline int atomicAdd(int *p, int v) { return emu_atomic_rmw(p, v, 0); }
inline unsigned atomicAdd(unsigned *p, unsigned v) { return emu_atomic_rmw(p, v, 0); }
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) { return emu_atomic_rmw(p, v, 0); }
inline __half atomicAdd(__half *p, __half v) {
  emu_race_atomic(p, 2);
  __half old = *p;
  *p = __float2half(__half2float(old) + __half2float(v));
  emu_race_atomic(p, 2);
  return old;
}
inline __nv_bfloat16 atomicAdd(__nv_bfloat16 *p, __nv_bfloat16 v) {
  emu_race_atomic(p, 2);
  __nv_bfloat16 old = *p;
  *p = __float2bfloat16(__bfloat162float(old) + __bfloat162float(v));
  emu_race_atomic(p, 2);
  return old;
}
inline int atomicMin(int *p, int v) { return emu_atomic_rmw(p, v, 1); }
inline int atomicMax(int *p, int v) { return emu_atomic_rmw(p, v, 2); }
inline unsigned atomicMax(unsigned *p, unsigned v) { return emu_atomic_rmw(p, v, 2); }
inline int atomicExch(int *p, int v) { return emu_atomic_rmw(p, v, 3); }
inline unsigned atomicExch(unsigned *p, unsigned v) { return emu_atomic_rmw(p, v, 3); }
inline float atomicExch(float *p, float v) { return emu_atomic_rmw(p, v, 3); }
template <typename T> inline T emu_atomic_cas(T *p, T cmp, T v) {
  emu_race_atomic(p, sizeof(T));
  T old = *p;
  if (old == cmp) *p = v;
  emu_race_atomic(p, sizeof(T));
  return old;
}
inline int atomicCAS(int *p, int c, int v) { return emu_atomic_cas(p, c, v); }
inline unsigned atomicCAS(unsigned *p, unsigned c, unsigned v) { return emu_atomic_cas(p, c, v); }
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long c, unsigned long long v) {
  return emu_atomic_cas(p, c, v);
}
inline void __threadfence(void) {}
inline void __threadfence_block(void) {}

/* ---- device math and bit casts ---- */

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
inline double rsqrt(double a) { return 1.0 / sqrt(a); }
inline float __logf(float a) { return logf(a); }
inline float __sinf(float a) { return sinf(a); }
inline float __cosf(float a) { return cosf(a); }
inline float __tanhf(float a) { return tanhf(a); }
inline float __saturatef(float a) { return a < 0.f ? 0.f : a > 1.f ? 1.f : a; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline unsigned __float_as_uint(float v) { unsigned u; memcpy(&u, &v, 4); return u; }
inline float __uint_as_float(unsigned u) { float v; memcpy(&v, &u, 4); return v; }
inline int __float_as_int(float v) { int u; memcpy(&u, &v, 4); return u; }
inline float __int_as_float(int u) { float v; memcpy(&v, &u, 4); return v; }
inline long long __double_as_longlong(double v) { long long u; memcpy(&u, &v, 8); return u; }
inline double __longlong_as_double(long long u) { double v; memcpy(&v, &u, 8); return v; }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
/* dp4a: c + the dot product of the four signed bytes of a and b (int32, wrapping) */
inline int __dp4a(int a, int b, int c) {
  uint32_t s = (uint32_t)c;
  for (int i = 0; i < 4; i++) s += (uint32_t)((int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i)));
  return (int)s;
}
inline int __clz(int v) { return v ? __builtin_clz((unsigned)v) : 32; }
inline int __ffs(int v) { return __builtin_ffs(v); }
template <typename T> inline T __ldg(const T *p) { return *p; }

/* ---- warpgroup MMA (wgmma, sm_90a) ---- */

/* The shared-window address of dynamic shared memory's first byte: 16-aligned (as
 * the hardware promises) but not 1024-aligned, so a kernel that assumes swizzle
 * alignment instead of establishing it reads the wrong data. */
enum { EMU_SMEM_WINDOW = 0x490 };

inline unsigned ax_emu_smem_addr(const void *p) {
  size_t off = (size_t)((const unsigned char *)p - emu_smem.data());
  if ((const unsigned char *)p < emu_smem.data() || off > emu_smem_bytes)
    emu_fail("a shared-memory address outside dynamic shared memory");
  return (unsigned)(EMU_SMEM_WINDOW + off);
}

/* One mma_async: operand values as read at issue, to check at retire that the
 * shared memory under it did not change while it was in flight. */
struct emu_wgmma_op {
  uint64_t da, db;
  int n, ta, tb;
  std::vector<uint16_t> a, b; /* A [64][16], B [16][n] */
  float *acc[128];
};
struct emu_wg_shadow { std::vector<float> v; int pending; };
struct emu_wg {
  int arrived, live;
  unsigned gen;
  int kind[128];
  float *acc[128];
  uint64_t da[128], db[128];
  bool fenced;                                   /* a wgmma.fence since the accumulators were handed back */
  std::vector<emu_wgmma_op> open;                /* issued, not committed */
  std::vector<std::vector<emu_wgmma_op>> groups; /* committed, oldest first */
  std::vector<std::pair<float *, emu_wg_shadow>> shadows; /* accumulators with ops in flight */
};
enum { EMU_WG_FENCE = 1, EMU_WG_MMA, EMU_WG_COMMIT, EMU_WG_WAIT };

inline void emu_wg_reset(unsigned nthreads) {
  emu_wgs.assign((nthreads + 127) / 128, emu_wg());
  for (unsigned w = 0; w < emu_wgs.size(); w++) emu_wgs[w].live = (int)std::min(128u, nthreads - 128 * w);
}
inline void emu_wg_exit(void) {
  emu_wg &w = emu_wgs[emu_cur->tid / 128];
  w.live--;
  if (!w.open.empty() || !w.groups.empty()) emu_fail("a thread exited with wgmma operations never waited for");
  if (w.arrived > 0 && w.arrived == w.live) emu_fail("a thread exited while its warpgroup waits in a collective");
}

/* A collective of the running thread's warpgroup: the last of its 128 threads to
 * arrive runs compute(w) for all. */
template <typename F> inline void emu_wg_collective(int kind, F compute) {
  emu_wg &w = emu_wgs[emu_cur->tid / 128];
  unsigned gen = w.gen;
  w.kind[emu_cur->tid % 128] = kind;
  if (++w.arrived == w.live) {
    if (w.live != 128) emu_fail("a warpgroup collective without all 128 threads of the warpgroup");
    for (int i = 0; i < 128; i++)
      if (w.kind[i] != kind) emu_fail("threads of a warpgroup reached different wgmma operations (divergence)");
    compute(w);
    w.arrived = 0;
    w.gen++;
  } else {
    emu_block_on(&w.gen, gen);
  }
}

/* The shared-window address of element (mn, k) of a 16-bit matrix, from its
 * descriptor (PTX ISA "Matrix Descriptor Format" and "Canonical Layouts", T = 8):
 *   K-major, no swizzle: ((8,m),(T,2k)):((1T,SBO),(1,LBO))
 *   K-major, swizzle W:  ((8,m),(T,2k)):((W/16 T,SBO),(1,T))        (LBO unused)
 *   MN-major, no swizzle: ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO))
 *   MN-major, swizzle W: ((T,W/16,m),(8,k)):((1,T,LBO),(W/16 T,SBO))
 * then Swizzle<log2(W/16),4,3> on the address: bits 4.. ^= bits 7.. */
inline unsigned emu_gmma_addr(uint64_t desc, bool kmajor, int mn, int k) {
  const uint64_t reserved = (3ull << 14) | (3ull << 30) | (7ull << 46) | (0x3FFull << 52);
  if (desc & reserved) emu_fail("a matrix descriptor with reserved bits set");
  if ((desc >> 49) & 7) emu_fail("a matrix descriptor with a base offset (not modeled)");
  unsigned start = (unsigned)(desc & 0x3FFF) << 4, lbo = (unsigned)((desc >> 16) & 0x3FFF) << 4;
  unsigned sbo = (unsigned)((desc >> 32) & 0x3FFF) << 4, mode = (unsigned)(desc >> 62);
  unsigned width = mode == 1 ? 128 : mode == 2 ? 64 : mode == 3 ? 32 : 16, off;
  if (kmajor)
    off = (mn % 8) * width + (mn / 8) * sbo + (k % 8) * 2 + (k / 8) * (mode ? 16 : lbo);
  else if (mode == 0)
    off = (mn % 8) * 2 + (mn / 8) * sbo + (k % 8) * 16 + (k / 8) * lbo;
  else
    off = (mn % (width / 2)) * 2 + (mn / (width / 2)) * lbo + (k % 8) * width + (k / 8) * sbo;
  unsigned a = start + off;
  if (mode) a ^= ((a >> 7) & (width / 16 - 1)) << 4;
  return a;
}

inline uint16_t emu_gmma_read(uint64_t desc, bool kmajor, int mn, int k) {
  unsigned a = emu_gmma_addr(desc, kmajor, mn, k);
  if (a < EMU_SMEM_WINDOW || a + 2 > EMU_SMEM_WINDOW + emu_smem_bytes)
    emu_fail("wgmma operand outside dynamic shared memory (descriptor start or offsets wrong)");
  size_t off = a - EMU_SMEM_WINDOW;
  if (emu_generic[off] || emu_generic[off + 1])
    emu_fail("wgmma reads cp.async data that its copying thread did not fence.proxy.async");
  uint16_t v;
  memcpy(&v, &emu_smem[off], 2);
  return v;
}

/* A [64][16] and B [16][n]; ta, tb: imm-trans-a, imm-trans-b (0: K-major, 1: M- or N-major) */
inline void emu_gmma_operands(uint64_t da, uint64_t db, int n, int ta, int tb, std::vector<uint16_t> &a,
                              std::vector<uint16_t> &b) {
  a.resize(64 * 16);
  b.resize((size_t)16 * n);
  for (int m = 0; m < 64; m++)
    for (int k = 0; k < 16; k++) a[m * 16 + k] = emu_gmma_read(da, !ta, m, k);
  for (int k = 0; k < 16; k++)
    for (int j = 0; j < n; j++) b[k * n + j] = emu_gmma_read(db, !tb, j, k);
}

inline emu_wg_shadow *emu_wg_find(emu_wg &w, float *acc) {
  for (auto &s : w.shadows)
    if (s.first == acc) return &s.second;
  return NULL;
}

inline void ax_emu_wgmma_fence(void) {
  emu_wg_collective(EMU_WG_FENCE, [](emu_wg &w) { w.fenced = true; });
}

/* wgmma.mma_async.m64nNk16.f32.T.T d, da, db, scale_d, 1, 1, ta, tb: d (this thread's
 * n/2 accumulators) = A B + (scale_d ? d : 0). Computed at issue into a shadow of
 * the accumulators, handed back at retire. */
template <typename T>
inline void ax_emu_wgmma(float *d, int n, uint64_t da, uint64_t db, int ta, int tb, bool scale_d) {
  if ((unsigned)ta > 1 || (unsigned)tb > 1) emu_fail("wgmma transpose flags other than 0 or 1");
  emu_wg &w0 = emu_wgs[emu_cur->tid / 128];
  int l = emu_cur->tid % 128;
  w0.acc[l] = d, w0.da[l] = da, w0.db[l] = db;
  int kind = EMU_WG_MMA + 16 * (n + 1024 * (ta + 2 * tb + 4 * (int)scale_d + 8 * (int)std::is_same<T, __half>::value));
  emu_wg_collective(kind, [&](emu_wg &w) {
    if (!w.fenced) emu_fail("wgmma.mma_async without a wgmma.fence since its accumulators were last accessed");
    for (int i = 0; i < 128; i++)
      if (w.da[i] != w.da[0] || w.db[i] != w.db[0]) emu_fail("wgmma descriptors differ across the warpgroup");
    emu_mma_count++;
    emu_wgmma_op op;
    op.da = w.da[0], op.db = w.db[0], op.n = n, op.ta = ta, op.tb = tb;
    emu_gmma_operands(op.da, op.db, n, ta, tb, op.a, op.b);
    std::vector<float> A(64 * 16), B((size_t)16 * n);
    for (size_t i = 0; i < A.size(); i++) A[i] = emu_b16_to_float<T>(op.a[i]);
    for (size_t i = 0; i < B.size(); i++) B[i] = emu_b16_to_float<T>(op.b[i]);
    for (int t = 0; t < 128; t++) {
      op.acc[t] = w.acc[t];
      emu_wg_shadow *sh = emu_wg_find(w, w.acc[t]);
      if (!sh) {
        w.shadows.push_back({w.acc[t], emu_wg_shadow{std::vector<float>(w.acc[t], w.acc[t] + n / 2), 0}});
        sh = &w.shadows.back().second;
      }
      sh->pending++;
      int warp = t / 32, g = (t % 32) / 4, q = t % 4;
      for (int i = 0; i < n / 2; i++) { /* register i: row 16 warp + g + 8 ((i/2)%2), column 8 (i/4) + 2q + i%2 */
        int row = 16 * warp + g + 8 * ((i / 2) % 2), col = 8 * (i / 4) + 2 * q + i % 2;
        float acc = scale_d ? sh->v[i] : 0.f;
        for (int k = 0; k < 16; k++) acc = fmaf(A[row * 16 + k], B[k * n + col], acc);
        sh->v[i] = acc;
      }
      for (int i = 0; i < n / 2; i++) w.acc[t][i] = NAN; /* in flight: not readable */
    }
    w.open.push_back(std::move(op));
  });
}

inline void ax_emu_wgmma_commit(void) {
  emu_wg_collective(EMU_WG_COMMIT, [](emu_wg &w) {
    w.groups.push_back(std::move(w.open));
    w.open.clear();
  });
}

/* wgmma.wait_group n: retire the oldest groups until at most n are pending. */
inline void ax_emu_wgmma_wait(int n) {
  emu_wg_collective(EMU_WG_WAIT + 16 * n, [n](emu_wg &w) {
    while ((int)w.groups.size() > n) {
      for (emu_wgmma_op &op : w.groups.front()) {
        std::vector<uint16_t> a, b;
        emu_gmma_operands(op.da, op.db, op.n, op.ta, op.tb, a, b);
        if (a != op.a || b != op.b) emu_fail("shared memory read by a wgmma changed before its wait_group");
        for (int t = 0; t < 128; t++) {
          emu_wg_shadow *sh = emu_wg_find(w, op.acc[t]);
          if (--sh->pending == 0) {
            memcpy(op.acc[t], sh->v.data(), sh->v.size() * sizeof(float));
            w.fenced = false; /* the registers are the program's again */
            for (size_t i = 0; i < w.shadows.size(); i++)
              if (w.shadows[i].first == op.acc[t]) {
                w.shadows.erase(w.shadows.begin() + i);
                break;
              }
          }
        }
      }
      w.groups.erase(w.groups.begin());
    }
  });
}

/* device math the kernels use (glibc has an unrelated __expf of its own) */
#define __expf(x) expf(x)

#endif
