#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two "hosts" on one machine: two network namespaces joined by a veth pair, each
# with its own address and host name, and OpenMPI over TCP between them (its rsh
# launcher's agent is a script that runs `ip netns exec <host>` instead of ssh).
# DDP on 2 ranks, one per namespace, must give the weights of the same 2-rank run
# on one host bit for bit, and 1 process with the whole global batch within
# tolerance (test_dist_mpi ddp's checks; the trainer's losses to 1e-4, the weights'
# difference printed): the reduction's summation order differs from one process's.
# The veth's byte counters must show the traffic. See tests/multinode/README.md
# and docs/distributed.md.
#   tests/multinode/run.sh [--required] [BUILD_DIR]     (default BUILD_DIR: ./build)
# Exit 0: passed; 77: skipped (not root, no iproute2/mpirun, namespaces refused),
# with the reason on stderr; with --required a skip is a failure (exit 1); else 1.
set -euo pipefail
required=0
if [ "${1:-}" = "--required" ]; then required=1; shift; fi
build="${1:-build}"
axon="$build/axon"
skip() {
  echo "multinode: SKIPPED: $*" >&2
  [ $required -eq 0 ] || { echo "multinode: --required: a skip is a failure here" >&2; exit 1; }
  exit 77
}
fail() { echo "multinode: FAILED: $*" >&2; exit 1; }

[ -x "$axon" ] || fail "$axon not found: build first (bash scripts/setup.sh) or pass the build directory"
[ -x "$build/tests/test_dist_mpi" ] || fail "$build/tests/test_dist_mpi not found: a build with MPI (AXON_MPI=ON, libopenmpi-dev) builds it"
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces (uid $(id -u))"
command -v ip >/dev/null || skip "needs iproute2 (ip netns): apt-get install iproute2"
command -v unshare >/dev/null || skip "needs unshare (util-linux) for a host name per namespace"
command -v mpirun >/dev/null || skip "needs OpenMPI's mpirun: apt-get install openmpi-bin"
command -v python3 >/dev/null || skip "needs python3 to compare the weights files"

tag="axmn$$"                       # unique per run: namespaces axmn<pid>a/b, veths axmn<pid>a/b
nsa="${tag}a" nsb="${tag}b"
ipa=10.213.0.1 ipb=10.213.0.2 net=10.213.0.0/24
dir="$(mktemp -d)"
cleanup() {
  ip netns del "$nsa" 2>/dev/null || true   # deleting a namespace deletes its end of the veth, and the pair
  ip netns del "$nsb" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$nsa" 2>"$dir/err" || skip "cannot create a network namespace: $(cat "$dir/err")"
ip netns add "$nsb" 2>"$dir/err" || skip "cannot create a network namespace: $(cat "$dir/err")"
ip link add "${tag}a" netns "$nsa" type veth peer name "${tag}b" netns "$nsb" 2>"$dir/err" ||
  skip "cannot create a veth pair between the namespaces: $(cat "$dir/err")"
ip -n "$nsa" addr add "$ipa/24" dev "${tag}a"
ip -n "$nsb" addr add "$ipb/24" dev "${tag}b"
for ns in "$nsa" "$nsb"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "${tag}${ns: -1}" up
done
echo "multinode: host a = namespace $nsa, $ipa on ${tag}a; host b = namespace $nsb, $ipb on ${tag}b (veth pair)"

# the launcher agent: OpenMPI calls it as `agent [options] HOST orted ARGS...` (as it would ssh);
# it enters HOST's namespace with its own host name and runs the command through a shell, as sshd would
cat > "$dir/agent" <<AGENT
#!/bin/sh
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done   # ssh-style options: none apply
host=\$1; shift
case "\$host" in
  $ipa) ns=$nsa; name=axon-host-a ;;
  $ipb) ns=$nsb; name=axon-host-b ;;
  *) echo "multinode agent: unknown host '\$host'" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name && \$*"
AGENT
chmod +x "$dir/agent"

counters() { # rx and tx bytes of host a's end of the veth
  echo "$(ip netns exec "$nsa" cat /sys/class/net/${tag}a/statistics/rx_bytes)" \
       "$(ip netns exec "$nsa" cat /sys/class/net/${tag}a/statistics/tx_bytes)"
}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# mpirun starts in host a; rank 0 on a, rank 1 on b (launched through the agent); TCP only, on the veth
cross() {
  timeout 300 ip netns exec "$nsa" unshare --uts sh -c 'hostname axon-host-a && exec "$@"' sh \
    mpirun --host "$ipa:1,$ipb:1" -np 2 --bind-to none \
      --mca plm_rsh_agent "$dir/agent" --mca btl tcp,self --mca btl_tcp_if_include "$net" \
      --mca oob_tcp_if_include "$net" -x OMP_NUM_THREADS "$@"
}

