/* Flag parsing shared by the subcommands: a table of flags, `--name value` or
 * `--name=value`, numbers checked in full. A bad flag is one line on stderr
 * naming the flag plus the usage line, and the caller exits with AX_EXIT_USAGE. */
#ifndef AXON_TOOLS_CLI_H
#define AXON_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#define AX_EXIT_USAGE 2

typedef enum ax_flag_type { AX_FLAG_INT, AX_FLAG_I64, AX_FLAG_U64, AX_FLAG_DOUBLE, AX_FLAG_STRING, AX_FLAG_BOOL } ax_flag_type;

typedef struct ax_flag {
  const char *name; /* without the leading -- */
  ax_flag_type type;
  void *value;         /* int*, int64_t*, uint64_t*, double*, const char**, bool* */
  const char *metavar; /* e.g. "N"; NULL for bools */
  const char *help;
} ax_flag;

/* Parses argv against flags. Returns 0, 1 if --help was printed (exit 0), or -1 after
 * printing an error and the usage line (exit AX_EXIT_USAGE). */
int ax_cli_parse(const char *command, const char *usage, const char *description, const ax_flag *flags,
                 int nflags, int argc, char **argv);

#endif
