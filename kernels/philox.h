/* SPDX-License-Identifier: BSD-3-Clause */
/* Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
 * Counter-based: element i of a random call with key `seed` and call offset
 * `offset` uses counter (i lo, i hi, offset lo, offset hi), so any backend
 * computes element i independently and gets the same bits. Host and device. */
#ifndef AXON_KERNELS_PHILOX_H
#define AXON_KERNELS_PHILOX_H

#include <stdint.h>

#if defined(__CUDACC__)
#define AX_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define AX_HOST_DEVICE static inline
#endif

typedef struct ax_philox4 { uint32_t v[4]; } ax_philox4;

AX_HOST_DEVICE uint32_t ax_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

AX_HOST_DEVICE ax_philox4 ax_philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
  uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    uint32_t hi0, hi1;
    uint32_t lo0 = ax_mulhilo32(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = ax_mulhilo32(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  ax_philox4 r;
  r.v[0] = c0; r.v[1] = c1; r.v[2] = c2; r.v[3] = c3;
  return r;
}

/* A uniform in [0, 1) from 32 random bits (24 bits: exact in f32). */
AX_HOST_DEVICE float ax_uint_to_unit_float(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
/* A uniform in [0, 1) from 64 random bits (53 bits: exact in f64). */
AX_HOST_DEVICE double ax_uint2_to_unit_double(uint32_t a, uint32_t b) {
  uint64_t x = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11) ;
  x &= ((uint64_t)1 << 53) - 1;
  return (double)x * (1.0 / 9007199254740992.0);
}

#endif
