//! AVX2 + FMA intrinsics for the LSTM pointwise steps and the GRU forward step, eight units
//! per instruction.
//!
//! The generic kernels of [`cells`](super::cells) vectorise only in part: LLVM kept the
//! backward `tanh(c)` loop scalar and reloads every polynomial constant per block (perf
//! annotate: `vfmadd213ss`, 180 `vbroadcastss` in the forward). These functions do the same
//! arithmetic as [`fastmath`](super::fastmath), operation for operation (the same FMAs,
//! products, sums and selects in the same order), so their results are bit-identical to the
//! generic kernels' (tested in `cells`); only the instruction selection differs.

#![cfg(target_arch = "x86_64")]
// The polynomial coefficients are Cephes' published values, kept digit for digit.
#![allow(clippy::excessive_precision)]

use std::arch::x86_64::*;

/// Eight lanes.
const L: usize = 8;

/// `if x < lo { lo } else { x }`, then `if x > hi { hi } else { x }`, lane-wise (NaN stays).
///
/// `maxps(a, b)` is `a > b ? a : b` and `minps(a, b)` is `a < b ? a : b`: a NaN `x` in the
/// second operand fails the comparison and comes through, as in the scalar clamp.
#[inline(always)]
unsafe fn clamp(x: __m256, lo: __m256, hi: __m256) -> __m256 {
    _mm256_min_ps(hi, _mm256_max_ps(lo, x))
}

/// [`fastmath::exp`](super::fastmath::exp), lane-wise.
#[inline(always)]
unsafe fn exp(x0: __m256) -> __m256 {
    let magic = _mm256_set1_ps(12_582_912.0);
    let x = clamp(x0, _mm256_set1_ps(-87.33), _mm256_set1_ps(88.37));
    let t = _mm256_fmadd_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E), magic);
    let n = _mm256_sub_ps(t, magic);
    let bits = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
    let r = _mm256_fmadd_ps(
        n,
        _mm256_set1_ps(2.121_944_4e-4),
        _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693_359_4), x),
    );
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_2e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.000_000_1e-1));
    let y = _mm256_fmadd_ps(
        p,
        _mm256_mul_ps(r, r),
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(bits, _mm256_set1_epi32(127)));
    let y = _mm256_mul_ps(y, _mm256_castsi256_ps(scale));
    let big = _mm256_cmp_ps::<_CMP_GT_OQ>(x0, _mm256_set1_ps(88.72));
    let y = _mm256_blendv_ps(y, _mm256_set1_ps(f32::INFINITY), big);
    let small = _mm256_cmp_ps::<_CMP_LT_OQ>(x0, _mm256_set1_ps(-87.34));
    _mm256_blendv_ps(y, _mm256_setzero_ps(), small)
}

/// [`fastmath::sigmoid`](super::fastmath::sigmoid), lane-wise.
#[inline(always)]
unsafe fn sigmoid(x: __m256) -> __m256 {
    let neg = _mm256_xor_ps(x, _mm256_set1_ps(-0.0));
    let one = _mm256_set1_ps(1.0);
    _mm256_div_ps(one, _mm256_add_ps(one, exp(neg)))
}

/// [`fastmath::tanh`](super::fastmath::tanh), lane-wise.
#[inline(always)]
unsafe fn tanh(x: __m256) -> __m256 {
    let sign = _mm256_set1_ps(-0.0);
    let a = _mm256_andnot_ps(sign, x);
    let z = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(-5.704_988_7e-3);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.063_908_9e-2));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.373_971_6e-2));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.333_144_2e-1));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.333_328_2e-1));
    let small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    let one = _mm256_set1_ps(1.0);
    let e = exp(_mm256_mul_ps(_mm256_set1_ps(2.0), a));
    let big = _mm256_sub_ps(
        one,
        _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(e, one)),
    );
    let big = _mm256_or_ps(_mm256_andnot_ps(sign, big), _mm256_and_ps(sign, x));
    _mm256_blendv_ps(
        big,
        small,
        _mm256_cmp_ps::<_CMP_LT_OQ>(a, _mm256_set1_ps(0.625)),
    )
}

