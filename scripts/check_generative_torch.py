#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Loads the weights `axon train --model autoencoder|vae|gan` wrote into the same models
written in torch.nn (strict=True: every name and shape must match). Run by hand: PyTorch is
not a dependency of the tests.
    python3 scripts/check_generative_torch.py ae.safetensors vae.safetensors gan.safetensors
"""
import sys

import torch
from safetensors.torch import load_file
from torch import nn


def encoder():
    return nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Flatten())


def decoder(sigmoid):
    layers = [nn.Linear(16, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)), nn.ConvTranspose2d(64, 32, 4, 2, 1),
              nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1)]
    return nn.Sequential(*(layers + [nn.Sigmoid()] if sigmoid else layers))


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(*encoder(), nn.Linear(3136, 16))
        self.decoder = decoder(True)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.fc_mu, self.fc_logvar = encoder(), nn.Linear(3136, 16), nn.Linear(3136, 16)
        self.decoder = decoder(False)

    def forward(self, x):  # eval mode: the mean code
        return torch.sigmoid(self.decoder(self.fc_mu(self.encoder(x))))


class DCGAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 7, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh())
        self.discriminator = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2), nn.Conv2d(64, 1, 7), nn.Flatten())


MODELS = {"autoencoder": Autoencoder, "vae": VAE, "gan": DCGAN}

for path in sys.argv[1:]:
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        name = f.metadata().get("axon_model")
    m = MODELS[name]()
    m.load_state_dict(load_file(path), strict=True)
    n = sum(p.numel() for p in m.parameters())
    print(f"{path}: a {name} with {n} parameters loads into torch.nn (strict)")
