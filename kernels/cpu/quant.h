/* SPDX-License-Identifier: BSD-3-Clause */
/* The int8 GEMM's CPU paths (kernels/cpu/quant.c), for tests and benchmarks:
 * ax_cpu_gemm_s8 picks the best the CPU has at run time; these run one path. */
#ifndef AXON_KERNELS_CPU_QUANT_H
#define AXON_KERNELS_CPU_QUANT_H

#include <stdint.h>

#include "kernels/backend.h"

typedef enum ax_s8_path {
  AX_S8_REFERENCE = 0, /* plain C, every CPU */
  AX_S8_AVX2 = 1,      /* vpmaddwd on sign-extended int16 */
  AX_S8_VNNI = 2,      /* AVX-512 VNNI vpdpbusd (u8 x s8, with a column-sum correction) */
  AX_S8_NUM_PATHS
} ax_s8_path;

/* whether this CPU can run the path (__builtin_cpu_supports) */
int ax_cpu_s8_path_supported(int path);
/* the path ax_cpu_gemm_s8 takes on this CPU: the best it has */
int ax_cpu_s8_path_default(void);
const char *ax_cpu_s8_path_name(int path);
/* c [M, N] i32 = a [M, K] i8 x b [N, K]^T i8, contiguous rows, on one path */
ax_kstatus ax_cpu_gemm_s8_path(int path, int32_t *c, const int8_t *a, const int8_t *b, int64_t m, int64_t n,
                               int64_t k);

#endif
