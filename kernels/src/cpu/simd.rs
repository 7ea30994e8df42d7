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

/// `N` vectors at a time, each step for all `N` before the next, so that `N` dependency chains
/// interleave in the instruction stream. One chain (an `exp` is ~25 dependent operations) fills
/// the scheduler with operations waiting on each other and runs latency-bound; interleaving
/// several hides that latency (docs/PERFORMANCE.md). Each lane sees the same operations in the
/// same order as with `N = 1`, so the results are the same bits.
type Vn<const N: usize> = [__m256; N];

/// Blocks per group in the kernels below (eight spill registers).
const GROUP: usize = 4;

/// Calls `$f::<GROUP>(args)` for each group of [`GROUP`] blocks of `0..$body` and `$f::<1>(args)`
/// for each block left over, with `$j` the first unit of the group or block.
macro_rules! by_groups {
    ($body:expr, $j:ident => $f:ident($($arg:expr),* $(,)?)) => {{
        let body: usize = $body;
        let wide = body - body % (GROUP * L);
        for $j in (0..wide).step_by(GROUP * L) {
            $f::<GROUP>($($arg),*);
        }
        for $j in (wide..body).step_by(L) {
            $f::<1>($($arg),*);
        }
    }};
}

/// `N` consecutive vectors from `p`.
#[inline(always)]
unsafe fn load_n<const N: usize>(p: *const f32) -> Vn<N> {
    let mut v = [_mm256_setzero_ps(); N];
    for (k, x) in v.iter_mut().enumerate() {
        *x = _mm256_loadu_ps(p.add(k * L));
    }
    v
}

/// Stores `N` consecutive vectors at `p`.
#[inline(always)]
unsafe fn store_n<const N: usize>(p: *mut f32, v: Vn<N>) {
    for (k, x) in v.iter().enumerate() {
        _mm256_storeu_ps(p.add(k * L), *x);
    }
}

/// [`fastmath::exp`](super::fastmath::exp), lane-wise, on `N` vectors.
#[inline(always)]
unsafe fn exp_n<const N: usize>(x0: Vn<N>) -> Vn<N> {
    let magic = _mm256_set1_ps(12_582_912.0);
    let (mut x, mut n, mut r, mut y) = (x0, x0, x0, x0);
    let mut bits = [_mm256_setzero_si256(); N];
    for v in 0..N {
        x[v] = clamp(x0[v], _mm256_set1_ps(-87.33), _mm256_set1_ps(88.37));
    }
    for v in 0..N {
        let t = _mm256_fmadd_ps(x[v], _mm256_set1_ps(std::f32::consts::LOG2_E), magic);
        n[v] = _mm256_sub_ps(t, magic);
        bits[v] = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
    }
    for v in 0..N {
        r[v] = _mm256_fmadd_ps(
            n[v],
            _mm256_set1_ps(2.121_944_4e-4),
            _mm256_fmadd_ps(n[v], _mm256_set1_ps(-0.693_359_4), x[v]),
        );
    }
    let mut p = [_mm256_set1_ps(1.987_569_1e-4); N];
    for c in [
        1.398_2e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.000_000_1e-1,
    ] {
        for v in 0..N {
            p[v] = _mm256_fmadd_ps(p[v], r[v], _mm256_set1_ps(c));
        }
    }
    for v in 0..N {
        let e = _mm256_fmadd_ps(
            p[v],
            _mm256_mul_ps(r[v], r[v]),
            _mm256_add_ps(r[v], _mm256_set1_ps(1.0)),
        );
        let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(bits[v], _mm256_set1_epi32(127)));
        y[v] = _mm256_mul_ps(e, _mm256_castsi256_ps(scale));
    }
    for v in 0..N {
        let big = _mm256_cmp_ps::<_CMP_GT_OQ>(x0[v], _mm256_set1_ps(88.72));
        let yv = _mm256_blendv_ps(y[v], _mm256_set1_ps(f32::INFINITY), big);
        let small = _mm256_cmp_ps::<_CMP_LT_OQ>(x0[v], _mm256_set1_ps(-87.34));
        y[v] = _mm256_blendv_ps(yv, _mm256_setzero_ps(), small);
    }
    y
}

