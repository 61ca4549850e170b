# SPDX-License-Identifier: BSD-3-Clause
"""PyTorch side of the GPT training comparison (benchmarks/compare_gpt.sh).

The same model as `axon train --model gpt` (GPT-2 layout: pre-LayerNorm
blocks, tanh GELU, fused qkv, head tied to the token embedding, GPT-2's
initialization), the same corpus and split (Debian's fortunes read with the
rules of nn/data/text.c: files sorted by name, no .dat/.u8/hidden files, no
off/ folder, a newline after a file that lacks one, the last 10% validation),
the same optimizer (AdamW lr 1e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.1
on every parameter, global-norm clipping at 1, 100 warm-up steps then cosine
to 1e-4 over --steps), the same batch, and the same validation (the first
--eval-batches batches of non-overlapping windows of the validation split).
Training stops after --time-limit seconds of training time (validation not
counted). Prints one JSON line per validation pass and a final summary line.

On a GPU (--device cuda) the same script is the PyTorch baseline of the GPT-2
124M benchmark (scripts/gpu_session.sh): --dtype bf16 runs the model under
torch.autocast (fp32 master weights, like `axon train --precision bf16`),
--compile wraps it in torch.compile, and the summary adds the model FLOPs
utilization against --peak-tflops.
"""
import argparse, json, math, os, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_corpus(path):
    files = []
    def walk(d):
        for name in sorted(os.listdir(d), key=lambda s: s.encode()):
            full = os.path.join(d, name)
            if name.startswith(".") or name.endswith(".dat") or name.endswith(".u8"):
                continue
            if os.path.isdir(full):
                if name != "off" and not os.path.islink(full):
                    walk(full)
            elif os.path.isfile(full):
                files.append(full)
    if os.path.isdir(path):
        walk(path)
    else:
        files = [path]
    seen, data = set(), bytearray()
    for f in files:
        key = os.stat(f).st_ino
        if key in seen:
            continue
        seen.add(key)
        b = open(f, "rb").read()
        data += b
        if b and not b.endswith(b"\n"):
            data += b"\n"
    return bytes(data)


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = [z.view(B, T, self.H, C // self.H).transpose(1, 2) for z in (q, k, v)]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, H, C, T, V):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList([Block(C, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            elif name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L))
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/games/fortunes")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=256)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--time-limit", type=float, default=600)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-batches", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab-size", type=int, default=256, help="tokens are bytes mod vocab-size")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--skip-steps", type=int, default=0, help="steps left out of the timing (warm-up, compilation)")
    ap.add_argument("--peak-tflops", type=float, default=0, help="for MFU (H100/H200 bf16 dense: 989)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = torch.frombuffer(bytearray(read_corpus(a.data)), dtype=torch.uint8).long()
    n_val = int(len(data) * 0.1)
    train, val = data[: len(data) - n_val], data[len(data) - n_val:]
    B, T = a.batch_size, a.block_size
    dev = torch.device(a.device)
    V = a.vocab_size
    train, val = (train % V).to(dev), (val % V).to(dev)
    model = GPT(a.n_layer, a.n_head, a.n_embd, T, V).to(dev)
    nparams = sum(p.numel() for p in model.parameters())
    flops_tok = 6 * (nparams - T * a.n_embd) + 12 * a.n_layer * a.n_embd * T
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                            fused=dev.type == "cuda")
    run = torch.compile(model) if a.compile else model
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16")

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()
    warm, lr, min_lr = 100, 1e-3, 1e-4

    def lr_at(s):
        if s < warm:
            return lr * (s + 1) / warm
        t = min(s - warm, a.steps - warm)
        return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * t / max(1, a.steps - warm)))

    def val_loss():
        model.eval()
        tot, rows = 0.0, 0
        nwin = (len(val) - 1) // T
        with torch.no_grad():
            for i in range(a.eval_batches):
                w0, w1 = i * B, min((i + 1) * B, nwin)
                if w0 >= w1:
                    break
                x = torch.stack([val[w * T: w * T + T] for w in range(w0, w1)])
                y = torch.stack([val[w * T + 1: w * T + T + 1] for w in range(w0, w1)])
                with amp:
                    tot += run(x, y).item() * (w1 - w0)
                rows += w1 - w0
        model.train()
        return tot / rows

    print(f"torch {torch.__version__}, {a.threads} threads, {nparams} parameters, "
          f"{len(train)} training / {len(val)} validation bytes", file=sys.stderr)
    t_train, tokens, step, loss = 0.0, 0, 0, float("nan")
    for step in range(a.steps):
        if t_train >= a.time_limit:
            break
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ix = torch.randint(len(train) - T - 1, (B,), device=dev)
        offs = ix[:, None] + torch.arange(T, device=dev)[None, :]
        x, y = train[offs], train[offs + 1]
        with amp:
            loss = run(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss = loss.item()
        sync()
        if step >= a.skip_steps:  # compilation and warm-up stay out of the rate
            t_train += time.perf_counter() - t0
            tokens += B * T
        last = step + 1 == a.steps or t_train >= a.time_limit
        if (step + 1) % a.eval_every == 0 or last:
            v = val_loss()
            print(json.dumps({"step": step + 1, "train_loss": loss, "val_loss": v,
                              "tokens_per_sec": tokens / max(t_train, 1e-9), "seconds": t_train}), flush=True)
    tps = tokens / t_train
    print(json.dumps({"final": True, "steps": step + 1, "val_loss": v, "tokens_per_sec": tps,
                      "seconds": t_train, "torch": torch.__version__, "device": a.device, "dtype": a.dtype,
                      "compile": a.compile,
                      "mfu": tps * flops_tok / (a.peak_tflops * 1e12) if a.peak_tflops else None}), flush=True)


if __name__ == "__main__":
    main()
