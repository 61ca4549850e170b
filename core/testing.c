/* SPDX-License-Identifier: BSD-3-Clause */
/* The few internals the GPU parity runner (tests/parity) calls, exported under
 * ax_testing_* so that it links to libaxon.so too (AXON_LINK_TOOLS_SHARED: one copy of
 * the GPU code), whose version script exports no ax__ symbol. Not part of the API:
 * undocumented in include/axon/, free to change with the internals they wrap.
 * tests/parity/parity.h maps the ax__ names to these. */
#include "core/internal.h"

const ax_backend *ax_testing_backend(ax_device d, const char *op) { return ax__backend(d, op); }
ax_tensor *ax_testing_new(const char *op, ax_dtype dt, ax_device dev, int ndim, const int64_t *shape) {
  return ax__new(op, dt, dev, ndim, shape);
}
ax_kt ax_testing_kt(const ax_tensor *t) { return ax__kt(t); }
ax_kt ax_testing_kt_broadcast(const ax_tensor *t, int ndim, const int64_t *shape) {
  return ax__kt_broadcast(t, ndim, shape);
}
void ax_testing_set_poison_new_tensors(bool on) { ax__set_poison_new_tensors(on); }
const char *ax_testing_shp(const ax_tensor *t) { return ax__shp(t); }
