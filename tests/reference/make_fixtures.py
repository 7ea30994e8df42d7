#!/usr/bin/env python3
"""Write the PyTorch golden fixtures in tests/reference/fixtures/*.json.

Run by hand (not by CI), from any directory:

    python3 -m venv .venv && .venv/bin/pip install torch
    .venv/bin/python tests/reference/make_fixtures.py

The Rust golden tests load these files, put the weights into an rnngym model,
run the forward and backward passes and compare logits, loss, final states and
every gradient. Everything is float64, and the script is deterministic: the
same torch build writes the same bytes every time.

Model (module names give the parameter names, exactly PyTorch's state_dict):

    embed = nn.Embedding(V, E)                     embed.weight  [V, E]
    rnn   = nn.LSTM | nn.GRU | nn.RNN(nonlinearity="tanh")
            (E, H, num_layers=L, bias=True, batch_first=False, dropout=0)
                                                   rnn.weight_ih_l{k} [G*H, E or H]
                                                   rnn.weight_hh_l{k} [G*H, H]
                                                   rnn.bias_ih_l{k}   [G*H]
                                                   rnn.bias_hh_l{k}   [G*H]
    proj  = nn.Linear(H, V)                        proj.weight [V, H], proj.bias [V]

    x      = embed(inputs)                 inputs: [T, B] ints, time-major
    y, h_n = rnn(x, h0)  (LSTM: (h0, c0))  y: [T, B, H], the last layer's h_t
    logits = proj(y).reshape(T*B, V)       row t*B + b is step t, batch item b
    loss   = F.cross_entropy(logits, targets.reshape(T*B))   mean over T*B

Cells, per layer k and step t; x is the layer input (the embedding for k = 0,
layer k-1's h_t above that); W_i* and b_i* are row blocks of weight_ih /
bias_ih, W_h* and b_h* of weight_hh / bias_hh, in the gate order given:

  LSTM, G = 4, gate order i, f, g, o:
      i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
      f = sigmoid(W_if x + b_if + W_hf h + b_hf)
      g = tanh   (W_ig x + b_ig + W_hg h + b_hg)
      o = sigmoid(W_io x + b_io + W_ho h + b_ho)
      c' = f * c + i * g
      h' = o * tanh(c')
  GRU, G = 3, gate order r, z, n:
      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))  <- b_hn is inside r * (.)
      h' = (1 - z) * n + z * h                          <- z keeps the OLD h
  RNN, G = 1:
      h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

Both biases are separate parameters. They always appear as a sum, except
b_hn in the GRU, so their gradients are equal except for b_hn. Dropout is 0.
PyTorch's default init draws every rnn parameter from
U(-1/sqrt(H), 1/sqrt(H)) and does not set the LSTM forget-gate bias to 1.
Here the init does not matter: every parameter is redrawn from U(-0.5, 0.5) so
that gradients are not tiny. h0 and c0 (shape [L, B, H]) come from
U(-0.5, 0.5) too, and inputs and targets are uniform in [0, V). The
gradients are d(loss)/d(param) of the mean loss. The embedding gradient is
non-zero only in rows of tokens that occur in `inputs`.

Before writing, the script checks these formulas: it recomputes logits and
states by hand from the equations above and asserts that they match the
nn modules to 1e-12.

JSON layout (one file per case; every tensor is flat, row-major; floats are
written in full float64 precision by Python's repr):

    {"cell": "lstm"|"gru"|"rnn", "vocab": V, "embed": E, "hidden": H,
     "layers": L, "batch": B, "seq": T, "seed": S,
     "inputs": [[B ints] x T], "targets": [[B ints] x T],
     "h0": [L*B*H], "c0": [L*B*H] (lstm only),
     "params": {name: {"shape": [...], "data": [...]}, ...},
     "logits": {"shape": [T*B, V], "data": [...]}, "loss": float,
     "h_n": [L*B*H], "c_n": [L*B*H] (lstm only),
     "grads": {name: {"shape": [...], "data": [...]}, ...}}   same names as params
"""

