/* SPDX-License-Identifier: BSD-3-Clause */
/* The optional components' entry tables (docs/architecture.md, "Components").
 *
 * libaxon (core, CPU, the dist/ front end) references no CUDA and no MPI symbol. The
 * CUDA backend (libaxon_cuda: kernels/cuda, cuBLAS, cuDNN, dist/comm_nccl.c) and the
 * MPI transport (libaxon_mpi: dist/comm_mpi.c) each define one table below; the core
 * refers to it weakly, so it is NULL in a program that does not link the component.
 * A program links a component with its CMake target (axon::cuda, axon::mpi) or its
 * pkg-config module (axon-cuda, axon-mpi), which also pass -Wl,-u,<table> (a static
 * link keeps it) and --no-as-needed (a shared link keeps the library). The tables hold internal types: a component must come from
 * the same build as the core (abi is checked). */
#ifndef AXON_CORE_COMPONENTS_H
#define AXON_CORE_COMPONENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AX_COMPONENT_ABI 1

struct ax_comm;
struct ax__coll_args;

typedef struct ax_cuda_component {
  int abi; /* AX_COMPONENT_ABI */
  const ax_backend *backend;
  int (*device_count)(void);                /* kernels/cuda/runtime.cu */
  int (*is_emulated)(void);                 /* 1 on the emulated device (AXON_CUDA=EMULATE) */
  const char *(*alloc_failure)(void);       /* the detail of the last failed allocation */
  int (*device_name)(int dev, char *buf, size_t n);
  /* dist/comm_nccl.c; NULL without NCCL */
  bool (*nccl_available)(void);
  int (*nccl_start)(struct ax_comm *c, const struct ax__coll_args *a, void **req);
  int (*nccl_test)(void *req);
  void (*nccl_join)(void *req);
  void (*nccl_free)(struct ax_comm *c);
} ax_cuda_component;

typedef struct ax_mpi_component {
  int abi; /* AX_COMPONENT_ABI */
  int (*init)(struct ax_comm *c);
  int (*start)(struct ax_comm *c, const struct ax__coll_args *a, void **req);
  int (*test)(void *req);
  void (*mark_failed)(void);
} ax_mpi_component;

/* defined by libaxon_cuda (kernels/cuda/component.c) and libaxon_mpi (dist/comm_mpi.c) */
#if defined(__GNUC__) && !defined(AX_COMPONENT_DEFINITION) /* the defining file: a strong symbol */
#define AX_COMPONENT_WEAK __attribute__((weak))
#else
#define AX_COMPONENT_WEAK
#endif
extern const ax_cuda_component ax_cuda_component_v1 AX_COMPONENT_WEAK;
extern const ax_mpi_component ax_mpi_component_v1 AX_COMPONENT_WEAK;

/* The component's table, or NULL when it is not linked in (or from another build). */
static inline const ax_cuda_component *ax__cuda_component(void) {
  const ax_cuda_component *c = &ax_cuda_component_v1;
  return c && c->abi == AX_COMPONENT_ABI ? c : NULL;
}
static inline const ax_mpi_component *ax__mpi_component(void) {
  const ax_mpi_component *c = &ax_mpi_component_v1;
  return c && c->abi == AX_COMPONENT_ABI ? c : NULL;
}

#ifdef __cplusplus
}
#endif
#endif
