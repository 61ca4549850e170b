/* SPDX-License-Identifier: BSD-3-Clause */
/* The `axon` command line. Each subcommand parses its own flags; a bad
 * command or flag is a one-line error and exit code 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/cuda_status.h"

#if defined(AXON_HAVE_CUDA)
int ax_cuda_device_name(int dev, char *buf, size_t n);
#endif

#define EXIT_USAGE AX_EXIT_USAGE


static const char *usage =
    "usage: axon <command> [options]\n"
    "\n"
    "commands:\n"
    "  train     train a model from the zoo (default: the cnn on Fashion-MNIST; --model gpt: a GPT on text)\n"
    "  generate  stream text from a trained GPT (KV cache)\n"
    "  sample    write an 8x8 grid of a generative model's pictures (autoencoder, vae, gan) to a PNG\n"
    "  eval      evaluate trained weights: accuracy, per-class table, confusion matrix\n"
    "  plot      draw training curves from metrics files into a PNG\n"
    "  prune     magnitude pruning of trained weights (fine-tune with train --init --keep-sparsity)\n"
    "  quantize  int8 weights (Linear, Conv2d) from trained f32 weights, for axon eval\n"
    "  bench     time the kernels against the machine's copy bandwidth and the vendor libraries\n"
    "  tokenize  text to token ids with a WordPiece (BERT) or byte-level BPE (GPT-2) tokenizer\n"
    "  info      print the version, the backends, the devices, the thread count and the settings\n"
    "  help      print this help (also: axon --help, axon <command> --help)\n";

static int cmd_info(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: axon info\n\nPrints the Axon version, the backends compiled in, the devices found, the\n"
             "number of CPU threads (set with OMP_NUM_THREADS) and every setting (AXON_* variables,\n"
             "docs/settings.md) with its value and its source: default, env or set.\n");
      return 0;
    }
    fprintf(stderr, "axon info: unknown option '%s' (try 'axon info --help')\n", argv[i]);
    return EXIT_USAGE;
  }
  char model[256];
  ax_cpu_name(model, sizeof model);
  printf("axon %s\n", ax_version());
  printf("build:    %s, -march=%s\n", AXON_BUILD_TYPE_STRING,
         AXON_MARCH_STRING[0] ? AXON_MARCH_STRING : "(portable: run-time ISA dispatch)");
  printf("cpu isa:  %s (paths in this build that this CPU runs:%s%s%s; AXON_ISA caps it)\n", ax_cpu_isa(),
         ax_cpu_isa_supported(AX_ISA_GENERIC) ? " generic" : "", ax_cpu_isa_supported(AX_ISA_AVX2) ? " avx2" : "",
         ax_cpu_isa_supported(AX_ISA_AVX512) ? " avx512" : "");
  printf("backends: cpu%s\n", !ax_has_cuda()        ? " (no CUDA backend: libaxon_cuda not linked in)"
                              : ax_cuda_emulated() ? ", cuda (emulated on the host: AXON_CUDA=EMULATE, not a GPU)"
                                                   : ", cuda");
  if (ax_has_cuda()) printf("cuda:     %s\n", AX_CUDA_STATUS);
  printf("threads:  %d (OpenMP)\n", ax_num_threads());
  printf("devices:\n");
  printf("  cpu     %s\n", model);
  int n = ax_cuda_device_count();
#if defined(AXON_HAVE_CUDA)
  for (int d = 0; d < n; d++) {
    char name[256];
    if (ax_cuda_device_name(d, name, sizeof name) != 0) snprintf(name, sizeof name, "(unreadable)");
    printf("  cuda:%d  %s\n", d, name);
  }
#endif
  if (ax_has_cuda() && n == 0) printf("  (no usable CUDA device found)\n");
  printf("settings: (docs/settings.md)\n");
  for (int i = 0; i < ax_settings_count(); i++) {
    ax_setting_info si;
    if (ax_settings_info(i, &si) != 0) continue;
    printf("  %-27s %-10s %s", si.name, si.value, si.source);
    if (si.rejected[0]) printf(" (the environment's '%s' is not valid: %s)", si.rejected, si.valid);
    printf("\n");
  }
  return 0;
}

int main(int argc, char **argv) {
  /* library errors come back as NULL / -1 and the command reports them (exit 1 or 2);
   * the library's default handler would abort the process */
  ax_cli_install_error_handler();
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("axon %s\n", ax_version());
    return 0;
  }
  if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2); /* shows bad settings, does not refuse them */
  bool known = !strcmp(cmd, "train") || !strcmp(cmd, "eval") || !strcmp(cmd, "bench") || !strcmp(cmd, "generate") ||
               !strcmp(cmd, "sample");
  char bad[256];
  if (known && ax_settings_check(bad, sizeof bad) != 0) { /* a bad AXON_* variable is a usage error */
    fprintf(stderr, "axon %s: %s\n", cmd, bad);
    return EXIT_USAGE;
  }
  if (!strcmp(cmd, "train")) return ax_cmd_train(argc - 2, argv + 2);
  if (!strcmp(cmd, "eval")) return ax_cmd_eval(argc - 2, argv + 2);
  if (!strcmp(cmd, "bench")) return ax_tool_bench(argc - 2, argv + 2);
  if (!strcmp(cmd, "generate")) return ax_cmd_generate(argc - 2, argv + 2);
  if (!strcmp(cmd, "tokenize")) return ax_cmd_tokenize(argc - 2, argv + 2);
  if (!strcmp(cmd, "sample")) return ax_cmd_sample(argc - 2, argv + 2);
  if (!strcmp(cmd, "plot")) return ax_cmd_plot(argc - 2, argv + 2);
  if (!strcmp(cmd, "prune")) return ax_cmd_prune(argc - 2, argv + 2);
  if (!strcmp(cmd, "quantize")) return ax_cmd_quantize(argc - 2, argv + 2);
  if (cmd[0] == '-')
    fprintf(stderr, "axon: unknown option '%s' (try 'axon --help')\n", cmd);
  else
    fprintf(stderr, "axon: unknown command '%s' (try 'axon --help')\n", cmd);
  return EXIT_USAGE;
}