echo "== where the ranks run"
cross sh -c 'echo "rank $OMPI_COMM_WORLD_RANK on $(hostname): $(ip -o -4 addr show | grep -o "inet 10\.213\.0\.[0-9]*")"' \
  >"$dir/where.log" 2>&1 || { cat "$dir/where.log"; fail "mpirun across the namespaces did not start (or ran past 300 s)"; }
sort "$dir/where.log"
grep -q "rank 0 on axon-host-a: inet $ipa" "$dir/where.log" && grep -q "rank 1 on axon-host-b: inet $ipb" "$dir/where.log" ||
  fail "the ranks did not land one per namespace (see above)"

echo "== DDP equivalence (tests/dist_mpi: N ranks with batch B/N vs 1 process with batch B) across the hosts"
cross "$build/tests/test_dist_mpi" ddp >"$dir/ddp.log" 2>&1 || { cat "$dir/ddp.log"; fail "test_dist_mpi ddp across the hosts"; }
cat "$dir/ddp.log"

# the GPT trainer, small: 20 steps of AdamW, global batch 8 (4 per rank on 2 ranks), no dropout
steps=20
train=(train --model gpt --steps $steps --warmup-steps 2 --lr 3e-3 --eval-every 10 --eval-batches 2 --n-layer 1
       --n-embd 32 --n-head 2 --block-size 16 --batch-size 8 --threads 1)
run() { # name launcher...
  local name=$1; shift
  "$@" "$axon" "${train[@]}" --save "$dir/$name.safetensors" --metrics "$dir/$name.jsonl" >"$dir/$name.log" 2>&1 ||
    { cat "$dir/$name.log"; fail "the $name run failed (or ran past 300 s)"; }
}
echo "== 1 process, whole batch; 2 ranks on one host; 2 ranks across the two hosts"
t0=$(date +%s)
run one timeout 300 env
run local2 timeout 300 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 -x OMP_NUM_THREADS
read -r rx0 tx0 < <(counters)
run cross2 cross
read -r rx1 tx1 < <(counters)
echo "multinode: 3 runs of $steps steps in $(($(date +%s) - t0)) s"
echo "veth ${tag}a (host a) during the cross-host run: rx $((rx1 - rx0)) bytes, tx $((tx1 - tx0)) bytes"
ip -n "$nsa" -s link show dev "${tag}a"

python3 - "$dir" "$steps" $((rx1 - rx0)) $((tx1 - tx0)) <<'PY' || fail "see above"
import json, struct, sys
d, steps, rx, tx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def load(name):
    raw = open(f"{d}/{name}.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n]); head.pop("__metadata__", None)
    out = {}
    for k, v in head.items():
        assert v["dtype"] == "F32", (k, v["dtype"])
        b, e = v["data_offsets"]
        out[k] = struct.unpack(f"<{(e - b) // 4}f", raw[8 + n + b:8 + n + e])
    return out
one, local2, cross2 = load("one"), load("local2"), load("cross2")
nparam = sum(len(v) for v in one.values())
assert one.keys() == local2.keys() == cross2.keys()
same = all(local2[k] == cross2[k] for k in one)
print(f"cross-host 2 ranks vs one-host 2 ranks: {'bit-identical' if same else 'DIFFERENT'} ({nparam} parameters)")
scale = max(abs(a) for v in one.values() for a in v)
worst = max(abs(a - b) for k in one for a, b in zip(one[k], cross2[k])) / scale
exact = all(one[k] == cross2[k] for k in one)
print(f"cross-host 2 ranks vs 1 process: max difference {worst:.2e} of the largest weight ({scale:.3f})" +
      (" (bit-identical)" if exact else " (summation order, amplified by Adam where a gradient is ~0)"))
m1 = [json.loads(l) for l in open(f"{d}/one.jsonl")]
mx = [json.loads(l) for l in open(f"{d}/cross2.jsonl")]
loss = max(abs(a[k] - b[k]) / abs(a[k]) for a, b in zip(m1, mx) for k in ("train_loss", "val_loss"))
print(f"losses (1 process / cross-host): " + ", ".join(f"{a['val_loss']:.6f} / {b['val_loss']:.6f}" for a, b in zip(m1, mx)) +
      f"; max relative difference {loss:.1e}")
# gradients all-reduced each step: at least half of the f32 gradient crosses the link each way
need = steps * nparam * 4 // 2
print(f"traffic: {rx} bytes in, {tx} out on host a's veth; expected at least {need} each way")
ok = same and len(m1) == len(mx) == 2 and loss <= 1e-4 and rx >= need and tx >= need
sys.exit(0 if ok else 1)
PY
cmp "$dir/local2.safetensors" "$dir/cross2.safetensors" || fail "weights files differ"
echo "multinode: passed"
