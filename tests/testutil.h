/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the Criterion suites: error capture, random inputs,
 * closeness checks and the finite-difference gradient check. */
#ifndef AXON_TESTUTIL_H
#define AXON_TESTUTIL_H

#include <stdbool.h>

#include "axon.h"

/* Install a handler that records errors instead of aborting (call in a fixture's init). */
void tu_capture_errors(void);
/* Number of errors recorded since the last tu_capture_errors / tu_reset_errors. */
int tu_error_count(void);
void tu_reset_errors(void);
/* True if the latest error message contains every one of the given substrings (NULL-terminated). */
bool tu_error_contains(const char *first, ...);

/* A fresh f64 (or dt) tensor with N(0,1) values, on the CPU, in the current scope. */
ax_tensor *tu_randn(ax_dtype dt, int ndim, const int64_t *shape);
/* Uniform in [lo, hi). */
ax_tensor *tu_uniform(ax_dtype dt, int ndim, const int64_t *shape, double lo, double hi);
/* A leaf requiring grad: a detached copy of t (keeps t's strides when t is a view). */
ax_tensor *tu_leaf(ax_tensor *t);

/* Element i (in row-major order of t's shape) as a double. */
double tu_get(const ax_tensor *t, int64_t i);
/* Max |a - b| / (atol + rtol |b|) <= 1 elementwise, NaN fails; prints the worst element on failure. */
bool tu_allclose(const ax_tensor *a, const ax_tensor *b, double atol, double rtol);
bool tu_allclose_data(const ax_tensor *a, const double *expected, int64_t n, double atol, double rtol);

/* Gradient check: f maps the inputs to one tensor. Compares the gradient of
 * sum(f(x) * w), w a fixed random weight, computed by ax_backward, with
 * central differences (step eps) for every element of every input that
 * requires grad. Inputs must be f64 CPU leaves. */
typedef ax_tensor *(*tu_fn)(ax_tensor **inputs, void *ctx);
bool tu_gradcheck(tu_fn f, ax_tensor **inputs, int n_inputs, void *ctx, double eps, double atol, double rtol);
#define TU_GRADCHECK(f, inputs, n, ctx) tu_gradcheck((f), (inputs), (n), (ctx), 1e-6, 1e-7, 1e-5)

/* Writes dir/name, an unsigned-byte IDX file with ndim dims; false if it cannot. */
bool tu_write_idx_u8(const char *dir, const char *name, int ndim, const int *dims, const unsigned char *data,
                     size_t n);
/* dir/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte: n 28x28 images of ten classes, each
 * a bright horizontal band at its own height plus noise (a data set the trainers learn fast). */
bool tu_make_band_split(const char *dir, const char *prefix, int n, unsigned seed);

#endif
