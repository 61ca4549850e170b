/* SPDX-License-Identifier: BSD-3-Clause */
/* The image trainer's checkpoints (tools/trainer.c, tools/checkpoint.c): --resume's
 * reading and checking of DIR/checkpoint.safetensors into a small model (Linear +
 * BatchNorm1d, so an integer buffer too) and an Adam optimizer. Built with
 * -DFUZZ_SEED_MAIN it is instead the program that writes the seed corpus. */
#include "fuzz_common.h"
#include "tools/trainer.h"

static ax_train_config cfg;
static ax_module *model;
static ax_optimizer *opt;

static void setup(const char *dir) {
  ax_train_config_defaults(&cfg);
  cfg.model = "mlp";
  cfg.checkpoint_dir = dir;
  model = ax_nn_sequential(2, ax_nn_linear(4, 3, true), ax_nn_batch_norm1d(3, NULL));
  ax_tensor *params[8];
  int n = ax_module_parameters(model, params, 8);
  opt = ax_adam(params, n, &(ax_adam_opts){.lr = 1e-3});
}

#ifdef FUZZ_SEED_MAIN
int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: %s DIR\n", argv[0]), 2;
  char err[512], from[4200], to[4200];
  setup(argv[1]);
  snprintf(from, sizeof from, "%s/checkpoint.safetensors", argv[1]);
  for (int k = 0; k < 2; k++) { /* before and after an optimizer step (no state, then state) */
    if (k) {
      ax_scope_begin();
      ax_module_train(model, true);
      ax_tensor *y = ax_module_forward(model, ax_randn(AX_SHAPE(5, 4), NULL));
      ax_backward(ax_sum(ax_mul(y, y), 0, NULL, false), NULL);
      ax_optimizer_step(opt);
      ax_scope_end();
    }
    if (ax__train_checkpoint_io(&cfg, model, opt, true, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
    if (ax__train_checkpoint_io(&cfg, model, opt, false, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
    snprintf(to, sizeof to, "%s/image_%d.safetensors", argv[1], k);
    if (rename(from, to)) return perror(to), 1;
  }
  return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!model) setup(fuzz_dir());
  fuzz_write(fuzz_path("checkpoint.safetensors"), data, size);
  char err[512];
  ax__train_checkpoint_io(&cfg, model, opt, false, err, sizeof err);
  return 0;
}
#endif
