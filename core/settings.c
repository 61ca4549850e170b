/* SPDX-License-Identifier: BSD-3-Clause */
/* The library's settings (include/axon/settings.h): one table of every environment
 * switch, parsed once into one struct. The kernels read the struct, never the
 * environment; docs/settings.md is this table in words. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/internal.h"

typedef enum { K_IMPL, K_BOOL, K_INT, K_REAL, K_ISA } kind;

typedef struct {
  const char *name, *valid, *deflt, *doc;
  kind k;
  size_t offset;
  const char *vendor;    /* K_IMPL: the vendor's name in values ("cublas", "cudnn") */
  double lo, hi;         /* K_INT, K_REAL: the valid range */
  double def;            /* K_BOOL, K_INT, K_REAL: the default */
} spec;

#define F(field) offsetof(ax_settings, field)
static const spec specs[] = {
    {"AXON_GEMM", "native | cublas", "cublas on a GPU, native on the emulated device",
     "GEMM implementation on a CUDA device", K_IMPL, F(gemm), "cublas", 0, 0, 0},
    {"AXON_CONV", "native | cudnn", "cudnn when built in, else native", "conv2d implementation on a CUDA device",
     K_IMPL, F(conv), "cudnn", 0, 0, 0},
    {"AXON_ATTN", "native | cudnn", "cudnn where it takes the call, else native",
     "attention implementation on a CUDA device (cudnn: cuDNN for every call, an error where it cannot)", K_IMPL,
     F(attn), "cudnn", 0, 0, 0},
    {"AXON_GEMM_WGMMA", "0 | 1", "1", "Hopper's wgmma GEMM kernels (0: the mma.sync ones)", K_BOOL, F(gemm_wgmma),
     NULL, 0, 1, 1},
    {"AXON_ATTN_MMA", "0 | 1", "1", "the mma.sync attention kernels for bf16/f16 at D 64 and 128 (0: warp-per-row)",
     K_BOOL, F(attn_mma), NULL, 0, 1, 1},
    {"AXON_GEMM_TF32", "0 | 1", "0", "let cuBLAS use TF32 tensor cores for f32 GEMMs", K_BOOL, F(gemm_tf32), NULL, 0,
     1, 0},
    {"AXON_DETERMINISTIC", "0 | 1", "0",
     "bit-reproducible CUDA results where a choice exists (index_add / scatter_add without atomics, deterministic "
     "cuDNN conv algorithms)",
     K_BOOL, F(deterministic), NULL, 0, 1, 0},
    {"AXON_DEBUG_SCOPES", "0 | 1", "0",
     "scope debugging: a tensor used after its scope ended is an error naming the op and its origin; open scopes "
     "are reported at exit, deep nesting once",
     K_BOOL, F(debug_scopes), NULL, 0, 1, 0},
    {"AXON_CLASSIFIER_CHUNK_ROWS", "0 to 2^40", "0 (from a memory budget: 32 MiB of logits on the CPU, 1 GiB on a GPU)",
     "rows per chunk of ax_classifier_cross_entropy", K_INT, F(classifier_chunk_rows), NULL, 0, 1099511627776.0, 0},
    {"AXON_DIST_TIMEOUT", "seconds in (0, 86400]", "60", "how long a collective waits for its peers", K_REAL,
     F(dist_timeout), NULL, 0, 86400, 60},
    {"AXON_EMU_MEMORY_GB", "GiB in (0, 65536]", "8", "the emulated device's memory (AXON_CUDA=EMULATE builds)",
     K_REAL, F(emu_memory_gb), NULL, 0, 65536, 8},
    {"AXON_EMU_RACE_LAUNCHES", "-1 to 2^31-1", "4",
     "launches of each kernel the emulated device checks for shared-memory races (-1: every launch)", K_INT,
     F(emu_race_launches), NULL, -1, 2147483647.0, 4},
    {"AXON_ISA", "generic | avx2 | avx512", "the best the CPU has",
     "caps the CPU kernel path of GEMM, conv and elementwise (run-time dispatch; axon info shows the one in use)",
     K_ISA, F(isa), NULL, 0, 0, 0},
};
#undef F
enum { N_SPECS = sizeof specs / sizeof specs[0] };
_Static_assert(AX_DIST_TIMEOUT_DEFAULT == 60, "the AXON_DIST_TIMEOUT row's default");

static ax_settings current;
static char sources[N_SPECS];       /* 'd' default, 'e' env, 's' set */
static char rejected[N_SPECS][64];  /* an invalid environment value */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool quiet; /* ax_settings_check came first: the program reports bad values itself */

static void *field(const spec *s) { return (char *)&current + s->offset; }

static void put_default(const spec *s) {
  void *p = field(s);
  switch (s->k) {
  case K_IMPL: *(ax_impl *)p = AX_IMPL_DEFAULT; break;
  case K_ISA: *(ax_isa *)p = AX_ISA_AUTO; break;
  case K_BOOL: *(bool *)p = s->def != 0; break;
  case K_INT:
    if (s->offset == offsetof(ax_settings, emu_race_launches)) *(int *)p = (int)s->def;
    else *(int64_t *)p = (int64_t)s->def;
    break;
  case K_REAL: *(double *)p = s->def; break;
  }
}

