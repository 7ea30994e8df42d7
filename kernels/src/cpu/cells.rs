//! Fast pointwise recurrent cell steps. Callers slice every operand to its exact extent first,
//! so the per-row `chunks_exact` views let the compiler drop bounds checks; nothing allocates
//! (these run once per time step). The activations are the branch-free approximations of
//! [`fastmath`](super::fastmath), so the inner loops vectorise; each public function dispatches
//! to an AVX2 + FMA build when the CPU has one. The LSTM steps and the GRU forward first run
//! hand-written intrinsics ([`simd`](super::simd)) over whole 8-unit blocks, bit-identical to
//! the generic kernels, which finish the ragged tail.

use super::fastmath::{dispatch, sigmoid, tanh, Mad};

/// LSTM forward on `gates` (`[B, 4H]`), `c` (`[B, H]`, holding `c_prev` on entry, `c` on
/// exit) and `hs` (`[B, H]`); 16 lanes at a time where `wide` and the CPU has AVX-512.
pub(crate) fn lstm_fwd(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32], wide: bool) {
    let from = simd!(wide, lstm_fwd_avx512, lstm_fwd_avx2, (h, gates, c, hs));
    if from == h {
        return;
    }
    dispatch!(lstm_fwd_k(h: usize, from: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]))
}

/// Units `from..h` of every row (`from` is 0 or a multiple of [`LANES`]).
#[inline(always)]
fn lstm_fwd_k<M: Mad>(h: usize, from: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]) {
    if h == 0 {
        return;
    }
    let rows = gates
        .chunks_exact_mut(4 * h)
        .zip(c.chunks_exact_mut(h))
        .zip(hs.chunks_exact_mut(h));
    for ((g, c), hs) in rows {
        let (gi, rest) = g.split_at_mut(h);
        let (gf, rest) = rest.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        let (gi, gf, gg, go, c, hs) = (
            &mut gi[..h],
            &mut gf[..h],
            &mut gg[..h],
            &mut go[..h],
            &mut c[..h],
            &mut hs[..h],
        );
        let body = h - h % LANES;
        for j in (from..body).step_by(LANES) {
            let r = j..j + LANES;
            lstm_fwd_block::<M, LANES>(
                &mut gi[r.clone()],
                &mut gf[r.clone()],
                &mut gg[r.clone()],
                &mut go[r.clone()],
                &mut c[r.clone()],
                &mut hs[r],
            );
        }
        for j in body.max(from)..h {
            let r = j..j + 1;
            lstm_fwd_block::<M, 1>(
                &mut gi[r.clone()],
                &mut gf[r.clone()],
                &mut gg[r.clone()],
                &mut go[r.clone()],
                &mut c[r.clone()],
                &mut hs[r],
            );
        }
    }
}

/// Runs an intrinsics kernel of [`simd`](super::simd) (whole 16-unit blocks on AVX-512 when
/// `$wide`, else 8-unit ones on AVX2 + FMA; the same bits), giving the first unit it left for
/// the generic kernel; 0 on other CPUs.
macro_rules! simd {
    ($wide:expr, $avx512:ident, $avx2:ident, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the kernel's features (checked here); the kernels assert their
        // operands' row extents.
        let from = match simd_width($wide) {
            16 => unsafe { super::simd::$avx512($($arg),*) },
            8 => unsafe { super::simd::$avx2($($arg),*) },
            _ => 0,
        };
        #[cfg(not(target_arch = "x86_64"))]
        let from = 0;
        from
    }};
}
use simd;

/// Lanes of the intrinsics kernels to run: 16 (`wide` and AVX-512F), 8 (AVX2 + FMA) or 0.
#[cfg(target_arch = "x86_64")]
fn simd_width(wide: bool) -> usize {
    #[cfg(test)]
    if tests::AVX2_ONLY.get() && super::fastmath::has_avx2_fma() {
        return 8;
    }
    if wide && std::arch::is_x86_feature_detected!("avx512f") {
        16
    } else if super::fastmath::has_avx2_fma() {
        8
    } else {
        0
    }
}

