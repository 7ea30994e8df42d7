//! Helpers shared by the kernel tests: seeded random data and tolerance checks.
#![allow(dead_code)]

use rand::{rngs::StdRng, Rng, SeedableRng};

#[macro_use]
pub mod gpu;

/// Whether NVRTC can be used (it runs on the CPU, no GPU needed); panics in CI (where `.ci/run`
/// installs it) and under `RNNGYM_REQUIRE_GPU=1` (a GPU bundle run), else prints a skip.
pub fn nvrtc_or_skip(test: &str) -> bool {
    if rnngym_kernels::cuda::nvrtc_available() {
        return true;
    }
    let why = "libnvrtc.so.13 not loadable (pip install --target DIR \"nvidia-cuda-nvrtc==13.0.*\" and add DIR/nvidia/cu13/lib to LD_LIBRARY_PATH)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: CI=true but {why}");
    }
    if std::env::var("RNNGYM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
        panic!("{test}: RNNGYM_REQUIRE_GPU=1 but {why}");
    }
    // Written to stderr directly: libtest's capture only intercepts the print macros.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

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

/// Values over ten orders of magnitude, so a different summation order changes the bits.
pub fn wide_values(r: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| r.random_range(-1.0f32..1.0) * 10f32.powi(r.random_range(-4..6)))
        .collect()
}

/// Ids like text: a few very common (a quarter of the rows are id 0), the rest spread.
pub fn skewed_ids(r: &mut StdRng, n: usize, vocab: u32) -> Vec<u32> {
    (0..n)
        .map(|_| match r.random_range(0..8) {
            0 | 1 => 0,
            2 => 1 + r.random_range(0..3.min(vocab - 1).max(1)),
            _ => r.random_range(0..vocab),
        })
        .collect()
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

/// Owned buffers of one layer's window, for the cell-step tests (`B`: a backend's buffer).
pub struct Bufs<B> {
    pub gates: B,
    pub gh: B,
    pub hs: B,
    pub cs: B,
    pub dhs: B,
    pub dc: B,
}

impl<B> Bufs<B> {
    /// The buffers as the backend ops take them.
    pub fn state(&mut self) -> rnngym_kernels::LayerState<'_, B> {
        rnngym_kernels::LayerState {
            gates: &mut self.gates,
            gh: &mut self.gh,
            hs: &mut self.hs,
            cs: &mut self.cs,
            dhs: &mut self.dhs,
            dc: &mut self.dc,
        }
    }

    /// Each buffer passed through `f` (to upload / download).
    pub fn map<C>(&self, mut f: impl FnMut(&B) -> C) -> Bufs<C> {
        Bufs {
            gates: f(&self.gates),
            gh: f(&self.gh),
            hs: f(&self.hs),
            cs: f(&self.cs),
            dhs: f(&self.dhs),
            dc: f(&self.dc),
        }
    }
}

impl Bufs<Vec<f32>> {
    /// Random buffers for one step of `c` (the cell's unused buffers empty), with room for
    /// its offsets plus a trailing element that no step may touch.
    pub fn random(rng: &mut StdRng, c: &rnngym_kernels::CellStep) -> Self {
        let nh = c.b * c.h;
        let ng = nh * c.cell.gates_per_unit();
        let states = c.prev.max(c.next) + nh + 1;
        let gates = c.gates + ng + 1;
        Bufs {
            gates: rand_vec(rng, gates, 3.0),
            gh: rand_vec(
                rng,
                if c.cell.has_recurrent_gates() {
                    gates
                } else {
                    0
                },
                3.0,
            ),
            hs: rand_vec(rng, states, 1.0),
            cs: rand_vec(rng, if c.cell.has_cell_state() { states } else { 0 }, 2.0),
            dhs: rand_vec(rng, states, 1.0),
            dc: rand_vec(rng, if c.cell.has_cell_state() { nh } else { 0 }, 1.0),
        }
    }

    /// Random buffers of a whole window of `r` (the cell's unused buffers empty), drawn in
    /// buffer order: pre-activations, recurrent pre-activations, states, cell states,
    /// gradients from above, the carried cell-state gradient.
    pub fn window(rng: &mut StdRng, r: &rnngym_kernels::Recurrence) -> Self {
        let (g, bh, cell) = (r.g(), r.b * r.h, r.cell);
        let mut opt = |on: bool, n: usize, s: f32| if on { rand_vec(rng, n, s) } else { vec![] };
        Bufs {
            gates: opt(true, r.t * r.b * g, 1.0),
            gh: opt(cell.has_recurrent_gates(), r.t * r.b * g, 0.1),
            hs: opt(true, (r.t + 1) * bh, 1.0),
            cs: opt(cell.has_cell_state(), (r.t + 1) * bh, 1.0),
            dhs: opt(true, (r.t + 1) * bh, 1.0),
            dc: opt(cell.has_cell_state(), bh, 1.0),
        }
    }

    /// Asserts every buffer is close to `want`'s (see [`assert_close`]).
    pub fn assert_close(&self, what: &str, want: &Self, rel: f32, abs: f32) {
        assert_close(&format!("{what} gates"), &self.gates, &want.gates, rel, abs);
        assert_close(&format!("{what} gh"), &self.gh, &want.gh, rel, abs);
        assert_close(&format!("{what} hs"), &self.hs, &want.hs, rel, abs);
        assert_close(&format!("{what} cs"), &self.cs, &want.cs, rel, abs);
        assert_close(&format!("{what} dhs"), &self.dhs, &want.dhs, rel, abs);
        assert_close(&format!("{what} dc"), &self.dc, &want.dc, rel, abs);
    }
}

impl Clone for Bufs<Vec<f32>> {
    fn clone(&self) -> Self {
        self.map(Vec::clone)
    }
}
