/* PLACEHOLDER: being written; each op reports an error. */
#include "core/internal.h"

ax_tensor *ax_dropout(ax_tensor *x, double p, bool training) {
  (void)x; (void)p; (void)training; 
  ax_error("ax_dropout: not written yet");
  return NULL;
}