/// Columns per block of the pointwise kernels. The row slices come from `split_at_mut` of one
/// gate block, which LLVM cannot prove disjoint, so a plain loop over them is left scalar
/// behind runtime alias checks; copying a block into local arrays first lets it vectorise.
const LANES: usize = 8;

/// One block of `W` LSTM units: activations in place, `c` updated, `h` written.
#[inline(always)]
fn lstm_fwd_block<M: Mad, const W: usize>(
    gi: &mut [f32],
    gf: &mut [f32],
    gg: &mut [f32],
    go: &mut [f32],
    c: &mut [f32],
    hs: &mut [f32],
) {
    let load = |s: &[f32]| -> [f32; W] { s[..W].try_into().expect("block of W") };
    let (mut i, mut f, mut g, mut o, mut cc) = (load(gi), load(gf), load(gg), load(go), load(c));
    let mut h = [0f32; W];
    for k in 0..W {
        i[k] = sigmoid::<M>(i[k]);
        f[k] = sigmoid::<M>(f[k]);
        g[k] = tanh::<M>(g[k]);
        o[k] = sigmoid::<M>(o[k]);
        cc[k] = f[k] * cc[k] + i[k] * g[k];
        h[k] = o[k] * tanh::<M>(cc[k]);
    }
    gi[..W].copy_from_slice(&i);
    gf[..W].copy_from_slice(&f);
    gg[..W].copy_from_slice(&g);
    go[..W].copy_from_slice(&o);
    c[..W].copy_from_slice(&cc);
    hs[..W].copy_from_slice(&h);
}

