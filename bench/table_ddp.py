#!/usr/bin/env python3
"""Prints bench/compare_ddp.sh's markdown table from the JSON results of its rounds.

Usage: table_ddp.py OUT_DIR ROUNDS PRESET... where OUT_DIR holds
{rnngym1,rnngym2,pytorch1,ddp2}-PRESET-ROUND.json (+ .wall: the command's wall seconds) and,
with --mkldnn best, mkldnn-PRESET.json. Throughputs are each column's median over the rounds;
efficiencies and ratios are computed per round (the four runs of a round ran back to back) and
then the median (min-max) is shown.
"""

import datetime
import json
import os
import statistics
import sys

from table import cpu_model  # bench/table.py, beside this script

SIDES = ("rnngym1", "rnngym2", "pytorch1", "ddp2")


def load(out, side, p, r):
    with open(f"{out}/{side}-{p}-{r}.json") as f:
        run = json.load(f)
    with open(f"{out}/{side}-{p}-{r}.wall") as f:
        run["wall_s"] = float(f.read())
    return run


def spread(vals, fmt):
    med = statistics.median(vals)
    if len(vals) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(vals), fmt)}-{format(max(vals), fmt)})"


def main():
    out, rounds, presets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rows, mem, walls, notes = [], [], [], []
    for p in presets:
        runs = {s: [load(out, s, p, r) for r in range(1, rounds + 1)] for s in SIDES}
        rate = {s: [x["train_chars_per_s"] for x in runs[s]] for s in SIDES}
        med = {s: statistics.median(v) for s, v in rate.items()}
        eff_ours = [b / (2 * a) for a, b in zip(rate["rnngym1"], rate["rnngym2"])]
        eff_theirs = [b / (2 * a) for a, b in zip(rate["pytorch1"], rate["ddp2"])]
        ratio1 = [a / b for a, b in zip(rate["rnngym1"], rate["pytorch1"])]
        ratio2 = [a / b for a, b in zip(rate["rnngym2"], rate["ddp2"])]
        x = runs["rnngym1"][0]
        shape = f"{p.upper()} (H={x['hidden']}, B={x['batch']}, T={x['seq_len']})"
        rows.append(
            f"| {shape} | {med['rnngym1']:,.0f} | {med['rnngym2']:,.0f} ({med['rnngym2'] / 2:,.0f}) "
            f"| {spread(eff_ours, '.2f')} | {med['pytorch1']:,.0f} "
            f"| {med['ddp2']:,.0f} ({med['ddp2'] / 2:,.0f}) | {spread(eff_theirs, '.2f')} "
            f"| {spread(ratio1, '.2f')} | {spread(ratio2, '.2f')} |")
        rss = {s: statistics.median(x["peak_rss_mb"] for x in runs[s]) for s in SIDES}
        ddp_ranks = [statistics.median(x["peak_rss_mb_per_rank"][i] for x in runs["ddp2"])
                     for i in range(2)]
        mem.append(f"| {p.upper()} | {rss['rnngym1']:.1f} | {rss['rnngym2']:.1f} | {rss['pytorch1']:.1f} "
                   f"| {' / '.join(f'{v:.1f}' for v in ddp_ranks)} |")
        wall = {s: statistics.median(x["wall_s"] for x in runs[s]) for s in SIDES}
        walls.append(f"| {p.upper()} | " + " | ".join(f"{wall[s]:.1f}" for s in SIDES)
                     + f" | {statistics.median(x['ready_s'] for x in runs['ddp2']):.1f} |")
        path = f"{out}/mkldnn-{p}.json"
        if os.path.exists(path):
            with open(path) as f:
                by = json.load(f)["train_chars_per_s_by_mkldnn"]
            notes.append(f"{p.upper()}: " + ", ".join(f"{k} {v:,.0f}" for k, v in by.items()))
        notes_m = runs["pytorch1"][0].get("train_mkldnn")
        if notes_m and not os.path.exists(path):
            notes.append(f"{p.upper()}: oneDNN {notes_m}")

    x = load(out, "ddp2", presets[0], 1)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"torch {x['torch']}; {rounds} rounds, `--seconds` as given; 1 thread per rank.\n")
    print("| preset | rnngym 1×1 | rnngym 2×1 total (per rank) | efficiency | PyTorch 1×1 "
          "| DDP 2×1 total (per rank) | efficiency | rnngym / PyTorch, 1 rank "
          "| rnngym / PyTorch, 2 ranks |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nchars/s, medians over the rounds; efficiency = 2-rank total / (2 × 1-rank) and the "
          "ratios per round, median (min-max).\n")
    print("Peak RSS per rank, MB (rnngym 2×1: rank 0; DDP: rank 0 / rank 1):\n")
    print("| preset | rnngym 1×1 | rnngym 2×1 | PyTorch 1×1 | DDP 2×1 |")
    print("|---|---|---|---|---|")
    print("\n".join(mem))
    print("\nWall seconds per command (launch + warm-up + measured time + exit), and DDP's "
          "time to ready (import torch, init_process_group, DDP wrap):\n")
    print("| preset | rnngym 1×1 | rnngym 2×1 (mpirun) | PyTorch 1×1 | DDP 2×1 (torchrun) "
          "| DDP ready |")
    print("|---|---|---|---|---|---|")
    print("\n".join(walls))
    if notes:
        print("\nPyTorch 1×1 training chars/s by oneDNN setting (one run each): " + "; ".join(notes))


if __name__ == "__main__":
    main()