/// [`fastmath::sigmoid`](super::fastmath::sigmoid), lane-wise, on `N` vectors.
#[inline(always)]
unsafe fn sigmoid_n<const N: usize>(x: Vn<N>) -> Vn<N> {
    let mut neg = x;
    for v in 0..N {
        neg[v] = _mm256_xor_ps(x[v], _mm256_set1_ps(-0.0));
    }
    let mut e = exp_n(neg);
    let one = _mm256_set1_ps(1.0);
    for v in e.iter_mut() {
        *v = _mm256_div_ps(one, _mm256_add_ps(one, *v));
    }
    e
}

/// [`fastmath::tanh`](super::fastmath::tanh), lane-wise, on `N` vectors.
#[inline(always)]
unsafe fn tanh_n<const N: usize>(x: Vn<N>) -> Vn<N> {
    let sign = _mm256_set1_ps(-0.0);
    let (mut a, mut z, mut two_a, mut small) = (x, x, x, x);
    for v in 0..N {
        a[v] = _mm256_andnot_ps(sign, x[v]);
        z[v] = _mm256_mul_ps(x[v], x[v]);
        two_a[v] = _mm256_mul_ps(_mm256_set1_ps(2.0), a[v]);
    }
    let e = exp_n(two_a);
    let mut p = [_mm256_set1_ps(-5.704_988_7e-3); N];
    for c in [
        2.063_908_9e-2,
        -5.373_971_6e-2,
        1.333_144_2e-1,
        -3.333_328_2e-1,
    ] {
        for v in 0..N {
            p[v] = _mm256_fmadd_ps(p[v], z[v], _mm256_set1_ps(c));
        }
    }
    for v in 0..N {
        small[v] = _mm256_fmadd_ps(_mm256_mul_ps(p[v], z[v]), x[v], x[v]);
    }
    let one = _mm256_set1_ps(1.0);
    let mut out = x;
    for v in 0..N {
        let big = _mm256_sub_ps(
            one,
            _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(e[v], one)),
        );
        let big = _mm256_or_ps(_mm256_andnot_ps(sign, big), _mm256_and_ps(sign, x[v]));
        out[v] = _mm256_blendv_ps(
            big,
            small[v],
            _mm256_cmp_ps::<_CMP_LT_OQ>(a[v], _mm256_set1_ps(0.625)),
        );
    }
    out
}

/// [`tanh_n`] of the `N` vectors at `src`, into `dst[..N]`.
#[inline(always)]
unsafe fn tanh_into<const N: usize>(src: *const f32, dst: *mut __m256) {
    let t = tanh_n::<N>(load_n(src));
    std::ptr::copy_nonoverlapping(t.as_ptr(), dst, N);
}

/// `1 − x`, lane-wise.
#[inline(always)]
unsafe fn one_minus(x: __m256) -> __m256 {
    _mm256_sub_ps(_mm256_set1_ps(1.0), x)
}

/// The gates and `c` of `N` blocks of one row: `g` points at the blocks' input gates (the
/// forget, cell and output gates follow at `h`, `2h`, `3h`), `cp` at their `c`.
#[inline(always)]
unsafe fn lstm_fwd_gates<const N: usize>(h: usize, g: *mut f32, cp: *mut f32) {
    let (pi, pf, pg, po) = (g, g.add(h), g.add(2 * h), g.add(3 * h));
    let i = sigmoid_n::<N>(load_n(pi));
    let f = sigmoid_n::<N>(load_n(pf));
    let gg = tanh_n::<N>(load_n(pg));
    store_n(po, sigmoid_n::<N>(load_n(po)));
    store_n(pi, i);
    store_n(pf, f);
    store_n(pg, gg);
    let mut cc: Vn<N> = load_n(cp);
    for v in 0..N {
        cc[v] = _mm256_add_ps(_mm256_mul_ps(f[v], cc[v]), _mm256_mul_ps(i[v], gg[v]));
    }
    store_n(cp, cc);
}

