/* SPDX-License-Identifier: BSD-3-Clause */
/* The README's example: tensors, ops, backward. Build against the installed
 * library with: cc example.c $(pkg-config --cflags --libs --static axon) */
#include <axon.h>
#include <stdio.h>

int main(void) {
  ax_scope_begin();
  float xs[6] = {1, 2, 3, 4, 5, 6};
  ax_tensor *x = ax_from_data(xs, AX_SHAPE(2, 3), NULL);          /* [2, 3] f32 on the CPU */
  ax_tensor *w = ax_randn(AX_SHAPE(3, 4), &(ax_tensor_opts){.requires_grad = true});
  ax_tensor *y = ax_relu(ax_matmul(x, w));                         /* [2, 4] */
  ax_tensor *loss = ax_mean(ax_square(y), AX_ALL, false);          /* a scalar */
  ax_backward(loss, NULL);                                         /* fills w->grad */
  printf("loss = %.4f\n", ax_item(loss));
  ax_print(w->grad);
  ax_scope_end();                                                  /* frees every tensor above */
  return 0;
}
