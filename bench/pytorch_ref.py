#!/usr/bin/env python3
"""PyTorch reference for `rnngym bench`: the same model, data shape and measurement.

Model: nn.Embedding(V, E) -> nn.LSTM(E, H, num_layers=2, batch_first=True) -> nn.Linear(H, V),
V = 65, E = H (--cell gru / rnn: nn.GRU / nn.RNN with tanh instead of nn.LSTM). Presets
(H, B, T): s = (128, 32, 64), m = (256, 50, 50), l = (512, 64, 100).

Training: synthetic uniform random tokens (8 pre-built windows, cycled), the recurrent state carried
from window to window (detached), cross-entropy, backward, clip_grad_norm_(5), Adam(lr=2e-3).
Characters/s = B*T*iterations / seconds, after a warm-up.

Generation: batch 1, one token at a time in a Python loop with the state ((h, c) or h) carried, as
PyTorch users write it: embed -> rnn -> linear -> softmax -> torch.multinomial, under
torch.no_grad(). Characters/s after a warm-up of 200 tokens.

oneDNN: on the CPU PyTorch runs nn.LSTM / GRU / RNN through oneDNN (mkldnn) by default, and
on the machines seen here its batch-1 generation is 2.5-3x slower than the same loop with
`torch.backends.mkldnn.enabled = False`. So the reference is taken at its fastest setting:
with --mkldnn best (the default on the CPU) each mode runs once with oneDNN on and once off,
and the faster figure is reported (both are in the JSON, and which one won).

Peak memory: VmHWM of this process from /proc/self/status; with --device cuda also the peak
GPU memory PyTorch reserved (torch.cuda.max_memory_reserved). On the GPU, the cell runs on
cuDNN in FP32: TF32 is turned off for cuDNN and matmuls, as rnngym's cuBLAS runs full FP32.
Every training step and every generated token reads a value back to the host (loss.item(),
.item() of the token), so the timings include the device's work.

Prints one JSON object (with --json) or a short text report.
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"s": (128, 32, 64), "m": (256, 50, 50), "l": (512, 64, 100)}
VOCAB = 65


CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}  # nn.RNN's default is tanh, as rnngym's


class CharRnn(nn.Module):
    def __init__(self, cell, v, e, h, layers):
        super().__init__()
        self.embed = nn.Embedding(v, e)
        self.rnn = CELLS[cell](e, h, num_layers=layers, batch_first=True)
        self.proj = nn.Linear(h, v)

    def forward(self, x, state=None):
        y, state = self.rnn(self.embed(x), state)
        return self.proj(y), state


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def make_step(model, data):
    """The measured training step on window `i % len(data)` of `data` ([(x, y)]): the state
    carried (detached), cross-entropy, backward, clip 5, Adam 2e-3; returns the loss."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    state = None

    def step(i):
        nonlocal state
        x, y = data[i % len(data)]
        if isinstance(state, tuple):  # LSTM: (h, c)
            state = tuple(s.detach() for s in state)
        elif state is not None:  # GRU, RNN: h
            state = state.detach()
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss.item()

    return step


def bench_train(model, b, t, seconds, device):
    gen = torch.Generator().manual_seed(0)
    data = [
        (torch.randint(0, VOCAB, (b, t), generator=gen).to(device),
         torch.randint(0, VOCAB, (b, t), generator=gen).to(device))
        for _ in range(8)
    ]
    step = make_step(model, data)
    i, warm = 0, time.perf_counter()
    while i < 3 or (time.perf_counter() - warm < seconds / 10 and i < 20):
        loss = step(i)
        i += 1
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < seconds:
        loss = step(i + n)
        n += 1
    return n * b * t / (time.perf_counter() - start), loss


