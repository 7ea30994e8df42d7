#!/usr/bin/env bash
# Runs `rnngym bench` and bench/pytorch_ref.py back to back, same presets, same device, same
# thread count, and prints a markdown table with the ratios (rnngym / PyTorch; memory:
# PyTorch / rnngym).
#
#   bench/compare.sh [--device cpu|cuda] [--cell lstm|gru|rnn] [--threads N] [--seconds S]
#                    [--presets "s m l"] [--rounds R] [--precision f32|bf16|int8|w8a16]
#                    [--mode both|train|generate] [--bin PATH] [--python PATH]
#
# Each preset runs R rounds (default 3) of rnngym and PyTorch, interleaved (who goes first
# alternates), and the table reports each side's median round, then each round's paired ratio
# (min / median / max): these shared VMs drift by ±20% within minutes, so one run of each,
# minutes apart, can show a ratio that is mostly drift.
#
# --cell gru|rnn swaps the LSTM for that cell on both sides (nn.GRU / nn.RNN for PyTorch).
#
# --mode train|generate measures only that on both sides (the other columns read "-").
#
# --precision bf16|int8|w8a16 stores rnngym's generation weights at that precision (`rnngym bench
# --precision`); PyTorch generates at f32 (its fastest loop, as always), and the table says so.
#
# --device cuda compares on GPU 0 against PyTorch's nn.LSTM (GRU, RNN) on cuDNN (FP32, TF32 off on both
# sides) and reports GPU memory instead of RSS.
#
# rnngym is built with cargo unless --bin names a binary (a GPU machine without Rust: see
# scripts/gpu-check.sh). PyTorch comes from --python, else ./.venv; when that is missing and
# the system python3 has no torch, .venv is created with `pip install torch` (the CPU wheel
# index for --device cpu). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=cpu
CELL=lstm
THREADS=2
SECONDS_PER=10
PRESETS="s m l"
ROUNDS=3
PRECISION=f32
MODE=both
BIN=""
PY=""
usage="usage: $0 [--device cpu|cuda] [--cell lstm|gru|rnn] [--threads N] [--seconds S] [--presets \"s m l\"] [--rounds R] [--precision f32|bf16|int8|w8a16] [--mode both|train|generate] [--bin PATH] [--python PATH]"
while [ $# -gt 0 ]; do
  case "$1" in
    --device|--cell|--threads|--seconds|--presets|--rounds|--precision|--mode|--bin|--python)
      [ $# -ge 2 ] || { echo "$1 needs a value; $usage" >&2; exit 2; }
      case "$1" in
        --device) DEVICE="$2" ;;
        --cell) CELL="$2" ;;
        --threads) THREADS="$2" ;;
        --seconds) SECONDS_PER="$2" ;;
        --presets) PRESETS="$2" ;;
        --rounds) ROUNDS="$2" ;;
        --precision) PRECISION="$2" ;;
        --mode) MODE="$2" ;;
        --bin) BIN="$2" ;;
        --python) PY="$2" ;;
      esac
      shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in
  cpu|cuda) ;;
  *) echo "--device $DEVICE: expected cpu or cuda" >&2; exit 2 ;;
esac
case "$CELL" in
  lstm|gru|rnn) ;;
  *) echo "--cell $CELL: expected lstm, gru or rnn" >&2; exit 2 ;;
esac

if [ -z "$BIN" ] && ! command -v cargo >/dev/null; then
  echo "cargo not found: build rnngym elsewhere and pass --bin PATH (scripts/gpu-check.sh bundles one)" >&2
  exit 2
fi

# A torch that can run on the chosen device.
TORCH_OK="import torch, sys; sys.exit(0 if '$DEVICE' == 'cpu' or torch.cuda.is_available() else 1)"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ] && .venv/bin/python -c "$TORCH_OK" >/dev/null 2>&1; then
    PY=.venv/bin/python
  elif python3 -c "$TORCH_OK" >/dev/null 2>&1; then
    PY=python3
  else
    echo "creating .venv with torch..." >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
    if [ "$DEVICE" = cpu ]; then
      # The CPU wheels' own index, else PyPI's (bigger: it brings CUDA's libraries) where only
      # PyPI can be reached.
      .venv/bin/pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu \
        || .venv/bin/pip install --quiet torch
    else
      .venv/bin/pip install --quiet torch
    fi
    PY=.venv/bin/python
  fi
fi

if [ -z "$BIN" ]; then
  cargo build --release --quiet -p rnngym
  BIN="${CARGO_TARGET_DIR:-target}/release/rnngym"
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ours() {
  echo "preset $1 round $2/$ROUNDS: rnngym..." >&2
  "$BIN" bench --device "$DEVICE" --cell "$CELL" --preset "$1" --threads "$THREADS" --seconds "$SECONDS_PER" \
    --precision "$PRECISION" --mode "$MODE" --json > "$OUT/rnngym-$1-$2.json"
}
theirs() {
  echo "preset $1 round $2/$ROUNDS: pytorch..." >&2
  "$PY" bench/pytorch_ref.py --device "$DEVICE" --cell "$CELL" --preset "$1" --threads "$THREADS" \
    --seconds "$SECONDS_PER" --mode "$MODE" --json > "$OUT/pytorch-$1-$2.json"
}
for p in $PRESETS; do
  for r in $(seq "$ROUNDS"); do
    # Who goes first alternates, so a drift within a round favours neither side.
    if [ $((r % 2)) = 1 ]; then ours "$p" "$r"; theirs "$p" "$r"; else theirs "$p" "$r"; ours "$p" "$r"; fi
  done
done

"$PY" bench/table.py "$OUT" "$DEVICE" "$THREADS" "$ROUNDS" $PRESETS
