/* SPDX-License-Identifier: BSD-3-Clause */
#define _POSIX_C_SOURCE 200809L
/* The settings (include/axon/settings.h): the environment parsed once into one struct,
 * invalid values reported and ignored, overrides from C, and the descriptions `axon
 * info` prints. Each Criterion test runs in its own process; ax_settings_reload reads
 * the environment the test has just set. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "testutil.h"

static void clear_env(void) {
  for (int i = 0; i < ax_settings_count(); i++) {
    ax_setting_info s;
    cr_assert_eq(ax_settings_info(i, &s), 0);
    unsetenv(s.name);
  }
  ax_settings_reload();
}

static ax_setting_info info_of(const char *name) {
  ax_setting_info s = {0};
  for (int i = 0; i < ax_settings_count(); i++)
    if (ax_settings_info(i, &s) == 0 && !strcmp(s.name, name)) return s;
  cr_assert_fail("no setting %s", name);
  return s;
}

TestSuite(settings, .init = tu_capture_errors);

Test(settings, defaults) {
  clear_env();
  const ax_settings *s = ax_settings_get();
  cr_assert_eq(s->gemm, AX_IMPL_DEFAULT);
  cr_assert_eq(s->conv, AX_IMPL_DEFAULT);
  cr_assert_eq(s->attn, AX_IMPL_DEFAULT);
  cr_assert(s->gemm_wgmma && s->attn_mma);
  cr_assert(!s->gemm_tf32 && !s->deterministic && !s->debug_scopes);
  cr_assert_eq(s->classifier_chunk_rows, 0);
  cr_assert_float_eq(s->dist_timeout, AX_DIST_TIMEOUT_DEFAULT, 0);
  cr_assert_eq(s->emu_race_launches, 4);
  for (int i = 0; i < ax_settings_count(); i++) {
    ax_setting_info in;
    cr_assert_eq(ax_settings_info(i, &in), 0);
    cr_assert_str_eq(in.source, "default", "%s", in.name);
    cr_assert(in.doc && in.doc[0] && in.valid && in.valid[0] && in.deflt && in.deflt[0]);
  }
  cr_assert_eq(ax_settings_info(-1, &(ax_setting_info){0}), -1);
  cr_assert_eq(ax_settings_info(ax_settings_count(), &(ax_setting_info){0}), -1);
}

/* every variable the library reads is in the table */
Test(settings, every_switch_listed) {
  const char *names[] = {"AXON_GEMM",          "AXON_CONV",         "AXON_ATTN",
                         "AXON_GEMM_WGMMA",    "AXON_ATTN_MMA",     "AXON_GEMM_TF32",
                         "AXON_DETERMINISTIC", "AXON_DEBUG_SCOPES", "AXON_CLASSIFIER_CHUNK_ROWS",
                         "AXON_DIST_TIMEOUT",  "AXON_EMU_MEMORY_GB", "AXON_EMU_RACE_LAUNCHES",
                         "AXON_ISA"};
  cr_assert_eq(ax_settings_count(), (int)(sizeof names / sizeof names[0]));
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) cr_assert_str_eq(info_of(names[i]).name, names[i]);
}

Test(settings, parses_the_environment) {
  clear_env();
  setenv("AXON_GEMM", "native", 1);
  setenv("AXON_CONV", "cudnn", 1);
  setenv("AXON_ATTN", "native", 1);
  setenv("AXON_GEMM_WGMMA", "0", 1);
  setenv("AXON_GEMM_TF32", "1", 1);
  setenv("AXON_DETERMINISTIC", "true", 1);
  setenv("AXON_CLASSIFIER_CHUNK_ROWS", "128", 1);
  setenv("AXON_DIST_TIMEOUT", "2.5", 1);
  setenv("AXON_EMU_RACE_LAUNCHES", "-1", 1);
  setenv("AXON_ATTN_MMA", "", 1); /* empty: the default */
  ax_settings_reload();
  const ax_settings *s = ax_settings_get();
  cr_assert_eq(s->gemm, AX_IMPL_NATIVE);
  cr_assert_eq(s->conv, AX_IMPL_VENDOR);
  cr_assert_eq(s->attn, AX_IMPL_NATIVE);
  cr_assert(!s->gemm_wgmma && s->gemm_tf32 && s->deterministic && s->attn_mma);
  cr_assert_eq(s->classifier_chunk_rows, 128);
  cr_assert_float_eq(s->dist_timeout, 2.5, 0);
  cr_assert_eq(s->emu_race_launches, -1);
  ax_setting_info g = info_of("AXON_GEMM");
  cr_assert_str_eq(g.value, "native");
  cr_assert_str_eq(g.source, "env");
  cr_assert_str_eq(info_of("AXON_CONV").value, "cudnn");
  cr_assert_str_eq(info_of("AXON_DIST_TIMEOUT").value, "2.5");
  cr_assert_str_eq(info_of("AXON_ATTN_MMA").source, "default");
  cr_assert_eq(tu_error_count(), 0);
}

