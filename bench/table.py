#!/usr/bin/env python3
"""Prints bench/compare.sh's markdown table from the JSON results of its rounds.

Usage: table.py OUT_DIR DEVICE THREADS ROUNDS PRESET... where OUT_DIR holds
{rnngym,pytorch}-PRESET-ROUND.json. Each side's figures are the medians over its rounds; below
the table, the ratios of each round's pair.
"""

import datetime
import json
import statistics
import subprocess
import sys

FIGURES = ("train_chars_per_s", "generate_chars_per_s", "peak_rss_mb", "gpu_memory_mb")


def load(out, side, p, r):
    """One round's JSON result."""
    with open(f"{out}/{side}-{p}-{r}.json") as f:
        return json.load(f)


def median_run(out, side, p, rounds):
    """The rounds of one side merged: the median of each figure."""
    runs = [load(out, side, p, r) for r in range(1, rounds + 1)]
    merged = dict(runs[0])
    for key in FIGURES:
        vals = [x[key] for x in runs if x.get(key) is not None]
        merged[key] = statistics.median(vals) if vals else None
    return merged


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def gpu_model():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()
        return out.splitlines()[0] if out else "unknown"
    except OSError:
        return "unknown"


def paired(out, p, rounds, key):
    """Each round's rnngym figure over the same round's PyTorch figure (the two ran back to
    back, so drift over minutes cancels out): (min, median, max), or None."""
    vals = []
    for r in range(1, rounds + 1):
        a = load(out, "rnngym", p, r).get(key)
        b = load(out, "pytorch", p, r).get(key)
        if a and b:
            vals.append(a / b)
    return (min(vals), statistics.median(vals), max(vals)) if vals else None


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def num(x, unit=""):
    return f"{x:,.0f}{unit}" if x is not None else "-"


def main():
    out, device, threads, rounds, presets = (sys.argv[1], sys.argv[2], sys.argv[3],
                                             int(sys.argv[4]), sys.argv[5:])
    now = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    if not presets or rounds < 1:
        sys.exit("table.py: no presets or rounds to report")
    cells = {load(out, side, p, 1).get("cell", "lstm") for side in ("rnngym", "pytorch") for p in presets}
    if len(cells) != 1:
        sys.exit(f"table.py: the runs disagree on the cell: {sorted(cells)}")
    cell = cells.pop().upper()
    precision = load(out, "rnngym", presets[0], 1).get("generate_precision", "f32")
    if precision != "f32":
        cell += f", rnngym generates with {precision} weights (PyTorch f32)"
    if device == "cuda":
        print(f"{now}, {cell}, GPU: {gpu_model()}, CPU: {cpu_model()}, median of {rounds} "
              "interleaved rounds")
        mem_key, mem_name = "gpu_memory_mb", "GPU memory"
    else:
        print(f"{now}, {cell}, CPU: {cpu_model()}, {threads} threads each, median of {rounds} "
              "interleaved rounds")
        mem_key, mem_name = "peak_rss_mb", "peak RSS"
    print()
    print(f"| preset | train rnngym | train PyTorch | ratio | generate rnngym | generate PyTorch | ratio "
          f"| {mem_name} rnngym | {mem_name} PyTorch | PyTorch / rnngym |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in presets:
        r = median_run(out, "rnngym", p, rounds)
        t = median_run(out, "pytorch", p, rounds)
        print(f"| {p.upper()} (H={r['hidden']}, B={r['batch']}, T={r['seq_len']}) "
              f"| {num(r['train_chars_per_s'])} | {num(t['train_chars_per_s'])} "
              f"| {ratio(r['train_chars_per_s'], t['train_chars_per_s'])} "
              f"| {num(r['generate_chars_per_s'])} | {num(t['generate_chars_per_s'])} "
              f"| {ratio(r['generate_chars_per_s'], t['generate_chars_per_s'])} "
              f"| {num(r[mem_key], ' MB')} | {num(t[mem_key], ' MB')} "
              f"| {ratio(t[mem_key], r[mem_key])} |")
    print()
    print("Paired ratios (each round's rnngym over the same round's PyTorch; min / median / max):")
    print()
    for p in presets:
        parts = []
        for key, name in (("train_chars_per_s", "train"), ("generate_chars_per_s", "generate")):
            q = paired(out, p, rounds, key)
            if q:
                parts.append(f"{name} {q[0]:.2f}x / {q[1]:.2f}x / {q[2]:.2f}x")
        print(f"- {p.upper()}: " + ("; ".join(parts) if parts else "-"))
    # PyTorch at its fastest setting: which oneDNN setting won each round.
    won = []
    for p in presets:
        for key, name in (("train_mkldnn", "train"), ("generate_mkldnn", "generate")):
            got = [load(out, "pytorch", p, k).get(key) for k in range(1, rounds + 1)]
            got = [g for g in got if g]
            if got:
                won.append(f"{p.upper()} {name}: " + "/".join(got))
    if won:
        print()
        print("PyTorch's faster oneDNN setting per round (each mode was run with oneDNN on and "
              "off): " + "; ".join(won))


if __name__ == "__main__":
    main()
