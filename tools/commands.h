/* The subcommands of `axon`; each returns the process exit code. */
#ifndef AXON_TOOLS_COMMANDS_H
#define AXON_TOOLS_COMMANDS_H
int ax_cmd_train(int argc, char **argv); /* tools/train_cmd.c */
int ax_cmd_eval(int argc, char **argv);  /* tools/train_cmd.c */
int ax_tool_bench(int argc, char **argv); /* tools/bench.c */
int ax_cmd_train_lm(int argc, char **argv); /* tools/train_lm_cmd.c: train --model gpt|char-lstm */
int ax_cmd_generate(int argc, char **argv); /* tools/train_lm_cmd.c */
#include <stdbool.h>
bool ax_train_is_lm(int argc, char **argv); /* --model gpt or char-lstm among the flags */
#endif
