/* PLACEHOLDER: being written; each op reports an error. */
#include "core/internal.h"

ax_tensor *ax_max_pool2d(ax_tensor *x, const ax_pool2d_opts *o, ax_tensor **indices) {
  (void)x; (void)o; (void)indices; 
  ax_error("ax_max_pool2d: not written yet");
  return NULL;
}

ax_tensor *ax_avg_pool2d(ax_tensor *x, const ax_pool2d_opts *o) {
  (void)x; (void)o; 
  ax_error("ax_avg_pool2d: not written yet");
  return NULL;
}

ax_tensor *ax_adaptive_avg_pool2d(ax_tensor *x, int64_t out_h, int64_t out_w) {
  (void)x; (void)out_h; (void)out_w; 
  ax_error("ax_adaptive_avg_pool2d: not written yet");
  return NULL;
}
