//! AVX2 + FMA and AVX-512 intrinsics for the LSTM pointwise steps and the GRU forward step,
//! eight or sixteen units per instruction.
//!
//! The generic kernels of [`cells`](super::cells) vectorise only in part: LLVM kept the
//! backward `tanh(c)` loop scalar and reloads every polynomial constant per block (perf
//! annotate: `vfmadd213ss`, 180 `vbroadcastss` in the forward). These functions do the same
//! arithmetic as [`fastmath`](super::fastmath), operation for operation (the same FMAs,
//! products, sums and selects in the same order), so their results are bit-identical to the
//! generic kernels' (tested in `cells`); only the instruction selection differs. They are
//! written once over [`Lanes`], a vector of 8 (`__m256`) or 16 (`__m512`) lanes whose
//! operations are the same IEEE operations lane by lane, so both widths give the same bits.

#![cfg(target_arch = "x86_64")]
// The polynomial coefficients are Cephes' published values, kept digit for digit.
#![allow(clippy::excessive_precision)]

use std::arch::x86_64::*;

/// A vector of `f32` lanes and the lane-wise operations the kernels use. Every method is an
/// intrinsic of the instruction set the implementing type belongs to; callers run them only
/// inside a function built for that set (`#[inline(always)]` lets them inline there).
pub(crate) trait Lanes: Copy {
    /// Lanes per vector.
    const L: usize;
    /// A lane-wise comparison result.
    type Mask: Copy;
    /// Every lane `x`.
    unsafe fn splat(x: f32) -> Self;
    /// `L` values from `p`.
    unsafe fn load(p: *const f32) -> Self;
    /// `L` values to `p`.
    unsafe fn store(self, p: *mut f32);
    /// `a + b`.
    unsafe fn add(self, b: Self) -> Self;
    /// `a − b`.
    unsafe fn sub(self, b: Self) -> Self;
    /// `a · b`.
    unsafe fn mul(self, b: Self) -> Self;
    /// `a / b`.
    unsafe fn div(self, b: Self) -> Self;
    /// `a · b + c`, one rounding.
    unsafe fn fmadd(self, b: Self, c: Self) -> Self;
    /// `a > b ? a : b` (`maxps`: `b` when either is NaN).
    unsafe fn max(self, b: Self) -> Self;
    /// `a < b ? a : b` (`minps`: `b` when either is NaN).
    unsafe fn min(self, b: Self) -> Self;
    /// Bitwise `a ^ b`.
    unsafe fn xor(self, b: Self) -> Self;
    /// Bitwise `a | b`.
    unsafe fn or(self, b: Self) -> Self;
    /// Bitwise `a & b`.
    unsafe fn and(self, b: Self) -> Self;
    /// Bitwise `!a & b`.
    unsafe fn andnot(self, b: Self) -> Self;
    /// `a < b`, ordered (false for NaN).
    unsafe fn lt(self, b: Self) -> Self::Mask;
    /// `a > b`, ordered (false for NaN).
    unsafe fn gt(self, b: Self) -> Self::Mask;
    /// `m ? b : a`, lane-wise.
    unsafe fn select(self, b: Self, m: Self::Mask) -> Self;
    /// `exp`'s power of two from the rounded sum `t = x·log2(e) + M`: the bits of `t` minus
    /// those of `magic` (the integer `n`), plus 127, shifted into the exponent field.
    unsafe fn pow2(t: Self, magic: Self) -> Self;
    /// Zeros.
    unsafe fn zero() -> Self;
}

impl Lanes for __m256 {
    const L: usize = 8;
    type Mask = __m256;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self)
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        _mm256_add_ps(self, b)
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        _mm256_sub_ps(self, b)
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        _mm256_mul_ps(self, b)
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        _mm256_div_ps(self, b)
    }
    #[inline(always)]
    unsafe fn fmadd(self, b: Self, c: Self) -> Self {
        _mm256_fmadd_ps(self, b, c)
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        _mm256_max_ps(self, b)
    }
    #[inline(always)]
    unsafe fn min(self, b: Self) -> Self {
        _mm256_min_ps(self, b)
    }
    #[inline(always)]
    unsafe fn xor(self, b: Self) -> Self {
        _mm256_xor_ps(self, b)
    }
    #[inline(always)]
    unsafe fn or(self, b: Self) -> Self {
        _mm256_or_ps(self, b)
    }
    #[inline(always)]
    unsafe fn and(self, b: Self) -> Self {
        _mm256_and_ps(self, b)
    }
    #[inline(always)]
    unsafe fn andnot(self, b: Self) -> Self {
        _mm256_andnot_ps(self, b)
    }
    #[inline(always)]
    unsafe fn lt(self, b: Self) -> Self::Mask {
        _mm256_cmp_ps::<_CMP_LT_OQ>(self, b)
    }
    #[inline(always)]
    unsafe fn gt(self, b: Self) -> Self::Mask {
        _mm256_cmp_ps::<_CMP_GT_OQ>(self, b)
    }
    #[inline(always)]
    unsafe fn select(self, b: Self, m: Self::Mask) -> Self {
        _mm256_blendv_ps(self, b, m)
    }
    #[inline(always)]
    unsafe fn pow2(t: Self, magic: Self) -> Self {
        let bits = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            bits,
            _mm256_set1_epi32(127),
        )))
    }
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm256_setzero_ps()
    }
}

