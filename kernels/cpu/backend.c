/* SPDX-License-Identifier: BSD-3-Clause */
/* The CPU backend table: the reference every other backend is checked against.
 * Its entries are generated from kernels/kernels.def. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_copy_from_host(void *dst, const void *src, size_t n, int dev) {
  (void)dev;
  if (n) memcpy(dst, src, n);
}

int ax_cpu_copy_to_host(void *dst, const void *src, size_t n, int dev) {
  (void)dev;
  if (n) memcpy(dst, src, n);
  return 0;
}

void ax_cpu_synchronize(int dev) { (void)dev; }

/* the detail of this thread's last kernel failure (ax_cpu_fail) */
static _Thread_local char last_failure[256];

ax_kstatus ax_cpu_fail(ax_kstatus status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_failure, sizeof last_failure, fmt, ap);
  va_end(ap);
  return status;
}

const char *ax_cpu_last_error(void) { return last_failure; }

/* What the CPU kernels take (kernels/backend.h): convolution and attention run in
 * f32 and f64 only (the op layer converts bf16 / f16 attention); the fused
 * classifier works through 32 MB chunks of logits. */
#define F32_F64 ((1u << AX_F32) | (1u << AX_F64))
static const ax_kernel_caps cpu_caps[AX_NUM_KERNEL_IDS] = {
    [AX_KID_conv2d] = {.dtypes = F32_F64},
    [AX_KID_conv2d_backward_input] = {.dtypes = F32_F64},
    [AX_KID_conv2d_backward_weight] = {.dtypes = F32_F64},
    [AX_KID_attention] = {.dtypes = F32_F64},
    [AX_KID_attention_backward] = {.dtypes = F32_F64},
    [AX_KID_cross_entropy] = {.chunk_bytes = (int64_t)32 << 20},
};

const ax_backend ax_cpu_backend = {
    .name = "cpu",
    .caps = cpu_caps,
#define AX_RUNTIME(ret, name, params, family) .name = ax_cpu_##name,
#define AX_KERNEL(name, params, family, grad) .name = ax_cpu_##name,
#include "kernels/kernels.def"
};
