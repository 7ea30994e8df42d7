//! Products against weights stored at reduced precision ([`Precision`]): `y (+)= W · x` for
//! `W` `[n, k]`, the per-token GEMVs of generation.
//!
//! `W` is packed once into panels of [`P`] = 32 output rows, `[k][32]` each (zero-padded), so
//! that each step `i` of a panel reads one contiguous run (128 bytes f32, 64 bf16, 32 int8).
//! bf16 pairs are interleaved so that AVX2 and AVX-512 split them without a shuffle: 32-bit
//! lane `l` of a step holds output `l` in its low half and output `l + 16` in its high half,
//! and a shift or a mask turns a load into `f32`s. Every output is one fused multiply-add
//! chain over `i = 0 … k − 1` on every path (portable, AVX2, AVX-512), so all three give
//! bit-identical results; only how many outputs run side by side differs.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::gemm::Half;
use super::spin::Helper;
use crate::precision::{f32_to_bf16, int8_row};
use crate::Precision;

/// Output rows per panel.
pub(crate) const P: usize = 32;

/// The instruction set a product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Plain Rust (`f32::mul_add`).
    Portable,
    /// AVX2 + FMA: two panels (64 outputs, eight 8-lane accumulators) at a time.
    Avx2,
    /// AVX-512F: four panels (128 outputs, eight 16-lane accumulators) at a time.
    Avx512,
}

impl Isa {
    /// The widest instruction set this CPU has, checked once.
    pub(crate) fn detect() -> Isa {
        static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Isa::Avx512;
                }
                if super::fastmath::has_avx2_fma() {
                    return Isa::Avx2;
                }
            }
            Isa::Portable
        })
    }

    /// Every instruction set this CPU can run (for the tests that compare them).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Isa> {
        let best = Isa::detect();
        [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&i| match i {
                Isa::Portable => true,
                Isa::Avx2 => best != Isa::Portable,
                Isa::Avx512 => best == Isa::Avx512,
            })
            .collect()
    }
}

/// `y[r] (+)= W · x[r]` for the `m` rows of `x` (`k` each) and `y` (`n` each), on the widest
/// instruction set; a row's panels are split between two threads like an f32 batch-1
/// product ([`super::gemv::split_rows`]), through `spin` when there is one. Each output is
/// still one chain, so the result does not depend on the split.
pub(crate) fn gemv(
    w: &QWeights,
    m: usize,
    x: &[f32],
    y: &mut [f32],
    accumulate: bool,
    threads: usize,
    spin: Option<&Helper>,
) {
    let (n, k, isa) = (w.n, w.k, Isa::detect());
    let panels = w.panels();
    let split = panels >= 2 && super::gemv::split_rows(n, k, threads, spin.is_some());
    for (x, y) in x
        .chunks_exact(k.max(1))
        .zip(y.chunks_exact_mut(n.max(1)))
        .take(m)
    {
        if !split {
            w.gemv_panels(isa, 0, panels, x, y, accumulate);
            continue;
        }
        let mid = panels / 2;
        let (y0, y1) = y.split_at_mut(mid * P);
        let Some(helper) = spin else {
            rayon::join(
                || w.gemv_panels(isa, 0, mid, x, y0, accumulate),
                || w.gemv_panels(isa, mid, panels, x, y1, accumulate),
            );
            continue;
        };
        let half = Half(y1.as_mut_ptr(), y1.len());
        let job = || {
            // SAFETY: see `Half`; nothing else touches this half until `join` returns.
            let y1 = unsafe { half.slice() };
            w.gemv_panels(isa, mid, panels, x, y1, accumulate);
        };
        helper.join(&job, || w.gemv_panels(isa, 0, mid, x, y0, accumulate));
    }
}

/// The packed panels, by format.
#[derive(Debug)]
enum Data {
    F32(Vec<f32>),
    /// Two bf16 per 32-bit lane (see the module docs).
    Bf16(Vec<u32>),
    Int8(Vec<i8>),
}

/// A `[n, k]` weight matrix at reduced precision, packed for [`QWeights::gemv`].
#[derive(Debug)]
pub struct QWeights {
    precision: Precision,
    n: usize,
    k: usize,
    data: Data,
    /// int8: one scale per output row (padded to whole panels); empty otherwise.
    scales: Vec<f32>,
}