import json
import os

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")

# (file stem, cell, V, E, H, L, B, T, seed)
CASES = [
    ("lstm", "lstm", 7, 5, 6, 2, 3, 4, 1001),
    ("gru", "gru", 7, 5, 6, 2, 3, 4, 1002),
    ("rnn", "rnn", 7, 5, 6, 2, 3, 4, 1003),
    ("lstm_long", "lstm", 7, 5, 8, 3, 2, 9, 1004),  # carried state over 9 steps
]


class Model(nn.Module):
    def __init__(self, cell, V, E, H, L):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        if cell == "lstm":
            self.rnn = nn.LSTM(E, H, num_layers=L, dropout=0.0)
        elif cell == "gru":
            self.rnn = nn.GRU(E, H, num_layers=L, dropout=0.0)
        else:
            self.rnn = nn.RNN(E, H, num_layers=L, nonlinearity="tanh", dropout=0.0)
        self.proj = nn.Linear(H, V)

    def forward(self, inputs, state):
        y, state_n = self.rnn(self.embed(inputs), state)
        return self.proj(y), state_n


def manual_forward(cell, p, inputs, h0, c0, L):
    """The docstring's equations, written out; used only as a self-check."""
    x_seq = [p["embed.weight"][tok] for tok in inputs]  # T x [B, E]
    h_n, c_n = [], []
    for k in range(L):
        w_ih, w_hh = p[f"rnn.weight_ih_l{k}"], p[f"rnn.weight_hh_l{k}"]
        b_ih, b_hh = p[f"rnn.bias_ih_l{k}"], p[f"rnn.bias_hh_l{k}"]
        h, c, out = h0[k], (c0[k] if c0 is not None else None), []
        for x in x_seq:
            gi = x @ w_ih.T + b_ih
            gh = h @ w_hh.T + b_hh
            if cell == "lstm":
                i, f, g, o = (gi + gh).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif cell == "gru":
                i_r, i_z, i_n = gi.chunk(3, dim=1)
                h_r, h_z, h_n_ = gh.chunk(3, dim=1)
                r = torch.sigmoid(i_r + h_r)
                z = torch.sigmoid(i_z + h_z)
                n = torch.tanh(i_n + r * h_n_)
                h = (1 - z) * n + z * h
            else:
                h = torch.tanh(gi + gh)
            out.append(h)
        x_seq = out
        h_n.append(h)
        c_n.append(c)
    logits = torch.stack(x_seq) @ p["proj.weight"].T + p["proj.bias"]
    return logits, torch.stack(h_n), (torch.stack(c_n) if c0 is not None else None)


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def make_case(cell, V, E, H, L, B, T, seed):
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape):
        return torch.rand(*shape, generator=gen) - 0.5  # U(-0.5, 0.5)

    model = Model(cell, V, E, H, L)
    with torch.no_grad():
        for _, prm in model.named_parameters():  # fixed registration order
            prm.copy_(uniform(*prm.shape))
    inputs = torch.randint(0, V, (T, B), generator=gen)
    targets = torch.randint(0, V, (T, B), generator=gen)
    h0 = uniform(L, B, H)
    c0 = uniform(L, B, H) if cell == "lstm" else None

    logits, state_n = model(inputs, (h0, c0) if cell == "lstm" else h0)
    logits = logits.reshape(T * B, V)
    loss = F.cross_entropy(logits, targets.reshape(T * B))
    model.zero_grad()
    loss.backward()
    h_n, c_n = state_n if cell == "lstm" else (state_n, None)

    params = dict(model.named_parameters())
    with torch.no_grad():
        m_logits, m_h, m_c = manual_forward(cell, params, inputs, h0, c0, L)
        assert torch.allclose(m_logits.reshape(T * B, V), logits, atol=1e-12, rtol=0)
        assert torch.allclose(m_h, h_n, atol=1e-12, rtol=0)
        if cell == "lstm":
            assert torch.allclose(m_c, c_n, atol=1e-12, rtol=0)

    fx = {"cell": cell, "vocab": V, "embed": E, "hidden": H, "layers": L,
          "batch": B, "seq": T, "seed": seed,
          "inputs": inputs.tolist(), "targets": targets.tolist(),
          "h0": h0.reshape(-1).tolist()}
    if cell == "lstm":
        fx["c0"] = c0.reshape(-1).tolist()
    fx["params"] = {n: tensor_json(p) for n, p in params.items()}
    fx["logits"] = tensor_json(logits)
    fx["loss"] = loss.item()
    fx["h_n"] = h_n.detach().reshape(-1).tolist()
    if cell == "lstm":
        fx["c_n"] = c_n.detach().reshape(-1).tolist()
    fx["grads"] = {n: tensor_json(p.grad) for n, p in params.items()}
    return fx


