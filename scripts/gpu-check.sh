#!/usr/bin/env bash
# Builds the CUDA test binaries (and the rnngym binary) here, on a machine without a GPU, gathers
# them in gpu-bundle/ with a runner script, and prints the one command to run on a GPU machine
# that has the NVIDIA driver and CUDA 13 libraries but no Rust toolchain. See docs/GPU.md.
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
# Every CUDA test, plus the trainer and kernel suites (they also run on the CPU there).
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

cat > "$BUNDLE/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the CUDA tests on this GPU machine; results go to results/ (one log per binary).
set -uo pipefail
cd "$(dirname "$0")"
libdirs=$(ldconfig -p 2>/dev/null | grep -E 'libcuda\.so|libnvrtc\.so|libcublas\.so|libcurand\.so' \
  | awk '{print $NF}' | xargs -r -n1 dirname | sort -u | paste -sd: -)
# pip wheels (PyTorch's nvidia-* packages) are not in ldconfig: add their lib folders too.
wheels=$(python3 - 2>/dev/null <<'PY'
import glob, site, os
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for f in glob.glob(os.path.join(sp, "nvidia", "**", "lib", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(f))
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="${libdirs}${wheels:+:$wheels}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RNNGYM_REQUIRE_GPU=1
mkdir -p results
nvidia-smi > results/nvidia-smi.txt 2>&1 || true
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" > results/env.txt
status=0
for t in bin/cuda_* bin/rnngym_kernels bin/rnngym_trainer; do
  [ -x "$t" ] || continue
  echo "== $t"
  "$t" --test-threads=1 2>&1 | tee "results/$(basename "$t").log" | tail -3
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
done
# The GPU benchmark against PyTorch (cuDNN) side by side, when this machine's python3 has a
# CUDA build of torch: results/bench-gpu.md (the table for docs/PERFORMANCE.md).
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "== GPU benchmark (rnngym vs PyTorch cuDNN)"
  bash bench/compare.sh --device cuda --bin bin/rnngym --python python3 \
    --presets "${BENCH_PRESETS:-s m l}" --rounds "${BENCH_ROUNDS:-3}" --seconds "${BENCH_SECONDS:-5}" \
    > results/bench-gpu.md 2> results/bench-gpu.log || status=1
  cat results/bench-gpu.md
else
  echo "== GPU benchmark skipped: python3 has no CUDA build of torch" | tee results/bench-gpu.md
fi
echo "results in $(pwd)/results (status $status)"
exit $status
RUN
chmod +x "$BUNDLE/run.sh"
du -sh "$BUNDLE" >&2
echo "Copy $BUNDLE/ to the GPU machine and run:"
echo "  bash $BUNDLE/run.sh"
