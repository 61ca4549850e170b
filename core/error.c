/* SPDX-License-Identifier: BSD-3-Clause */
/* The error model: a message naming the op and the shapes goes to a handler.
 * The default handler prints it and aborts, like an uncaught exception; a
 * program or test that installs its own gets NULL back from the failing op. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static _Thread_local char last_error[1024];
static ax_error_handler handler;
static void *handler_user;

static void default_handler(const char *message, void *user) {
  (void)user;
  fprintf(stderr, "axon: error: %s\n", message);
  fflush(stderr);
  abort();
}

ax_error_handler ax_set_error_handler(ax_error_handler h, void *user) {
  ax_error_handler old = handler;
  handler = h;
  handler_user = user;
  return old;
}

const char *ax_last_error(void) { return last_error; }
void ax_clear_error(void) { last_error[0] = '\0'; }

void ax_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  if (handler)
    handler(last_error, handler_user);
  else
    default_handler(last_error, NULL);
}
