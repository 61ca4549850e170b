/* SPDX-License-Identifier: BSD-3-Clause */
/* Golden loss traces of the training loop (issue 15): small runs of cnn, mlp, gpt and
 * char-lstm on synthetic data, on the CPU with 2 threads and seed 0, whose per-step losses
 * were recorded (as hex floats) with the trainers as they were before the training engine
 * moved into the library (tests/fixtures/train_golden.txt). The runs must reproduce them
 * bit for bit when this build has the same signature as the one that wrote them (the ISA:
 * the CPU kernel path the library dispatches to and its -march, so another CPU may round differently; and the
 * compiler, build type and sanitizers: FMA contraction depends on the optimization), and to
 * a relative 1e-3 otherwise (with a note; rounding differences grow over the steps).
 * Independently of the fixture, on any machine, N steps +
 * checkpoint + resume for N more must equal 2N steps in one run, bit for bit.
 *
 * AXON_GOLDEN_WRITE=FILE rewrites the fixture instead of checking it. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon.h"
#include "testutil.h"
#include "tools/train_lm.h"
#include "tools/trainer.h"

#define STEPS 12
#define HALF 6

static char dir[] = "/tmp/axon_golden_XXXXXX";

/* the CPU kernel path in use (kernels/cpu/isa.c: AXON_ISA, or the build's -march), the
 * -march of the library and of this test, the compiler, build type and sanitizers */
static const char *isa_signature(void) {
  static char sig[256];
  snprintf(sig, sizeof sig, "cpu_isa=%s march=%s build=%s", ax_cpu_isa(), AXON_GOLDEN_MARCH, AXON_GOLDEN_BUILD);
  return sig;
}

static void write_corpus(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/corpus.txt", dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  const char *lines[] = {"the cat sat on the mat.\n", "a dog ran in the fog.\n", "we sing a song all day long.\n"};
  for (int i = 0; i < 300; i++) fputs(lines[(i * 7) % 3], f);
  fclose(f);
}

static void setup(void) {
  tu_capture_errors();
  cr_assert_not_null(mkdtemp(dir));
  cr_assert(tu_make_band_split(dir, "train", 192, 1));
  cr_assert(tu_make_band_split(dir, "t10k", 64, 2));
  write_corpus();
  ax_set_num_threads(2);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
  memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
}

