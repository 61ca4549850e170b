#!/bin/sh
# The GPT trainer under mpirun: 2 ranks taking half of each global batch give the
# same losses as one process with the whole batch (DDP averages the gradients).
#   lm_equivalence.sh MPIRUN... -- AXON_BINARY
set -e
mpirun=""
while [ "$1" != "--" ]; do mpirun="$mpirun $1"; shift; done
shift
axon="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for np in 1 2; do
  $mpirun -np $np "$axon" train --model gpt --steps 20 --warmup-steps 2 --lr 3e-3 --eval-every 10 --eval-batches 2 \
    --n-layer 1 --n-embd 32 --n-head 2 --block-size 16 --batch-size 8 --threads 1 --no-save \
    --metrics "$dir/np$np.jsonl" > "$dir/np$np.log" 2>&1 || { cat "$dir/np$np.log"; exit 1; }
done
python3 - "$dir" <<'PY' 2>/dev/null && exit 0
import json, sys
d = sys.argv[1]
a = [json.loads(l) for l in open(d + "/np1.jsonl")]
b = [json.loads(l) for l in open(d + "/np2.jsonl")]
assert len(a) == len(b) == 2, (a, b)
for x, y in zip(a, b):
    for k in ("train_loss", "val_loss"):
        assert abs(x[k] - y[k]) <= 1e-4 * abs(x[k]), (k, x[k], y[k])
print("lm_equivalence: 1 rank and 2 ranks agree:", [(x["val_loss"], y["val_loss"]) for x, y in zip(a, b)])
PY
# without python: compare the validation losses as printed
v1=$(grep -o '"val_loss": [0-9.]*' "$dir/np1.jsonl" | tr '\n' ' ')
v2=$(grep -o '"val_loss": [0-9.]*' "$dir/np2.jsonl" | tr '\n' ' ')
echo "np1: $v1"; echo "np2: $v2"
[ -n "$v1" ] && [ "$v1" = "$v2" ]
