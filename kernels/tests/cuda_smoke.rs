//! The GPU bundle's first stage (`scripts/gpu-run.sh`, about 10 s): opens `cuda:0`, prints
//! what loaded (driver, NVRTC and cuBLAS versions, the library files, CUBIN or PTX, the kernel
//! cache), then runs one GEMM and one kernel against the CPU. Every line it prints starts with
//! `SMOKE` so the runner can lift them into its summary; run it with `--nocapture`.
//!
//! Without a usable GPU it prints `SKIPPED smoke: <reason>` and passes, unless
//! `RNNGYM_REQUIRE_GPU=1` (the bundle), where it fails with that reason on one line.

use std::time::Instant;

use rnngym_kernels::cuda::{nvrtc_version, CudaBackend};
use rnngym_kernels::{Backend, CpuBackend, Gemm};

/// Printed past libtest's capture, one line each.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "SMOKE {line}");
}

/// A fixed, cheap pseudo-random fill (no RNG crate needed for a smoke test).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let x = i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
            (x % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// Runs one GEMM and one fused kernel (softmax cross-entropy with its gradient) on `be`.
fn work<B: Backend>(be: &B) -> (Vec<f32>, f64, Vec<f32>) {
    let (m, n, k, v) = (64, 96, 128, 65);
    let a = be.upload(&values(m * k, 1)).unwrap();
    let b = be.upload(&values(k * n, 2)).unwrap();
    let mut c = be.zeros(m * n).unwrap();
    be.gemm(&Gemm::nn(m, n, k), &a, &b, &mut c).unwrap();
    let logits = be.upload(&values(m * v, 3)).unwrap();
    let mut targets = be.zeros_ids(m).unwrap();
    let t: Vec<u32> = (0..m as u32).map(|i| (i * 7) % v as u32).collect();
    be.write_ids(&mut targets, &t).unwrap();
    let mut d = be.zeros(m * v).unwrap();
    let loss = be
        .softmax_xent(&logits, m, v, &targets, Some(&mut d), 1.0)
        .unwrap();
    let mut host_c = vec![0.0; m * n];
    be.read(&c, 0, &mut host_c).unwrap();
    let mut host_d = vec![0.0; m * v];
    be.read(&d, 0, &mut host_d).unwrap();
    (host_c, loss, host_d)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn smoke() {
    let start = Instant::now();
    match nvrtc_version() {
        Ok((major, minor)) => say(&format!("NVRTC {major}.{minor} loads")),
        Err(e) => say(&format!("NVRTC: {e}")),
    }
    let be = match CudaBackend::new(0) {
        Ok(be) => be,
        Err(e) => {
            if std::env::var("RNNGYM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("no usable GPU: {e}");
            }
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED smoke: {e}");
            return;
        }
    };
    let opened = start.elapsed().as_secs_f64();
    let info = be.info();
    say(&format!("cuda:0 {info}"));
    for file in &info.library_files {
        say(&format!("loaded {file}"));
    }
    say(&format!("opened in {opened:.2} s"));
    say(&format!(
        "NCCL (GPU ranks' all-reduce): {}; {} GPU(s) visible",
        match rnngym_kernels::cuda::nccl_available() {
            true => "libnccl.so.2 loads",
            false => "libnccl.so.2 not found (GPU ranks would average through the host)",
        },
        rnngym_kernels::cuda::device_count()
    ));
    let (c, loss, d) = work(&be);
    let (want_c, want_loss, want_d) = work(&CpuBackend::new(1));
    let (dc, dd) = (max_diff(&c, &want_c), max_diff(&d, &want_d));
    let dl = (loss - want_loss).abs() / want_loss.abs();
    say(&format!(
        "gemm 64x96x128 max diff {dc:.2e}; softmax_xent loss rel diff {dl:.2e}, gradient max diff {dd:.2e}"
    ));
    assert!(dc <= 1e-4, "gemm differs from the CPU by {dc}");
    assert!(
        dl <= 1e-6 && dd <= 1e-6,
        "softmax_xent differs: loss {dl}, grad {dd}"
    );
    say(&format!("passed in {:.2} s", start.elapsed().as_secs_f64()));
}
