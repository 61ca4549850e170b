/* SPDX-License-Identifier: BSD-3-Clause */
/* The model zoo: state_dict keys, parameter counts and printed reprs equal to
 * the same architectures in PyTorch (tests/fixtures/make_nn.py), forward and
 * backward on a batch, train/eval behaviour, reproducible construction and a
 * state dict round trip through a safetensors file. */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "fixtures/nn_ref.h"

TestSuite(models, .init = tu_capture_errors);

typedef struct model_ref {
  const char *name;
  const char *const *keys;
  int num_keys, num_param_tensors;
  long long num_params;
  const char *repr;
} model_ref;

static const model_ref refs[] = {
    {"mlp", mlp_keys, 6, 6, 235146, mlp_repr},
    {"cnn", cnn_keys, 18, 12, 421834, cnn_repr},
    {"resnet", resnet_keys, 82, 43, 695658, resnet_repr},
};

Test(models, fixture_sizes_agree) {
  cr_expect_eq(mlp_num_keys, refs[0].num_keys);
  cr_expect_eq(cnn_num_keys, refs[1].num_keys);
  cr_expect_eq(resnet_num_keys, refs[2].num_keys);
  cr_expect_eq(mlp_num_param_tensors, refs[0].num_param_tensors);
  cr_expect_eq(cnn_num_param_tensors, refs[1].num_param_tensors);
  cr_expect_eq(resnet_num_param_tensors, refs[2].num_param_tensors);
  cr_expect_eq(mlp_num_params, refs[0].num_params);
  cr_expect_eq(cnn_num_params, refs[1].num_params);
  cr_expect_eq(resnet_num_params, refs[2].num_params);
}

Test(models, names_counts_and_repr_match_pytorch) {
  for (int k = 0; k < 3; k++) {
    const model_ref *r = &refs[k];
    char err[256];
    ax_module *m = ax_model_create(r->name, err, sizeof err);
    cr_assert_not_null(m, "%s: %s", r->name, err);
    ax_state_dict *sd = ax_state_dict_new();
    cr_assert_eq(ax_module_state_dict(m, sd), 0);
    cr_expect_eq(ax_state_dict_size(sd), r->num_keys, "%s", r->name);
    for (int i = 0; i < r->num_keys && i < ax_state_dict_size(sd); i++)
      cr_expect_str_eq(ax_state_dict_name(sd, i), r->keys[i], "%s key %d", r->name, i);
    ax_state_dict_free(sd);
    cr_expect_eq(ax_module_parameters(m, NULL, 0), r->num_param_tensors, "%s", r->name);
    cr_expect_eq(ax_module_num_parameters(m), r->num_params, "%s", r->name);
    size_t need = ax_module_repr(m, NULL, 0);
    char *repr = malloc(need + 1);
    ax_module_repr(m, repr, need + 1);
    cr_expect_str_eq(repr, r->repr, "%s", r->name);
    free(repr);
    ax_module_free(m);
  }
}

Test(models, resnet_size_is_in_range) {
  ax_module *m = ax_model_resnet();
  int64_t n = ax_module_num_parameters(m);
  cr_expect(n >= 300000 && n <= 1000000, "%lld parameters", (long long)n);
  ax_module_free(m);
}

Test(models, unknown_name_lists_the_choices) {
  char err[256];
  cr_expect_null(ax_model_create("vgg", err, sizeof err));
  cr_expect(strstr(err, "'vgg'") && strstr(err, "mlp") && strstr(err, "cnn") && strstr(err, "resnet"), "%s", err);
  cr_expect_null(ax_model_create(NULL, err, sizeof err));
  cr_expect_str_eq(ax_model_names(), "mlp, cnn, resnet, autoencoder, vae, gan");
  ax_module *d = ax_model_create(AX_MODEL_DEFAULT, err, sizeof err);
  cr_expect_not_null(d);
  ax_module_free(d);
}

Test(models, forward_backward_gives_every_parameter_a_gradient) {
  for (int k = 0; k < 3; k++) {
    ax_scope_begin();
    ax_manual_seed(3);
    ax_module *m = ax_model_create(refs[k].name, NULL, 0);
    cr_assert_not_null(m);
    ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 1, 28, 28));
    ax_tensor *y = ax_module_forward(m, x);
    cr_assert_not_null(y, "%s: %s", refs[k].name, ax_last_error());
    cr_expect(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 10, "%s", refs[k].name);
    ax_tensor *labels = ax_from_data((int64_t[]){3, 7}, AX_SHAPE(2), &(ax_tensor_opts){.dtype = AX_I64});
    ax_tensor *loss = ax_cross_entropy(y, labels, NULL);
    cr_assert_eq(ax_backward(loss, NULL), 0, "%s", ax_last_error());
    const char *names[128];
    ax_tensor *ps[128];
    int n = ax_module_named_parameters(m, names, ps, 128);
    for (int i = 0; i < n; i++) {
      cr_assert_not_null(ps[i]->grad, "%s: %s has no gradient", refs[k].name, names[i]);
      cr_expect(ax_same_shape(ps[i]->grad, ps[i]));
      double norm = ax_item(ax_norm(ps[i]->grad, 2, AX_ALL, false));
      cr_expect(isfinite(norm) && norm > 0, "%s: %s gradient norm %g", refs[k].name, names[i], norm);
    }
    ax_module_free(m);
    ax_scope_end();
  }
}

