/* PLACEHOLDER: being written; each op reports an error. */
#include "core/internal.h"

ax_tensor *ax_batch_norm(ax_tensor *x, ax_tensor *running_mean, ax_tensor *running_var, ax_tensor *weight, ax_tensor *bias, bool training, double momentum, double eps) {
  (void)x; (void)running_mean; (void)running_var; (void)weight; (void)bias; (void)training; (void)momentum; (void)eps; 
  ax_error("ax_batch_norm: not written yet");
  return NULL;
}