/// LSTM backward: `gates` (activations in, pre-activation grads out), `c_prev`, `c`, `dh`
/// (`[B, H]`) and the carried `dc` (grad w.r.t. `c` in, w.r.t. `c_prev` out).
pub(crate) fn lstm_bwd(
    h: usize,
    gates: &mut [f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) {
    // 8 lanes: training only (see `CpuBackend::wide_cells`).
    let from = simd!(
        false,
        lstm_bwd_avx2,
        lstm_bwd_avx2,
        (h, gates, c_prev, c, dh, dc)
    );
    if from == h {
        return;
    }
    dispatch!(lstm_bwd_k(
        h: usize,
        from: usize,
        gates: &mut [f32],
        c_prev: &[f32],
        c: &[f32],
        dh: &[f32],
        dc: &mut [f32],
    ))
}

/// Units `from..h` of every row (`from` is 0 or a multiple of [`LANES`]).
#[inline(always)]
fn lstm_bwd_k<M: Mad>(
    h: usize,
    from: usize,
    gates: &mut [f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
) {
    if h == 0 {
        return;
    }
    let rows = gates
        .chunks_exact_mut(4 * h)
        .zip(c_prev.chunks_exact(h))
        .zip(c.chunks_exact(h))
        .zip(dh.chunks_exact(h))
        .zip(dc.chunks_exact_mut(h));
    for ((((g, cp), c), dh), dc) in rows {
        let (gi, rest) = g.split_at_mut(h);
        let (gf, rest) = rest.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        let (gi, gf, gg, go) = (&mut gi[..h], &mut gf[..h], &mut gg[..h], &mut go[..h]);
        let (cp, c, dh, dc) = (&cp[..h], &c[..h], &dh[..h], &mut dc[..h]);
        let body = h - h % LANES;
        for j in (from..body).step_by(LANES) {
            let r = j..j + LANES;
            lstm_bwd_block::<M, LANES>(
                [
                    &mut gi[r.clone()],
                    &mut gf[r.clone()],
                    &mut gg[r.clone()],
                    &mut go[r.clone()],
                ],
                [&cp[r.clone()], &c[r.clone()], &dh[r.clone()]],
                &mut dc[r],
            );
        }
        for j in body.max(from)..h {
            let r = j..j + 1;
            lstm_bwd_block::<M, 1>(
                [
                    &mut gi[r.clone()],
                    &mut gf[r.clone()],
                    &mut gg[r.clone()],
                    &mut go[r.clone()],
                ],
                [&cp[r.clone()], &c[r.clone()], &dh[r.clone()]],
                &mut dc[r],
            );
        }
    }
}

/// One block of `W` LSTM units backward: gate activations in, pre-activation grads out.
#[inline(always)]
fn lstm_bwd_block<M: Mad, const W: usize>(
    [gi, gf, gg, go]: [&mut [f32]; 4],
    [cp, c, dh]: [&[f32]; 3],
    dc: &mut [f32],
) {
    let load = |s: &[f32]| -> [f32; W] { s[..W].try_into().expect("block of W") };
    let (mut i, mut f, mut g, mut o) = (load(gi), load(gf), load(gg), load(go));
    let (cp, c, dh, mut d) = (load(cp), load(c), load(dh), load(dc));
    // Separate simple loops: one fused loop with eight live arrays stays scalar.
    let mut tc = [0f32; W];
    for k in 0..W {
        tc[k] = tanh::<M>(c[k]);
    }
    let mut dct = [0f32; W];
    for k in 0..W {
        dct[k] = d[k] + dh[k] * o[k] * (1.0 - tc[k] * tc[k]);
        d[k] = dct[k] * f[k];
    }
    for k in 0..W {
        o[k] = dh[k] * tc[k] * o[k] * (1.0 - o[k]);
        f[k] = dct[k] * cp[k] * f[k] * (1.0 - f[k]);
    }
    for k in 0..W {
        let (ii, gk) = (i[k], g[k]);
        i[k] = dct[k] * gk * ii * (1.0 - ii);
        g[k] = dct[k] * ii * (1.0 - gk * gk);
    }
    gi[..W].copy_from_slice(&i);
    gf[..W].copy_from_slice(&f);
    gg[..W].copy_from_slice(&g);
    go[..W].copy_from_slice(&o);
    dc[..W].copy_from_slice(&d);
}

/// GRU forward on `gx` (`[B, 3H]`, pre-activations in, (r, z, n) out), `gh` (`[B, 3H]`) and
/// `hs` (`[B, H]`, holding `h_prev` on entry, `h` on exit); 16 lanes at a time where `wide` and
/// the CPU has AVX-512.
pub(crate) fn gru_fwd(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32], wide: bool) {
    let from = simd!(wide, gru_fwd_avx512, gru_fwd_avx2, (h, gx, gh, hs));
    if from == h {
        return;
    }
    dispatch!(gru_fwd_k(h: usize, from: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]))
}

/// Units `from..h` of every row (`from` is 0 or a multiple of [`LANES`]).
#[inline(always)]
fn gru_fwd_k<M: Mad>(h: usize, from: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]) {
    if h == 0 {
        return;
    }
    let rows = gx
        .chunks_exact_mut(3 * h)
        .zip(gh.chunks_exact(3 * h))
        .zip(hs.chunks_exact_mut(h));
    for ((gx, gh), hs) in rows {
        let (xr, rest) = gx.split_at_mut(h);
        let (xz, xn) = rest.split_at_mut(h);
        let (hr, rest) = gh.split_at(h);
        let (hz, hn) = rest.split_at(h);
        let body = h - h % LANES;
        for j in (from..body).step_by(LANES) {
            let r = j..j + LANES;
            gru_fwd_block::<M, LANES>(
                [&mut xr[r.clone()], &mut xz[r.clone()], &mut xn[r.clone()]],
                [&hr[r.clone()], &hz[r.clone()], &hn[r.clone()]],
                &mut hs[r],
            );
        }
        for j in body.max(from)..h {
            let r = j..j + 1;
            gru_fwd_block::<M, 1>(
                [&mut xr[r.clone()], &mut xz[r.clone()], &mut xn[r.clone()]],
                [&hr[r.clone()], &hz[r.clone()], &hn[r.clone()]],
                &mut hs[r],
            );
        }
    }
}

