/* SPDX-License-Identifier: BSD-3-Clause */
/* The training loop behind `axon train`: convergence on a small synthetic
 * dataset and on a slice of Fashion-MNIST, exact resume after an interruption,
 * bad checkpoints and missing data as clear errors, and the command line's exit
 * codes. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pty.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "testutil.h"
#include "tools/train_common.h"
#include "tools/trainer.h"

static char dir[64];

static void setup(void) {
  tu_capture_errors();
  snprintf(dir, sizeof dir, "/tmp/axon_trainer_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  cr_assert(tu_make_band_split(dir, "train", 640, 1));
  cr_assert(tu_make_band_split(dir, "t10k", 200, 2));
  ax_set_num_threads(2);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(trainer, .init = setup, .fini = teardown, .timeout = 300);

static ax_train_config base_config(const char *model) {
  ax_train_config c;
  ax_train_config_defaults(&c);
  c.model = model;
  c.data_dir = dir;
  c.device = AX_CPU;
  c.epochs = 2;
  c.batch_size = 32;
  c.log = fopen("/dev/null", "w");
  c.progress = 0;
  return c;
}

Test(trainer, mlp_learns_synthetic_classes) {
  ax_train_config c = base_config("mlp");
  char metrics[128];
  snprintf(metrics, sizeof metrics, "%s/m.jsonl", dir);
  c.metrics_path = metrics;
  ax_train_report r;
  char err[512] = "";
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  cr_assert_eq(r.epochs_done, 2);
  cr_assert_gt(r.test_accuracy, 0.95, "accuracy %.3f", r.test_accuracy);
  cr_assert_lt(r.train_loss, 1.0);
  /* one JSON object per epoch with the documented keys */
  FILE *f = fopen(metrics, "r");
  cr_assert_not_null(f);
  char line[1024];
  int lines = 0;
  while (fgets(line, sizeof line, f)) {
    lines++;
    const char *keys[] = {"\"epoch\"", "\"train_loss\"", "\"test_loss\"", "\"test_accuracy\"", "\"seconds\"",
                          "\"samples_per_sec\""};
    for (int k = 0; k < 6; k++) cr_assert(strstr(line, keys[k]), "missing %s in %s", keys[k], line);
  }
  fclose(f);
  cr_assert_eq(lines, 2);
}

Test(trainer, resume_gives_the_same_losses) {
  const int64_t total = 2 * 20; /* 640 / 32 = 20 steps per epoch */
  double full[40], resumed[40];
  char ck1[128], ck2[128], err[512] = "";
  snprintf(ck1, sizeof ck1, "%s/ck1", dir);
  snprintf(ck2, sizeof ck2, "%s/ck2", dir);

  ax_train_config c = base_config("cnn");
  c.checkpoint_dir = ck1;
  c.step_losses = full;
  c.max_step_losses = total;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), 0, "%s", err);

  /* interrupted mid-epoch 1 (step 27), then resumed to the end */
  for (int i = 0; i < total; i++) resumed[i] = NAN;
  c.checkpoint_dir = ck2;
  c.step_losses = resumed;
  c.stop_after_steps = 27;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), 0, "%s", err);
  c.stop_after_steps = 0;
  c.resume = true;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  for (int i = 0; i < total; i++)
    cr_assert_eq(full[i], resumed[i], "step %d: uninterrupted %.9g, resumed %.9g", i, full[i], resumed[i]);
}

Test(trainer, bad_checkpoint_is_an_error_and_is_kept) {
  char ck[128], path[192], err[512] = "";
  snprintf(ck, sizeof ck, "%s/ck", dir);
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", ck);
  ax_train_config c = base_config("mlp");
  c.checkpoint_dir = ck;
  c.stop_after_steps = 3;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), 0, "%s", err);
  /* truncate it */
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(truncate(path, st.st_size / 2), 0);
  c.stop_after_steps = 0;
  c.resume = true;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "checkpoint.safetensors"), "%s", err);
  cr_assert_eq(stat(path, &st), 0);
  /* a checkpoint of another model */
  c.resume = false;
  c.stop_after_steps = 2;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), 0, "%s", err);
  c.model = "cnn";
  c.resume = true;
  c.stop_after_steps = 0;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "'mlp'") && strstr(err, "'cnn'"), "%s", err);
  fclose(c.log);
}