impl Lanes for __m512 {
    const L: usize = 16;
    type Mask = __mmask16;
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self)
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        _mm512_add_ps(self, b)
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        _mm512_sub_ps(self, b)
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        _mm512_mul_ps(self, b)
    }
    #[inline(always)]
    unsafe fn div(self, b: Self) -> Self {
        _mm512_div_ps(self, b)
    }
    #[inline(always)]
    unsafe fn fmadd(self, b: Self, c: Self) -> Self {
        _mm512_fmadd_ps(self, b, c)
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        _mm512_max_ps(self, b)
    }
    #[inline(always)]
    unsafe fn min(self, b: Self) -> Self {
        _mm512_min_ps(self, b)
    }
    #[inline(always)]
    unsafe fn xor(self, b: Self) -> Self {
        _mm512_castsi512_ps(_mm512_xor_si512(
            _mm512_castps_si512(self),
            _mm512_castps_si512(b),
        ))
    }
    #[inline(always)]
    unsafe fn or(self, b: Self) -> Self {
        _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(self),
            _mm512_castps_si512(b),
        ))
    }
    #[inline(always)]
    unsafe fn and(self, b: Self) -> Self {
        _mm512_castsi512_ps(_mm512_and_si512(
            _mm512_castps_si512(self),
            _mm512_castps_si512(b),
        ))
    }
    #[inline(always)]
    unsafe fn andnot(self, b: Self) -> Self {
        _mm512_castsi512_ps(_mm512_andnot_si512(
            _mm512_castps_si512(self),
            _mm512_castps_si512(b),
        ))
    }
    #[inline(always)]
    unsafe fn lt(self, b: Self) -> Self::Mask {
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(self, b)
    }
    #[inline(always)]
    unsafe fn gt(self, b: Self) -> Self::Mask {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self, b)
    }
    #[inline(always)]
    unsafe fn select(self, b: Self, m: Self::Mask) -> Self {
        _mm512_mask_blend_ps(m, self, b)
    }
    #[inline(always)]
    unsafe fn pow2(t: Self, magic: Self) -> Self {
        let bits = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
        _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
            bits,
            _mm512_set1_epi32(127),
        )))
    }
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_ps()
    }
}

/// `if x < lo { lo } else { x }`, then `if x > hi { hi } else { x }`, lane-wise (NaN stays).
///
/// `max(a, b)` is `a > b ? a : b` and `min(a, b)` is `a < b ? a : b`: a NaN `x` in the
/// second operand fails the comparison and comes through, as in the scalar clamp.
#[inline(always)]
unsafe fn clamp<V: Lanes>(x: V, lo: V, hi: V) -> V {
    hi.min(lo.max(x))
}

/// `N` vectors at a time, each step for all `N` before the next, so that `N` dependency chains
/// interleave in the instruction stream. One chain (an `exp` is ~25 dependent operations) fills
/// the scheduler with operations waiting on each other and runs latency-bound; interleaving
/// several hides that latency (docs/PERFORMANCE.md). Each lane sees the same operations in the
/// same order as with `N = 1`, so the results are the same bits.
type Vn<V, const N: usize> = [V; N];

/// Blocks per group in the kernels below (eight spill registers).
const GROUP: usize = 4;

/// Calls `$f::<V, GROUP>(args)` for each group of [`GROUP`] blocks of `V::L` units of
/// `0..$body` and `$f::<V, 1>(args)` for each block left over, with `$j` the first unit of the
/// group or block.
macro_rules! by_groups {
    ($v:ty, $body:expr, $j:ident => $f:ident($($arg:expr),* $(,)?)) => {{
        let (body, l): (usize, usize) = ($body, <$v as Lanes>::L);
        let wide = body - body % (GROUP * l);
        for $j in (0..wide).step_by(GROUP * l) {
            $f::<$v, GROUP>($($arg),*);
        }
        for $j in (wide..body).step_by(l) {
            $f::<$v, 1>($($arg),*);
        }
    }};
}

