#!/usr/bin/env python3
"""PyTorch DDP (Gloo) reference for `mpirun -np N rnngym bench --mode train`.

The model and the training step are bench/pytorch_ref.py's (imported, not copied):
Embedding -> 2-layer LSTM -> Linear, V = 65, E = H, presets (H, B, T) s = (128, 32, 64),
m = (256, 50, 50), l = (512, 64, 100); synthetic uniform tokens (8 windows, cycled), the state
carried (detached), cross-entropy, backward, clip_grad_norm_(5), Adam(lr=2e-3). The model is
wrapped in torch.nn.parallel.DistributedDataParallel on the Gloo backend (CPU).

As in rnngym, B is the **global** batch: rank r of N trains lanes r*B/N .. (r+1)*B/N of the
same windows (built from the same seed on every rank), so N ranks together train what one
process trains. DDP averages the gradients over the ranks in backward (bucketed all-reduces,
overlapped with the backward pass), so clipping sees the global norm and every rank takes the
same Adam step.

Launch (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR/PORT; --standalone runs its own
rendezvous on localhost):

    .venv/bin/torchrun --standalone --nproc_per_node 2 bench/pytorch_ddp.py --preset s --json

Each rank runs with --threads threads (default 1; torch.set_num_threads). oneDNN: --mkldnn on
(the default: faster for training on the machines seen here; pytorch_ref.py --mkldnn best
--mode train measures both) or off.

The ranks stop together: each step rank 0's "time is up" flag is all-reduced (one 1-element
Gloo all-reduce per step, as rnngym all-reduces its loss each step), so no rank starts a
step whose gradient all-reduce the others never join.

Characters/s = B*T*steps / seconds on rank 0 (the global batch), after a warm-up; per rank
= that / N. Peak memory: VmHWM of every rank (all-gathered), in MB.

Prints one JSON object from rank 0 (with --json) or a short text report.
"""

import argparse
import json
import os
import sys
import time

START = time.perf_counter()

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_ref import CELLS, PRESETS, VOCAB, CharRnn, make_step, peak_rss_mb  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="s")
    ap.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=1, help="threads per rank")
    ap.add_argument("--mkldnn", choices=["on", "off"], default="on",
                    help="oneDNN for the CPU cells (on: faster for training here)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    if "RANK" not in os.environ:
        raise SystemExit("start me with torchrun: .venv/bin/torchrun --standalone "
                         "--nproc_per_node N bench/pytorch_ddp.py ...")
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    h, b, t = PRESETS[a.preset]
    if b % world:
        raise SystemExit(f"batch {b} is not divisible by the {world} ranks")
    lanes = slice(rank * b // world, (rank + 1) * b // world)

    torch.manual_seed(1)  # the same initial parameters everywhere (DDP also broadcasts rank 0's)
    model = DDP(CharRnn(a.cell, VOCAB, h, h, 2))
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, VOCAB, (b, t), generator=gen)[lanes].contiguous(),
             torch.randint(0, VOCAB, (b, t), generator=gen)[lanes].contiguous())
            for _ in range(8)]
    # pytorch_ref.py's step; DDP all-reduces (averages) the gradients inside backward().
    step = make_step(model, data)
    ready_s = time.perf_counter() - START

    flag = torch.zeros(1)

    def all_done(done):
        """Rank 0's decision, shared: every rank runs the same number of steps."""
        flag[0] = 1.0 if (rank == 0 and done) else 0.0
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return flag.item() > 0

    # Warm-up as pytorch_ref.py: at least 3 steps, then until a tenth of --seconds or 20 steps.
    i, warm = 0, time.perf_counter()
    while True:
        loss = step(i)
        i += 1
        if all_done(i >= 3 and (time.perf_counter() - warm >= a.seconds / 10 or i >= 20)):
            break
    n, start = 0, time.perf_counter()
    while True:
        loss = step(i + n)
        n += 1
        if all_done(time.perf_counter() - start >= a.seconds):
            break
    elapsed = time.perf_counter() - start
    rate = n * b * t / elapsed

    rss = torch.tensor([peak_rss_mb() or 0.0], dtype=torch.float64)
    all_rss = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(all_rss, rss)
    rss_per_rank = [r.item() for r in all_rss]
    dist.destroy_process_group()
    if rank != 0:
        return
    if a.json:
        print(json.dumps({
            "impl": "pytorch-ddp",
            "torch": torch.__version__,
            "backend": "gloo",
            "launcher": "torchrun",
            "preset": a.preset,
            "cell": a.cell,
            "hidden": h, "embed": h, "layers": 2, "vocab": VOCAB, "batch": b, "seq_len": t,
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "ranks": world,
            "mkldnn": a.mkldnn,
            "steps": n,
            "train_chars_per_s": rate,
            "train_chars_per_s_per_rank": rate / world,
            "train_loss": loss,
            "peak_rss_mb": rss_per_rank[0],
            "peak_rss_mb_per_rank": rss_per_rank,
            "ready_s": ready_s,
        }))
    else:
        print(f"pytorch {torch.__version__} DDP (gloo, {world} ranks x {torch.get_num_threads()} "
              f"threads): preset {a.preset} ({a.cell.upper()}, H=E={h}, B={b} global, "
              f"{b // world} per rank, T={t}), oneDNN {a.mkldnn}")
        print(f"train:    {rate:>10.0f} chars/s  ({rate / world:.0f} per rank; {n} steps; "
              f"last loss {loss:.3f})")
        print("peak RSS: " + ", ".join(f"{r:.1f}" for r in rss_per_rank) + " MB (per rank)")
        print(f"ready in: {ready_s:>10.2f} s (import, init_process_group, DDP, data)")


if __name__ == "__main__":
    main()
    # Skip the interpreter's teardown: there, about one run in five, a worker died with
    # "terminate called without an active exception" (SIGABRT) after the report was printed
    # and the process group destroyed, and torchrun then failed the whole job.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
