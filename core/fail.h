/* SPDX-License-Identifier: BSD-3-Clause */
/* The one error path of the functions that report through a caller's buffer
 * (`char *err, size_t errlen`: file formats, datasets, loaders, model files, the
 * command line's loops): write a one-line reason to err (which may be NULL or
 * errlen 0) and return -1. Pointer-returning functions use AX__FAIL_NULL.
 *
 * Header-only (static inline), so tools/ and tests use the same helper whether they
 * link the static or the shared library (which exports no ax__ symbols). Ops do not
 * use it: they report through ax_error and return NULL (docs/architecture.md,
 * "Errors"). */
#ifndef AXON_CORE_FAIL_H
#define AXON_CORE_FAIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int ax__fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static inline int ax__fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* the same for a function that returns a pointer: writes the reason, gives NULL */
#define AX__FAIL_NULL(err, errlen, ...) (ax__fail((err), (errlen), __VA_ARGS__), (void *)0)

#endif
