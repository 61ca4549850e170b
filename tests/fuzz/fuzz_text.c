/* SPDX-License-Identifier: BSD-3-Clause */
/* Text corpora (nn/data/text.c, text_files.c), as the language-model trainer opens them:
 * a plain file of bytes, split into training and validation, then a batch of each. */
#include "axon/text.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("corpus.txt");
  fuzz_write(p, data, size);
  char err[512];
  ax_text_dataset *ds = ax_text_open(p, &(ax_text_opts){.block_size = 8}, err, sizeof err);
  if (!ds) return 0;
  ax_scope_begin();
  ax_tensor *x, *y;
  if (ax_text_batch(ds, AX_TEXT_TRAIN, 2, 8, 1, 0, &x, &y) != 0) abort(); /* open promised block + 1 tokens */
  if (ax_text_size(ds, AX_TEXT_VAL) > 8) ax_text_eval_batch(ds, 2, 8, 0, &x, &y);
  ax_scope_end();
  ax_text_close(ds);
  return 0;
}
