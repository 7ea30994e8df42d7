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
cp -r configs data "$BUNDLE/" 2>/dev/null || true

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
echo "results in $(pwd)/results (status $status)"
exit $status
RUN
chmod +x "$BUNDLE/run.sh"
du -sh "$BUNDLE" >&2
echo "Copy $BUNDLE/ to the GPU machine and run:"
echo "  bash $BUNDLE/run.sh"
