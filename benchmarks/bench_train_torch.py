#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""PyTorch side of the CPU training-throughput comparison (benchmarks/bench_train.c is
Axon's side; benchmarks/compare_train.sh runs both on the same machine, one after the
other). Trains the same networks as Axon's model zoo on random 28x28 images with the
same batch size, optimizer and thread count, and prints images/s as one JSON line.

  python3 benchmarks/bench_train_torch.py --model cnn --batch-size 128 --threads 2 --steps 50
"""
import argparse, json, sys, time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print(json.dumps({"skipped": "torch is not installed"}))
    sys.exit(0)


def make(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
    raise SystemExit(f"unknown model {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = make(a.model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    xs = [torch.rand(a.batch_size, 1, 28, 28) for _ in range(4)]
    ys = [torch.randint(0, 10, (a.batch_size,)) for _ in range(4)]
    model.train()

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xs[i % 4]), ys[i % 4])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(i)
    dt = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch " + torch.__version__, "model": a.model, "batch_size": a.batch_size,
                      "threads": a.threads, "steps": a.steps, "seconds": round(dt, 3),
                      "images_per_sec": round(a.steps * a.batch_size / dt, 1)}))


if __name__ == "__main__":
    main()