/// One block of `W` GRU units forward (see [`LANES`]).
#[inline(always)]
fn gru_fwd_block<M: Mad, const W: usize>(
    [xr, xz, xn]: [&mut [f32]; 3],
    [hr, hz, hn]: [&[f32]; 3],
    hs: &mut [f32],
) {
    let load = |s: &[f32]| -> [f32; W] { s[..W].try_into().expect("block of W") };
    let (mut r, mut z, mut n, mut h) = (load(xr), load(xz), load(xn), load(hs));
    let (hr, hz, hn) = (load(hr), load(hz), load(hn));
    for k in 0..W {
        r[k] = sigmoid::<M>(r[k] + hr[k]);
        z[k] = sigmoid::<M>(z[k] + hz[k]);
    }
    for k in 0..W {
        n[k] = tanh::<M>(n[k] + r[k] * hn[k]);
        h[k] = (1.0 - z[k]) * n[k] + z[k] * h[k];
    }
    xr[..W].copy_from_slice(&r);
    xz[..W].copy_from_slice(&z);
    xn[..W].copy_from_slice(&n);
    hs[..W].copy_from_slice(&h);
}

/// GRU backward: `gx` ((r, z, n) in, x-part grads out), `gh` (`h_n` read, h-part grads out),
/// `h_prev`, `dh`, and `dh_prev` which receives `+= dh·z`.
pub(crate) fn gru_bwd(
    h: usize,
    gx: &mut [f32],
    gh: &mut [f32],
    h_prev: &[f32],
    dh: &[f32],
    dh_prev: &mut [f32],
) {
    dispatch!(gru_bwd_k(
        h: usize,
        gx: &mut [f32],
        gh: &mut [f32],
        h_prev: &[f32],
        dh: &[f32],
        dh_prev: &mut [f32],
    ))
}

/// [`gru_bwd`]'s body; `M` is unused (no transcendentals), but the dispatch compiles it for
/// AVX2 where the CPU has it.
#[inline(always)]
fn gru_bwd_k<M: Mad>(
    h: usize,
    gx: &mut [f32],
    gh: &mut [f32],
    h_prev: &[f32],
    dh: &[f32],
    dh_prev: &mut [f32],
) {
    if h == 0 {
        return;
    }
    let rows = gx
        .chunks_exact_mut(3 * h)
        .zip(gh.chunks_exact_mut(3 * h))
        .zip(h_prev.chunks_exact(h))
        .zip(dh.chunks_exact(h))
        .zip(dh_prev.chunks_exact_mut(h));
    for ((((gx, gh), hp), dh), dhp) in rows {
        let (xr, rest) = gx.split_at_mut(h);
        let (xz, xn) = rest.split_at_mut(h);
        let (hr, rest) = gh.split_at_mut(h);
        let (hz, hn) = rest.split_at_mut(h);
        let body = h - h % LANES;
        for j in (0..body).step_by(LANES) {
            let r = j..j + LANES;
            gru_bwd_block::<LANES>(
                [&mut xr[r.clone()], &mut xz[r.clone()], &mut xn[r.clone()]],
                [&mut hr[r.clone()], &mut hz[r.clone()], &mut hn[r.clone()]],
                [&hp[r.clone()], &dh[r.clone()]],
                &mut dhp[r],
            );
        }
        for j in body..h {
            let r = j..j + 1;
            gru_bwd_block::<1>(
                [&mut xr[r.clone()], &mut xz[r.clone()], &mut xn[r.clone()]],
                [&mut hr[r.clone()], &mut hz[r.clone()], &mut hn[r.clone()]],
                [&hp[r.clone()], &dh[r.clone()]],
                &mut dhp[r],
            );
        }
    }
}

