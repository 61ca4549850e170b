/* SPDX-License-Identifier: BSD-3-Clause */
/* The shared flag layer of the `axon` subcommands: see tools/cli.h. */
#define _DEFAULT_SOURCE
#include "tools/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "axon.h"

static void print_help(const char *usage, const char *description, const ax_flag *flags, int n) {
  printf("%s\n\n%s\n\noptions:\n", usage, description);
  for (int i = 0; i < n; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
             flags[i].metavar ? flags[i].metavar : "");
    printf("  %-26s %s\n", left, flags[i].help);
  }
  printf("  %-26s %s\n", "--help", "print this help");
  printf("\nexit codes: 0 done, 1 the run failed (bad data, diverged, I/O), 2 bad command line (nothing done)\n");
}

int ax_cli_fail(const char *command, int code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++) /* one line, whatever a library message held */
    if (*p == '\n' || *p == '\r') *p = ' ';
  fprintf(stderr, "axon %s: %s\n", command, msg);
  fflush(stderr);
  return code;
}

/* ---- paths ---- */

static void parent_of(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path);
  char *slash = strrchr(out, '/');
  if (!slash) snprintf(out, n, ".");
  else if (slash == out) out[1] = '\0';
  else *slash = '\0';
}

int ax_cli_check_out_file(const char *command, const char *flag, const char *path) {
  if (!path[0]) return ax_cli_fail(command, -1, "--%s: the path is empty (expected a file name)", flag);
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return ax_cli_fail(command, -1, "--%s %s: is a folder, expected a file name", flag, path);
    /* opening for append changes nothing and answers for root and read-only file systems too */
    int fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return ax_cli_fail(command, -1, "--%s %s: cannot write to the file: %s", flag, path, strerror(errno));
    close(fd);
    return 0;
  }
  if (errno != ENOENT && errno != ENOTDIR) return ax_cli_fail(command, -1, "--%s %s: %s", flag, path, strerror(errno));
  if (path[strlen(path) - 1] == '/')
    return ax_cli_fail(command, -1, "--%s %s: names a folder (ends in /), expected a file name", flag, path);
  char dir[4096];
  parent_of(path, dir, sizeof dir);
  if (stat(dir, &st) != 0)
    return ax_cli_fail(command, -1, "--%s %s: the folder %s does not exist (create it first)", flag, path, dir);
  if (!S_ISDIR(st.st_mode)) return ax_cli_fail(command, -1, "--%s %s: %s is not a folder", flag, path, dir);
  if (access(dir, W_OK | X_OK) != 0)
    return ax_cli_fail(command, -1, "--%s %s: cannot write into the folder %s: %s", flag, path, dir, strerror(errno));
  return 0;
}

