//! Fast pointwise recurrent cell steps. Callers slice every operand to its exact extent first,
//! so the per-row `chunks_exact` views let the compiler drop bounds checks; nothing allocates
//! (these run once per time step). The activations are the branch-free approximations of
//! [`fastmath`](super::fastmath), so the inner loops vectorise; each public function dispatches
//! to an AVX2 + FMA build when the CPU has one.

use super::fastmath::{dispatch, sigmoid, tanh, Mad};

/// LSTM forward on `gates` (`[B, 4H]`), `c` (`[B, H]`, holding `c_prev` on entry, `c` on
/// exit) and `hs` (`[B, H]`).
pub(crate) fn lstm_fwd(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]) {
    dispatch!(lstm_fwd_k(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]))
}

#[inline(always)]
fn lstm_fwd_k<M: Mad>(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]) {
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
        for j in 0..h {
            let i = sigmoid::<M>(gi[j]);
            let f = sigmoid::<M>(gf[j]);
            let g = tanh::<M>(gg[j]);
            let o = sigmoid::<M>(go[j]);
            let cj = f * c[j] + i * g;
            c[j] = cj;
            hs[j] = o * tanh::<M>(cj);
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
        }
    }
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
    dispatch!(lstm_bwd_k(
        h: usize,
        gates: &mut [f32],
        c_prev: &[f32],
        c: &[f32],
        dh: &[f32],
        dc: &mut [f32],
    ))
}

#[inline(always)]
fn lstm_bwd_k<M: Mad>(
    h: usize,
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
        for j in 0..h {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let tc = tanh::<M>(c[j]);
            let dct = dc[j] + dh[j] * o * (1.0 - tc * tc);
            dc[j] = dct * f;
            gi[j] = dct * g * i * (1.0 - i);
            gf[j] = dct * cp[j] * f * (1.0 - f);
            gg[j] = dct * i * (1.0 - g * g);
            go[j] = dh[j] * tc * o * (1.0 - o);
        }
    }
}

/// GRU forward on `gx` (`[B, 3H]`, pre-activations in, (r, z, n) out), `gh` (`[B, 3H]`) and
/// `hs` (`[B, H]`, holding `h_prev` on entry, `h` on exit).
pub(crate) fn gru_fwd(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]) {
    dispatch!(gru_fwd_k(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]))
}

#[inline(always)]
fn gru_fwd_k<M: Mad>(h: usize, gx: &mut [f32], gh: &[f32], hs: &mut [f32]) {
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
        for j in 0..h {
            let r = sigmoid::<M>(xr[j] + hr[j]);
            let z = sigmoid::<M>(xz[j] + hz[j]);
            let n = tanh::<M>(xn[j] + r * hn[j]);
            hs[j] = (1.0 - z) * n + z * hs[j];
            xr[j] = r;
            xz[j] = z;
            xn[j] = n;
        }
    }
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
        for j in 0..h {
            let (r, z, n) = (xr[j], xz[j], xn[j]);
            let dn_pre = dh[j] * (1.0 - z) * (1.0 - n * n);
            let dz_pre = dh[j] * (hp[j] - n) * z * (1.0 - z);
            let dr_pre = dn_pre * hn[j] * r * (1.0 - r);
            dhp[j] += dh[j] * z;
            xr[j] = dr_pre;
            xz[j] = dz_pre;
            xn[j] = dn_pre;
            hr[j] = dr_pre;
            hz[j] = dz_pre;
            hn[j] = dn_pre * r;
        }
    }
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
