#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The runs of docs/generative.md: the judge (the zoo's cnn, 3 epochs), then the autoencoder,
# the VAE and the GAN on full Fashion-MNIST, one after the other, each with its metrics, its
# weights and its pictures; at the end the figures the docs quote.
#   bash scripts/generative_runs.sh                       # 10 epochs each on the CPU, into runs/generative
#   EPOCHS=1 OUT=/tmp/gen DEVICE=cuda bash scripts/generative_runs.sh
# An existing OUT/cnn.safetensors is reused as the judge; existing metrics files are replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
AXON=${AXON:-./build/axon}
OUT=${OUT:-runs/generative}
EPOCHS=${EPOCHS:-10}
DEVICE=${DEVICE:-cpu}
SEED=${SEED:-0}
mkdir -p "$OUT"
common=(--device "$DEVICE" --epochs "$EPOCHS" --seed "$SEED" --plain)

if [ ! -f "$OUT/cnn.safetensors" ]; then
  "$AXON" train --model cnn --epochs 3 --device "$DEVICE" --plain --save "$OUT/cnn.safetensors" | tee "$OUT/judge.log"
fi
for m in autoencoder vae gan; do rm -f "$OUT/$m.jsonl"; done

"$AXON" train --model autoencoder "${common[@]}" --metrics "$OUT/autoencoder.jsonl" \
  --save "$OUT/autoencoder.safetensors" | tee "$OUT/autoencoder.log"
"$AXON" train --model vae "${common[@]}" --judge "$OUT/cnn.safetensors" --metrics "$OUT/vae.jsonl" \
  --save "$OUT/vae.safetensors" | tee "$OUT/vae.log"
"$AXON" train --model gan "${common[@]}" --label-smoothing 0.1 --judge "$OUT/cnn.safetensors" \
  --metrics "$OUT/gan.jsonl" --save "$OUT/gan.safetensors" | tee "$OUT/gan.log"

"$AXON" sample --device "$DEVICE" --weights "$OUT/autoencoder.safetensors" --out "$OUT/autoencoder.png"
"$AXON" sample --device "$DEVICE" --weights "$OUT/vae.safetensors" --out "$OUT/vae-reconstructions.png"
"$AXON" sample --device "$DEVICE" --weights "$OUT/vae.safetensors" --prior --out "$OUT/vae-samples.png"
"$AXON" sample --device "$DEVICE" --weights "$OUT/vae.safetensors" --interpolate --out "$OUT/vae-interpolation.png"
"$AXON" sample --device "$DEVICE" --weights "$OUT/gan.safetensors" --out "$OUT/gan-samples.png"

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def last(m):
    return [json.loads(l) for l in open(f"{out}/{m}.jsonl")][-1]
a, v, g = last("autoencoder"), last("vae"), last("gan")
print(f"autoencoder: epoch {a['epoch']}: test reconstruction MSE {a['test_mse']:.5f} per pixel")
print(f"vae: epoch {v['epoch']}: test ELBO {v['test_elbo']:.2f} nats per image (recon {v['test_recon']:.2f}, "
      f"KL {v['test_kl']:.2f}); judge score {v.get('score', float('nan')):.3f}, class coverage "
      f"{v.get('class_entropy', float('nan')):.3f} (shares {v.get('class_min_share', 0):.3f}..{v.get('class_max_share', 0):.3f})")
print(f"gan: epoch {g['epoch']}: D loss {g['d_loss']:.4f}, G loss {g['g_loss']:.4f}, D accuracy real "
      f"{g['d_acc_real']:.3f} fake {g['d_acc_fake']:.3f}; judge score {g.get('score', float('nan')):.3f}, class coverage "
      f"{g.get('class_entropy', float('nan')):.3f} (shares {g.get('class_min_share', 0):.3f}..{g.get('class_max_share', 0):.3f})")
PY
