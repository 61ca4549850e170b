/* SPDX-License-Identifier: BSD-3-Clause */
/* The language-model trainer's checkpoints (tools/train_lm.c, tools/checkpoint.c):
 * --resume's reading and checking of DIR/checkpoint.safetensors into a tiny GPT, AdamW
 * and a dynamic loss scaler (as with --precision fp16). Built with -DFUZZ_SEED_MAIN it
 * is instead the program that writes the seed corpus. */
#include "axon/transformer.h"
#include "fuzz_common.h"
#include "tools/train_lm.h"

static ax_lm_config cfg;
static ax_module *model;
static ax_optimizer *opt;
static ax_loss_scaler *scaler;

static void setup(const char *dir) {
  ax_lm_config_defaults(&cfg);
  cfg.model = "gpt";
  cfg.gpt = (ax_gpt_config){.n_layer = 1, .n_head = 1, .n_embd = 4, .block_size = 4, .vocab_size = 8};
  cfg.checkpoint_dir = dir;
  model = ax_model_gpt(&cfg.gpt);
  ax_tensor *params[64];
  int n = ax_module_parameters(model, params, 64);
  opt = ax_adamw(params, n, &(ax_adam_opts){.lr = 1e-3});
  scaler = ax_loss_scaler_new(NULL);
}

#ifdef FUZZ_SEED_MAIN
int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: %s DIR\n", argv[0]), 2;
  char err[512], from[4200], to[4200];
  setup(argv[1]);
  snprintf(from, sizeof from, "%s/checkpoint.safetensors", argv[1]);
  for (int k = 0; k < 2; k++) {
    if (k) {
      ax_scope_begin();
      int64_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 0};
      ax_tensor *x = ax_from_data(tok, AX_SHAPE(2, 4), &(ax_tensor_opts){.dtype = AX_I64});
      ax_backward(ax_gpt_loss(model, x, x), NULL);
      ax_optimizer_step(opt);
      ax_scope_end();
    }
    if (ax__lm_checkpoint_io(&cfg, model, opt, k ? scaler : NULL, true, err, sizeof err))
      return fprintf(stderr, "%s\n", err), 1;
    if (ax__lm_checkpoint_io(&cfg, model, opt, k ? scaler : NULL, false, err, sizeof err))
      return fprintf(stderr, "%s\n", err), 1;
    snprintf(to, sizeof to, "%s/lm_%d.safetensors", argv[1], k);
    if (rename(from, to)) return perror(to), 1;
  }
  return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!model) setup(fuzz_dir());
  fuzz_write(fuzz_path("checkpoint.safetensors"), data, size);
  char err[512];
  ax__lm_checkpoint_io(&cfg, model, opt, size & 1 ? scaler : NULL, false, err, sizeof err);
  return 0;
}
#endif
