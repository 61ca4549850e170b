/* SPDX-License-Identifier: BSD-3-Clause */
/* .npy files (nn/data/npy.c): the header's dict, the dtypes, the shape against the data. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("x.npy");
  fuzz_write(p, data, size);
  char err[512];
  ax_scope_begin();
  ax_npy_load(p, err, sizeof err);
  ax_scope_end();
  return 0;
}
