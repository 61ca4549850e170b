/* SPDX-License-Identifier: BSD-3-Clause */
/* Coverage of the kernel list (kernels/kernels.def): every backend entry names a
 * parity family and a gradient check, and both exist and run.
 *  - every entry is filled in both tables (a missing ax_cpu_<name> or ax_cuda_<name>
 *    does not link; a NULL one fails here);
 *  - every family an entry names is an AX_FAMILY of the list (else this file does not
 *    compile: see FAMILY_ID below) and is linked into axon_parity
 *    (`axon_parity --families`), so its cases run;
 *  - every GRAD(suite, test) is a Criterion test that this test runs
 *    (tests/test_<suite> --filter suite/test) and that passes; every NOGRAD gives
 *    its reason.
 * Removing an entry's parity family (parity_<family>.c) or its gradient check makes
 * this test fail (docs/adding-an-op.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "axon.h"
#include "kernels/backend.h"

static const ax_backend *cuda_table(void) {
#if defined(AXON_HAVE_CUDA)
  return &ax_cuda_backend;
#else
  return NULL;
#endif
}

/* an entry whose family is not an AX_FAMILY does not compile: FAMILY_ID(f) names an enumerator */
enum family_id {
#define AX_FAMILY(f) FAMILY_##f,
#include "kernels/kernels.def"
  NUM_FAMILIES
};
#define FAMILY_ID(f) FAMILY_##f

typedef struct entry {
  const char *name;
  int family;
  const char *family_name;
  const char *suite, *test; /* the gradient check; NULL for NOGRAD */
  const char *nograd;       /* NOGRAD's reason */
  size_t offset;            /* of the entry in ax_backend */
} entry;

#define GRAD(s, t) #s, #t, NULL
#define NOGRAD(why) NULL, NULL, why
static const entry entries[] = {
#define AX_RUNTIME(ret, name, params, family) \
  {#name, FAMILY_ID(family), #family, NULL, NULL, "runtime entry: no compute", offsetof(ax_backend, name)},
#define AX_KERNEL(name, params, family, grad) {#name, FAMILY_ID(family), #family, grad, offsetof(ax_backend, name)},
#include "kernels/kernels.def"
};
#undef GRAD
#undef NOGRAD
#define N_ENTRIES (int)(sizeof entries / sizeof entries[0])

static const void *entry_fn(const ax_backend *b, const entry *e) {
  const void *p;
  memcpy(&p, (const char *)b + e->offset, sizeof p);
  return p;
}

Test(kernel_list, every_entry_is_in_both_tables) {
  cr_assert_eq(N_ENTRIES, AX_NUM_KERNEL_IDS);
  for (int i = 0; i < N_ENTRIES; i++) {
    cr_expect(entry_fn(&ax_cpu_backend, &entries[i]), "cpu table lacks '%s'", entries[i].name);
    if (cuda_table()) cr_expect(entry_fn(cuda_table(), &entries[i]), "cuda table lacks '%s'", entries[i].name);
  }
}

/* Runs cmd; its exit status, with up to cap bytes of its output in out. */
static int run(const char *cmd, char *out, size_t cap) {
  FILE *f = popen(cmd, "r");
  cr_assert(f, "cannot run %s", cmd);
  size_t n = 0;
  out[0] = 0;
  for (size_t r; n + 1 < cap && (r = fread(out + n, 1, cap - 1 - n, f)) > 0;) n += r;
  out[n] = 0;
  char sink[4096];
  while (fread(sink, 1, sizeof sink, f) > 0) {}
  return pclose(f);
}

Test(kernel_list, every_family_is_linked_into_the_parity_runner) {
  static char out[1 << 14];
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "'%s' --families", AXON_PARITY_BIN);
  cr_assert_eq(run(cmd, out, sizeof out), 0, "%s failed:\n%s", cmd, out);
  for (int i = 0; i < N_ENTRIES; i++) {
    char line[128];
    snprintf(line, sizeof line, "%s linked\n", entries[i].family_name);
    bool found = false;
    for (const char *p = out; (p = strstr(p, line)); p++) found = found || p == out || p[-1] == '\n';
    cr_expect(found, "entry '%s': its parity family '%s' is not linked into axon_parity (no parity_%s.c?):\n%s",
              entries[i].name, entries[i].family_name, entries[i].family_name, out);
  }
}

Test(kernel_list, every_gradient_check_runs_and_passes, .timeout = 900) {
  static char out[1 << 16];
  for (int i = 0; i < N_ENTRIES; i++) {
    const entry *e = &entries[i];
    if (!e->suite) {
      cr_expect(e->nograd && strlen(e->nograd) > 3, "entry '%s' has neither a gradient check nor a reason", e->name);
      continue;
    }
    bool seen = false; /* run each check once */
    for (int j = 0; j < i; j++)
      seen = seen || (entries[j].suite && !strcmp(entries[j].suite, e->suite) && !strcmp(entries[j].test, e->test));
    if (seen) continue;
    char cmd[4400], want[256];
    /* without BXFI_MAP: this test runs in a Criterion worker, and a Criterion binary that
     * inherits it takes itself for one ("Re-entering criterion from a test worker") */
    snprintf(cmd, sizeof cmd, "env -u BXFI_MAP '%s/test_%s' --jobs=1 --filter '%s/%s' 2>&1", AXON_TEST_BIN_DIR,
             e->suite, e->suite, e->test);
    int rc = run(cmd, out, sizeof out);
    snprintf(want, sizeof want, "Tested: 1 | Passing: 1 | Failing: 0");
    cr_expect(rc == 0 && strstr(out, want), "entry '%s': its gradient check %s/%s did not run and pass:\n%s\n%s",
              e->name, e->suite, e->test, cmd, out);
  }
}
