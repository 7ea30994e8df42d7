//! Fast pointwise recurrent cell steps. Callers slice every operand to its exact extent first,
//! so the per-row `chunks_exact` views let the compiler drop bounds checks; nothing allocates
//! (these run once per time step).

/// Logistic sigmoid. `1 / (1 + e⁻ˣ)` is already safe in f32: e⁻ˣ overflows to +inf for very
/// negative x, giving exactly 0, never NaN.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// LSTM forward on `gates` (`[B, 4H]`), `c` (`[B, H]`, holding `c_prev` on entry, `c` on
/// exit) and `hs` (`[B, H]`).
pub(crate) fn lstm_fwd(h: usize, gates: &mut [f32], c: &mut [f32], hs: &mut [f32]) {
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
        for j in 0..h {
            let i = sigmoid(gi[j]);
            let f = sigmoid(gf[j]);
            let g = gg[j].tanh();
            let o = sigmoid(go[j]);
            let cj = f * c[j] + i * g;
            c[j] = cj;
            hs[j] = o * cj.tanh();
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
        for j in 0..h {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let tc = c[j].tanh();
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
            let r = sigmoid(xr[j] + hr[j]);
            let z = sigmoid(xz[j] + hz[j]);
            let n = (xn[j] + r * hn[j]).tanh();
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
    for (g, h) in gates.iter_mut().zip(hs.iter_mut()) {
        *g = g.tanh();
        *h = *g;
    }
}

/// Vanilla RNN backward: `gates` (holding `h`) becomes `dh · (1 − h²)`.
pub(crate) fn rnn_bwd(gates: &mut [f32], dh: &[f32]) {
    for (g, &d) in gates.iter_mut().zip(dh) {
        *g = d * (1.0 - *g * *g);
    }
}
