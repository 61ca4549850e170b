/* SPDX-License-Identifier: BSD-3-Clause */
/* An MLP for feature vectors (tabular data): see include/axon/nn.h. */
#include "axon.h"

ax_module *ax_model_mlp_features(int in_features, int hidden, int n_classes) {
  if (in_features < 1 || hidden < 1 || n_classes < 2 || in_features > (1 << 24) || hidden > (1 << 16) ||
      n_classes > (1 << 24)) {
    ax_error("ax_model_mlp_features: needs in_features >= 1, hidden in [1, 65536] and n_classes >= 2, got %d, %d, %d",
             in_features, hidden, n_classes);
    return NULL;
  }
  return AX_SEQUENTIAL(ax_nn_flatten(1, -1), ax_nn_linear(in_features, hidden, true), ax_nn_relu(), ax_nn_dropout(0.1),
                       ax_nn_linear(hidden, hidden, true), ax_nn_relu(), ax_nn_linear(hidden, n_classes, true));
}
