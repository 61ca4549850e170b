/* SPDX-License-Identifier: BSD-3-Clause */
/* Flag parsing shared by the subcommands: a table of flags, `--name value` or
 * `--name=value`, numbers checked in full and against their allowed range, string
 * flags against their choices, paths against what the command will do with them.
 * Every check runs before any work starts; a bad flag is ONE line on stderr naming
 * the flag, the value and what is allowed, and the caller exits with AX_EXIT_USAGE.
 * Nothing is ever silently replaced by a default. */
#ifndef AXON_TOOLS_CLI_H
#define AXON_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AX_EXIT_USAGE 2   /* a bad command line: nothing was done */
#define AX_EXIT_RUNTIME 1 /* the work started and failed (bad data, diverged, I/O error) */

typedef enum ax_flag_type { AX_FLAG_INT, AX_FLAG_I64, AX_FLAG_U64, AX_FLAG_DOUBLE, AX_FLAG_STRING, AX_FLAG_BOOL } ax_flag_type;

/* rules (bits) */
enum {
  AX_RULE_MIN_OPEN = 1u << 0, /* numbers: x > min instead of x >= min */
  AX_RULE_ANY = 1u << 1,      /* numbers: every value of the type is allowed (seeds) */
  AX_RULE_MAX_OPEN = 1u << 7, /* numbers: x < max instead of x <= max */
  AX_RULE_OUT_FILE = 1u << 2, /* a file to be written: its folder exists and is writable, it is not a folder */
  AX_RULE_OUT_DIR = 1u << 3,  /* a folder to write into: a writable folder, or one that can be created */
  AX_RULE_IN_FILE = 1u << 4,  /* a file to be read: exists, readable, not a folder */
  AX_RULE_IN_DIR = 1u << 5,   /* a folder to be read: exists and is a folder */
  AX_RULE_IN_PATH = 1u << 6,  /* a file or a folder to be read */
};

typedef struct ax_flag {
  const char *name; /* without the leading -- */
  ax_flag_type type;
  void *value;         /* int*, int64_t*, uint64_t*, double*, const char**, bool* */
  const char *metavar; /* e.g. "N"; NULL for bools */
  const char *help;
  double min, max;             /* numbers: the allowed range (finite numbers only) */
  unsigned rules;              /* AX_RULE_* */
  const char *const *choices;  /* strings: the allowed values, NULL-terminated (NULL: any) */
} ax_flag;

/* Parses argv against flags. Returns 0, 1 if --help was printed (exit 0), or -1 after
 * printing the one-line error (exit AX_EXIT_USAGE). */
int ax_cli_parse(const char *command, const char *usage, const char *description, const ax_flag *flags,
                 int nflags, int argc, char **argv);
/* true when the flag was on the command line of the latest ax_cli_parse */
bool ax_cli_given(const char *name);

/* The path checks behind AX_RULE_OUT_FILE / OUT_DIR, for paths the command derives
 * itself (a default --save name, DIR/checkpoint.safetensors). 0, or -1 after printing
 * "axon COMMAND: --FLAG PATH: reason". */
int ax_cli_check_out_file(const char *command, const char *flag, const char *path);
int ax_cli_check_out_dir(const char *command, const char *flag, const char *path);
int ax_cli_check_in_path(const char *command, const char *flag, const char *path, unsigned rule);

/* The CLI's error handler: library errors (ax_error) are recorded for ax_last_error()
 * and the failing call returns NULL / -1 instead of aborting the process. */
void ax_cli_install_error_handler(void);

/* One line "axon COMMAND: " + message on stderr; returns code. */
int ax_cli_fail(const char *command, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Bytes of physical memory (0 when unknown), for "fits in memory" checks. */
uint64_t ax_cli_physical_memory(void);

/* --dist-timeout / AXON_DIST_TIMEOUT: checks the value (a number of seconds in (0, 86400])
 * and exports it for the communicator; the flag wins over the environment. 0 or -1. */
int ax_cli_dist_timeout(const char *command, double flag_value, bool given);

#endif
