/* PLACEHOLDER: being written; each op reports an error. */
#include "core/internal.h"

ax_tensor *ax_conv2d(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, const ax_conv2d_opts *o) {
  (void)x; (void)weight; (void)bias; (void)o; 
  ax_error("ax_conv2d: not written yet");
  return NULL;
}

ax_tensor *ax_conv_transpose2d(ax_tensor *x, ax_tensor *weight, ax_tensor *bias, const ax_conv2d_opts *o) {
  (void)x; (void)weight; (void)bias; (void)o; 
  ax_error("ax_conv_transpose2d: not written yet");
  return NULL;
}