impl QWeights {
    /// Converts and packs `w` (`[n, k]` row-major).
    pub(crate) fn new(w: &[f32], n: usize, k: usize, precision: Precision) -> QWeights {
        assert_eq!(w.len(), n * k, "lowp: W must be [n, k]");
        let panels = n.div_ceil(P);
        let row = |r: usize| &w[r * k..(r + 1) * k];
        let mut scales = Vec::new();
        let data = match precision {
            Precision::F32 => {
                let mut d = vec![0.0f32; panels * k * P];
                for r in 0..n {
                    let (p, c) = (r / P, r % P);
                    for (i, &x) in row(r).iter().enumerate() {
                        d[(p * k + i) * P + c] = x;
                    }
                }
                Data::F32(d)
            }
            Precision::Bf16 => {
                let mut d = vec![0u32; panels * k * P / 2];
                for r in 0..n {
                    let (p, c) = (r / P, r % P);
                    let (lane, shift) = (c % (P / 2), 16 * (c / (P / 2)));
                    for (i, &x) in row(r).iter().enumerate() {
                        d[(p * k + i) * P / 2 + lane] |= u32::from(f32_to_bf16(x)) << shift;
                    }
                }
                Data::Bf16(d)
            }
            Precision::Int8 => {
                let mut d = vec![0i8; panels * k * P];
                scales = vec![0.0; panels * P];
                for (r, s) in scales.iter_mut().enumerate().take(n) {
                    let (p, c) = (r / P, r % P);
                    let (q, scale) = int8_row(row(r));
                    *s = scale;
                    for (i, q) in q.into_iter().enumerate() {
                        d[(p * k + i) * P + c] = q;
                    }
                }
                Data::Int8(d)
            }
        };
        QWeights {
            precision,
            n,
            k,
            data,
            scales,
        }
    }

    /// Output rows `n`.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Input columns `k`.
    pub fn cols(&self) -> usize {
        self.k
    }

    /// The storage precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Number of panels.
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(P)
    }

    /// `y[j] (+)= Σ_i W[p0·32 + j, i] · x[i]` for the outputs of panels `p0 .. p1` (`y` holds
    /// exactly those outputs, the last panel clipped to `n`).
    pub(crate) fn gemv_panels(
        &self,
        isa: Isa,
        p0: usize,
        p1: usize,
        x: &[f32],
        y: &mut [f32],
        accumulate: bool,
    ) {
        assert!(p0 <= p1 && p1 <= self.panels() && x.len() >= self.k);
        let first = p0 * P;
        assert_eq!(y.len(), (p1 * P).min(self.n) - first, "lowp: y extent");
        let group = match isa {
            Isa::Portable => 1,
            Isa::Avx2 => 2,
            Isa::Avx512 => 4,
        };
        let mut sums = [0.0f32; 4 * P];
        let mut p = p0;
        while p < p1 {
            let g = group.min(p1 - p);
            let sums = &mut sums[..g * P];
            self.panel_sums(isa, p, g, x, sums);
            let lo = p * P - first;
            let hi = ((p + g) * P).min(self.n) - first;
            let scales = match self.precision {
                Precision::Int8 => Some(&self.scales[p * P..]),
                _ => None,
            };
            for (j, (out, &s)) in y[lo..hi].iter_mut().zip(sums.iter()).enumerate() {
                // Multiply, then add: the same two roundings on every path.
                let v = scales.map_or(s, |sc| s * sc[j]);
                *out = if accumulate { *out + v } else { v };
            }
            p += g;
        }
    }

    /// Raw sums of panels `p .. p + g` into `sums` (`g · 32`, panel-major).
    fn panel_sums(&self, isa: Isa, p: usize, g: usize, x: &[f32], sums: &mut [f32]) {
        let k = self.k;
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `isa` is one this CPU runs (`Isa::detect`, or `available` in tests);
            // panels p .. p + g hold `k` steps each, and `x` holds `k` values (asserted by
            // the caller), which is all the kernels read; `sums` holds g · 32 values.
            unsafe {
                match (isa, &self.data) {
                    (Isa::Avx2, Data::F32(d)) => {
                        return avx2_f32(d.as_ptr().add(p * k * P), k, g, x.as_ptr(), sums)
                    }
                    (Isa::Avx2, Data::Bf16(d)) => {
                        return avx2_bf16(d.as_ptr().add(p * k * P / 2), k, g, x.as_ptr(), sums)
                    }
                    (Isa::Avx2, Data::Int8(d)) => {
                        return avx2_int8(d.as_ptr().add(p * k * P), k, g, x.as_ptr(), sums)
                    }
                    (Isa::Avx512, Data::F32(d)) => {
                        return avx512_f32(d.as_ptr().add(p * k * P), k, g, x.as_ptr(), sums)
                    }
                    (Isa::Avx512, Data::Bf16(d)) => {
                        let w = d.as_ptr().add(p * k * P / 2);
                        return avx512_bf16(w, k, g, x.as_ptr(), sums);
                    }
                    (Isa::Avx512, Data::Int8(d)) => {
                        return avx512_int8(d.as_ptr().add(p * k * P), k, g, x.as_ptr(), sums)
                    }
                    _ => {}
                }
            }
        }
        let _ = isa;
        for (gi, out) in sums.chunks_exact_mut(P).enumerate() {
            let base = (p + gi) * k;
            let mut acc = [0.0f32; P];
            for (i, &xi) in x[..k].iter().enumerate() {
                let step = base + i;
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = xi.mul_add(self.weight(step, c), *a);
                }
            }
            out.copy_from_slice(&acc);
        }
    }

    /// The stored weight of output `c` at packed step `step` (panel · k + i), before scaling.
    fn weight(&self, step: usize, c: usize) -> f32 {
        match &self.data {
            Data::F32(d) => d[step * P + c],
            Data::Bf16(d) => {
                let lane = d[step * P / 2 + c % (P / 2)];
                let bits = if c < P / 2 {
                    lane << 16
                } else {
                    lane & 0xFFFF_0000
                };
                f32::from_bits(bits)
            }
            Data::Int8(d) => f32::from(d[step * P + c]),
        }
    }
}

