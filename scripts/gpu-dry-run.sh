#!/usr/bin/env bash
# Exercises the GPU bundle end to end on a machine without a GPU (CI runs it from .ci/run):
# builds it (scripts/gpu-check.sh), runs gpu-bundle/run.sh into a temporary OUT with every
# CUDA device hidden, and checks what a device call would bring back: exit status 1 (the smoke
# stage failed, nothing else ran), the smoke stage naming the missing device on one line, the
# GPU stages skipped, and OUT holding just summary.txt and rnngym-gpu.tar.gz with the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/gpu-check.sh >/dev/null
OUT=$(mktemp -d)
STDOUT=$(mktemp)
trap 'rm -rf "$OUT" "$STDOUT"' EXIT
set +e
CUDA_VISIBLE_DEVICES="" OUT="$OUT" bash gpu-bundle/run.sh >"$STDOUT" 2>&1
rc=$?
set -e
fail() {
  echo "gpu dry run: $*" >&2
  sed 's/^/  | /' "$STDOUT" >&2
  exit 1
}
[ "$rc" = 1 ] || fail "exit status $rc, expected 1 (smoke failed, nothing else ran)"
files=$(ls -A "$OUT" | sort | paste -sd' ' -)
[ "$files" = "rnngym-gpu.tar.gz summary.txt" ] || fail "OUT holds '$files'"
panic=$(grep "PANIC 'smoke'" "$OUT/summary.txt" || true)
[ "$(printf '%s' "$panic" | grep -c .)" = 1 ] && [[ "$panic" == *"no usable GPU: "* ]] ||
  fail "the smoke stage does not name the missing device on one line"
grep -q '^== parity, training, bench: skipped' "$OUT/summary.txt" || fail "GPU stages not skipped"
cmp -s "$STDOUT" "$OUT/summary.txt" || fail "stdout and summary.txt differ"
listing=$(tar -tzf "$OUT/rnngym-gpu.tar.gz")
for f in cuda_smoke.log env.txt nvidia-smi.txt summary.txt; do
  grep -qx "./$f" <<<"$listing" || fail "the archive lacks $f"
done
echo "gpu dry run: ok (exit 1, archive and summary back; smoke: ${panic#*: no usable GPU: })"