/// One block of `W` GRU units backward (see [`LANES`]).
#[inline(always)]
fn gru_bwd_block<const W: usize>(
    [xr, xz, xn]: [&mut [f32]; 3],
    [hr, hz, hn]: [&mut [f32]; 3],
    [hp, dh]: [&[f32]; 2],
    dhp: &mut [f32],
) {
    let load = |s: &[f32]| -> [f32; W] { s[..W].try_into().expect("block of W") };
    let (r, z, n, hnv) = (load(xr), load(xz), load(xn), load(hn));
    let (hp, dh, mut dp) = (load(hp), load(dh), load(dhp));
    let (mut dr, mut dz, mut dn, mut dhn) = ([0f32; W], [0f32; W], [0f32; W], [0f32; W]);
    for k in 0..W {
        dn[k] = dh[k] * (1.0 - z[k]) * (1.0 - n[k] * n[k]);
        dz[k] = dh[k] * (hp[k] - n[k]) * z[k] * (1.0 - z[k]);
        dr[k] = dn[k] * hnv[k] * r[k] * (1.0 - r[k]);
        dp[k] += dh[k] * z[k];
        dhn[k] = dn[k] * r[k];
    }
    xr[..W].copy_from_slice(&dr);
    xz[..W].copy_from_slice(&dz);
    xn[..W].copy_from_slice(&dn);
    hr[..W].copy_from_slice(&dr);
    hz[..W].copy_from_slice(&dz);
    hn[..W].copy_from_slice(&dhn);
    dhp[..W].copy_from_slice(&dp);
}

/// Vanilla RNN forward: `gates = tanh(gates)`, copied to `hs`.
pub(crate) fn rnn_fwd(gates: &mut [f32], hs: &mut [f32]) {
    dispatch!(rnn_fwd_k(gates: &mut [f32], hs: &mut [f32]))
}

#[inline(always)]
fn rnn_fwd_k<M: Mad>(gates: &mut [f32], hs: &mut [f32]) {
    for (g, h) in gates.iter_mut().zip(hs.iter_mut()) {
        *g = tanh::<M>(*g);
        *h = *g;
    }
}

