/* SPDX-License-Identifier: BSD-3-Clause */
/* Run-time ISA dispatch of the hot CPU kernels (docs/architecture.md, "Portable builds").
 *
 * gemm.c, conv.c and elementwise.c are compiled once per ISA level (CMakeLists.txt,
 * AXON_CPU_ISA_SOURCES) into ax_cpu_<name>_generic / _avx2 / _avx512 (isa_rename.h).
 * The names the backend table and the rest of the library call, ax_cpu_<name>, are the
 * dispatchers below: each call takes the best level the CPU supports (checked once with
 * __builtin_cpu_supports), capped by the AXON_ISA setting. Only the levels this build
 * compiled exist (AX_ISA_HAVE_AVX2 / AX_ISA_HAVE_AVX512, x86-64 only); a build with
 * AXON_MARCH set compiles the generic copy alone, with that -march. */
#include <stdatomic.h>
#include <stdio.h>

#include "axon/settings.h"
#include "kernels/cpu/cpu.h"

/* ax_cpu_fail_next_scratch_alloc's flag, shared by every ISA copy of gemm.c */
atomic_int ax__cpu_fail_next_scratch;
void ax_cpu_fail_next_scratch_alloc(void) { atomic_store(&ax__cpu_fail_next_scratch, 1); }

/* One ISA level's copies of the dispatched kernels. */
typedef struct isa_table {
  const char *name;
  ax_kstatus (*gemm)(const ax_gemm_args *);
  ax_kstatus (*conv2d)(ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *, const ax_conv_params *);
  ax_kstatus (*conv2d_backward_input)(ax_kt *, const ax_kt *, const ax_kt *, const ax_conv_params *);
  ax_kstatus (*conv2d_backward_weight)(ax_kt *, const ax_kt *, const ax_kt *, const ax_conv_params *);
  ax_kstatus (*unary)(int, ax_kt *, const ax_kt *, double, double);
  ax_kstatus (*unary_backward)(int, ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *, double, double);
  ax_kstatus (*binary)(int, ax_kt *, const ax_kt *, const ax_kt *);
  ax_kstatus (*where)(ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *);
} isa_table;

#define AX_ISA_DECLARE(sfx)                                                                                        \
  ax_kstatus ax_cpu_gemm##sfx(const ax_gemm_args *);                                                              \
  ax_kstatus ax_cpu_conv2d##sfx(ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *, const ax_conv_params *);    \
  ax_kstatus ax_cpu_conv2d_backward_input##sfx(ax_kt *, const ax_kt *, const ax_kt *, const ax_conv_params *);    \
  ax_kstatus ax_cpu_conv2d_backward_weight##sfx(ax_kt *, const ax_kt *, const ax_kt *, const ax_conv_params *);   \
  ax_kstatus ax_cpu_unary##sfx(int, ax_kt *, const ax_kt *, double, double);                                      \
  ax_kstatus ax_cpu_unary_backward##sfx(int, ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *, double, double); \
  ax_kstatus ax_cpu_binary##sfx(int, ax_kt *, const ax_kt *, const ax_kt *);                                      \
  ax_kstatus ax_cpu_where##sfx(ax_kt *, const ax_kt *, const ax_kt *, const ax_kt *);
