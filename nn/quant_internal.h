/* SPDX-License-Identifier: BSD-3-Clause */
/* The Int8Model's state, shared by nn/quant.c (calibration, conversion, forward) and
 * nn/quant_io.c (the safetensors file). */
#ifndef AXON_NN_QUANT_INTERNAL_H
#define AXON_NN_QUANT_INTERNAL_H

#include "axon.h"

#define SAMPLES_PER_BATCH 32768

typedef struct qlayer {
  ax_module *mod, *bn; /* the layer; the BatchNorm2d folded into it (or NULL) */
  char name[128];      /* "features.0" */
  char bn_name[128];   /* "features.1": the folded BatchNorm ("" when none) */
  bool conv;
  ax_conv2d_opts opts;
  int64_t out, kh, kw;
  ax_tensor *w, *bias;        /* f32 weight [out, ...] (BN folded) and bias [out] or NULL */
  ax_tensor *wq, *wscale, *rq; /* i8 weight [out, in*kh*kw], weight_scale [out], input_scale * weight_scale */
  float in_scale, amax;
  float *samples; /* |x| samples for the percentile */
  int64_t nsamples;
} qlayer;

typedef struct qmodel {
  ax_module *model; /* borrowed: the child "model" */
  char arch[32];
  qlayer *layers;
  int n, nbatches;
  bool converted;
  ax_quant_opts opts;
} qmodel;

extern const ax_module_type ax__int8_type;
/* An Int8Model around model (taken over) with its layer table; not yet calibrated or loaded. */
ax_module *ax__quant_wrap(ax_module *model, const char *arch, char *err, size_t errlen);

#endif
