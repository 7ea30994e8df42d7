//! Reference recurrent cell steps (LSTM, GRU, vanilla RNN), forward and backward.
//!
//! Row `r`, unit `j` of a `[B, kH]` gate block lives at `off + r * kH + q * H + j` for gate `q`.

use super::Real;
use crate::CellDims;

/// Logistic sigmoid `1 / (1 + e⁻ˣ)`; saturates to exactly 0 or 1 without producing NaN.
#[inline]
pub fn sigmoid<R: Real>(x: R) -> R {
    let one = R::from_f64(1.0);
    one / (one + (-x).exp())
}

/// LSTM forward step (see [`Backend::lstm_fwd`](crate::Backend::lstm_fwd)).
#[allow(clippy::too_many_arguments)]
pub fn lstm_fwd<R: Real>(
    d: CellDims,
    gates: &mut [R],
    g_off: usize,
    cs: &mut [R],
    c_prev_off: usize,
    c_off: usize,
    hs: &mut [R],
    h_off: usize,
) {
    let (b, h) = (d.b, d.h);
    for r in 0..b {
        for j in 0..h {
            let gi = g_off + r * 4 * h + j;
            let i = sigmoid(gates[gi]);
            let f = sigmoid(gates[gi + h]);
            let g = gates[gi + 2 * h].tanh();
            let o = sigmoid(gates[gi + 3 * h]);
            let c = f * cs[c_prev_off + r * h + j] + i * g;
            cs[c_off + r * h + j] = c;
            hs[h_off + r * h + j] = o * c.tanh();
            gates[gi] = i;
            gates[gi + h] = f;
            gates[gi + 2 * h] = g;
            gates[gi + 3 * h] = o;
        }
    }
}

/// LSTM backward step (see [`Backend::lstm_bwd`](crate::Backend::lstm_bwd)).
#[allow(clippy::too_many_arguments)]
pub fn lstm_bwd<R: Real>(
    d: CellDims,
    gates: &mut [R],
    g_off: usize,
    cs: &[R],
    c_prev_off: usize,
    c_off: usize,
    dhs: &[R],
    dh_off: usize,
    dc: &mut [R],
) {
    let (b, h) = (d.b, d.h);
    let one = R::from_f64(1.0);
    for r in 0..b {
        for j in 0..h {
            let gi = g_off + r * 4 * h + j;
            let (i, f, g, o) = (
                gates[gi],
                gates[gi + h],
                gates[gi + 2 * h],
                gates[gi + 3 * h],
            );
            let c_prev = cs[c_prev_off + r * h + j];
            let tc = cs[c_off + r * h + j].tanh();
            let dh = dhs[dh_off + r * h + j];
            // h = o·tanh(c): the carried dc (from step t+1) plus this step's path through h.
            let dct = dc[r * h + j] + dh * o * (one - tc * tc);
            let d_o = dh * tc;
            let d_i = dct * g;
            let d_f = dct * c_prev;
            let d_g = dct * i;
            dc[r * h + j] = dct * f;
            gates[gi] = d_i * i * (one - i);
            gates[gi + h] = d_f * f * (one - f);
            gates[gi + 2 * h] = d_g * (one - g * g);
            gates[gi + 3 * h] = d_o * o * (one - o);
        }
    }
}

/// GRU forward step (see [`Backend::gru_fwd`](crate::Backend::gru_fwd)).
#[allow(clippy::too_many_arguments)]
pub fn gru_fwd<R: Real>(
    d: CellDims,
    gx: &mut [R],
    gx_off: usize,
    gh: &[R],
    gh_off: usize,
    hs: &mut [R],
    h_prev_off: usize,
    h_off: usize,
) {
    let (b, h) = (d.b, d.h);
    let one = R::from_f64(1.0);
    for row in 0..b {
        for j in 0..h {
            let xi = gx_off + row * 3 * h + j;
            let hi = gh_off + row * 3 * h + j;
            let r = sigmoid(gx[xi] + gh[hi]);
            let z = sigmoid(gx[xi + h] + gh[hi + h]);
            let n = (gx[xi + 2 * h] + r * gh[hi + 2 * h]).tanh();
            let h_prev = hs[h_prev_off + row * h + j];
            hs[h_off + row * h + j] = (one - z) * n + z * h_prev;
            gx[xi] = r;
            gx[xi + h] = z;
            gx[xi + 2 * h] = n;
        }
    }
}

/// GRU backward step (see [`Backend::gru_bwd`](crate::Backend::gru_bwd)).
#[allow(clippy::too_many_arguments)]
pub fn gru_bwd<R: Real>(
    d: CellDims,
    gx: &mut [R],
    gx_off: usize,
    gh: &mut [R],
    gh_off: usize,
    hs: &[R],
    h_prev_off: usize,
    dhs: &mut [R],
    dh_off: usize,
    dh_prev_off: usize,
) {
    let (b, h) = (d.b, d.h);
    let one = R::from_f64(1.0);
    for row in 0..b {
        for j in 0..h {
            let xi = gx_off + row * 3 * h + j;
            let hi = gh_off + row * 3 * h + j;
            let (r, z, n) = (gx[xi], gx[xi + h], gx[xi + 2 * h]);
            let h_n = gh[hi + 2 * h];
            let h_prev = hs[h_prev_off + row * h + j];
            let dh = dhs[dh_off + row * h + j];
            let dn_pre = dh * (one - z) * (one - n * n);
            let dz_pre = dh * (h_prev - n) * z * (one - z);
            let dr_pre = dn_pre * h_n * r * (one - r);
            dhs[dh_prev_off + row * h + j] = dhs[dh_prev_off + row * h + j] + dh * z;
            gx[xi] = dr_pre;
            gx[xi + h] = dz_pre;
            gx[xi + 2 * h] = dn_pre;
            gh[hi] = dr_pre;
            gh[hi + h] = dz_pre;
            // r gates only the recurrent part of n.
            gh[hi + 2 * h] = dn_pre * r;
        }
    }
}

/// Vanilla RNN forward step (see [`Backend::rnn_fwd`](crate::Backend::rnn_fwd)).
pub fn rnn_fwd<R: Real>(d: CellDims, gates: &mut [R], g_off: usize, hs: &mut [R], h_off: usize) {
    for k in 0..d.b * d.h {
        let y = gates[g_off + k].tanh();
        gates[g_off + k] = y;
        hs[h_off + k] = y;
    }
}

/// Vanilla RNN backward step (see [`Backend::rnn_bwd`](crate::Backend::rnn_bwd)).
pub fn rnn_bwd<R: Real>(d: CellDims, gates: &mut [R], g_off: usize, dhs: &[R], dh_off: usize) {
    let one = R::from_f64(1.0);
    for k in 0..d.b * d.h {
        let y = gates[g_off + k];
        gates[g_off + k] = dhs[dh_off + k] * (one - y * y);
    }
}
