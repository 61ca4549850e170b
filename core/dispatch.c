/* SPDX-License-Identifier: BSD-3-Clause */
/* Picks the backend table for a device; runtime facts (devices, threads). */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

#if defined(AXON_HAVE_CUDA)
int ax_cuda_runtime_device_count(void);  /* kernels/cuda/runtime.cu */
int ax_cuda_is_emulated(void);           /* kernels/cuda/runtime.cu or emulate/runtime.cpp */
const char *ax_cuda_alloc_failure(void); /* kernels/cuda/runtime.cu */
#endif

const char *ax__alloc_failure(ax_device d) {
#if defined(AXON_HAVE_CUDA)
  if (d.type == AX_DEVICE_CUDA) return ax_cuda_alloc_failure();
#endif
  (void)d;
  return "";
}

bool ax_has_cuda(void) {
#if defined(AXON_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

int ax_cuda_device_count(void) {
#if defined(AXON_HAVE_CUDA)
  return ax_cuda_runtime_device_count();
#else
  return 0;
#endif
}

bool ax_cuda_emulated(void) {
#if defined(AXON_HAVE_CUDA)
  return ax_cuda_is_emulated() != 0;
#else
  return false;
#endif
}

ax_device ax_default_device(void) {
  return ax_cuda_device_count() > 0 && !ax_cuda_emulated() ? AX_CUDA(0) : AX_CPU;
}

void ax_synchronize(ax_device d) {
  const ax_backend *b = ax__backend(d, "ax_synchronize");
  if (b && b->synchronize) b->synchronize(d.index);
}

bool ax__kernel_ok(const char *op, const ax_backend *be, const char *entry, ax_kstatus status) {
  if (status == AX_K_OK) return true;
  static const char *const why[] = {[AX_K_NOMEM] = "out of memory", [AX_K_LAUNCH] = "launch failed",
                                    [AX_K_UNSUPPORTED] = "unsupported", [AX_K_DEVICE] = "device error"};
  const char *detail = be->last_error ? be->last_error() : "";
  const char *kind = (unsigned)status < sizeof why / sizeof why[0] && why[status] ? why[status] : "failed";
  ax_error("%s: %s kernel '%s' failed (%s)%s%s", op, be->name, entry, kind, detail[0] ? ": " : "", detail);
  return false;
}

const ax_backend *ax__backend(ax_device d, const char *op) {
  if (d.type == AX_DEVICE_CPU) return &ax_cpu_backend;
  if (d.type == AX_DEVICE_CUDA) {
#if defined(AXON_HAVE_CUDA)
    int n = ax_cuda_device_count();
    if (d.index < 0 || d.index >= n) {
      ax_error("%s: device cuda:%d is not available (%d CUDA device%s found)", op, d.index, n, n == 1 ? "" : "s");
      return NULL;
    }
    return &ax_cuda_backend;
#else
    ax_error("%s: device cuda:%d requested, but this build of Axon has no CUDA backend (rebuild with -DAXON_CUDA=ON)",
             op, d.index);
    return NULL;
#endif
  }
  if (d.type == AX__DEVICE_DEAD) {
    ax__report_dead_device(op, d); /* a tensor used after its scope ended (AXON_DEBUG_SCOPES) */
    return NULL;
  }
  ax_error("%s: unknown device type %d", op, d.type);
  return NULL;
}

size_t ax__live_tensors(void);

ax_memory_stats ax_memory_stats_get(ax_device d) {
  ax_memory_stats s = {0};
  const ax_backend *be = ax__backend(d, "ax_memory_stats_get");
  if (be) s = be->memory_stats(d.index);
  s.live_tensors = ax__live_tensors();
  return s;
}

void ax_memory_empty_cache(ax_device d) {
  const ax_backend *be = ax__backend(d, "ax_memory_empty_cache");
  if (be) be->empty_cache(d.index);
}

int ax_num_threads(void) { return omp_get_max_threads(); }
void ax_set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

const char *ax_cpu_name(char *buf, size_t n) {
  snprintf(buf, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return buf;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0) continue;
    char *v = strchr(line, ':');
    if (!v) break;
    v += 1 + (v[1] == ' ');
    v[strcspn(v, "\n")] = '\0';
    snprintf(buf, n, "%s", v);
    break;
  }
  fclose(f);
  return buf;
}
