#!/usr/bin/env bash
# Data-parallel scaling, rnngym over MPI against PyTorch DDP (Gloo), on the CPU of this machine:
# 1 rank x 1 thread and 2 ranks x 1 thread on each side, global batch = the preset's B (each of
# the 2 ranks trains B/2 lanes). Prints a markdown table (medians over the rounds, the scaling
# efficiency 2-rank total / (2 x 1-rank) and the rnngym / PyTorch ratio at 2 ranks, both paired
# per round) and the peak RSS per rank.
#
#   bench/compare_ddp.sh [--seconds S] [--presets "s m l"] [--rounds R] [--mkldnn best|on|off]
#                        [--bin PATH] [--python PATH]
#
# The four runs of a round, back to back (who goes first, rnngym or PyTorch, alternates):
#   rnngym 1x1:  $BIN bench --mode train --threads 1 --preset P --seconds S --json
#   rnngym 2x1:  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 $BIN bench ...
#   PyTorch 1x1: python bench/pytorch_ref.py --mode train --threads 1 --mkldnn M ...
#   DDP 2x1:     torchrun --standalone --nproc_per_node 2 bench/pytorch_ddp.py --threads 1 --mkldnn M ...
# --mkldnn best (the default) first runs pytorch_ref.py --mkldnn best once per preset and uses
# the faster oneDNN setting for both PyTorch columns. rnngym is built with
# `cargo build --release --features mpi` unless --bin names a binary (built with the feature).
# Needs Open MPI (mpirun) and a Python with torch (./.venv by default). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=5
PRESETS="s m l"
ROUNDS=3
MKLDNN=best
BIN=""
PY=.venv/bin/python
usage="usage: $0 [--seconds S] [--presets \"s m l\"] [--rounds R] [--mkldnn best|on|off] [--bin PATH] [--python PATH]"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds|--presets|--rounds|--mkldnn|--bin|--python)
      [ $# -ge 2 ] || { echo "$1 needs a value; $usage" >&2; exit 2; }
      case "$1" in
        --seconds) SECONDS_PER="$2" ;;
        --presets) PRESETS="$2" ;;
        --rounds) ROUNDS="$2" ;;
        --mkldnn) MKLDNN="$2" ;;
        --bin) BIN="$2" ;;
        --python) PY="$2" ;;
      esac
      shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$MKLDNN" in best|on|off) ;; *) echo "--mkldnn $MKLDNN: expected best, on or off" >&2; exit 2 ;; esac
command -v mpirun >/dev/null || { echo "mpirun not found: apt-get install openmpi-bin libopenmpi-dev" >&2; exit 2; }
"$PY" -c 'import torch.distributed as d, sys; sys.exit(0 if d.is_gloo_available() else 1)' \
  || { echo "$PY: no torch with Gloo (pass --python PATH)" >&2; exit 2; }
TORCHRUN="$(dirname "$PY")/torchrun"
[ -x "$TORCHRUN" ] || TORCHRUN="$PY -m torch.distributed.run"

if [ -z "$BIN" ]; then
  cargo build --release --quiet --features mpi -p rnngym
  BIN="${CARGO_TARGET_DIR:-target}/release/rnngym"
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_NUM_THREADS=1  # what torchrun sets anyway; set here so it does not warn

# timed NAME CMD...: runs CMD with stdout to $OUT/NAME.json and its wall time to $OUT/NAME.wall.
timed() {
  local name="$1"; shift
  echo "  $name" >&2
  local t0 try
  for try in 1 2; do
    t0=$(date +%s.%N)
    "$@" > "$OUT/$name.json" 2> "$OUT/$name.err" && break
    # A failed launch (seen once: a DDP rank aborted at start-up) is retried once, and shown.
    echo "  $name failed (try $try); its stderr:" >&2
    grep -v '^W[0-9]' "$OUT/$name.err" | tail -20 >&2
    [ "$try" = 1 ] || exit 1
  done
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print a - b }' > "$OUT/$name.wall"
}
ours() {
  local args=(bench --mode train --threads 1 --preset "$1" --seconds "$SECONDS_PER" --json)
  timed "rnngym1-$1-$2" "$BIN" "${args[@]}"
  timed "rnngym2-$1-$2" mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "$BIN" "${args[@]}"
}
theirs() {
  timed "pytorch1-$1-$2" "$PY" bench/pytorch_ref.py --mode train --threads 1 --preset "$1" \
    --seconds "$SECONDS_PER" --mkldnn "$M" --json
  # shellcheck disable=SC2086  # $TORCHRUN may be "python -m torch.distributed.run"
  timed "ddp2-$1-$2" $TORCHRUN --standalone --nproc_per_node 2 bench/pytorch_ddp.py --threads 1 \
    --preset "$1" --seconds "$SECONDS_PER" --mkldnn "$M" --json
}
for p in $PRESETS; do
  M="$MKLDNN"
  if [ "$M" = best ]; then
    echo "preset $p: oneDNN on / off, PyTorch 1 x 1" >&2
    "$PY" bench/pytorch_ref.py --mode train --threads 1 --preset "$p" --seconds "$SECONDS_PER" \
      --mkldnn best --json > "$OUT/mkldnn-$p.json"
    M=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["train_mkldnn"])' "$OUT/mkldnn-$p.json")
  fi
  for r in $(seq "$ROUNDS"); do
    echo "preset $p round $r/$ROUNDS (oneDNN $M):" >&2
    if [ $((r % 2)) = 1 ]; then ours "$p" "$r"; theirs "$p" "$r"; else theirs "$p" "$r"; ours "$p" "$r"; fi
  done
done

"$PY" bench/table_ddp.py "$OUT" "$ROUNDS" $PRESETS
