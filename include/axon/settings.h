/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon's settings: every environment switch of the library, read once into one struct.
 *
 * The environment is read on the first call of ax_settings_get (thread-safe); an
 * invalid value is reported once on stderr ("axon: AXON_GEMM='x' is not valid: expected
 * native or cublas; using the default") and the default kept. A program may override any
 * setting from C with ax_settings_set, by the variable's name and a value written as in
 * the environment; `axon info` prints every setting, its value and where it came from.
 * docs/settings.md lists them all: what each does, its default, its valid values.
 *
 *   const ax_settings *s = ax_settings_get();
 *   if (s->deterministic) ...
 *   ax_settings_set("AXON_GEMM", "native");    // 0, or -1 and an error naming the setting
 *
 * Change settings between steps, not while ops run on other threads. */
#ifndef AXON_SETTINGS_H
#define AXON_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which implementation a family with a vendor alternate uses on a CUDA device. */
typedef enum {
  AX_IMPL_DEFAULT = 0, /* the backend decides: the vendor library where built in (GPU), ours otherwise */
  AX_IMPL_NATIVE = 1,  /* our kernels */
  AX_IMPL_VENDOR = 2,  /* cuBLAS / cuDNN */
} ax_impl;

/* Which CPU kernel path (ISA level) the dispatched CPU kernels take (kernels/cpu/isa.c). */
typedef enum {
  AX_ISA_AUTO = 0,    /* the best path the CPU has */
  AX_ISA_GENERIC = 1, /* baseline x86-64 (SSE2), or the build's own flags elsewhere */
  AX_ISA_AVX2 = 2,    /* AVX2 + FMA + F16C */
  AX_ISA_AVX512 = 3,  /* AVX-512 F/BW/DQ/VL */
} ax_isa;

typedef struct ax_settings {
  ax_impl gemm;                  /* AXON_GEMM: native | cublas */
  ax_impl conv;                  /* AXON_CONV: native | cudnn */
  ax_impl attn;                  /* AXON_ATTN: native | cudnn */
  bool gemm_wgmma;               /* AXON_GEMM_WGMMA: Hopper's wgmma GEMM (default on) */
  bool attn_mma;                 /* AXON_ATTN_MMA: mma.sync attention kernels (default on) */
  bool gemm_tf32;                /* AXON_GEMM_TF32: cuBLAS may use TF32 for f32 GEMMs (default off) */
  bool deterministic;            /* AXON_DETERMINISTIC: bit-reproducible CUDA choices (default off) */
  bool debug_scopes;             /* AXON_DEBUG_SCOPES: catch use after scope end, report open scopes */
  int64_t classifier_chunk_rows; /* AXON_CLASSIFIER_CHUNK_ROWS: rows per chunk, 0 = from a memory budget */
  double dist_timeout;           /* AXON_DIST_TIMEOUT: seconds a collective may wait for peers */
  double emu_memory_gb;          /* AXON_EMU_MEMORY_GB: the emulated device's memory */
  int emu_race_launches;         /* AXON_EMU_RACE_LAUNCHES: launches per kernel race-checked, -1 all */
  ax_isa isa;                    /* AXON_ISA: generic | avx2 | avx512 caps the CPU kernel path (default: the best) */
} ax_settings;

/* The settings in force (the environment read on the first call). Never NULL. */
const ax_settings *ax_settings_get(void);
/* Overrides one setting by its variable's name, the value written as in the environment
 * (NULL: back to the default). 0, or -1 with an error (ax_error) naming the setting, the
 * value and the valid values; the setting is unchanged then. */
int ax_settings_set(const char *name, const char *value);
/* Reads the environment again, dropping every override (for programs that setenv). */
void ax_settings_reload(void);
/* For programs that refuse a bad environment themselves (`axon` makes it a usage error):
 * 0 when every AXON_* variable set is valid, else -1 with "AXON_X='v' is not valid:
 * expected ..." for the first bad one in err. Called before the first ax_settings_get, it
 * also keeps the library from printing its own warnings about them. */
int ax_settings_check(char *err, size_t errlen);

/* One setting described, for `axon info` and documentation. */
typedef struct ax_setting_info {
  const char *name;    /* "AXON_GEMM" */
  const char *valid;   /* "native | cublas" */
  const char *deflt;   /* the default, in words */
  const char *doc;     /* one line: what it does */
  char value[64];      /* the value in force, as text */
  const char *source;  /* "default", "env" or "set" (ax_settings_set) */
  char rejected[64];   /* an invalid environment value that was ignored, or "" */
} ax_setting_info;

/* The CPU kernel path (ISA level) in use now: "generic", "avx2", "avx512", or "native
 * (-march=...)" in a build with AXON_MARCH set (kernels/cpu/isa.c). */
const char *ax_cpu_isa(void);
/* 1 when this build has the path and this CPU runs it (AX_ISA_GENERIC always), else 0. */
int ax_cpu_isa_supported(ax_isa isa);

int ax_settings_count(void);
/* Fills *out for setting i (0 <= i < ax_settings_count()): 0, or -1 when i is out of range. */
int ax_settings_info(int i, ax_setting_info *out);

#ifdef __cplusplus
}
#endif

#endif
