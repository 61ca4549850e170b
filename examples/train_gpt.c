/* SPDX-License-Identifier: BSD-3-Clause */
/* A GPT trained on text and sampled with a KV cache, from C: the loop of
 * docs/tutorial.md section 4 as a program. `axon train --model gpt` is the same
 * with validation, schedules, checkpoints, metrics and data parallelism.
 *   ./build/train_gpt [STEPS] [TEXT_PATH]      (default: 200 steps on Debian's fortunes) */
#include <axon.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int64_t steps = argc > 1 ? atoll(argv[1]) : 200;
  const char *path = argc > 2 ? argv[2] : NULL;
  char err[256];
  ax_text_dataset *text = ax_text_open(path, &(ax_text_opts){.block_size = 128}, err, sizeof err);
  if (!text) {
    fprintf(stderr, "train_gpt: %s\n", err);
    return 1;
  }
  ax_gpt_config cfg = ax_gpt_config_default(); /* 4 layers, 4 heads, 256 wide, block 128, bytes */
  ax_module *gpt = ax_model_gpt(&cfg);
  ax_tensor *params[256];
  int n = ax_module_parameters(gpt, params, 256);
  ax_optimizer *opt = ax_adamw(params, n, &(ax_adam_opts){.lr = 1e-3, .beta2 = 0.95, .weight_decay = 0.1});
  for (int64_t step = 0; step < steps; step++) {
    ax_scope_begin();
    ax_tensor *x, *y; /* i64 [32, 128]; y is x shifted by one */
    ax_text_batch(text, AX_TEXT_TRAIN, 32, 128, /*seed=*/0, step, &x, &y);
    ax_tensor *loss = ax_gpt_loss(gpt, x, y);
    ax_backward(loss, NULL);
    ax_clip_grad_norm(params, n, 1.0, 2.0);
    ax_optimizer_step(opt);
    ax_optimizer_zero_grad(opt);
    if (step % 20 == 0 || step + 1 == steps) printf("step %lld  loss %.4f\n", (long long)step, ax_item(loss));
    ax_scope_end();
  }

  ax_module_train(gpt, false);
  ax_no_grad_begin();
  ax_kv_cache *kv = ax_kv_cache_new(gpt, 1, cfg.block_size);
  int64_t tok = '\n';
  for (int i = 0; i < 120; i++) { /* greedy, one position per new token */
    ax_scope_begin();
    ax_tensor *idx = ax_from_data(&tok, AX_SHAPE(1, 1), &(ax_tensor_opts){.dtype = AX_I64});
    ax_tensor *logits = ax_gpt_forward_cached(gpt, idx, kv);
    tok = (int64_t)ax_item(ax_argmax(ax_reshape(logits, AX_SHAPE(-1)), 0, false));
    putchar((int)tok);
    ax_scope_end();
  }
  putchar('\n');
  ax_no_grad_end();
  ax_kv_cache_free(kv);
  ax_optimizer_free(opt);
  ax_module_free(gpt);
  ax_text_close(text);
  return 0;
}
