#!/usr/bin/env bash
# Runs `rnngym bench` and bench/pytorch_ref.py back to back, same presets, same thread count,
# and prints a markdown table with the ratios (rnngym / PyTorch; memory: PyTorch / rnngym).
#
#   bench/compare.sh [--threads N] [--seconds S] [--presets "s m l"] [--rounds R]
#
# Each preset runs R rounds (default 3) of rnngym then PyTorch, interleaved, and the table
# reports each side's median round: these shared VMs drift by ±20% within minutes, so one
# run of each, minutes apart, can show a ratio that is mostly drift.
#
# PyTorch comes from ./.venv; when missing it is created and `pip install torch` is run
# (the CPU wheel index is used). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=2
SECONDS_PER=10
PRESETS="s m l"
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --seconds) SECONDS_PER="$2"; shift 2 ;;
    --presets) PRESETS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "usage: $0 [--threads N] [--seconds S] [--presets \"s m l\"] [--rounds R]" >&2; exit 2 ;;
  esac
done

PY=.venv/bin/python
if [ ! -x "$PY" ] || ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "creating .venv with torch (CPU wheel)..." >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
fi

cargo build --release --quiet -p rnngym
BIN="${CARGO_TARGET_DIR:-target}/release/rnngym"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for p in $PRESETS; do
  for r in $(seq "$ROUNDS"); do
    echo "preset $p round $r/$ROUNDS: rnngym..." >&2
    "$BIN" bench --preset "$p" --threads "$THREADS" --seconds "$SECONDS_PER" --json > "$OUT/rnngym-$p-$r.json"
    echo "preset $p round $r/$ROUNDS: pytorch..." >&2
    "$PY" bench/pytorch_ref.py --preset "$p" --threads "$THREADS" --seconds "$SECONDS_PER" --json > "$OUT/pytorch-$p-$r.json"
  done
done

"$PY" - "$OUT" "$THREADS" "$ROUNDS" $PRESETS <<'EOF'
import json, sys, platform, subprocess, datetime, statistics
out, threads, rounds, presets = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]

def median_run(side, p):
    """The rounds of one side merged: the median of each figure."""
    runs = [json.load(open(f"{out}/{side}-{p}-{r}.json")) for r in range(1, rounds + 1)]
    merged = dict(runs[0])
    for key in ("train_chars_per_s", "generate_chars_per_s", "peak_rss_mb"):
        vals = [x[key] for x in runs if x.get(key)]
        merged[key] = statistics.median(vals) if vals else None
    return merged

model = "unknown"
try:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
except OSError:
    pass
print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, CPU: {model}, "
      f"{threads} threads each, median of {rounds} interleaved rounds")
print()
print("| preset | train rnngym | train PyTorch | ratio | generate rnngym | generate PyTorch | ratio "
      "| peak RSS rnngym | peak RSS PyTorch | PyTorch / rnngym |")
print("|---|---|---|---|---|---|---|---|---|---|")
for p in presets:
    r = median_run("rnngym", p)
    t = median_run("pytorch", p)
    def ratio(a, b):
        return f"{a / b:.2f}x" if a and b else "-"
    print(f"| {p.upper()} (H={r['hidden']}, B={r['batch']}, T={r['seq_len']}) "
          f"| {r['train_chars_per_s']:,.0f} | {t['train_chars_per_s']:,.0f} "
          f"| {ratio(r['train_chars_per_s'], t['train_chars_per_s'])} "
          f"| {r['generate_chars_per_s']:,.0f} | {t['generate_chars_per_s']:,.0f} "
          f"| {ratio(r['generate_chars_per_s'], t['generate_chars_per_s'])} "
          f"| {r['peak_rss_mb']:.0f} MB | {t['peak_rss_mb']:.0f} MB "
          f"| {ratio(t['peak_rss_mb'], r['peak_rss_mb'])} |")
EOF
