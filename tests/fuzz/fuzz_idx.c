/* SPDX-License-Identifier: BSD-3-Clause */
/* IDX files (nn/data/idx.c), plain or (when the bytes start with gzip's magic) gzipped. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("x.idx");
  fuzz_write(p, data, size);
  char err[512];
  ax_scope_begin();
  ax_idx_load(p, err, sizeof err);
  ax_scope_end();
  return 0;
}
