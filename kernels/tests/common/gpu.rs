//! Helpers of the CPU ↔ CUDA tests: the GPU or a printed skip, buffer round trips, the
//! tolerance check, and `parity!`, which runs one test body on both backends.
#![allow(unused_macros)]

use rnngym_kernels::cuda::CudaBackend;
use rnngym_kernels::Backend;

/// Named outputs of one test body, widened to f64.
pub type Outs = Vec<(&'static str, Vec<f64>)>;

/// The GPU, or `None` after printing why the test is skipped.
pub fn gpu(test: &str) -> Option<CudaBackend> {
    match CudaBackend::new(0) {
        Ok(be) => Some(be),
        Err(e) => {
            if std::env::var("RNNGYM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("{test}: RNNGYM_REQUIRE_GPU=1 but {e}");
            }
            skip_note(&format!("SKIPPED {test}: {e}"));
            None
        }
    }
}

/// Prints past the test harness's output capture, so skips show in a plain `cargo test`.
pub fn skip_note(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

pub fn up<B: Backend>(be: &B, x: &[f32]) -> B::Buf {
    be.upload(x).unwrap()
}

pub fn down<B: Backend>(be: &B, b: &B::Buf) -> Vec<f64> {
    let mut out = vec![0f32; be.len(b)];
    be.read(b, 0, &mut out).unwrap();
    out.into_iter().map(f64::from).collect()
}

pub fn ids<B: Backend>(be: &B, x: &[u32]) -> B::IBuf {
    let mut b = be.zeros_ids(x.len()).unwrap();
    be.write_ids(&mut b, x).unwrap();
    b
}

pub fn compare(test: &str, got: &Outs, want: &Outs, rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{test}: output count");
    for ((name, g), (_, w)) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "{test} {name}: length");
        for (i, (&g, &w)) in g.iter().zip(w).enumerate() {
            let ok = (g - w).abs() <= abs + rel * w.abs() || (g.is_nan() && w.is_nan());
            assert!(
                ok,
                "{test} {name}[{i}]: cuda {g}, cpu {w} (rel {rel}, abs {abs})"
            );
        }
    }
}

/// `parity!(name, rel, abs, |be| { body returning Outs })`: one body, run on both backends.
/// The test file declares `#[macro_use] mod common;` and imports `common::gpu::*`.
macro_rules! parity {
    ($name:ident, $rel:expr, $abs:expr, |$be:ident| $body:block) => {
        #[test]
        fn $name() {
            fn body<B: Backend>($be: &B) -> Outs $body
            // The CPU side always runs, so the body itself is exercised without a GPU too.
            let want = body(&rnngym_kernels::CpuBackend::new(1));
            let Some(cuda) = gpu(stringify!($name)) else { return };
            let got = body(&cuda);
            compare(stringify!($name), &got, &want, $rel, $abs);
        }
    };
}
