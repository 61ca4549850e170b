/* SPDX-License-Identifier: BSD-3-Clause */
/* The MLP of the model zoo: 784 -> 256 -> 128 -> 10 with ReLU and Dropout(0.2). */
#include "axon.h"

ax_module *ax_model_mlp(void) {
  return AX_SEQUENTIAL(ax_nn_flatten(1, -1), ax_nn_linear(784, 256, true), ax_nn_relu(), ax_nn_dropout(0.2),
                          ax_nn_linear(256, 128, true), ax_nn_relu(), ax_nn_dropout(0.2), ax_nn_linear(128, 10, true));
}
