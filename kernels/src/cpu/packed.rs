//! Small products against a weight matrix packed once: `C[m, n] += A[m, k] · W[k, n]`.
//!
//! The recurrent GEMM of every time step multiplies a few batch rows by the same `W_hh`. A
//! general GEMM repacks `W_hh` on every call, a large share of a small preset's time; here it
//! is packed once per window into 16-column
//! panels (`[k][16]` each, zero-padded), and an AVX2 + FMA micro-kernel keeps a 6 × 16 tile of
//! `C` in twelve registers while it walks `k`: two loads of `W` and six broadcasts of `A` feed
//! twelve FMAs.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Panel width (columns of `W` per packed panel): two 8-lane AVX registers.
const NR: usize = 16;
/// Rows of `C` per micro-tile.
const MR: usize = 6;
/// Depth of one pass over the panels (`KC · 64` bytes of a panel stay in L1).
const KC: usize = 256;

/// A `[k, n]` right-hand operand in 16-column panels.
pub(crate) struct Packed {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Packed {
    /// Packs `Wᵀ` for `W` stored `[n, k]` row-major (the `x · Wᵀ` of a forward step).
    pub(crate) fn from_transposed(w: &[f32], n: usize, k: usize) -> Packed {
        assert_eq!(w.len(), n * k, "packed: W must be [n, k]");
        // Read each stored row once, contiguously, and scatter it into its panel column (the
        // panel, `k · 64` bytes, stays in L1).
        Self::fill(n, k, |j, c, panel| {
            for (dst, &x) in panel.chunks_exact_mut(NR).zip(&w[(j * NR + c) * k..][..k]) {
                dst[c] = x;
            }
        })
    }

    /// Packs `W` stored `[k, n]` row-major (the `dY · W` of a backward step).
    pub(crate) fn from_rows(w: &[f32], k: usize, n: usize) -> Packed {
        assert_eq!(w.len(), k * n, "packed: W must be [k, n]");
        Self::fill(n, k, |j, c, panel| {
            for (dst, row) in panel.chunks_exact_mut(NR).zip(w.chunks_exact(n)) {
                dst[c] = row[j * NR + c];
            }
        })
    }

    /// Zero-padded panels, column `c` of panel `j` written by `column(j, c, panel)`.
    fn fill(n: usize, k: usize, column: impl Fn(usize, usize, &mut [f32])) -> Packed {
        let mut data = vec![0.0; n.div_ceil(NR) * k * NR];
        if k > 0 {
            for (j, panel) in data.chunks_exact_mut(k * NR).enumerate() {
                for c in 0..(n - j * NR).min(NR) {
                    column(j, c, panel);
                }
            }
        }
        Packed { k, n, data }
    }

    /// `c[r·ldc + j] += Σ_i a[r·lda + i] · W[i, j]` for `r < m`, `j < n`.
    ///
    /// Panics if `a` or `c` is too short for `m` rows (the callers slice exact extents).
    pub(crate) fn gemm_acc(&self, m: usize, a: &[f32], lda: usize, c: &mut [f32], ldc: usize) {
        if m == 0 || self.n == 0 || self.k == 0 {
            return;
        }
        assert!(lda >= self.k && ldc >= self.n, "packed: leading dimensions");
        assert!(a.len() >= (m - 1) * lda + self.k, "packed: A too short");
        assert!(c.len() >= (m - 1) * ldc + self.n, "packed: C too short");
        #[cfg(target_arch = "x86_64")]
        if super::fastmath::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked above); the asserts prove that every
            // element the kernel reads of `a` and writes of `c` is inside its slice.
            unsafe { self.gemm_acc_avx2(m, a.as_ptr(), lda, c.as_mut_ptr(), ldc) };
            return;
        }
        self.gemm_acc_portable(m, a, lda, c, ldc);
    }

    /// The same product in plain Rust (CPUs without AVX2 + FMA, and the kernel's test twin).
    pub(crate) fn gemm_acc_portable(
        &self,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        ldc: usize,
    ) {
        for (j, panel) in self.data.chunks_exact(self.k * NR).enumerate() {
            let cols = (self.n - j * NR).min(NR);
            for r in 0..m {
                let mut acc = [0.0f32; NR];
                let a_row = &a[r * lda..r * lda + self.k];
                for (&x, w) in a_row.iter().zip(panel.chunks_exact(NR)) {
                    for (s, &wv) in acc.iter_mut().zip(w) {
                        *s += x * wv;
                    }
                }
                let c_row = &mut c[r * ldc + j * NR..r * ldc + j * NR + cols];
                for (d, s) in c_row.iter_mut().zip(acc) {
                    *d += s;
                }
            }
        }
    }

    /// Blocked like a BLIS GEMM: `k` in slices of [`KC`] (a panel's slice, `KC · 64` bytes,
    /// stays in L1), then rows of `A` in blocks of about 128 KiB (they stay in L2), then the
    /// panels, then 6-row tiles. Each slice adds its partial sums into `C`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gemm_acc_avx2(&self, m: usize, a: *const f32, lda: usize, c: *mut f32, ldc: usize) {
        let k = self.k;
        for k0 in (0..k).step_by(KC) {
            let kc = (k - k0).min(KC);
            let block = (32768 / kc / MR).max(1) * MR;
            for r0 in (0..m).step_by(block) {
                let r_end = (r0 + block).min(m);
                // Rows spread evenly over the fewest tiles: 25 rows as 5 × 5, not 4 × 6 + 1.
                // A 1-row tile has two accumulators, so it waits on FMA latency and costs
                // about two thirds of a full tile.
                let tiles = (r_end - r0).div_ceil(MR);
                let (base, extra) = ((r_end - r0) / tiles, (r_end - r0) % tiles);
                for j in 0..self.n.div_ceil(NR) {
                    let w = self.data.as_ptr().add((j * k + k0) * NR);
                    let cols = (self.n - j * NR).min(NR);
                    let mut r = r0;
                    for t in 0..tiles {
                        let rows = base + usize::from(t < extra);
                        let (a, c) = (a.add(r * lda + k0), c.add(r * ldc + j * NR));
                        match rows {
                            6 => tile::<6>(kc, w, a, lda, c, ldc, cols),
                            5 => tile::<5>(kc, w, a, lda, c, ldc, cols),
                            4 => tile::<4>(kc, w, a, lda, c, ldc, cols),
                            3 => tile::<3>(kc, w, a, lda, c, ldc, cols),
                            2 => tile::<2>(kc, w, a, lda, c, ldc, cols),
                            _ => tile::<1>(kc, w, a, lda, c, ldc, cols),
                        }
                        r += rows;
                    }
                }
            }
        }
    }
}

