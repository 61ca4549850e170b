/* SPDX-License-Identifier: BSD-3-Clause */
/* .npz archives (nn/data/npz.c): the zip's end record, central directory, zip64 fields,
 * local headers, stored and deflated members, then the members as .npy; when both x and
 * y load, a dataset from them (ax_dataset_from_arrays) and one batch. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_path("x.npz");
  fuzz_write(p, data, size);
  char err[512];
  ax_scope_begin();
  ax_tensor *x = ax_npz_load(p, "x", err, sizeof err), *y = ax_npz_load(p, "y", err, sizeof err);
  ax_dataset *ds = x && y ? ax_dataset_from_arrays(x, y, err, sizeof err) : NULL;
  ax_loader *ld = ds ? ax_loader_new(ds, &(ax_loader_opts){.batch_size = 2}, err, sizeof err) : NULL;
  ax_tensor *bx, *by;
  if (ld) ax_loader_next(ld, &bx, &by);
  ax_loader_free(ld);
  ax_dataset_free(ds);
  ax_scope_end();
  return 0;
}
