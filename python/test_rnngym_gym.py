"""Tests of rnngym_gym.py on in-memory pipes (python3 -m unittest, from this folder;
tests/process_gym.rs runs them)."""

import io
import json
import signal
import struct
import sys
import unittest
from array import array

import rnngym_gym as rg


def frame(tag, payload=b""):
    return struct.pack("<4sI", tag, len(payload)) + payload


def frames(data):
    out, i = [], 0
    while i < len(data):
        tag, n = struct.unpack_from("<4sI", data, i)
        out.append((tag, data[i + 8 : i + 8 + n]))
        i += 8 + n
    return out


HELLO = frame(b"HELO", json.dumps({"protocol": "rnngym-gym", "version": 1, "path": None,
                                   "val_fraction": 0.1, "config": {"k": 2}}).encode())


def reset(seed=5, batch=2, seq=3, split=0):
    return frame(b"RSET", struct.pack("<QIII", seed, batch, seq, split))


class Echo(rg.Gym):
    """Serves whatever `make` returns for each step."""

    def __init__(self, settings, make, vocab="abc"):
        self.settings, self.make = settings, make
        self.codec = rg.CharCodec(vocab)

    def reset(self, split, seed, batch, seq):
        if seq == 99:
            raise rg.WindowTooSmall("too short for %d steps" % seq)
        self.args = (split, seed, batch, seq)
        return rg.EpisodeInfo(2, 12, "echo " + split)

    def step(self):
        return self.make()


class HelperTest(unittest.TestCase):
    def setUp(self):
        self.saved = sys.stdout, sys.stderr, signal.getsignal(signal.SIGINT)
        sys.stderr = io.StringIO()  # the tracebacks of the failing cases

    def tearDown(self):
        sys.stdout, sys.stderr = self.saved[:2]
        signal.signal(signal.SIGINT, self.saved[2])

    def serve(self, requests, make, vocab="abc"):
        gyms = []

        def factory(settings):
            gyms.append(Echo(settings, make, vocab))
            return gyms[-1]

        out = io.BytesIO()
        rg.serve(factory, io.BytesIO(HELLO + requests + frame(b"BYE!")), out)
        return frames(out.getvalue()), gyms

    def window(self, got):
        tag, p = got
        self.assertEqual(tag, b"WIND")
        b, t, w, done, reserved = struct.unpack_from("<IIBBH", p)
        flags = list(p[12 : 12 + b])
        body = p[12 + b :]
        n = b * t * w
        return (b, t, w, done), flags, list(body[:n]), list(body[n:])

    def test_handshake_reset_and_windows(self):
        step = lambda: ([0, 1, 2, 0, 1, 2], [[1, 2, 0], [1, 2, 1]], True, False)
        got, gyms = self.serve(reset() + frame(b"STEP"), step)
        self.assertEqual(gyms[0].settings, rg.Settings(None, 0.1, {"k": 2}))
        self.assertEqual(gyms[0].args, ("train", 5, 2, 3))
        tag, hello = got[0]
        self.assertEqual(tag, b"HELO")
        self.assertEqual(json.loads(hello), {"protocol": "rnngym-gym", "version": 1,
                                             "codec": {"kind": "char", "vocab": "abc"}})
        tag, info = got[1]
        self.assertEqual((tag, struct.unpack_from("<QQ", info), info[16:]), (b"INFO", (2, 12), b"echo train"))
        head, flags, xs, ys = self.window(got[2])
        self.assertEqual(head, (2, 3, 1, 0))
        self.assertEqual((flags, xs, ys), ([1, 1], [0, 1, 2, 0, 1, 2], [1, 2, 0, 1, 2, 1]))

    def test_every_token_container_packs_the_same(self):
        flat = [0, 1, 2, 2, 1, 0]
        for tokens in (flat, bytes(flat), bytearray(flat), array("B", flat), array("I", flat),
                       [flat[:3], flat[3:]], tuple(flat)):
            got, _ = self.serve(reset() + frame(b"STEP"), lambda: (tokens, tokens, [True, False], True))
            head, flags, xs, ys = self.window(got[2])
            self.assertEqual((head[3], flags, xs, ys), (1, [1, 0], flat, flat), type(tokens))

    def test_wide_vocabularies_use_wider_tokens(self):
        tokens = [0, 300, 299, 1, 2, 3]
        got, _ = self.serve(reset() + frame(b"STEP"), lambda: (tokens, tokens, True, False),
                            vocab="".join(chr(0x100 + i) for i in range(301)))
        head, _, xs, _ = self.window(got[2])
        self.assertEqual(head[2], 2)
        self.assertEqual(list(array("H", bytes(xs))), tokens)

    def fail(self, got):
        tag, p = got
        self.assertEqual(tag, b"FAIL")
        return struct.unpack_from("<I", p)[0], p[4:].decode()

    def test_bad_windows_and_exceptions_become_fail_replies(self):
        def boom():
            raise RuntimeError("boom")

        cases = [
            (lambda: ([0] * 5, [0] * 6, True, False), "step() returned 5 inputs; expected batch x seq = 2 x 3 = 6"),
            (lambda: ([0] * 6, [0, 0, 0, 0, 0, 300], True, False), "targets outside the vocabulary 0..2"),
            (lambda: ([0] * 6, [0] * 6, [True], False), "1 reset flags; expected batch = 2"),
            (boom, "RuntimeError: boom (test_rnngym_gym.py:"),
        ]
        for make, needle in cases:
            got, _ = self.serve(reset() + frame(b"STEP") + frame(b"STEP"), make)
            # The gym keeps serving after a failure: both steps are answered.
            self.assertEqual(len(got), 4)
            code, text = self.fail(got[2])
            self.assertEqual(code, 0)
            self.assertIn(needle, text)

    def test_window_too_small_has_its_code(self):
        got, _ = self.serve(reset(seq=99), lambda: None)
        self.assertEqual(self.fail(got[1]), (1, "WindowTooSmall: too short for 99 steps (test_rnngym_gym.py:%d in reset)"
                                               % (Echo.reset.__code__.co_firstlineno + 2)))

    def test_a_gym_that_cannot_start_fails_the_handshake(self):
        def broken(settings):
            raise ValueError("no data")

        out = io.BytesIO()
        with self.assertRaises(SystemExit):
            rg.serve(broken, io.BytesIO(HELLO), out)
        code, text = self.fail(frames(out.getvalue())[0])
        self.assertIn("ValueError: no data", text)

    def test_end_of_stdin_ends_serving(self):
        out = io.BytesIO()
        rg.serve(lambda s: Echo(s, None), io.BytesIO(HELLO + reset()), out)
        self.assertEqual([t for t, _ in frames(out.getvalue())], [b"HELO", b"INFO"])

    @unittest.skipUnless(__import__("importlib").util.find_spec("numpy"), "numpy is not installed")
    def test_numpy_arrays(self):
        import numpy as np

        x = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.int64)
        got, _ = self.serve(reset() + frame(b"STEP"), lambda: (x, x, True, True))
        self.assertEqual(self.window(got[2])[2], [0, 1, 2, 2, 1, 0])
        bad = np.array([[0, 1, 2], [2, 1, 7]])
        got, _ = self.serve(reset() + frame(b"STEP"), lambda: (bad, x, True, True))
        self.assertIn("inputs outside the vocabulary", self.fail(got[2])[1])


if __name__ == "__main__":
    unittest.main()
