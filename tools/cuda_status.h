/* SPDX-License-Identifier: BSD-3-Clause */
/* Where the CUDA backend stands, as `axon info` and README.md say it. Update it (and
 * README.md's "Where the CUDA backend stands") with date, device and commit whenever a
 * GPU session records results in docs/benchmarks.md. */
#ifndef AXON_TOOLS_CUDA_STATUS_H
#define AXON_TOOLS_CUDA_STATUS_H

#define AX_CUDA_STATUS                                                                                   \
  "every CUDA kernel passes the parity suite on the emulated device in CI (docs/emulator.md);\n"    \
  "          none has run on a real GPU yet (no session has had one: docs/gpu_session.md)"

#endif
