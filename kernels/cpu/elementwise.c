/* PLACEHOLDER: being written (kernels/cpu/elementwise.c). Replace this whole file. */
#include <stdlib.h>
#include <stdio.h>
#include "kernels/cpu/cpu.h"
#define TODO() do { fprintf(stderr, "axon: kernel %s not written yet\n", __func__); abort(); } while (0)
void ax_cpu_unary(int op, ax_kt *out, const ax_kt *x, double alpha, double beta) { TODO(); }
void ax_cpu_unary_backward(int op, ax_kt *gx, const ax_kt *gy, const ax_kt *x, const ax_kt *y, double alpha, double beta) { TODO(); }
void ax_cpu_binary(int op, ax_kt *out, const ax_kt *a, const ax_kt *b) { TODO(); }
void ax_cpu_where(ax_kt *out, const ax_kt *cond, const ax_kt *a, const ax_kt *b) { TODO(); }
