#include "tools/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(const char *usage, const char *description, const ax_flag *flags, int n) {
  printf("%s\n\n%s\n\noptions:\n", usage, description);
  for (int i = 0; i < n; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
             flags[i].metavar ? flags[i].metavar : "");
    printf("  %-26s %s\n", left, flags[i].help);
  }
  printf("  %-26s %s\n", "--help", "print this help");
}

static int bad(const char *command, const char *usage, const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "axon %s: ", command);
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n%s\n", usage);
  return -1;
}

static int set_value(const ax_flag *f, const char *v) {
  char *end = NULL;
  errno = 0;
  switch (f->type) {
    case AX_FLAG_INT: {
      long x = strtol(v, &end, 10);
      if (errno || *end || end == v || x < -2147483647L || x > 2147483647L) return -1;
      *(int *)f->value = (int)x;
      return 0;
    }
    case AX_FLAG_I64: {
      long long x = strtoll(v, &end, 10);
      if (errno || *end || end == v) return -1;
      *(int64_t *)f->value = x;
      return 0;
    }
    case AX_FLAG_U64: {
      if (v[0] == '-') return -1;
      unsigned long long x = strtoull(v, &end, 10);
      if (errno || *end || end == v) return -1;
      *(uint64_t *)f->value = x;
      return 0;
    }
    case AX_FLAG_DOUBLE: {
      double x = strtod(v, &end);
      if (errno || *end || end == v) return -1;
      *(double *)f->value = x;
      return 0;
    }
    case AX_FLAG_STRING:
      *(const char **)f->value = v;
      return 0;
    case AX_FLAG_BOOL:
      return -1;
  }
  return -1;
}

int ax_cli_parse(const char *command, const char *usage, const char *description, const ax_flag *flags,
                 int nflags, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      print_help(usage, description, flags, nflags);
      return 1;
    }
    if (strncmp(arg, "--", 2) != 0)
      return bad(command, usage, "unexpected argument '%s'%s", arg, "");
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const ax_flag *f = NULL;
    for (int k = 0; k < nflags; k++)
      if (strlen(flags[k].name) == len && !strncmp(flags[k].name, name, len)) f = &flags[k];
    if (!f) return bad(command, usage, "unknown option '%s'%s", arg, "");
    if (f->type == AX_FLAG_BOOL) {
      if (eq) {
        if (!strcmp(eq + 1, "true") || !strcmp(eq + 1, "1")) *(bool *)f->value = true;
        else if (!strcmp(eq + 1, "false") || !strcmp(eq + 1, "0")) *(bool *)f->value = false;
        else return bad(command, usage, "option '%s' takes no value (or =true / =false)%s", arg, "");
      } else {
        *(bool *)f->value = true;
      }
      continue;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) return bad(command, usage, "option '--%s' needs a value (%s)", f->name, f->metavar ? f->metavar : "");
    if (set_value(f, v) != 0) return bad(command, usage, "bad value '%s' for option '--%s'", v, f->name);
  }
  return 0;
}