def make_training_case(V, E, H, L, B, T, windows, steps, lr, clip, seed):
    """Adam training through carried state: the trainer loop of rnngym, step by step.

    The stream is `windows` consecutive windows per lane (state carried across them and
    detached, reset to zero at window 0), repeated to `steps` optimizer steps. Each step:
    mean cross-entropy, backward, clip_grad_norm_(clip), Adam(lr, betas 0.9/0.999, eps 1e-8).
    Weights start from PyTorch's default init with the LSTM forget-gate bias of rnngym
    (bias_ih forget block = 1, bias_hh forget block = 0).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Model("lstm", V, E, H, L)
    with torch.no_grad():
        for k in range(L):
            getattr(model.rnn, f"bias_ih_l{k}")[H : 2 * H] = 1.0
            getattr(model.rnn, f"bias_hh_l{k}")[H : 2 * H] = 0.0
    init = {n: tensor_json(p) for n, p in model.named_parameters()}
    stream = torch.randint(0, V, (B, windows * T + 1), generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, norms, state = [], [], None
    for step in range(steps):
        w = step % windows
        x = stream[:, w * T : (w + 1) * T].T  # time-major [T, B]
        y = stream[:, w * T + 1 : (w + 1) * T + 1].T
        if w == 0:
            state = (torch.zeros(L, B, H), torch.zeros(L, B, H))
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(T * B, V), y.reshape(T * B))
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), clip).item())
        opt.step()
        losses.append(loss.item())
    return {"cell": "lstm", "vocab": V, "embed": E, "hidden": H, "layers": L,
            "batch": B, "seq": T, "windows": windows, "steps": steps, "lr": lr,
            "clip": clip, "seed": seed, "stream": stream.tolist(), "losses": losses,
            "grad_norms": norms, "params": init,
            "final": {n: tensor_json(p) for n, p in model.named_parameters()}}


def dumps(fx):
    """Compact JSON with one top-level key (and one tensor) per line."""
    lines = []
    for key, val in fx.items():
        if key in ("params", "grads", "final"):
            inner = ",\n".join(f"    {json.dumps(n)}: {json.dumps(t)}" for n, t in val.items())
            lines.append(f"  {json.dumps(key)}: {{\n{inner}\n  }}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(val)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main():
    torch.set_default_dtype(torch.float64)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for stem, cell, V, E, H, L, B, T, seed in CASES:
        fx = make_case(cell, V, E, H, L, B, T, seed)
        path = os.path.join(OUT_DIR, f"{stem}.json")
        text = dumps(fx)
        assert json.loads(text) == fx
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(path)}: {len(text)} bytes, "
              f"loss {fx['loss']:.6f} (torch {torch.__version__})")
    # A short Adam run through carried state, at sizes that take the SIMD paths (H = 24).
    fx = make_training_case(V=19, E=16, H=24, L=2, B=5, T=12, windows=3, steps=12, lr=1e-2,
                            clip=0.5, seed=1005)
    path = os.path.join(OUT_DIR, "lstm_train.json")
    text = dumps(fx)
    assert json.loads(text) == fx
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(path)}: {len(text)} bytes, losses "
          f"{fx['losses'][0]:.6f} .. {fx['losses'][-1]:.6f}")


if __name__ == "__main__":
    main()