/// `N` consecutive vectors from `p`.
#[inline(always)]
unsafe fn load_n<V: Lanes, const N: usize>(p: *const f32) -> Vn<V, N> {
    let mut v = [V::zero(); N];
    for (k, x) in v.iter_mut().enumerate() {
        *x = V::load(p.add(k * V::L));
    }
    v
}

/// Stores `N` consecutive vectors at `p`.
#[inline(always)]
unsafe fn store_n<V: Lanes, const N: usize>(p: *mut f32, v: Vn<V, N>) {
    for (k, x) in v.iter().enumerate() {
        x.store(p.add(k * V::L));
    }
}

/// [`fastmath::exp`](super::fastmath::exp), lane-wise, on `N` vectors.
#[inline(always)]
unsafe fn exp_n<V: Lanes, const N: usize>(x0: Vn<V, N>) -> Vn<V, N> {
    let magic = V::splat(12_582_912.0);
    let (mut x, mut n, mut r, mut y, mut scale) = (x0, x0, x0, x0, x0);
    for v in 0..N {
        x[v] = clamp(x0[v], V::splat(-87.33), V::splat(88.37));
    }
    for v in 0..N {
        let t = x[v].fmadd(V::splat(std::f32::consts::LOG2_E), magic);
        n[v] = t.sub(magic);
        scale[v] = V::pow2(t, magic);
    }
    for v in 0..N {
        r[v] = n[v].fmadd(
            V::splat(2.121_944_4e-4),
            n[v].fmadd(V::splat(-0.693_359_4), x[v]),
        );
    }
    let mut p = [V::splat(1.987_569_1e-4); N];
    for c in [
        1.398_2e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.000_000_1e-1,
    ] {
        for v in 0..N {
            p[v] = p[v].fmadd(r[v], V::splat(c));
        }
    }
    for v in 0..N {
        let e = p[v].fmadd(r[v].mul(r[v]), r[v].add(V::splat(1.0)));
        y[v] = e.mul(scale[v]);
    }
    for v in 0..N {
        let yv = y[v].select(V::splat(f32::INFINITY), x0[v].gt(V::splat(88.72)));
        y[v] = yv.select(V::zero(), x0[v].lt(V::splat(-87.34)));
    }
    y
}

/// [`fastmath::sigmoid`](super::fastmath::sigmoid), lane-wise, on `N` vectors.
#[inline(always)]
unsafe fn sigmoid_n<V: Lanes, const N: usize>(x: Vn<V, N>) -> Vn<V, N> {
    let mut neg = x;
    for v in 0..N {
        neg[v] = x[v].xor(V::splat(-0.0));
    }
    let mut e = exp_n(neg);
    let one = V::splat(1.0);
    for v in e.iter_mut() {
        *v = one.div(one.add(*v));
    }
    e
}

/// [`fastmath::tanh`](super::fastmath::tanh), lane-wise, on `N` vectors.
#[inline(always)]
unsafe fn tanh_n<V: Lanes, const N: usize>(x: Vn<V, N>) -> Vn<V, N> {
    let sign = V::splat(-0.0);
    let (mut a, mut z, mut two_a, mut small) = (x, x, x, x);
    for v in 0..N {
        a[v] = sign.andnot(x[v]);
        z[v] = x[v].mul(x[v]);
        two_a[v] = V::splat(2.0).mul(a[v]);
    }
    let e = exp_n(two_a);
    let mut p = [V::splat(-5.704_988_7e-3); N];
    for c in [
        2.063_908_9e-2,
        -5.373_971_6e-2,
        1.333_144_2e-1,
        -3.333_328_2e-1,
    ] {
        for v in 0..N {
            p[v] = p[v].fmadd(z[v], V::splat(c));
        }
    }
    for v in 0..N {
        small[v] = p[v].mul(z[v]).fmadd(x[v], x[v]);
    }
    let one = V::splat(1.0);
    let mut out = x;
    for v in 0..N {
        let big = one.sub(V::splat(2.0).div(e[v].add(one)));
        let big = sign.andnot(big).or(sign.and(x[v]));
        out[v] = big.select(small[v], a[v].lt(V::splat(0.625)));
    }
    out
}

/// [`tanh_n`] of the `N` vectors at `src`, into `dst[..N]`.
#[inline(always)]
unsafe fn tanh_into<V: Lanes, const N: usize>(src: *const f32, dst: *mut V) {
    let t = tanh_n::<V, N>(load_n(src));
    std::ptr::copy_nonoverlapping(t.as_ptr(), dst, N);
}