Test(trainer, missing_dataset_says_how_to_get_it) {
  ax_train_config c = base_config("mlp");
  c.data_dir = "/nonexistent/fashion";
  char err[512] = "";
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "/nonexistent/fashion") && strstr(err, "dataset-fashion-mnist"), "%s", err);
  fclose(c.log);
}

Test(trainer, cnn_learns_a_slice_of_fashion_mnist) {
  if (access("/usr/share/datasets/fashion-mnist", F_OK) != 0) {
    cr_skip_test("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
  }
  ax_train_config c = base_config("cnn");
  c.data_dir = NULL;
  c.epochs = 1;
  c.batch_size = 64;
  c.limit_train = 3000;
  c.limit_test = 1000;
  ax_train_report r;
  char err[512] = "";
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  cr_assert_gt(r.test_accuracy, 0.65, "accuracy %.3f after one epoch on 3000 images", r.test_accuracy);
}

static int run(const char *args) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "%s/axon %s >/dev/null 2>&1", AXON_BINARY_DIR, args);
  int s = system(cmd);
  return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

Test(trainer, command_line_exit_codes) {
  cr_assert_eq(run("train --bogus"), 2);
  cr_assert_eq(run("train --epochs"), 2);
  cr_assert_eq(run("train --epochs x"), 2);
  cr_assert_eq(run("train --device tpu"), 2);
  cr_assert_eq(run("train --model foo"), 2);
  cr_assert_eq(run("train --optimizer lion"), 2);
  cr_assert_eq(run("train --epochs 0"), 2);
  cr_assert_eq(run("eval --weights x --model foo"), 2);
  cr_assert_eq(run("train --help"), 0);
  cr_assert_eq(run("eval"), 2);
  char args[256];
  snprintf(args, sizeof args, "train --data-dir %s/none --no-save", dir); /* a flag naming no folder: usage */
  cr_assert_eq(run(args), 2);
  snprintf(args, sizeof args, "train --data-dir /tmp --no-save"); /* a folder without the files: the run fails */
  cr_assert_eq(run(args), 1);
}

/* Reads the "step" metadata of DIR/checkpoint.safetensors (-1 when unreadable). */
static int64_t checkpoint_step(const char *ckdir) {
  char path[256], err[256];
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", ckdir);
  ax_state_dict *sd = ax_load_safetensors(path, err, sizeof err);
  const char *v = sd ? ax_state_dict_meta(sd, "step") : NULL;
  int64_t s = v ? atoll(v) : -1;
  ax_state_dict_free(sd);
  return s;
}

/* A loss that becomes inf at step 5 stops the run there: the message names the step, the
 * checkpoint written after step 4 is the one left, and the weights file is not written. */
Test(trainer, divergence_stops_and_keeps_the_last_good_checkpoint) {
  ax_train_config c = base_config("mlp");
  char ck[128], weights[128], err[512] = "";
  snprintf(ck, sizeof ck, "%s/ck_div", dir);
  snprintf(weights, sizeof weights, "%s/div.safetensors", dir);
  c.checkpoint_dir = ck;
  c.checkpoint_every = 1;
  c.save_path = weights;
  c.poison_step = 5;
  ax_train_report r;
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), -1, "a diverged run must fail");
  cr_assert(strstr(err, "at step 5") && strstr(err, "inf") && strstr(err, "diverged"), "%s", err);
  cr_assert_eq(checkpoint_step(ck), 4, "the checkpoint must be the one after the last good step");
  cr_assert_neq(access(weights, F_OK), 0, "the weights file must not be written");
  /* --allow-nonfinite: the same run goes on to the end and writes its weights */
  c.allow_nonfinite = true;
  c.checkpoint_dir = NULL;
  c.checkpoint_every = 0;
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  cr_assert_eq(r.epochs_done, 2);
  cr_assert_eq(access(weights, F_OK), 0);
}