/// One `R × 16` tile: `c[r][..cols] += Σ_i a[r·lda + i] · w[i][..]`.
///
/// # Safety
/// AVX2 + FMA present; `w` holds `k · 16` floats, `a` rows `R` of `k`, `c` rows `R` of `cols`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize>(
    k: usize,
    w: *const f32,
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    cols: usize,
) {
    let mut lo = [_mm256_setzero_ps(); R];
    let mut hi = [_mm256_setzero_ps(); R];
    for i in 0..k {
        let w0 = _mm256_loadu_ps(w.add(i * NR));
        let w1 = _mm256_loadu_ps(w.add(i * NR + 8));
        for r in 0..R {
            let x = _mm256_broadcast_ss(&*a.add(r * lda + i));
            lo[r] = _mm256_fmadd_ps(x, w0, lo[r]);
            hi[r] = _mm256_fmadd_ps(x, w1, hi[r]);
        }
    }
    for r in 0..R {
        let c = c.add(r * ldc);
        if cols == NR {
            _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), lo[r]));
            _mm256_storeu_ps(c.add(8), _mm256_add_ps(_mm256_loadu_ps(c.add(8)), hi[r]));
        } else {
            let mut tmp = [0.0f32; NR];
            _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
            _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
            for (i, &v) in tmp[..cols].iter().enumerate() {
                *c.add(i) += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cpu::test_values as values;

    /// `C += A · W` in f64, W logical `[k, n]` from an accessor.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        lda: usize,
        w: impl Fn(usize, usize) -> f32,
        c: &mut [f32],
        ldc: usize,
    ) {
        for r in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|i| a[r * lda + i] as f64 * w(i, j) as f64).sum();
                c[r * ldc + j] = (c[r * ldc + j] as f64 + s) as f32;
            }
        }
    }

    #[test]
    fn packed_products_match_the_naive_product_on_ragged_shapes() {
        // Rows and columns off the 6 × 16 tile, a padded leading dimension, accumulation.
        for &(m, n, k) in &[
            (1, 1, 1),
            (7, 17, 5),
            (13, 40, 33),
            (32, 512, 128),
            (6, 16, 9),
        ] {
            let (lda, ldc) = (k + 3, n + 2);
            let a = values(m * lda, 1);
            let c0 = values(m * ldc, 2);
            let w_nk = values(n * k, 3);
            let w_kn = values(k * n, 4);
            for (packed, at) in [
                (
                    Packed::from_transposed(&w_nk, n, k),
                    Box::new(|i: usize, j: usize| w_nk[j * k + i])
                        as Box<dyn Fn(usize, usize) -> f32>,
                ),
                (
                    Packed::from_rows(&w_kn, k, n),
                    Box::new(|i: usize, j: usize| w_kn[i * n + j]),
                ),
            ] {
                let mut want = c0.clone();
                naive(m, n, k, &a, lda, &at, &mut want, ldc);
                let mut fast = c0.clone();
                packed.gemm_acc(m, &a, lda, &mut fast, ldc);
                let mut portable = c0.clone();
                packed.gemm_acc_portable(m, &a, lda, &mut portable, ldc);
                for (i, ((&w, &f), &p)) in want.iter().zip(&fast).zip(&portable).enumerate() {
                    let tol = 1e-5 * (k as f32).sqrt() * (1.0 + w.abs());
                    assert!((w - f).abs() <= tol, "{m}x{n}x{k} fast [{i}]: {f} vs {w}");
                    assert!(
                        (w - p).abs() <= tol,
                        "{m}x{n}x{k} portable [{i}]: {p} vs {w}"
                    );
                }
                // Padding columns of C (j >= n) are never written.
                for r in 0..m {
                    for j in n..ldc {
                        assert_eq!(fast[r * ldc + j], c0[r * ldc + j]);
                    }
                }
            }
        }
    }
}
