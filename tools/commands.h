/* SPDX-License-Identifier: BSD-3-Clause */
/* The subcommands of `axon`; each returns the process exit code. */
#ifndef AXON_TOOLS_COMMANDS_H
#define AXON_TOOLS_COMMANDS_H
int ax_cmd_train(int argc, char **argv); /* tools/train_cmd.c */
int ax_cmd_eval(int argc, char **argv);  /* tools/train_cmd.c */
int ax_tool_bench(int argc, char **argv); /* tools/bench.c */
int ax_cmd_train_lm(int argc, char **argv); /* tools/train_lm_cmd.c: train --model gpt|char-lstm */
int ax_cmd_generate(int argc, char **argv); /* tools/train_lm_cmd.c */
int ax_cmd_tokenize(int argc, char **argv); /* tools/tokenize_cmd.c */
int ax_cmd_sample(int argc, char **argv);   /* tools/gen_sample.c */
int ax_cmd_plot(int argc, char **argv);     /* tools/plot_cmd.c */
int ax_cmd_prune(int argc, char **argv); /* tools/prune_cmd.c */
int ax_cmd_quantize(int argc, char **argv); /* tools/quantize_cmd.c */
#include <stdbool.h>
bool ax_train_is_lm(int argc, char **argv); /* --model gpt or char-lstm among the flags */
#include "axon.h"
/* --device cpu|cuda|cuda:N into *d (unchanged when s is NULL); 0, or -1 after the one-line error */
int ax_cli_device(const char *cmd, const char *s, ax_device *d);
/* the output checks both trainers share: --save, --metrics, --checkpoint against --resume /
 * --overwrite, --dist-timeout / AXON_DIST_TIMEOUT; 0, or -1 after the one-line error */
int ax_cli_check_outputs(const char *cmd, const char *save, const char *metrics, const char *checkpoint_dir,
                         bool resume, bool overwrite, double dist_timeout);
#endif
