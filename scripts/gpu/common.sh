# SPDX-License-Identifier: BSD-3-Clause
# Shared by scripts/gpu/session1.sh and session2.sh (sourced): where the binaries are,
# how a step runs, and the plan.
#   CARRY   the carried build (default gpu-carry: scripts/gpu/build_carry.sh)
#   OUT     where every result goes (default gpu-out); each file is written as its step runs
#   AXON_GPU_DRY=1  the dry run (tests/gpu_dry_run.sh): the same steps on the emulated
#           device, at sizes the host emulator runs in seconds; BIN names the emulated build
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
CARRY=${CARRY:-gpu-carry}
OUT=${OUT:-gpu-out}
DRY=${AXON_GPU_DRY:-0}
mkdir -p "$OUT"
if [ "$DRY" = 1 ]; then
  BIN=${BIN:?the dry run needs BIN, the folder of an emulated build (AXON_CUDA=EMULATE)}
  RUN=()
else
  BIN=${BIN:-$CARRY/bin}
  RUN=(scripts/gpu/launch.sh)
fi
[ -x "$BIN/axon" ] || { echo "no $BIN/axon: run scripts/gpu/build_carry.sh here first" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
SUMMARY="$OUT/summary.txt"
PLANNED=0

# plan NAME LIMIT: adds a step to the plan (printed before anything runs)
declare -a PLAN_NAMES=() PLAN_LIMITS=()
plan() { PLAN_NAMES+=("$1"); PLAN_LIMITS+=("$2"); PLANNED=$((PLANNED + $2)); }

print_plan() { # BUDGET: the plan, and a refusal to start when it is over BUDGET seconds
  local budget=$1 i
  {
    echo "plan ($(date -u '+%Y-%m-%d %H:%M UTC'), $([ "$DRY" = 1 ] && echo "dry run on the emulated device" || echo "device run")):"
    for i in "${!PLAN_NAMES[@]}"; do printf '  %-30s %4d s\n' "${PLAN_NAMES[$i]}" "${PLAN_LIMITS[$i]}"; done
    printf '  %-30s %4d s (budget %d s)\n' "total" "$PLANNED" "$budget"
  } | tee "$OUT/plan.txt"
  if [ "$PLANNED" -gt "$budget" ]; then
    echo "the plan's limits add up to $PLANNED s, over the $budget s budget: shorten it before spending a GPU" >&2
    exit 2
  fi
}

# step NAME LIMIT CMD...: CMD under its time limit (killed 5 s after), line-buffered into
# $OUT/NAME.txt, then one line in the summary: exit status (124: timed out) and seconds.
step() {
  local name=$1 limit=$2 t0 t1 rc
  shift 2
  t0=$(date +%s%N)
  # the dry run keeps the plan's limits but gives the host emulator more time to meet them
  [ "$DRY" = 1 ] && limit=$((limit * ${AXON_GPU_DRY_SCALE:-40}))
  timeout -k 5 "$limit" stdbuf -oL -eL "$@" > "$OUT/$name.txt" 2>&1
  rc=$?
  t1=$(date +%s%N)
  printf '%-30s exit %-3s %6.1f s of %4d s%s\n' "$name" "$rc" "$(awk "BEGIN { print ($t1 - $t0) / 1e9 }")" "$limit" \
    "$([ "$rc" = 124 ] && echo '  TIMED OUT')" | tee -a "$SUMMARY"
  return 0
}

# the commands, through the launcher on the device machine (arrays: timeout runs them)
AXON=("${RUN[@]}" "$BIN/axon")
PARITY=("${RUN[@]}" "$BIN/axon_parity")