/// Generates a group kernel: `$acc` accumulators of `$lanes` floats per panel, `g ≤ $max`
/// panels, the body `$load(w_step, x, acc)` adding one step of one panel.
macro_rules! group_kernel {
    ($name:ident, $feat:literal, $t:ty, $vec:ty, $zero:expr, $store:path, $lanes:expr,
     $max:expr, $step_elems:expr, |$w:ident, $xv:ident, $acc:ident| $body:block) => {
        /// One group of panels (at most the kernel's group size): raw sums into `sums`.
        ///
        /// # Safety
        /// The CPU has the target features; `w` holds `g · k` packed steps, `x` `k` values.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $name(w: *const $t, k: usize, g: usize, x: *const f32, sums: &mut [f32]) {
            const PER: usize = P / $lanes;
            let mut accs = [[$zero; PER]; $max];
            for i in 0..k {
                let $xv = *x.add(i);
                for (gi, $acc) in accs.iter_mut().enumerate().take(g) {
                    let $w = w.add((gi * k + i) * $step_elems);
                    $body
                }
            }
            for (gi, acc) in accs.iter().enumerate().take(g) {
                for (j, a) in acc.iter().enumerate() {
                    // Accumulator j holds outputs j·lanes onwards (for bf16 by the pairing).
                    $store(sums.as_mut_ptr().add(gi * P + j * $lanes), *a);
                }
            }
        }
    };
}

group_kernel!(
    avx2_f32,
    "avx2,fma",
    f32,
    __m256,
    _mm256_setzero_ps(),
    _mm256_storeu_ps,
    8,
    2,
    P,
    |w, xi, acc| {
        let x = _mm256_set1_ps(xi);
        for (j, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(x, _mm256_loadu_ps(w.add(8 * j)), *a);
        }
    }
);

group_kernel!(
    avx2_int8,
    "avx2,fma",
    i8,
    __m256,
    _mm256_setzero_ps(),
    _mm256_storeu_ps,
    8,
    2,
    P,
    |w, xi, acc| {
        let x = _mm256_set1_ps(xi);
        for (j, a) in acc.iter_mut().enumerate() {
            let q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(w.add(8 * j) as *const __m128i));
            *a = _mm256_fmadd_ps(x, _mm256_cvtepi32_ps(q), *a);
        }
    }
);

group_kernel!(
    avx2_bf16,
    "avx2,fma",
    u32,
    __m256,
    _mm256_setzero_ps(),
    _mm256_storeu_ps,
    8,
    2,
    P / 2,
    |w, xi, acc| {
        let x = _mm256_set1_ps(xi);
        let mask = _mm256_set1_epi32(0xFFFF_0000u32 as i32);
        // Lanes 0..8 hold outputs 0..8 (low) and 16..24 (high); lanes 8..16 hold 8..16 and
        // 24..32: accumulators 0, 1, 2, 3 are outputs 0, 8, 16, 24 onwards.
        let v0 = _mm256_loadu_si256(w as *const __m256i);
        let v1 = _mm256_loadu_si256(w.add(8) as *const __m256i);
        acc[0] = _mm256_fmadd_ps(x, _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v0)), acc[0]);
        acc[1] = _mm256_fmadd_ps(x, _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v1)), acc[1]);
        acc[2] = _mm256_fmadd_ps(x, _mm256_castsi256_ps(_mm256_and_si256(v0, mask)), acc[2]);
        acc[3] = _mm256_fmadd_ps(x, _mm256_castsi256_ps(_mm256_and_si256(v1, mask)), acc[3]);
    }
);

