/* SPDX-License-Identifier: BSD-3-Clause */
/* llm.c token shards (nn/data/text.c): a header of 256 int32 (magic 20240520, version,
 * token count), then uint16 tokens; opened as the trainer opens --data shards. */
#include "axon/text.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("train_000.bin");
  fuzz_write(p, data, size);
  char err[512];
  ax_text_dataset *ds = ax_text_open(p, &(ax_text_opts){.block_size = 4, .tokens = true}, err, sizeof err);
  if (!ds) return 0;
  ax_scope_begin();
  ax_tensor *x, *y;
  if (ax_text_batch(ds, AX_TEXT_TRAIN, 2, 4, 1, 0, &x, &y) != 0) abort(); /* open promised block + 1 tokens */
  int64_t tok[4];
  if (ax_text_size(ds, AX_TEXT_VAL) >= 4) ax_text_read(ds, AX_TEXT_VAL, 0, 4, tok);
  ax_scope_end();
  ax_text_close(ds);
  return 0;
}
