/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon train --model autoencoder|vae|gan` and `axon sample` (tools/gen_*.c) on slices of
 * Fashion-MNIST: the autoencoder learns, the GAN's alternating steps are deterministic
 * under a seed and resume exactly, the grids are written, bad input is a clear error. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tools/gen.h"
#include "tools/trainer.h"

static char dir[64];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_gen_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  ax_set_num_threads(2);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(gen_tools, .init = setup, .fini = teardown, .timeout = 600);

static char *path_in(const char *name) {
  static char buf[8][160];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, 160, "%s/%s", dir, name);
  return p;
}

static ax_train_config config(const char *model, int64_t limit) {
  ax_train_config c;
  ax_train_config_defaults(&c);
  c.model = model;
  c.device = AX_CPU;
  c.epochs = 1;
  c.batch_size = 32;
  c.limit_train = limit;
  c.limit_test = 64;
  c.log = fopen("/dev/null", "w");
  c.progress = 0;
  c.prefetch = false;
  if (!strcmp(model, "gan")) c.optimizer = "adam", c.schedule = "none", c.lr = 2e-4;
  return c;
}

static int train(ax_train_config *c, char *err, size_t n) {
  int rc = ax_train(c, NULL, err, n);
  fclose(c->log);
  return rc;
}

Test(gen_tools, autoencoder_loss_decreases) {
  ax_train_config c = config("autoencoder", 320);
  double losses[16] = {0};
  c.schedule = "none";
  c.lr = 3e-3;
  c.step_losses = losses;
  c.max_step_losses = 16;
  char err[512] = "";
  cr_assert_eq(train(&c, err, sizeof err), 0, "%s", err);
  /* 10 steps of 32 images: the mean squared error falls from ~0.1-0.2 (sigmoid(0) = 0.5 at first) */
  cr_expect_gt(losses[0], 0);
  cr_expect_lt((losses[8] + losses[9]) / 2, 0.7 * losses[0], "first %g, last %g", losses[0], losses[9]);
}

/* the weights of a file, as bytes, for a bitwise comparison */
static bool same_weights(const char *a, const char *b) {
  char e[256];
  ax_state_dict *sa = ax_load_safetensors(a, e, sizeof e), *sb = ax_load_safetensors(b, e, sizeof e);
  cr_assert(sa && sb, "%s", e);
  bool same = ax_state_dict_size(sa) == ax_state_dict_size(sb);
  for (int i = 0; same && i < ax_state_dict_size(sa); i++) {
    ax_tensor *x = ax_state_dict_tensor(sa, i), *y = ax_state_dict_get(sb, ax_state_dict_name(sa, i));
    size_t n = (size_t)ax_numel(x) * ax_dtype_size(x->dtype);
    same = y && ax_numel(x) == ax_numel(y) && x->dtype == y->dtype && memcmp(ax_data_ptr(x), ax_data_ptr(y), n) == 0;
  }
  ax_state_dict_free(sa);
  ax_state_dict_free(sb);
  return same;
}

static void gan_run(const char *save, uint64_t seed, double smoothing) {
  ax_train_config c = config("gan", 128);
  c.seed = seed;
  c.label_smoothing = smoothing;
  c.save_path = save;
  char err[512] = "";
  cr_assert_eq(train(&c, err, sizeof err), 0, "%s", err);
}

Test(gen_tools, gan_deterministic_under_seed) {
  gan_run(path_in("a.safetensors"), 5, 0.1);
  gan_run(path_in("b.safetensors"), 5, 0.1);
  gan_run(path_in("c.safetensors"), 6, 0.1);
  cr_expect(same_weights(path_in("a.safetensors"), path_in("b.safetensors")), "same seed, different weights");
  cr_expect(!same_weights(path_in("a.safetensors"), path_in("c.safetensors")), "another seed, the same weights");
}

/* interrupted after 2 of 4 steps and resumed: the same weights as without the interruption
 * (both optimizers' states, the data position and the random stream in the checkpoint) */
Test(gen_tools, gan_resume_exact) {
  gan_run(path_in("full.safetensors"), 7, 0);
  ax_train_config c = config("gan", 128);
  c.seed = 7;
  c.checkpoint_dir = path_in("ckpt");
  c.stop_after_steps = 2;
  char err[512] = "";
  cr_assert_eq(train(&c, err, sizeof err), 0, "%s", err);
  c = config("gan", 128);
  c.seed = 7;
  c.checkpoint_dir = path_in("ckpt");
  c.resume = true;
  c.save_path = path_in("resumed.safetensors");
  cr_assert_eq(train(&c, err, sizeof err), 0, "%s", err);
  cr_expect(same_weights(path_in("full.safetensors"), path_in("resumed.safetensors")));
}

/* ---- axon sample ---- */

static bool is_png(const char *path) {
  unsigned char sig[8] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t n = fread(sig, 1, 8, f);
  fclose(f);
  return n == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8);
}

static void save_model(const char *name, const char *meta, const char *path) {
  ax_module *m = ax_model_create(name, NULL, 0);
  cr_assert_not_null(m);
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(m, sd);
  if (meta) ax_state_dict_set_meta(sd, "axon_model", meta);
  char e[256];
  cr_assert_eq(ax_save_safetensors(path, sd, e, sizeof e), 0, "%s", e);
  ax_state_dict_free(sd);
  ax_module_free(m);
}

static int sample(const char *weights, const char *model, const char *out, bool interp, char *err, size_t n) {
  ax_sample_config c = {.weights = weights, .model = model, .out = out, .dataset = "fashion-mnist",
                        .interpolate = interp, .device = AX_CPU};
  return ax_sample(&c, NULL, err, n);
}

Test(gen_tools, sample_writes_png) {
#ifndef AXON_HAVE_PLOT
  cr_skip_test("built without libaxon_plot (Cairo)");
#endif
  char err[512] = "";
  save_model("gan", "gan", path_in("gan.safetensors"));
  save_model("vae", "vae", path_in("vae.safetensors"));
  save_model("autoencoder", "autoencoder", path_in("ae.safetensors"));
  cr_assert_eq(sample(path_in("gan.safetensors"), NULL, path_in("gan.png"), false, err, sizeof err), 0, "%s", err);
  cr_assert_eq(sample(path_in("vae.safetensors"), NULL, path_in("vae.png"), false, err, sizeof err), 0, "%s", err);
  cr_assert_eq(sample(path_in("vae.safetensors"), NULL, path_in("vi.png"), true, err, sizeof err), 0, "%s", err);
  cr_assert_eq(sample(path_in("ae.safetensors"), NULL, path_in("ae.png"), false, err, sizeof err), 0, "%s", err);
  cr_expect(is_png(path_in("gan.png")) && is_png(path_in("vae.png")) && is_png(path_in("vi.png")) &&
            is_png(path_in("ae.png")));
}

Test(gen_tools, sample_bad_input) {
  char err[512] = "";
  save_model("cnn", "cnn", path_in("cnn.safetensors"));
  save_model("gan", "gan", path_in("gan.safetensors"));
  save_model("vae", "autoencoder", path_in("liar.safetensors"));   /* a VAE's tensors, labelled autoencoder */
  save_model("autoencoder", NULL, path_in("anon.safetensors")); /* no axon_model entry */
  cr_expect_neq(sample(path_in("cnn.safetensors"), NULL, path_in("x.png"), false, err, sizeof err), 0);
  cr_expect(strstr(err, "holds a 'cnn' model") && strstr(err, "generative"), "%s", err);
  cr_expect_neq(sample(path_in("gan.safetensors"), "vae", path_in("x.png"), false, err, sizeof err), 0);
  cr_expect(strstr(err, "holds a 'gan' model, not the --model vae"), "%s", err);
  cr_expect_neq(sample(path_in("liar.safetensors"), NULL, path_in("x.png"), false, err, sizeof err), 0);
  cr_expect(strstr(err, "is not a autoencoder") || strstr(err, "is not an autoencoder"), "%s", err);
  cr_expect_neq(sample(path_in("anon.safetensors"), NULL, path_in("x.png"), false, err, sizeof err), 0);
  cr_expect(strstr(err, "does not name its model"), "%s", err);
  cr_expect_neq(sample(path_in("gan.safetensors"), NULL, path_in("x.png"), true, err, sizeof err), 0);
  cr_expect(strstr(err, "no encoder"), "%s", err);
  cr_expect_neq(sample(path_in("missing.safetensors"), NULL, path_in("x.png"), false, err, sizeof err), 0);
  cr_expect(access(path_in("x.png"), F_OK) != 0, "no picture after an error");
  /* the command line: an unknown model is a usage error (exit 2) */
  char *argv[] = {"--weights", path_in("gan.safetensors"), "--out", path_in("x.png"), "--model", "vgg", NULL};
  cr_expect_eq(ax_cmd_sample(6, argv), 2);
  char *argv2[] = {"--out", path_in("x.png"), NULL};
  cr_expect_eq(ax_cmd_sample(2, argv2), 2, "--weights is required");
}
