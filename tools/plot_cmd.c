/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon plot`: training curves from metrics files (JSON lines of axon train --metrics)
 * into a PNG, through libaxon_plot (include/axon/plot.h). Without libaxon_plot (no
 * Cairo or cJSON at build time) the command says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"
#include "tools/commands.h"
#if defined(AXON_HAVE_PLOT)
#include "axon/plot.h"
#endif

#define MAX_FILES 64

static const char *plot_usage =
    "usage: axon plot METRICS.jsonl [MORE.jsonl ...] --out FILE.png [--x epoch|step] [--keys K1,K2,...]\n"
    "                 [--title TEXT] [--width PX] [--height PX]";

#if defined(AXON_HAVE_PLOT)
/* "a,b,c" into keys (pointers into buf, which it splits), NULL-terminated; -1 after the error */
static int split_keys(char *buf, const char **keys, int max) {
  int n = 0;
  for (char *tok = buf, *next; tok; tok = next) {
    next = strchr(tok, ',');
    if (next) *next++ = '\0';
    if (!tok[0]) return ax_cli_fail("plot", -1, "--keys: an empty key name (expected K1,K2,...)");
    if (n == max) return ax_cli_fail("plot", -1, "--keys: more than %d keys", max);
    keys[n++] = tok;
  }
  keys[n] = NULL;
  return 0;
}

/* argv without the file names (the flags all take a value), files the file names */
static int split_args(int argc, char **argv, char **flags, int *nflags, const char **files, int *nfiles) {
  *nflags = *nfiles = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) && strcmp(a, "-h")) {
      if (*nfiles == MAX_FILES) return ax_cli_fail("plot", -1, "more than %d metrics files", MAX_FILES);
      files[(*nfiles)++] = a;
      continue;
    }
    flags[(*nflags)++] = argv[i];
    if (!strchr(a, '=') && strcmp(a, "--help") && strcmp(a, "-h") && i + 1 < argc) flags[(*nflags)++] = argv[++i];
  }
  return 0;
}

int ax_cmd_plot(int argc, char **argv) {
  ax_plot_opts o = {0};
  const char *keys = NULL, *files[MAX_FILES];
  static const char *const xs[] = {"epoch", "step", NULL};
  ax_flag flags[] = {
      {"out", AX_FLAG_STRING, &o.out, "FILE", "the PNG to write (required)", .rules = AX_RULE_OUT_FILE},
      {"x", AX_FLAG_STRING, &o.x, "AXIS", "epoch or step (default: epoch when the files have epoch records)",
       .choices = xs},
      {"keys", AX_FLAG_STRING, &keys, "K1,K2", "keys to draw (default: the train/val/test losses and accuracies present)"},
      {"title", AX_FLAG_STRING, &o.title, "TEXT", "the title (default: the model's name)"},
      {"width", AX_FLAG_INT, &o.width, "PX", "picture width (default 1200)", 300, 8000},
      {"height", AX_FLAG_INT, &o.height, "PX", "picture height (default 500)", 200, 8000},
  };
  char **fargv = malloc(sizeof(char *) * (argc + 1));
  int nf = 0, nfiles = 0, r = fargv ? split_args(argc, argv, fargv, &nf, files, &nfiles) : -1;
  if (!r) r = ax_cli_parse("plot", plot_usage,
                           "Draws training curves from metrics files of axon train --metrics: the losses and the\n"
                           "accuracies against the epoch (or step), one line per run id, into a PNG.",
                           flags, (int)(sizeof flags / sizeof *flags), nf, fargv);
  free(fargv);
  if (r != 0) return r > 0 ? 0 : AX_EXIT_USAGE;
  if (!o.out) return ax_cli_fail("plot", AX_EXIT_USAGE, "--out FILE.png is required (try 'axon plot --help')");
  if (nfiles == 0) return ax_cli_fail("plot", AX_EXIT_USAGE, "no metrics file given (try 'axon plot --help')");
  for (int i = 0; i < nfiles; i++)
    if (ax_cli_check_in_path("plot", "metrics", files[i], AX_RULE_IN_FILE)) return AX_EXIT_USAGE;
  char keybuf[1024];
  const char *keylist[17];
  if (keys) {
    snprintf(keybuf, sizeof keybuf, "%s", keys);
    if (split_keys(keybuf, keylist, 16)) return AX_EXIT_USAGE;
    o.keys = keylist;
  }
  char err[1024];
  if (ax_plot_metrics(files, nfiles, &o, err, sizeof err) != 0) return ax_cli_fail("plot", AX_EXIT_RUNTIME, "%s", err);
  return 0;
}
#else
int ax_cmd_plot(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("%s\n\nThis axon was built without Cairo: axon plot needs libaxon_plot.\n", plot_usage);
      return 0;
    }
  return ax_cli_fail("plot", AX_EXIT_RUNTIME,
                     "this axon was built without Cairo (libaxon_plot): install libcairo2-dev and libcjson-dev "
                     "(scripts/setup.sh) and rebuild");
}
#endif