@torch.no_grad()
def bench_generate(model, seconds, device):
    gen = torch.Generator(device=device).manual_seed(3)
    x = torch.zeros((1, 1), dtype=torch.long, device=device)
    state = None

    def next_token():
        nonlocal state
        logits, state = model(x, state)
        probs = F.softmax(logits[0, -1], dim=-1)
        tok = torch.multinomial(probs, 1, generator=gen).item()
        x[0, 0] = tok
        return tok

    for _ in range(200):
        next_token()
    n, start = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - start < seconds:
        for _ in range(64):
            next_token()
        n += 64
    return n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="s")
    ap.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    ap.add_argument("--mode", choices=["train", "generate", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--mkldnn", choices=["best", "on", "off"], default="best",
                    help="oneDNN for the CPU cells: both, reporting the faster (best), or one")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    gpu_name = None
    if a.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch.cuda.is_available() is False")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        gpu_name = torch.cuda.get_device_name(0)
    torch.manual_seed(1)
    h, b, t = PRESETS[a.preset]
    settings = {"best": ["on", "off"], "on": ["on"], "off": ["off"]}[a.mkldnn]
    if a.device == "cuda":
        settings = ["on"]  # oneDNN is a CPU library

    def fastest(run):
        """{setting: (rate, extra)} for each oneDNN setting, and the fastest setting."""
        by = {}
        for s in settings:
            torch.backends.mkldnn.enabled = s == "on"
            torch.manual_seed(1)
            by[s] = run()
        torch.backends.mkldnn.enabled = True
        return by, max(by, key=lambda s: by[s][0])

    train = train_by = gen_by = generate = None
    train_won = gen_won = None
    if a.mode in ("train", "both"):
        train_by, train_won = fastest(
            lambda: bench_train(CharRnn(a.cell, VOCAB, h, h, 2).to(device), b, t, a.seconds, device))
        train = train_by[train_won]
    if a.mode in ("generate", "both"):
        gen_by, gen_won = fastest(lambda: (bench_generate(
            CharRnn(a.cell, VOCAB, h, h, 2).to(device).eval(), a.seconds, device), None))
        generate = gen_by[gen_won][0]
    rss = peak_rss_mb()
    gpu_mb = torch.cuda.max_memory_reserved() / 2**20 if a.device == "cuda" else None
    if a.json:
        print(
            json.dumps(
                {
                    "impl": "pytorch",
                    "torch": torch.__version__,
                    "preset": a.preset,
                    "cell": a.cell,
                    "hidden": h,
                    "embed": h,
                    "layers": 2,
                    "vocab": VOCAB,
                    "batch": b,
                    "seq_len": t,
                    "device": gpu_name or "cpu",
                    "threads": torch.get_num_threads(),
                    "train_chars_per_s": train[0] if train else None,
                    "train_loss": train[1] if train else None,
                    "generate_chars_per_s": generate,
                    "train_chars_per_s_by_mkldnn":
                        {s: r[0] for s, r in train_by.items()} if train_by else None,
                    "generate_chars_per_s_by_mkldnn":
                        {s: r[0] for s, r in gen_by.items()} if gen_by else None,
                    "train_mkldnn": train_won,
                    "generate_mkldnn": gen_won,
                    "peak_rss_mb": rss,
                    "gpu_memory_mb": gpu_mb,
                }
            )
        )
    else:
        print(f"pytorch {torch.__version__} bench: preset {a.preset} ({a.cell.upper()}, H=E={h}, "
              f"B={b}, T={t}), "
              f"{torch.get_num_threads()} threads")
        if train:
            print(f"train:    {train[0]:>10.0f} chars/s  (last loss {train[1]:.3f}; oneDNN "
                  f"{train_won}; " + ", ".join(f"{s}: {r[0]:.0f}" for s, r in train_by.items())
                  + ")")
        if generate:
            print(f"generate: {generate:>10.0f} chars/s  (oneDNN {gen_won}; "
                  + ", ".join(f"{s}: {r[0]:.0f}" for s, r in gen_by.items()) + ")")
        print(f"peak RSS: {rss:>10.1f} MB" if rss else "peak RSS: unavailable")
        if gpu_mb is not None:
            print(f"GPU memory: {gpu_mb:>8.1f} MB (max reserved)")


if __name__ == "__main__":
    main()
