#!/usr/bin/env python3
"""PyTorch reference for the quality bar of `configs/tinyshakespeare-small.toml`.

Trains nn.Embedding(V, E) -> nn.LSTM(E, H, 2 layers) -> nn.Linear(H, V) on a text file with
a 90/10 tail split, Adam, clip_grad_norm_(5), and reports the validation loss in nats/char at
the end, so rnngym's figure can be put beside PyTorch's on the same machine and data.

Two data orders:
  --order lanes   rnngym's text-v1 layout: the train split cut into B contiguous lane streams,
                  consecutive windows, hidden state carried (detached) across windows, a new
                  seeded offset per epoch (char-rnn / torch-rnn style).
  --order random  B random windows per batch from a zero state (the common PyTorch tutorial).
Validation is always rnngym's: the whole validation split as B lanes, state carried, from zero.

Usage: .venv/bin/python bench/pytorch_quality.py --text ../shared/data/tinyshakespeare/input.txt
"""

import argparse
import json
import math
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharLstm(nn.Module):
    def __init__(self, v, e, h, layers):
        super().__init__()
        self.embed = nn.Embedding(v, e)
        self.rnn = nn.LSTM(e, h, num_layers=layers, batch_first=True)
        self.proj = nn.Linear(h, v)

    def forward(self, x, state=None):
        y, state = self.rnn(self.embed(x), state)
        return self.proj(y), state


def lanes(data, b, t, offset):
    """Yields (x, y, first) windows of the lane layout of rnngym's text-v1 gym."""
    n = len(data)
    w = (n - 1) // (b * t)
    for i in range(w):
        starts = [offset + lane * w * t + i * t for lane in range(b)]
        x = torch.stack([data[s : s + t] for s in starts])
        y = torch.stack([data[s + 1 : s + t + 1] for s in starts])
        yield x, y, i == 0


def evaluate(model, data, b, t):
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for x, y, first in lanes(data, b, t, 0):
            if first:
                state = None
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
            count += 1
    model.train()
    return total / count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", required=True)
    ap.add_argument("--order", choices=["lanes", "random"], default="lanes")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--forget-bias", type=float, default=None,
                    help="set the LSTM forget-gate bias (bias_ih) to this, bias_hh's to 0, as rnngym")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    text = open(args.text, encoding="utf-8").read()
    chars = sorted(set(text))
    idx = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([idx[c] for c in text], dtype=torch.long)
    n_val = int(len(data) * 0.1)
    train, val = data[: len(data) - n_val], data[len(data) - n_val :]
    b, t = args.batch, args.seq
    model = CharLstm(len(chars), args.embed, args.hidden, args.layers)
    if args.forget_bias is not None:
        h = args.hidden
        with torch.no_grad():
            for l in range(args.layers):
                getattr(model.rnn, f"bias_ih_l{l}")[h : 2 * h] = args.forget_bias
                getattr(model.rnn, f"bias_hh_l{l}")[h : 2 * h] = 0.0
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def batches():
        while True:
            if args.order == "lanes":
                slack = len(train) - 1 - ((len(train) - 1) // (b * t)) * b * t
                yield from lanes(train, b, t, rng.randint(0, slack))
            else:
                starts = [rng.randint(0, len(train) - t - 1) for _ in range(b)]
                x = torch.stack([train[s : s + t] for s in starts])
                y = torch.stack([train[s + 1 : s + t + 1] for s in starts])
                yield x, y, True

    state, start, it = None, time.time(), 0
    for x, y, first in batches():
        if it == args.iterations:
            break
        if first:
            state = None
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        it += 1
        if it % args.val_every == 0 or it == args.iterations:
            v = evaluate(model, val, b, t)
            print(json.dumps({"iteration": it, "train_loss": loss.item(), "val_loss": v,
                              "seconds": round(time.time() - start, 1)}), flush=True)
    print(json.dumps({"order": args.order, "val_loss": v, "bits_per_char": v / math.log(2),
                      "seconds": round(time.time() - start, 1)}))


if __name__ == "__main__":
    main()
