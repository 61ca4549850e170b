/* SPDX-License-Identifier: BSD-3-Clause */
/* CSV files (nn/data/csv.c). The first byte picks the options: bits 0-1 the header mode
 * (detect, none, present), bit 2 a label column by name ("label"), bit 3 by index ("1"),
 * bit 4 ';' as the delimiter. When the file loads, a dataset from it and one batch. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  const char *p = fuzz_path("x.csv");
  fuzz_write(p, data + 1, size - 1);
  ax_csv_opts o = {.header = (mode & 3) == 0 ? -1 : (mode & 3) == 1 ? 0 : 1,
                   .label_col = mode & 4 ? "label" : mode & 8 ? "1" : NULL, .delimiter = mode & 16 ? ';' : 0};
  char err[512];
  ax_scope_begin();
  ax_tensor *x = NULL, *y = NULL;
  ax_dataset *ds = ax_csv_load(p, &o, &x, &y, err, sizeof err) == 0 ? ax_dataset_from_arrays(x, y, err, sizeof err) : NULL;
  ax_loader *ld = ds ? ax_loader_new(ds, &(ax_loader_opts){.batch_size = 3}, err, sizeof err) : NULL;
  ax_tensor *bx, *by;
  if (ld) ax_loader_next(ld, &bx, &by);
  ax_loader_free(ld);
  ax_dataset_free(ds);
  ax_scope_end();
  return 0;
}
