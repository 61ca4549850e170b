/* SPDX-License-Identifier: BSD-3-Clause */
/* Small helpers shared by the tools' loops: a monotonic clock and the
 * "write a one-line reason to err and return -1" idiom of their error paths. */
#ifndef AXON_TOOLS_UTIL_H
#define AXON_TOOLS_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/fail.h"

/* CLOCK_MONOTONIC is POSIX: <time.h> declares it only when the including file asked for
 * POSIX (_DEFAULT_SOURCE or _POSIX_C_SOURCE before its first header; the build is -std=c11
 * without extensions). A file that did not gets C11's timespec_get, a wall clock, instead
 * of failing to compile (clang 14 with glibc stops at the undeclared identifier). */
static inline double ax_tool_now_s(void) {
  struct timespec t;
#if defined(CLOCK_MONOTONIC)
  clock_gettime(CLOCK_MONOTONIC, &t);
#else
  timespec_get(&t, TIME_UTC);
#endif
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* "NaN", "inf" or "-inf" for the divergence messages (printf's "-nan" depends on the sign bit) */
static inline const char *ax_tool_nonfinite_name(double x) { return x != x ? "NaN" : x > 0 ? "inf" : "-inf"; }

/* The library's one fail helper (core/fail.h): writes a one-line reason to err, returns -1.
 * ax_tool_fail is its old name here, kept as a thin alias for the training files. */
#define ax_tool_fail(err, errlen, ...) ax__fail(err, errlen, __VA_ARGS__)

#endif