/// `1 − x`, lane-wise.
#[inline(always)]
unsafe fn one_minus<V: Lanes>(x: V) -> V {
    V::splat(1.0).sub(x)
}

/// The gates and `c` of `N` blocks of one row: `g` points at the blocks' input gates (the
/// forget, cell and output gates follow at `h`, `2h`, `3h`), `cp` at their `c`.
#[inline(always)]
unsafe fn lstm_fwd_gates<V: Lanes, const N: usize>(h: usize, g: *mut f32, cp: *mut f32) {
    let (pi, pf, pg, po) = (g, g.add(h), g.add(2 * h), g.add(3 * h));
    let i = sigmoid_n::<V, N>(load_n(pi));
    let f = sigmoid_n::<V, N>(load_n(pf));
    let gg = tanh_n::<V, N>(load_n(pg));
    store_n(po, sigmoid_n::<V, N>(load_n(po)));
    store_n(pi, i);
    store_n(pf, f);
    store_n(pg, gg);
    let mut cc: Vn<V, N> = load_n(cp);
    for v in 0..N {
        cc[v] = f[v].mul(cc[v]).add(i[v].mul(gg[v]));
    }
    store_n(cp, cc);
}

/// `h = o · tanh(c)` for `N` blocks.
#[inline(always)]
unsafe fn lstm_fwd_out<V: Lanes, const N: usize>(po: *const f32, cp: *const f32, hp: *mut f32) {
    let o: Vn<V, N> = load_n(po);
    let mut t = tanh_n::<V, N>(load_n(cp));
    for v in 0..N {
        t[v] = o[v].mul(t[v]);
    }
    store_n(hp, t);
}

/// LSTM forward on whole blocks of `V::L` units of every row; returns the first unit not done
/// (`h − h % L`), which the caller finishes with the generic kernel.
#[inline(always)]
unsafe fn lstm_fwd<V: Lanes>(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]) -> usize {
    let body = h - h % V::L;
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
        by_groups!(V, body, j => lstm_fwd_gates(h, g.add(j), cp.add(j)));
        by_groups!(V, body, j => lstm_fwd_out(g.add(3 * h + j), cp.add(j), hp.add(j)));
    }
    body
}

