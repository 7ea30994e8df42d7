"""A Dyck-language gym in Python: streams of balanced brackets, one word per line.

Run by rnngym as a `process-v1` gym (configs/brackets-python.toml). Each lane is its own
stream of words such as `([]{()})`: at every position the next bracket either opens (a random
kind) or closes the innermost open one, and a word ends (newline) only when all are closed.
Which bracket opens is a coin toss, but every closing bracket is determined by the ones
before it, so a network that keeps a stack in its state predicts closes exactly and beats
the unigram baseline by far. The same (split, seed) gives the same streams; validation
streams are drawn from their own seeds.

Options ([gym.options.config]): windows (per episode, default 32), kinds (bracket kinds,
1 to 4, default 3), max_depth (default 8), p_open (chance to open when both are possible,
default 0.5), p_end (chance to end a word when all brackets are closed, default 0.3).
"""

import os
import random
import sys

# rnngym_gym.py lives in python/ at the repository root.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import rnngym_gym  # noqa: E402

PAIRS = ["()", "[]", "{}", "<>"]


class Brackets(rnngym_gym.Gym):
    name = "brackets"

    def __init__(self, settings):
        c = dict(settings.config)
        self.windows = int(c.pop("windows", 32))
        kinds = int(c.pop("kinds", 3))
        self.max_depth = int(c.pop("max_depth", 8))
        self.p_open = float(c.pop("p_open", 0.5))
        self.p_end = float(c.pop("p_end", 0.3))
        if c:
            raise ValueError("unknown option(s) in gym.options.config: %s" % ", ".join(sorted(c)))
        if not 1 <= kinds <= len(PAIRS) or self.windows < 1 or self.max_depth < 1:
            raise ValueError("need 1 <= kinds <= 4, windows >= 1 and max_depth >= 1")
        pairs = PAIRS[:kinds]
        self.codec = rnngym_gym.CharCodec("".join(pairs) + "\n")
        self.opens = [self.codec.index[p[0]] for p in pairs]
        self.closes = [self.codec.index[p[1]] for p in pairs]
        self.newline = self.codec.index["\n"]
        self.lanes = []

    def reset(self, split, seed, batch, seq):
        # str seeds hash the same in every process (unlike hash()), so episodes replay.
        self.rngs = [random.Random("%s/%d/%d" % (split, seed, lane)) for lane in range(batch)]
        self.lanes = [bytearray() for _ in range(batch)]
        self.stacks = [[] for _ in range(batch)]
        self.seq = seq
        self.served = 0
        return rnngym_gym.EpisodeInfo(self.windows, self.windows * batch * seq, "%s brackets" % split)

    def extend(self, lane, n):
        """Appends at least `n` tokens to `lane`'s stream."""
        buf, stack, rng = self.lanes[lane], self.stacks[lane], self.rngs[lane].random
        opens, closes, kinds = self.opens, self.closes, len(self.opens)
        p_open, p_end, max_depth, newline = self.p_open, self.p_end, self.max_depth, self.newline
        out = []
        prev = buf[-1] if buf else newline
        while len(out) < n:
            if not stack:
                if prev != newline and rng() < p_end:
                    out.append(newline)
                    prev = newline
                    continue
                k = int(rng() * kinds)
                stack.append(k)
                out.append(opens[k])
            elif len(stack) < max_depth and rng() < p_open:
                k = int(rng() * kinds)
                stack.append(k)
                out.append(opens[k])
            else:
                out.append(closes[stack.pop()])
            prev = out[-1]
        buf.extend(out)

    def step(self):
        t = self.seq
        xs, ys = [], []
        for lane, buf in enumerate(self.lanes):
            if len(buf) < t + 1:
                self.extend(lane, t + 1 - len(buf))
            xs.append(bytes(buf[:t]))
            ys.append(bytes(buf[1 : t + 1]))
            del buf[:t]
        first = self.served == 0
        self.served += 1
        return b"".join(xs), b"".join(ys), first, self.served == self.windows


if __name__ == "__main__":
    rnngym_gym.serve(Brackets)
