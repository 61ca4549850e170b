/* SPDX-License-Identifier: BSD-3-Clause */
/* Safetensors weights (core/io/safetensors.c): any bytes load or fail with a message. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("w.safetensors");
  fuzz_write(p, data, size);
  char err[512];
  ax_state_dict *sd = ax_load_safetensors(p, err, sizeof err);
  if (sd) { /* what loaded can be written back and read again */
    const char *q = fuzz_path("again.safetensors");
    if (ax_save_safetensors(q, sd, err, sizeof err) == 0) {
      ax_state_dict *again = ax_load_safetensors(q, err, sizeof err);
      if (!again || ax_state_dict_size(again) != ax_state_dict_size(sd)) {
        fprintf(stderr, "a file that loaded did not load again after saving: %s\n", again ? "" : err);
        abort();
      }
      ax_state_dict_free(again);
    }
    ax_state_dict_free(sd);
  }
  return 0;
}
