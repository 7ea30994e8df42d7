//! CPU backend: the naive reference ("spec") in [`reference`](mod@reference) and the fast path in
//! [`CpuBackend`], which is tested against it.

mod aligned;
mod amx;
mod backend;
mod cells;
use crate::check;
mod fastmath;
mod gemm;
mod gemv;
mod lowp;
mod memory;
mod ops;
mod packed;
pub mod reference;
mod simd;
mod spin;
mod step;
mod tuning;
mod window;

pub use backend::CpuBackend;

/// Deterministic test values in [-1, 1), some exactly representable, some not.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7;
            (x % 20011) as f32 / 10005.5 - 1.0
        })
        .collect()
}
pub use lowp::QWeights;
