"""A process-v1 gym for the fault tests (tests/process_faults.rs): a plain two-letter
stream that misbehaves on request.

It records its pid as a file in ./pids/ (the working directory is the config's folder), so a
test can check that no gym process outlives the trainer. GYM_FAULT picks the fault and
GYM_FAULT_AT the training window it strikes at (counted from 1 over this process's life):
exit, hang, garbage, shape, token (raw bad frames), raise. Before a fault it says so on
stderr, so the trainer's error line can quote it. A `hang` also creates ./hanging.
"""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import rnngym_gym  # noqa: E402

os.makedirs("pids", exist_ok=True)
open(os.path.join("pids", str(os.getpid())), "w").close()

FAULT = os.environ.get("GYM_FAULT", "")
AT = int(os.environ.get("GYM_FAULT_AT", "3"))
WINDOWS = 4


def raw_window(batch, seq, tokens):
    """A WIND frame written by hand (the helper would refuse to send a bad one)."""
    payload = struct.pack("<IIBBH", batch, seq, 1, 0, 0) + b"\x01" * batch + bytes(tokens) * 2
    out = sys.__stdout__.buffer
    out.write(struct.pack("<4sI", b"WIND", len(payload)) + payload)
    out.flush()


def inject(batch, seq):
    print("fault gym: injecting %s at window %d" % (FAULT, AT), file=sys.stderr, flush=True)
    if FAULT == "exit":
        os._exit(3)
    if FAULT == "raise":
        raise RuntimeError("boom")
    if FAULT == "garbage":
        sys.__stdout__.buffer.write(b"hello, world!\n")
        sys.__stdout__.buffer.flush()
    elif FAULT == "shape":
        raw_window(batch + 1, seq, [0] * ((batch + 1) * seq))
    elif FAULT == "token":
        raw_window(batch, seq, [200] + [0] * (batch * seq - 1))
    elif FAULT == "hang":
        open("hanging", "w").close()
    time.sleep(3600)


class Faulty(rnngym_gym.Gym):
    def __init__(self, settings):
        self.codec = rnngym_gym.CharCodec("ab")
        self.train_windows = 0

    def reset(self, split, seed, batch, seq):
        self.split, self.seed, self.batch, self.seq, self.window = split, seed, batch, seq, 0
        return rnngym_gym.EpisodeInfo(WINDOWS, WINDOWS * batch * seq, split)

    def step(self):
        b, t = self.batch, self.seq
        if self.split == "train":
            self.train_windows += 1
            if FAULT and self.train_windows == AT:
                inject(b, t)
        # Lane l is the stream "aab" repeated, shifted by the seed and the lane.
        start = self.window * t

        def lane(l, off):
            return [1 if (p + l + self.seed) % 3 == 2 else 0 for p in range(start + off, start + off + t)]

        xs = [x for l in range(b) for x in lane(l, 0)]
        ys = [y for l in range(b) for y in lane(l, 1)]
        self.window += 1
        return xs, ys, self.window == 1, self.window == WINDOWS


if __name__ == "__main__":
    rnngym_gym.serve(Faulty)