/* A run of one batch (the onecycle schedule over one step) trains instead of aborting. */
Test(trainer, one_step_onecycle_run) {
  ax_train_config c = base_config("mlp");
  c.epochs = 1;
  c.batch_size = 1024; /* 640 images: one batch */
  ax_train_report r;
  char err[512] = "";
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  cr_assert_eq(r.steps_done, 1);
}

/* Labels beyond the model's 10 classes and images of another size are errors before training. */
Test(trainer, data_that_does_not_fit_the_model) {
  unsigned char lab[640];
  for (int i = 0; i < 640; i++) lab[i] = (unsigned char)(i % 10);
  lab[17] = 10;
  cr_assert(tu_write_idx_u8(dir, "train-labels-idx1-ubyte", 1, (int[]){640}, lab, 640));
  ax_train_config c = base_config("cnn");
  char err[512] = "";
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "label 10 of image 17") && strstr(err, "10 classes"), "%s", err);
  unsigned char *img = calloc(640, 32 * 32);
  cr_assert(tu_write_idx_u8(dir, "train-images-idx3-ubyte", 3, (int[]){640, 32, 32}, img, 640 * 32 * 32));
  free(img);
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  fclose(c.log);
  cr_assert(strstr(err, "32x32") && strstr(err, "28x28"), "%s", err);
}

/* --max-steps shorter than --warmup-steps: one warning line, none when the warm-up fits. */
Test(trainer, warns_when_the_warmup_spans_the_run) {
  char logpath[128], line[512];
  snprintf(logpath, sizeof logpath, "%s/warmup.txt", dir);
  for (int warm = 0; warm < 2; warm++) {
    ax_train_config c = base_config("mlp");
    fclose(c.log);
    c.log = fopen(logpath, "w");
    c.epochs = 1;
    c.max_steps = 3;
    c.warmup_steps = warm ? 5 : 2;
    ax_train_report r;
    char err[512] = "";
    cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
    fclose(c.log);
    cr_assert_eq(r.steps_done, 3);
    FILE *f = fopen(logpath, "r");
    cr_assert_not_null(f);
    int said = 0;
    while (fgets(line, sizeof line, f)) said += strstr(line, "warning: --warmup-steps 5 >= the run's 3 steps") != NULL;
    fclose(f);
    cr_expect_eq(said, warm, "warm-up %d of 3 steps: %d warnings", c.warmup_steps, said);
  }
  remove(logpath);
}

/* The '\r' progress bar is drawn only on a terminal that no launcher started: under mpirun
 * a rank's stdout is a pseudo-terminal even when mpirun's output goes into a pipe. */
