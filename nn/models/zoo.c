/* SPDX-License-Identifier: BSD-3-Clause */
/* The model zoo by name, for the command line and the trainer. */
#include <string.h>

#include "axon.h"
#include "axon/generative.h"
#include "core/fail.h"

typedef struct zoo_entry {
  const char *name;
  ax_module *(*create)(void);
} zoo_entry;

static const zoo_entry zoo[] = {{"mlp", ax_model_mlp}, {"cnn", ax_model_cnn}, {"resnet", ax_model_resnet},
                                 {"autoencoder", ax_model_autoencoder}, {"vae", ax_model_vae}, {"gan", ax_model_gan}};

const char *ax_model_names(void) { return "mlp, cnn, resnet, autoencoder, vae, gan"; }

ax_module *ax_model_create(const char *name, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  for (size_t i = 0; name && i < sizeof zoo / sizeof zoo[0]; i++) {
    if (strcmp(name, zoo[i].name) != 0) continue;
    ax_module *m = zoo[i].create();
    if (!m) ax__fail(err, errlen, "could not build model '%s': %s", name, ax_last_error());
    return m;
  }
  ax__fail(err, errlen, "unknown model '%s' (choose from: %s)", name ? name : "(null)", ax_model_names());
  return NULL;
}
