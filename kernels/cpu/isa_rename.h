/* SPDX-License-Identifier: BSD-3-Clause */
/* Force-included (-include) into each compile of the hot CPU kernel files (CMakeLists.txt,
 * AXON_CPU_ISA_SOURCES: gemm.c, conv.c, elementwise.c), which are compiled once per ISA
 * level with AX_ISA_SUFFIX set to _generic, _avx2 or _avx512 and that level's -m flags.
 * Every function those files export gets the suffix, so the copies link side by side;
 * kernels/cpu/isa.c defines the unsuffixed names as dispatchers to the level in use.
 * A new non-static function in one of those files needs a line here and a dispatcher
 * in isa.c (else the link fails with a duplicate symbol). */
#ifndef AXON_KERNELS_CPU_ISA_RENAME_H
#define AXON_KERNELS_CPU_ISA_RENAME_H

#ifndef AX_ISA_SUFFIX
#error "kernels/cpu/isa_rename.h needs AX_ISA_SUFFIX (_generic, _avx2 or _avx512)"
#endif
#define AX_ISA_CAT_(a, b) a##b
#define AX_ISA_CAT(a, b) AX_ISA_CAT_(a, b)

#define ax_cpu_gemm AX_ISA_CAT(ax_cpu_gemm, AX_ISA_SUFFIX)
#define ax_cpu_conv2d AX_ISA_CAT(ax_cpu_conv2d, AX_ISA_SUFFIX)
#define ax_cpu_conv2d_backward_input AX_ISA_CAT(ax_cpu_conv2d_backward_input, AX_ISA_SUFFIX)
#define ax_cpu_conv2d_backward_weight AX_ISA_CAT(ax_cpu_conv2d_backward_weight, AX_ISA_SUFFIX)
#define ax_cpu_unary AX_ISA_CAT(ax_cpu_unary, AX_ISA_SUFFIX)
#define ax_cpu_unary_backward AX_ISA_CAT(ax_cpu_unary_backward, AX_ISA_SUFFIX)
#define ax_cpu_binary AX_ISA_CAT(ax_cpu_binary, AX_ISA_SUFFIX)
#define ax_cpu_where AX_ISA_CAT(ax_cpu_where, AX_ISA_SUFFIX)

#endif
