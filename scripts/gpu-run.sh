#!/usr/bin/env bash
# The GPU bundle's runner, copied to gpu-bundle/run.sh by scripts/gpu-check.sh: everything a GPU
# machine without Rust runs, as one command that fits one short device call (docs/GPU.md).
#
#   OUT=<folder> bash gpu-bundle/run.sh        # OUT defaults to gpu-bundle/results
#
# Stages, in order, each under its own time limit (seconds):
#   smoke     40   cuda_smoke: NVRTC, driver and cuBLAS versions and the library files that
#                  loaded; cuda:0 opens (kernels as CUBIN); one GEMM and one kernel vs the CPU
#   parity   120   cuda_nvrtc, cuda_cubin_cache, cuda_parity, cuda_determinism, rnngym_kernels
#   training 150   cuda_training, cuda_ranks (2 GPU ranks over NCCL, on a machine with 2+ GPUs),
#                  rnngym_trainer
#   bench    240   bench/compare.sh --device cuda against PyTorch (when python3 has CUDA torch)
# Without a usable GPU the smoke stage says why in one line and the GPU stages are skipped.
#
# Written as it goes, straight into $OUT: summary.txt (environment, one line per test binary,
# every `panicked at` with its message, the benchmark table; the same lines go to stdout) and
# rnngym-gpu.tar.gz (every log, nvidia-smi, the CUBIN cache), rewritten after each stage so a
# run stopped midway keeps what finished.
#
# Exit status: the failed stages as a bitmask (1 smoke, 2 parity, 4 training, 8 bench); 0 when
# every stage that ran passed.
#
# Knobs: RNNGYM_STAGES ("smoke parity training bench") picks stages; SMOKE_S, PARITY_S,
# TRAINING_S, BENCH_S change the limits; BENCH_PRESETS ("s m l"), BENCH_ROUNDS (2) and
# BENCH_SECONDS (5) size the benchmark.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
OUT=${OUT:-$HERE/results}
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rnngym-gpu.XXXXXX")
SUMMARY="$OUT/summary.txt"
ARCHIVE="$OUT/rnngym-gpu.tar.gz"
: >"$SUMMARY"
STAGES=" ${RNNGYM_STAGES:-smoke parity training bench} "
status=0

say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
on() { [[ "$STAGES" == *" $1 "* ]]; }
archive() {
  cp "$SUMMARY" "$WORK/summary.txt"
  tar -czf "$OUT/.archive.tmp" -C "$WORK" . && mv -f "$OUT/.archive.tmp" "$ARCHIVE"
}

# Every `panicked at` with its message on the same line, then up to two more message lines.
panics() {
  awk '
    /panicked at/ { where = $0; sub(/^.*panicked at /, "", where); sub(/:$/, "", where)
                    who = $0; sub(/^thread /, "", who); sub(/ panicked at.*$/, "", who)
                    if ((getline msg) > 0) print "    PANIC " who " at " where ": " msg
                    n = 2; next }
    n > 0 && (NF == 0 || /^(note:|stack backtrace:|test |failures:|---- |thread )/) { n = 0 }
    n > 0 { print "      " $0; n-- }' "$1" | tee -a "$SUMMARY"
}

# One line for a finished test binary (its SMOKE lines first), then its panics.
report() {
  local stage=$1 t=$2 rc=$3 took=$4 log=$5 result
  grep -o 'SMOKE .*' "$log" | sed 's/^SMOKE /    /' | tee -a "$SUMMARY"
  result=$(grep -E '^test result:' "$log" | tail -n 1 | sed -E 's/^test result: //; s/; finished in.*//')
  case $rc in
    0) say "  $stage/$t: ok (${result:-no result line}), ${took} s" ;;
    124 | 137)
      say "  $stage/$t: TIMED OUT after ${took} s; its last lines:"
      tail -n 3 "$log" | awk '{ print "    | " $0 }' | tee -a "$SUMMARY" ;;
    *) say "  $stage/$t: FAILED (exit $rc; ${result:-no result line}), ${took} s" ;;
  esac
  panics "$log"
  [ "$rc" = 0 ]
}

# run_tests STAGE BIT SECONDS BINARY...: each test binary, one test at a time, within what is
# left of the stage's time. A failure sets the stage's BIT in the exit status.
run_tests() {
  local stage=$1 bit=$2 secs=$3 failed=0 t log rc left start extra
  shift 3
  local end=$((SECONDS + secs))
  say "== $stage (limit ${secs} s)"
  for t in "$@"; do
    log="$WORK/$t.log"
    left=$((end - SECONDS))
    if [ ! -x "bin/$t" ]; then
      say "  $stage/$t: MISSING from the bundle (rerun scripts/gpu-check.sh)"
      failed=1
    elif [ "$left" -le 0 ]; then
      say "  $stage/$t: NOT RUN (the stage's ${secs} s are used up)"
      failed=1
    else
      start=$SECONDS
      extra=()
      [ "$t" = cuda_smoke ] && extra=(--nocapture)
      timeout -k 5 "$left" "bin/$t" --test-threads=1 "${extra[@]}" >"$log" 2>&1
      rc=$?
      report "$stage" "$t" "$rc" "$((SECONDS - start))" "$log" || failed=1
    fi
  done
  [ "$failed" = 0 ] || status=$((status | bit))
  archive
  return "$failed"
}

