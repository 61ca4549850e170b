/* The subcommands of `axon`; each returns the process exit code. */
#ifndef AXON_TOOLS_COMMANDS_H
#define AXON_TOOLS_COMMANDS_H
int ax_cmd_train(int argc, char **argv); /* tools/train_cmd.c */
int ax_cmd_eval(int argc, char **argv);  /* tools/train_cmd.c */
int ax_tool_bench(int argc, char **argv); /* tools/bench.c */
#endif
