/* SPDX-License-Identifier: BSD-3-Clause */
/* Vectorizable math for CPU kernels: glibc's expf is a scalar call, which
 * keeps loops that use it from vectorizing and leaves them several times
 * slower than memory. */
#ifndef AXON_KERNELS_CPU_VMATH_H
#define AXON_KERNELS_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Cephes' reduction x = n ln2 + r and degree-7 polynomial, about 1 ulp.
 * 2^n is applied in two halves so that n from -150 (subnormal results) to
 * 128 needs no special case; the integer work is unsigned so that NaN inputs
 * (which give NaN) are not undefined. */
static inline float ax_fast_expf(float x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float xc = x > 88.7228394f ? 88.7228394f : (x < -104.0f ? -104.0f : x);
  float t = xc * 1.44269504088896341f + magic;
  float n = t - magic;
  float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  uint32_t tb;
  memcpy(&tb, &t, 4);
  int32_t ni = (int32_t)(tb - 0x4B400000u), n1 = ni >> 1, n2 = ni - n1;
  uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
  float s1, s2;
  memcpy(&s1, &b1, 4);
  memcpy(&s2, &b2, 4);
  float y = p * s1 * s2;
  return x > 88.7228394f ? INFINITY : y;
}

#endif
