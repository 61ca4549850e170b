/* SPDX-License-Identifier: BSD-3-Clause */
/* The command line of issue 20's compression work on a small synthetic data set:
 * axon prune and fine-tuning with --init --keep-sparsity, distillation (--teacher), a
 * teacher with other classes, --cv, and eval --metrics-json against the library's metrics. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "tools/compress.h"

static char dir[64];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_compress_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  cr_assert(tu_make_band_split(dir, "train", 400, 1));
  cr_assert(tu_make_band_split(dir, "t10k", 100, 2));
  ax_set_num_threads(2);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(compress, .init = setup, .fini = teardown, .timeout = 300);

/* Runs `axon ARGS` (the data folder added); stderr into dir/err.txt. The exit code. */
static int run(const char *fmt, ...) {
  char args[1024], cmd[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=2 %s/axon %s >%s/out.txt 2>%s/err.txt", AXON_BINARY_DIR, args, dir, dir);
  int s = system(cmd);
  return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

/* The whole of dir/name (freed by the caller). */
static char *slurp(const char *name, size_t *len) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = 0;
  fclose(f);
  if (len) *len = (size_t)n;
  return b;
}

static ax_state_dict *load(const char *name) {
  char path[256], err[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ax_state_dict *sd = ax_load_safetensors(path, err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  return sd;
}

static void train_mlp(const char *save) {
  cr_assert_eq(run("train --model mlp --data-dir %s --epochs 1 --batch-size 32 --plain --save %s/%s", dir, dir, save),
               0);
}

/* The value after "key": in a JSON text (NAN when absent). */
static double jget(const char *text, const char *key) {
  char pat[96];
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  const char *p = strstr(text, pat);
  return p ? strtod(p + strlen(pat), NULL) : NAN;
}

Test(compress, prune_then_fine_tune_keeps_the_zeros) {
  train_mlp("w.st");
  cr_assert_eq(run("prune --weights %s/w.st --out %s/p.st --sparsity 0.6 --per-layer --metrics %s/pm.jsonl", dir, dir,
                   dir), 0);
  char *out = slurp("out.txt", NULL);
  cr_assert(strstr(out, "total") && strstr(out, "60.00%"), "%s", out);
  free(out);
  char *pm = slurp("pm.jsonl", NULL);
  cr_assert(strstr(pm, "\"layers\": {") && fabs(jget(pm, "sparsity") - 0.6) < 1e-3, "%s", pm);
  free(pm);
  cr_assert_eq(run("train --model mlp --data-dir %s --epochs 1 --batch-size 32 --plain --init %s/p.st --keep-sparsity "
                   "--save %s/f.st --metrics %s/fm.jsonl", dir, dir, dir, dir), 0);
  char *fm = slurp("fm.jsonl", NULL);
  cr_assert(fabs(jget(fm, "sparsity") - 0.6) < 1e-3, "%s", fm);
  free(fm);
  ax_state_dict *p = load("p.st"), *f = load("f.st");
  int64_t zeros = 0, moved = 0, total = 0;
  for (int i = 0; i < ax_state_dict_size(p); i++) {
    ax_tensor *a = ax_state_dict_tensor(p, i), *b = ax_state_dict_get(f, ax_state_dict_name(p, i));
    cr_assert_not_null(b);
    if (a->ndim < 2) continue;
    const float *x = ax_data_ptr(a), *y = ax_data_ptr(b);
    for (int64_t j = 0; j < ax_numel(a); j++) {
      total++;
      if (x[j] == 0) {
        zeros++;
        cr_assert_eq(y[j], 0.0f, "%s[%ld] revived", ax_state_dict_name(p, i), (long)j);
      } else {
        moved += x[j] != y[j];
      }
    }
  }
  cr_assert_gt(zeros, 0.59 * (double)total);
  cr_assert_gt(moved, 0, "fine-tuning trained the kept weights");
  ax_state_dict_free(p);
  ax_state_dict_free(f);
  /* bad input */
  cr_assert_eq(run("prune --weights %s/w.st --out %s/q.st --sparsity 1", dir, dir), 2);
  cr_assert_eq(run("prune --weights %s/w.st --out %s/q.st --sparsity -0.5", dir, dir), 2);
  cr_assert_eq(run("train --model mlp --data-dir %s --keep-sparsity --no-save", dir), 2);
}

Test(compress, distillation_trains_with_a_finite_loss_and_leaves_the_teacher_alone) {
  train_mlp("teacher.st");
  size_t n0, n1;
  char *before = slurp("teacher.st", &n0);
  cr_assert_eq(run("train --model cnn --data-dir %s --epochs 1 --limit-train 96 --batch-size 32 --plain --no-save "
                   "--teacher %s/teacher.st --distill-alpha 0.7 --temperature 3 --metrics %s/dm.jsonl", dir, dir, dir),
               0);
  char *after = slurp("teacher.st", &n1), *out = slurp("out.txt", NULL), *dm = slurp("dm.jsonl", NULL);
  cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the teacher's file changed");
  cr_assert(strstr(out, "distillation: teacher mlp"), "%s", out);
  double loss = jget(dm, "train_loss");
  cr_assert(isfinite(loss) && loss > 0, "%s", dm);
  cr_assert_eq(jget(dm, "distill_alpha"), 0.7);
  cr_assert_eq(jget(dm, "temperature"), 3);
  free(before), free(after), free(out), free(dm);
  cr_assert_eq(run("train --model cnn --data-dir %s --temperature 2 --no-save", dir), 2); /* no --teacher */
}

Test(compress, a_teacher_with_other_classes_is_an_error) {
  ax_module *m = ax_model_create("mlp", NULL, 0);
  const char *names[32];
  ax_tensor *p[32];
  int n = ax_module_named_parameters(m, names, p, 32), last = -1;
  for (int i = 0; i < n; i++)
    if (p[i]->ndim == 2) last = i;
  ax_state_dict *sd = ax_state_dict_new();
  cr_assert_eq(ax_module_state_dict(m, sd), 0);
  ax_scope_begin();
  cr_assert_eq(ax_state_dict_set(sd, names[last], ax_zeros(AX_SHAPE(5, p[last]->shape[1]), NULL)), 0);
  ax_scope_end();
  ax_state_dict_set_meta(sd, "axon_model", "mlp");
  char path[128], err[256];
  snprintf(path, sizeof path, "%s/five.st", dir);
  cr_assert_eq(ax_save_safetensors(path, sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  ax_module_free(m);
  cr_assert_eq(run("train --model mlp --data-dir %s --epochs 1 --no-save --teacher %s", dir, path), 1);
  char *e = slurp("err.txt", NULL);
  cr_assert(strstr(e, "predicts 5 classes") && strstr(e, "the student mlp 10") && strstr(e, "same classes"), "%s", e);
  free(e);
}

Test(compress, cross_validation_writes_a_line_per_fold_and_the_summary) {
  cr_assert_eq(run("train --model mlp --data-dir %s --epochs 1 --batch-size 32 --plain --cv 2 --metrics %s/cv.jsonl",
                   dir, dir), 0);
  char *m = slurp("cv.jsonl", NULL), *out = slurp("out.txt", NULL);
  char *l2 = strstr(m, "\"fold\": 2"), *sum = strstr(m, "\"cv\": 2");
  cr_assert(strstr(m, "\"fold\": 1") && l2 && sum && l2 < sum, "%s", m);
  cr_assert_null(strstr(m, "test_loss"), "cross-validation never reads the test set: %s", m);
  double acc = jget(sum, "val_accuracy_mean"), sd = jget(sum, "val_accuracy_std");
  cr_assert(acc > 0.5 && acc <= 1 && sd >= 0, "%s", sum);
  cr_assert(strstr(out, "fold 1/2: 200 training images, 200 validation images") && strstr(out, "mean"), "%s", out);
  free(m), free(out);
  cr_assert_eq(run("train --model mlp --data-dir %s --cv 1 --no-save", dir), 2);
  char *e = slurp("err.txt", NULL);
  cr_assert(strstr(e, "at least 2 folds"), "%s", e);
  free(e);
  cr_assert_eq(run("train --model mlp --data-dir %s --cv 5 --limit-train 3 --no-save", dir), 1);
  e = slurp("err.txt", NULL);
  cr_assert(strstr(e, "5 folds need at least 5 samples, there are 3"), "%s", e);
  free(e);
  cr_assert_eq(run("train --model mlp --data-dir %s --cv 2 --val-size 10 --no-save", dir), 2);
}

Test(compress, metrics_json_matches_the_library) {
  ax_manual_seed(3);
  ax_module *m = ax_model_create("mlp", NULL, 0);
  ax_scope_begin();
  ax_tensor *im = ax_cast(ax_mul_scalar(ax_rand(AX_SHAPE(60, 1, 28, 28), NULL), 255), AX_U8);
  int64_t lab[60];
  for (int i = 0; i < 60; i++) lab[i] = (i * 7) % 10;
  char err[256] = "", path[128];
  ax_dataset *ds = ax_dataset_new(im, ax_from_data(lab, AX_SHAPE(60), &(ax_tensor_opts){.dtype = AX_I64}), err,
                                  sizeof err);
  cr_assert_not_null(ds, "%s", err);
  ax_loader *ld = ax_loader_new(ds, &(ax_loader_opts){.batch_size = 25}, err, sizeof err);
  cr_assert_not_null(ld, "%s", err);
  snprintf(path, sizeof path, "%s/m.json", dir);
  cr_assert_eq(ax_tool_eval_metrics_json(m, ld, AX_CPU, path, "w.st", err, sizeof err), 0, "%s", err);
  /* the same probabilities here, through the library's functions */
  ax_module_train(m, false);
  ax_tensor *x = ax_div_scalar(ax_cast(im, AX_F32), 255);
  ax_tensor *P = ax_softmax(ax_cast(ax_module_forward(m, x), AX_F64), 1);
  ax_tensor *Y = ax_from_data(lab, AX_SHAPE(60), &(ax_tensor_opts){.dtype = AX_I64});
  char *j = slurp("m.json", NULL);
  ax_confusion *cm = ax_confusion_new(10);
  ax_confusion_update(cm, P, Y);
  struct { const char *k; double v; } want[] = {
      {"accuracy", ax_confusion_accuracy(cm)},
      {"balanced_accuracy", ax_balanced_accuracy(P, Y)},
      {"1", ax_top_k_accuracy(P, Y, 1)}, {"3", ax_top_k_accuracy(P, Y, 3)}, {"5", ax_top_k_accuracy(P, Y, 5)},
      {"log_loss", ax_log_loss(P, Y)},
      {"roc_auc_ovr_macro", ax_roc_auc_ovr(P, Y, AX_AVERAGE_MACRO)},
      {"roc_auc_ovr_weighted", ax_roc_auc_ovr(P, Y, AX_AVERAGE_WEIGHTED)},
      {"average_precision_macro", ax_average_precision_ovr(P, Y, AX_AVERAGE_MACRO)},
      {"macro_f1", ax_confusion_macro_f1(cm)}};
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    cr_assert(fabs(jget(j, want[i].k) - want[i].v) <= 1e-6 * (1 + fabs(want[i].v)), "%s: json %.10g, library %.10g",
              want[i].k, jget(j, want[i].k), want[i].v);
  cr_assert_eq(jget(j, "n"), 60);
  cr_assert_eq(tu_error_count(), 0);
  cr_assert(strstr(j, "\"per_class\": [") && strstr(j, "\"confusion_matrix\": ["), "%s", j);
  cr_assert_eq(jget(strstr(j, "\"class\": 3"), "support"), 6);
  free(j);
  ax_confusion_free(cm);
  ax_scope_end();
  ax_loader_free(ld);
  ax_dataset_free(ds);
  ax_module_free(m);
  /* and through axon eval */
  train_mlp("w.st");
  cr_assert_eq(run("eval --weights %s/w.st --data-dir %s --metrics-json %s/e.json", dir, dir, dir), 0);
  j = slurp("e.json", NULL);
  cr_assert(jget(j, "accuracy") > 0.5 && isfinite(jget(j, "roc_auc_ovr_macro")) && jget(j, "n") == 100, "%s", j);
  free(j);
}
