/* SPDX-License-Identifier: BSD-3-Clause */
/* Scope debugging (AXON_DEBUG_SCOPES, docs/settings.md): a tensor used after its scope
 * ended is an error naming the op and where the tensor was made, the op returns NULL;
 * scopes still open are reported (at exit too); deep nesting is reported once. And
 * AX_SEQUENTIAL, which counts its own arguments. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "axon.h"
#include "core/internal.h"
#include "testutil.h"

static void debug_on(void) {
  tu_capture_errors();
  cr_assert_eq(ax_settings_set("AXON_DEBUG_SCOPES", "1"), 0);
}

TestSuite(scopes, .init = debug_on);

/* the case: a tensor made in a scope that has ended, then cast */
Test(scopes, use_after_scope_names_the_op_and_the_origin) {
  ax_tensor *dead;
  ax_scope_begin();
  int line = __LINE__ - 1;
  ax_tensor *x = ax_full(AX_SHAPE(2, 3), 1.5, NULL);
  dead = ax_relu(x);
  ax_scope_end();
  tu_reset_errors();
  cr_assert_null(ax_cast(dead, AX_F64));
  cr_assert_eq(tu_error_count(), 1);
  char at[64];
  snprintf(at, sizeof at, "test_scopes.c:%d", line);
  cr_assert(tu_error_contains("ax_cast", "used after it was released", "ax_relu", "f32 [2, 3]", at, NULL), "%s",
            ax_last_error());
}

/* every kind of use: an op through its output's device, a binary op, a view, a read-back,
 * backward, keep; each gives NULL / -1 / NaN and a message naming the op */
Test(scopes, every_use_fails_cleanly) {
  ax_scope_begin();
  ax_tensor *live = ax_ones(AX_SHAPE(4), NULL);
  ax_scope_begin();
  ax_tensor *dead = ax_exp(ax_ones(AX_SHAPE(4), &(ax_tensor_opts){.requires_grad = true}));
  ax_scope_end();
  struct {
    const char *op;
    bool failed;
  } uses[] = {
      {"ax_exp", ax_exp(dead) == NULL},
      {"ax_add", ax_add(live, dead) == NULL},
      {"ax_mul", ax_mul(dead, live) == NULL},
      {"ax_sum", ax_sum(dead, AX_ALL, false) == NULL},
      {"ax_matmul", ax_matmul(ax_reshape(live, AX_SHAPE(1, 4)), ax_reshape(dead, AX_SHAPE(4, 1))) == NULL},
      {"ax_reshape", ax_reshape(dead, AX_SHAPE(2, 2)) == NULL},
      {"ax_permute", ax_permute(dead, (int[]){0}) == NULL},
      {"ax_item", isnan(ax_item(dead))},
      {"ax_to_data", ax_to_data(dead, (float[4]){0}, 16) == -1},
      {"ax_backward", ax_backward(dead, NULL) == -1},
      {"ax_keep", ax_keep(dead) == NULL},
      {"ax_clone", ax_clone(dead) == NULL},
  };
  for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++) cr_expect(uses[i].failed, "%s did not fail", uses[i].op);
  cr_expect_geq(tu_error_count(), (int)(sizeof uses / sizeof uses[0]));
  cr_expect(tu_error_contains("ax_clone", "ax_exp", NULL), "%s", ax_last_error());
  ax_scope_end();
}

/* a tensor freed with ax_free outside any scope, then used: named too; a second ax_free is reported */
Test(scopes, use_after_free) {
  ax_tensor *t = ax_zeros(AX_SHAPE(3), NULL);
  ax_free(t);
  tu_reset_errors();
  cr_assert_null(ax_neg(t));
  cr_assert(tu_error_contains("ax_neg", "ax_full", "released", NULL), "%s", ax_last_error());
  ax_free(t);
  cr_assert(tu_error_contains("ax_free", "ax_full", NULL), "%s", ax_last_error());
}

/* without the debug mode nothing is quarantined: a kept tensor and live tensors work as before */
Test(scopes, live_tensors_unaffected) {
  ax_scope_begin();
  ax_scope_begin();
  ax_tensor *k = ax_keep(ax_mul_scalar(ax_ones(AX_SHAPE(2), NULL), 3));
  ax_scope_end();
  cr_assert_not_null(k);
  cr_assert_float_eq(ax_item(ax_sum(k, AX_ALL, false)), 6.0, 1e-6);
  ax_scope_end();
  cr_assert_eq(tu_error_count(), 0, "%s", ax_last_error());
}