/* Parses text into the setting; false (and nothing stored) when it is not valid. */
static bool parse(const spec *s, const char *text) {
  void *p = field(s);
  char *end = NULL;
  switch (s->k) {
  case K_IMPL:
    if (!strcmp(text, "native")) *(ax_impl *)p = AX_IMPL_NATIVE;
    else if (!strcmp(text, s->vendor)) *(ax_impl *)p = AX_IMPL_VENDOR;
    else return false;
    return true;
  case K_ISA:
    if (!strcmp(text, "generic")) *(ax_isa *)p = AX_ISA_GENERIC;
    else if (!strcmp(text, "avx2")) *(ax_isa *)p = AX_ISA_AVX2;
    else if (!strcmp(text, "avx512")) *(ax_isa *)p = AX_ISA_AVX512;
    else return false;
    return true;
  case K_BOOL:
    if (!strcmp(text, "1") || !strcmp(text, "true") || !strcmp(text, "on") || !strcmp(text, "yes")) *(bool *)p = true;
    else if (!strcmp(text, "0") || !strcmp(text, "false") || !strcmp(text, "off") || !strcmp(text, "no"))
      *(bool *)p = false;
    else return false;
    return true;
  case K_INT: {
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || (double)v < s->lo || (double)v > s->hi) return false;
    if (s->offset == offsetof(ax_settings, emu_race_launches)) *(int *)p = (int)v;
    else *(int64_t *)p = v;
    return true;
  }
  case K_REAL: {
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v) || !(v > s->lo) || v > s->hi) return false;
    *(double *)p = v;
    return true;
  }
  }
  return false;
}

static void read_env(void) {
  for (int i = 0; i < N_SPECS; i++) {
    const spec *s = &specs[i];
    put_default(s);
    sources[i] = 'd';
    rejected[i][0] = '\0';
    const char *e = getenv(s->name);
    if (!e || !*e) continue; /* unset or empty: the default */
    if (parse(s, e)) {
      sources[i] = 'e';
    } else {
      snprintf(rejected[i], sizeof rejected[i], "%s", e);
      if (!quiet)
        fprintf(stderr, "axon: %s='%s' is not valid: expected %s; using the default (%s)\n", s->name, e, s->valid,
                s->deflt);
    }
  }
}

static void init(void) {
  pthread_mutex_lock(&lock);
  read_env();
  pthread_mutex_unlock(&lock);
}

const ax_settings *ax_settings_get(void) {
  pthread_once(&once, init);
  return &current;
}

void ax_settings_reload(void) {
  pthread_once(&once, init);
  pthread_mutex_lock(&lock);
  read_env();
  pthread_mutex_unlock(&lock);
}

static int find(const char *name) {
  for (int i = 0; name && i < N_SPECS; i++)
    if (!strcmp(specs[i].name, name)) return i;
  return -1;
}

int ax_settings_set(const char *name, const char *value) {
  pthread_once(&once, init);
  int i = find(name);
  if (i < 0) {
    ax_error("ax_settings_set: no setting named '%s' (docs/settings.md lists them)", name ? name : "(null)");
    return -1;
  }
  const spec *s = &specs[i];
  pthread_mutex_lock(&lock);
  int rc = 0;
  if (!value) {
    put_default(s);
    sources[i] = 'd';
  } else {
    ax_settings saved = current;
    if (parse(s, value)) sources[i] = 's';
    else current = saved, rc = -1;
  }
  pthread_mutex_unlock(&lock);
  if (rc) ax_error("ax_settings_set: %s='%s' is not valid: expected %s", s->name, value, s->valid);
  return rc;
}

int ax_settings_check(char *err, size_t errlen) {
  pthread_mutex_lock(&lock);
  quiet = true;
  pthread_mutex_unlock(&lock);
  pthread_once(&once, init);
  pthread_mutex_lock(&lock);
  int rc = 0;
  for (int i = 0; i < N_SPECS && rc == 0; i++)
    if (rejected[i][0])
      rc = ax__fail(err, errlen, "%s='%s' is not valid: expected %s (docs/settings.md)", specs[i].name, rejected[i],
                    specs[i].valid);
  pthread_mutex_unlock(&lock);
  return rc;
}

int ax_settings_count(void) { return N_SPECS; }

int ax_settings_info(int i, ax_setting_info *out) {
  if (i < 0 || i >= N_SPECS || !out) return -1;
  pthread_once(&once, init);
  const spec *s = &specs[i];
  memset(out, 0, sizeof *out);
  out->name = s->name, out->valid = s->valid, out->deflt = s->deflt, out->doc = s->doc;
  pthread_mutex_lock(&lock);
  const void *p = field(s);
  switch (s->k) {
  case K_IMPL: {
    ax_impl v = *(const ax_impl *)p;
    snprintf(out->value, sizeof out->value, "%s", v == AX_IMPL_NATIVE ? "native" : v == AX_IMPL_VENDOR ? s->vendor : "default");
    break;
  }
  case K_BOOL: snprintf(out->value, sizeof out->value, "%d", *(const bool *)p ? 1 : 0); break;
  case K_INT:
    if (s->offset == offsetof(ax_settings, emu_race_launches)) snprintf(out->value, sizeof out->value, "%d", *(const int *)p);
    else snprintf(out->value, sizeof out->value, "%lld", (long long)*(const int64_t *)p);
    break;
  case K_REAL: snprintf(out->value, sizeof out->value, "%g", *(const double *)p); break;
  case K_ISA: {
    static const char *const names[] = {"default", "generic", "avx2", "avx512"};
    ax_isa v = *(const ax_isa *)p;
    snprintf(out->value, sizeof out->value, "%s", (unsigned)v < 4 ? names[v] : "default");
    break;
  }
  }
  out->source = sources[i] == 'e' ? "env" : sources[i] == 's' ? "set" : "default";
  snprintf(out->rejected, sizeof out->rejected, "%s", rejected[i]);
  pthread_mutex_unlock(&lock);
  return 0;
}
