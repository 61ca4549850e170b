/* SPDX-License-Identifier: BSD-3-Clause */
/* The default CNN of the model zoo: two conv-BN-ReLU-pool stages (28 -> 14 -> 7)
 * and a two-layer classifier, as Sequential(features, classifier). */
#include "axon.h"

ax_module *ax_model_cnn(void) {
  const ax_nn_conv2d_opts pad1 = {.padding = 1};
  const ax_pool2d_opts pool2 = {.kernel = 2};
  ax_module *features = AX_SEQUENTIAL(ax_nn_conv2d(1, 32, 3, &pad1), ax_nn_batch_norm2d(32, NULL), ax_nn_relu(),
                                         ax_nn_max_pool2d(&pool2), ax_nn_conv2d(32, 64, 3, &pad1),
                                         ax_nn_batch_norm2d(64, NULL), ax_nn_relu(), ax_nn_max_pool2d(&pool2));
  ax_module *classifier = AX_SEQUENTIAL(ax_nn_flatten(1, -1), ax_nn_linear(64 * 7 * 7, 128, true), ax_nn_relu(),
                                           ax_nn_dropout(0.25), ax_nn_linear(128, 10, true));
  return ax_nn_sequential_named(2, (const char *[]){"features", "classifier"}, (ax_module *[]){features, classifier});
}
