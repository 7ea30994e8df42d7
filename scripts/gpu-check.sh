#!/usr/bin/env bash
# Builds the CUDA test binaries (and the rnngym binary) here, on a machine without a GPU, gathers
# them in gpu-bundle/ with its runner (scripts/gpu-run.sh, as gpu-bundle/run.sh), and prints the
# one command to run on a GPU machine that has the NVIDIA driver and CUDA 13 libraries but no
# Rust toolchain. See docs/GPU.md ("The device run").
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="${BUNDLE:-gpu-bundle}"
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin"

echo "== building test binaries (release)" >&2
cargo test --release --workspace --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"].get("test"):
        print(m["target"]["name"], m["executable"])
' > "$BUNDLE/tests.txt"
cargo build --release --bin rnngym >&2
cp "${CARGO_TARGET_DIR:-target}/release/rnngym" "$BUNDLE/bin/"
# Every CUDA test (cuda_smoke, cuda_nvrtc, cuda_cubin_cache, cuda_parity, cuda_determinism,
# cuda_training, cuda_ranks), plus the trainer and kernel unit suites (they also run on the CPU there).
while read -r name exe; do
  case "$name" in
    cuda_*|rnngym_trainer|rnngym_kernels) cp "$exe" "$BUNDLE/bin/$name" ;;
  esac
done < "$BUNDLE/tests.txt"
# Debug info is most of each binary's size; the bundle must fit a 64 MiB transfer.
strip --strip-debug "$BUNDLE"/bin/* 2>/dev/null || true
cp -r configs data "$BUNDLE/" 2>/dev/null || true
mkdir -p "$BUNDLE/bench"
cp bench/compare.sh bench/pytorch_ref.py bench/table.py "$BUNDLE/bench/"

cp scripts/gpu-run.sh "$BUNDLE/run.sh"
chmod +x "$BUNDLE/run.sh"
size=$(du -sm "$BUNDLE" | cut -f1)
echo "$BUNDLE: ${size} MiB ($(ls "$BUNDLE/bin" | wc -l) binaries)" >&2
if [ "$size" -gt 60 ]; then
  echo "warning: $BUNDLE is over 60 MiB; a device call carries at most 64 MiB with the tree" >&2
fi
echo "Copy $BUNDLE/ to the GPU machine and run (results in \$OUT, default $BUNDLE/results):"
echo "  bash $BUNDLE/run.sh"