# The CUDA 13 libraries: the image's own search path comes first (LD_LIBRARY_PATH, then the
# ldconfig cache, which the loader reads itself); the CUDA 13 pip wheels' folders
# (nvidia/cu13/lib in python3's site-packages: PyTorch's nvidia-cublas, nvidia-cuda-nvrtc) are
# and NCCL's (nvidia/nccl/lib) are appended as a fallback. cuda_smoke reports the files that
# actually loaded.
wheels=$(python3 - 2>/dev/null <<'PY'
import os, site
seen = []
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    # NCCL (for the GPU-rank test) comes in its own wheel, nvidia-nccl-cu13.
    for d in (os.path.join(sp, "nvidia", "cu13", "lib"), os.path.join(sp, "nvidia", "nccl", "lib")):
        if os.path.isdir(d) and d not in seen:
            seen.append(d)
print(":".join(seen))
PY
)
LD_LIBRARY_PATH=$(printf '%s\n' "${LD_LIBRARY_PATH:-}" "$wheels" | grep -v '^$' | paste -sd: -)
export LD_LIBRARY_PATH
export RNNGYM_REQUIRE_GPU=1 RNNGYM_CACHE_DIR="$WORK/cubin" RUST_BACKTRACE="${RUST_BACKTRACE:-0}"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host: $(uname -srm)"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  echo "ldconfig candidates:"
  ldconfig -p 2>/dev/null | grep -E 'lib(cuda|nvrtc|cublas|cublasLt|nccl)\.so' | sed 's/^/  /'
  echo "python3: $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1)"
} >"$WORK/env.txt" 2>&1
nvidia-smi >"$WORK/nvidia-smi.txt" 2>&1 || true
say "rnngym GPU bundle, $(date -u '+%Y-%m-%d %H:%M UTC'), stages:$STAGES"
if command -v nvidia-smi >/dev/null; then
  say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
else
  say "gpu: nvidia-smi not found"
fi
say "wheel folders appended: ${wheels:-none}"
grep '^python3:' "$WORK/env.txt" | tee -a "$SUMMARY"

gpu_ok=1
if on smoke; then
  run_tests smoke 1 "${SMOKE_S:-40}" cuda_smoke || gpu_ok=0
fi
if [ "$gpu_ok" = 0 ]; then
  say "== parity, training, bench: skipped (the smoke stage failed: no usable GPU)"
else
  if on parity; then
    run_tests parity 2 "${PARITY_S:-120}" \
      cuda_nvrtc cuda_cubin_cache cuda_parity cuda_determinism rnngym_kernels
  fi
  if on training; then
    run_tests training 4 "${TRAINING_S:-150}" cuda_training cuda_ranks rnngym_trainer
  fi
  if on bench; then
    secs=${BENCH_S:-240}
    say "== bench (limit ${secs} s)"
    # rnngym alone: generation at each weight precision (issue 22), batch 1 and 64 streams.
    for preset in ${BENCH_PRESETS:-s m l}; do
      for precision in f32 bf16 int8 w8a16 w8a8; do
        line=$(timeout -k 5 60 bin/rnngym bench --device cuda --mode generate --preset "$preset" \
          --precision "$precision" --streams 1,64 --seconds 2 2>&1 | grep -E "^generate" | tr -s ' ' | paste -sd ';')
        say "  generate $preset $precision: ${line:-FAILED}"
      done
    done
    if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
      start=$SECONDS
      timeout -k 5 "$secs" bash bench/compare.sh --device cuda --bin bin/rnngym --python python3 \
        --presets "${BENCH_PRESETS:-s m l}" --rounds "${BENCH_ROUNDS:-2}" \
        --seconds "${BENCH_SECONDS:-5}" >"$WORK/bench-gpu.md" 2>"$WORK/bench-gpu.log"
      rc=$?
      if [ "$rc" = 0 ]; then
        say "  bench: ok, $((SECONDS - start)) s"
        tee -a "$SUMMARY" <"$WORK/bench-gpu.md"
      else
        say "  bench: $([ "$rc" -ge 124 ] && echo "TIMED OUT" || echo "FAILED (exit $rc)") after $((SECONDS - start)) s; its last lines:"
        tail -n 5 "$WORK/bench-gpu.log" | awk '{ print "    | " $0 }' | tee -a "$SUMMARY"
        status=$((status | 8))
      fi
    else
      say "  bench: skipped (python3 has no CUDA build of torch)"
    fi
    archive
  fi
fi
say "== done in ${SECONDS} s, exit status $status (failed stages: 1 smoke, 2 parity, 4 training, 8 bench)"
archive
rm -rf "$WORK"
exit "$status"
