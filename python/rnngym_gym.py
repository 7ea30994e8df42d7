"""Serve a gym written in Python to rnngym (`gym.id = "process-v1"`).

Standard library only, Python >= 3.8. rnngym starts the gym's script as a child process and
speaks the protocol of docs/GYM_PROTOCOL.md with it on stdin/stdout; this module is that
protocol's Python side. A gym is a class with a codec, `reset` and `step`:

    import rnngym_gym

    class Counting(rnngym_gym.Gym):
        def __init__(self, settings):              # settings.config = [gym.options.config]
            self.codec = rnngym_gym.CharCodec("0123456789")

        def reset(self, split, seed, batch, seq):  # split is "train" or "val"
            ...
            return rnngym_gym.EpisodeInfo(windows=10, tokens=10 * batch * seq, name=split)

        def step(self):
            # inputs, targets: batch * seq tokens each, lane after lane (flat), or one list
            # per lane; reset: one flag per lane (or one bool for all); done: last window?
            return inputs, targets, reset, done

    if __name__ == "__main__":
        rnngym_gym.serve(Counting)

`print()` is safe: while serving, `sys.stdout` is redirected to stderr (the real stdout
carries the protocol), and rnngym shows what the gym writes to stderr in its log and, when
the gym fails, the last lines in its error message. An exception in `reset` or `step` is
reported to the trainer as that request's failure (its traceback goes to stderr).
"""

import json
import signal
import struct
import sys
import traceback
from array import array
from typing import NamedTuple, Optional

PROTOCOL = "rnngym-gym"
VERSION = 1

_HEADER = struct.Struct("<4sI")
_RESET = struct.Struct("<QIII")
_INFO = struct.Struct("<QQ")
_WINDOW = struct.Struct("<IIBBH")
_UNKNOWN_WINDOWS = 0xFFFF_FFFF_FFFF_FFFF
_FAIL_ERROR = 0
_FAIL_TOO_SMALL = 1
_SPLITS = {0: "train", 1: "val"}
# array typecodes of unsigned integers by width, chosen by their actual item size.
_TYPECODES = {array(c).itemsize: c for c in "LIHB"}


class Settings(NamedTuple):
    """What the trainer's handshake says about the configured gym."""

    path: Optional[str]
    """`gym.path` of the config (relative paths resolve in the working directory, which is
    the config file's folder), or None."""
    val_fraction: float
    """`gym.val_fraction` of the config."""
    config: dict
    """`[gym.options.config]` of the config: the gym's own options."""


class EpisodeInfo(NamedTuple):
    """What `reset` returns: windows in the episode (None when not known), its tokens, and a
    name for humans."""

    windows: Optional[int]
    tokens: int = 0
    name: str = ""


class WindowTooSmall(Exception):
    """Raise from `reset` when the split cannot fill one window of the asked shape; rnngym then
    suggests lowering train.batch or train.seq_len."""


class CharCodec:
    """Tokens are the sorted distinct characters of `chars` (rnngym's "char" codec)."""

    def __init__(self, chars):
        self.vocab = "".join(sorted(set(chars)))
        self.index = {c: i for i, c in enumerate(self.vocab)}

    def __len__(self):
        return len(self.vocab)

    def spec(self):
        return {"kind": "char", "vocab": self.vocab}

    def encode(self, text):
        """The tokens of `text` (KeyError on a character outside the vocabulary)."""
        return [self.index[c] for c in text]

    def decode(self, tokens):
        return "".join(self.vocab[t] for t in tokens)


class OpaqueCodec:
    """Tokens 0..vocab_size-1 with no text form (rnngym's "opaque" codec)."""

    def __init__(self, vocab_size):
        self.vocab_size = int(vocab_size)

    def __len__(self):
        return self.vocab_size

    def spec(self):
        return {"kind": "opaque", "vocab_size": self.vocab_size}


class Gym:
    """Base class of a Python gym: set `self.codec` (a CharCodec, an OpaqueCodec, or a codec
    spec dict as rnngym's checkpoints hold it) and implement `reset` and `step`. The same
    (split, seed, batch, seq) must give the same windows: `rnngym check-gym` verifies it."""

    codec = None
    name = None

    def reset(self, split, seed, batch, seq):
        raise NotImplementedError("reset")

    def step(self):
        raise NotImplementedError("step")

    def close(self):
        """Called once when the trainer says goodbye or closes the pipe."""


def _vocab_size(spec):
    kind = spec.get("kind")
    if kind == "char":
        return len(spec["vocab"])
    if kind == "opaque":
        return int(spec["vocab_size"])
    if kind in ("mulaw", "linear"):
        return int(spec["levels"])
    return 1 << 32


def _width(vocab_size):
    return 1 if vocab_size <= 1 << 8 else 2 if vocab_size <= 1 << 16 else 4


