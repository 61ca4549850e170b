/* PLACEHOLDER: being written (kernels/cpu/reduce.c). Replace this whole file. */
#include <stdlib.h>
#include <stdio.h>
#include "kernels/cpu/cpu.h"
#define TODO() do { fprintf(stderr, "axon: kernel %s not written yet\n", __func__); abort(); } while (0)
void ax_cpu_reduce(int op, ax_kt *out, const ax_kt *in) { TODO(); }
void ax_cpu_arg_reduce(int op, ax_kt *values, ax_kt *indices, const ax_kt *in, int dim) { TODO(); }