int ax_cli_check_out_dir(const char *command, const char *flag, const char *path) {
  if (!path[0]) return ax_cli_fail(command, -1, "--%s: the path is empty (expected a folder)", flag);
  struct stat st;
  if (stat(path, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return ax_cli_fail(command, -1, "--%s %s: is a file, expected a folder", flag, path);
    if (access(path, W_OK | X_OK) != 0)
      return ax_cli_fail(command, -1, "--%s %s: cannot write into the folder: %s", flag, path, strerror(errno));
    return 0;
  }
  if (errno != ENOENT && errno != ENOTDIR) return ax_cli_fail(command, -1, "--%s %s: %s", flag, path, strerror(errno));
  char dir[4096];
  parent_of(path, dir, sizeof dir);
  if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
    return ax_cli_fail(command, -1, "--%s %s: cannot be created: %s is not a folder", flag, path, dir);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return ax_cli_fail(command, -1, "--%s %s: cannot be created: the folder %s does not exist", flag, path, dir);
  if (access(dir, W_OK | X_OK) != 0)
    return ax_cli_fail(command, -1, "--%s %s: cannot be created in %s: %s", flag, path, dir, strerror(errno));
  return 0;
}

int ax_cli_check_in_path(const char *command, const char *flag, const char *path, unsigned rule) {
  struct stat st;
  if (!path[0]) return ax_cli_fail(command, -1, "--%s: the path is empty", flag);
  if (stat(path, &st) != 0) return ax_cli_fail(command, -1, "--%s %s: %s", flag, path, strerror(errno));
  if ((rule & AX_RULE_IN_FILE) && S_ISDIR(st.st_mode))
    return ax_cli_fail(command, -1, "--%s %s: is a folder, expected a file", flag, path);
  if ((rule & AX_RULE_IN_DIR) && !S_ISDIR(st.st_mode))
    return ax_cli_fail(command, -1, "--%s %s: is not a folder", flag, path);
  if (access(path, R_OK) != 0) return ax_cli_fail(command, -1, "--%s %s: cannot read it: %s", flag, path, strerror(errno));
  return 0;
}

/* ---- values ---- */

static void fmt_num(char *buf, size_t n, const ax_flag *f, double x) {
  if (f->type == AX_FLAG_DOUBLE) snprintf(buf, n, "%g", x);
  else snprintf(buf, n, "%.0f", x);
}

/* "a whole number in [1, 1024]", "a number in (0, 1e+06]" */
static void describe_range(const ax_flag *f, char *buf, size_t n) {
  char lo[40], hi[40];
  fmt_num(lo, sizeof lo, f, f->min);
  fmt_num(hi, sizeof hi, f, f->max);
  snprintf(buf, n, "%s in %c%s, %s%c", f->type == AX_FLAG_DOUBLE ? "a finite number" : "a whole number",
           (f->rules & AX_RULE_MIN_OPEN) ? '(' : '[', lo, hi, (f->rules & AX_RULE_MAX_OPEN) ? ')' : ']');
}

static bool in_range(const ax_flag *f, double x) {
  if (f->rules & AX_RULE_ANY) return true;
  if (!isfinite(x) || x > f->max || ((f->rules & AX_RULE_MAX_OPEN) && x >= f->max)) return false;
  return (f->rules & AX_RULE_MIN_OPEN) ? x > f->min : x >= f->min;
}

static int set_value(const char *command, const ax_flag *f, const char *v) {
  char *end = NULL, range[128] = "";
  errno = 0;
  if (f->type != AX_FLAG_STRING && f->type != AX_FLAG_BOOL) describe_range(f, range, sizeof range);
  switch (f->type) {
    case AX_FLAG_INT:
    case AX_FLAG_I64: {
      long long x = strtoll(v, &end, 10);
      if (end == v || *end || !v[0])
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': expected %s", v, f->name, range);
      if (errno == ERANGE || !in_range(f, (double)x) || (f->type == AX_FLAG_INT && (x > INT32_MAX || x < INT32_MIN)))
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': out of range, expected %s", v, f->name, range);
      if (f->type == AX_FLAG_INT) *(int *)f->value = (int)x;
      else *(int64_t *)f->value = x;
      return 0;
    }
    case AX_FLAG_U64: {
      unsigned long long x = v[0] == '-' ? 0 : strtoull(v, &end, 10);
      if (v[0] == '-' || end == v || *end || !v[0] || errno == ERANGE)
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': expected a whole number in [0, %" PRIu64 "]",
                           v, f->name, UINT64_MAX);
      if (!in_range(f, (double)x))
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': out of range, expected %s", v, f->name, range);
      *(uint64_t *)f->value = x;
      return 0;
    }
    case AX_FLAG_DOUBLE: {
      double x = strtod(v, &end);
      if (end == v || *end || !v[0])
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': expected %s", v, f->name, range);
      if (!isfinite(x) || (errno == ERANGE && (x == HUGE_VAL || x == -HUGE_VAL)))
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': not a finite number, expected %s", v, f->name,
                           range);
      if (!in_range(f, x))
        return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': out of range, expected %s", v, f->name, range);
      *(double *)f->value = x;
      return 0;
    }
    case AX_FLAG_STRING: {
      if (f->choices) {
        bool ok = false;
        for (int i = 0; f->choices[i]; i++) ok = ok || !strcmp(v, f->choices[i]);
        if (!ok) {
          char list[512] = "";
          for (int i = 0; f->choices[i]; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", f->choices[i]);
          }
          return ax_cli_fail(command, -1, "bad value '%s' for option '--%s' (choose from: %s)", v, f->name, list);
        }
      }
      if (f->rules & AX_RULE_OUT_FILE && ax_cli_check_out_file(command, f->name, v)) return -1;
      if (f->rules & AX_RULE_OUT_DIR && ax_cli_check_out_dir(command, f->name, v)) return -1;
      if (f->rules & (AX_RULE_IN_FILE | AX_RULE_IN_DIR | AX_RULE_IN_PATH) &&
          ax_cli_check_in_path(command, f->name, v, f->rules))
        return -1;
      *(const char **)f->value = v;
      return 0;
    }
    case AX_FLAG_BOOL:
      return -1;
  }
  return -1;
}

