/* SPDX-License-Identifier: BSD-3-Clause */
/* CPU kernels (C + OpenMP): the reference backend. One file per op family;
 * kernels/cpu/backend.c gathers them into ax_cpu_backend. */
#ifndef AXON_KERNELS_CPU_H
#define AXON_KERNELS_CPU_H

#include "kernels/backend.h"

/* Below this many elements a kernel runs on one thread: thread start-up costs more. */
#define AX_CPU_PARALLEL_MIN 32768

/* ax_cpu_<name> for every entry of kernels/kernels.def: alloc.c (memory), backend.c
 * (transfers, last_error), and one file per op family (copy.c, elementwise.c, ...) */
#define AX_RUNTIME(ret, name, params, family) ret ax_cpu_##name params;
#define AX_KERNEL(name, params, family, grad) ax_kstatus ax_cpu_##name params;
#include "kernels/kernels.def"

/* A kernel's failure: records the detail for ax_cpu_last_error() (backend.c) and
 * returns status, so a kernel can `return ax_cpu_fail(AX_K_NOMEM, "...", ...)`. */
ax_kstatus ax_cpu_fail(ax_kstatus status, const char *fmt, ...);

/* A test hook (gemm.c): the next GEMM scratch allocation, on any thread, fails as
 * if out of memory, so a test can see AX_K_NOMEM reach the op (tests/test_kernel_status.c). */
void ax_cpu_fail_next_scratch_alloc(void);

#endif
