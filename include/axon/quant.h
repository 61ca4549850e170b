/* SPDX-License-Identifier: BSD-3-Clause */
/* Post-training int8 quantization of Linear and Conv2d for inference
 * (docs/quantization.md).
 *
 * Weights: symmetric int8 per output channel, w ~ w_q * weight_scale[o].
 * Activations: symmetric int8 per tensor, x ~ x_q * input_scale, the scale
 * calibrated on a few batches (min-max, or a percentile of |x|). A layer runs
 * quantize(x) -> int8 GEMM with int32 accumulation -> requantization
 * (acc * input_scale * weight_scale[o] + bias[o]) to f32, or to int8 with the
 * next layer's input scale. A BatchNorm2d right after a Conv2d in a Sequential
 * is folded into the conv first. Everything else (the BatchNorms of a
 * pre-activation ResNet, pools, residual adds) runs in f32.
 *
 * Ops: inference only (no autograd), CPU and CUDA, inputs made contiguous. */
#ifndef AXON_QUANT_H
#define AXON_QUANT_H

#include <stdbool.h>
#include <stddef.h>

#include "axon/io.h"
#include "axon/nn.h"
#include "axon/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ops ---- */
/* f32 x -> i8 clamp(rint(x / scale), -127, 127); scale > 0 */
ax_tensor *ax_quantize_s8(ax_tensor *x, float scale);
/* i8 a [M, K], i8 b [N, K] -> i32 [M, N] = a b^T, exact (int32 accumulation; K <= 131072) */
ax_tensor *ax_matmul_s8(ax_tensor *a, ax_tensor *b);
/* i32 acc [M, N] -> v = acc * scale[n] + bias[n] (bias may be NULL), relu'd when relu; out_dtype
 * f32 gives v, i8 gives clamp(rint(v / out_scale), -127, 127) */
ax_tensor *ax_requantize(ax_tensor *acc, ax_tensor *scale, ax_tensor *bias, ax_dtype out_dtype, float out_scale,
                         bool relu);
/* i8 x [N, C, H, W] -> i8 [N*OH*OW, C*kh*kw]: the patches as rows (zero padding); o's *_hw fields,
 * groups 0 or 1 */
ax_tensor *ax_im2row_s8(ax_tensor *x, int kh, int kw, const ax_conv2d_opts *o);

/* ---- models ---- */
typedef enum ax_calib_method { AX_CALIB_MINMAX = 0, AX_CALIB_PERCENTILE = 1 } ax_calib_method;
typedef struct ax_quant_opts {
  ax_calib_method method;
  double percentile; /* AX_CALIB_PERCENTILE: of |x|, in (0, 100]; 0 means 99.99 */
} ax_quant_opts;

/* An Int8Model module wrapping `model` (taken over, also on failure): f32 weights loaded, model
 * named `arch` ("cnn", "resnet", "mlp": written to the file and checked on loading). It starts
 * calibrating: ax_module_forward runs the f32 model (BatchNorms folded) and records the input
 * range of every Linear and Conv2d. NULL with a reason in err (a module it cannot quantize). */
ax_module *ax_quant_prepare(ax_module *model, const char *arch, char *err, size_t errlen);
/* Ends calibration: activation scales from the ranges seen, int8 weights and their scales; from
 * then on ax_module_forward runs int8. -1 with a reason (no calibration batch seen, ...). */
int ax_quant_convert(ax_module *qm, const ax_quant_opts *o, char *err, size_t errlen);
/* Writes the int8 model as safetensors (docs/file-formats.md, "int8 weights"). 0 or -1. */
int ax_quant_save(ax_module *qm, const char *path, char *err, size_t errlen);
/* Whether sd holds int8 weights (metadata format "axon-int8"). */
bool ax_state_dict_is_int8(const ax_state_dict *sd);
/* An Int8Model of the zoo model `arch` from int8 weights (source: the file name, for messages).
 * NULL with a reason: not int8, weights of another model, a missing or malformed tensor. */
ax_module *ax_quant_load(const char *arch, const ax_state_dict *sd, const char *source, char *err, size_t errlen);
/* number of quantized layers of an Int8Model (-1 for another module) */
int ax_quant_num_layers(const ax_module *qm);

#ifdef __cplusplus
}
#endif
#endif