#define MAX_GIVEN 128
static const char *given[MAX_GIVEN];
static int ngiven;

bool ax_cli_given(const char *name) {
  for (int i = 0; i < ngiven; i++)
    if (!strcmp(given[i], name)) return true;
  return false;
}

int ax_cli_parse(const char *command, const char *usage, const char *description, const ax_flag *flags,
                 int nflags, int argc, char **argv) {
  ngiven = 0;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      print_help(usage, description, flags, nflags);
      return 1;
    }
  }
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0)
      return ax_cli_fail(command, -1, "unexpected argument '%s' (options start with --; try 'axon %s --help')", arg,
                         command);
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const ax_flag *f = NULL;
    for (int k = 0; k < nflags; k++)
      if (strlen(flags[k].name) == len && !strncmp(flags[k].name, name, len)) f = &flags[k];
    if (!f) return ax_cli_fail(command, -1, "unknown option '%s' (try 'axon %s --help')", arg, command);
    if (ngiven < MAX_GIVEN) given[ngiven++] = f->name;
    if (f->type == AX_FLAG_BOOL) {
      if (eq) {
        if (!strcmp(eq + 1, "true") || !strcmp(eq + 1, "1")) *(bool *)f->value = true;
        else if (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0")) *(bool *)f->value = false;
        else return ax_cli_fail(command, -1, "bad value '%s' for option '--%s': it takes no value (or =true / =false)",
                                eq + 1, f->name);
      } else {
        *(bool *)f->value = true;
      }
      continue;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) return ax_cli_fail(command, -1, "option '--%s' needs a value (%s)", f->name, f->metavar ? f->metavar : "");
    if (set_value(command, f, v) != 0) return -1;
  }
  (void)usage;
  return 0;
}

/* ---- the library's errors ---- */

static void report_error(const char *message, void *user) {
  (void)message; /* kept by ax_error for ax_last_error(); the command reports it */
  (void)user;
}

void ax_cli_install_error_handler(void) { ax_set_error_handler(report_error, NULL); }

uint64_t ax_cli_physical_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

int ax_cli_dist_timeout(const char *command, double flag_value, bool given_flag) {
  char buf[64];
  if (given_flag) { /* the flag wins over the variable: an override of the setting */
    snprintf(buf, sizeof buf, "%.17g", flag_value);
    return ax_settings_set("AXON_DIST_TIMEOUT", buf) == 0
               ? 0
               : ax_cli_fail(command, -1, "bad value for --dist-timeout: %s", ax_last_error());
  }
  for (int i = 0; i < ax_settings_count(); i++) { /* a bad variable is a usage error of the command line */
    ax_setting_info s;
    if (ax_settings_info(i, &s) == 0 && !strcmp(s.name, "AXON_DIST_TIMEOUT") && s.rejected[0])
      return ax_cli_fail(command, -1, "bad value '%s' for AXON_DIST_TIMEOUT: expected a number of seconds in (0, 86400]",
                         s.rejected);
  }
  return 0;
}