Test(models, train_and_eval_modes) {
  ax_scope_begin();
  ax_manual_seed(5);
  ax_module *m = ax_model_cnn();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(4, 1, 28, 28));
  ax_tensor *rm = ax_module_tensor(m, "features.1.running_mean");
  ax_tensor *rm0 = ax_clone(rm);
  ax_tensor *a = ax_module_forward(m, x), *b = ax_module_forward(m, x);
  cr_assert(a && b, "%s", ax_last_error());
  cr_expect(!tu_allclose(a, b, 1e-6, 0), "training: dropout masks differ between calls");
  cr_expect(!tu_allclose(rm, rm0, 1e-7, 0), "training: running statistics move");
  cr_expect_eq(ax_item(ax_module_tensor(m, "features.5.num_batches_tracked")), 2);
  ax_module_train(m, false);
  ax_tensor *rm1 = ax_clone(rm);
  a = ax_module_forward(m, x);
  b = ax_module_forward(m, x);
  cr_expect(tu_allclose(a, b, 0, 0), "eval: deterministic");
  cr_expect(tu_allclose(rm, rm1, 0, 0), "eval: running statistics frozen");
  /* eval on one image gives the same logits as within the batch (no batch statistics) */
  ax_tensor *one = ax_module_forward(m, ax_narrow(x, 0, 1, 1));
  cr_expect(tu_allclose(one, ax_narrow(a, 0, 1, 1), 1e-5, 1e-4));
  ax_module_free(m);
  ax_scope_end();
}

Test(models, construction_is_reproducible) {
  ax_manual_seed(11);
  ax_module *a = ax_model_mlp();
  ax_manual_seed(11);
  ax_module *b = ax_model_mlp();
  ax_module *c = ax_model_mlp(); /* continues the stream: different */
  ax_tensor *pa[6], *pb[6], *pc[6];
  ax_module_parameters(a, pa, 6);
  ax_module_parameters(b, pb, 6);
  ax_module_parameters(c, pc, 6);
  ax_scope_begin();
  for (int i = 0; i < 6; i++) cr_expect(tu_allclose(pa[i], pb[i], 0, 0), "tensor %d", i);
  cr_expect(!tu_allclose(pa[0], pc[0], 1e-9, 0));
  ax_scope_end();
  ax_module_free(a);
  ax_module_free(b);
  ax_module_free(c);
}

Test(models, state_dict_round_trip_through_safetensors) {
  ax_scope_begin();
  ax_manual_seed(1);
  ax_module *m = ax_model_resnet();
  ax_tensor *x = tu_randn(AX_F32, AX_SHAPE(2, 1, 28, 28));
  ax_module_forward(m, x); /* running statistics away from their initial values */
  ax_module_train(m, false);
  ax_tensor *want = ax_module_forward(m, x);
  char path[] = "/tmp/axon_test_models_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  ax_state_dict *sd = ax_state_dict_new();
  ax_module_state_dict(m, sd);
  char err[512];
  cr_assert_eq(ax_save_safetensors(path, sd, err, sizeof err), 0, "%s", err);
  ax_state_dict_free(sd);
  ax_module_free(m);

  ax_manual_seed(2);
  ax_module *fresh = ax_model_resnet();
  ax_module_train(fresh, false);
  cr_expect(!tu_allclose(ax_module_forward(fresh, x), want, 1e-4, 0));
  ax_state_dict *loaded = ax_load_safetensors(path, err, sizeof err);
  cr_assert_not_null(loaded, "%s", err);
  unlink(path);
  cr_assert_eq(ax_module_load_state_dict(fresh, loaded, true, err, sizeof err), 0, "%s", err);
  cr_expect(tu_allclose(ax_module_forward(fresh, x), want, 0, 0));
  cr_expect_eq(ax_item(ax_module_tensor(fresh, "layer1.0.bn1.num_batches_tracked")), 1);

  /* a checkpoint of another architecture is refused with the offending keys named */
  ax_module *cnn = ax_model_cnn();
  cr_expect_eq(ax_module_load_state_dict(cnn, loaded, true, err, sizeof err), -1);
  cr_expect(strstr(err, "missing") && strstr(err, "'features.0.weight'") && strstr(err, "unexpected"), "%s", err);
  ax_module_free(cnn);
  ax_state_dict_free(loaded);
  ax_module_free(fresh);
  ax_scope_end();
}

Test(models, print_summary) {
  ax_module *m = ax_model_cnn();
  FILE *f = tmpfile();
  ax_module_print(m, f);
  rewind(f);
  char buf[4096] = "";
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  cr_expect(strncmp(buf, cnn_repr, strlen(cnn_repr)) == 0);
  cr_expect(strstr(buf, "Parameters: 421834 (12 tensors)") != NULL, "%s", buf);
  ax_module_free(m);
}