class _Server:
    def __init__(self, stdin, stdout):
        self.stdin = stdin
        self.stdout = stdout
        self.gym = None
        self.width = 4
        self.vocab = 1 << 32
        self.shape = None
        self.big_endian = sys.byteorder == "big"

    def read(self):
        """(tag, payload), or None at the end of stdin."""
        head = self.stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return None
        tag, n = _HEADER.unpack(head)
        payload = self.stdin.read(n) if n else b""
        if len(payload) < n:
            return None
        return tag, payload

    def send(self, tag, *parts):
        n = sum(len(p) for p in parts)
        self.stdout.write(b"".join((_HEADER.pack(tag, n),) + parts))
        self.stdout.flush()

    def fail(self, exc, code=_FAIL_ERROR):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        where = ""
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            f = frames[-1]
            where = " (%s:%d in %s)" % (f.filename.replace("\\", "/").rsplit("/", 1)[-1], f.lineno, f.name)
        self.send(b"FAIL", struct.pack("<I", code), ("%s: %s%s" % (type(exc).__name__, exc, where)).encode())

    def hello(self, make):
        got = self.read()
        if got is None or got[0] != b"HELO":
            raise SystemExit("rnngym_gym: expected the trainer's HELO on stdin; run this gym from rnngym")
        h = json.loads(got[1].decode())
        settings = Settings(h.get("path"), float(h.get("val_fraction", 0.0)), h.get("config") or {})
        try:
            gym = make if isinstance(make, Gym) else make(settings)
            codec = gym.codec() if callable(gym.codec) else gym.codec
            spec = codec if isinstance(codec, dict) else codec.spec()
            if not isinstance(spec, dict):
                raise TypeError("the gym's codec must be a CharCodec, an OpaqueCodec or a spec dict")
        except Exception as e:  # the trainer reports it as the gym refusing to start
            self.fail(e)
            return False
        self.gym = gym
        self.vocab = _vocab_size(spec)
        self.width = _width(self.vocab)
        reply = {"protocol": PROTOCOL, "version": VERSION, "codec": spec}
        if getattr(gym, "name", None):
            reply["name"] = str(gym.name)
        self.send(b"HELO", json.dumps(reply).encode())
        return True

    def reset(self, payload):
        seed, batch, seq, split = _RESET.unpack(payload)
        self.shape = None
        try:
            info = self.gym.reset(_SPLITS.get(split, str(split)), seed, batch, seq)
        except WindowTooSmall as e:
            return self.fail(e, _FAIL_TOO_SMALL)
        except Exception as e:
            return self.fail(e)
        if info is None or isinstance(info, int):
            info = EpisodeInfo(info)
        elif isinstance(info, dict):
            info = EpisodeInfo(**info)
        windows = _UNKNOWN_WINDOWS if info.windows is None else int(info.windows)
        self.shape = (batch, seq)
        self.send(b"INFO", _INFO.pack(windows, int(info.tokens)), str(info.name).encode())

    def step(self):
        if self.shape is None:
            return self.fail(RuntimeError("step before reset"))
        batch, seq = self.shape
        try:
            inputs, targets, reset, done = self.gym.step()
            xs = self.pack(inputs, "inputs", batch, seq)
            ys = self.pack(targets, "targets", batch, seq)
            flags = self.flags(reset, batch)
        except Exception as e:
            return self.fail(e)
        self.send(b"WIND", _WINDOW.pack(batch, seq, self.width, 1 if done else 0, 0), flags, xs, ys)

    def flags(self, reset, batch):
        if isinstance(reset, bool):
            return (b"\x01" if reset else b"\x00") * batch
        flags = bytes(1 if r else 0 for r in reset)
        if len(flags) != batch:
            raise ValueError("step() returned %d reset flags; expected batch = %d" % (len(flags), batch))
        return flags

    def pack(self, tokens, what, batch, seq):
        """`tokens` (a flat sequence, one per lane, bytes, an array, or a numpy array) as
        little-endian integers of the window's width."""
        w = self.width
        if isinstance(tokens, (bytes, bytearray, memoryview)) and w == 1:
            data = bytes(tokens)
        elif isinstance(tokens, array) and tokens.itemsize == w and tokens.typecode in "BHIL":
            data = (self.swapped(tokens) if self.big_endian else tokens).tobytes()
        elif hasattr(tokens, "dtype") and hasattr(tokens, "astype"):  # numpy, not imported
            if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab):
                raise ValueError("step() returned %s outside the vocabulary 0..%d" % (what, self.vocab - 1))
            data = tokens.astype("<u%d" % w).tobytes()  # C order: lane after lane
        else:
            if len(tokens) and not isinstance(tokens[0], int):
                tokens = [t for lane in tokens for t in lane]  # one list per lane
            try:
                a = array(_TYPECODES[w], tokens)
            except OverflowError:
                raise ValueError("step() returned %s outside the vocabulary 0..%d" % (what, self.vocab - 1)) from None
            data = (self.swapped(a) if self.big_endian else a).tobytes()
        if len(data) != batch * seq * w:
            raise ValueError(
                "step() returned %d %s; expected batch x seq = %d x %d = %d"
                % (len(data) // w, what, batch, seq, batch * seq)
            )
        return data

    @staticmethod
    def swapped(a):
        b = array(a.typecode, a)
        b.byteswap()
        return b


def serve(gym, stdin=None, stdout=None):
    """Serves `gym` (a Gym, or a callable such as a Gym subclass that takes the Settings and
    returns one) until the trainer says goodbye or closes stdin."""
    # Ctrl-C in a terminal is for the trainer, which stops the gym itself when it is done.
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    try:  # each line reaches rnngym's log (and its error tail) as it is written
        sys.stderr.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass
    sys.stdout = sys.stderr  # print() must not corrupt the protocol
    server = _Server(stdin, stdout)
    try:
        if not server.hello(gym):
            sys.exit(1)
        while True:
            got = server.read()
            if got is None or got[0] == b"BYE!":
                break
            tag, payload = got
            if tag == b"STEP":
                server.step()
            elif tag == b"RSET":
                server.reset(payload)
            else:
                raise SystemExit("rnngym_gym: unexpected %r frame from the trainer" % tag)
    except BrokenPipeError:  # the trainer is gone
        pass
    finally:
        if server.gym is not None:
            server.gym.close()