/// `1 − x`, lane-wise.
#[inline(always)]
unsafe fn one_minus(x: __m256) -> __m256 {
    _mm256_sub_ps(_mm256_set1_ps(1.0), x)
}

/// LSTM forward on whole 8-unit blocks of every row; returns the first unit not done
/// (`h − h % 8`), which the caller finishes with the generic kernel.
///
/// # Safety
/// AVX2 and FMA present; `gates` is `[rows, 4h]`, `c` and `hs` are `[rows, h]`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn lstm_fwd(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]) -> usize {
    let body = h - h % L;
    if h == 0 {
        return 0;
    }
    let rows = gates.len() / (4 * h);
    assert!(
        c.len() >= rows * h && hs.len() >= rows * h,
        "lstm_fwd: row extents"
    );
    // Two passes per row. A block's five activations form one long dependency chain (`tanh(c)`
    // needs the other four, each an exp of ~80 cycles' latency), and with all five in one loop
    // body the out-of-order core could not overlap enough blocks: it ran latency-bound, 1.43x
    // slower. Here the first pass has four independent chains per block, the second one.
    for r in 0..rows {
        let g = gates.as_mut_ptr().add(r * 4 * h);
        let (cp, hp) = (c.as_mut_ptr().add(r * h), hs.as_mut_ptr().add(r * h));
        for j in (0..body).step_by(L) {
            let (pi, pf, pg, po) = (g.add(j), g.add(h + j), g.add(2 * h + j), g.add(3 * h + j));
            let i = sigmoid(_mm256_loadu_ps(pi));
            let f = sigmoid(_mm256_loadu_ps(pf));
            let gg = tanh(_mm256_loadu_ps(pg));
            _mm256_storeu_ps(po, sigmoid(_mm256_loadu_ps(po)));
            _mm256_storeu_ps(pi, i);
            _mm256_storeu_ps(pf, f);
            _mm256_storeu_ps(pg, gg);
            let cc = _mm256_add_ps(
                _mm256_mul_ps(f, _mm256_loadu_ps(cp.add(j))),
                _mm256_mul_ps(i, gg),
            );
            _mm256_storeu_ps(cp.add(j), cc);
        }
        for j in (0..body).step_by(L) {
            let o = _mm256_loadu_ps(g.add(3 * h + j));
            let cc = _mm256_loadu_ps(cp.add(j));
            _mm256_storeu_ps(hp.add(j), _mm256_mul_ps(o, tanh(cc)));
        }
    }
    body
}

