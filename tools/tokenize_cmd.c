/* SPDX-License-Identifier: BSD-3-Clause */
/* `axon tokenize`: a text, or every line of a file, through a tokenizer
 * (include/axon/tokenizer.h, docs/tokenizers.md): ids and tokens. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/tokenizer.h"
#include "tools/cli.h"
#include "tools/commands.h"

#define CMD "tokenize"

typedef struct tok_flags {
  const char *dir, *text, *file;
  bool ids_only, no_special, truncate, decode;
  int max_length;
} tok_flags;

/* one input; 0, or 1 after reporting the error (line > 0 names the line) */
static int one(const ax_tokenizer *tok, const tok_flags *f, const char *s, size_t len, long line) {
  ax_encode_opts o = {.no_special_tokens = f->no_special, .max_length = f->max_length, .truncation = f->truncate};
  char err[512];
  int n = ax_tokenizer_encode(tok, s, len, NULL, 0, &o, err, sizeof err);
  int32_t *ids = n >= 0 ? malloc(((size_t)n + 1) * sizeof *ids) : NULL;
  if (n >= 0 && ids) n = ax_tokenizer_encode(tok, s, len, ids, n, &o, err, sizeof err);
  if (n < 0 || !ids) {
    if (!ids && n >= 0) snprintf(err, sizeof err, "out of memory");
    if (f->ids_only) printf("# error: %s\n", err); /* keeps one output line per input line */
    if (line > 0) fprintf(stderr, "axon " CMD ": line %ld: %s\n", line, err);
    else fprintf(stderr, "axon " CMD ": %s\n", err);
    free(ids);
    return 1;
  }
  if (!f->ids_only) fputs("ids:", stdout);
  for (int i = 0; i < n; i++) printf(i || !f->ids_only ? " %d" : "%d", ids[i]);
  putchar('\n');
  if (!f->ids_only) {
    fputs("tokens:", stdout);
    for (int i = 0; i < n; i++) printf(" %s", ax_tokenizer_id_token(tok, ids[i]));
    putchar('\n');
  }
  if (f->decode) {
    size_t cap = 8 * len + 64;
    char *text = malloc(cap);
    if (text && ax_tokenizer_decode(tok, ids, n, true, text, cap, err, sizeof err) >= 0) printf("text: %s\n", text);
    else fprintf(stderr, "axon " CMD ": decode: %s\n", text ? err : "out of memory");
    free(text);
  }
  free(ids);
  return 0;
}

static int lines(const ax_tokenizer *tok, const tok_flags *f) {
  FILE *in = strcmp(f->file, "-") ? fopen(f->file, "rb") : stdin;
  if (!in) return ax_cli_fail(CMD, AX_EXIT_RUNTIME, "--file %s: cannot open it", f->file);
  char *buf = NULL;
  size_t cap = 0;
  long line = 0, bad = 0;
  for (ssize_t k; (k = getline(&buf, &cap, in)) >= 0;) {
    line++;
    if (k && buf[k - 1] == '\n') k--;
    bad += one(tok, f, buf, (size_t)k, line);
  }
  free(buf);
  if (in != stdin) fclose(in);
  fflush(stdout);
  if (bad) return ax_cli_fail(CMD, AX_EXIT_RUNTIME, "%ld of %ld lines failed", bad, line);
  return 0;
}

int ax_cmd_tokenize(int argc, char **argv) {
  tok_flags f = {0};
  const ax_flag flags[] = {
      {"tokenizer", AX_FLAG_STRING, &f.dir, "PATH", "tokenizer.json, or a folder with it, vocab.txt, or vocab.json + merges.txt",
       .rules = AX_RULE_IN_PATH},
      {"text", AX_FLAG_STRING, &f.text, "TEXT", "the text to tokenize"},
      {"file", AX_FLAG_STRING, &f.file, "PATH", "tokenize every line of this file ('-': standard input)"},
      {"ids-only", AX_FLAG_BOOL, &f.ids_only, NULL, "print only the ids, one line per input"},
      {"no-special", AX_FLAG_BOOL, &f.no_special, NULL, "leave out [CLS]/[SEP]"},
      {"max-length", AX_FLAG_INT, &f.max_length, "N", "at most N ids (an input longer is an error without --truncate)", 1, 1e9},
      {"truncate", AX_FLAG_BOOL, &f.truncate, NULL, "cut inputs longer than --max-length"},
      {"decode", AX_FLAG_BOOL, &f.decode, NULL, "also print the ids decoded back to text"},
  };
  int rc = ax_cli_parse(CMD, "axon tokenize --tokenizer PATH (--text TEXT | --file PATH) [options]",
                        "Tokenizes text with a WordPiece (BERT) or byte-level BPE (GPT-2) tokenizer and prints\n"
                        "the ids and the tokens (docs/tokenizers.md).",
                        flags, (int)(sizeof flags / sizeof flags[0]), argc, argv);
  if (rc) return rc > 0 ? 0 : AX_EXIT_USAGE;
  if (!f.dir) return ax_cli_fail(CMD, AX_EXIT_USAGE, "--tokenizer is required");
  if (!f.text == !f.file) return ax_cli_fail(CMD, AX_EXIT_USAGE, "give one of --text and --file");
  if (f.truncate && !f.max_length) return ax_cli_fail(CMD, AX_EXIT_USAGE, "--truncate needs --max-length");
  if (f.file && strcmp(f.file, "-") && ax_cli_check_in_path(CMD, "file", f.file, AX_RULE_IN_FILE)) return AX_EXIT_USAGE;
  char err[512];
  ax_tokenizer *tok = ax_tokenizer_load(f.dir, err, sizeof err);
  if (!tok) return ax_cli_fail(CMD, AX_EXIT_RUNTIME, "%s", err);
  rc = f.text ? (one(tok, &f, f.text, strlen(f.text), 0) ? AX_EXIT_RUNTIME : 0) : lines(tok, &f);
  ax_tokenizer_free(tok);
  return rc;
}