Test(trainer, progress_bar_only_on_a_terminal_without_a_launcher) {
  int master, slave;
  cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
  struct termios tio;
  cr_assert_eq(tcgetattr(slave, &tio), 0);
  cfmakeraw(&tio); /* no \n -> \r\n translation: every '\r' read back is the program's */
  cr_assert_eq(tcsetattr(slave, TCSANOW, &tio), 0);
  FILE *tty = fdopen(slave, "w");
  cr_assert_not_null(tty);
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  FILE *piped = fdopen(fds[1], "w");
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_STEP_ID"};
  for (int i = 0; i < 4; i++) cr_assert_null(getenv(vars[i]), "the test runs outside a launcher");
  cr_expect(ax_tool_is_terminal(tty));
  cr_expect_not(ax_tool_is_terminal(piped));
  cr_expect_not(ax_tool_is_terminal(NULL));
  for (int i = 0; i < 4; i++) {
    setenv(vars[i], "1", 1);
    cr_expect_not(ax_tool_is_terminal(tty), "a terminal under %s is a launcher's", vars[i]);
    unsetenv(vars[i]);
  }
  cr_expect(ax_tool_is_terminal(tty));
  /* a short run on the terminal draws the bar ('\r'); written into the pipe, plain lines */
  for (int on_tty = 1; on_tty >= 0; on_tty--) {
    ax_train_config c = base_config("mlp");
    fclose(c.log);
    c.log = on_tty ? tty : piped;
    c.progress = -1; /* decide from the stream */
    c.epochs = 1;
    c.max_steps = 2;
    ax_train_report r;
    char err[512] = "";
    cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
    fflush(c.log);
    int rfd = on_tty ? master : fds[0];
    fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
    char buf[65536];
    ssize_t n, total = 0;
    int crs = 0;
    while ((n = read(rfd, buf, sizeof buf)) > 0)
      for (ssize_t i = 0; i < n; i++) crs += buf[i] == '\r', total++;
    cr_expect_gt(total, 0, "nothing written");
    if (on_tty) cr_expect_gt(crs, 0, "no progress bar on a terminal");
    else cr_expect_eq(crs, 0, "%d carriage returns written into a pipe", crs);
  }
  fclose(tty);
  fclose(piped);
  close(master);
  close(fds[0]);
}

/* ---- issue 18: self-describing weights ---- */

/* A weights file trained on a subset: the trainer's final test metrics and axon eval's on
 * the saved file are the same (both normalize as the file records). */
