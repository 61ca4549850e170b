/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon eval --model gpt --weights W`: the validation loss and perplexity of GPT weights on
 * the validation split of the corpus they were trained on (the same split as training:
 * ax_text_open's, include/axon/text.h). See tools/trainer.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "axon/transformer.h"
#include "tools/train_lm.h"
#include "tools/trainer.h"
#include "tools/util.h"

void ax_tool_gpt_config_note(const char *path, ax_module *m, FILE *note) {
  static const char *const keys[] = {"gpt.n_layer", "gpt.n_head", "gpt.n_embd", "gpt.block_size", "gpt.vocab_size"};
  ax_state_dict *sd = ax_load_safetensors(path, NULL, 0);
  const ax_gpt_config *g = ax_gpt_config_of(m);
  int found = 0;
  for (int i = 0; sd && i < 5; i++) found += ax_state_dict_meta(sd, keys[i]) != NULL;
  ax_state_dict_free(sd);
  if (found == 5 || !g) return;
  fprintf(note, "note: %s has no GPT config in its metadata (gpt.n_layer, gpt.n_head, ...): using the tensor shapes "
                "(n_layer %" PRId64 ", n_embd %" PRId64 ", block_size %" PRId64 ", vocab_size %" PRId64
                ") and the default n_head %" PRId64 " (n_embd / 64, or 1)\n",
          path, g->n_layer, g->n_embd, g->block_size, g->vocab_size, g->n_head);
}

static ax_tensor *gpt_loss(void *ud, ax_module *m, ax_tensor *x, ax_tensor *y) { return ax_gpt_loss(m, x, y); }

/* --n-layer, --n-head, --n-embd, --block-size given on the command line must be the file's. */
static int check_flags(const ax_eval_config *c, const ax_gpt_config *g, char *err, size_t errlen) {
  struct { const char *flag; int64_t want, have; } f[] = {{"n-layer", c->gpt_n_layer, g->n_layer},
                                                          {"n-head", c->gpt_n_head, g->n_head},
                                                          {"n-embd", c->gpt_n_embd, g->n_embd},
                                                          {"block-size", c->gpt_block_size, g->block_size}};
  for (size_t i = 0; i < sizeof f / sizeof *f; i++)
    if (f[i].want > 0 && f[i].want != f[i].have)
      return ax_tool_fail(err, errlen, "%s holds a GPT with %s %" PRId64 " (its metadata), but --%s is %" PRId64,
                          c->weights, f[i].flag, f[i].have,
                          f[i].flag, f[i].want);
  return 0;
}

/* The file's axon_model, when it names one, must be gpt. */
static int check_kind(const char *path, char *err, size_t errlen) {
  ax_state_dict *sd = ax_load_safetensors(path, err, errlen);
  if (!sd) return -1;
  const char *kind = ax_state_dict_meta(sd, "axon_model");
  int rc = kind && strcmp(kind, "gpt")
               ? ax_tool_fail(err, errlen, "%s holds a '%s' model (its axon_model metadata), but --model is 'gpt'", path, kind)
               : 0;
  ax_state_dict_free(sd);
  return rc;
}

int ax_eval_lm(const ax_eval_config *c, char *err, size_t errlen) {
  FILE *out = c->out ? c->out : stdout;
  if (check_kind(c->weights, err, errlen)) return -1;
  ax_module *m = ax_gpt_from_file(c->weights, err, errlen);
  if (!m) return -1;
  const ax_gpt_config *g = ax_gpt_config_of(m);
  ax_tool_gpt_config_note(c->weights, m, out);
  int rc = -1;
  ax_text_dataset *ds = NULL;
  ax_text_data *d = NULL;
  char e2[512];
  if (check_flags(c, g, err, errlen)) goto out;
  if (!(ds = ax_text_open(c->data_path, &(ax_text_opts){.block_size = g->block_size}, e2, sizeof e2))) {
    ax_tool_fail(err, errlen, "%s", e2);
    goto out;
  }
  if (ax_text_vocab_size(ds) > g->vocab_size) {
    ax_tool_fail(err, errlen, "%s has a vocabulary of %" PRId64 ", the data %" PRId64, c->weights, g->vocab_size,
                 ax_text_vocab_size(ds));
    goto out;
  }
  if (ax_module_to(m, c->device) != 0) {
    ax_tool_fail(err, errlen, "cannot move the model to the device: %s", ax_last_error());
    goto out;
  }
  ax_text_data_opts o = {.ds = ds, .batch_size = c->batch_size > 0 && c->batch_size <= 64 ? c->batch_size : 8,
                         .block = g->block_size, .eval_batches = 0, .device = c->device, .loss = gpt_loss};
  if (!(d = ax_text_data_new(&o, err, errlen))) goto out;
  ax_train_data src = ax_text_data_source(d);
  ax_eval_result r = {0};
  ax_module_train(m, false);
  if (src.validate(src.ud, m, &r) != 0) {
    ax_tool_fail(err, errlen, "evaluation failed: %s", ax_last_error());
    goto out;
  }
  fprintf(out, "%s on the validation split of %s: loss %.4f, perplexity %.2f\n", c->weights,
          c->data_path ? c->data_path : AX_TEXT_DEFAULT_PATH, r.loss, exp(r.loss));
  if (c->result) *c->result = r;
  rc = 0;
out:
  ax_text_data_free(d);
  ax_text_close(ds);
  ax_module_free(m);
  return rc;
}
