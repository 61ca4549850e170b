# SPDX-License-Identifier: BSD-3-Clause
"""PyTorch's side of benchmarks/bench_quant.c: CPU inference of the zoo cnn in f32,
with dynamic int8 quantization (Linear only, torch.ao.quantization.quantize_dynamic)
and with static int8 quantization (eager mode, fbgemm/x86: conv+bn+relu fused, per-channel
weights, min-max observers calibrated on random batches), at batch 128 and batch 1.
One JSON line per (mode, batch size); a mode PyTorch cannot run here is reported with
its error instead of a time.

    python3 benchmarks/bench_quant_torch.py --threads 2
    python3 benchmarks/bench_quant_torch.py --quick      # a few passes: checks that it runs
"""
import argparse
import copy
import json
import time

import torch
import torch.nn as nn


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25),
                                        nn.Linear(128, 10))
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.classifier(self.features(self.quant(x))))


def time_forward(m, x, warmup, iters, reps):
    best = float("inf")
    with torch.inference_mode():
        for _ in range(warmup):
            m(x)
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(iters):
                m(x)
            best = min(best, (time.perf_counter() - t0) / iters)
    return best


def static_int8(f32):
    m = copy.deepcopy(f32).eval()
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else "fbgemm"
    m.qconfig = torch.ao.quantization.get_default_qconfig(torch.backends.quantized.engine)
    torch.ao.quantization.fuse_modules(m, [["features.0", "features.1", "features.2"],
                                           ["features.4", "features.5", "features.6"],
                                           ["classifier.1", "classifier.2"]], inplace=True)
    torch.ao.quantization.prepare(m, inplace=True)
    with torch.inference_mode():
        for _ in range(4):
            m(torch.randn(64, 1, 28, 28))
    return torch.ao.quantization.convert(m)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    iters128, iters1, reps, warmup = (1, 2, 1, 1) if a.quick else (a.iters, 10 * a.iters, 3, 3)
    f32 = Cnn().eval()
    models = {"f32": lambda: f32,
              "dynamic_int8": lambda: torch.ao.quantization.quantize_dynamic(copy.deepcopy(f32), {nn.Linear},
                                                                             dtype=torch.qint8),
              "static_int8": lambda: static_int8(f32)}
    for mode, make in models.items():
        try:
            m = make()
        except Exception as e:  # a build without fbgemm / x86 quantized engines
            print(json.dumps({"bench": "quant_torch", "mode": mode, "error": str(e).splitlines()[0]}))
            continue
        for batch in (128, 1):
            x = torch.randn(batch, 1, 28, 28)
            t = time_forward(m, x, warmup, iters128 if batch > 1 else iters1, reps)
            print(json.dumps({"bench": "quant_torch", "model": "cnn", "mode": mode, "batch": batch,
                              "threads": a.threads, "img_per_s": round(batch / t, 1), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