TestSuite(train_golden, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the four runs ---- */

static FILE *devnull(void) { return fopen("/dev/null", "w"); }

/* cnn: the defaults (AdamW, one-cycle), 4 steps per epoch, 3 epochs.
 * mlp: SGD with Nesterov momentum, cosine with warm-up, clipping, a validation split, early stopping on. */
static void run_classifier(const char *model, const char *ckpt, int64_t stop, bool resume, double *losses) {
  ax_train_config c;
  ax_train_config_defaults(&c);
  c.model = model;
  c.data_dir = dir;
  c.device = AX_CPU;
  c.epochs = 3;
  c.batch_size = 32;
  c.limit_train = 128;
  c.limit_test = 64;
  c.norm_subset = true; /* the traces were recorded with the subset's statistics (before issue 18) */
  c.seed = 0;
  c.progress = 0;
  c.prefetch = false;
  if (!strcmp(model, "mlp")) {
    c.optimizer = "sgd";
    c.schedule = "cosine";
    c.warmup_steps = 2;
    c.clip_norm = 0.5;
    c.limit_train = 160;
    c.val_size = 32;
    c.early_stop = 5;
  }
  c.checkpoint_dir = ckpt;
  c.stop_after_steps = stop;
  c.resume = resume;
  c.step_losses = losses;
  c.max_step_losses = STEPS;
  c.log = devnull();
  char err[512] = "";
  int rc = ax_train(&c, NULL, err, sizeof err);
  fclose(c.log);
  cr_assert_eq(rc, 0, "%s: %s", model, err);
}

/* gpt: 2 layers, gradient accumulation over 2 micro-batches, validation every 4 steps.
 * char-lstm: one layer, no accumulation, validation every 6 steps. */
static void run_lm(const char *model, const char *ckpt, int64_t stop, bool resume, double *losses) {
  ax_lm_config c;
  ax_lm_config_defaults(&c);
  char corpus[256];
  snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
  c.model = model;
  c.data_path = corpus;
  c.gpt = (ax_gpt_config){.n_layer = 2, .n_head = 2, .n_embd = 32, .block_size = 32};
  c.lstm_embed = 16;
  c.lstm_hidden = 32;
  c.lstm_layers = 1;
  c.steps = STEPS;
  c.batch_size = 4;
  c.grad_accum = !strcmp(model, "gpt") ? 2 : 1;
  c.warmup_steps = 3;
  c.lr = 3e-3;
  c.eval_every = !strcmp(model, "gpt") ? 4 : 6;
  c.eval_batches = 2;
  c.log_every = 5;
  c.device = AX_CPU;
  c.seed = 0;
  c.checkpoint_dir = ckpt;
  c.stop_after_steps = stop;
  c.resume = resume;
  c.step_losses = losses;
  c.max_step_losses = STEPS;
  c.log = devnull();
  char err[512] = "";
  int rc = ax_train_lm(&c, NULL, err, sizeof err);
  fclose(c.log);
  cr_assert_eq(rc, 0, "%s: %s", model, err);
}

static void run(const char *model, const char *ckpt, int64_t stop, bool resume, double *losses) {
  if (!strcmp(model, "cnn") || !strcmp(model, "mlp")) run_classifier(model, ckpt, stop, resume, losses);
  else run_lm(model, ckpt, stop, resume, losses);
}

/* ---- the fixture ---- */

static const char *models[] = {"cnn", "mlp", "gpt", "char-lstm"};
#define N_MODELS 4

static bool read_fixture(char *isa, size_t isalen, double golden[N_MODELS][STEPS]) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/fixtures/train_golden.txt", AXON_SOURCE_DIR);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "cannot open %s", path);
  char line[4096];
  bool seen[N_MODELS] = {false};
  isa[0] = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    line[strcspn(line, "\n")] = 0;
    if (!strncmp(line, "isa ", 4)) {
      snprintf(isa, isalen, "%.100s", line + 4);
      continue;
    }
    char name[32];
    int off = 0;
    if (sscanf(line, "%31s%n", name, &off) != 1) continue;
    for (int m = 0; m < N_MODELS; m++) {
      if (strcmp(name, models[m])) continue;
      const char *p = line + off;
      for (int s = 0; s < STEPS; s++) {
        char *end;
        golden[m][s] = strtod(p, &end);
        cr_assert(end != p, "%s: %s has fewer than %d losses", path, name, STEPS);
        p = end;
      }
      seen[m] = true;
    }
  }
  fclose(f);
  for (int m = 0; m < N_MODELS; m++) cr_assert(seen[m], "%s has no line for %s", path, models[m]);
  return true;
}

Test(train_golden, losses_match_the_recorded_traces_and_resume_is_exact) {
  double full[N_MODELS][STEPS], resumed[N_MODELS][STEPS];
  for (int m = 0; m < N_MODELS; m++) {
    char ck1[300], ck2[300];
    snprintf(ck1, sizeof ck1, "%s/%s_full", dir, models[m]);
    snprintf(ck2, sizeof ck2, "%s/%s_resumed", dir, models[m]);
    for (int s = 0; s < STEPS; s++) full[m][s] = resumed[m][s] = NAN;
    run(models[m], ck1, 0, false, full[m]);
    run(models[m], ck2, HALF, false, resumed[m]);
    run(models[m], ck2, 0, true, resumed[m]);
    for (int s = 0; s < STEPS; s++)
      cr_assert(memcmp(&full[m][s], &resumed[m][s], sizeof(double)) == 0,
                "%s step %d: %d steps in one run gave %a, %d + %d with a resume gave %a", models[m], s, STEPS,
                full[m][s], HALF, STEPS - HALF, resumed[m][s]);
  }
  const char *out = getenv("AXON_GOLDEN_WRITE");
  if (out && out[0]) {
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f);
    fprintf(f, "# tests/test_train_golden.c: per-step training losses (%d steps, hex floats), CPU, 2 threads, seed 0\n",
            STEPS);
    fprintf(f, "isa %s\n", isa_signature());
    for (int m = 0; m < N_MODELS; m++) {
      fprintf(f, "%s", models[m]);
      for (int s = 0; s < STEPS; s++) fprintf(f, " %a", full[m][s]);
      fprintf(f, "\n");
    }
    fclose(f);
    return;
  }
  char isa[128];
  double golden[N_MODELS][STEPS];
  read_fixture(isa, sizeof isa, golden);
  bool exact = !strcmp(isa, isa_signature());
  if (!exact)
    fprintf(stderr, "note: the golden traces were written with ISA \"%s\", this build has \"%s\": checking to a "
                    "relative 1e-3 instead of bit for bit\n", isa, isa_signature());
  double worst = 0;
  for (int m = 0; m < N_MODELS; m++)
    for (int s = 0; s < STEPS; s++) {
      double g = golden[m][s], v = full[m][s];
      cr_assert(isfinite(v), "%s step %d: loss %g", models[m], s, v);
      if (exact)
        cr_assert(memcmp(&g, &v, sizeof g) == 0, "%s step %d: recorded %a (%.9g), now %a (%.9g)", models[m], s, g, g,
                  v, v);
      else /* rounding differences grow over the steps (the cnn's loss falls 500x in 12 steps) */
        cr_assert(fabs(v - g) <= 1e-3 * fabs(g) + 1e-6, "%s step %d: recorded %.9g, now %.9g", models[m], s, g, v);
      if (fabs(v - g) / fabs(g) > worst) worst = fabs(v - g) / fabs(g);
    }
  if (!exact) fprintf(stderr, "note: largest relative difference %.3g\n", worst);
}