/// LSTM backward on whole 8-unit blocks of every row (operands as in
/// [`cells::lstm_bwd`](super::cells::lstm_bwd)); returns the first unit not done.
///
/// # Safety
/// AVX2 and FMA present; `gates` is `[rows, 4h]`, the others `[rows, h]`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn lstm_bwd(
    h: usize,
    gates: &mut [f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) -> usize {
    let body = h - h % L;
    if h == 0 {
        return 0;
    }
    let rows = gates.len() / (4 * h);
    let n = rows * h;
    assert!(
        c_prev.len() >= n && c.len() >= n && dh.len() >= n && dc.len() >= n,
        "lstm_bwd: row extents"
    );
    // `tanh(c)` first, for a chunk of units into a stack buffer, so that its exp chains are
    // independent of each other (as in `lstm_fwd`); then the products.
    const CHUNK: usize = 32 * L;
    let mut tcs = [_mm256_setzero_ps(); CHUNK / L];
    for r in 0..rows {
        let g = gates.as_mut_ptr().add(r * 4 * h);
        let o = r * h;
        for j0 in (0..body).step_by(CHUNK) {
            let j1 = (j0 + CHUNK).min(body);
            for (t, j) in tcs.iter_mut().zip((j0..j1).step_by(L)) {
                *t = tanh(_mm256_loadu_ps(c.as_ptr().add(o + j)));
            }
            for (&tc, j) in tcs.iter().zip((j0..j1).step_by(L)) {
                let (pi, pf, pg, po) = (g.add(j), g.add(h + j), g.add(2 * h + j), g.add(3 * h + j));
                let (i, f, gg, og) = (
                    _mm256_loadu_ps(pi),
                    _mm256_loadu_ps(pf),
                    _mm256_loadu_ps(pg),
                    _mm256_loadu_ps(po),
                );
                let cp = _mm256_loadu_ps(c_prev.as_ptr().add(o + j));
                let dhv = _mm256_loadu_ps(dh.as_ptr().add(o + j));
                let pd = dc.as_mut_ptr().add(o + j);
                let dct = _mm256_add_ps(
                    _mm256_loadu_ps(pd),
                    _mm256_mul_ps(_mm256_mul_ps(dhv, og), one_minus(_mm256_mul_ps(tc, tc))),
                );
                _mm256_storeu_ps(pd, _mm256_mul_ps(dct, f));
                let d_o = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dhv, tc), og), one_minus(og));
                let d_f = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dct, cp), f), one_minus(f));
                let d_i = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dct, gg), i), one_minus(i));
                let d_g = _mm256_mul_ps(_mm256_mul_ps(dct, i), one_minus(_mm256_mul_ps(gg, gg)));
                _mm256_storeu_ps(pi, d_i);
                _mm256_storeu_ps(pf, d_f);
                _mm256_storeu_ps(pg, d_g);
                _mm256_storeu_ps(po, d_o);
            }
        }
    }
    body
}

/// GRU forward on whole 8-unit blocks of every row (operands as in
/// [`cells::gru_fwd`](super::cells::gru_fwd)); returns the first unit not done.
///
/// # Safety
/// AVX2 and FMA present; `gx` and `gh` are `[rows, 3h]`, `hs` is `[rows, h]`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn gru_fwd(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]) -> usize {
    let body = h - h % L;
    if h == 0 {
        return 0;
    }
    let rows = gx.len() / (3 * h);
    assert!(
        gh.len() >= rows * 3 * h && hs.len() >= rows * h,
        "gru_fwd: row extents"
    );
    for r in 0..rows {
        let x = gx.as_mut_ptr().add(r * 3 * h);
        let g = gh.as_ptr().add(r * 3 * h);
        let hp = hs.as_mut_ptr().add(r * h);
        // Two passes, as in `lstm_fwd`: `n` needs `r`, so one loop body chains two exps.
        for j in (0..body).step_by(L) {
            let (px, pz) = (x.add(j), x.add(h + j));
            let rv = sigmoid(_mm256_add_ps(
                _mm256_loadu_ps(px),
                _mm256_loadu_ps(g.add(j)),
            ));
            let z = sigmoid(_mm256_add_ps(
                _mm256_loadu_ps(pz),
                _mm256_loadu_ps(g.add(h + j)),
            ));
            _mm256_storeu_ps(px, rv);
            _mm256_storeu_ps(pz, z);
        }
        for j in (0..body).step_by(L) {
            let (rv, z, pn) = (
                _mm256_loadu_ps(x.add(j)),
                _mm256_loadu_ps(x.add(h + j)),
                x.add(2 * h + j),
            );
            let n = tanh(_mm256_add_ps(
                _mm256_loadu_ps(pn),
                _mm256_mul_ps(rv, _mm256_loadu_ps(g.add(2 * h + j))),
            ));
            let hv = _mm256_add_ps(
                _mm256_mul_ps(one_minus(z), n),
                _mm256_mul_ps(z, _mm256_loadu_ps(hp.add(j))),
            );
            _mm256_storeu_ps(pn, n);
            _mm256_storeu_ps(hp.add(j), hv);
        }
    }
    body
}
