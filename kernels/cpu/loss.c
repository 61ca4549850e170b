/* PLACEHOLDER: the CPU loss kernels are being written; each entry aborts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_cross_entropy(ax_kt *loss, ax_kt *lse, const ax_kt *logits, const ax_kt *target, int64_t ignore_index, double label_smoothing) {
  (void)loss; (void)lse; (void)logits; (void)target; (void)ignore_index; (void)label_smoothing; 
  fprintf(stderr, "ax_cpu_cross_entropy: not written yet\n");
  abort();
}

void ax_cpu_cross_entropy_backward(ax_kt *glogits, const ax_kt *gloss, const ax_kt *logits, const ax_kt *lse, const ax_kt *target, int64_t ignore_index, double label_smoothing) {
  (void)glogits; (void)gloss; (void)logits; (void)lse; (void)target; (void)ignore_index; (void)label_smoothing; 
  fprintf(stderr, "ax_cpu_cross_entropy_backward: not written yet\n");
  abort();
}
