/* SPDX-License-Identifier: BSD-3-Clause */
/* Library constructors never abort on bad arguments: with a handler installed they
 * return NULL (or -1) and leave a message naming the argument in ax_last_error();
 * only the default handler (print and abort) ends the process, on purpose. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>

#include "testutil.h"

TestSuite(constructors, .init = tu_capture_errors);

#define EXPECT_NULL_WITH(call, ...)                                              \
  do {                                                                           \
    tu_reset_errors();                                                           \
    void *got_ = (void *)(call);                                                 \
    cr_expect_null(got_, "%s should fail", #call);                               \
    cr_expect(tu_error_count() >= 1, "%s: no error reported", #call);            \
    cr_expect(tu_error_contains(__VA_ARGS__, NULL), "%s: %s", #call, ax_last_error()); \
  } while (0)

Test(constructors, dropout_probability_outside_0_1) {
  EXPECT_NULL_WITH(ax_nn_dropout(2), "ax_nn_dropout", "[0, 1]", "2");
  EXPECT_NULL_WITH(ax_nn_dropout(-0.5), "ax_nn_dropout", "-0.5");
  EXPECT_NULL_WITH(ax_nn_dropout(NAN), "ax_nn_dropout", "nan");
  ax_module *ok = ax_nn_dropout(0.5);
  cr_assert_not_null(ok, "%s", ax_last_error());
  ax_module_free(ok);
}

Test(constructors, rnn_sizes_and_layers) {
  EXPECT_NULL_WITH(ax_nn_lstm(4, 8, &(ax_nn_rnn_opts){.num_layers = -1}), "num_layers", "-1");
  EXPECT_NULL_WITH(ax_nn_lstm(4, 0, NULL), "hidden_size=0");
  EXPECT_NULL_WITH(ax_nn_lstm(4, 8, &(ax_nn_rnn_opts){.num_layers = 2, .dropout = 2}), "dropout=2");
  EXPECT_NULL_WITH(ax_model_char_lstm(64, 128, 0, 0), "ax_model_char_lstm", "layers");
  EXPECT_NULL_WITH(ax_model_char_lstm(64, 128, 2, 2), "dropout");
}

Test(constructors, layers) {
  EXPECT_NULL_WITH(ax_nn_linear(-1, 4, true), "ax_nn_linear", "in_features=-1");
  EXPECT_NULL_WITH(ax_nn_embedding(-3, 4), "ax_nn_embedding", "num_embeddings=-3");
  EXPECT_NULL_WITH(ax_nn_multihead_attention(10, 3, NULL), "ax_nn_multihead_attention", "10", "3");
  EXPECT_NULL_WITH(ax_nn_conv2d(0, 4, 3, NULL), "channels");
}

Test(constructors, gpt_config_fields_and_caps) {
  ax_gpt_config c = ax_gpt_config_default();
  c.n_head = 3;
  EXPECT_NULL_WITH(ax_model_gpt(&c), "ax_model_gpt", "n_embd=256", "n_head=3");
  c = ax_gpt_config_default();
  c.n_layer = 1000000000; /* would take hours to build: refused at once */
  EXPECT_NULL_WITH(ax_model_gpt(&c), "n_layer=1000000000");
  c = ax_gpt_config_default();
  c.block_size = 100000000000LL; /* a 1e11-position embedding */
  EXPECT_NULL_WITH(ax_model_gpt(&c), "block_size=100000000000");
  c = ax_gpt_config_default();
  c.n_layer = 1024, c.n_embd = 65536, c.n_head = 1024; /* each field in range, the product is not */
  EXPECT_NULL_WITH(ax_model_gpt(&c), "parameters");
  c = ax_gpt_config_default();
  c.dropout = 1.5;
  EXPECT_NULL_WITH(ax_model_gpt(&c), "dropout=1.5");
  char err[256];
  c = ax_gpt_config_default();
  cr_expect_eq(ax_gpt_config_check(&c, err, sizeof err), 0, "%s", err);
}

Test(constructors, optimizers_reject_bad_learning_rates) {
  ax_scope_begin();
  ax_tensor *w = ax_persist(tu_leaf(tu_randn(AX_F32, 1, (int64_t[]){4})));
  ax_scope_end();
  ax_tensor *ps[] = {w};
  double bad[] = {INFINITY, -1, NAN, 0};
  for (int i = 0; i < 4; i++) {
    EXPECT_NULL_WITH(ax_sgd(ps, 1, &(ax_sgd_opts){.lr = bad[i]}), "ax_sgd", "lr");
    EXPECT_NULL_WITH(ax_adam(ps, 1, &(ax_adam_opts){.lr = bad[i]}), "lr");
    EXPECT_NULL_WITH(ax_adamw(ps, 1, &(ax_adam_opts){.lr = bad[i]}), "lr");
    EXPECT_NULL_WITH(ax_rmsprop(ps, 1, &(ax_rmsprop_opts){.lr = bad[i]}), "lr");
  }
  EXPECT_NULL_WITH(ax_sgd(ps, 1, &(ax_sgd_opts){.lr = 0.1, .weight_decay = -1}), "weight_decay");
  EXPECT_NULL_WITH(ax_adam(ps, 1, &(ax_adam_opts){.lr = 0.1, .beta1 = 1.5}), "betas");
  EXPECT_NULL_WITH(ax_sgd(ps, 0, &(ax_sgd_opts){.lr = 0.1}), "empty parameter list");
  ax_free(w);
}

Test(constructors, schedules_reject_bad_values) {
  EXPECT_NULL_WITH(ax_lr_constant(INFINITY), "ax_lr_constant", "finite");
  EXPECT_NULL_WITH(ax_lr_constant(-1), "ax_lr_constant", "-1");
  EXPECT_NULL_WITH(ax_lr_cosine(NAN, 10, 0), "ax_lr_cosine");
  EXPECT_NULL_WITH(ax_lr_onecycle(0.1, 0, NULL), "ax_lr_onecycle", "total_steps");
  EXPECT_NULL_WITH(ax_lr_onecycle(0.1, 10, &(ax_onecycle_opts){.div_factor = INFINITY}), "div_factor");
  EXPECT_NULL_WITH(ax_lr_exponential(0.1, -2), "gamma");
  EXPECT_NULL_WITH(ax_lr_warmup(ax_lr_constant(0.1), -1, 0.5), "warmup_steps");
}

Test(constructors, loss_scaler_and_communicator) {
  EXPECT_NULL_WITH(ax_loss_scaler_new(&(ax_loss_scaler_opts){.init_scale = -1}), "ax_loss_scaler_new");
  tu_reset_errors();
  cr_expect_eq(ax_comm_set_timeout(ax_comm_world(), -5), -1);
  cr_expect(tu_error_contains("ax_comm_set_timeout", "-5", NULL), "%s", ax_last_error());
  cr_expect_eq(ax_comm_set_timeout(ax_comm_world(), INFINITY), -1);
  cr_expect_eq(ax_comm_set_timeout(ax_comm_world(), 7.5), 0);
  cr_expect_float_eq(ax_comm_timeout(ax_comm_world()), 7.5, 1e-12);
}

/* Programs that install no handler keep the default: print the message and abort. */
Test(constructors, the_default_handler_still_aborts, .signal = SIGABRT) {
  ax_set_error_handler(NULL, NULL);
  ax_nn_dropout(2);
}