group_kernel!(
    avx512_f32,
    "avx512f",
    f32,
    __m512,
    _mm512_setzero_ps(),
    _mm512_storeu_ps,
    16,
    4,
    P,
    |w, xi, acc| {
        let x = _mm512_set1_ps(xi);
        for (j, a) in acc.iter_mut().enumerate() {
            *a = _mm512_fmadd_ps(x, _mm512_loadu_ps(w.add(16 * j)), *a);
        }
    }
);

group_kernel!(
    avx512_int8,
    "avx512f",
    i8,
    __m512,
    _mm512_setzero_ps(),
    _mm512_storeu_ps,
    16,
    4,
    P,
    |w, xi, acc| {
        let x = _mm512_set1_ps(xi);
        for (j, a) in acc.iter_mut().enumerate() {
            let q = _mm512_cvtepi8_epi32(_mm_loadu_si128(w.add(16 * j) as *const __m128i));
            *a = _mm512_fmadd_ps(x, _mm512_cvtepi32_ps(q), *a);
        }
    }
);

group_kernel!(
    avx512_bf16,
    "avx512f",
    u32,
    __m512,
    _mm512_setzero_ps(),
    _mm512_storeu_ps,
    16,
    4,
    P / 2,
    |w, xi, acc| {
        let x = _mm512_set1_ps(xi);
        let mask = _mm512_set1_epi32(0xFFFF_0000u32 as i32);
        let v = _mm512_loadu_si512(w as *const __m512i);
        acc[0] = _mm512_fmadd_ps(x, _mm512_castsi512_ps(_mm512_slli_epi32::<16>(v)), acc[0]);
        acc[1] = _mm512_fmadd_ps(x, _mm512_castsi512_ps(_mm512_and_si512(v, mask)), acc[1]);
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1), some exactly representable, some not.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7;
                (x % 20011) as f32 / 10005.5 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_path_matches_the_dequantized_product_bit_for_bit() {
        // Off-panel sizes, a single panel, an odd number of panels, more than a group.
        for &(n, k) in &[(1, 1), (31, 7), (32, 64), (97, 33), (256, 256), (200, 129)] {
            let w = values(n * k, 3);
            let x = values(k, 5);
            let y0 = values(n, 9);
            for p in Precision::ALL {
                let q = QWeights::new(&w, n, k, p);
                let mut deq = w.clone();
                p.round_trip(&mut deq, k);
                // The spec: each output one fused chain over i, then × scale, then + y.
                let scale = |r: usize| match p {
                    Precision::Int8 => int8_row(&w[r * k..(r + 1) * k]).1,
                    _ => 1.0,
                };
                let v: Vec<f32> = (0..n)
                    .map(|r| {
                        let unscaled = |i: usize| match p {
                            Precision::Int8 => int8_row(&w[r * k..(r + 1) * k]).0[i].into(),
                            _ => deq[r * k + i],
                        };
                        let s = (0..k).fold(0.0f32, |a, i| x[i].mul_add(unscaled(i), a));
                        s * scale(r)
                    })
                    .collect();
                let want: Vec<f32> = y0.iter().zip(&v).map(|(a, b)| a + b).collect();
                for isa in Isa::available() {
                    let mut y = y0.clone();
                    q.gemv_panels(isa, 0, q.panels(), &x, &mut y, true);
                    assert_eq!(y, want, "{p} {isa:?} {n}x{k}");
                    // Overwriting instead of accumulating, and a split at a panel boundary.
                    let mut y = vec![f32::NAN; n];
                    let mid = q.panels() / 2;
                    let (a, b) = y.split_at_mut((mid * P).min(n));
                    q.gemv_panels(isa, 0, mid, &x, a, false);
                    q.gemv_panels(isa, mid, q.panels(), &x, b, false);
                    assert_eq!(y, v, "{p} {isa:?} {n}x{k} overwrite");
                }
                // And the f64 product of the dequantized weights, to rounding.
                for r in 0..n {
                    let exact: f64 = (0..k)
                        .map(|i| f64::from(x[i]) * f64::from(deq[r * k + i]))
                        .sum();
                    let got = f64::from(v[r]);
                    assert!((got - exact).abs() <= 1e-5 * (k as f64).sqrt() + 1e-6);
                }
            }
        }
    }

    #[test]
    fn the_widest_path_is_chosen_where_the_cpu_has_it() {
        let isa = Isa::detect();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            assert_eq!(isa, Isa::Avx512);
        }
        println!(
            "lowp kernels on this CPU: {isa:?} (of {:?})",
            Isa::available()
        );
        assert!(Isa::available().contains(&isa));
    }
}
