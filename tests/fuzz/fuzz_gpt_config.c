/* SPDX-License-Identifier: BSD-3-Clause */
/* GPT weights files (nn/models/gpt.c): the config read from __metadata__ (or from the
 * tensors' shapes), the model built from it and the weights loaded into it, as
 * `axon generate --weights` does. */
#include "axon/transformer.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("gpt.safetensors");
  fuzz_write(p, data, size);
  char err[512];
  ax_module *m = ax_gpt_from_file(p, err, sizeof err);
  ax_module_free(m);
  return 0;
}