/// Vanilla RNN backward: `gates` (holding `h`) becomes `dh · (1 − h²)`.
pub(crate) fn rnn_bwd(gates: &mut [f32], dh: &[f32]) {
    for (g, &d) in gates.iter_mut().zip(dh) {
        *g = d * (1.0 - *g * *g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values over the activations' whole range: both `tanh` branches, saturation, `exp`'s upper
    /// clamp, ±0, NaN.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = crate::hash::mix64(seed, i as u64);
                match x % 23 {
                    0 => 95.0,
                    1 => -95.0,
                    2 => 0.0,
                    3 => -0.0,
                    4 => 0.624_999_9,
                    5 => -85.0,
                    6 => 44.0,
                    7 => f32::NAN,
                    8 => -43.67,
                    // sigmoid's −x between exp's upper clamp (88.37) and its overflow cut (88.72).
                    9 => -88.5,
                    _ => (x % 40_000) as f32 / 2_000.0 - 10.0,
                }
            })
            .collect()
    }

    fn same(a: &[f32], b: &[f32], what: &str) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// `(rows, h)` for the intrinsics tests: widths with and without a remainder after the
    /// 8-unit blocks, and with and without blocks left over after the four-block groups (45)
    /// and the LSTM backward's 256-unit chunks (264).
    /// (On AVX-512: 16-unit blocks and groups of 64 units, a 512-unit backward chunk (520).)
    const WIDTHS: [(usize, usize); 11] = [
        (3, 8),
        (2, 13),
        (5, 24),
        (2, 45),
        (4, 128),
        (1, 264),
        (1, 7),
        (2, 0),
        (2, 72),
        (1, 80),
        (1, 520),
    ];

    thread_local! {
        /// Set: the intrinsics kernels run at 8 lanes even where the CPU has AVX-512.
        pub(super) static AVX2_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Runs `f` once per intrinsics width this CPU has (16 lanes where it has AVX-512F, then 8).
    fn each_width(f: impl Fn(&str)) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            f("16 lanes");
        } else {
            eprintln!("no AVX-512F on this CPU: the 16-lane intrinsics kernels were not compared");
        }
        AVX2_ONLY.set(true);
        f("8 lanes");
        AVX2_ONLY.set(false);
    }

    /// The intrinsics kernels (`simd`) and the generic ones give bit-identical results.
    #[test]
    fn lstm_intrinsics_match_the_generic_kernels_bit_for_bit() {
        if !super::super::fastmath::has_avx2_fma() {
            eprintln!("SKIPPED: this CPU has no AVX2 + FMA, so the intrinsics kernels never run");
            return;
        }
        each_width(|lanes| {
            for &(rows, h) in &WIDTHS {
                let same =
                    |a: &[f32], b: &[f32], what: &str| same(a, b, &format!("{what}, {lanes}"));
                let (n, ng) = (rows * h, rows * 4 * h);
                let (mut g1, mut c1, mut h1) = (values(ng, 1), values(n, 2), vec![0.0; n]);
                let (mut g2, mut c2, mut h2) = (g1.clone(), c1.clone(), h1.clone());
                lstm_fwd(h, &mut g1, &mut c1, &mut h1, true);
                let from = 0;
                let (gates, c, hs) = (&mut g2[..], &mut c2[..], &mut h2[..]);
                dispatch!(lstm_fwd_k(h: usize, from: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]));
                same(&g1, &g2, "fwd gates");
                same(&c1, &c2, "fwd c");
                same(&h1, &h2, "fwd h");

                let (cp, dh) = (values(n, 3), values(n, 4));
                let (mut b1, mut d1) = (g1.clone(), values(n, 5));
                let (mut b2, mut d2) = (b1.clone(), d1.clone());
                lstm_bwd(h, &mut b1, &cp, &c1, &dh, &mut d1);
                let (gates, c_prev, c, dh, dc) =
                    (&mut b2[..], &cp[..], &c1[..], &dh[..], &mut d2[..]);
                dispatch!(lstm_bwd_k(
                    h: usize,
                    from: usize,
                    gates: &mut [f32],
                    c_prev: &[f32],
                    c: &[f32],
                    dh: &[f32],
                    dc: &mut [f32],
                ));
                same(&b1, &b2, "bwd gates");
                same(&d1, &d2, "bwd dc");
            }
        });
    }

    /// The same for the GRU forward step.
    #[test]
    fn gru_intrinsics_match_the_generic_kernel_bit_for_bit() {
        if !super::super::fastmath::has_avx2_fma() {
            eprintln!("SKIPPED: this CPU has no AVX2 + FMA, so the intrinsics kernels never run");
            return;
        }
        each_width(|lanes| {
            for &(rows, h) in &WIDTHS {
                let same =
                    |a: &[f32], b: &[f32], what: &str| same(a, b, &format!("{what}, {lanes}"));
                let (n, ng) = (rows * h, rows * 3 * h);
                let (mut x1, gh, mut h1) = (values(ng, 6), values(ng, 7), values(n, 8));
                let (mut x2, mut h2) = (x1.clone(), h1.clone());
                gru_fwd(h, &mut x1, &gh, &mut h1, true);
                let from = 0;
                let (gx, gh, hs) = (&mut x2[..], &gh[..], &mut h2[..]);
                dispatch!(gru_fwd_k(h: usize, from: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]));
                same(&x1, &x2, "gru gates");
                same(&h1, &h2, "gru h");
            }
        });
    }
}
