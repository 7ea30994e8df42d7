#!/usr/bin/env bash
# A/B of two rnngym builds: `rnngym bench` of binary A (the baseline, e.g. the previous
# commit built in a worktree) and binary B, interleaved (who goes first alternates each
# round), same presets, cell, threads and seconds. Prints a markdown table: each side's median
# training and generation rate over the rounds and the median / min / max of the paired
# per-round ratios B / A (these shared VMs drift by ±20% within minutes; pairing cancels most
# of it). Used for "speed is preserved" checks of refactors (docs/PERFORMANCE.md).
#
#   bench/ab.sh A_BIN B_BIN [--presets "s m l"] [--rounds R] [--seconds S] [--threads N]
#                           [--cell lstm|gru|rnn]
#
# To build the baseline: git worktree add /tmp/base <rev> && (cd /tmp/base && cargo build
# --release -p rnngym), then A_BIN=/tmp/base/target/release/rnngym. Not part of CI.
set -euo pipefail
usage="usage: $0 A_BIN B_BIN [--presets \"s m l\"] [--rounds R] [--seconds S] [--threads N] [--cell C]"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
A="$1"; B="$2"; shift 2
PRESETS="s m l"; ROUNDS=4; SECS=3; THREADS=2; CELL=lstm
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "$1 needs a value; $usage" >&2; exit 2; }
  case "$1" in
    --presets) PRESETS="$2" ;;
    --rounds) ROUNDS="$2" ;;
    --seconds) SECS="$2" ;;
    --threads) THREADS="$2" ;;
    --cell) CELL="$2" ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift 2
done
for bin in "$A" "$B"; do
  [ -x "$bin" ] || { echo "$bin: not an executable rnngym binary" >&2; exit 2; }
done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# Training and generation each in a fresh process, as users run them: generation measured
# after training in the same process depends on where the freed training buffers leave the
# model's weights (seen: ±15% between builds whose generate-only runs are equal).
run() { # side preset round
  local bin="$A"; [ "$1" = b ] && bin="$B"
  echo "preset $2 round $3/$ROUNDS: $1..." >&2
  for mode in train generate; do
    "$bin" bench --preset "$2" --cell "$CELL" --mode "$mode" --threads "$THREADS" \
      --seconds "$SECS" --json > "$OUT/$1-$2-$3-$mode.json"
  done
}
for p in $PRESETS; do
  for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then run a "$p" "$r"; run b "$p" "$r"; else run b "$p" "$r"; run a "$p" "$r"; fi
  done
done
python3 - "$OUT" "$ROUNDS" $PRESETS <<'PY'
import json, statistics, sys
out, rounds, presets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
load = lambda side, p, r, mode: json.load(open(f"{out}/{side}-{p}-{r}-{mode}.json"))
print("| preset | what | A median | B median | B / A paired median (min–max) |")
print("|---|---|---|---|---|")
for p in presets:
    for mode, what in [("train", "train chars/s"), ("generate", "generate chars/s")]:
        key = f"{mode}_chars_per_s"
        a = [load("a", p, r, mode)[key] for r in range(1, rounds + 1)]
        b = [load("b", p, r, mode)[key] for r in range(1, rounds + 1)]
        ratios = [y / x for x, y in zip(a, b)]
        print(f"| {p.upper()} | {what} | {statistics.median(a):,.0f} | {statistics.median(b):,.0f} | "
              f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f}) |")
PY