static void train_then_eval(bool norm_subset, const char *stats) {
  ax_train_config c = base_config("mlp");
  char w[128], err[512] = "";
  snprintf(w, sizeof w, "%s/w.safetensors", dir);
  c.epochs = 1, c.limit_train = 300, c.limit_test = 150, c.save_path = w, c.norm_subset = norm_subset;
  ax_train_report r;
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  ax_state_dict *sd = ax_load_safetensors(w, err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  cr_assert_str_eq(ax_state_dict_meta(sd, "axon_model"), "mlp");
  cr_assert_str_eq(ax_state_dict_meta(sd, "axon_input_shape"), "1,28,28");
  cr_assert_str_eq(ax_state_dict_meta(sd, "axon_num_classes"), "10");
  cr_assert_str_eq(ax_state_dict_meta(sd, "axon_norm_stats"), stats);
  cr_assert_not_null(ax_state_dict_meta(sd, "axon_norm_mean"));
  cr_assert_not_null(ax_state_dict_meta(sd, "axon_norm_std"));
  ax_state_dict_free(sd);
  ax_eval_result er = {0};
  double acc = -1;
  ax_eval_config e = {.weights = w, .dataset = "fashion-mnist", .data_dir = dir, .batch_size = 500, .device = AX_CPU,
                      .limit_test = 150, .out = fopen("/dev/null", "w"), .result = &er};
  cr_assert_eq(ax_eval(&e, &acc, err, sizeof err), 0, "%s", err);
  fclose(e.out);
  cr_assert_eq(acc, r.test_accuracy, "eval %.6f vs train %.6f", acc, r.test_accuracy);
  cr_assert_float_eq(er.loss, r.test_loss, 1e-9, "eval loss %.9f vs train %.9f", er.loss, r.test_loss);
}

Test(trainer, train_and_eval_agree_on_a_subset) { train_then_eval(false, "full"); }
Test(trainer, train_and_eval_agree_with_subset_statistics) { train_then_eval(true, "subset"); }

/* Full-set statistics by default: the same whatever --limit-train takes; subset ones differ. */
Test(trainer, subset_normalizes_with_the_full_training_set) {
  ax_dataset *tr = ax_mnist_like_load(dir, "fashion-mnist", true, NULL, 0);
  ax_dataset *te = ax_mnist_like_load(dir, "fashion-mnist", false, NULL, 0);
  cr_assert(tr && te);
  float m[3], s[3], full_m, full_s;
  ax_dataset_channel_stats(tr, NULL, ax_dataset_size(tr), &full_m, &full_s);
  for (int k = 0; k < 3; k++) {
    ax_image_data_opts o = {.train = tr, .test = te, .limit_train = k == 0 ? 0 : 7, .batch_size = 4, .norm_subset = k == 2};
    ax_image_data *d = ax_image_data_new(&o, NULL, 0);
    cr_assert_not_null(d);
    cr_assert_eq(ax_image_data_norm(d, &m[k], &s[k], 1), 1);
    ax_image_data_free(d);
  }
  cr_assert(m[0] == full_m && s[0] == full_s && m[1] == full_m && s[1] == full_s);
  cr_assert(m[2] != full_m, "subset statistics should differ from the full set's");
  ax_dataset_free(tr);
  ax_dataset_free(te);
}

static int eval_file(const char *w, const char *model, char *out, size_t outlen, char *err, size_t errlen) {
  ax_eval_config e = {.weights = w, .model = model, .dataset = "fashion-mnist", .data_dir = dir, .batch_size = 100,
                      .device = AX_CPU, .limit_test = 50, .out = fmemopen(out, outlen, "w")};
  int rc = ax_eval(&e, NULL, err, errlen);
  fclose(e.out);
  return rc;
}

/* A file whose model disagrees with --model is an error naming both; a file without the
 * metadata (an older one) is evaluated with a one-line note saying so. */
Test(trainer, eval_checks_the_weights_metadata) {
  ax_module *m = ax_model_create("mlp", NULL, 0);
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(m, sd);
  char old[128], gpt[128], mlp[128], err[512] = "", out[8192] = "";
  snprintf(old, sizeof old, "%s/old.safetensors", dir);
  snprintf(gpt, sizeof gpt, "%s/gpt.safetensors", dir);
  snprintf(mlp, sizeof mlp, "%s/mlp.safetensors", dir);
  cr_assert_eq(ax_save_safetensors(old, sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_set_meta(sd, "axon_model", "mlp");
  cr_assert_eq(ax_save_safetensors(mlp, sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_set_meta(sd, "axon_model", "gpt");
  cr_assert_eq(ax_save_safetensors(gpt, sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  ax_module_free(m);
  cr_assert_eq(eval_file(gpt, "cnn", out, sizeof out, err, sizeof err), -1);
  cr_assert(strstr(err, "'gpt'") && strstr(err, "'cnn'") && strstr(err, gpt), "%s", err);
  cr_assert_eq(eval_file(mlp, "cnn", out, sizeof out, err, sizeof err), -1);
  cr_assert(strstr(err, "'mlp'") && strstr(err, "'cnn'"), "%s", err);
  cr_assert_eq(eval_file(old, "mlp", out, sizeof out, err, sizeof err), 0, "%s", err);
  cr_assert(strstr(out, "note: ") && strstr(out, "records no input normalization"), "%s", out);
  cr_assert_eq(eval_file(mlp, NULL, out, sizeof out, err, sizeof err), 0, "%s", err);
  cr_assert(strstr(out, "records no input normalization") && !strstr(out, "names no model"), "%s", out);
}

/* ---- issue 18: training on the user's arrays (--data-csv, --data-npz) ---- */

/* Two classes that one feature separates (x0 > 0), a noise feature, a header. */
static void write_csv(const char *path, int n, bool ragged) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "noise,signal,kind\n");
  for (int i = 0; i < n; i++) {
    int k = i % 2;
    fprintf(f, "%d,%g,%d\n", (i * 37) % 11, (k ? 1.0 : -1.0) * (1 + (i % 5) * 0.1), k);
    if (ragged && i == 7) fprintf(f, "1,2\n");
  }
  fclose(f);
}

Test(trainer, feature_mlp_learns_a_csv_and_records_its_normalization) {
  char csv[128], w[128], err[512] = "";
  snprintf(csv, sizeof csv, "%s/d.csv", dir);
  snprintf(w, sizeof w, "%s/f.safetensors", dir);
  write_csv(csv, 200, false);
  ax_train_config c = base_config("mlp");
  c.data_csv = csv, c.label_col = "kind", c.epochs = 5, c.save_path = w;
  ax_train_report r;
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  cr_assert_gt(r.test_accuracy, 0.97, "accuracy %.3f", r.test_accuracy);
  ax_state_dict *sd = ax_load_safetensors(w, err, sizeof err);
  cr_assert_not_null(sd, "%s", err);
  cr_assert_str_eq(ax_state_dict_meta(sd, "axon_input_shape"), "2");
  cr_assert_str_eq(ax_state_dict_meta(sd, "axon_num_classes"), "2");
  /* the training split's statistics, per feature: noise in [0, 10], signal centred on 0 */
  const char *m = ax_state_dict_meta(sd, "axon_norm_mean");
  cr_assert(m && strchr(m, ','), "%s", m);
  cr_assert(fabs(strtod(strchr(m, ',') + 1, NULL)) < 0.2, "%s", m);
  ax_state_dict_free(sd);
  /* given to an image model, they are an error naming both models' inputs */
  ax_eval_config e = {.weights = w, .model = "cnn", .dataset = "fashion-mnist", .data_dir = dir, .batch_size = 100,
                      .device = AX_CPU, .out = fopen("/dev/null", "w"), .data_csv = csv};
  cr_assert_eq(ax_eval(&e, NULL, err, sizeof err), -1);
  fclose(e.out);
  cr_assert(strstr(err, "feature MLP") && strstr(err, "'cnn'"), "%s", err);
}

Test(trainer, bad_csv_and_wrong_model_are_errors) {
  char csv[128], err[512] = "";
  snprintf(csv, sizeof csv, "%s/bad.csv", dir);
  write_csv(csv, 40, true);
  ax_train_config c = base_config("mlp");
  c.data_csv = csv;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, csv) && strstr(err, "line 10 has 2 columns"), "%s", err);
  write_csv(csv, 40, false);
  c.model = "cnn";
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "--model mlp") && strstr(err, "cnn"), "%s", err);
  c.model = "mlp";
  c.test_size = 40;
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), -1);
  cr_assert(strstr(err, "40 rows cannot give a test set of 40"), "%s", err);
  fclose(c.log);
}

