/* SPDX-License-Identifier: BSD-3-Clause */
/* Dropout: out[i] = in[i] / (1 - p) where u_i >= p, else 0, on contiguous views.
 *
 * u_i is the uniform that ax_cpu_random draws for element i at (seed, offset):
 * f64 from the first two Philox words, every other dtype from the first word in
 * f32, and the comparison is made in that same precision (p rounded to f32), so
 * the mask is exactly `ax_rand(...) >= p` and the same on every backend. The
 * kept value is a select, not a multiply by the mask, so p == 1 gives zeros. */
#include "kernels/cpu/iter.h"
#include "kernels/half.h"
#include "kernels/philox.h"

#define DROPOUT_LOOP(T, ACC, LOAD, STORE, UNIFORM)                                    \
  do {                                                                                \
    T *o = out->data;                                                                 \
    const T *x = in->data;                                                            \
    ACC scale = (ACC)(p < 1 ? 1.0 / (1.0 - p) : 0.0), thr = (ACC)p;                   \
    _Pragma("omp parallel for schedule(static) if (n >= AX_CPU_PARALLEL_MIN)")        \
    for (int64_t i = 0; i < n; i++) {                                                 \
      ax_philox4 r = ax_philox4x32_10((uint64_t)i, offset, seed);                     \
      ACC u = UNIFORM;                                                                \
      o[i] = u >= thr ? STORE(LOAD(x[i]) * scale) : STORE(0);                         \
    }                                                                                 \
  } while (0)

#define ID(v) (v)
#define TO_F32(v) ((float)(v))
#define TO_F64(v) ((double)(v))
#define U_F32 ax_uint_to_unit_float(r.v[0])
#define U_F64 ax_uint2_to_unit_double(r.v[0], r.v[1])

ax_kstatus ax_cpu_dropout(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset) {
  int64_t n = 1;
  for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
  switch (out->dtype) {
    case AX_F64: DROPOUT_LOOP(double, double, ID, TO_F64, U_F64); break;
    case AX_BF16: DROPOUT_LOOP(uint16_t, float, ax_bf16_to_f32, ax_f32_to_bf16, U_F32); break;
    case AX_F16: DROPOUT_LOOP(uint16_t, float, ax_f16_to_f32, ax_f32_to_f16, U_F32); break;
    default: DROPOUT_LOOP(float, float, ID, TO_F32, U_F32); break;
  }
  return AX_K_OK;
}
