/* SPDX-License-Identifier: BSD-3-Clause */
/* Axon: a deep learning framework in C. Include this one header. */
#ifndef AXON_H
#define AXON_H
#include "axon/tensor.h"
#include "axon/ops.h"
#include "axon/autograd.h"
#include "axon/io.h"
#include "axon/data.h"
#include "axon/text.h"
#include "axon/tokenizer.h"
#include "axon/metrics.h"
#include "axon/nn.h"
#include "axon/transformer.h"
#include "axon/optim.h"
#include "axon/dist.h"
#include "axon/amp.h"
#include "axon/settings.h"
#include "axon/train.h"
#include "axon/prune.h"
#include "axon/quant.h"
#include "axon/generative.h"
#endif