Test(trainer, feature_mlp_trains_on_an_npz) {
  char err[512] = "";
  ax_train_config c = base_config("mlp");
  c.data_npz = AXON_SOURCE_DIR "/tests/fixtures/arrays/deflated.npz"; /* x [4, 3] f32, y [4] i64 (NumPy) */
  c.test_size = 1, c.epochs = 1, c.batch_size = 2;
  ax_train_report r;
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  cr_assert_eq(r.steps_done, 2);
  c.data_npz = AXON_SOURCE_DIR "/tests/fixtures/arrays/f4.npy"; /* not a zip */
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), -1);
  cr_assert(strstr(err, "not a zip archive"), "%s", err);
  fclose(c.log);
}

/* ---- issue 18: metrics files ---- */

/* --log-every N: a step line every N steps on screen and in the metrics file, with the
 * same train loss (the mean of the epoch's step losses so far) and step loss; every line
 * of the file carries the run id. */
Test(trainer, log_every_writes_the_same_numbers_on_screen_and_in_the_file) {
  ax_train_config c = base_config("mlp");
  char metrics[128], screen[128], err[512] = "";
  snprintf(metrics, sizeof metrics, "%s/m.jsonl", dir);
  snprintf(screen, sizeof screen, "%s/screen.txt", dir);
  fclose(c.log);
  c.log = fopen(screen, "w");
  c.metrics_path = metrics, c.log_every = 3, c.limit_train = 192, c.epochs = 2; /* 6 steps per epoch */
  cr_assert_eq(ax_train(&c, NULL, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  FILE *s = fopen(screen, "r"), *f = fopen(metrics, "r");
  cr_assert(s && f);
  char line[2048];
  double screen_loss[8], screen_step[8];
  int ns = 0, nf = 0, epochs = 0;
  while (fgets(line, sizeof line, s)) {
    long long st;
    int ep;
    double tl, sl;
    if (sscanf(line, "step %lld  epoch %d  train loss %lf  step loss %lf", &st, &ep, &tl, &sl) == 4) {
      cr_assert_lt(ns, 8);
      cr_assert_eq(st, 3 * (ns + 1));
      screen_loss[ns] = tl, screen_step[ns++] = sl;
    }
  }
  while (fgets(line, sizeof line, f)) {
    cr_assert(strstr(line, "\"run_id\": \""), "no run id: %s", line);
    char *p = strstr(line, "{\"step\": ");
    if (!p) {
      epochs += strstr(line, "{\"epoch\": ") != NULL;
      continue;
    }
    cr_assert_lt(nf, ns);
    double tl = strtod(strstr(line, "\"train_loss\": ") + 14, NULL), sl = strtod(strstr(line, "\"loss\": ") + 8, NULL);
    cr_assert_eq(strtoll(p + 9, NULL, 10), 3 * (nf + 1), "%s", line);
    cr_assert_float_eq(tl, screen_loss[nf], 0.6e-4, "step %d: file %.6f, screen %.4f", 3 * (nf + 1), tl, screen_loss[nf]);
    cr_assert_float_eq(sl, screen_step[nf], 0.6e-4, "step %d: file %.6f, screen %.4f", 3 * (nf + 1), sl, screen_step[nf]);
    nf++;
  }
  fclose(s);
  fclose(f);
  cr_assert_eq(ns, 4);
  cr_assert_eq(nf, 4);
  cr_assert_eq(epochs, 2);
}

/* The feature MLP's weights name their data and split: axon eval scores them as training's
 * last test pass did; data of another shape is an error naming both. */
Test(trainer, eval_of_the_feature_mlp_agrees_with_training) {
  char csv[128], w[128], other[128], err[512] = "";
  snprintf(csv, sizeof csv, "%s/d.csv", dir);
  snprintf(other, sizeof other, "%s/o.csv", dir);
  snprintf(w, sizeof w, "%s/f.safetensors", dir);
  write_csv(csv, 150, false);
  ax_train_config c = base_config("mlp");
  c.data_csv = csv, c.label_col = "kind", c.epochs = 2, c.save_path = w, c.seed = 5, c.test_size = 40;
  ax_train_report r;
  cr_assert_eq(ax_train(&c, &r, err, sizeof err), 0, "%s", err);
  fclose(c.log);
  ax_eval_result er = {0};
  double acc = -1;
  ax_eval_config e = {.weights = w, .dataset = "fashion-mnist", .batch_size = 500, .device = AX_CPU,
                      .out = fopen("/dev/null", "w"), .result = &er};
  cr_assert_eq(ax_eval(&e, &acc, err, sizeof err), 0, "%s", err);
  cr_assert_eq(acc, r.test_accuracy);
  cr_assert_float_eq(er.loss, r.test_loss, 1e-9, "eval %.9f, train %.9f", er.loss, r.test_loss);
  FILE *f = fopen(other, "w");
  fprintf(f, "a,b,c,kind\n");
  for (int i = 0; i < 60; i++) fprintf(f, "%d,%d,%d,%d\n", i, i + 1, i + 2, i % 2);
  fclose(f);
  e.data_csv = other;
  e.label_col = "kind";
  cr_assert_eq(ax_eval(&e, &acc, err, sizeof err), -1);
  cr_assert(strstr(err, "[2] (axon_input_shape)") && strstr(err, "holds [3]"), "%s", err);
  fclose(e.out);
}
