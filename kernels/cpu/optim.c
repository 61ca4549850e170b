/* PLACEHOLDER: the CPU optim kernels are being written; each entry aborts. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

void ax_cpu_optim_step(const ax_optim_args *a, int n, ax_kt *const *params, ax_kt *const *grads, ax_kt *const *state0, ax_kt *const *state1, ax_kt *const *state2) {
  (void)a; (void)n; (void)params; (void)grads; (void)state0; (void)state1; (void)state2; 
  fprintf(stderr, "ax_cpu_optim_step: not written yet\n");
  abort();
}
