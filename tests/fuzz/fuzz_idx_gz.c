/* SPDX-License-Identifier: BSD-3-Clause */
/* IDX files inside gzip (nn/data/idx.c): the input is the inflated content, compressed
 * here, so the fuzzer explores the header and data checks behind the decompressor. The
 * input's first byte picks what else happens: odd, the tail is cut off the compressed
 * stream; >= 0x80, the file is also loaded as MNIST-style images beside a labels file
 * holding the same bytes (the header-vs-header count checks). */
#include <zlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  data++, size--;
  const char *p = fuzz_path("train-images-idx3-ubyte.gz");
  gzFile g = gzopen(p, "wb");
  if (!g || (size && gzwrite(g, data, (unsigned)size) != (int)size) || gzclose(g) != Z_OK) abort();
  if (mode & 1) {
    FILE *f = fopen(p, "rb+");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    if (truncate(p, n > 10 ? n - 1 - (mode >> 1) % 9 : 0) != 0) abort();
  }
  char err[512];
  ax_scope_begin();
  ax_idx_load(p, err, sizeof err);
  ax_scope_end();
  if (mode >= 0x80) {
    const char *l = fuzz_path("train-labels-idx1-ubyte.gz");
    gzFile h = gzopen(l, "wb");
    if (!h || (size && gzwrite(h, data, (unsigned)size) != (int)size) || gzclose(h) != Z_OK) abort();
    ax_dataset *ds = ax_mnist_like_load(fuzz_dir(), "mnist", true, err, sizeof err);
    ax_dataset_free(ds);
    remove(l);
  }
  return 0;
}