Test(scopes, open_scopes_are_reported) {
  FILE *f = tmpfile();
  cr_assert_eq(ax__scope_report_open(f), 0);
  ax_scope_begin();
  ax_scope_begin();
  int line = __LINE__ - 1;
  cr_assert_eq(ax__scope_report_open(f), 2);
  rewind(f);
  char buf[512] = {0};
  cr_assert(fgets(buf, sizeof buf, f));
  char at[64];
  snprintf(at, sizeof at, "test_scopes.c:%d", line);
  cr_assert(strstr(buf, "2 scopes still open") && strstr(buf, "innermost opened at") && strstr(buf, at), "%s", buf);
  fclose(f);
  ax_scope_end();
  ax_scope_end();
}

/* A child process with the debug mode on: leaves scopes open and exits, skipping
 * ax_scope_end in a loop 300 times; its stderr must report both. */
static char *child_stderr(bool debug) {
  int fd[2];
  cr_assert_eq(pipe(fd), 0);
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    ax_settings_set("AXON_DEBUG_SCOPES", debug ? "1" : "0");
    for (int i = 0; i < 300; i++) {
      ax_scope_begin();
      ax_tensor *t = ax_ones(AX_SHAPE(1), NULL);
      if (ax_item(t) > 0) continue; /* skips ax_scope_end: the bug the debug mode reports */
      ax_scope_end();
    }
    exit(0);
  }
  close(fd[1]);
  static char out[8192];
  size_t n = 0;
  ssize_t k;
  while (n < sizeof out - 1 && (k = read(fd[0], out + n, sizeof out - 1 - n)) > 0) n += (size_t)k;
  out[n] = '\0';
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return out;
}

Test(scopes, unbalanced_scopes_reported_at_exit) {
  char *err = child_stderr(true);
  cr_assert(strstr(err, "scope nesting passed depth 256"), "%s", err);
  cr_assert(strstr(err, "300 scopes still open; innermost opened at") && strstr(err, "test_scopes.c:"), "%s", err);
  /* reported once, not per scope */
  cr_assert_null(strstr(strstr(err, "passed depth") + 1, "passed depth"), "%s", err);
  err = child_stderr(false);
  /* Axon prints nothing (a sanitizer's own note on the forked child may stand there: LeakSanitizer
   * says "Running thread ... was not suspended" after a fork from a threaded process) */
  cr_assert_null(strstr(err, "axon:"), "without AXON_DEBUG_SCOPES nothing is printed, but: %s", err);
  cr_assert_null(strstr(err, "scope"), "without AXON_DEBUG_SCOPES nothing is printed, but: %s", err);
}

/* ---- AX_SEQUENTIAL ---- */

static int calls;
static ax_module *counted(ax_module *m) {
  calls++;
  return m;
}

Test(sequential, counts_its_arguments) {
  tu_capture_errors();
  ax_module *m = AX_SEQUENTIAL(ax_nn_linear(3, 4, true), ax_nn_relu(), ax_nn_linear(4, 2, true), ax_nn_tanh());
  cr_assert_not_null(m);
  cr_assert_eq(ax_module_num_children(m), 4);
  ax_module *one = AX_SEQUENTIAL(ax_nn_identity());
  cr_assert_eq(ax_module_num_children(one), 1);
  ax_scope_begin();
  ax_tensor *y = ax_module_forward(m, ax_ones(AX_SHAPE(5, 3), NULL));
  cr_assert_not_null(y);
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(y->shape[1], 2);
  ax_scope_end();
  /* each argument is evaluated exactly once */
  calls = 0;
  ax_module *c = AX_SEQUENTIAL(counted(ax_nn_relu()), counted(ax_nn_relu()));
  cr_assert_eq(calls, 2);
  cr_assert_eq(ax_module_num_children(c), 2);
  /* a NULL member: NULL, the others freed, as ax_nn_sequential */
  cr_assert_null(AX_SEQUENTIAL(ax_nn_relu(), NULL));
  ax_module_free(m);
  ax_module_free(one);
  ax_module_free(c);
}