/// `h = o · tanh(c)` for `N` blocks.
#[inline(always)]
unsafe fn lstm_fwd_out<const N: usize>(po: *const f32, cp: *const f32, hp: *mut f32) {
    let o: Vn<N> = load_n(po);
    let mut t = tanh_n::<N>(load_n(cp));
    for v in 0..N {
        t[v] = _mm256_mul_ps(o[v], t[v]);
    }
    store_n(hp, t);
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
    // needs i, f and g), so the first pass computes the four gates and `c`, the second
    // `tanh(c)` and `h`; each takes [`GROUP`] blocks at a time (see [`Vn`]), so the chains
    // overlap instead of running latency-bound.
    for r in 0..rows {
        let g = gates.as_mut_ptr().add(r * 4 * h);
        let (cp, hp) = (c.as_mut_ptr().add(r * h), hs.as_mut_ptr().add(r * h));
        by_groups!(body, j => lstm_fwd_gates(h, g.add(j), cp.add(j)));
        by_groups!(body, j => lstm_fwd_out(g.add(3 * h + j), cp.add(j), hp.add(j)));
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
            let (src, dst) = (c.as_ptr().add(o + j0), tcs.as_mut_ptr());
            by_groups!(j1 - j0, k => tanh_into(src.add(k), dst.add(k / L)));
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

/// The reset and update gates of `N` blocks of one row: `x` and `g` point at the blocks' reset
/// gate in the input and recurrent pre-activations (the update gate follows at `h`).
#[inline(always)]
unsafe fn gru_fwd_gates<const N: usize>(h: usize, x: *mut f32, g: *const f32) {
    let (mut rv, mut z): (Vn<N>, Vn<N>) = (load_n(x), load_n(x.add(h)));
    let (gr, gz): (Vn<N>, Vn<N>) = (load_n(g), load_n(g.add(h)));
    for v in 0..N {
        rv[v] = _mm256_add_ps(rv[v], gr[v]);
        z[v] = _mm256_add_ps(z[v], gz[v]);
    }
    store_n(x, sigmoid_n(rv));
    store_n(x.add(h), sigmoid_n(z));
}

/// The candidate `n` and the new `h` of `N` blocks (pointers as in [`gru_fwd_gates`]; `hp` at
/// the blocks' `h`, which holds `h_prev` on entry).
#[inline(always)]
unsafe fn gru_fwd_out<const N: usize>(h: usize, x: *mut f32, g: *const f32, hp: *mut f32) {
    let (rv, z, mut n): (Vn<N>, Vn<N>, Vn<N>) = (load_n(x), load_n(x.add(h)), load_n(x.add(2 * h)));
    let (gn, prev): (Vn<N>, Vn<N>) = (load_n(g.add(2 * h)), load_n(hp));
    for v in 0..N {
        n[v] = _mm256_add_ps(n[v], _mm256_mul_ps(rv[v], gn[v]));
    }
    let n = tanh_n(n);
    let mut out = n;
    for v in 0..N {
        out[v] = _mm256_add_ps(
            _mm256_mul_ps(one_minus(z[v]), n[v]),
            _mm256_mul_ps(z[v], prev[v]),
        );
    }
    store_n(x.add(2 * h), n);
    store_n(hp, out);
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
        // Two passes, as in `lstm_fwd`: `n` needs `r`.
        by_groups!(body, j => gru_fwd_gates(h, x.add(j), g.add(j)));
        by_groups!(body, j => gru_fwd_out(h, x.add(j), g.add(j), hp.add(j)));
    }
    body
}
