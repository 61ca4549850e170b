/* SPDX-License-Identifier: BSD-3-Clause */
/* Picks the backend table for a device; runtime facts (devices, threads). */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

#include "core/components.h"

/* The CUDA backend is the CUDA component (libaxon_cuda, core/components.h): present when
 * the program links it, whatever this library was built with. */
const char *ax__alloc_failure(ax_device d) {
  const ax_cuda_component *cu = ax__cuda_component();
  if (cu && d.type == AX_DEVICE_CUDA) return cu->alloc_failure();
  return "";
}

bool ax_has_cuda(void) { return ax__cuda_component() != NULL; }

int ax_cuda_device_count(void) {
  const ax_cuda_component *cu = ax__cuda_component();
  return cu ? cu->device_count() : 0;
}

bool ax_cuda_emulated(void) {
  const ax_cuda_component *cu = ax__cuda_component();
  return cu && cu->is_emulated() != 0;
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
    const ax_cuda_component *cu = ax__cuda_component();
    if (!cu) {
      ax_error("%s: device cuda:%d requested, but this program has no CUDA backend: the CUDA component "
               "(libaxon_cuda) is not linked in (link axon::cuda or pkg-config axon-cuda; build with -DAXON_CUDA=ON)",
               op, d.index);
      return NULL;
    }
    int n = cu->device_count();
    if (d.index < 0 || d.index >= n) {
      ax_error("%s: device cuda:%d is not available (%d CUDA device%s found)", op, d.index, n, n == 1 ? "" : "s");
      return NULL;
    }
    return cu->backend;
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