#define AX_ISA_TABLE(label, sfx)                                                                                   \
  {label, ax_cpu_gemm##sfx, ax_cpu_conv2d##sfx, ax_cpu_conv2d_backward_input##sfx,                                \
   ax_cpu_conv2d_backward_weight##sfx, ax_cpu_unary##sfx, ax_cpu_unary_backward##sfx, ax_cpu_binary##sfx,        \
   ax_cpu_where##sfx}

AX_ISA_DECLARE(_generic)
#ifdef AX_ISA_HAVE_AVX2
AX_ISA_DECLARE(_avx2)
#endif
#ifdef AX_ISA_HAVE_AVX512
AX_ISA_DECLARE(_avx512)
#endif

#ifdef AX_ISA_MARCH
#define AX_ISA_GENERIC_LABEL "native (-march=" AX_ISA_MARCH ")"
#else
#define AX_ISA_GENERIC_LABEL "generic"
#endif

/* indexed by ax_isa; NULL where this build has no such copy */
static const isa_table tables[] = {
    [AX_ISA_GENERIC] = AX_ISA_TABLE(AX_ISA_GENERIC_LABEL, _generic),
#ifdef AX_ISA_HAVE_AVX2
    [AX_ISA_AVX2] = AX_ISA_TABLE("avx2", _avx2),
#endif
#ifdef AX_ISA_HAVE_AVX512
    [AX_ISA_AVX512] = AX_ISA_TABLE("avx512", _avx512),
#endif
};
enum { N_TABLES = sizeof tables / sizeof tables[0] };

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
/* The x86-64-v3 features clang's __builtin_cpu_supports does not name: F16C and MOVBE
 * (CPUID 1, ECX bits 29 and 22) and LZCNT (CPUID 0x80000001, ECX bit 5). */
static int v3_cpuid_extras(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 29)) || !(c & (1u << 22))) return 0;
  return __get_cpuid(0x80000001u, &a, &b, &c, &d) && (c & (1u << 5));
}
#endif

/* Whether this CPU (and its OS, which must save the wider registers) runs level isa. */
int ax_cpu_isa_supported(ax_isa isa) {
  if (isa == AX_ISA_GENERIC) return 1;
  if ((int)isa < 0 || (int)isa >= N_TABLES || !tables[isa].name) return 0;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  __builtin_cpu_init();
  /* the copies are built for x86-64-v3 / x86-64-v4: every feature of the level is checked */
  int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && v3_cpuid_extras();
  if (isa == AX_ISA_AVX2) return v3;
  if (isa == AX_ISA_AVX512)
    return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#endif
  return 0;
}

/* The level in force: the best supported one at or below the AXON_ISA cap. */
static const isa_table *current(void) {
  static _Atomic int chosen_for = -1; /* the setting the cached choice was made for */
  static _Atomic int chosen = AX_ISA_GENERIC;
  int want = (int)ax_settings_get()->isa;
  if (atomic_load_explicit(&chosen_for, memory_order_acquire) != want) {
    int cap = want == AX_ISA_AUTO ? N_TABLES - 1 : want;
    if (cap > N_TABLES - 1) cap = N_TABLES - 1;
    int isa = cap;
    while (isa > AX_ISA_GENERIC && !ax_cpu_isa_supported((ax_isa)isa)) isa--;
    atomic_store(&chosen, isa);
    atomic_store_explicit(&chosen_for, want, memory_order_release);
  }
  return &tables[atomic_load(&chosen)];
}

const char *ax_cpu_isa(void) { return current()->name; }

ax_kstatus ax_cpu_gemm(const ax_gemm_args *a) { return current()->gemm(a); }
ax_kstatus ax_cpu_conv2d(ax_kt *y, const ax_kt *x, const ax_kt *w, const ax_kt *bias, const ax_conv_params *p) {
  return current()->conv2d(y, x, w, bias, p);
}
ax_kstatus ax_cpu_conv2d_backward_input(ax_kt *gx, const ax_kt *gy, const ax_kt *w, const ax_conv_params *p) {
  return current()->conv2d_backward_input(gx, gy, w, p);
}
ax_kstatus ax_cpu_conv2d_backward_weight(ax_kt *gw, const ax_kt *gy, const ax_kt *x, const ax_conv_params *p) {
  return current()->conv2d_backward_weight(gw, gy, x, p);
}
ax_kstatus ax_cpu_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta) {
  return current()->unary(op, out, x, alpha, beta);
}
ax_kstatus ax_cpu_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y, double alpha,
                                 double beta) {
  return current()->unary_backward(op, gx, gy, x, y, alpha, beta);
}
ax_kstatus ax_cpu_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b) {
  return current()->binary(op, out, a, b);
}
ax_kstatus ax_cpu_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b) {
  return current()->where(out, cond, a, b);
}
