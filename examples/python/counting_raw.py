"""A process-v1 gym written against the bare protocol (no helper): the whole of it in a page,
as a template for gyms in other languages (docs/GYM_PROTOCOL.md quotes this file).

Lane l of an episode counts 0 1 2 3 4 0 1 ... from an offset set by the seed, the split and l.
"""

import json
import struct
import sys

VOCAB = "01234"  # a "char" codec: token i is VOCAB[i] (sorted, distinct)
WINDOWS = 8  # windows per episode
inp, out = sys.stdin.buffer, sys.stdout.buffer


def read():
    head = inp.read(8)
    if len(head) < 8:
        sys.exit(0)  # the trainer closed the pipe: exit
    tag, n = struct.unpack("<4sI", head)
    return tag, inp.read(n)


def send(tag, payload=b""):
    out.write(struct.pack("<4sI", tag, len(payload)) + payload)
    out.flush()


tag, hello = read()  # the trainer speaks first
if tag != b"HELO" or json.loads(hello)["version"] != 1:
    send(b"FAIL", struct.pack("<I", 0) + b"this gym speaks protocol version 1")
    sys.exit(1)
codec = {"kind": "char", "vocab": VOCAB}
send(b"HELO", json.dumps({"protocol": "rnngym-gym", "version": 1, "codec": codec}).encode())

while True:
    tag, payload = read()
    if tag == b"RSET":
        seed, batch, seq, split = struct.unpack("<QIII", payload)
        window = 0
        send(b"INFO", struct.pack("<QQ", WINDOWS, WINDOWS * batch * seq) + b"counting")
    elif tag == b"STEP":

        def token(lane, t):  # token t of lane `lane`'s stream
            return (t + lane + seed + 3 * split) % len(VOCAB)

        start = window * seq
        xs = bytes(token(b, start + t) for b in range(batch) for t in range(seq))
        ys = bytes(token(b, start + t + 1) for b in range(batch) for t in range(seq))
        window += 1
        # batch, seq, 1 byte per token, episode_done, reserved; then the reset flags.
        head = struct.pack("<IIBBH", batch, seq, 1, window == WINDOWS, 0)
        send(b"WIND", head + bytes([window == 1]) * batch + xs + ys)
    elif tag == b"BYE!":
        break
