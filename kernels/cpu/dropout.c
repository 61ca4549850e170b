/* PLACEHOLDER: the CPU dropout kernels are being written; each entry aborts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_dropout(ax_kt *out, const ax_kt *in, double p, uint64_t seed, uint64_t offset) {
  (void)out; (void)in; (void)p; (void)seed; (void)offset; 
  fprintf(stderr, "ax_cpu_dropout: not written yet\n");
  abort();
}
