/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared by the fuzz targets (tests/fuzz/README.md): each target's input is written to a
 * file in a private temporary folder, because every loader takes a path. The default
 * error handler stays installed: a bad file must be an error message from the loader,
 * never an ax_error (which aborts, and which libFuzzer reports as a crash). */
#ifndef AXON_FUZZ_COMMON_H
#define AXON_FUZZ_COMMON_H

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_buf[64];

static void fuzz_rm_dir(void) {
  char cmd[96];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_buf);
  if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_buf);
}

/* A folder of this process's own, removed at exit. */
static const char *fuzz_dir(void) {
  if (!fuzz_dir_buf[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir_buf, sizeof fuzz_dir_buf, "%s/axon_fuzz_XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir_buf)) {
      perror("fuzz: mkdtemp");
      abort();
    }
    atexit(fuzz_rm_dir);
  }
  return fuzz_dir_buf;
}

__attribute__((unused)) static const char *fuzz_path(const char *name) {
  static char p[4][160];
  static int next;
  char *b = p[next++ & 3];
  snprintf(b, 160, "%s/%s", fuzz_dir(), name);
  return b;
}

__attribute__((unused)) static void fuzz_write(const char *path, const uint8_t *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

#endif