Test(settings, invalid_environment_values_keep_the_default) {
  clear_env();
  setenv("AXON_GEMM", "fast", 1);
  setenv("AXON_GEMM_WGMMA", "maybe", 1);
  setenv("AXON_DIST_TIMEOUT", "-1", 1);
  setenv("AXON_CLASSIFIER_CHUNK_ROWS", "12abc", 1);
  ax_settings_reload();
  const ax_settings *s = ax_settings_get();
  cr_assert_eq(s->gemm, AX_IMPL_DEFAULT);
  cr_assert(s->gemm_wgmma);
  cr_assert_float_eq(s->dist_timeout, AX_DIST_TIMEOUT_DEFAULT, 0);
  cr_assert_eq(s->classifier_chunk_rows, 0);
  ax_setting_info g = info_of("AXON_GEMM");
  cr_assert_str_eq(g.source, "default");
  cr_assert_str_eq(g.rejected, "fast");
  cr_assert_str_eq(info_of("AXON_DIST_TIMEOUT").rejected, "-1");
  cr_assert_str_eq(info_of("AXON_CLASSIFIER_CHUNK_ROWS").rejected, "12abc");
  cr_assert_str_eq(info_of("AXON_CONV").rejected, "");
}

Test(settings, override_from_c) {
  clear_env();
  setenv("AXON_GEMM", "native", 1);
  ax_settings_reload();
  cr_assert_eq(ax_settings_set("AXON_GEMM", "cublas"), 0);
  cr_assert_eq(ax_settings_get()->gemm, AX_IMPL_VENDOR);
  cr_assert_str_eq(info_of("AXON_GEMM").source, "set");
  /* an invalid value: -1, a message naming the setting and the valid values, nothing changed */
  tu_reset_errors();
  cr_assert_eq(ax_settings_set("AXON_GEMM", "turbo"), -1);
  cr_assert_eq(tu_error_count(), 1);
  cr_assert(tu_error_contains("ax_settings_set", "AXON_GEMM", "turbo", "native | cublas", NULL));
  cr_assert_eq(ax_settings_get()->gemm, AX_IMPL_VENDOR);
  cr_assert_eq(ax_settings_set("AXON_DIST_TIMEOUT", "0"), -1);
  cr_assert_eq(ax_settings_set("AXON_DIST_TIMEOUT", "86401"), -1);
  cr_assert_eq(ax_settings_set("AXON_NO_SUCH_THING", "1"), -1);
  cr_assert(tu_error_contains("AXON_NO_SUCH_THING", NULL));
  cr_assert_eq(ax_settings_set(NULL, "1"), -1);
  /* NULL: back to the default (not the environment) */
  cr_assert_eq(ax_settings_set("AXON_GEMM", NULL), 0);
  cr_assert_eq(ax_settings_get()->gemm, AX_IMPL_DEFAULT);
  cr_assert_str_eq(info_of("AXON_GEMM").source, "default");
  /* reload: the environment again, overrides dropped */
  cr_assert_eq(ax_settings_set("AXON_DETERMINISTIC", "1"), 0);
  ax_settings_reload();
  cr_assert_eq(ax_settings_get()->gemm, AX_IMPL_NATIVE);
  cr_assert(!ax_settings_get()->deterministic);
}

/* the library reads its settings: the world communicator's timeout comes from them */
Test(settings, the_library_uses_them) {
  clear_env();
  cr_assert_eq(ax_settings_set("AXON_DIST_TIMEOUT", "7.25"), 0);
  cr_assert_float_eq(ax_comm_timeout(ax_comm_world()), 7.25, 0);
}

/* a classifier chunk size from the settings gives the same loss as the automatic one */
Test(settings, classifier_chunk_rows) {
  clear_env();
  ax_scope_begin();
  ax_manual_seed(3);
  ax_tensor *h = ax_randn(AX_SHAPE(9, 5), NULL), *w = ax_randn(AX_SHAPE(7, 5), NULL);
  ax_tensor *y = ax_from_data((int64_t[]){0, 1, 2, 3, 4, 5, 6, 0, 1}, AX_SHAPE(9), &(ax_tensor_opts){.dtype = AX_I64});
  double whole = ax_item(ax_classifier_cross_entropy(h, w, NULL, y, NULL));
  cr_assert_eq(ax_settings_set("AXON_CLASSIFIER_CHUNK_ROWS", "2"), 0);
  double chunked = ax_item(ax_classifier_cross_entropy(h, w, NULL, y, NULL));
  cr_assert_float_eq(chunked, whole, 1e-5);
  ax_scope_end();
}

/* a program that refuses a bad environment itself (axon): the first bad value, in words */
Test(settings, check_reports_the_first_bad_value) {
  clear_env();
  char msg[256] = "";
  cr_assert_eq(ax_settings_check(msg, sizeof msg), 0);
  setenv("AXON_CONV", "cudnnn", 1);
  ax_settings_reload();
  cr_assert_eq(ax_settings_check(msg, sizeof msg), -1);
  cr_assert(strstr(msg, "AXON_CONV='cudnnn' is not valid") && strstr(msg, "native | cudnn"), "%s", msg);
  cr_assert_eq(ax_settings_check(NULL, 0), -1);
}
