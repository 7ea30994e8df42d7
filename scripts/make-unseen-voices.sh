#!/usr/bin/env bash
# Writes a small held-out speech set in voices the bundled speech corpus
# (../shared/data/speech, voices en-us en-gb en-us+f3 en-gb+m3 en+f2 en-us+m5) never uses, with
# sentences it does not contain, the same way that corpus was made (espeak-ng, then sox to 16 kHz
# mono 16-bit without dither). docs/AUDIO.md scores models on it ("unseen voices").
# Needs Debian's espeak-ng and sox. Usage: scripts/make-unseen-voices.sh OUT_DIR
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
mkdir -p "$out"
sentences=(
  "The ferry to the island runs twice a day when the sea is calm."
  "Put the blue folder on the desk next to the window, please."
  "Eighty four people signed the letter before the end of the week."
  "A cold wind blew across the empty field as the sun went down."
  "The museum opens at ten and the guided tour starts at noon."
  "Bring your own cup, because the coffee machine is out of paper ones."
)
voices=(en-us+m1 en-gb+f4 en+m7 en-us+f1 en-gb+m2 en+f5)
for i in "${!sentences[@]}"; do
  n=$(printf '%02d' "$i")
  espeak-ng -v "${voices[$i]}" -s $((150 + i * 6)) -p $((35 + i * 7)) -w "$out/tmp-$n.wav" "${sentences[$i]}"
  sox -D "$out/tmp-$n.wav" -r 16000 -c 1 -b 16 -e signed-integer "$out/unseen-$n.wav"
  rm "$out/tmp-$n.wav"
done
echo "wrote ${#sentences[@]} files to $out"