/* A language-model checkpoint written by the trainer before the engine (the axon binary of
 * main at 115a610: `axon train --model gpt --dataset text:CORPUS --steps 12 --warmup-steps 3
 * --lr 3e-3 --eval-every 4 --eval-batches 2 --n-layer 1 --n-embd 8 --n-head 2 --block-size 8
 * --batch-size 4 --grad-accum 2 --threads 2 --checkpoint DIR --stop-after-steps 6`, CORPUS
 * being this suite's) resumes in the engine and continues as an uninterrupted run. */
Test(train_golden, an_old_language_model_checkpoint_resumes) {
  char ck[300], cmd[700];
  snprintf(ck, sizeof ck, "%s/old", dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/tests/fixtures/lm_checkpoint_v1.safetensors %s/checkpoint.safetensors",
           ck, AXON_SOURCE_DIR, ck);
  cr_assert_eq(system(cmd), 0);
  double full[STEPS], resumed[STEPS];
  for (int s = 0; s < STEPS; s++) resumed[s] = NAN;
  for (int k = 0; k < 2; k++) {
    ax_lm_config c;
    ax_lm_config_defaults(&c);
    char corpus[256];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    c.data_path = corpus;
    c.gpt = (ax_gpt_config){.n_layer = 1, .n_head = 2, .n_embd = 8, .block_size = 8};
    c.steps = STEPS, c.batch_size = 4, c.grad_accum = 2, c.warmup_steps = 3, c.lr = 3e-3;
    c.eval_every = 4, c.eval_batches = 2, c.device = AX_CPU, c.seed = 0;
    c.checkpoint_dir = k ? ck : NULL;
    c.resume = k == 1;
    c.step_losses = k ? resumed : full;
    c.max_step_losses = STEPS;
    c.log = devnull();
    char err[512] = "";
    int rc = ax_train_lm(&c, NULL, err, sizeof err);
    fclose(c.log);
    cr_assert_eq(rc, 0, "%s", err);
  }
  char isa[128];
  double golden[N_MODELS][STEPS];
  read_fixture(isa, sizeof isa, golden);
  bool exact = !strcmp(isa, isa_signature());
  for (int s = 0; s < HALF; s++) cr_assert(isnan(resumed[s]), "step %d ran again: the checkpoint was not resumed", s);
  for (int s = HALF; s < STEPS; s++)
    if (exact)
      cr_assert(memcmp(&full[s], &resumed[s], sizeof(double)) == 0, "step %d: %a uninterrupted, %a resumed", s, full[s],
                resumed[s]);
    else
      cr_assert(fabs(full[s] - resumed[s]) <= 1e-3 * fabs(full[s]), "step %d: %.9g vs %.9g", s, full[s], resumed[s]);
}
