//! Helpers shared by the kernel tests: seeded random data and tolerance checks.
#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};

/// A seeded RNG so every failure reproduces.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` uniform values in `[-s, s)`.
pub fn rand_vec(rng: &mut StdRng, n: usize, s: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-s..s)).collect()
}

/// `n` uniform values in `[-s, s)` as f64.
pub fn rand_vec64(rng: &mut StdRng, n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-s..s)).collect()
}

/// `n` token ids below `v`.
pub fn rand_ids(rng: &mut StdRng, n: usize, v: u32) -> Vec<u32> {
    (0..n).map(|_| rng.random_range(0..v)).collect()
}

/// Asserts `|got − want| <= abs + rel·|want|` elementwise (NaN never passes).
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= abs + rel * w.abs();
        assert!(ok, "{what}[{i}]: got {g}, want {w} (rel {rel}, abs {abs})");
    }
}

/// Relative error with a floor on the denominator, so near-zero gradients compare absolutely.
pub fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-3)
}