/// LSTM backward on whole blocks of `V::L` units of every row (operands as in
/// [`cells::lstm_bwd`](super::cells::lstm_bwd)); returns the first unit not done.
#[inline(always)]
unsafe fn lstm_bwd<V: Lanes>(
    h: usize,
    gates: &mut [f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) -> usize {
    let body = h - h % V::L;
    if h == 0 {
        return 0;
    }
    let rows = gates.len() / (4 * h);
    let n = rows * h;
    assert!(
        c_prev.len() >= n && c.len() >= n && dh.len() >= n && dc.len() >= n,
        "lstm_bwd: row extents"
    );
    // `tanh(c)` first, for a chunk of 32 blocks into a stack buffer, so that its exp chains
    // are independent of each other (as in `lstm_fwd`); then the products.
    const BLOCKS: usize = 32;
    let chunk = BLOCKS * V::L;
    let mut tcs = [V::zero(); BLOCKS];
    for r in 0..rows {
        let g = gates.as_mut_ptr().add(r * 4 * h);
        let o = r * h;
        for j0 in (0..body).step_by(chunk) {
            let j1 = (j0 + chunk).min(body);
            let (src, dst) = (c.as_ptr().add(o + j0), tcs.as_mut_ptr());
            by_groups!(V, j1 - j0, k => tanh_into(src.add(k), dst.add(k / V::L)));
            for (&tc, j) in tcs.iter().zip((j0..j1).step_by(V::L)) {
                let (pi, pf, pg, po) = (g.add(j), g.add(h + j), g.add(2 * h + j), g.add(3 * h + j));
                let (i, f, gg, og) = (V::load(pi), V::load(pf), V::load(pg), V::load(po));
                let cp = V::load(c_prev.as_ptr().add(o + j));
                let dhv = V::load(dh.as_ptr().add(o + j));
                let pd = dc.as_mut_ptr().add(o + j);
                let dct = V::load(pd).add(dhv.mul(og).mul(one_minus(tc.mul(tc))));
                dct.mul(f).store(pd);
                let d_o = dhv.mul(tc).mul(og).mul(one_minus(og));
                let d_f = dct.mul(cp).mul(f).mul(one_minus(f));
                let d_i = dct.mul(gg).mul(i).mul(one_minus(i));
                let d_g = dct.mul(i).mul(one_minus(gg.mul(gg)));
                d_i.store(pi);
                d_f.store(pf);
                d_g.store(pg);
                d_o.store(po);
            }
        }
    }
    body
}

/// `r` and `z` of `N` GRU blocks: `x` points at a row's input-side gates (`r`, `z`, `n` at
/// 0, `h`, `2h`), `g` at its recurrent ones; the activations go back into `x`.
#[inline(always)]
unsafe fn gru_fwd_gates<V: Lanes, const N: usize>(h: usize, x: *mut f32, g: *const f32) {
    let (mut rv, mut z): (Vn<V, N>, Vn<V, N>) = (load_n(x), load_n(x.add(h)));
    let (gr, gz): (Vn<V, N>, Vn<V, N>) = (load_n(g), load_n(g.add(h)));
    for v in 0..N {
        rv[v] = rv[v].add(gr[v]);
        z[v] = z[v].add(gz[v]);
    }
    store_n(x, sigmoid_n(rv));
    store_n(x.add(h), sigmoid_n(z));
}

/// `n = tanh(x_n + r · g_n)` and `h = (1 − z) · n + z · h_prev` for `N` GRU blocks (`hp` holds
/// `h_prev` on entry); `n` goes back into `x`.
#[inline(always)]
unsafe fn gru_fwd_out<V: Lanes, const N: usize>(
    h: usize,
    x: *mut f32,
    g: *const f32,
    hp: *mut f32,
) {
    let (rv, z, mut n): (Vn<V, N>, Vn<V, N>, Vn<V, N>) =
        (load_n(x), load_n(x.add(h)), load_n(x.add(2 * h)));
    let (gn, prev): (Vn<V, N>, Vn<V, N>) = (load_n(g.add(2 * h)), load_n(hp));
    for v in 0..N {
        n[v] = n[v].add(rv[v].mul(gn[v]));
    }
    let n = tanh_n(n);
    let mut out = n;
    for v in 0..N {
        out[v] = one_minus(z[v]).mul(n[v]).add(z[v].mul(prev[v]));
    }
    store_n(x.add(2 * h), n);
    store_n(hp, out);
}

/// GRU forward on whole blocks of `V::L` units of every row (operands as in
/// [`cells::gru_fwd`](super::cells::gru_fwd)); returns the first unit not done.
#[inline(always)]
unsafe fn gru_fwd<V: Lanes>(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]) -> usize {
    let body = h - h % V::L;
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
        by_groups!(V, body, j => gru_fwd_gates(h, x.add(j), g.add(j)));
        by_groups!(V, body, j => gru_fwd_out(h, x.add(j), g.add(j), hp.add(j)));
    }
    body
}

/// Generates an entry point of one instruction set: a kernel above built with its target
/// features, on its vector type.
macro_rules! entry_point {
    ($feat:literal, $name:ident = $kernel:ident::<$v:ty>($($arg:ident: $t:ty),*), $doc:literal) => {
        #[doc = concat!("[`", stringify!($kernel), "`] on this instruction set.")]
        ///
        /// # Safety
        #[doc = concat!("The CPU has ", $feat, "; ", $doc)]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name($($arg: $t),*) -> usize {
            $kernel::<$v>($($arg),*)
        }
    };
}

entry_point!(
    "avx2,fma",
    lstm_fwd_avx2 = lstm_fwd::<__m256>(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]),
    "`gates` is `[rows, 4h]`, `c` and `hs` `[rows, h]`."
);
entry_point!(
    "avx512f",
    lstm_fwd_avx512 = lstm_fwd::<__m512>(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]),
    "`gates` is `[rows, 4h]`, `c` and `hs` `[rows, h]`."
);
entry_point!(
    "avx2,fma",
    lstm_bwd_avx2 = lstm_bwd::<__m256>(
        h: usize,
        gates: &mut [f32],
        c_prev: &[f32],
        c: &[f32],
        dh: &[f32],
        dc: &mut [f32]
    ),
    "`gates` is `[rows, 4h]`, the others `[rows, h]`."
);
entry_point!(
    "avx2,fma",
    gru_fwd_avx2 = gru_fwd::<__m256>(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]),
    "`gx` and `gh` are `[rows, 3h]`, `hs` `[rows, h]`."
);
entry_point!(
    "avx512f",
    gru_fwd_avx512 = gru_fwd::<__m512>(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]),
    "`gx` and `gh` are `[rows, 3h]`, `hs` `[rows, h]`."
);
