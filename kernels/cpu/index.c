/* PLACEHOLDER: being written (kernels/cpu/index.c). Replace this whole file. */
#include <stdlib.h>
#include <stdio.h>
#include "kernels/cpu/cpu.h"
#define TODO() do { fprintf(stderr, "axon: kernel %s not written yet\n", __func__); abort(); } while (0)
void ax_cpu_index_select(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) { TODO(); }
void ax_cpu_index_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) { TODO(); }
void ax_cpu_gather(ax_kt *out, const ax_kt *in, int dim, const ax_kt *index) { TODO(); }
void ax_cpu_scatter_add(ax_kt *out, int dim, const ax_kt *index, const ax_kt *src) { TODO(); }
