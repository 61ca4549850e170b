/* SPDX-License-Identifier: BSD-3-Clause */
/* A small pre-activation ResNet for 28x28 images: stem conv, three stages of two
 * PreActBlocks (32@28x28 -> 64@14x14 -> 128@7x7), BN-ReLU, global average pool, Linear. */
#include "axon.h"

static ax_module *stage(int64_t in, int64_t out, int stride) {
  return AX_SEQUENTIAL(ax_nn_preact_block(in, out, stride), ax_nn_preact_block(out, out, 1));
}

ax_module *ax_model_resnet(void) {
  const char *names[] = {"conv1", "layer1", "layer2", "layer3", "bn", "relu", "pool", "flatten", "fc"};
  ax_module *parts[] = {ax_nn_conv2d(1, 32, 3, &(ax_nn_conv2d_opts){.padding = 1, .no_bias = true}),
                        stage(32, 32, 1),
                        stage(32, 64, 2),
                        stage(64, 128, 2),
                        ax_nn_batch_norm2d(128, NULL),
                        ax_nn_relu(),
                        ax_nn_adaptive_avg_pool2d(1, 1),
                        ax_nn_flatten(1, -1),
                        ax_nn_linear(128, 10, true)};
  return ax_nn_sequential_named(9, names, parts);
}
